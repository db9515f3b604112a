"""Generate the README's table of Pinpoint's 122 operations and whether Gateway serves each.

Status comes from the handler table (gateway/api/handlers.py) and from which services
`gateway.api.server.services_from_config` wires: "served" when every service the handler needs is wired by
default; "served when [otp] is configured" for the OTP operations; "served when the [credentials] key is
configured" for the push channel operations (a service whose `configured` attribute is False is wired but answers
ForbiddenException until then); "served with <service>" when the handler runs
once the caller sets that service on `Services` (see docs/api.md); "not yet" when no handler exists.
Run `python tools/gen_api_table.py --write` to update README.md in place (between the api-table markers), or
without arguments to print the table.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis

from gateway.api.handlers import load_handlers
from gateway.api.server import services_from_config
from gateway.config import GatewayConfig, OtpSection
from gateway.models import OPERATIONS

START = "<!-- api-table:start -->"
END = "<!-- api-table:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def wired_services() -> tuple[set[str], set[str], set[str]]:
    """Names of the `Services` attributes `services_from_config` sets and that are configured: by default, with
    an [otp] section, and with a [credentials] key."""
    client = aioredis.Redis()  # never connected: the services are only constructed
    otp_env = {"GATEWAY_OTP_KEY": "x" * 32}
    key_env = {**otp_env, GatewayConfig().credentials.key_env: base64.b64encode(b"k" * 32).decode()}

    def names(config: GatewayConfig, environ: dict[str, str]) -> set[str]:
        services = services_from_config(config, client, environ=environ)
        return {
            name for name, value in vars(services).items()
            if value is not None and getattr(value, "configured", True)
        }

    return (
        names(GatewayConfig(), otp_env),
        names(GatewayConfig(otp=OtpSection()), otp_env),
        names(GatewayConfig(), key_env),
    )


def table() -> str:
    handlers = load_handlers()
    default, with_otp, with_key = wired_services()
    counts = {"served": 0, "otp": 0, "key": 0, "other": 0}
    rows = []
    for name, (method, path, _i, _o, _s) in sorted(OPERATIONS.items()):
        op = handlers.get(name)
        if op is None:
            status = "not yet"
        elif set(op.needs) <= default:
            status = "served"
            counts["served"] += 1
        elif set(op.needs) <= with_otp:
            status = "served when `[otp]` is configured"
            counts["otp"] += 1
        elif set(op.needs) <= with_key:
            status = "served when the `[credentials]` key is configured"
            counts["key"] += 1
        else:
            status = "served with " + ", ".join(f"`{n}`" for n in op.needs if n not in with_otp | with_key)
            counts["other"] += 1
        rows.append(f"| {name} | {method} | `{path}` | {status} |")
    extra = [
        f"{counts['otp']} more when the `[otp]` section is configured",
        f"{counts['key']} more (the push channels) when the `[credentials]` key is configured (without it they "
        "answer ForbiddenException saying so)",
    ]
    if counts["other"]:
        extra.append(f"{counts['other']} more have a handler that runs once the embedder sets the named service on "
                     "`Services` (see docs/api.md)")
    lines = [
        f"{counts['served']} of {len(OPERATIONS)} operations are served by a default deployment, "
        + ", ".join(extra[:-1]) + f", and {extra[-1]}.",
        "",
        "| Operation | Method | Path | Status |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    return "\n".join(lines) + "\n"


def render_readme(text: str) -> str:
    """README text with the table between the markers replaced (markers appended if absent)."""
    block = f"{START}\n{table()}{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        return head + block + tail
    return text.rstrip("\n") + "\n\n## Pinpoint API operations\n\n" + block + "\n"


def main() -> None:
    if "--write" in sys.argv:
        README.write_text(render_readme(README.read_text()))
    else:
        sys.stdout.write(table())


if __name__ == "__main__":
    main()
