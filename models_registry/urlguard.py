"""SSRF guard for model endpoint base URLs.

Link-local and cloud-metadata addresses are always refused (they hand out cloud credentials). Loopback and private
ranges are refused unless MODEL_ALLOW_LOOPBACK_URLS / MODEL_ALLOW_PRIVATE_URLS allow them: both default to DEBUG, so a
local single-user install can reach Ollama on localhost, while a shared server (DEBUG off) does not let tenants reach
the machine's own services or the internal network unless the operator says so. Every address a host name resolves to
is checked, when the endpoint is saved and again before every request (a changed DNS answer is caught then).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

# Metadata services reachable at addresses that are not link-local (Alibaba, Oracle, AWS IPv6 IMDS), and names.
_METADATA_ADDRESSES = {
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("192.0.0.192"),
    ipaddress.ip_address("fd00:ec2::254"),
}
_METADATA_NAMES = {
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
}


class UrlRefused(ValueError):
    """The URL may not be used as a model endpoint; the message says why and which setting would allow it."""


@dataclass(frozen=True)
class UrlPolicy:
    allow_loopback: bool
    allow_private: bool

    @classmethod
    def from_settings(cls) -> "UrlPolicy":
        return cls(allow_loopback=settings.MODEL_ALLOW_LOOPBACK_URLS, allow_private=settings.MODEL_ALLOW_PRIVATE_URLS)


def _normalise(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def check_address(address: str, policy: UrlPolicy) -> None:
    """Refuse one resolved address according to ``policy``."""
    ip = _normalise(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip in _METADATA_ADDRESSES or ip.is_link_local:
        raise UrlRefused(f"{ip} is a link-local or cloud-metadata address; model endpoints may never use it.")
    if ip.is_unspecified or ip.is_multicast or (ip.is_reserved and not ip.is_private):
        raise UrlRefused(f"{ip} is not a routable unicast address.")
    if ip.is_loopback:
        if not policy.allow_loopback:
            raise UrlRefused(
                f"{ip} is a loopback address, refused on this server (MODEL_ALLOW_LOOPBACK_URLS=true allows it)."
            )
        return
    shared = isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10")
    if (ip.is_private or shared or not ip.is_global) and not policy.allow_private:
        raise UrlRefused(
            f"{ip} is a private-network address, refused on this server (MODEL_ALLOW_PRIVATE_URLS=true allows it)."
        )


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"The host {host!r} does not resolve.") from exc
    return sorted({info[4][0] for info in infos})


def validate_base_url(url: str, *, policy: UrlPolicy | None = None, resolve: bool = True) -> str:
    """Return the normalised URL (no trailing slash) or raise ``UrlRefused``."""
    policy = policy or UrlPolicy.from_settings()
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"Not a valid URL: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("The base URL must start with http:// or https://.")
    if not parts.hostname:
        raise UrlRefused("The base URL needs a host.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("Put credentials in the API key, not in the URL (URLs are shown to every project member).")
    if parts.query or parts.fragment:
        raise UrlRefused("The base URL may not have a query string or fragment.")
    host = parts.hostname.rstrip(".").lower()
    if host in _METADATA_NAMES:
        raise UrlRefused(f"{host} is a cloud-metadata host; model endpoints may never use it.")
    if resolve:
        default_port = 443 if parts.scheme == "https" else 80
        for address in _resolve(host, port or default_port):
            check_address(address, policy)
    return url.rstrip("/")
