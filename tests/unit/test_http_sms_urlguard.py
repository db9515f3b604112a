"""SSRF guard (reference §9.7, T24): every private, loopback, metadata and embedded form is refused, unless an
operator allowlists the network; host names are checked at resolution time, on every address."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import msgspec
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway import config as gwconfig
from gateway.channels import http_provider as hp
from gateway.channels import urlguard
from gateway.errors import ConfigError

LOOPBACK = urlguard.parse_networks(["127.0.0.1/32"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 embedding of 169.254.169.254
        "http://[2002:7f00:1::]/",  # 6to4 embedding of 127.0.0.1
        "http://10.0.0.5/",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://localhost:8080/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
    ],
)
def test_static_refusals(url: str) -> None:
    with pytest.raises(urlguard.BlockedAddress):
        urlguard.check_url(url, allow_http=True)


def test_http_needs_opt_in_and_public_https_passes() -> None:
    with pytest.raises(urlguard.BlockedAddress, match="scheme"):
        urlguard.check_url("http://api.example.com/")
    assert urlguard.check_url("https://api.example.com/x").host == "api.example.com"
    assert urlguard.check_url("https://8.8.8.8/x").host == "8.8.8.8"


def test_allowlist_admits_only_the_listed_network() -> None:
    urlguard.check_url("http://127.0.0.1:9000/", allow_http=True, allow=LOOPBACK)
    with pytest.raises(urlguard.BlockedAddress):
        urlguard.check_url("http://127.0.0.2:9000/", allow_http=True, allow=LOOPBACK)
    with pytest.raises(urlguard.BlockedAddress):
        urlguard.check_url("http://169.254.169.254/", allow_http=True, allow=LOOPBACK)


def test_provider_config_refuses_private_url_unless_allowlisted() -> None:
    base = {"url": "http://127.0.0.1:9/send", "allow_http": True, "fields": {"to": "${to}"}}
    with pytest.raises(ConfigError, match="loopback"):
        hp.resolve(msgspec.convert(base, gwconfig.HttpSmsChannelConfig), environ={})
    ok = dict(base, allow_networks=["127.0.0.1/32"])
    assert hp.resolve(msgspec.convert(ok, gwconfig.HttpSmsChannelConfig), environ={}).url == base["url"]
    with pytest.raises(ConfigError, match="not an IP network"):
        hp.resolve(msgspec.convert(dict(base, allow_networks=["nope"]), gwconfig.HttpSmsChannelConfig), environ={})


class FakeResolver(AbstractResolver):
    """Answers from a table; records calls (a rebinding domain answers differently on each call)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls = 0

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        seq = self.answers[host]
        ips = seq[min(self.calls, len(seq) - 1)]
        self.calls += 1
        return [ResolveResult(hostname=host, host=ip, port=port, family=family, proto=0, flags=0) for ip in ips]

    async def close(self) -> None:
        pass


async def test_resolver_refuses_if_any_address_is_private() -> None:
    r = urlguard.GuardedResolver(inner=FakeResolver({"mixed.example": [["93.184.216.34", "10.1.2.3"]]}))
    with pytest.raises(urlguard.BlockedAddress, match="private"):
        await r.resolve("mixed.example", 443)


async def test_rebinding_domain_is_checked_on_every_resolution() -> None:
    inner = FakeResolver({"rebind.example": [["93.184.216.34"], ["169.254.169.254"]]})
    r = urlguard.GuardedResolver(inner=inner)
    first = await r.resolve("rebind.example", 443)
    assert [x["host"] for x in first] == ["93.184.216.34"]
    with pytest.raises(urlguard.BlockedAddress, match="link-local"):
        await r.resolve("rebind.example", 443)


async def test_numeric_host_forms_are_caught_after_resolution() -> None:
    # getaddrinfo turns "0x7f000001" into 127.0.0.1; the guard sees the resolved address.
    r = urlguard.GuardedResolver()
    with pytest.raises(urlguard.BlockedAddress, match="loopback"):
        await r.resolve("0x7f000001", 80)
    with pytest.raises(urlguard.BlockedAddress, match="internal name"):
        await r.resolve("metadata.google.internal", 80)


def test_refusal_reasons() -> None:
    ip: Any = ipaddress.ip_address
    assert urlguard.refusal(ip("8.8.8.8")) is None
    assert "loopback" in (urlguard.refusal(ip("127.0.0.1")) or "")
    assert "embeds" in (urlguard.refusal(ip("::ffff:10.0.0.1")) or "")
    assert urlguard.refusal(ip("127.0.0.1"), LOOPBACK) is None
