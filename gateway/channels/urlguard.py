"""SSRF guard for URLs a tenant or operator configures (HTTP SMS/voice providers, webhooks).

OWASP's recipe (see shared reference §7): allow only http(s); resolve the host name once, check *every* resolved
address, and connect to exactly the addresses checked (the aiohttp resolver below returns only those, so a DNS
rebinding between check and connect is impossible); never follow redirects (callers pass allow_redirects=False).
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

from gateway.errors import ConfigError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_BLOCKED_NAMES = frozenset({"localhost", "metadata.google.internal", "metadata", "instance-data"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddress(ConfigError):
    """A URL points (or resolves) to an address the guard refuses. The message says which rule refused it."""


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
