"""The Chromium driver of the dashboard test (tests/chromium.py) fails at once, naming what is missing, when
there is no browser to start: it never hangs and never skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chromium import BrowserError, Chromium


async def test_no_chromium_on_the_path_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("GATEWAY_CHROMIUM", raising=False)
    with pytest.raises(BrowserError, match=r"chromium not found .*apt-get install -y chromium"):
        await Chromium.launch(tmp_path / "profile")


async def test_a_browser_that_exits_at_once_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("GATEWAY_CHROMIUM", str(fake))
    with pytest.raises(BrowserError, match=r"exited \(status 3\) before listening:\ncannot open display"):
        await Chromium.launch(tmp_path / "profile", timeout=10)
