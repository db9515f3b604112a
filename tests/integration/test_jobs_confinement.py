"""Import and export jobs touch only what the operator allows: local paths inside `jobs.import_dirs` /
`jobs.export_dirs` (symlinks and `..` resolved before the check), URLs through the SSRF guard with every redirect
hop checked and the body capped while it streams; and a job's Failures never quote what a source holds.

HTTP peers are aiohttp servers on 127.0.0.1 and ::1; the guard must refuse before any connection to a refused
address, which the servers' hit counters show."""

from __future__ import annotations

import asyncio
import os
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.channels import urlguard
from gateway.config import JobsConfig
from gateway.endpoints.store import EndpointStore
from gateway.errors import ConfigError
from gateway.models import EndpointBatchItem, EndpointBatchRequest, ExportJobRequest, ImportJobRequest
from gateway.segments.definition import SegmentValidationError
from gateway.segments.jobs import Jobs

APP = "app"
SECRET = "hunter2-s3cr3t"
GOOD = '{"Id": "g1", "ChannelType": "EMAIL", "Address": "g1@example.com"}\n'
LOOPBACK = ["127.0.0.1/32"]


def jobs_in(redis: aioredis.Redis, allowed: Path, **kw: Any) -> Jobs:
    return Jobs(redis, config=JobsConfig(import_dirs=[str(allowed)], export_dirs=[str(allowed)], **kw))


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    d = tmp_path / "allowed"
    d.mkdir()
    return d


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "passwd").write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n")
    return d


def environ_entries() -> list[str]:
    """Every `NAME=value` of this process's /proc/self/environ: none may ever show in a job or an error."""
    return [e.decode(errors="replace") for e in Path("/proc/self/environ").read_bytes().split(b"\0") if e]


def leaks(text: str) -> list[str]:
    return [s for s in [SECRET, "root:x:0:0", *environ_entries()] if s in text]


async def refused_import(jobs: Jobs, url: str, fmt: str = "CSV") -> str:
    with pytest.raises(SegmentValidationError) as info:
        await jobs.create_import(APP, ImportJobRequest(Format=fmt, S3Url=url, RoleArn="r"), background=False)
    return str(info.value)


# -- local sources ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{outside}/passwd",
        "file://{outside}/passwd",
        "{allowed}/../outside/passwd",
        "{allowed}/sub/../../outside/passwd",
        "file://{allowed}/../outside/passwd",
        "/etc/passwd",
        "file:///etc/passwd",
        "/proc/self/environ",
        "file:///proc/self/environ",
        "{allowed}/to-passwd.csv",  # a symlink inside the allowed directory pointing outside
        "{allowed}/to-environ.csv",
        "{allowed}/to-outside/passwd",  # through a symlinked directory
        "file://{allowed}/to-outside",
    ],
)
async def test_local_sources_outside_the_import_dirs_are_refused(
    redis: aioredis.Redis, allowed: Path, outside: Path, source: str
) -> None:
    (allowed / "sub").mkdir()
    (allowed / "to-passwd.csv").symlink_to(outside / "passwd")
    (allowed / "to-environ.csv").symlink_to("/proc/self/environ")
    (allowed / "to-outside").symlink_to(outside, target_is_directory=True)
    jobs = jobs_in(redis, allowed)
    url = source.format(allowed=allowed, outside=outside)
    for fmt in ("CSV", "JSON"):
        message = await refused_import(jobs, url, fmt)
        assert "outside the directories listed in jobs.import_dirs" in message, message
        assert leaks(message) == []
    assert (await jobs.list_imports(APP)).Item == []  # nothing was recorded, nothing ran


async def test_without_import_dirs_no_local_path_is_read(redis: aioredis.Redis, allowed: Path) -> None:
    (allowed / "e.json").write_text(GOOD)
    message = await refused_import(Jobs(redis), str(allowed / "e.json"), "JSON")
    assert "local paths are disabled" in message and "jobs.import_dirs" in message


async def test_a_directory_source_reads_only_what_resolves_inside(
    redis: aioredis.Redis, allowed: Path, outside: Path
) -> None:
    batch = allowed / "batch"
    batch.mkdir()
    (batch / "1-good.json").write_text(GOOD)
    (batch / "2-passwd.json").symlink_to(outside / "passwd")
    (batch / "3-environ.json").symlink_to("/proc/self/environ")
    job = await jobs_in(redis, allowed).create_import(
        APP, ImportJobRequest(Format="JSON", S3Url=str(batch), RoleArn="r"), background=False
    )
    assert (job.JobStatus, job.TotalPieces, job.CompletedPieces, job.FailedPieces) == ("COMPLETED", 3, 1, 2)
    failures = job.Failures or []
    assert len(failures) == 2 and all("outside the directories listed in jobs.import_dirs" in f for f in failures)
    assert leaks(repr(job)) == []


@pytest.mark.parametrize("fmt", ["CSV", "JSON"])
async def test_failures_never_quote_the_source(redis: aioredis.Redis, allowed: Path, fmt: str) -> None:
    """A file that is not an endpoint list (inside the allowed directory) fails line by line, naming lines and
    columns, never the text: an environ dump, a passwd file, JSON with secret keys and values."""
    files = {
        "environ": f"AWS_SECRET_ACCESS_KEY={SECRET}\0PATH=/usr/bin\0".encode(),
        "passwd": f"root:x:0:0:{SECRET}:/root:/bin/bash\nbin:x:1:1::/:{SECRET}\n".encode(),
        "keys.json": f'{{"{SECRET}": 1}}\n{{"ChannelType": "{SECRET}"}}\n{{"OptOut": "{SECRET}"}}\n'.encode(),
        "attrs.json": (
            f'{{"Id": "a1", "Attributes": {{"{SECRET}": ["{"v" * 101}"]}}}}\n'
            f'{{"Id": "a2", "Metrics": {{"{SECRET}": "x"}}}}\n'
            f'{{"Id": "a3", "EffectiveDate": "{SECRET}", "User": {{"UserId": "{SECRET}"}}}}\n'
        ).encode(),
        "values.csv": f"Id,Metrics.m,Location.Latitude,Attributes.{SECRET}\ne1,{SECRET},1,x\ne2,1,{SECRET},y\n".encode(),
        "binary": b"\x00\x01" + SECRET.encode() + b"\xff\xfe",
    }
    for name, data in files.items():
        (allowed / name).write_bytes(data)
    jobs = jobs_in(redis, allowed)
    for name in files:
        job = await jobs.create_import(
            APP, ImportJobRequest(Format=fmt, S3Url=str(allowed / name), RoleArn="r"), background=False
        )
        assert job.Failures, (name, job)
        assert leaks("\n".join(job.Failures)) == [], (name, job.Failures)
    csv_env = await jobs.create_import(
        APP, ImportJobRequest(Format="CSV", S3Url=str(allowed / "environ"), RoleArn="r"), background=False
    )
    assert (csv_env.Failures or [""])[0].startswith("environ line 1: ")


async def test_local_source_size_is_capped(redis: aioredis.Redis, allowed: Path) -> None:
    (allowed / "fits.json").write_text(GOOD)
    (allowed / "big.json").write_text(GOOD + " " * 1000)
    jobs = jobs_in(redis, allowed, max_import_bytes=len(GOOD))
    ok = await jobs.create_import(
        APP, ImportJobRequest(Format="JSON", S3Url=str(allowed / "fits.json"), RoleArn="r"), background=False
    )
    assert ok.JobStatus == "COMPLETED" and ok.TotalProcessed == 1
    big = await jobs.create_import(
        APP, ImportJobRequest(Format="JSON", S3Url=str(allowed / "big.json"), RoleArn="r"), background=False
    )
    assert big.JobStatus == "FAILED" and big.TotalProcessed == 0
    assert f"larger than the limit of {len(GOOD)} bytes (jobs.max_import_bytes)" in (big.Failures or [""])[0]


# -- exports ----------------------------------------------------------------------------------------------------


def tree(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.mark.parametrize(
    "target",
    ["{outside}/new", "file://{outside}/new", "{allowed}/../outside/new", "{allowed}/to-outside/new", "/", "/tmp"],
)
async def test_exports_outside_the_export_dirs_are_refused_and_create_nothing(
    redis: aioredis.Redis, allowed: Path, outside: Path, target: str
) -> None:
    (allowed / "to-outside").symlink_to(outside, target_is_directory=True)
    before = tree(outside)
    jobs = jobs_in(redis, allowed)
    with pytest.raises(SegmentValidationError, match=r"outside the directories listed in jobs\.export_dirs"):
        await jobs.create_export(
            APP, ExportJobRequest(RoleArn="r", S3UrlPrefix=target.format(allowed=allowed, outside=outside)),
            background=False,
        )
    assert tree(outside) == before and (await jobs.list_exports(APP)).Item == []
    with pytest.raises(SegmentValidationError, match="local paths are disabled"):
        await Jobs(redis).create_export(APP, ExportJobRequest(RoleArn="r", S3UrlPrefix=str(allowed)))


async def test_export_rechecks_when_it_runs(redis: aioredis.Redis, allowed: Path, outside: Path) -> None:
    """The directory becomes a symlink to outside between CreateExportJob and the job running: the job fails
    and writes nothing outside."""
    jobs = jobs_in(redis, allowed)
    created = await jobs.create_export(APP, ExportJobRequest(RoleArn="r", S3UrlPrefix=str(allowed / "later")))
    (allowed / "later").symlink_to(outside, target_is_directory=True)  # before the background job gets to run
    before = tree(outside)
    await jobs.drain()
    job = await jobs.get_export(APP, created.Id)
    assert job.JobStatus == "FAILED" and "jobs.export_dirs" in (job.Failures or [""])[0]
    assert tree(outside) == before


async def test_export_creates_directories_only_below_the_listed_one(redis: aioredis.Redis, allowed: Path) -> None:
    await EndpointStore(redis).update_endpoints_batch(APP, EndpointBatchRequest(Item=[EndpointBatchItem(Id="e1")]))
    jobs = jobs_in(redis, allowed)
    job = await jobs.create_export(
        APP, ExportJobRequest(RoleArn="r", S3UrlPrefix=(allowed / "a" / "b").as_uri()), background=False
    )
    assert job.JobStatus == "COMPLETED" and job.TotalProcessed == 1
    assert tree(allowed) == ["a", "a/b", f"a/b/{job.Id}", f"a/b/{job.Id}/part-00000.json"]


# -- http(s) sources --------------------------------------------------------------------------------------------


class Peer:
    """An aiohttp server on one loopback address that counts the requests it gets per path."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.hits: Counter[str] = Counter()
        self.routes: dict[str, Any] = {}
        self.port = 0
        self.stall = asyncio.Event()

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404)
        result = route(request)
        return await result if asyncio.iscoroutine(result) else result  # type: ignore[no-any-return]

    async def start(self) -> Peer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self.stall.set()
        await self.runner.cleanup()


@pytest.fixture
async def v4() -> AsyncIterator[Peer]:
    peer = await Peer("127.0.0.1").start()
    yield peer
    await peer.close()


@pytest.fixture
async def v6() -> AsyncIterator[Peer]:
    peer = await Peer("::1").start()  # no IPv6 loopback: the fixture fails (it never skips)
    yield peer
    await peer.close()


def redirect(location: str, status: int = 302) -> Any:
    return lambda request: web.Response(status=status, headers={"Location": location})


async def test_loopback_urls_are_refused_unless_allowlisted(redis: aioredis.Redis, allowed: Path, v4: Peer) -> None:
    v4.routes["/e.json"] = lambda request: web.Response(text=GOOD)
    url = f"{v4.base}/e.json"
    message = await refused_import(Jobs(redis, config=JobsConfig(allow_http=True)), url, "JSON")
    assert "loopback address 127.0.0.1" in message
    message = await refused_import(Jobs(redis, config=JobsConfig(allow_networks=LOOPBACK)), url, "JSON")
    assert "scheme 'http' not allowed" in message
    assert v4.hits == Counter()
    ok = await jobs_in(redis, allowed, allow_http=True, allow_networks=LOOPBACK).create_import(
        APP, ImportJobRequest(Format="JSON", S3Url=url, RoleArn="r"), background=False
    )
    assert ok.JobStatus == "COMPLETED" and v4.hits["/e.json"] == 1


async def test_every_redirect_hop_is_checked(
    redis: aioredis.Redis, allowed: Path, v4: Peer, v6: Peer
) -> None:
    """127.0.0.1 is allowlisted; a redirect from it to ::1 (loopback, not allowlisted) or to `localhost` is
    refused before anything connects there."""
    v6.routes["/e.json"] = lambda request: web.Response(text=GOOD)
    v4.routes["/e.json"] = lambda request: web.Response(text=GOOD)
    v4.routes["/to-v6"] = redirect(f"{v6.base}/e.json")
    v4.routes["/to-localhost"] = redirect(f"http://localhost:{v4.port}/e.json", 307)
    v4.routes["/to-file"] = redirect("file:///etc/passwd")
    v4.routes["/to-local"] = redirect("/e.json", 301)  # relative, same allowed host: followed
    jobs = jobs_in(redis, allowed, allow_http=True, allow_networks=LOOPBACK)
    results = {}
    for path in ("/to-v6", "/to-localhost", "/to-file", "/to-local"):
        job = await jobs.create_import(
            APP, ImportJobRequest(Format="JSON", S3Url=f"{v4.base}{path}", RoleArn="r"), background=False
        )
        results[path] = (job.JobStatus, (job.Failures or [""])[0])
    assert results["/to-v6"][0] == "FAILED" and "redirect 1 refused: URL host is a loopback address ::1" in results[
        "/to-v6"][1]
    assert results["/to-localhost"][0] == "FAILED" and "internal name" in results["/to-localhost"][1]
    assert results["/to-file"][0] == "FAILED" and "scheme 'file' not allowed" in results["/to-file"][1]
    assert results["/to-local"] == ("COMPLETED", "")
    assert v6.hits == Counter()  # the guard refused before connecting
    assert v4.hits["/e.json"] == 1  # only the allowed relative redirect reached it


async def test_redirect_hops_are_capped(redis: aioredis.Redis, allowed: Path, v4: Peer) -> None:
    v4.routes["/loop"] = redirect("/loop")
    jobs = jobs_in(redis, allowed, allow_http=True, allow_networks=LOOPBACK, max_redirects=2)
    job = await jobs.create_import(
        APP, ImportJobRequest(Format="JSON", S3Url=f"{v4.base}/loop", RoleArn="r"), background=False
    )
    assert job.JobStatus == "FAILED" and "more than 2 redirects" in (job.Failures or [""])[0]
    assert v4.hits["/loop"] == 3


async def test_http_body_size_is_capped_while_streaming(redis: aioredis.Redis, allowed: Path, v4: Peer) -> None:
    cap = 4096
    served: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # chunked: no Content-Length to refuse up front
        await resp.prepare(request)
        try:
            for _ in range(1024):  # 64 MiB, far more than the socket buffers hold
                await resp.write(b" " * 65536)
                served.append(65536)
        except ConnectionError:
            pass  # the client hung up
        return resp

    v4.routes["/exact.json"] = lambda request: web.Response(text=GOOD + " " * (cap - len(GOOD)))
    v4.routes["/declared.json"] = lambda request: web.Response(text=GOOD + " " * cap)
    v4.routes["/endless.json"] = endless
    v4.routes["/gzip.json"] = lambda request: web.Response(body=b"x", headers={"Content-Encoding": "gzip"})
    jobs = jobs_in(redis, allowed, allow_http=True, allow_networks=LOOPBACK, max_import_bytes=cap)

    async def run(path: str) -> tuple[str, str]:
        job = await jobs.create_import(
            APP, ImportJobRequest(Format="JSON", S3Url=f"{v4.base}{path}", RoleArn="r"), background=False
        )
        return job.JobStatus, (job.Failures or [""])[0]

    assert await run("/exact.json") == ("COMPLETED", "")
    status, why = await run("/declared.json")
    assert status == "FAILED" and f"exceeds the limit of {cap} bytes" in why
    status, why = await run("/endless.json")
    assert status == "FAILED" and f"body exceeds the limit of {cap} bytes" in why
    assert sum(served) < 1024 * 65536  # the download was abandoned, not read to the end
    status, why = await run("/gzip.json")
    assert status == "FAILED" and "Content-Encoding gzip is not supported" in why


async def test_a_stalled_source_times_out(redis: aioredis.Redis, allowed: Path, v4: Peer) -> None:
    async def stall(request: web.Request) -> web.Response:
        await v4.stall.wait()  # set when the peer closes
        return web.Response(text=GOOD)

    v4.routes["/stall.json"] = stall
    jobs = jobs_in(redis, allowed, allow_http=True, allow_networks=LOOPBACK, read_timeout_s=0.2)
    job = await jobs.create_import(
        APP, ImportJobRequest(Format="JSON", S3Url=f"{v4.base}/stall.json", RoleArn="r"), background=False
    )
    assert job.JobStatus == "FAILED" and "timed out" in (job.Failures or [""])[0]


class NameToLoopback(AbstractResolver):
    """DNS that answers 127.0.0.1 for every name (a public-looking name pointing inside)."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=family, proto=0, flags=0)]

    async def close(self) -> None:
        pass


async def test_a_name_resolving_to_loopback_is_refused_before_connecting(v4: Peer) -> None:
    v4.routes["/e.json"] = lambda request: web.Response(text=GOOD)
    async with urlguard.guarded_session((), connect_timeout=5, read_timeout=5, total_timeout=10,
                                        inner=NameToLoopback()) as session:
        with pytest.raises(urlguard.BlockedAddress, match=r"resolves to a loopback address 127\.0\.0\.1"):
            await urlguard.fetch(session, f"http://files.example:{v4.port}/e.json", allow_http=True, allow=(),
                                 max_bytes=1000, max_redirects=3)
    assert v4.hits == Counter()
    allow = urlguard.parse_networks(LOOPBACK)
    async with urlguard.guarded_session(allow, connect_timeout=5, read_timeout=5, total_timeout=10,
                                        inner=NameToLoopback()) as session:
        body = await urlguard.fetch(session, f"http://files.example:{v4.port}/e.json", allow_http=True,
                                    allow=allow, max_bytes=1000, max_redirects=3)
    assert body == GOOD.encode() and v4.hits["/e.json"] == 1


def test_environ_is_readable_here() -> None:
    """The environ checks above are only meaningful if this process has entries to leak."""
    assert environ_entries() and os.path.exists("/proc/self/environ")


async def test_an_unexpected_error_stops_the_job_without_its_text(
    redis: aioredis.Redis, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (allowed / "e.json").write_text(GOOD)
    jobs = jobs_in(redis, allowed)

    async def boom(*args: Any) -> Any:
        raise ValueError(f"row text {SECRET}")

    monkeypatch.setattr(jobs, "_import_rows", boom)
    created = await jobs.create_import(APP, ImportJobRequest(Format="JSON", S3Url=str(allowed / "e.json"), RoleArn="r"))
    await jobs.drain()
    job = await jobs.get_import(APP, created.Id)
    assert job.JobStatus == "FAILED" and job.Failures == ["job stopped: ValueError (see the gateway's log)"]


def test_a_bad_allow_network_is_a_config_error(redis: aioredis.Redis) -> None:
    with pytest.raises(ConfigError, match="not an IP network"):
        Jobs(redis, config=JobsConfig(allow_networks=["10.0.0.0/33"]))
