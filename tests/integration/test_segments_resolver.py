"""Segments against a real Redis: the segment store (versions, pages, sources), the resolver kept current by the
change stream across several workers, imports with bad rows (file, directory, http), exports, and the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from gateway import _fast
from gateway.config import JobsConfig
from gateway.embedded_redis import EmbeddedRedis
from gateway.endpoints.store import EndpointStore, changes_key
from gateway.models import (
    EndpointBatchItem,
    EndpointBatchRequest,
    EndpointRequest,
    EndpointResponse,
    ExportJobRequest,
    ImportJobRequest,
    WriteSegmentRequest,
)
from gateway.segments import cli, snapshot
from gateway.segments import index as index_mod
from gateway.segments.definition import SegmentNotFound, SegmentValidationError
from gateway.segments.jobs import Jobs
from gateway.segments.resolver import SegmentResolver
from gateway.segments.store import SegmentStore

APP = "app"


def local_jobs(redis: aioredis.Redis, d: Path, **kw: Any) -> Jobs:
    """Jobs allowed to read and write inside `d` (local paths are refused unless configured)."""
    return Jobs(redis, config=JobsConfig(import_dirs=[str(d)], export_dirs=[str(d)], **kw))
KERNELS = _fast.implementations("segfilter")


def write(**kw: Any) -> WriteSegmentRequest:
    return msgspec.convert(kw, WriteSegmentRequest)


COLOR_RED = write(Name="red", Dimensions={"Attributes": {"color": {"Values": ["red"]}}})


@pytest.fixture(params=KERNELS, ids=lambda k: k.__name__)
def kernel(request: pytest.FixtureRequest) -> Any:
    return request.param


async def test_segment_store_versions_and_pages(redis: aioredis.Redis) -> None:
    segs = SegmentStore(redis)
    a = await segs.create(APP, COLOR_RED)
    assert (a.Version, a.SegmentType, a.Name) == (1, "DIMENSIONAL", "red")
    b = await segs.update(APP, a.Id, write(Name="blue", Dimensions={"Attributes": {"color": {"Values": ["blue"]}}}))
    assert b.Version == 2 and b.CreationDate == a.CreationDate
    assert (await segs.get(APP, a.Id)).Name == "blue"
    assert (await segs.get_version(APP, a.Id, 1)).Name == "red"
    versions = await segs.versions(APP, a.Id)
    assert [v.Version for v in versions.Item] == [2, 1]
    for i in range(4):
        await segs.create(APP, write(Name=f"s{i}"))
    page1 = await segs.list_segments(APP, page_size="3")
    page2 = await segs.list_segments(APP, page_size="3", token=page1.NextToken)
    assert len(page1.Item) == 3 and len(page2.Item) == 2 and page2.NextToken is None
    assert {s.Name for s in page1.Item + page2.Item} == {"blue", "s0", "s1", "s2", "s3"}
    deleted = await segs.delete(APP, a.Id)
    assert deleted.Version == 2
    with pytest.raises(SegmentNotFound):
        await segs.get(APP, a.Id)
    with pytest.raises(SegmentValidationError, match="does not exist"):
        await segs.create(APP, write(SegmentGroups={"Groups": [{"SourceSegments": [{"Id": a.Id}]}]}))


async def test_source_segment_cycles_are_refused(redis: aioredis.Redis) -> None:
    segs = SegmentStore(redis)
    a = await segs.create(APP, COLOR_RED)
    b = await segs.create(APP, write(SegmentGroups={"Groups": [{"SourceSegments": [{"Id": a.Id}]}]}))
    with pytest.raises(SegmentValidationError, match="cycle"):
        await segs.update(APP, a.Id, write(SegmentGroups={"Groups": [{"SourceSegments": [{"Id": b.Id}]}]}))


async def test_resolver_follows_writes_from_other_workers(
    redis_server: EmbeddedRedis, redis: aioredis.Redis, kernel: Any
) -> None:
    eps = EndpointStore(redis)
    seg = await SegmentStore(redis).create(APP, COLOR_RED)
    await eps.update_endpoint(APP, "e1", EndpointRequest(Attributes={"color": ["red"]}))
    other = aioredis.Redis.from_url(redis_server.url)  # a second worker, its own connection and index
    try:
        w1 = SegmentResolver(redis, kernel=kernel)
        w2 = SegmentResolver(other, kernel=kernel)
        assert await w1.resolve(APP, seg.Id) == ["e1"] and await w2.count(APP, seg.Id) == 1
        batch = [EndpointBatchItem(Id=f"b{i}", Attributes={"color": ["red" if i % 2 else "blue"]}) for i in range(100)]
        await EndpointStore(other).update_endpoints_batch(APP, EndpointBatchRequest(Item=batch))
        assert await w1.count(APP, seg.Id) == 51 and await w2.count(APP, seg.Id) == 51
        await eps.update_endpoint(APP, "e1", EndpointRequest(Attributes={"color": ["green"]}))
        await eps.delete_endpoint(APP, "b1")
        assert await w2.count(APP, seg.Id) == 49
        assert set(await w1.resolve(APP, seg.Id)) == {f"b{i}" for i in range(3, 100, 2)}
        # a version pinned in the call resolves that version
        await SegmentStore(redis).update(
            APP, seg.Id, write(Dimensions={"Attributes": {"color": {"Values": ["green"]}}})
        )
        assert await w1.resolve(APP, seg.Id) == ["e1"]
        assert await w1.count(APP, seg.Id, version=1) == 49
    finally:
        await other.aclose()


async def test_index_rebuilds_when_the_change_stream_was_trimmed(redis: aioredis.Redis, kernel: Any) -> None:
    eps = EndpointStore(redis)
    seg = await SegmentStore(redis).create(APP, COLOR_RED)
    await eps.update_endpoint(APP, "e1", EndpointRequest(Attributes={"color": ["red"]}))
    res = SegmentResolver(redis, kernel=kernel)
    assert await res.count(APP, seg.Id) == 1
    first = await res.index(APP)
    await eps.update_endpoint(APP, "e2", EndpointRequest(Attributes={"color": ["red"]}))
    await redis.xtrim(changes_key(APP), maxlen=0)  # everything the index had not read is gone
    await eps.update_endpoint(APP, "e3", EndpointRequest(Attributes={"color": ["red"]}))
    assert set(await res.resolve(APP, seg.Id)) == {"e1", "e2", "e3"}
    assert await res.index(APP) is not first


async def test_sample_and_cli(
    redis_server: EmbeddedRedis, redis: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    eps = EndpointStore(redis)
    seg = await SegmentStore(redis).create(APP, COLOR_RED)
    items = [EndpointBatchItem(Id=f"e{i}", Attributes={"color": ["red"]}) for i in range(30)]
    await eps.update_endpoints_batch(APP, EndpointBatchRequest(Item=items))
    sample = await SegmentResolver(redis).sample(APP, seg.Id, 5)
    assert len(set(sample)) == 5 and set(sample) <= {f"e{i}" for i in range(30)}
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    # the CLI runs its own event loop; call its coroutine directly inside ours
    args = parser.parse_args(["segment", "count", APP, seg.Id, "--redis", redis_server.url])
    assert await cli._run(args) == 0
    args = parser.parse_args(["segment", "sample", APP, seg.Id, "-n", "3", "--redis", redis_server.url])
    assert await cli._run(args) == 0
    args = parser.parse_args(["segment", "count", APP, "nope", "--redis", redis_server.url])
    assert await cli._run(args) == 2
    out = capsys.readouterr()
    lines = out.out.split()
    assert lines[0] == "30" and len(lines) == 4 and "not found" in out.err


HEADER = "ChannelType,Address,Location.Country,Attributes.Interests,Attributes.Interests,Metrics.score,User.UserId"
CSV = (
    HEADER
    + """,EffectiveDate
EMAIL,a@example.com,US,music,travel,3,u1,2024-01-01T00:00:00Z
SMS,+15550100,CA,,,x,u2,
EMAIL,,US,,,,u3,
EMAIL,"b,c@example.com",FR,"sci, fi",,1.5,,
"""
)


async def test_csv_import_reports_bad_rows_and_defines_a_segment(redis: aioredis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "endpoints.csv"
    path.write_text(CSV)
    jobs = local_jobs(redis, tmp_path)
    job = await jobs.create_import(
        APP,
        ImportJobRequest(Format="CSV", S3Url=str(path), RoleArn="r", DefineSegment=True, SegmentName="imp"),
        background=False,
    )
    assert job.JobStatus == "COMPLETED" and job.TotalPieces == 1 and job.CompletedPieces == 1
    assert job.TotalProcessed == 4 and job.TotalFailures == 2
    failures = job.Failures or []
    assert failures[0] == "column EffectiveDate is not importable and was ignored"
    assert any("line 3" in f and "Metrics values must be numbers" in f for f in failures)
    assert any("line 4" in f and "Address and ChannelType" in f for f in failures)
    seg_id = job.Definition.SegmentId
    assert seg_id
    seg = await SegmentStore(redis).get(APP, seg_id)
    assert seg.SegmentType == "IMPORT" and seg.ImportDefinition is not None
    assert seg.ImportDefinition.ChannelCounts == {"EMAIL": 2} and seg.ImportDefinition.Size == 2
    ids = await SegmentResolver(redis).resolve(APP, seg_id)
    got = {e.Address: e for e in await EndpointStore(redis).get_many(APP, ids) if e}
    assert set(got) == {"a@example.com", "b,c@example.com"}
    a = got["a@example.com"]
    assert a.Attributes == {"Interests": ["music", "travel"]} and a.Metrics == {"score": 3.0}
    assert a.User is not None and a.User.UserId == "u1" and a.Location is not None and a.Location.Country == "US"
    assert got["b,c@example.com"].Attributes == {"Interests": ["sci, fi"]}
    # importing the same file again updates the same endpoints (stable ids) into a new version of the segment
    again = await jobs.create_import(
        APP,
        ImportJobRequest(Format="CSV", S3Url=str(path), RoleArn="r", DefineSegment=True, SegmentId=seg_id),
        background=False,
    )
    assert again.Definition.SegmentId == seg_id
    assert (await SegmentStore(redis).get(APP, seg_id)).Version == 2
    assert await EndpointStore(redis).count(APP) == 2
    listed = await jobs.list_imports(APP, segment_id=seg_id)
    assert [j.Id for j in listed.Item] == [again.Id, job.Id]
    assert (await jobs.get_import(APP, job.Id)).TotalFailures == 2


async def test_json_import_from_http_directory_and_user_ids(redis: aioredis.Redis, tmp_path: Path) -> None:
    lines = [
        {"Id": "j1", "ChannelType": "EMAIL", "Address": "j1@x", "User": {"UserId": "ju"}},
        {"Id": "j2", "ChannelType": "SMS", "Address": "+14155550100", "EndpointStatus": "INACTIVE"},
        {"Id": "j3", "Bogus": 1},
        {"Id": "j4", "Attributes": {"a": ["v" * 101]}},
    ]
    body = "\n".join(json.dumps(x) for x in lines) + "\n{not json\n"

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/missing.json":
            return web.Response(status=404)
        return web.Response(text=body)

    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        jobs = local_jobs(redis, tmp_path, allow_http=True, allow_networks=["127.0.0.1/32"])
        job = await jobs.create_import(
            APP,
            ImportJobRequest(Format="JSON", S3Url=f"http://127.0.0.1:{port}/e.json", RoleArn="r", DefineSegment=True),
            background=False,
        )
        assert job.JobStatus == "COMPLETED" and job.TotalProcessed == 5 and job.TotalFailures == 3
        fails = "\n".join(job.Failures or [])
        assert "an unknown field" in fails and "100 characters" in fails and "not valid JSON" in fails
        assert "EndpointStatus" in fails
        j2 = await EndpointStore(redis).get(APP, "j2")
        assert j2 is not None and j2.EndpointStatus == "ACTIVE"
        bad = await jobs.create_import(
            APP,
            ImportJobRequest(Format="JSON", S3Url=f"http://127.0.0.1:{port}/missing.json", RoleArn="r"),
            background=False,
        )
        assert bad.JobStatus == "FAILED" and bad.FailedPieces == 1 and "HTTP 404" in (bad.Failures or [""])[0]
    finally:
        await runner.cleanup()
    # a directory is several pieces; a user-id-only CSV selects those users' endpoints
    d = tmp_path / "dir"
    d.mkdir()
    (d / "1.csv").write_text("User.UserId\nju nobody\n")
    (d / "2.csv").write_text("User.UserId\n")
    job = await jobs.create_import(
        APP, ImportJobRequest(Format="CSV", S3Url=f"file://{d}", RoleArn="r", DefineSegment=True), background=False
    )
    assert job.TotalPieces == 2 and job.CompletedPieces == 2 and job.TotalFailures == 1
    assert await SegmentResolver(redis).resolve(APP, job.Definition.SegmentId or "") == ["j1"]


async def test_export_writes_the_segment(redis: aioredis.Redis, tmp_path: Path) -> None:
    eps = EndpointStore(redis)
    items = [EndpointBatchItem(Id=f"e{i}", Attributes={"color": ["red" if i < 7 else "blue"]}) for i in range(10)]
    await eps.update_endpoints_batch(APP, EndpointBatchRequest(Item=items))
    seg = await SegmentStore(redis).create(APP, COLOR_RED)
    jobs = local_jobs(redis, tmp_path)
    job = await jobs.create_export(
        APP, ExportJobRequest(RoleArn="r", S3UrlPrefix=str(tmp_path), SegmentId=seg.Id), background=False
    )
    assert job.JobStatus == "COMPLETED" and job.TotalProcessed == 7
    files = list((tmp_path / job.Id).iterdir())
    rows = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    assert sorted(r["Id"] for r in rows) == [f"e{i}" for i in range(7)]
    everything = await jobs.create_export(
        APP, ExportJobRequest(RoleArn="r", S3UrlPrefix=str(tmp_path)), background=False
    )
    assert everything.TotalProcessed == 10
    assert [j.Id for j in (await jobs.list_exports(APP)).Item] == [everything.Id, job.Id]
    assert [j.Id for j in (await jobs.list_exports(APP, segment_id=seg.Id)).Item] == [job.Id]
    # the exported file imports back unchanged
    back = await jobs.create_import(
        APP, ImportJobRequest(Format="JSON", S3Url=str(files[0]), RoleArn="r"), background=False
    )
    assert back.TotalFailures == 0 and back.TotalProcessed == 7


async def test_workers_start_from_the_saved_snapshot(
    redis_server: EmbeddedRedis, redis: aioredis.Redis, kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    eps = EndpointStore(redis)
    seg = await SegmentStore(redis).create(APP, COLOR_RED)
    items = [EndpointBatchItem(Id=f"e{i}", Attributes={"color": ["red" if i % 3 else "blue"]}) for i in range(60)]
    await eps.update_endpoints_batch(APP, EndpointBatchRequest(Item=items))
    first = SegmentResolver(redis, kernel=kernel)
    assert await first.count(APP, seg.Id) == 40
    await first.drain()  # the snapshot is written in the background after a cold build
    assert await redis.get(snapshot.pointer_key(APP)) is not None
    await eps.update_endpoint(APP, "e0", EndpointRequest(Attributes={"color": ["red"]}))  # after the snapshot
    await eps.delete_endpoint(APP, "e1")

    async def no_build(*a: Any, **k: Any) -> Any:
        raise AssertionError("a worker with a usable snapshot must not read every endpoint")

    monkeypatch.setattr(index_mod, "build", no_build)
    second = SegmentResolver(redis, kernel=kernel)
    assert set(await second.resolve(APP, seg.Id)) == {f"e{i}" for i in range(60) if i % 3} - {"e1"} | {"e0"}


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_snapshot_round_trip_and_layout_check(kernel: Any) -> None:
    from gateway.segments.index import from_documents

    enc = msgspec.json.Encoder().encode
    docs = [
        enc(EndpointResponse(Id=f"e{i}", Attributes={"v": [str(i % 300)]}, Metrics={"m": float(i)}))
        for i in range(1000)
    ]
    idx = from_documents(docs, kernel)
    idx.delete("e5")
    raw = snapshot.dump(idx)
    back = snapshot.restore(raw, kernel)
    assert back is not None
    assert (back.n, back.live, back.custom["v"].codes.typecode) == (1000, 999, "H")
    assert back.row_of("e999") == 999 and back.ids([0, 999]) == ["e0", "e999"]
    assert back.custom["v"].values == idx.custom["v"].values and back.metrics["m"] == idx.metrics["m"]
    assert snapshot.restore(b"garbage", kernel) is None
    other = msgspec.msgpack.decode(raw)
    other[1] = "other-layout"
    assert snapshot.restore(msgspec.msgpack.encode(other), kernel) is None


async def test_background_import_and_latest_version_sources(redis: aioredis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text('{"Id": "x1", "ChannelType": "EMAIL", "Address": "x1@x", "Attributes": {"color": ["red"]}}\n')
    jobs = local_jobs(redis, tmp_path)
    created = await jobs.create_import(APP, ImportJobRequest(Format="JSON", S3Url=str(path), RoleArn="r"))
    assert created.JobStatus == "CREATED"
    await jobs.drain()
    assert (await jobs.get_import(APP, created.Id)).JobStatus == "COMPLETED"
    missing = await jobs.create_import(APP, ImportJobRequest(Format="JSON", S3Url=str(tmp_path / "no"), RoleArn="r"))
    await jobs.drain()
    assert (await jobs.get_import(APP, missing.Id)).JobStatus == "FAILED"
    # A -> B (pinned) -> C (latest): changing C changes A's members
    segs = SegmentStore(redis)
    c = await segs.create(APP, COLOR_RED)
    b = await segs.create(APP, write(SegmentGroups={"Groups": [{"SourceSegments": [{"Id": c.Id}]}]}))
    a = await segs.create(APP, write(SegmentGroups={"Groups": [{"SourceSegments": [{"Id": b.Id, "Version": 1}]}]}))
    res = SegmentResolver(redis)
    assert await res.resolve(APP, a.Id) == ["x1"]
    await segs.update(APP, c.Id, write(Dimensions={"Attributes": {"color": {"Values": ["blue"]}}}))
    assert await res.resolve(APP, a.Id) == []
