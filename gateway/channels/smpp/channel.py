"""The SMS channel over SMPP 3.4: several binds to one SMSC, each kept up by a supervisor that reconnects with
capped exponential backoff; submit_sm with GSM-7 or UCS-2 chosen per message and long messages concatenated;
command_status classified exactly once into gateway.errors; receipts and MO messages handed to hooks.

command_status policy (protocols-and-reliability.md §5):
  0x58 ESME_RTHROTTLED  pause the whole bind, then retry the same PDU first (ahead of every other sender), up to
                        `throttle_retries` times, then Throttled(retry_after = the next pause)
  0x14 ESME_RMSGQFUL    retry after a backoff, at most `queue_full_retries` times, then ProviderUnavailable
  0x08 ESME_RSYSERR     retry after a backoff, at most `system_error_retries` times, then ProviderUnavailable
  0x04 ESME_RINVBNDSTS  rebind and retry once on another bind
  0x0B / 0x50 / 0x51    RecipientRejected;  0x0A / 0x48 / 0x49 (the sender) and encoder-bug codes ContentRejected
  no submit_sm_resp     MaybeSent (UNKNOWN_FAILURE): never resubmitted blindly
  anything else         ProviderUnavailable (transient; the dispatcher's retry schedule is capped)
A multi-part message whose later part fails transiently after earlier parts were accepted is MaybeSent: resending
it would duplicate the parts already on their way.

Receipts: an accepted part's SMSC id is recorded while its submit_sm_resp is read (before a receipt behind it in
the same read); a receipt that matches nothing yet is held briefly (held.py), never matched by guessing another
base; a burst of receipts is claimed in one pipeline and its events written in one; a deliver_sm is answered
only once its event is stored, and a Redis that is busy or slow is waited for (with the binds no longer reading
once `deliver_window` receipts are waiting), never answered with an error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

import msgspec

from gateway import errors, ratelimit
from gateway._fast import load
from gateway.channels import families, sms_content
from gateway.channels.base import Delivered, Family, Outbound, Runtime
from gateway.channels.smpp import dlr, pdu
from gateway.channels.smpp.correlate import Correlator, Match
from gateway.channels.smpp.held import HeldReceipts
from gateway.channels.smpp.inbound import InboundSms, Reassembler
from gateway.channels.smpp.session import (
    PROMOTIONAL,
    RETRY,
    TRANSACTIONAL,
    BindRejected,
    Reply,
    SessionLost,
    SmppSession,
)
from gateway.channels.sms_content import SmsContent
from gateway.config import SmppChannelConfig
from gateway.metrics.core import PoolUse
from gateway.models import SMSTemplateResponse
from gateway.ratelimit import RateLimiter
from gateway.redisconn import REDIS_DOWN, next_delay
from gateway.sms.keywords import InboundMessage

log = logging.getLogger("gateway.channels.smpp")
gsm = load("gsm")

ReceiptHook = Callable[[dlr.ReceiptEvent], Awaitable[None]]
InboundHook = Callable[[InboundMessage], Awaitable[object]]
T = TypeVar("T")
#: A receipt being handled: the deliver_sm, its answer, and how many look-ups have found nothing so far.
_Pending = tuple[pdu.Sm, Reply, int]
#: Failures of our own Redis (a busy pool, a timeout, a dropped connection: redisconn.REDIS_DOWN) are waited out,
#: not reported to the SMSC: most SMSCs never redeliver a receipt answered with an error.
#: The receipt path's waits for Redis (redisconn.next_delay): short at first, a receipt burst is usually a busy pool.
_STORE_BACKOFF_BASE_S = 0.005
_STORE_BACKOFF_MAX_S = 2.0

_RECIPIENT_CODES = frozenset({pdu.ESME_RINVDSTADR, 0x50, 0x51})
_CONTENT_CODES = frozenset({0x01, 0x02, 0x03, pdu.ESME_RINVSRCADR, 0x0C, 0x33, 0x40, 0x42, 0x43, 0x48, 0x49, 0x61,
                            0x62, 0x63, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4})
_AUTH_CODES = frozenset({pdu.ESME_RBINDFAIL, pdu.ESME_RINVPASWD, pdu.ESME_RINVSYSID})


def classify(status: int) -> errors.DeliveryError:
    """The error for a final non-zero submit_sm_resp status (after the channel's own retries)."""
    name = pdu.status_name(status)
    if status in _RECIPIENT_CODES:
        return errors.RecipientRejected(f"the SMSC refused the destination ({name})", code=status, detail=name)
    if status in _CONTENT_CODES:
        return errors.ContentRejected(f"the SMSC refused the message ({name})", code=status, detail=name)
    if status == pdu.ESME_RTHROTTLED:
        return errors.Throttled(f"the SMSC is throttling ({name})", code=status, detail=name)
    return errors.ProviderUnavailable(f"the SMSC did not accept the message ({name})", code=status, detail=name)


def address(value: str, *, alnum_ok: bool) -> tuple[str, int, int]:
    """(addr, ton, npi): `+E.164` or a long number is international/ISDN, a short code network-specific/unknown,
    an alphanumeric sender id alphanumeric/unknown."""
    if value.startswith("+") or (value.isdigit() and len(value) > 8):
        digits = value.lstrip("+")
        if not digits.isdigit() or len(digits) > 20:
            raise ValueError(value)
        return digits, 1, 1
    if value.isdigit():
        return value, 3, 0
    if alnum_ok and 0 < len(value) <= 11:
        return value, 5, 0
    raise ValueError(value)


def relative_time(seconds: int) -> str:
    """SMPP relative time format YYMMDDhhmmss000R."""
    days, rem = divmod(seconds, 86400)
    years, days = divmod(days, 365)
    months, days = divmod(days, 30)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{years:02d}{months:02d}{days:02d}{h:02d}{m:02d}{s:02d}000R"


class _Link:
    """One bind slot kept up by a supervisor task: a transceiver, a transmitter or a receiver."""

    def __init__(self, channel: SmppChannel, index: int, command_id: int) -> None:
        self.channel = channel
        self.index = index
        self.command_id = command_id
        self.transmits = command_id in (pdu.BIND_TRANSCEIVER, pdu.BIND_TRANSMITTER)
        self.session: SmppSession | None = None
        self.last_error: errors.DeliveryError | None = None
        self.binds = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        ch = self.channel
        cfg = ch.cfg
        delay = cfg.reconnect_base_s
        loop = asyncio.get_running_loop()
        while not ch.closing:
            session: SmppSession | None = None
            try:
                _, opened = await asyncio.wait_for(
                    loop.create_connection(lambda: ch.new_session(self), cfg.host, cfg.port, ssl=ch.ssl),
                    cfg.connect_timeout_s,
                )
                session = opened
                await opened.bind(self.command_id, cfg.system_id, ch.password, cfg.system_type,
                                   cfg.connect_timeout_s)
            except BindRejected as exc:
                cls = errors.AuthFailed if exc.status in _AUTH_CODES else errors.ConnectError
                self.last_error = cls(f"SMPP bind refused: {pdu.status_name(exc.status)}", code=exc.status,
                                      detail=pdu.status_name(exc.status))
                log.error("%s bind %d: %s", cfg.name, self.index, exc)
            except (OSError, TimeoutError, SessionLost) as exc:
                self.last_error = errors.ConnectError(f"cannot reach the SMSC: {exc.__class__.__name__}")
                log.warning("%s bind %d: connect failed: %r", cfg.name, self.index, exc)
            else:
                if ch.closing:  # the close began while this bind came up; its cancel can be lost: asyncio.wait_for
                    opened.abort()  # (3.11) returns a result that is ready when the cancel arrives instead of raising
                    return
                self.session = opened
                self.binds += 1
                self.last_error = None
                delay = cfg.reconnect_base_s
                ch.link_up(self)
                await opened.closed
                self.session = None
                ch.link_down(self)
                if ch.closing:
                    return
                log.warning("%s bind %d: connection lost; reconnecting", cfg.name, self.index)
                continue  # a bind that was up reconnects at once; backoff applies to failed attempts
            finally:
                if session is not None and self.session is None and not session.closed.done():
                    session.abort()
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2.718281828, cfg.reconnect_cap_s)


#: The SMS family as SMPP sends it: a message handed to the SMSC is _SMS.BUFFERED until its receipt comes.
FAMILY: Family[SMSTemplateResponse, SmsContent] = dataclasses.replace(
    sms_content.FAMILY, events=msgspec.structs.replace(families.SMS, send=dlr.BUFFERED_EVENT))


class SmppChannel:
    """Pinpoint's SMS channel over SMPP. Set the hooks before :meth:`start`:

    `on_receipt(ReceiptEvent)` gets every matched receipt (`dlr.receipt_record(ev)` is its event record);
    `on_inbound(InboundMessage)` every incoming message (KeywordHandler.handle fits). A hook that raises a Redis
    connection error or timeout is called again after a backoff (the SMSC waits for its answer); one that raises
    anything else makes the SMSC redeliver later (deliver_sm_resp ESME_RX_T_APPN)."""

    channel_types: ClassVar[frozenset[str]] = frozenset({"SMS"})

    def __init__(self, cfg: SmppChannelConfig, runtime: Runtime, *, on_receipt: ReceiptHook | None = None,
                 on_inbound: InboundHook | None = None) -> None:
        self.cfg = cfg
        self.runtime = runtime
        self.on_receipt = on_receipt
        self.on_inbound = on_inbound
        self.password = os.environ.get(cfg.password_env, "") if cfg.password_env else ""
        self.ssl: ssl.SSLContext | None = None
        if cfg.tls:
            self.ssl = ssl.create_default_context()
            if not cfg.tls_verify:
                self.ssl.check_hostname = False
                self.ssl.verify_mode = ssl.CERT_NONE
        self.correlator = Correlator(runtime.redis, cfg.name, cfg.receipt_ttl_s, id_base=cfg.receipt_id_base)
        self.correlator.on_noted = self._noted
        self.held: HeldReceipts[_Pending] = HeldReceipts()
        self._held_timer: asyncio.TimerHandle | None = None
        self._backlog = 0  # receipts read and not yet answered or held
        self._reading = True
        self._pause_logged = -60.0
        self.reassembler = Reassembler()
        # Pieces of a one-part submit_sm body that do not change per message.
        self._prefixes: dict[str, bytes] = {}
        validity = pdu.cstr(relative_time(cfg.validity_period_s) if cfg.validity_period_s else "", "validity_period", 17)
        self._middle = {t: bytes((0, 0, 1 if t else 0)) + b"\0" + validity for t in (False, True)}
        self._registered = 1 if cfg.registered_delivery else 0
        self._receipts: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._receipt_task: asyncio.Task[None] | None = None
        self.closing = False
        self.links: list[_Link] = []
        for i in range(cfg.binds):
            if cfg.bind_mode == "transceiver":
                self.links.append(_Link(self, i, pdu.BIND_TRANSCEIVER))
            else:
                self.links.append(_Link(self, i, pdu.BIND_TRANSMITTER))
                self.links.append(_Link(self, i, pdu.BIND_RECEIVER))
        self._ready = asyncio.Event()
        self._refs = itertools.count(random.randrange(256))
        self._rr = 0
        self.limiter: RateLimiter | None = ratelimit.from_config(cfg.rate_limit, f"smpp:{cfg.name}", runtime.redis)
        self.stats = {"accepted": 0, "failed": 0, "throttled": 0, "receipts": 0, "unmatched_receipts": 0,
                      "malformed_receipts": 0, "inbound": 0, "storage_waits": 0, "read_pauses": 0}

    def pool_use(self) -> list[PoolUse]:
        """The transmitting binds as a pool (busy: a bind with submit_sm outstanding) and their windows' slots
        (busy: submit_sm awaiting a response), for /metrics."""
        sessions = [ln.session for ln in self.links if ln.transmits and ln.session is not None and ln.session.bound]
        return [PoolUse(pool="binds", open=len(sessions), busy=sum(1 for s in sessions if s.inflight),
                        limit=self.cfg.binds),
                PoolUse(pool="window", open=sum(s.window for s in sessions), busy=sum(s.inflight for s in sessions),
                        limit=self.cfg.binds * self.cfg.window)]

    # ------------------------------------------------------------------------------------------------ lifecycle

    def new_session(self, link: _Link) -> SmppSession:
        cfg = self.cfg
        return SmppSession(
            window=cfg.window, reserve=cfg.transactional_reserve, response_timeout=cfg.response_timeout_s,
            enquire_link_s=cfg.enquire_link_s, dead_after=cfg.dead_after_missed,
            throttle_pause_s=cfg.throttle_pause_s, throttle_pause_max_s=cfg.throttle_pause_max_s,
            on_deliver=self._on_deliver if link.command_id != pdu.BIND_TRANSMITTER else None,
            name=f"{cfg.name}#{link.index}",
        )

    async def start(self) -> None:
        """Load the receipt index and start every bind's supervisor; waits (at most connect_timeout_s) for the
        first transmitting bind, but an SMSC that is down only delays sends, it does not fail the start."""
        await self.correlator.load()
        for link in self.links:
            link.task = asyncio.get_running_loop().create_task(link.run())
        try:
            await asyncio.wait_for(self._ready.wait(), self.cfg.connect_timeout_s)
        except TimeoutError:
            log.error("%s: no SMPP bind came up within %.0fs; sends will wait for one", self.cfg.name,
                      self.cfg.connect_timeout_s)

    def link_up(self, link: _Link) -> None:
        if not self._reading and link.session is not None:
            link.session.pause_reading()  # a bind that comes up during backpressure waits like the others
        if link.transmits:
            self._ready.set()

    def link_down(self, link: _Link) -> None:
        if not any(lk.session is not None and lk.session.bound for lk in self.links if lk.transmits):
            self._ready.clear()

    async def aclose(self) -> None:
        self.closing = True
        sessions = [lk.session for lk in self.links if lk.session is not None]
        await asyncio.gather(*(s.unbind() for s in sessions), return_exceptions=True)
        for lk in self.links:
            if lk.task is not None:
                lk.task.cancel()
            if lk.session is not None and lk.session not in sessions:
                lk.session.abort()  # came up while the others unbound: its supervisor returns once it is closed
        await asyncio.gather(*(lk.task for lk in self.links if lk.task is not None), return_exceptions=True)
        if self._receipt_task is not None:
            self._receipt_task.cancel()
        if self._held_timer is not None:
            self._held_timer.cancel()
        self.held.drain()  # unanswered: the SMSC redelivers them on the next bind
        await self.correlator.durable()

    # ----------------------------------------------------------------------------------------------------- send

    def build(self, msg: Outbound[SmsContent]) -> tuple[list[bytes], str, str]:
        """The submit_sm bodies for a message, plus (destination, origination) as recorded for receipts."""
        content = msg.content
        if not isinstance(content, SmsContent):
            raise errors.ContentRejected("the SMPP channel needs SmsContent (compose_sms)", detail="content_type")
        cfg = self.cfg
        try:
            dst, dton, dnpi = address(msg.recipient.address, alnum_ok=False)
        except ValueError:
            raise errors.RecipientRejected("the destination is not a phone number", detail="invalid_destination") \
                from None
        origin = content.origination_number or content.sender_id or cfg.source_addr or ""
        try:
            src, ston, snpi = address(origin, alnum_ok=True) if origin else ("", 0, 0)
        except ValueError:
            raise errors.ContentRejected("the sender cannot be used as an SMPP source address",
                                         detail="invalid_source") from None
        coding, data = gsm.encode(content.body)
        if len(data) <= (140 if coding == gsm.UCS2 else 160) and not (
                (cfg.entity_id_tlv is not None and content.entity_id)
                or (cfg.template_id_tlv is not None and content.template_id)):
            # The common case, one part: the body is assembled from cached pieces (identical bytes to sm_body).
            prefix = self._prefixes.get(origin)
            if prefix is None:
                if len(self._prefixes) > 4096:
                    self._prefixes.clear()
                prefix = self._prefixes[origin] = (pdu.cstr(cfg.service_type, "service_type", 6)
                                                   + bytes((ston, snpi)) + pdu.cstr(src, "source_addr", 21))
            body = b"".join((
                prefix, bytes((dton, dnpi)), pdu.cstr(dst, "destination_addr", 21),
                self._middle[content.transactional],
                bytes((self._registered, 0, coding, 0, len(data))), data,
            ))
            return [body], dst, src
        tlvs: dict[int, bytes] = {}
        if cfg.entity_id_tlv is not None and content.entity_id:
            tlvs[cfg.entity_id_tlv] = content.entity_id.encode() + b"\0"
        if cfg.template_id_tlv is not None and content.template_id:
            tlvs[cfg.template_id_tlv] = content.template_id.encode() + b"\0"
        base = pdu.Sm(
            command_id=pdu.SUBMIT_SM, service_type=cfg.service_type, source_addr_ton=ston, source_addr_npi=snpi,
            source_addr=src, dest_addr_ton=dton, dest_addr_npi=dnpi, destination_addr=dst,
            priority_flag=1 if content.transactional else 0,
            validity_period=relative_time(cfg.validity_period_s) if cfg.validity_period_s else "",
            registered_delivery=1 if cfg.registered_delivery else 0, data_coding=coding,
        )
        if cfg.long_messages == "payload" and len(data) > (140 if coding == gsm.UCS2 else 160):
            sm = msgspec.structs.replace(base, tlvs={**tlvs, pdu.TLV_MESSAGE_PAYLOAD: data})
            return [pdu.sm_body(sm)], dst, src
        parts = gsm.split(data, coding)
        if len(parts) > cfg.max_parts:
            raise errors.ContentRejected(f"the message needs {len(parts)} parts; this channel allows "
                                         f"{cfg.max_parts}", detail="too_many_parts")
        if len(parts) == 1:
            return [pdu.sm_body(msgspec.structs.replace(base, short_message=parts[0], tlvs=tlvs))], dst, src
        ref = next(self._refs) & 0xFF
        total = len(parts)
        bodies = []
        for i, part in enumerate(parts, 1):
            if cfg.long_messages == "sar":
                sar = {pdu.TLV_SAR_MSG_REF_NUM: bytes((0, ref)), pdu.TLV_SAR_TOTAL_SEGMENTS: bytes((total,)),
                       pdu.TLV_SAR_SEGMENT_SEQNUM: bytes((i,))}
                sm = msgspec.structs.replace(base, short_message=part, tlvs={**tlvs, **sar})
            else:
                sm = msgspec.structs.replace(base, esm_class=pdu.ESM_UDHI, short_message=gsm.udh(ref, total, i) + part,
                                             tlvs=tlvs)
            bodies.append(pdu.sm_body(sm))
        return bodies, dst, src

    async def send(self, msg: Outbound[SmsContent]) -> Delivered:
        """Submit every part; return once all are accepted and their ids are durable for receipt matching."""
        try:
            bodies, dst, src = self.build(msg)
        except pdu.PduError as exc:
            raise errors.ContentRejected(str(exc), detail="encoding") from exc
        content: SmsContent = msg.content
        lane = TRANSACTIONAL if content.transactional else PROMOTIONAL
        if self.limiter is not None:
            await self.limiter.acquire(len(bodies))
        accepted: list[str] = []
        total = len(bodies)
        destination = "+" + dst if dst.isdigit() and len(dst) > 8 else dst
        for i, body in enumerate(bodies, 1):
            # The id is recorded as the response is read, before a receipt in the same read is looked at.
            on_accept = self._recorder(dlr.Sent(
                app=msg.app, message_id=msg.message_id, part=i, parts=total, destination=destination,
                origination=src, message_type=content.message_type)) if self.cfg.registered_delivery else None
            try:
                smsc_id = await self._submit(body, lane, on_accept)
            except errors.DeliveryError as exc:
                self.stats["failed"] += 1
                if accepted and isinstance(exc, errors.TransientError):
                    raise errors.MaybeSent(f"part {i}/{total} failed after {len(accepted)} were accepted: "
                                           f"{exc.message}", code=exc.code, detail=exc.detail) from exc
                raise
            accepted.append(smsc_id)
        if self.cfg.registered_delivery:
            await self.correlator.durable()
        self.stats["accepted"] += 1
        return Delivered(event_type=dlr.BUFFERED_EVENT, status_code=200, status_message="ESME_ROK",
                         provider_message_id=accepted[0])

    def _recorder(self, sent: dlr.Sent) -> Callable[[str], None]:
        correlator = self.correlator

        def record(smsc_id: str) -> None:
            correlator.note(smsc_id, sent)

        return record

    async def _pick(self) -> SmppSession:
        """The transmitting session with the most free window (not paused), round robin among equals; waits up
        to connect_timeout_s for one to be bound."""
        deadline = asyncio.get_running_loop().time() + self.cfg.connect_timeout_s
        while True:
            best: SmppSession | None = None
            links = self.links
            n = len(links)
            self._rr = (self._rr + 1) % n
            for k in range(n):
                s = links[(self._rr + k) % n].session
                if s is None or not s.bound or not links[(self._rr + k) % n].transmits:
                    continue
                if best is None or (best.paused and not s.paused) or (best.paused == s.paused and s.free > best.free):
                    best = s
            if best is not None:
                return best
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                errs = [lk.last_error for lk in self.links if lk.last_error is not None]
                auth = next((e for e in errs if isinstance(e, errors.AuthFailed)), None)
                if auth is not None:
                    raise errors.AuthFailed(auth.message, code=auth.code, detail=auth.detail)
                raise errors.ConnectError("no SMPP bind is up", detail=errs[0].message if errs else None)
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except TimeoutError:
                continue

    async def _submit(self, body: bytes, lane: int, on_accept: Callable[[str], None] | None = None) -> str:
        cfg = self.cfg
        throttled = queue_full = sys_err = bad_bind = 0
        while True:
            session = await self._pick()
            try:
                status, smsc_id = await session.submit(body, lane, on_accept)
            except SessionLost:
                continue  # not written: try the next bind
            if status == 0:
                return smsc_id
            if status == pdu.ESME_RTHROTTLED:
                throttled += 1
                self.stats["throttled"] += 1
                if throttled > cfg.throttle_retries:
                    raise errors.Throttled("the SMSC kept throttling", code=status, detail="ESME_RTHROTTLED",
                                           retry_after=session.pause_s)
                lane = RETRY  # the same PDU goes first once the pause ends
                continue
            if status == pdu.ESME_RMSGQFUL and queue_full < cfg.queue_full_retries:
                queue_full += 1
                await asyncio.sleep(cfg.retry_backoff_s * 2 ** (queue_full - 1))
                lane = RETRY
                continue
            if status == pdu.ESME_RSYSERR and sys_err < cfg.system_error_retries:
                sys_err += 1
                await asyncio.sleep(cfg.retry_backoff_s * 2 ** (sys_err - 1))
                lane = RETRY
                continue
            if status == pdu.ESME_RINVBNDSTS and bad_bind < 1:
                bad_bind += 1
                session.abort()  # the supervisor rebinds
                continue
            err = classify(status)
            if status in (pdu.ESME_RMSGQFUL, pdu.ESME_RSYSERR):
                err.retry_after = cfg.retry_backoff_s * 2 ** max(queue_full, sys_err)
            raise err

    # --------------------------------------------------------------------------------------- receipts and MO

    def _on_deliver(self, sm: pdu.Sm, reply: Reply) -> None:
        """One deliver_sm: receipts go to the batch loop, incoming messages to their own task. `reply` carries
        0, or ESME_RX_T_APPN (the SMSC redelivers later) when our hook failed."""
        if dlr.is_receipt(sm):
            self._enqueue(sm, reply, 0)
            return
        task = asyncio.get_running_loop().create_task(self._on_mo(sm, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_mo(self, sm: pdu.Sm, reply: Reply) -> None:
        self.stats["inbound"] += 1
        try:
            mo = self.reassembler.add(self.cfg.name, sm, time.time())
            ready = self.reassembler.expired
            self.reassembler.expired = []
            if mo is not None:
                ready.append(mo)
            for message in ready:  # a busy Redis is waited out: an MO answered with an error may never come back
                await self._stored("store an incoming message", functools.partial(self._inbound, message))
        except Exception:
            log.exception("%s: the incoming-message hook failed; asking the SMSC to redeliver", self.cfg.name)
            reply(pdu.ESME_RX_T_APPN)
        else:
            reply(0)

    async def _inbound(self, mo: InboundSms) -> None:
        cfg = self.cfg
        app = cfg.number_apps.get(mo.destination) or cfg.number_apps.get(mo.destination.lstrip("+")) \
            or cfg.inbound_app
        if app is None:
            log.error("%s: an incoming SMS to %s matches no application (number_apps / inbound_app); it is only "
                      "logged", cfg.name, mo.destination)
            return
        if self.on_inbound is None:
            log.warning("%s: an incoming SMS arrived but no on_inbound hook is set; it is only logged", cfg.name)
            return
        if not mo.complete:
            log.warning("%s: parts of a concatenated incoming SMS never arrived; delivering what did", cfg.name)
        await self.on_inbound(InboundMessage(app=app, origination_number=mo.origination,
                                             destination_number=mo.destination, body=mo.body, source="smpp"))

    # ---------------------------------------------------------------------------------------------- receipts

    def _enqueue(self, sm: pdu.Sm, reply: Reply, attempt: int) -> None:
        self._receipts.put_nowait((sm, reply, attempt))
        self._backlog += 1
        if self._backlog >= self.cfg.deliver_window and self._reading:
            self._reading = False
            self.stats["read_pauses"] += 1
            now = time.monotonic()
            if now - self._pause_logged >= 60.0:  # normal under load; say it once a minute, not per pause
                self._pause_logged = now
                log.warning("%s: %d receipts waiting to be stored; the binds stop reading until half are answered "
                            "(%d pauses so far)", self.cfg.name, self._backlog, self.stats["read_pauses"])
            for lk in self.links:
                if lk.session is not None:
                    lk.session.pause_reading()
        if self._receipt_task is None or self._receipt_task.done():
            self._receipt_task = asyncio.get_running_loop().create_task(self._receipt_loop())

    def _handled(self, n: int) -> None:
        self._backlog -= n
        if not self._reading and self._backlog <= self.cfg.deliver_window // 2:
            self._reading = True
            for lk in self.links:
                if lk.session is not None:
                    lk.session.resume_reading()

    async def _receipt_loop(self) -> None:
        """Receipts are handled in batches: one pipelined lookup, one pipelined claim, the events in one
        pipeline (the sink batches concurrent calls). Per-receipt round trips would cap receipts far below the
        submit rate, and would need a Redis connection each."""
        q = self._receipts
        while True:
            batch = [await q.get()]
            while not q.empty() and len(batch) < 512:
                batch.append(q.get_nowait())
            try:
                await self._handle_receipts(batch)
            except Exception:  # a bug, not Redis (that is waited out): answer, or the SMSC's window stalls
                log.exception("%s: receipt handling failed; asking the SMSC to redeliver", self.cfg.name)
                for _, reply, _ in batch:
                    reply(pdu.ESME_RX_T_APPN)
            finally:
                self._handled(len(batch))

    async def _stored(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis operation of the receipt path until it succeeds: while Redis is busy or slow the SMSC
        waits for its answers (and, past `deliver_window`, for us to read), it never gets an error for it."""
        delay = 0.0
        while True:
            try:
                return await op()
            except REDIS_DOWN as exc:
                self.stats["storage_waits"] += 1
                delay = next_delay(delay, _STORE_BACKOFF_BASE_S, _STORE_BACKOFF_MAX_S)
                if delay >= _STORE_BACKOFF_MAX_S / 2:
                    log.warning("%s: cannot %s yet (%r); retrying", self.cfg.name, what, exc)
                await asyncio.sleep(delay)

    async def _handle_receipts(self, batch: list[_Pending]) -> None:
        parsed: list[tuple[dlr.Receipt, _Pending]] = []
        for item in batch:
            sm, reply, attempt = item
            if attempt == 0:
                self.stats["receipts"] += 1
            try:
                parsed.append((dlr.parse_receipt(sm), item))
            except dlr.ReceiptError as exc:
                self.stats["malformed_receipts"] += 1
                log.warning("%s: unreadable delivery receipt (%s): %r", self.cfg.name, exc, sm.short_message[:200])
                reply(0)  # redelivery would not make it readable
        if not parsed:
            return
        receipts = [r for r, _ in parsed]
        found = await self._stored("look receipts up", lambda: self.correlator.lookup(receipts))
        matches: list[Match] = []
        replies: list[Reply] = []
        for (receipt, item), hit in zip(parsed, found, strict=True):
            if hit is None:
                self._unmatched(receipt, item)
            else:
                matches.append((hit[0], hit[1], receipt))
                replies.append(item[1])
        if not matches:
            return
        kinds = await self._stored("settle receipts", lambda: self.correlator.settle(matches))
        todo = [(m, reply, dlr.build_event(self.cfg.name, m[1], m[2].message_id, m[2], kind))
                for m, reply, kind in zip(matches, replies, kinds, strict=True) if kind is not None]
        for _, reply, kind in zip(matches, replies, kinds, strict=True):
            if kind is None:
                reply(0)  # a repeated receipt, or a part that does not decide the message's event
        await self._emit(todo)

    async def _emit(self, todo: list[tuple[Match, Reply, dlr.ReceiptEvent]]) -> None:
        """Write the events, then answer their deliver_sm. A hook that fails because Redis is busy is retried;
        any other failure gives the claim back and asks the SMSC to redeliver."""
        hook = self.on_receipt
        if hook is None:
            if todo:
                log.warning("%s: %d receipts matched but no on_receipt hook is set; they are only logged",
                            self.cfg.name, len(todo))
            for _, reply, _ in todo:
                reply(0)
            return
        delay = 0.0
        while todo:
            results = await asyncio.gather(*(hook(ev) for _, _, ev in todo), return_exceptions=True)
            retry: list[tuple[Match, Reply, dlr.ReceiptEvent]] = []
            failed: list[tuple[Match, Reply]] = []
            for (m, reply, ev), result in zip(todo, results, strict=True):
                if not isinstance(result, BaseException):
                    reply(0)
                elif isinstance(result, REDIS_DOWN):
                    retry.append((m, reply, ev))
                elif isinstance(result, Exception):
                    log.error("%s: the receipt hook failed (%r); the SMSC will redeliver", self.cfg.name, result)
                    failed.append((m, reply))
                else:
                    raise result
            if failed:
                await self._stored("give back receipt claims",
                                   functools.partial(self.correlator.unsettle, [m for m, _ in failed]))
                for _, reply in failed:
                    reply(pdu.ESME_RX_T_APPN)
            if retry:
                self.stats["storage_waits"] += 1
                delay = next_delay(delay, _STORE_BACKOFF_BASE_S, _STORE_BACKOFF_MAX_S)
                await asyncio.sleep(delay)
            todo = retry

    # ----------------------------------------------------------------------------- receipts that match nothing

    def _unmatched(self, receipt: dlr.Receipt, item: _Pending) -> None:
        """Hold a receipt that matches nothing yet; once its look-ups are exhausted it is unknown."""
        _, reply, attempt = item
        if self.held.exhausted(attempt):
            self._unknown(receipt.message_id, reply)
            return
        keys = dlr.receipt_candidates(receipt, self.cfg.receipt_id_base)
        loop = asyncio.get_running_loop()
        for old_sm, old_reply, _ in self.held.hold(keys, item, attempt, loop.time()):
            try:
                old_id = dlr.parse_receipt(old_sm).message_id
            except dlr.ReceiptError:
                old_id = "?"
            self._unknown(old_id, old_reply, "too many receipts held")
        self._arm_held_timer()

    def _unknown(self, smsc_id: str, reply: Reply, why: str = "nothing matched") -> None:
        self.stats["unmatched_receipts"] += 1
        log.warning("%s: a receipt for unknown SMSC message id %s (%s); acknowledged, no event", self.cfg.name,
                    smsc_id, why)
        reply(0)  # a redelivery would not match either

    def _noted(self, cid: str) -> None:
        """The correlator recorded `cid`: receipts held for it are looked up again now."""
        for (sm, reply, _attempt), attempt in self.held.release(cid):
            self._enqueue(sm, reply, attempt + 1)

    def _arm_held_timer(self) -> None:
        when = self.held.next_due()
        if when is None:
            return
        if self._held_timer is not None:
            if self._held_timer.when() <= when:
                return
            self._held_timer.cancel()
        self._held_timer = asyncio.get_running_loop().call_at(when, self._held_due)

    def _held_due(self) -> None:
        self._held_timer = None
        for (sm, reply, _attempt), attempt in self.held.due(asyncio.get_running_loop().time()):
            self._enqueue(sm, reply, attempt + 1)
        self._arm_held_timer()

    def __repr__(self) -> str:
        up = sum(1 for lk in self.links if lk.session is not None and lk.session.bound)
        return (f"<SmppChannel {self.cfg.name} {self.cfg.host}:{self.cfg.port} binds={up}/{len(self.links)} "
                f"{self.stats}>")


def create(cfg: SmppChannelConfig, runtime: Runtime) -> SmppChannel:
    """Build the channel from its config (hooks are set on the instance afterwards)."""
    return SmppChannel(cfg, runtime)
