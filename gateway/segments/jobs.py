"""Import and export jobs (CreateImportJob, GetImportJob(s), GetSegmentImportJobs; CreateExportJob,
GetExportJob(s), GetSegmentExportJobs), stored as Pinpoint's ImportJobResponse / ExportJobResponse JSON.

Sources (`S3Url`): a local file, a local directory (every regular file in it, sorted: one *piece* each), a
`file://` URL, or an http(s) URL. `s3://` needs AWS credentials this gateway does not hold: such a job fails with
a message saying so. Destinations (`S3UrlPrefix`): a local directory or `file://` URL; the job writes
newline-delimited EndpointResponse JSON files there. `RoleArn` is required by Pinpoint's shape and recorded as given.

What a job may touch is the operator's call (`[jobs]`, JobsConfig): local paths only inside `import_dirs` /
`export_dirs` (gateway/segments/localfiles.py), URLs only through the SSRF guard with every redirect checked
(gateway/channels/urlguard.py), at most `max_import_bytes` per piece. Create*Job refuses what it can tell is
refused at once (BadRequestException); the job re-checks when it runs. Failures never quote what a source holds.

Keys: `gw:{app}:job:<id>` (JSON), `gw:{app}:jobs:<import|export>` (zset by creation) and
`gw:{app}:segjobs:<import|export>:<segment id>`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

import aiohttp
import msgspec
import redis.asyncio as aioredis

from gateway import keys
from gateway.channels import urlguard
from gateway.config import JobsConfig
from gateway.endpoints.rules import EndpointValidationError, check_request, now_iso
from gateway.endpoints.store import EndpointStore
from gateway.errors import GatewayError, NotFound
from gateway.models import (
    EndpointBatchItem,
    EndpointBatchRequest,
    ExportJobRequest,
    ExportJobResource,
    ExportJobResponse,
    ExportJobsResponse,
    ImportJobRequest,
    ImportJobResource,
    ImportJobResponse,
    ImportJobsResponse,
    SegmentImportResource,
)
from gateway.segments import localfiles
from gateway.segments.definition import SegmentNotFound, SegmentValidationError
from gateway.segments.importfile import Parsed, parse_csv, parse_json_lines, redact
from gateway.segments.resolver import SegmentResolver
from gateway.segments.store import SegmentStore, _page

log = logging.getLogger(__name__)

MAX_FAILURES_LISTED = 100
EXPORT_PIECE = 100_000
JobT = TypeVar("JobT", ImportJobResponse, ExportJobResponse)
_enc = msgspec.json.Encoder().encode


class JobNotFound(NotFound):
    """No such job in the application: NotFoundException."""


class SourceError(GatewayError, OSError):
    """An import piece could not be read."""


def _s(b: Any) -> str:
    return b.decode() if isinstance(b, bytes) else str(b)


def job_key(app: str, job_id: str) -> str:
    return keys.app_key(app, "job", job_id)


def jobs_key(app: str, kind: str, segment_id: str | None = None) -> str:
    return keys.app_key(app, "segjobs", kind, segment_id) if segment_id else keys.app_key(app, "jobs", kind)


class JobPolicy:
    """What jobs may touch, from `[jobs]`: the listed directories resolved, the guard's networks parsed (a bad
    CIDR is a ConfigError at start)."""

    def __init__(self, config: JobsConfig) -> None:
        self.config = config
        self.import_roots = localfiles.resolve_roots(config.import_dirs)
        self.export_roots = localfiles.resolve_roots(config.export_dirs)
        self.allow = urlguard.parse_networks(config.allow_networks)

    def check_source(self, url: str) -> None:
        """Refuse at once (PathRefused, BlockedAddress) a source the job could never read."""
        local = localfiles.local_path(url)
        if local is not None:
            localfiles.confine(local, self.import_roots, "jobs.import_dirs")
        elif urlparse(url).scheme in ("http", "https"):
            urlguard.check_url(url, allow_http=self.config.allow_http, allow=self.allow)

    def session(self) -> aiohttp.ClientSession:
        c = self.config
        return urlguard.guarded_session(
            self.allow, connect_timeout=c.connect_timeout_s, read_timeout=c.read_timeout_s,
            total_timeout=c.fetch_timeout_s,
        )


def _list_local(path: str, roots: tuple[str, ...]) -> list[str]:
    fd, is_dir = localfiles.open_source(path, roots, "jobs.import_dirs")
    try:
        return [os.path.join(path, name) for name in localfiles.list_files(fd)] if is_dir else [path]
    finally:
        os.close(fd)


async def list_pieces(url: str, policy: JobPolicy) -> list[str]:
    """The pieces (files) an S3Url names."""
    try:
        local = localfiles.local_path(url)
        if local is not None:
            return await asyncio.to_thread(_list_local, local, policy.import_roots)
    except localfiles.PathRefused as exc:
        raise SourceError(str(exc)) from None
    except OSError as exc:
        raise SourceError(f"{url}: {exc.strerror or type(exc).__name__}") from None
    scheme = urlparse(url).scheme
    if scheme in ("http", "https"):
        return [url]
    raise SourceError(f"unsupported source {scheme}:// (use a local path, file://, http:// or https://)")


async def read_piece(piece: str, session: aiohttp.ClientSession | None, policy: JobPolicy) -> str:
    """The text of one piece. Errors say what went wrong with the piece, never what it holds."""
    c = policy.config
    try:
        local = localfiles.local_path(piece)
        if local is not None:
            data = await asyncio.to_thread(
                localfiles.read_source, local, policy.import_roots, "jobs.import_dirs", c.max_import_bytes
            )
        else:
            assert session is not None
            data = await urlguard.fetch(
                session, piece, allow_http=c.allow_http, allow=policy.allow, max_bytes=c.max_import_bytes,
                max_redirects=c.max_redirects,
            )
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{piece}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except (localfiles.PathRefused, localfiles.TooLarge, urlguard.BlockedAddress, urlguard.FetchError) as exc:
        raise SourceError(f"{piece}: {exc}") from exc
    except TimeoutError as exc:
        raise SourceError(f"{piece}: timed out (jobs.*_timeout_s)") from exc
    except aiohttp.ClientError as exc:
        raise SourceError(f"{piece}: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise SourceError(f"{piece}: {exc.strerror or type(exc).__name__}") from exc


class Jobs:
    """Both job kinds for any application."""

    def __init__(
        self,
        redis: aioredis.Redis,
        endpoints: EndpointStore | None = None,
        segments: SegmentStore | None = None,
        resolver: SegmentResolver | None = None,
        *,
        clock: Callable[[], str] = now_iso,
        config: JobsConfig | None = None,
    ) -> None:
        self.redis = redis
        self.policy = JobPolicy(config or JobsConfig())
        self.endpoints = endpoints or EndpointStore(redis)
        self.segments = segments or SegmentStore(redis)
        self.resolver = resolver or SegmentResolver(redis, self.segments)
        self._clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- shared ------------------------------------------------------------------------------------------------

    async def _save(self, app: str, job: ImportJobResponse | ExportJobResponse, kind: str, seg: str | None) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(job_key(app, job.Id), _enc(job))
        pipe.zadd(jobs_key(app, kind), {job.Id: time.time()}, nx=True)
        if seg:
            pipe.zadd(jobs_key(app, kind, seg), {job.Id: time.time()}, nx=True)
        await pipe.execute()

    async def _get(self, app: str, job_id: str, typ: type[JobT]) -> JobT:
        raw = await self.redis.get(job_key(app, job_id))
        if raw is None:
            raise JobNotFound(f"job {job_id!r} not found in application {app!r}")
        job = msgspec.json.decode(raw)
        if job.get("Type") != ("IMPORT" if typ is ImportJobResponse else "EXPORT"):
            raise JobNotFound(f"job {job_id!r} is not an {typ.__name__[:6].lower()} job")
        return msgspec.convert(job, typ)

    async def _list(self, app: str, kind: str, seg: str | None, page_size: Any, token: str | None,
                    typ: type[JobT]) -> tuple[list[JobT], str | None]:
        """One page of an application's (or a segment's) jobs of `kind`, newest first, and the next page's token."""
        start, size = _page(page_size, token)
        stop = -1 if size is None else start + size
        ids = [_s(i) for i in await self.redis.zrevrange(jobs_key(app, kind, seg), start, stop)]
        more = size is not None and len(ids) > size
        ids = ids[:size] if size is not None else ids
        raws = await self.redis.mget([job_key(app, i) for i in ids]) if ids else []
        items = [msgspec.json.decode(r, type=typ) for r in raws if r is not None]
        return items, str(start + len(ids)) if more else None

    async def _guard(self, app: str, job_id: str, kind: str, seg: str | None, coro: Any) -> None:
        """Run a background job; an unexpected error marks the job FAILED with the reason instead of leaving it
        PROCESSING forever."""
        try:
            await coro
        except Exception as exc:
            # the exception may carry anything (a row, a path): the job says what kind, the log says the rest
            log.exception("%s job %s of application %s stopped", kind, job_id, app)
            job: ImportJobResponse | ExportJobResponse = await (
                self._get(app, job_id, ImportJobResponse) if kind == "import" else self._get(app, job_id, ExportJobResponse))
            failed = msgspec.structs.replace(
                job, JobStatus="FAILED", Failures=[f"job stopped: {type(exc).__name__} (see the gateway's log)"],
                CompletionDate=self._clock(),
            )
            await self._save(app, failed, kind, seg)

    async def drain(self) -> None:
        """Wait for the jobs running in the background and the index snapshots they triggered (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.resolver.drain()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- imports -----------------------------------------------------------------------------------------------

    async def create_import(self, app: str, req: ImportJobRequest, *, background: bool = True) -> ImportJobResponse:
        """CreateImportJob: record the job (CREATED) and run it in the background (or now, when not)."""
        if req.Format not in ("CSV", "JSON"):
            raise SegmentValidationError(f"Format must be CSV or JSON, not {req.Format!r}")
        if not req.S3Url:
            raise SegmentValidationError("S3Url is required")
        try:
            self.policy.check_source(req.S3Url)
        except (localfiles.PathRefused, urlguard.BlockedAddress) as exc:
            raise SegmentValidationError(f"S3Url: {exc}") from None
        if req.SegmentId:
            await self.segments.get(app, req.SegmentId)  # SegmentNotFound -> NotFoundException
        job = ImportJobResponse(
            ApplicationId=app,
            CreationDate=self._clock(),
            Definition=ImportJobResource(**msgspec.structs.asdict(req)),
            Id=uuid.uuid4().hex,
            JobStatus="CREATED",
            Type="IMPORT",
        )
        await self._save(app, job, "import", req.SegmentId)
        if background:
            self._spawn(self._guard(app, job.Id, "import", req.SegmentId, self.run_import(app, job.Id)))
            return job
        return await self.run_import(app, job.Id)

    async def get_import(self, app: str, job_id: str) -> ImportJobResponse:
        return await self._get(app, job_id, ImportJobResponse)

    async def list_imports(
        self, app: str, page_size: Any = None, token: str | None = None, segment_id: str | None = None
    ) -> ImportJobsResponse:
        """GetImportJobs, or GetSegmentImportJobs with `segment_id`; newest first."""
        items, next_token = await self._list(app, "import", segment_id, page_size, token, ImportJobResponse)
        return ImportJobsResponse(Item=items, NextToken=next_token)

    async def run_import(self, app: str, job_id: str) -> ImportJobResponse:
        """Run a CREATED import job to COMPLETED or FAILED; per-row failures go to Failures/TotalFailures."""
        job = await self.get_import(app, job_id)
        d = job.Definition
        job = msgspec.structs.replace(job, JobStatus="PROCESSING")
        await self._save(app, job, "import", d.SegmentId)
        failures: list[str] = []
        notes: list[str] = []
        total_failures = processed = completed = failed_pieces = 0
        members: list[str] = []
        channels: Counter[str] = Counter()
        size = 0
        try:
            pieces = await list_pieces(d.S3Url, self.policy)
        except SourceError as exc:
            pieces, failures = [], [str(exc)]
            total_failures = failed_pieces = 1
        session = self.policy.session() if any(p.startswith(("http:", "https:")) for p in pieces) else None
        try:
            for piece in pieces:
                try:
                    text = await read_piece(piece, session, self.policy)
                except SourceError as exc:
                    failed_pieces += 1
                    total_failures += 1
                    failures.append(str(exc))
                    continue
                size += len(text.encode())
                rows = parse_csv(text, notes) if d.Format == "CSV" else parse_json_lines(text, notes)
                name = os.path.basename(urlparse(piece).path) or piece
                ok, errs, n = await self._import_rows(app, list(rows), d.RegisterEndpoints is not False, channels)
                members.extend(ok)
                processed += n
                total_failures += len(errs)
                failures.extend(f"{name} line {line}: {redact(msg)}" for line, msg in errs)
                completed += 1
        finally:
            if session is not None:
                await session.close()
        failures = [*notes, *failures]
        status = "COMPLETED" if completed > 0 else "FAILED"
        seg_id = d.SegmentId
        if status == "COMPLETED" and d.DefineSegment:
            seg = await self.segments.create_import_version(
                app,
                d.SegmentId,
                d.SegmentName,
                SegmentImportResource(
                    ChannelCounts=dict(channels),
                    ExternalId=d.ExternalId or "",
                    Format=d.Format,
                    RoleArn=d.RoleArn,
                    S3Url=d.S3Url,
                    Size=len(set(members)),
                ),
                members,
            )
            seg_id = seg.Id
        job = msgspec.structs.replace(
            job,
            CompletedPieces=completed,
            CompletionDate=self._clock(),
            Definition=msgspec.structs.replace(d, SegmentId=seg_id),
            FailedPieces=failed_pieces,
            Failures=failures[:MAX_FAILURES_LISTED],
            JobStatus=status,
            TotalFailures=total_failures,
            TotalPieces=len(pieces),
            TotalProcessed=processed,
        )
        await self._save(app, job, "import", seg_id)
        return job

    async def _import_rows(
        self, app: str, rows: list[Parsed], register: bool, channels: Counter[str]
    ) -> tuple[list[str], list[tuple[int, str]], int]:
        """Write parsed rows 100 at a time; returns (member ids, [(line, error)], rows processed)."""
        ok: list[str] = []
        errs: list[tuple[int, str]] = []
        good: list[tuple[int, EndpointBatchItem]] = []
        for p in rows:
            if p.error is not None:
                errs.append((p.line, p.error))
            elif p.user_ids:
                found = await self.endpoints.user_endpoint_ids(app, p.user_ids)
                for n, eids in enumerate(found, 1):
                    if eids:
                        ok.extend(eids)
                    else:
                        errs.append((p.line, f"user id {n} of the line has no endpoints"))
            elif p.item is not None:
                try:
                    check_request(p.item)
                    good.append((p.line, p.item))
                except EndpointValidationError as exc:
                    errs.append((p.line, str(exc)))
        if not register:
            ids = [it.Id or "" for _, it in good]
            existing = await self.endpoints.get_many(app, ids)
            for (line, it), ep in zip(good, existing, strict=True):
                if ep is None:
                    errs.append((line, "the endpoint does not exist and RegisterEndpoints is false"))
                else:
                    ok.append(it.Id or "")
                    channels[ep.ChannelType or "UNKNOWN"] += 1
            return ok, sorted(errs), len(rows)
        for i in range(0, len(good), 100):
            chunk = good[i : i + 100]
            try:
                batch = EndpointBatchRequest(Item=[c[1] for c in chunk])
                written = await self.endpoints.update_endpoints_batch(app, batch)
                pairs = list(zip(chunk, written, strict=True))
            except EndpointValidationError:
                pairs = []
                for line, it in chunk:  # find the rows at fault, keep the rest
                    try:
                        pairs.append(((line, it), await self.endpoints.update_endpoint(app, it.Id or "", it)))
                    except EndpointValidationError as exc:
                        errs.append((line, str(exc)))
            for (_, it), ep in pairs:
                ok.append(it.Id or "")
                channels[ep.ChannelType or "UNKNOWN"] += 1
        return ok, sorted(errs), len(rows)

    # -- exports -----------------------------------------------------------------------------------------------

    async def create_export(self, app: str, req: ExportJobRequest, *, background: bool = True) -> ExportJobResponse:
        """CreateExportJob: endpoints of a segment version (or all endpoints) to newline-delimited JSON files."""
        try:
            out = localfiles.local_path(req.S3UrlPrefix)
            if out is None:
                raise SegmentValidationError("S3UrlPrefix must be a local directory or file:// URL")
            localfiles.confine(out, self.policy.export_roots, "jobs.export_dirs")
        except localfiles.PathRefused as exc:
            raise SegmentValidationError(f"S3UrlPrefix: {exc}") from None
        if req.SegmentId:
            await self.segments.get_version(app, req.SegmentId, req.SegmentVersion)
        job = ExportJobResponse(
            ApplicationId=app,
            CreationDate=self._clock(),
            Definition=ExportJobResource(**msgspec.structs.asdict(req)),
            Id=uuid.uuid4().hex,
            JobStatus="CREATED",
            Type="EXPORT",
        )
        await self._save(app, job, "export", req.SegmentId)
        if background:
            self._spawn(self._guard(app, job.Id, "export", req.SegmentId, self.run_export(app, job.Id)))
            return job
        return await self.run_export(app, job.Id)

    async def get_export(self, app: str, job_id: str) -> ExportJobResponse:
        return await self._get(app, job_id, ExportJobResponse)

    async def list_exports(
        self, app: str, page_size: Any = None, token: str | None = None, segment_id: str | None = None
    ) -> ExportJobsResponse:
        """GetExportJobs, or GetSegmentExportJobs with `segment_id`; newest first."""
        items, next_token = await self._list(app, "export", segment_id, page_size, token, ExportJobResponse)
        return ExportJobsResponse(Item=items, NextToken=next_token)

    async def run_export(self, app: str, job_id: str) -> ExportJobResponse:
        job = await self.get_export(app, job_id)
        d = job.Definition
        job = msgspec.structs.replace(job, JobStatus="PROCESSING")
        await self._save(app, job, "export", d.SegmentId)
        out_dir = localfiles.local_path(d.S3UrlPrefix)
        assert out_dir is not None
        failures: list[str] = []
        pieces = done = 0
        target: int | None = None
        try:
            if d.SegmentId:
                ids = await self.resolver.resolve(app, d.SegmentId, d.SegmentVersion)
            else:
                idx = await self.resolver.index(app)
                ids = idx.ids(self.resolver.kernel.rows(idx.alive))
            target = await asyncio.to_thread(
                localfiles.make_export_dir, out_dir, job.Id, self.policy.export_roots, "jobs.export_dirs"
            )
            for start in range(0, len(ids), EXPORT_PIECE):
                chunk = ids[start : start + EXPORT_PIECE]
                lines: list[bytes] = []
                for i in range(0, len(chunk), 1000):
                    for raw in await self.redis.mget([keys.endpoint(app, e) for e in chunk[i : i + 1000]]):
                        if raw is not None:
                            lines.append(raw if isinstance(raw, bytes) else raw.encode())
                pieces += 1
                data = b"\n".join(lines) + (b"\n" if lines else b"")
                await asyncio.to_thread(localfiles.write_new, target, f"part-{pieces - 1:05d}.json", data)
                done += len(lines)
            status = "COMPLETED"
        except localfiles.PathRefused as exc:
            failures.append(f"S3UrlPrefix: {exc}")
            status = "FAILED"
        except OSError as exc:
            failures.append(f"{d.S3UrlPrefix}: {exc.strerror or type(exc).__name__}")
            status = "FAILED"
        except SegmentNotFound as exc:
            failures.append(str(exc))
            status = "FAILED"
        finally:
            if target is not None:
                os.close(target)
        job = msgspec.structs.replace(
            job,
            CompletedPieces=pieces,
            CompletionDate=self._clock(),
            FailedPieces=0 if status == "COMPLETED" else 1,
            Failures=failures or None,
            JobStatus=status,
            TotalFailures=len(failures),
            TotalPieces=pieces + (0 if status == "COMPLETED" else 1),
            TotalProcessed=done,
        )
        await self._save(app, job, "export", d.SegmentId)
        return job
