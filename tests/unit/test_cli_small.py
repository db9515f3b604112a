"""Small things a new user of the `gateway` command hits first."""

from __future__ import annotations

import pathlib
import smtplib
import subprocess
import sys

import pytest

from gateway import cli
from gateway.embedded_redis import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_sandbox_smtp_listens_on_the_port_given_after_the_kind() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "sandbox", "smtp", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once it is listening
        assert line.strip() == f"sandbox SMTP sink listening on 127.0.0.1:{port}", proc.stderr.read() if not line else line
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            assert s.noop()[0] == 250
    finally:
        proc.terminate()
        proc.wait(10)


def test_unknown_flags_are_still_refused_outside_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["send", "app", "--to", "a@b.c", "--bogus"])
    assert info.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_render_keeps_the_template_file_bytes(tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    tpl = tmp_path / "t.hbs"
    tpl.write_bytes(b"Hi {{name}},\r\nline two\r\n\rend\n")
    assert cli.main(["render", str(tpl), "--data", '{"name": "Jo"}']) == 0
    assert capsysbinary.readouterr().out == b"Hi Jo,\r\nline two\r\n\rend\n"
