"""`gateway render` (registered by gateway.templates.cli.register)."""

from __future__ import annotations

import argparse
import pathlib

import pytest

from gateway.templates.cli import main, register


def test_register_adds_render_to_subparsers() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["render", "x", "--data", "{}", "--type", "SMS", "--part", "Body"])
    assert (args.command, args.template, args.type, args.part) == ("render", "x", "SMS", "Body")


def test_render_inline_and_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "Hi {{upper name}}", "--data", '{"name": "jo"}']) == 0
    assert capsys.readouterr().out == "Hi JO\n"
    tpl = tmp_path / "t.hbs"
    tpl.write_text("{{#each items}}{{this}};{{/each}}\n")
    data = tmp_path / "d.json"
    data.write_text('{"items": [1, 2]}')
    assert main(["render", str(tpl), "--data", f"@{data}"]) == 0
    assert capsys.readouterr().out == "1;2;\n"


def test_render_reports_template_errors_with_position(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "{{#if a}}", "--data", "{}"]) == 2
    assert "line 1, column 10" in capsys.readouterr().err
    assert main(["render", "x", "--data", "[1]"]) == 2


async def test_render_stored_template(redis_server: object, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    import redis.asyncio as aioredis

    from gateway import models
    from gateway.templates.store import TemplateStore

    url = redis_server.url  # type: ignore[attr-defined]
    client = aioredis.Redis.from_url(url)
    await client.flushall()
    await TemplateStore(client).create("Cli", "SMS", models.SMSTemplateRequest(
        Body="Hi {{User.UserAttributes.FirstName}} {{code}}",
        DefaultSubstitutions='{"User.UserAttributes.FirstName": "you"}'))
    await client.aclose()
    status = await asyncio.to_thread(main, ["render", "Cli", "--type", "SMS", "--redis", url, "--data", '{"code": 7}'])
    assert status == 0
    assert capsys.readouterr().out == "Hi you 7\n"
