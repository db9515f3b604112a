"""`gateway tracking` / `gateway serve --tracking` refuse a config they cannot serve, before listening."""

from __future__ import annotations

import pytest

from gateway import cli, config


def test_the_keys_variable_is_a_secret_not_a_config_overlay() -> None:
    cfg = config.load(None, {"GATEWAY_TRACKING_KEYS": "k1:0123456789abcdef0123",
                             "GATEWAY_TRACKING__PUBLIC_URL": "https://t.example"})
    assert cfg.tracking is not None and cfg.tracking.public_url == "https://t.example"
    assert cfg.tracking.unsubscribe_headers == "bulk" and cfg.tracking.apps == {}


def test_tracking_without_a_section_or_keys_exits_2_naming_the_problem(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GATEWAY_TRACKING_KEYS", raising=False)
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert cli.main(["tracking", "--listen", "127.0.0.1:0"]) == 2
    assert "needs a [tracking] section" in capsys.readouterr().err
    monkeypatch.setenv("GATEWAY_TRACKING__PUBLIC_URL", "https://t.example")
    assert cli.main(["tracking", "--listen", "127.0.0.1:0"]) == 2
    assert "GATEWAY_TRACKING_KEYS" in capsys.readouterr().err
    monkeypatch.setenv("GATEWAY_TRACKING_KEYS", "k1:short")
    assert cli.main(["tracking", "--listen", "127.0.0.1:0"]) == 2
    assert "at least 16 bytes" in capsys.readouterr().err


def test_serve_tracking_without_a_section_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_CHANNELS__0__KIND", "smtp")
    assert cli.main(["serve", "--tracking", "127.0.0.1:0"]) == 2
    assert "needs a [tracking] section" in capsys.readouterr().err


def test_serve_with_a_tracking_section_but_no_keys_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.delenv("GATEWAY_TRACKING_KEYS", raising=False)
    monkeypatch.setenv("GATEWAY_CHANNELS__0__KIND", "smtp")
    monkeypatch.setenv("GATEWAY_TRACKING__PUBLIC_URL", "https://t.example")
    assert cli.main(["serve"]) == 2
    assert "GATEWAY_TRACKING_KEYS" in capsys.readouterr().err
