"""API configuration (keys from the environment or files) and query-string conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.api.errors import BadRequest
from gateway.api.routing import ROUTES
from gateway.api.server import build_verifier
from gateway.api.validation import parse_query, query_params
from gateway.config import from_dict
from gateway.errors import ConfigError


def test_verifier_from_config(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    cfg = from_dict({"api": {"access_keys": [
        {"access_key_id": "A1", "secret_env": "API_SECRET"},
        {"access_key_id": "A2", "secret_file": str(secret_file)},
    ]}})
    verifier = build_verifier(cfg.api, {"API_SECRET": "from-env"})
    assert verifier is not None and verifier._keys == {"A1": "from-env", "A2": "from-file"}
    assert build_verifier(from_dict({"api": {"auth": "none"}}).api, {}) is None


@pytest.mark.parametrize("api,match", [
    ({}, "access_keys is empty"),
    ({"access_keys": [{"access_key_id": "A"}]}, r"access_keys\[0\]: give secret_env or secret_file"),
    ({"access_keys": [{"access_key_id": "A", "secret_env": "NOPE"}]}, "NOPE is not set"),
    ({"access_keys": [{"access_key_id": "A", "secret_file": "/nonexistent/x"}]}, "cannot read /nonexistent/x"),
])
def test_verifier_config_errors_name_the_key(api: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_verifier(from_dict({"api": api}).api, {})


def test_unknown_api_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api"):
        from_dict({"api": {"auht": "none"}})


def test_query_conversion() -> None:
    assert parse_query("tagKeys=a&tagKeys=b%20c&x") == {"tagKeys": ["a", "b c"], "x": [""]}
    assert query_params(ROUTES["UntagResource"], "tagKeys=a&tagKeys=b") == {"TagKeys": ["a", "b"]}
    update = ROUTES["UpdateEmailTemplate"]
    converted = query_params(update, "create-new-version=true&version=3&junk=1")
    assert converted == {"CreateNewVersion": True, "Version": "3"}
    with pytest.raises(BadRequest, match="create-new-version"):
        query_params(update, "create-new-version=yes")
    kpi = ROUTES["GetApplicationDateRangeKpi"]
    assert query_params(kpi, "start-time=2026-01-01T00%3A00%3A00Z")["StartTime"] == "2026-01-01T00:00:00Z"
    with pytest.raises(BadRequest, match="start-time"):
        query_params(kpi, "start-time=monday")
    with pytest.raises(BadRequest, match="page-size"):
        query_params(ROUTES["GetApps"], "page-size=1001")
    with pytest.raises(BadRequest, match="tagKeys"):
        query_params(ROUTES["UntagResource"], "")


async def test_start_api_serves_on_a_free_port(redis: object, redis_server: object) -> None:
    import aiohttp

    from gateway.api.__main__ import parse_listen
    from gateway.api.server import start_api

    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080) and parse_listen("[::1]:9") == ("::1", 9)
    cfg = from_dict({"redis_url": redis_server.url, "api": {"auth": "none"}})  # type: ignore[attr-defined]
    runner, port = await start_api(cfg, "127.0.0.1", 0, redis=redis)  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/v1/apps", json={"Name": "cli"}) as resp:
                assert resp.status == 201 and (await resp.json())["Name"] == "cli"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "gateway.example", ""])
def test_auth_none_off_loopback_refuses_to_start(host: str) -> None:
    from gateway.api.server import check_api_config

    cfg = from_dict({"api": {"auth": "none"}})
    with pytest.raises(ConfigError, match="allow_unauthenticated") as info:
        check_api_config(cfg, {}, host=host)
    assert "\n" not in str(info.value) and "not loopback" in str(info.value)
    forced = from_dict({"api": {"auth": "none", "allow_unauthenticated": True}})
    check_api_config(forced, {}, host=host)  # explicitly forced: starts


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "localhost", "::ffff:127.0.0.1"])
def test_auth_none_on_loopback_starts(host: str) -> None:
    from gateway.api.server import check_api_config

    check_api_config(from_dict({"api": {"auth": "none"}}), {}, host=host)


def test_gateway_serve_refuses_auth_none_off_loopback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`gateway serve --api 0.0.0.0:PORT` with auth = "none" exits 2 with one line before anything listens."""
    from gateway.cli import main

    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_API__AUTH", "none")
    assert main(["serve", "--api", "0.0.0.0:0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "api.allow_unauthenticated" in err and "0.0.0.0" in err


def test_python_m_gateway_api_refuses_auth_none_off_loopback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.api import __main__ as api_main

    async def must_not_listen(*args: object) -> None:
        raise AssertionError("the API started listening")

    monkeypatch.setattr(api_main, "run", must_not_listen)
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_API__AUTH", "none")
    assert api_main.main(["--listen", "0.0.0.0:0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "api.allow_unauthenticated" in err


async def test_start_api_refuses_auth_none_off_loopback() -> None:
    from gateway.api.server import start_api

    with pytest.raises(ConfigError, match="allow_unauthenticated"):
        await start_api(from_dict({"api": {"auth": "none"}}), "192.0.2.10", 0)  # TEST-NET: never bindable
