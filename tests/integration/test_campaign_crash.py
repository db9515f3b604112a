"""Crash test of the campaign runner: `gateway serve` (a real process) killed with SIGKILL at seeded random points
while its scheduler runs an A/B campaign with a holdout, restarted each time.

Every eligible endpoint must get its treatment's message at least once and nobody else any; duplicates stay within
the in-flight window of each kill: at most one chunk enqueued twice per takeover (runner.py's doc), plus what the
killed worker's consumer had in flight. The kill points are chosen by counting the campaign's requests in the
ingest stream and the end by the delivery events (XREAD BLOCK on both), never by sleeping. MessagesPerSecond
paces the run (about 2.5 s) so the kills land inside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from gateway import models
from gateway.campaigns import runs
from gateway.campaigns.split import endpoint_cohort, plan_split
from gateway.campaigns.store import CampaignStore
from gateway.embedded_redis import EmbeddedRedis, free_port
from gateway.endpoints.store import EndpointStore
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

APP = "crashcamp"
N = 3000
CHUNK = 100  # campaigns.chunk_requests = 1: one request of 100 endpoints per chunk
INFLIGHT = 64
KILLS = 3

pytestmark = pytest.mark.slow


def message(subject: str) -> dict[str, Any]:
    return {"EmailMessage": {"FromAddress": "news@gw.test", "Title": subject, "HtmlBody": f"<p>{subject}</p>"}}


async def _setup(url: str) -> tuple[str, dict[str, str]]:
    """N endpoints, a segment of them and the campaign; its id and each eligible address's treatment letter."""
    r = aioredis.Redis.from_url(url)
    try:
        store = EndpointStore(r)
        items = [models.EndpointBatchItem(Id=f"k{i:04d}", ChannelType="EMAIL", Address=f"k{i:04d}@crash.test",
                                          Attributes={"list": ["news"]}) for i in range(N)]
        for i in range(0, N, 100):
            await store.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=items[i : i + 100]))
        segs = SegmentStore(r)
        seg = await segs.create(APP, msgspec.convert(
            {"Name": "news", "Dimensions": {"Attributes": {"list": {"Values": ["news"]}}}}, models.WriteSegmentRequest))
        camps = CampaignStore(r, segs, TemplateStore(r))
        camp = await camps.create_campaign(APP, msgspec.convert({
            "Name": "crash", "SegmentId": seg.Id, "HoldoutPercent": 10, "MessageConfiguration": message("A"),
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}, "Limits": {"MessagesPerSecond": 1000},
            "AdditionalTreatments": [{"SizePercent": 40, "TreatmentName": "B", "MessageConfiguration": message("B")}],
        }, models.WriteCampaignRequest))
        split = plan_split(camp.Id, 10, [40])
        eps = await store.get_many(APP, [it.Id or "" for it in items])
        expected = {}
        for ep in eps:
            assert ep is not None and ep.Id is not None and ep.Address is not None
            group = split.group(endpoint_cohort(ep.Id, ep.CohortId))
            if group >= 0:
                expected[ep.Address] = "AB"[group]
        return camp.Id, expected
    finally:
        await r.aclose()


class Harness:
    def __init__(self, tmp: Path, server: EmbeddedRedis) -> None:
        self.r = redis_sync.Redis.from_url(server.url)
        self.r.flushall()
        self.url = server.url
        self.log = tmp / "accepted.log"
        port = free_port()
        ready = tmp / "port"
        self.sink = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(port),
                                      "--log", str(self.log), "--ready-file", str(ready)],
                                     stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not ready.exists():  # a child process's readiness: nothing to block on but the file
            assert time.monotonic() < deadline and self.sink.poll() is None, "sink did not start"
            time.sleep(0.02)
        self.config = tmp / "gateway.toml"
        self.config.write_text(
            f'redis_url = "{server.url}"\nlog_level = "ERROR"\n'
            f"[stream]\nbatch_size = 32\nmax_inflight = {INFLIGHT}\nblock_ms = 50\n"
            "[campaigns]\npoll_ms = 50\nlease_ms = 1000\nchunk_requests = 1\n"
            f'[[channels]]\nkind = "smtp"\nport = {port}\nconnections = 8\n'
        )
        # a group that never reads keeps the worker from trimming the stream: every request stays to be checked
        self.r.xgroup_create("gateway:send", "audit", id="0", mkstream=True)
        self.worker: subprocess.Popen[bytes] | None = None
        self.requests_from, self.requests = "0", 0
        self.events_from = "0"
        self.delivered: set[str] = set()

    def start_worker(self) -> None:
        self.worker = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config),
                                        "--consumer", "crash-worker"], env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def kill_worker(self, sig: int = signal.SIGKILL) -> None:
        assert self.worker is not None
        self.worker.send_signal(sig)
        assert self.worker.wait(60) is not None

    def wait_requests(self, target: int, timeout: float = 60) -> None:
        """Block until the ingest stream holds `target` requests (repeats included)."""
        deadline = time.monotonic() + timeout
        while self.requests < target:
            assert time.monotonic() < deadline, f"only {self.requests} requests enqueued"
            assert self.worker is not None and self.worker.poll() is None, "the worker exited"
            for _, items in self.r.xread({"gateway:send": self.requests_from}, count=1000, block=1000) or []:
                self.requests_from = items[-1][0].decode()
                self.requests += len(items)

    def wait_sent(self, endpoint_ids: set[str], timeout: float = 90) -> None:
        """Block until every endpoint has its send event (the message handed to the SMTP channel)."""
        deadline = time.monotonic() + timeout
        while not endpoint_ids <= self.delivered:
            assert time.monotonic() < deadline, f"{len(endpoint_ids - self.delivered)} never sent"
            for _, items in self.r.xread({"gateway:events": self.events_from}, count=5000, block=1000) or []:
                self.events_from = items[-1][0].decode()
                for _, fields in items:
                    if fields[b"event_type"] == b"_email.send":
                        self.delivered.add(json.loads(fields[b"record"])["client"]["client_id"])

    def enqueued(self) -> tuple[Counter[str], dict[str, set[str]]]:
        """Each endpoint id's appearances in the ingest stream's requests, and the treatments it was sent in."""
        out: Counter[str] = Counter()
        treatments: dict[str, set[str]] = {}
        for _, fields in self.r.xrange("gateway:send"):
            req = msgspec.json.decode(fields[b"request"], type=models.MessageRequest)
            out.update(list(req.Endpoints or {}))
            for eid in req.Endpoints or {}:
                treatments.setdefault(eid, set()).add((req.Context or {})["treatment_id"])
        return out, treatments

    def received(self) -> Counter[str]:
        """Each address's messages accepted by the sink."""
        return Counter(self.log.read_text().split())

    def close(self) -> None:
        for p in (self.worker, self.sink):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def harness(tmp_path: Path, redis_server: EmbeddedRedis) -> Any:
    h = Harness(tmp_path, redis_server)
    yield h
    h.close()


@pytest.mark.parametrize("seed", [12, 2031])
def test_sigkill_during_a_campaign_run_loses_nobody_and_repeats_at_most_a_chunk_per_takeover(harness: Harness,
                                                                                          seed: int) -> None:
    h = harness
    h.start_worker()
    cid, expected = asyncio.run(_setup(h.url))
    chunks = -(-sum(1 for v in expected.values() if v == "A") // CHUNK) + -(-sum(
        1 for v in expected.values() if v == "B") // CHUNK)
    rng = random.Random(seed)
    # kill after the k-th request of the run (counting repeats), at random points spread over the run
    points = sorted(rng.sample(range(1, chunks - 1), KILLS))
    for point in points:
        h.wait_requests(point)
        h.kill_worker()
        h.start_worker()
    h.wait_sent({a.split("@")[0] for a in expected})
    h.kill_worker(signal.SIGTERM)  # it finishes the sends it started (the sink has them all when it exits)

    record = runs.record(h.r.hgetall(runs.run_key(APP, cid, 0)))
    assert record["state"] == runs.COMPLETED
    enqueued, treatments = h.enqueued()
    assert set(enqueued) == {a.split("@")[0] for a in expected}  # every eligible endpoint enqueued, no held-out one
    assert treatments == {a.split("@")[0]: {"0" if t == "A" else "1"} for a, t in expected.items()}
    repeats = sum(n - 1 for n in enqueued.values())
    assert repeats <= KILLS * CHUNK, repeats  # at most one chunk per takeover
    got = h.received()
    assert set(got) == set(expected)  # everyone received it, nobody else
    duplicates = sum(n - 1 for n in got.values())
    print(f"seed {seed}: kills after requests {points}; {repeats} repeated enqueues, {duplicates} duplicate emails")
    assert duplicates <= KILLS * (CHUNK + INFLIGHT), duplicates
