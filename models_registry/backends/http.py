"""HTTP plumbing shared by the adapters that speak HTTP: one client setup, one reading of status codes."""

import json
import time
from email.utils import parsedate_to_datetime

import httpx2

from .base import BackendFailure
from .types import EndpointConfig, ErrorKind

ERROR_TEXT_LIMIT = 300


def make_client(config: EndpointConfig, headers: dict | None = None, *, client_class=httpx2.Client) -> httpx2.Client:
    """A client with connect/read timeouts and no redirects (a redirect could lead past the URL policy)."""
    t = config.timeouts
    return client_class(
        timeout=httpx2.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.total),
        follow_redirects=False,
        headers=headers or {},
    )


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, OverflowError):
            return None


def error_text(body: bytes | str) -> str:
    """The server's own error message when the body is JSON with one; never arbitrary body content."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return ""
    if isinstance(data, dict):
        err = data.get("error", data.get("message", ""))
        if isinstance(err, dict):
            err = err.get("message", "")
        if isinstance(err, str):
            return err[:ERROR_TEXT_LIMIT]
    return ""


def failure_for_status(status: int, headers, body: bytes | str = b"") -> BackendFailure:
    detail = error_text(body)
    said = f"The server answered HTTP {status}" + (f": {detail}" if detail else ".")
    if status == 429:
        return BackendFailure(
            ErrorKind.RATE_LIMITED, f"Rate limited. {said}", status_code=status, retry_after=parse_retry_after(headers)
        )
    if status >= 500:
        return BackendFailure(ErrorKind.SERVER_ERROR, said, status_code=status, retry_after=parse_retry_after(headers))
    if status in (401, 403):
        return BackendFailure(ErrorKind.AUTHENTICATION, f"{said} Check the endpoint's API key.", status_code=status)
    if status == 404:
        return BackendFailure(ErrorKind.NOT_FOUND, f"{said} Check the base URL and the model name.", status_code=status)
    if 300 <= status < 400:
        return BackendFailure(
            ErrorKind.CLIENT_ERROR, f"{said} Redirects are not followed; use the final URL.", status_code=status
        )
    return BackendFailure(ErrorKind.CLIENT_ERROR, said, status_code=status)


def failure_for_exception(exc: Exception, config: EndpointConfig) -> BackendFailure:
    t = config.timeouts
    if isinstance(exc, httpx2.ConnectTimeout):
        return BackendFailure(ErrorKind.TIMEOUT, f"Could not connect within {t.connect:g}s.")
    if isinstance(exc, httpx2.TimeoutException):
        return BackendFailure(ErrorKind.TIMEOUT, f"The server sent nothing for {t.read:g}s (read timeout).")
    if isinstance(exc, httpx2.ConnectError):
        return BackendFailure(ErrorKind.CONNECTION, "Could not connect to the server (is it running?).")
    if isinstance(exc, httpx2.TransportError):
        return BackendFailure(ErrorKind.CONNECTION, f"The connection failed: {type(exc).__name__}.")
    return BackendFailure(ErrorKind.CONNECTION, f"The request failed: {type(exc).__name__}.")


def malformed(what: str) -> BackendFailure:
    return BackendFailure(ErrorKind.MALFORMED_RESPONSE, f"The server's answer is not a valid {what}.")
