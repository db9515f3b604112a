"""Crash tests: a worker process killed at random points during a 20,000-message run, restarted each time.

SIGKILL: every message reaches the sink at least once and duplicates stay within the in-flight window per kill.
SIGTERM: zero duplicates and zero losses (the worker drains what it started and leaves the rest pending).
The kill points are chosen by counting outcome events (XREAD BLOCK on the events stream), not by sleeping.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import pytest
import redis as redis_sync

from gateway.embedded_redis import free_port

N = 20_000
INFLIGHT = 256

pytestmark = pytest.mark.slow


def _request(i: int) -> bytes:
    return msgspec.json.encode({
        "Addresses": {f"c{i}@crash.test": {"ChannelType": "EMAIL"}},
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "a@gw.test",
                                                  "SimpleEmail": {"Subject": {"Data": f"n{i}"}, "TextPart": {"Data": "x" * 500}}}},
    })


class Harness:
    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.r = redis_sync.Redis.from_url(redis_url)
        self.r.flushall()
        self.log = tmp / "accepted.log"
        port = free_port()
        ready = tmp / "port"
        self.sink = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(port), "--log",
                                      str(self.log), "--ready-file", str(ready)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not ready.exists():  # a child process's readiness: nothing to block on but the file
            assert time.monotonic() < deadline and self.sink.poll() is None, "sink did not start"
            time.sleep(0.02)
        self.config = tmp / "gateway.toml"
        self.config.write_text(
            f'redis_url = "{redis_url}"\nlog_level = "ERROR"\nshutdown_grace_s = 30\n'
            f"[stream]\nbatch_size = 64\nmax_inflight = {INFLIGHT}\nblock_ms = 50\n"
            f'[[channels]]\nkind = "smtp"\nport = {port}\nconnections = 16\n'
        )
        self.worker: subprocess.Popen[bytes] | None = None
        self.events_from = "0"
        self.outcomes = 0

    def enqueue(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        for i in range(N):
            pipe.xadd("gateway:send", {"app": b"crash", "request": _request(i)})
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()

    def start_worker(self) -> None:
        self.worker = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config),
                                        "--consumer", "crash-worker"], env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_outcomes(self, target: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.outcomes < target:
            assert time.monotonic() < deadline, f"only {self.outcomes} outcomes"
            reply = self.r.xread({"gateway:events": self.events_from}, count=5000, block=1000)
            for _, items in reply or []:
                for entry_id, fields in items:
                    self.events_from = entry_id.decode()
                    if fields[b"event_type"] != b"_email.send":
                        self.outcomes += 1

    def stop_worker(self, sig: int) -> None:
        assert self.worker is not None
        self.worker.send_signal(sig)
        assert self.worker.wait(60) is not None

    def accepted(self) -> Counter[str]:
        return Counter(self.log.read_text().split())

    def close(self) -> None:
        for p in (self.worker, self.sink):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def harness(tmp_path, redis_server):
    h = Harness(tmp_path, redis_server.url)
    yield h
    h.close()


def _run_with_interruptions(h: Harness, sig: int, interruptions: int) -> None:
    h.enqueue()
    rng = random.Random(sig)
    points = sorted(rng.sample(range(1000, N - 1000), interruptions))
    for point in points:
        h.start_worker()
        h.wait_outcomes(point)
        h.stop_worker(sig)
    h.start_worker()
    deadline = time.monotonic() + 120
    while True:  # finished when every entry has been read and acknowledged
        info = h.r.xinfo_groups("gateway:send")[0]
        if info["pending"] == 0 and info.get("lag", 0) == 0 and h.r.xlen("gateway:send") and h.outcomes >= N - 1:
            break
        assert time.monotonic() < deadline, f"not drained: {info}"
        # the next outcome may wait for the restarted worker to boot: seconds on a busy machine
        h.wait_outcomes(min(N, h.outcomes + 1), timeout=max(1.0, deadline - time.monotonic())) \
            if h.outcomes < N else time.sleep(0.05)
    h.stop_worker(signal.SIGTERM)


def test_sigkill_at_random_points_loses_nothing_and_duplicates_stay_within_the_window(harness):
    kills = 6
    _run_with_interruptions(harness, signal.SIGKILL, kills)
    accepted = harness.accepted()
    missing = [i for i in range(N) if f"c{i}@crash.test" not in accepted]
    assert missing == []
    duplicates = sum(n - 1 for n in accepted.values())
    print(f"SIGKILL x{kills}: {duplicates} duplicates (bound {kills * INFLIGHT})")
    assert duplicates <= kills * INFLIGHT, duplicates


def test_sigterm_at_random_points_has_zero_duplicates_and_zero_losses(harness):
    _run_with_interruptions(harness, signal.SIGTERM, 6)
    accepted = harness.accepted()
    assert len(accepted) == N
    assert max(accepted.values()) == 1
