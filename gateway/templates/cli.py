"""`gateway render`: preview a template from the command line.

    gateway render 'Hi {{User.UserAttributes.FirstName}}' --data '{"User": {"UserAttributes": {"FirstName": ["Jo"]}}}'
    gateway render welcome.hbs --data @context.json
    gateway render Welcome --type EMAIL --part HtmlPart --redis redis://localhost:6379/0 --data '{}'

TEMPLATE_OR_FILE is a file path when such a file exists, else inline template text; with --redis it is the name of
a stored template (its active version unless --version is given), whose DefaultSubstitutions apply as they do
for a send. --data is JSON, or @path to read JSON from a file. Exit status 2 on a template error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .errors import TemplateError
from .program import compile


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `render` command to an argparse subparsers object; returns its parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "render", help="render a Handlebars template with JSON data", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("template", metavar="TEMPLATE_OR_FILE", help="template file, inline text, or stored name")
    p.add_argument("--data", default="{}", help="JSON context, or @file.json (default: {})")
    p.add_argument("--type", default="EMAIL", choices=["EMAIL", "SMS", "PUSH", "VOICE", "INAPP"],
                   help="stored template type (with --redis)")
    p.add_argument("--part", default=None,
                   help="stored template part: HtmlPart, TextPart, Subject, Body, APNS.Body… (with --redis)")
    p.add_argument("--version", default=None, help="stored template version (default: the active one)")
    p.add_argument("--redis", default=None, help="Redis URL: render a stored template instead of text")
    p.set_defaults(func=run)
    return p


def _load_data(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("--data must be a JSON object")
    return value


_DEFAULT_PART = {"EMAIL": "HtmlPart", "SMS": "Body", "VOICE": "Body", "PUSH": "Default.Body", "INAPP": ""}


async def _render_stored(args: argparse.Namespace, data: dict[str, Any]) -> str:
    import redis.asyncio as aioredis

    from .store import TemplateStore
    from .variables import apply_defaults

    client = aioredis.Redis.from_url(args.redis)
    try:
        store = TemplateStore(client)
        part = args.part or _DEFAULT_PART[args.type]
        program = await store.program(args.template, args.type, args.version, part)
        defaults = await store.defaults(args.template, args.type, args.version)
    finally:
        await client.aclose()
    ctx = dict(data)
    apply_defaults(ctx, defaults)
    return program.render(ctx)


def run(args: argparse.Namespace) -> int:
    """Render and print; returns the exit status."""
    try:
        data = _load_data(args.data)
    except (OSError, ValueError) as exc:
        print(f"error: --data: {exc}", file=sys.stderr)
        return 2
    try:
        if args.redis:
            text = asyncio.run(_render_stored(args, data))
        else:
            path = Path(args.template)
            if path.is_file():
                with open(path, encoding="utf-8", newline="") as f:  # no newline translation: CRLF stays CRLF
                    source = f.read()
            else:
                source = args.template
            text = compile(source).render(data)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {args.template}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    if not text.endswith("\n"):
        sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m gateway.templates.cli ...`) until the lead wires `register` into gateway.cli."""
    parser = argparse.ArgumentParser(prog="gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
