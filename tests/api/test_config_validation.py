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
