"""One SMPP connection (an asyncio Protocol): bind, a window of outstanding submit_sm with backpressure and
priority lanes, the session-wide throttle pause, enquire_link keep-alive and dead-link detection.

The session does not interpret submit_sm_resp statuses beyond what is session-wide (ESME_RTHROTTLED closes the
gate for the whole bind); the channel classifies them. A submit_sm written but not answered before
`response_timeout` (or when the connection drops) fails with MaybeSent: the SMSC may have accepted it, so it is
never resent blindly. A sender still waiting for a window slot when the session dies gets SessionLost: nothing
was written, so the channel may move it to another bind.

An accepted submit_sm's `on_accept` runs while the session reads its submit_sm_resp, before the next PDU of the
same read: an SMSC that writes the response and its receipt together gets the receipt matched against an id
that is already recorded. The channel can stop the session reading (backpressure while it cannot store what it
was sent); timeouts and the dead-link check do not count the time it was not reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from gateway.channels.smpp import pdu
from gateway.errors import MaybeSent

log = logging.getLogger("gateway.smpp")

#: Window lanes, highest priority first: a throttled PDU is retried before anything else, and transactional
#: messages (OTP) before promotional ones, which also may not take the last `reserve` slots of the window.
RETRY, TRANSACTIONAL, PROMOTIONAL = 0, 1, 2

class Reply:
    """Answers one deliver_sm exactly once (a later call is ignored): always answer, or the SMSC stalls its
    window and redelivers."""

    __slots__ = ("done", "seq", "session")

    def __init__(self, session: SmppSession, seq: int) -> None:
        self.session = session
        self.seq = seq
        self.done = False

    def __call__(self, status: int) -> None:
        if not self.done:
            self.done = True
            self.session._write(pdu.frame(pdu.DELIVER_SM_RESP, status, self.seq, b"" if status else b"\0"))


#: Called for each deliver_sm; must eventually call the Reply (the session does not wait for it).
DeliverHandler = Callable[[pdu.Sm, Reply], None]
#: Called with the message_id of an accepted submit_sm, synchronously, before the next PDU is read.
AcceptHook = Callable[[str], None]


class SessionLost(ConnectionError):
    """The session closed before this request was written: safe to try another bind."""


class BindRejected(ConnectionError):
    """The SMSC answered the bind with a non-zero command_status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind rejected: {pdu.status_name(status)}")
        self.status = status


class SmppSession(asyncio.Protocol):
    """A single TCP connection speaking SMPP as an ESME."""

    def __init__(
        self,
        *,
        window: int = 10,
        reserve: int = 0,
        response_timeout: float = 10.0,
        enquire_link_s: float = 15.0,
        dead_after: int = 3,
        throttle_pause_s: float = 1.0,
        throttle_pause_max_s: float = 60.0,
        on_deliver: DeliverHandler | None = None,
        name: str = "smpp",
    ) -> None:
        self.window = window
        self.reserve = min(reserve, window - 1)
        self.response_timeout = response_timeout
        self.enquire_link_s = enquire_link_s
        self.dead_after = dead_after
        self.throttle_pause_base = throttle_pause_s
        self.throttle_pause_max = throttle_pause_max_s
        self.pause_s = throttle_pause_s  # the next pause; doubles on consecutive throttles, resets on success
        self.on_deliver = on_deliver
        self.name = name
        self.bound = False
        self.inflight = 0
        self.paused_until = 0.0
        self.probing = False  # after a pause: only throttled PDUs go until the SMSC accepts one
        self.late_responses = 0
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._framer = pdu.Framer()
        self._seq = 0
        # seq -> (future, deadline, on_accept). Insertion order is deadline order (one timeout), so the sweep reads
        # the front.
        self._pending: dict[int, tuple[asyncio.Future[Any], float, AcceptHook | None]] = {}
        self._control: dict[int, asyncio.Future[Any]] = {}  # bind/unbind: timed by their caller
        self._waiters: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque(), deque())
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._last_alive = 0.0
        self._paused_at: float | None = None  # when the channel stopped us reading (backpressure)

    # ------------------------------------------------------------------------------------------- protocol events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self._last_alive = self.loop.time()
        self._timers.append(self.loop.call_later(self._sweep_every(), self._sweep))

    def connection_lost(self, exc: Exception | None) -> None:
        self.bound = False
        self._transport = None
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        pending, self._pending = self._pending, {}
        for fut, _, _ in pending.values():
            if not fut.done():
                fut.set_exception(MaybeSent("the SMPP connection closed before the response", detail="connection_lost"))
        control, self._control = self._control, {}
        for cfut in control.values():
            if not cfut.done():
                cfut.set_exception(SessionLost("the SMPP connection closed"))
        for q in self._waiters:
            while q:
                f = q.popleft()
                if not f.done():
                    f.set_exception(SessionLost("the SMPP session closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._framer.feed(data)
        except pdu.PduError as exc:
            log.error("%s: %s; closing the connection", self.name, exc)
            self.abort()
            return
        for command_id, status, seq, body in frames:
            if command_id == pdu.SUBMIT_SM_RESP:
                self._on_submit_resp(status, seq, body)
            elif command_id == pdu.DELIVER_SM:
                self._on_deliver_sm(seq, body)
            elif command_id == pdu.ENQUIRE_LINK:
                self._write(pdu.frame(pdu.ENQUIRE_LINK_RESP, 0, seq))
            elif command_id == pdu.ENQUIRE_LINK_RESP:
                self._last_alive = self.loop.time()
            elif command_id == pdu.UNBIND:
                log.warning("%s: the SMSC unbound", self.name)
                self._write(pdu.frame(pdu.UNBIND_RESP, 0, seq))
                self._flush()
                self.bound = False
                if self._transport is not None:
                    self._transport.close()
            elif command_id == pdu.GENERIC_NACK:
                if seq in self._pending:
                    self._on_submit_resp(status or pdu.ESME_RINVCMDID, seq, b"")
                else:
                    self._resolve_control(seq, (command_id, status or pdu.ESME_RINVCMDID, b""))
            elif command_id & pdu.RESP_BIT:
                self._resolve_control(seq, (command_id, status, body))
            else:
                self._write(pdu.frame(pdu.GENERIC_NACK, pdu.ESME_RINVCMDID, seq))

    # ------------------------------------------------------------------------------------------------- requests

    def _next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < 0x7FFFFFFF else 1
        return self._seq

    def _write(self, data: bytes) -> None:
        # Writes made in one loop iteration leave in one send(): at 20k PDUs/s a syscall each would dominate.
        self._out.append(data)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._out and self._transport is not None:
            self._transport.write(b"".join(self._out) if len(self._out) > 1 else self._out[0])
        self._out.clear()

    def _request(self, command_id: int, body: bytes) -> asyncio.Future[Any]:
        if self._transport is None:
            raise SessionLost("the SMPP session is closed")
        seq = self._next_seq()
        fut: asyncio.Future[Any] = self.loop.create_future()
        self._control[seq] = fut
        self._write(pdu.frame(command_id, 0, seq, body))
        return fut

    def _resolve_control(self, seq: int, value: Any) -> None:
        fut = self._control.pop(seq, None)
        if fut is None:
            self.late_responses += 1
        elif not fut.done():
            fut.set_result(value)

    async def bind(self, command_id: int, system_id: str, password: str, system_type: str = "",
                   timeout: float = 10.0) -> pdu.BindResp:
        """Send a bind and wait for its response; raise BindRejected on a non-zero status."""
        body = pdu.encode(pdu.Bind(command_id=command_id, system_id=system_id, password=password,
                                   system_type=system_type))[16:]
        _, status, raw = await asyncio.wait_for(self._request(command_id, body), timeout)
        resp = pdu.decode_body(command_id | pdu.RESP_BIT, status, 0, raw)
        assert isinstance(resp, pdu.BindResp)
        if status:
            raise BindRejected(status)
        self.bound = True
        self._last_alive = self.loop.time()
        self._timers.append(self.loop.call_later(self.enquire_link_s, self._keepalive))
        return resp

    async def unbind(self, timeout: float = 2.0) -> None:
        """Unbind politely, then close; the SMSC's answer is awaited at most `timeout` seconds."""
        if self._transport is None:
            return
        self.bound = False
        try:
            await asyncio.wait_for(self._request(pdu.UNBIND, b""), timeout)
        except (TimeoutError, MaybeSent, SessionLost):
            pass
        self.close()

    # ---------------------------------------------------------------------------------------- window and submit

    @property
    def paused(self) -> bool:
        return self.paused_until > 0.0

    @property
    def free(self) -> int:
        return self.window - self.inflight

    def _can_take(self, lane: int) -> bool:
        if self.paused_until or (self.probing and lane != RETRY):
            return False
        free = self.window - self.inflight
        return free > self.reserve if lane == PROMOTIONAL else free > 0

    async def submit(self, body: bytes, lane: int = PROMOTIONAL,
                     on_accept: AcceptHook | None = None) -> tuple[int, str]:
        """Write one submit_sm (body without header) when the window and the throttle gate allow, and return
        (command_status, message_id). Waiting for a slot is the backpressure; nothing is dropped. `on_accept`
        gets the message_id of an accepted submit_sm as soon as its response is read."""
        if self._transport is None or not self.bound:
            raise SessionLost("the SMPP session is not bound")
        waiters = self._waiters
        if (waiters[0] or (lane and waiters[1]) or (lane == 2 and waiters[2])) or not self._can_take(lane):
            fut: asyncio.Future[None] = self.loop.create_future()
            waiters[lane].append(fut)
            try:
                await fut  # the granter already counted our slot
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self._release()
                raise
        else:
            self.inflight += 1
        if self._transport is None:
            self._release()
            raise SessionLost("the SMPP session closed")
        seq = self._next_seq()
        resp: asyncio.Future[tuple[int, str]] = self.loop.create_future()
        self._pending[seq] = (resp, self.loop.time() + self.response_timeout, on_accept)
        self._write(pdu.frame(pdu.SUBMIT_SM, 0, seq, body))
        return await resp

    def _release(self) -> None:
        self.inflight -= 1
        self._wake()

    def _wake(self) -> None:
        for lane, q in enumerate(self._waiters):
            while q and self._can_take(lane):
                f = q.popleft()
                if f.done():
                    continue
                self.inflight += 1
                f.set_result(None)
            if q:
                return  # strict priority: a blocked higher lane holds back the lower ones

    def _on_submit_resp(self, status: int, seq: int, body: bytes) -> None:
        entry = self._pending.pop(seq, None)
        if entry is None:
            self.late_responses += 1  # answered after its timeout: the sender already got MaybeSent
            return
        if status == pdu.ESME_RTHROTTLED:
            self.throttle()
        else:
            if status == 0 and self.pause_s != self.throttle_pause_base and not self.paused_until:
                self.pause_s = self.throttle_pause_base
            self.probing = False  # any other answer: the SMSC takes traffic again
        try:
            message_id = pdu.decode_message_id(body)
        except pdu.PduError:
            message_id = ""
        self._release()
        on_accept = entry[2]
        if status == 0 and on_accept is not None:
            try:
                on_accept(message_id)
            except Exception:
                log.exception("%s: recording message id %r failed", self.name, message_id)
        if not entry[0].done():
            entry[0].set_result((status, message_id))

    def throttle(self) -> None:
        """ESME_RTHROTTLED: close the gate for the whole session for `pause_s`, doubling it for the next one."""
        if self.paused_until:
            return
        pause = self.pause_s
        self.pause_s = min(self.pause_s * 2, self.throttle_pause_max)
        self.paused_until = self.loop.time() + pause
        log.warning("%s: throttled by the SMSC; pausing the bind for %.2fs", self.name, pause)
        self._timers.append(self.loop.call_later(pause, self._reopen))

    def _reopen(self) -> None:
        self.paused_until = 0.0
        # The throttled PDUs go first and alone; everyone else waits for the SMSC to accept again.
        self.probing = bool(self._waiters[RETRY])
        self._wake()

    # ------------------------------------------------------------------------------------ deliver_sm and timers

    def _on_deliver_sm(self, seq: int, body: bytes) -> None:
        try:
            sm = pdu.decode_sm(pdu.DELIVER_SM, seq, body)
        except pdu.PduError as exc:
            log.warning("%s: malformed deliver_sm: %s", self.name, exc)
            self._write(pdu.frame(pdu.DELIVER_SM_RESP, exc.status, seq))
            return
        if self.on_deliver is None:
            log.warning("%s: deliver_sm on a bind without a handler; acknowledged", self.name)
            self._write(pdu.frame(pdu.DELIVER_SM_RESP, 0, seq, b"\0"))
            return
        reply = Reply(self, seq)
        try:
            self.on_deliver(sm, reply)
        except Exception:
            log.exception("%s: deliver_sm handler failed; asking the SMSC to redeliver", self.name)
            reply(pdu.ESME_RX_T_APPN)

    def _sweep_every(self) -> float:
        return min(max(self.response_timeout / 4, 0.005), 0.25)

    def pause_reading(self) -> None:
        """Stop reading from the SMSC (the channel cannot keep up storing what it is sent); idempotent."""
        if self._paused_at is None and self._transport is not None:
            self._paused_at = self.loop.time()
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read again; responses that could not be read meanwhile get that time back on their timeout."""
        if self._paused_at is None:
            return
        now = self.loop.time()
        paused_for, self._paused_at = now - self._paused_at, None
        self._pending = {seq: (fut, deadline + paused_for, hook)
                         for seq, (fut, deadline, hook) in self._pending.items()}
        self._last_alive += paused_for
        if self._transport is not None:
            self._transport.resume_reading()

    @property
    def reading(self) -> bool:
        return self._paused_at is None

    def _sweep(self) -> None:
        now = self.loop.time()
        pending = self._pending
        while pending and self._paused_at is None:  # an unread response is not a missing one
            seq = next(iter(pending))
            fut, deadline, _ = pending[seq]
            if deadline > now:
                break
            del pending[seq]
            self._release()
            if not fut.done():
                fut.set_exception(MaybeSent(f"no response within {self.response_timeout:g}s", detail="no_response"))
        if self._transport is not None:
            self._timers = [t for t in self._timers if not t.cancelled()]
            self._timers.append(self.loop.call_later(self._sweep_every(), self._sweep))

    def _keepalive(self) -> None:
        if self._transport is None:
            return
        now = self.loop.time()
        if self._paused_at is None and now - self._last_alive >= (self.dead_after - 0.5) * self.enquire_link_s:
            log.error("%s: no enquire_link_resp for %d intervals; the link is dead", self.name, self.dead_after)
            self.abort()
            return
        self._write(pdu.frame(pdu.ENQUIRE_LINK, 0, self._next_seq()))
        self._timers.append(self.loop.call_later(self.enquire_link_s, self._keepalive))

    def close(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
