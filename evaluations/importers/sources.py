"""Reading an import source: bytes from a file, an upload or a URL; gzip detected from its magic bytes."""

import gzip
import http.client
import io
import json
import socket
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from .base import RowErrors, SuiteImportError

GZIP_MAGIC = b"\x1f\x8b"
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Source:
    data: bytes  # decompressed
    reference: str  # file name or URL, as recorded on the suite


def _limit() -> int:
    return int(settings.SUITE_IMPORT_MAX_BYTES)


def _decompress(data: bytes, reference: str) -> bytes:
    if not data.startswith(GZIP_MAGIC):
        if len(data) > _limit():
            raise SuiteImportError(f"{reference} is larger than SUITE_IMPORT_MAX_BYTES ({_limit()} bytes).")
        return data
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
                if out.tell() > _limit():
                    raise SuiteImportError(
                        f"{reference} decompresses to more than SUITE_IMPORT_MAX_BYTES ({_limit()} bytes)."
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise SuiteImportError(f"{reference} is not a valid gzip file: {exc}.") from exc
    return out.getvalue()


def source_from_bytes(data: bytes, reference: str) -> Source:
    return Source(_decompress(data, reference), reference)


def source_from_path(path: str | Path) -> Source:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > _limit() and not path.name.endswith(".gz"):
            raise SuiteImportError(f"{path.name} is larger than SUITE_IMPORT_MAX_BYTES ({_limit()} bytes).")
        data = path.read_bytes()
    except OSError as exc:
        raise SuiteImportError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return source_from_bytes(data, path.name)


# --- URLs ---------------------------------------------------------------------------------------------------------


def _policy():
    from models_registry.urlguard import UrlPolicy

    return UrlPolicy(
        allow_loopback=settings.SUITE_IMPORT_ALLOW_LOOPBACK_URLS, allow_private=settings.SUITE_IMPORT_ALLOW_PRIVATE_URLS
    )


def _checked_address(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, the one address we will connect to), after the SSRF guard accepted every address."""
    from models_registry.urlguard import UrlRefused, check_address, validate_base_url

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SuiteImportError(f"Not a valid URL: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        raise SuiteImportError("Suites can be imported from http:// or https:// URLs only.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise SuiteImportError("The URL needs a host.")
    if parts.username is not None or parts.password is not None:
        raise SuiteImportError("URLs with credentials are refused.")
    port = port or (443 if parts.scheme == "https" else 80)
    policy = _policy()
    try:
        # The model-endpoint guard: metadata names, then every address the host resolves to.
        validate_base_url(f"{parts.scheme}://{parts.netloc}", policy=policy)
        try:
            addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlRefused(f"The host {host!r} does not resolve.") from exc
        for address in addresses:  # resolved again: the answer we connect to is the one checked
            check_address(address, policy)
    except UrlRefused as exc:
        # The guard names the model-endpoint settings; imports have their own.
        raise SuiteImportError(str(exc).replace("MODEL_ALLOW_", "SUITE_IMPORT_ALLOW_")) from exc
    return parts.scheme, host, port, addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address the guard checked, not to whatever the name resolves to a moment later."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _get(url: str, deadline: float) -> tuple[int, dict, bytes]:
    scheme, host, port, address = _checked_address(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = max(0.1, deadline - time.monotonic())
    cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = cls(host, port, address, timeout)
    try:
        conn.request("GET", path, headers={"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": "codequalbench"})
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        if response.status in (301, 302, 303, 307, 308):
            return response.status, headers, b""
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > _limit():
            raise SuiteImportError(f"{url} is larger than SUITE_IMPORT_MAX_BYTES ({_limit()} bytes).")
        body = io.BytesIO()
        while chunk := response.read(1 << 16):
            body.write(chunk)
            if body.tell() > _limit():
                raise SuiteImportError(f"{url} is larger than SUITE_IMPORT_MAX_BYTES ({_limit()} bytes).")
            if time.monotonic() > deadline:
                raise SuiteImportError(f"Downloading {url} took longer than SUITE_IMPORT_URL_TIMEOUT.")
        return response.status, headers, body.getvalue()
    except (OSError, http.client.HTTPException) as exc:
        raise SuiteImportError(f"Cannot download {url}: {exc}.") from exc
    finally:
        conn.close()


def source_from_url(url: str) -> Source:
    """Download ``url`` within the size and time limits; every redirect hop passes the SSRF guard again."""
    deadline = time.monotonic() + float(settings.SUITE_IMPORT_URL_TIMEOUT)
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, body = _get(current, deadline)
        if status in (301, 302, 303, 307, 308) and headers.get("location"):
            current = urljoin(current, headers["location"])
            continue
        if status != 200:
            raise SuiteImportError(f"{current} answered HTTP {status}.")
        return source_from_bytes(body, url)
    raise SuiteImportError(f"{url} redirects more than {MAX_REDIRECTS} times.")


# --- rows ------------------------------------------------------------------------------------------------------------


def text_of(source: Source) -> str:
    try:
        return source.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SuiteImportError(f"{source.reference} is not UTF-8 text (byte {exc.start}).") from exc


def jsonl_rows(source: Source, errors: RowErrors) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(text_of(source).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            errors.add(number, f"not valid JSON: {exc}")
            continue
        if not isinstance(row, dict):
            errors.add(number, f"expected a JSON object, got {type(row).__name__}")
            continue
        rows.append((number, row))
    if not rows and not errors.messages:
        raise SuiteImportError(f"{source.reference} holds no problems.")
    return rows
