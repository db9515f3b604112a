"""What the listener does with one received report: read it, find the message, decide, and write the suppression
and the event (the thin I/O shell around gateway/bounces/reports.py, correlate.py and outcome.decide_late).

Every report ends counted under one name in `counts` (hardbounce, softbounce, complaint, or the reason it was not
used: malformed, unparsed, forged, unknown-message, ...), and logged when it was not used. Only Redis being
unreachable is raised, so the listener answers 451 and the reporting MTA delivers the report again later.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import msgspec
import redis.asyncio as aioredis

from gateway import events, keys
from gateway.bounces import correlate, reports, sent
from gateway.channels import families
from gateway.config import BouncesSection, GatewayConfig, SmtpChannelConfig
from gateway.kpi.rollup import Tally
from gateway.outcome import Action, decide_late
from gateway.suppression import entry as suppression_entry

log = logging.getLogger("gateway.bounces")

#: events.message_record's `feedback` and facet name per event
_EVENT_KIND = {"_email.hardbounce": "hardbounce", "_email.softbounce": "softbounce", "_email.complaint": "complaint"}


def domains_of(cfg: GatewayConfig, environ: dict[str, str]) -> dict[str, correlate.Domain]:
    """The return-path domains of the configured SMTP channels, with their prefixes and VERP keys (channels that
    share a domain share its prefix; their keys are all tried)."""
    out: dict[str, correlate.Domain] = {}
    for ch in cfg.channels:
        if not isinstance(ch, SmtpChannelConfig) or not ch.return_path_domain:
            continue
        name = ch.return_path_domain.lower()
        key = environ.get(ch.verp_key_env, "").encode() if ch.verp_key_env else b""
        old = out.get(name)
        keys_ = (old.keys if old is not None else ()) + ((key,) if key else ())
        out[name] = correlate.Domain(old.prefix if old is not None else ch.verp_prefix, keys_)
    return out


class ReportHandler:
    """Turns received reports into events and suppressions (see the module docstring)."""

    def __init__(self, redis: aioredis.Redis, domains: dict[str, correlate.Domain], section: BouncesSection,
                 events_key: str = "gateway:events", *, rollups: bool = True, retention_days: int = 90) -> None:
        self.redis = redis
        self.domains = domains
        self.section = section
        self.writer = events.EventWriter(redis, events_key, rollups=rollups, retention_days=retention_days)
        self.counts: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gateway-reports")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def handle(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> str:
        """Process one report; returns the name it was counted under. Raises only when Redis is unreachable."""
        outcome = await self._handle(mail_from, rcpt_tos, data)
        self.counts[outcome] += 1
        return outcome

    async def _handle(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> str:
        null_sender = mail_from.strip().strip("<>") == ""
        try:
            # `email` parsing of a few MB takes tens of ms: off the loop, so other sessions go on meanwhile, in
            # the listener's own small pool (the loop's default one may be full of other work)
            report = await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(
                reports.parse, data, null_sender=null_sender, max_depth=self.section.max_mime_depth,
                max_parts=self.section.max_mime_parts))
        except reports.ReportError as exc:
            log.warning("report to %s not used: %s", rcpt_tos[:3], exc)
            return exc.reason
        found, bad = correlate.tokens(report, rcpt_tos, self.domains)
        if bad and not found:
            log.warning("report to %s: malformed VERP token", rcpt_tos[:3])
        ids = correlate.reference_ids(report, found)
        records: dict[str, sent.SentMail | None] = {}
        if ids:
            pipe = self.redis.pipeline(transaction=False)
            for mid in ids:
                pipe.get(sent.key(mid))  # one key each: cluster-safe
            for mid, raw in zip(ids, await pipe.execute(), strict=True):
                records[mid] = _decoded(raw)
        m = correlate.match(report, found, records)
        if isinstance(m, correlate.Rejected):
            if not found and bad:
                return "bad-token"
            log.warning("%s report to %s not used: %s (%s)", report.type, rcpt_tos[:3], m.reason, m.detail)
            return m.reason
        if report.type == "plain" and m.via != "verp":
            return "unparsed"  # a non-standard bounce is trusted only for the exact message its VERP address names
        entry = correlate.recipient_of(report, m)
        err = correlate.error_for(report, entry)
        if err is None:
            return "not-a-bounce" if entry is not None else "recipient-mismatch"
        o = decide_late(families.EMAIL, err)
        rec = m.sent
        now_ms = int(time.time() * 1000)
        extra: dict[str, str] = {"report_type": report.type, "correlated_by": m.via}
        if entry is not None and entry.status:
            extra["bounce_status"] = entry.status
        if report.reporting_mta:
            extra["reporting_mta"] = report.reporting_mta[:200]
        if report.feedback_type:
            extra["feedback_type"] = report.feedback_type
        tally = Tally()
        # the send's campaign/journey attributes, when it had some (Pinpoint's records carry them)
        record = events.message_record(
            event_type=o.event, app=rec.app, now_ms=now_ms, message_id=rec.message_id, request_id="",
            channel_type="EMAIL", address=rec.address, endpoint_id=rec.endpoint_id, delivery_status=o.status,
            status_code=o.code, status_message=o.message, attempt=1, trace_id=None, context=rec.attributes,
            from_address=rec.from_address, extra=extra, tally=tally)
        pipe = self.redis.pipeline(transaction=False)
        if o.action is Action.SUPPRESS:  # first, as the dispatcher does: idempotent, so a repeat harms nothing
            reason = "COMPLAINT" if o.event == families.EMAIL.complaint else "BOUNCE"
            pipe.hset(keys.suppressed(rec.app), rec.address.lower(), suppression_entry(reason, o.message))
        await self.writer.queue(pipe, [rec.app, o.event, record])
        await pipe.execute()
        await self.writer.roll(tally)
        log.info("%s for message %s of app %s (%s)", o.event, rec.message_id, rec.app, m.via)
        return _EVENT_KIND.get(o.event, o.event)


def _decoded(raw: bytes | None) -> sent.SentMail | None:
    if raw is None:
        return None
    try:
        return sent.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.error("unreadable sent-mail record %r", raw[:100])
        return None


__all__ = ["ReportHandler", "domains_of"]
