"""The `gateway` command: serve, send, demo, sandbox, suppression (and render, segment as those land)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Protocol

import msgspec
import msgspec.structs

from gateway import __version__
from gateway.errors import ConfigError, DecodeError
from gateway.localredis import REDIS_HELP, run_client

log = logging.getLogger("gateway.cli")



class _Stoppable(Protocol):
    """What `gateway serve` asks of each listener it starts beside the worker (aiohttp runners, the tracking
    server): stop it when the worker stops."""

    async def cleanup(self) -> None: ...

def _uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; asyncio's loop still works
        pass


def _tune_process() -> None:
    """Process-wide settings for a long-running gateway process, applied by the entry point (never by a
    library class: a program embedding a Worker keeps its own). Everything allocated so far lives for the whole
    run: keep it out of the collector's scans, and collect the young generation less often (the hot path
    allocates many short-lived, acyclic objects)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# ------------------------------------------------------------------ serve


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway import config as config_mod
    from gateway import redisconn
    from gateway.worker import Worker

    try:
        cfg, environ = config_mod.load_for_command(args.config, args.redis, os.environ)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:
        api_at = config_mod.host_port(args.api) if args.api else None
        if cfg.inbound is not None:
            config_mod.host_port(cfg.inbound.listen)
        if cfg.metrics.listen is not None:
            config_mod.host_port(cfg.metrics.listen)
        from gateway.tracking.cli import listen_address
        from gateway.tracking.finish import tracker_from_config
        tracking_at = listen_address(cfg, args.tracking)
        tracker_from_config(cfg.tracking, environ)  # [tracking] without its keys stops here, not in the worker
        bounces_at = args.bounces or (cfg.bounces.listen if cfg.bounces is not None else None)
        if bounces_at:
            config_mod.host_port(bounces_at)
    except ConfigError as exc:
        print(f"gateway: --api, --tracking, --bounces, inbound.listen, metrics.listen or bounces.listen: {exc}",
              file=sys.stderr)
        return 2
    if args.api:
        from gateway.api.server import check_api_config

        try:
            # before the worker starts: a missing API or OTP key, or auth = "none" off loopback, stops here
            check_api_config(cfg, environ, host=api_at[0] if api_at else None)
        except ConfigError as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return 2
    if not cfg.channels:
        print("gateway: no channels configured (add [[channels]] to the config file)", file=sys.stderr)
        return 2
    if args.processes is not None and args.processes < 1:
        print(f"gateway: --processes must be 1 or more, got {args.processes}", file=sys.stderr)
        return 2
    from gateway import logs

    logs.setup(cfg, environ)
    if args.child not in (None, 0):  # --processes: only the first child serves the listeners
        api_at = tracking_at = None
        bounces_at = None
        cfg = msgspec.structs.replace(cfg, inbound=None, metrics=msgspec.structs.replace(cfg.metrics, listen=None))

    async def main() -> int:
        worker = Worker(cfg, consumer=args.consumer)
        worker.install_signal_handlers()
        if args.child is not None:
            _watch_parent(worker)
        try:
            up = await redisconn.wait_until_up(worker.redis, redisconn.url_of(cfg), cfg.redis_startup_timeout_s,
                                               worker.stopping, worker.outage)
        except redisconn.RedisUnreachable as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            up = None
        if not up:
            await worker.redis.aclose()
            return 1 if up is None else 0
        runners: list[_Stoppable] = []
        api_redis = None
        api_metrics = None
        if cfg.metrics.listen is not None and api_at is not None:
            from gateway.metrics.core import ApiMetrics

            api_metrics = ApiMetrics()
        if api_at is not None:
            from gateway.api.server import start_api

            # The API's own pool: each SendMessages holds a connection while it waits for its reply (BLPOP).
            api_redis = redisconn.connect(cfg, max_connections=max(256, cfg.redis_max_connections))
            runner, port = await start_api(cfg, api_at[0], api_at[1], redis=api_redis, metrics=api_metrics)
            runners.append(runner)
            log.warning("Pinpoint REST API listening on http://%s:%d", api_at[0], port)
        if cfg.inbound is not None:
            from gateway.sms.server import start_inbound

            runner, port = await start_inbound(cfg, worker.redis)
            runners.append(runner)
            log.warning("inbound SMS/voice webhook listening on port %d", port)
        if cfg.metrics.listen is not None:
            from gateway.metrics.server import start_metrics, worker_registry

            # the API, when served here, is this process too: one registry, one listener
            runner, port = await start_metrics(cfg.metrics.listen, worker_registry(worker, api_metrics))
            runners.append(runner)
            log.warning("Prometheus metrics at http://%s:%d/metrics", config_mod.host_port(cfg.metrics.listen)[0], port)
        if tracking_at is not None:
            from gateway.tracking.server import start_tracking

            listener, port = await start_tracking(cfg, worker.redis, tracking_at[0], tracking_at[1])
            runners.append(listener)
            log.warning("email tracking server listening on http://%s:%d", tracking_at[0], port)
        if bounces_at:
            from gateway.bounces.server import start_listener

            try:
                bounce_listener = await start_listener(cfg, worker.redis, bounces_at, environ)
            except ConfigError as exc:
                print(f"gateway: {exc}", file=sys.stderr)
                for started in runners:
                    await started.cleanup()
                await worker.redis.aclose()
                return 2
            runners.append(bounce_listener)
            log.warning("bounce and complaint listener (SMTP) on port %d", bounce_listener.port)
        _tune_process()
        try:
            await worker.run()
        finally:
            for started in runners:
                await started.cleanup()
            if api_redis is not None:  # the worker closes its own
                await api_redis.aclose()
        return 0

    local = None
    if cfg.redis_url is None:
        from gateway import localredis

        data_dir = Path(args.data_dir) if args.data_dir else localredis.default_data_dir(environ)
        # until the loop takes SIGTERM over: exit through `finally`, which stops the server started here
        signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            local = localredis.start_or_join(data_dir)
        except (OSError, RuntimeError, TimeoutError) as exc:
            print(f"gateway: cannot start the embedded Redis in {data_dir}: {exc}", file=sys.stderr)
            return 1
        log.warning("%s", local.notice())
        cfg = msgspec.structs.replace(cfg, redis_url=local.url)
    processes = args.processes or default_processes(local is not None, os.cpu_count())  # None: not given
    try:
        if processes > 1 and args.child is None:
            return _supervise(args, cfg, processes, local.url if local is not None else args.redis)
        _uvloop()
        return asyncio.run(main())
    finally:
        if local is not None:
            local.stop()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def default_processes(embedded: bool, cores: int | None) -> int:
    """`gateway serve`'s --processes when not given: every core when it runs its embedded Redis (a fresh machine,
    nothing else to share it with); one when a Redis is configured, as before --processes existed (a deployment
    that runs one worker per container or unit keeps doing so)."""
    return max(1, cores or 1) if embedded else 1


def _supervise(args: argparse.Namespace, cfg: Any, processes: int, redis: str | None) -> int:
    """`gateway serve --processes N` with N > 1: wait for Redis here (one line while it is unreachable), then run
    N children (gateway/supervisor.py)."""
    import socket

    from gateway import redisconn, supervisor

    passthrough = [*(["--config", args.config] if args.config else []), *(["--redis", redis] if redis else [])]
    listeners = [*(["--api", args.api] if args.api else []), *(["--tracking", args.tracking] if args.tracking else []),
                 *(["--bounces", args.bounces] if args.bounces else [])]
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        client = redisconn.connect(cfg, max_connections=1)
        try:
            up = await redisconn.wait_until_up(client, redisconn.url_of(cfg), cfg.redis_startup_timeout_s, stop)
        except redisconn.RedisUnreachable as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return 1
        finally:
            await client.aclose()
        if not up:
            return 0
        argvs = [supervisor.child_argv(i, consumer, passthrough, listeners) for i in range(processes)]
        return await supervisor.supervise(argvs, cfg.shutdown_grace_s, stop)

    return asyncio.run(main())


def _watch_parent(worker: Any) -> None:
    """A supervised child (--child): its stdin is a pipe its supervisor holds; end of file means the supervisor is
    gone, and the child drains and exits rather than run on orphaned."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if not data:
            loop.remove_reader(fd)
            log.error("the supervisor is gone: stopping")
            worker.stop()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)


# ------------------------------------------------------------------ send


def _build_request(args: argparse.Namespace) -> Any:
    if args.request:
        raw = sys.stdin.read() if args.request == "-" else args.request
        if not raw.lstrip().startswith("{"):
            with open(raw) as f:
                raw = f.read()
        return raw
    if not args.to:
        raise DecodeError("give --request JSON (or a file, or - for stdin), or --to with message flags")
    channel = args.channel.upper()
    addresses = {a: {"ChannelType": channel} for a in args.to}
    msg: dict[str, Any] = {}
    if channel == "EMAIL":
        simple: dict[str, Any] = {"Subject": {"Data": args.subject or ""}}
        if args.text:
            simple["TextPart"] = {"Data": args.text}
        if args.html:
            simple["HtmlPart"] = {"Data": args.html}
        msg["EmailMessage"] = {"SimpleEmail": simple, **({"FromAddress": args.sender} if args.sender else {})}
    elif channel == "SMS":
        msg["SMSMessage"] = {"Body": args.text or "", **({"OriginationNumber": args.sender} if args.sender else {})}
    else:
        msg["DefaultMessage"] = {"Body": args.text or ""}
    return {"Addresses": addresses, "MessageConfiguration": msg}


def cmd_send(args: argparse.Namespace) -> int:
    import msgspec
    import redis.asyncio as aioredis

    from gateway.producer import Producer

    try:
        request = _build_request(args)
    except (DecodeError, OSError) as exc:
        print(f"gateway send: {exc}", file=sys.stderr)
        return 2

    async def main(args: argparse.Namespace) -> int:
        client = aioredis.Redis.from_url(args.redis)
        producer = Producer(client, prefix=args.prefix)
        try:
            if args.wait:
                resp = await producer.send_messages_and_wait(args.app, request, timeout=args.timeout,
                                                             idempotency_key=args.idempotency_key)
                print(json.dumps(msgspec.to_builtins(resp), indent=2))
            else:
                entry = await producer.send_messages(args.app, request, idempotency_key=args.idempotency_key)
                print(entry)
        except DecodeError as exc:
            print(f"gateway send: {exc}", file=sys.stderr)
            return 2
        finally:
            await client.aclose()
        return 0

    return run_client("gateway send", args, main)


# ------------------------------------------------------------------ suppression


def cmd_suppression(args: argparse.Namespace) -> int:
    import redis.asyncio as aioredis

    from gateway.suppression import SuppressionList

    async def main(args: argparse.Namespace) -> int:
        client = aioredis.Redis.from_url(args.redis)
        sup = SuppressionList(client)
        try:
            if args.action == "add":
                await sup.add(args.app, args.address, args.reason)
            elif args.action == "remove":
                if not await sup.remove(args.app, args.address):
                    print("not suppressed", file=sys.stderr)
                    return 1
            else:
                for addr, s in sorted((await sup.list(args.app)).items()):
                    print(f"{addr}\t{s.reason}\t{s.at}\t{s.detail}")
        finally:
            await client.aclose()
        return 0

    return run_client("gateway suppression", args, main)


# ------------------------------------------------------------------ sandbox, demo


def cmd_sandbox(args: argparse.Namespace) -> int:
    if args.kind == "smtp":
        from gateway.sandbox import smtp

        smtp.main(["--host", args.host, "--port", str(args.port), *(["--log", args.log] if args.log else []),
                   *args.rest])
    else:  # smsc: flags this parser does not know are its own (see `python -m gateway.sandbox.smsc --help`)
        from gateway.sandbox import smsc

        smsc.main(["--host", args.host, "--port", str(args.port), *args.rest])
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway import demo

    if args.campaign:
        from gateway.campaigns import demo as campaign_demo

        return campaign_demo.main(endpoints=args.endpoints)
    return demo.main(count=args.count, workers=args.workers, sms=args.sms, push=args.push)


def cmd_dev(args: argparse.Namespace) -> int:
    from gateway import devstack

    return devstack.main(args.data_dir, api_port=args.api_port, redis_port=args.redis_port, workers=args.workers,
                         log_level=args.log_level)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="A self-hosted successor to Amazon Pinpoint.")
    p.add_argument("--version", action="version", version=f"gateway {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run a worker (reads the stream, delivers, writes outcomes)")
    s.add_argument("--redis", help="Redis URL (default: REDIS_URL, GATEWAY_REDIS_URL or the config file)")
    s.add_argument("--config", help="TOML config file (default: $GATEWAY_CONFIG)")
    s.add_argument("--consumer", help="consumer name in the group (default: hostname-pid)")
    s.add_argument("--api", metavar="HOST:PORT", help="also serve Pinpoint's REST API here")
    s.add_argument("--tracking", metavar="HOST:PORT", help="also serve email tracking/unsubscribe here ([tracking])")
    s.add_argument("--bounces", metavar="HOST:PORT",
                   help="also receive late bounces and complaints by SMTP here (default: [bounces] listen)")
    s.add_argument("--data-dir", help="with no Redis configured: where the embedded Redis keeps its data and its "
                                      "port (default: $XDG_DATA_HOME/gateway, else ~/.local/share/gateway)")
    s.add_argument("--processes", type=int, metavar="N",
                   help="worker processes under one supervisor (default: one per core with the embedded Redis, "
                        "else 1; 1 runs the worker in this process)")
    s.add_argument("--child", type=int, help=argparse.SUPPRESS)  # a supervised child's index (gateway/supervisor.py)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("send", help="enqueue one request")
    s.add_argument("app", help="application id")
    s.add_argument("--redis", help=REDIS_HELP)
    s.add_argument("--prefix", default="gateway", help="stream prefix")
    s.add_argument("--request", help="MessageRequest JSON, a file holding it, or - for stdin")
    s.add_argument("--to", action="append", help="recipient address (repeatable)")
    s.add_argument("--channel", default="EMAIL", help="ChannelType for --to addresses")
    s.add_argument("--from", dest="sender", help="From address (email) or origination number (SMS)")
    s.add_argument("--subject")
    s.add_argument("--text")
    s.add_argument("--html")
    s.add_argument("--idempotency-key")
    s.add_argument("--wait", action="store_true", help="wait for and print the MessageResponse")
    s.add_argument("--timeout", type=float, default=30.0)
    s.set_defaults(func=cmd_send)

    s = sub.add_parser("suppression", help="manage an application's email suppression list")
    s.add_argument("action", choices=["add", "remove", "list"])
    s.add_argument("app")
    s.add_argument("address", nargs="?")
    s.add_argument("--reason", default="MANUAL", choices=["BOUNCE", "COMPLAINT", "MANUAL"])
    s.add_argument("--redis", help=REDIS_HELP)
    s.set_defaults(func=cmd_suppression)

    s = sub.add_parser("sandbox", help="run a sandbox provider: the SMTP sink or the SMSC (HTTP SMS, APNs and FCM "
                                       "sandboxes: python -m gateway.sandbox.http_sms / see docs)")
    s.add_argument("kind", choices=["smtp", "smsc"])  # other flags are the sandbox's own (see main)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=2525)
    s.add_argument("--log")
    s.set_defaults(func=cmd_sandbox)

    s = sub.add_parser("demo", help="embedded Redis + sandbox providers + a worker: personalized emails, then SMS "
                                    "with delivery receipts, then push notifications with some dead tokens")
    s.add_argument("--count", type=int, default=100_000, help="emails (default 100,000)")
    s.add_argument("--sms", type=int, default=10_000, help="SMS over SMPP (default 10,000; 0 skips)")
    s.add_argument("--push", type=int, default=10_000, help="APNs notifications (default 10,000; 0 skips)")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--campaign", action="store_true", help="instead: an A/B campaign with a 10%% holdout to a segment "
                                                           "(gateway/campaigns/demo.py)")
    s.add_argument("--endpoints", type=int, default=100_000, help="the campaign's segment size (default 100,000)")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("dev", help="a whole local stack: embedded Redis, a worker, the REST API with a local access "
                                   "key and every sandbox provider (for trying Gateway and for load tests)")
    s.add_argument("--data-dir", default=".gateway-dev",
                   help="where keys, configs, logs and state.json go (default: .gateway-dev)")
    s.add_argument("--api-port", type=int, default=0, help="REST API port on 127.0.0.1 (default: a free port)")
    s.add_argument("--redis-port", type=int, default=0, help="Redis port on 127.0.0.1 (default: a free port)")
    s.add_argument("--workers", type=int, default=1, help="worker processes (the first also serves the API)")
    s.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    s.set_defaults(func=cmd_dev)

    from gateway.campaigns import cli as campaign_cli
    from gateway.journeys import cli as journey_cli
    from gateway.kpi import cli as kpi_cli
    from gateway.recommenders import cli as recommend_cli
    from gateway.segments import cli as segment_cli
    from gateway.templates import cli as template_cli
    from gateway.tracking import cli as tracking_cli

    template_cli.register(sub)  # gateway render
    segment_cli.register(sub)  # gateway segment count|sample
    campaign_cli.register(sub)  # gateway campaign list|show|pause|resume|run-now
    journey_cli.register(sub)  # gateway journey list|show
    tracking_cli.register(sub)  # gateway tracking
    recommend_cli.register(sub)  # gateway recommend
    kpi_cli.register(sub)  # gateway kpi rebuild APP
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # A sandbox takes flags of its own, handed to it; a REMAINDER argument would also swallow --port and --host.
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "sandbox":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    if args.command == "suppression" and args.action != "list" and not args.address:
        print("gateway suppression: an address is required", file=sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
