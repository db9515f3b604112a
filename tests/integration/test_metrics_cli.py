"""`gateway serve` with `[metrics] listen` and `[logging] format = "json"`: the process serves /metrics on its own
listener (scraped over HTTP, parsed) and every line it logs is a JSON object with no address in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgspec
import redis as redis_sync
from prometheus_client.parser import text_string_to_metric_families

from gateway.embedded_redis import free_port


def _request(address: str) -> bytes:
    return msgspec.json.encode({
        "Addresses": {address: {"ChannelType": "EMAIL"}},
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "shop@gw.test",
                                                  "SimpleEmail": {"Subject": {"Data": "hi"}, "TextPart": {"Data": "x"}}}},
    })


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_serve_exposes_metrics_and_logs_json_lines(tmp_path: Path, redis_server) -> None:
    r = redis_sync.Redis.from_url(redis_server.url)
    r.flushall()
    sink_port, metrics_port = free_port(), free_port()
    ready = tmp_path / "sink-ready"
    sink = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(sink_port),
                             "--ready-file", str(ready)], stdout=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():  # a child process's readiness: nothing to block on but the file
            assert time.monotonic() < deadline and sink.poll() is None, "sink did not start"
            time.sleep(0.02)
        config = tmp_path / "gateway.toml"
        config.write_text(f'redis_url = "{redis_server.url}"\nlog_level = "INFO"\n'
                          "[stream]\nblock_ms = 50\n"
                          f'[[channels]]\nkind = "smtp"\nport = {sink_port}\nconnections = 2\n'
                          f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
                          '[logging]\nformat = "json"\n')
        worker = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                                   "--consumer", "metrics-cli"], stderr=subprocess.PIPE,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert worker.stderr is not None
        lines: list[str] = []
        while not any("Prometheus metrics at" in line for line in lines):
            line = worker.stderr.readline().decode()
            assert line, f"gateway serve exited before listening: {lines}"
            lines.append(line)
        addresses = ["ada@example.com", "bounce@example.com"]
        for a in addresses:
            r.xadd("gateway:send", {"app": b"app1", "request": _request(a)})
        outcomes, last = 0, "0"
        while outcomes < len(addresses):  # XREAD BLOCK on the events stream: the outcomes are written
            for _, items in r.xread({"gateway:events": last}, block=5000, count=100) or []:
                for entry_id, fields in items:
                    last = entry_id.decode()
                    outcomes += fields[b"event_type"] != b"_email.send"
        # The dispatcher records right after the transaction that wrote those events: scrape until it has.
        for _ in range(100):
            m = _scrape(metrics_port)
            if m.get(("gateway_entries_total", ())) == len(addresses):
                break
        assert m[("gateway_outcomes_total", (("channel", "EMAIL"), ("status", "SUCCESSFUL")))] == 1
        assert m[("gateway_outcomes_total", (("channel", "EMAIL"), ("status", "PERMANENT_FAILURE")))] == 1
        assert m[("gateway_send_seconds_count", (("channel", "EMAIL"),))] == 2
        worker.terminate()
        rest = worker.communicate(timeout=60)[1].decode()
        lines += rest.splitlines()
    finally:
        for p in (worker, sink):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    records = [json.loads(line) for line in lines if line.strip()]
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
    assert any(rec["msg"].startswith("Prometheus metrics at http://127.0.0.1:") for rec in records)
    assert any(rec["logger"] == "gateway.worker" for rec in records)
    assert not any("@" in json.dumps(rec) for rec in records)
