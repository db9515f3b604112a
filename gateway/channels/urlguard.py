"""SSRF guard for URLs a tenant or operator configures (HTTP SMS/voice providers, webhooks, import job sources).

OWASP's recipe (see shared reference §7): allow only http(s); resolve the host name once, check *every* resolved
address, and connect to exactly the addresses checked (the aiohttp resolver below returns only those, so a DNS
rebinding between check and connect is impossible); never follow a redirect unchecked (callers pass
allow_redirects=False; `fetch` follows them by hand, each hop checked like the first URL).
Loopback, private, link-local, CGNAT, multicast, reserved and unspecified addresses are refused, including when
they hide inside IPv4-mapped, 6to4 or NAT64 IPv6 addresses, unless the operator allowlists a network
explicitly (the sandbox tests allowlist 127.0.0.1/32).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gateway.errors import ConfigError, GatewayError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_BLOCKED_NAMES = frozenset({"localhost", "metadata.google.internal", "metadata", "instance-data"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddress(ConfigError):
    """A URL points (or resolves) to an address the guard refuses. The message says which rule refused it."""


class FetchError(GatewayError, OSError):
    """`fetch` gave up: an HTTP status other than 200, too many redirects, a body over the cap, an encoding it
    does not read. The message says which (never the body)."""


def parse_networks(items: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse an allowlist of CIDRs (a bare address means that single address)."""
    nets: list[IPNetwork] = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(f"allow_networks: {item!r} is not an IP network") from exc
    return tuple(nets)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress, allow: tuple[IPNetwork, ...] = ()) -> str | None:
    """Why `ip` must not be contacted, or None when it may be. Allowlisted networks win over every rule."""
    if any(ip.version == net.version and ip in net for net in allow):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            why = refusal(inner, allow)
            return None if why is None else f"embeds {why}"
    if ip.is_loopback:
        return f"loopback address {ip}"
    if ip.is_link_local:
        return f"link-local address {ip} (cloud metadata lives here)"
    if ip.is_unspecified:
        return f"unspecified address {ip}"
    if ip.is_multicast:
        return f"multicast address {ip}"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return f"shared (CGNAT) address {ip}"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return f"private or reserved address {ip}"
    return None


def check_url(url: str, *, allow_http: bool = False, allow: tuple[IPNetwork, ...] = ()) -> URL:
    """Validate a URL statically: scheme, credentials, host; a literal IP host is checked here too.

    Host names are checked again at connect time by :class:`GuardedResolver` (their addresses can change).
    """
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise BlockedAddress(f"not a valid URL: {exc}") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in schemes:
        raise BlockedAddress(f"scheme {parsed.scheme!r} not allowed (allowed: {', '.join(schemes)})")
    if parsed.user or parsed.password:
        raise BlockedAddress("credentials in the URL are not allowed; configure auth instead")
    host = parsed.raw_host
    if not host:
        raise BlockedAddress("URL has no host")
    host = host.strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host in _BLOCKED_NAMES or host.endswith(".localhost") or host.endswith(".internal"):
            raise BlockedAddress(f"host name {host!r} is an internal name") from None
        return parsed
    why = refusal(ip, allow)
    if why is not None:
        raise BlockedAddress(f"URL host is a {why}")
    return parsed


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that resolves once and refuses the host if *any* address is refused.

    aiohttp connects only to the addresses a resolver returns, so the addresses checked are the addresses used
    (no rebinding window). Numeric-looking hosts such as `0x7f000001` resolve through getaddrinfo to 127.0.0.1
    and are refused here.
    """

    def __init__(self, allow: tuple[IPNetwork, ...] = (), inner: AbstractResolver | None = None) -> None:
        self._allow = allow
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        if name in _BLOCKED_NAMES or name.endswith(".localhost") or name.endswith(".internal"):
            raise BlockedAddress(f"host name {name!r} is an internal name")
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise OSError(f"no addresses for {host}")
        for res in results:
            ip = ipaddress.ip_address(res["host"].split("%", 1)[0])
            why = refusal(ip, self._allow)
            if why is not None:
                log.warning("SSRF guard refused %s: resolves to a %s", host, why)
                raise BlockedAddress(f"{host} resolves to a {why}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded_connector(
    allow: tuple[IPNetwork, ...], limit: int, keepalive_timeout: float, inner: AbstractResolver | None = None,
    **kw: Any,
) -> aiohttp.TCPConnector:
    """A pooled keep-alive TCPConnector whose every connection goes through the guard (`inner` resolves names;
    default: getaddrinfo in a thread)."""
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(allow, inner), limit=limit, limit_per_host=0, keepalive_timeout=keepalive_timeout,
        ttl_dns_cache=60, **kw,
    )


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def guarded_session(
    allow: tuple[IPNetwork, ...], *, connect_timeout: float, read_timeout: float, total_timeout: float,
    inner: AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """A client session for `fetch`: every connection through the guard, timeouts on connect, on each read and
    on the whole request, and no transparent decompression (the size cap must count the bytes we hold)."""
    return aiohttp.ClientSession(
        connector=guarded_connector(allow, 4, 15.0, inner),
        timeout=aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout, sock_read=read_timeout),
        auto_decompress=False,
    )


def redirect_target(current: URL, status: int, location: str | None) -> URL | None:
    """Where a response sends us next: None when it is not a redirect. A redirect without Location is an error."""
    if status not in _REDIRECTS:
        return None
    if not location:
        raise FetchError(f"HTTP {status} redirect without a Location")
    try:
        return current.join(URL(location))
    except (ValueError, TypeError) as exc:
        raise FetchError(f"HTTP {status} redirect to an invalid Location ({exc})") from exc


async def fetch(
    session: aiohttp.ClientSession, url: str, *, allow_http: bool, allow: tuple[IPNetwork, ...], max_bytes: int,
    max_redirects: int,
) -> bytes:
    """GET `url` through a `guarded_session`: redirects are followed by hand, at most `max_redirects`, each hop
    checked by `check_url` (a literal IP is refused here, a name when the session's resolver connects); the body
    is read while it streams and abandoned as soon as it passes `max_bytes`. Raises BlockedAddress or FetchError
    (and aiohttp/timeout errors from the transport)."""
    target = check_url(url, allow_http=allow_http, allow=allow)
    for hop in range(max_redirects + 1):
        headers = {"Accept-Encoding": "identity"}
        async with session.get(target, allow_redirects=False, headers=headers) as resp:
            nxt = redirect_target(target, resp.status, resp.headers.get("Location"))
            if nxt is None:
                return await _read_capped(resp, max_bytes)
        try:
            target = check_url(str(nxt), allow_http=allow_http, allow=allow)
        except BlockedAddress as exc:
            raise BlockedAddress(f"redirect {hop + 1} refused: {exc}") from None
    raise FetchError(f"more than {max_redirects} redirects")


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    if resp.status != 200:
        raise FetchError(f"HTTP {resp.status}")
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(f"Content-Encoding {encoding[:20]} is not supported: serve the file uncompressed")
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise FetchError(f"body of {resp.content_length} bytes exceeds the limit of {max_bytes} bytes")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"body exceeds the limit of {max_bytes} bytes")
    return bytes(body)
