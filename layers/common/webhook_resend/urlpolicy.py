"""Which webhook and callback URLs may be called: http(s) only, and in deployed mode no address
that points back into a network (loopback, private, link-local, CGNAT, multicast, reserved,
unspecified, and the IPv4-mapped IPv6 forms of all of them).

Registration checks what the name resolves to now; delivery checks again on the address that is
actually connected to, because DNS can change between the two.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

Resolver = Callable[[str], Iterable[str]]

MAX_URL_LENGTH = 2048
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UrlRefusedError(ValueError):
    """The URL may not be called; the message says why (safe to show the tenant)."""


def is_forbidden_address(address: str) -> bool:
    """True when the address is not a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_forbidden_address(str(mapped))
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def system_resolver(host: str) -> list[str]:
    """Every address the host resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def check_syntax(url: str) -> str:
    """The URL's host, or UrlRefusedError when it is not an absolute http(s) URL."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefusedError(f"URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefusedError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefusedError("only http and https URLs are allowed")
    if not parts.hostname:
        raise UrlRefusedError("URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefusedError("URL must not carry credentials; use the webhook secret to authenticate")
    if port == 0:
        raise UrlRefusedError("URL port 0 is not allowed")
    return parts.hostname


def check_url(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """Refuse a URL that may not be registered (UrlRefusedError, with the reason).

    A name that does not resolve today is accepted: it may be registered before its DNS record
    exists, and delivery checks the address it connects to anyway.
    """
    host = check_syntax(url)
    if allow_private:
        return
    try:
        addresses: Iterable[str] = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise UrlRefusedError("URL points to a loopback address") from None
        addresses = resolver(host)
    for address in addresses:
        if is_forbidden_address(address):
            raise UrlRefusedError(
                f"URL resolves to {address}, a loopback, private, link-local or reserved address"
            )
