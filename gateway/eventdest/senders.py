"""The I/O shell of each destination kind: one `send` per batch, answering which records must be tried again.

Every sender answers a batch (in stream order) with a :class:`Outcome`: the positions not accepted (retried by the
runner, only those) and why. A record a destination can never take (over its per-record size limit) is logged
with its entry id and counted as refused, not retried forever.

AWS calls use boto3 in a bounded thread pool (aiobotocore is not a dependency; boto3 is optional, the `aws`
extra): the event loop never waits on the SDK, and at most `event_destinations.aws_threads` calls run at once in
a process. Credentials come from the SDK's standard chain; with a RoleArn (and `assume_role`, the default) they
are the role's, from STS AssumeRole, renewed five minutes before they expire. The region is the ARN's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import redis.asyncio as aioredis

from gateway.channels.webhook import WebhookClient
from gateway.config import EventDestinationsConfig
from gateway.errors import GatewayError
from gateway.eventdest import targets

log = logging.getLogger(__name__)


class Item(NamedTuple):
    """One events-stream entry of the destination's application."""

    entry_id: str
    app: str
    event_type: str
    record: bytes  # the JSON record


class Outcome(NamedTuple):
    failed: list[int]  # positions in the batch to try again
    error: str | None = None  # why (the first error), for the outage log line
    refused: int = 0  # records the destination can never take (logged)


class Sender(Protocol):
    """Delivers batches to one destination."""

    dest: targets.Destination

    async def send(self, batch: Sequence[Item]) -> Outcome: ...

    async def aclose(self) -> None: ...


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:300] + "…"


class AwsSender:
    """Kinesis Data Streams (PutRecords) or Firehose (PutRecordBatch), batched to the service limits; a call's
    per-record failures (FailedRecordCount, ErrorCode) come back as failed positions."""

    def __init__(self, dest: targets.Destination, role_arn: str, cfg: EventDestinationsConfig,
                 pool: concurrent.futures.Executor, session_factory: Any = None) -> None:
        self.dest = dest
        self.role_arn = role_arn
        self.cfg = cfg
        self.pool = pool
        self._session_factory = session_factory
        self._client: Any = None
        self._expires: float | None = None

    def _new_client(self) -> Any:
        import boto3  # optional dependency: only an AWS destination needs it
        from botocore.config import Config

        session = self._session_factory() if self._session_factory else boto3.session.Session()
        kw: dict[str, Any] = {"region_name": self.dest.region, "endpoint_url": self.cfg.aws_endpoint_url}
        if self.role_arn and self.cfg.assume_role:
            creds = session.client("sts", **kw).assume_role(
                RoleArn=self.role_arn, RoleSessionName="gateway-event-stream")["Credentials"]
            kw.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"])
            self._expires = creds["Expiration"].timestamp()
        # The runner retries (only the failed records); the SDK's own retries would resend accepted ones.
        config = Config(retries={"total_max_attempts": 1}, max_pool_connections=self.cfg.aws_threads,
                        connect_timeout=self.cfg.aws_timeout_s, read_timeout=self.cfg.aws_timeout_s)
        return session.client(self.dest.kind, config=config, **kw)

    def client(self) -> Any:
        """The SDK client, (re)made when absent or when the role's credentials are about to expire."""
        if self._client is None or (self._expires is not None and time.time() > self._expires - 300):
            self._client = self._new_client()
        return self._client

    def _send_sync(self, batch: Sequence[Item]) -> Outcome:
        max_records, max_bytes, max_record = targets.LIMITS[self.dest.kind]
        kinesis = self.dest.kind == "kinesis"
        datas = [it.record if kinesis else it.record + b"\n" for it in batch]  # Firehose: newline-delimited JSON
        sizes = [len(d) + (len(it.entry_id) if kinesis else 0) for d, it in zip(datas, batch, strict=True)]
        refused = [i for i, s in enumerate(sizes) if s > max_record]
        for i in refused:
            log.error("event stream %s: record %s of %d bytes is over the %d-byte record limit; not delivered",
                      self.dest.spec, batch[i].entry_id, sizes[i], max_record)
        keep = [i for i in range(len(batch)) if sizes[i] <= max_record]
        failed: list[int] = []
        error: str | None = None
        try:
            client = self.client()
        except Exception as exc:  # credentials, STS, a bad endpoint: the whole batch waits
            return Outcome(keep, _error_text(exc), len(refused))
        for part in targets.chunks([sizes[i] for i in keep], max_records, max_bytes):
            pos = [keep[j] for j in part]
            try:
                if kinesis:
                    resp = client.put_records(StreamName=self.dest.target, Records=[
                        {"Data": datas[i], "PartitionKey": batch[i].entry_id} for i in pos])
                    results = resp.get("Records", [])
                else:
                    resp = client.put_record_batch(DeliveryStreamName=self.dest.target,
                                                   Records=[{"Data": datas[i]} for i in pos])
                    results = resp.get("RequestResponses", [])
            except Exception as exc:  # the call failed as a whole (throttled, down, no such stream)
                failed += pos
                error = error or _error_text(exc)
                continue
            bad = targets.failed_positions(results)
            if bad:
                failed += [pos[j] for j in bad]
                first = results[bad[0]]
                error = error or f"{len(bad)} of {len(pos)} records failed ({first.get('ErrorCode')}: " \
                                 f"{str(first.get('ErrorMessage', ''))[:200]})"
        return Outcome(failed, error, len(refused))

    async def send(self, batch: Sequence[Item]) -> Outcome:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._send_sync, batch)

    async def aclose(self) -> None:
        self._client = None


class WebhookSender:
    """POSTs JSON arrays of records (at most `webhook_max_bytes` each, in stream order), HMAC-signed and through
    the SSRF guard by the campaign webhooks' client. A failed POST fails it and every later record of the batch,
    so a webhook receives each consumer's records in order."""

    def __init__(self, dest: targets.Destination, client: WebhookClient, max_bytes: int) -> None:
        self.dest = dest
        self.client = client
        self.max_bytes = max_bytes

    async def send(self, batch: Sequence[Item]) -> Outcome:
        sizes = [len(it.record) + 1 for it in batch]
        for part in targets.chunks(sizes, len(batch), self.max_bytes):
            try:
                await self.client.post(self.dest.target, targets.webhook_body([batch[i].record for i in part]))
            except GatewayError as exc:
                return Outcome(list(range(part.start, len(batch))), _error_text(exc))
        return Outcome([])

    async def aclose(self) -> None:
        """The client is shared by every webhook destination of the process; its owner closes it."""


class RedisSender:
    """XADDs the entries (fields `app`, `event_type`, `record`, as on the events stream) to another stream in one
    pipelined round trip."""

    def __init__(self, dest: targets.Destination, redis: aioredis.Redis, maxlen: int | None) -> None:
        self.dest = dest
        self.redis = redis
        self.maxlen = maxlen

    async def send(self, batch: Sequence[Item]) -> Outcome:
        pipe = self.redis.pipeline(transaction=False)
        for it in batch:
            pipe.xadd(self.dest.target, {"app": it.app, "event_type": it.event_type, "record": it.record},
                      maxlen=self.maxlen, approximate=True)
        try:
            await pipe.execute()
        except Exception as exc:  # the pipeline is not atomic: a retry may repeat some (at-least-once)
            return Outcome(list(range(len(batch))), _error_text(exc))
        return Outcome([])

    async def aclose(self) -> None:
        """Nothing of its own to close."""
