"""HTTP/2 over the h2 library or its faster fork jh2: an adapter from their event API to :class:`BaseConnection`.

Chosen with `http2 = "h2"` or `"jh2"` (the default is :mod:`gateway.channels.http2.native`, measured fastest).
The same integration tests run on all three. h2 needs two corrections to serve a push pool, both here: its
stream counting is O(streams in flight) per stream opened, and after GOAWAY it refuses frames for the streams the
server is still answering (see :func:`_connection_class` and :class:`_DrainTolerantMachine`).
"""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import Any, Literal, cast

from gateway.channels.http2.connection import (
    RECV_WINDOW,
    BaseConnection,
    ConnectionFactory,
    PoolHooks,
    Response,
    _StreamState,
)

#: The libraries this adapter drives; they expose the same API.
Library = Literal["h2", "jh2"]

#: Closed streams are swept out of the h2 connection's table once per this many opened streams.
_SWEEP_EVERY = 256


class _Impl:
    """The classes of one HTTP/2 implementation (h2 or jh2 expose the same API)."""

    def __init__(self, name: Library) -> None:
        self.name = name
        self.connection: ModuleType = importlib.import_module(f"{name}.connection")
        self.config: ModuleType = importlib.import_module(f"{name}.config")
        self.events: ModuleType = importlib.import_module(f"{name}.events")
        self.errors: ModuleType = importlib.import_module(f"{name}.errors")
        self.exceptions: ModuleType = importlib.import_module(f"{name}.exceptions")
        self.settings: ModuleType = importlib.import_module(f"{name}.settings")
        self.H2Connection = _connection_class(self.connection, self.errors.ErrorCodes.STREAM_CLOSED)


def _connection_class(module: ModuleType, stream_closed: int) -> type[Any]:
    """h2's (or jh2's) H2Connection with two changes.

    Counting: h2 counts open streams by walking every stream each time one is opened, so opening a stream costs
    O(streams in flight): at 1000 in flight that walk is most of the client's CPU. The pool already counts its
    streams (it never exceeds the server's limit), so this subclass answers from that count, and the caller
    sweeps closed streams out of h2's table every `_SWEEP_EVERY` opens, which the walk used to do.

    Stream errors stay stream errors: h2 turns a frame on a stream that already ended (HEADERS after its
    END_STREAM) into a connection error, discarding the other events of the same read and, with them, answers
    to other requests; the connection would then be closed with every stream in flight on it. The stream is
    finished for us either way, so it is reset (STREAM_CLOSED) and the connection carries on."""
    base: type[Any] = module.H2Connection
    stream_closed_error: type[Exception] = module.StreamClosedError
    rst_frame: type[Any] = module.RstStreamFrame

    class ClientH2Connection(base):  # type: ignore[misc]
        gw_open = 0

        @property
        def open_outbound_streams(self) -> int:
            return self.gw_open

        def gw_sweep(self) -> None:
            base.open_outbound_streams.fget(self)  # the original walk: drops closed streams

        def _receive_frame(self, frame: Any) -> list[Any]:
            try:
                events: list[Any] = super()._receive_frame(frame)
            except stream_closed_error as exc:
                rst = rst_frame(exc.stream_id)  # type: ignore[attr-defined]
                rst.error_code = stream_closed
                self._prepare_for_sending([rst])
                return list(exc._events)  # type: ignore[attr-defined]
            return events

    return ClientH2Connection


_IMPLS: dict[str, _Impl] = {}


def load_impl(name: Library) -> _Impl:
    """The h2 or jh2 implementation, imported once."""
    impl = _IMPLS.get(name)
    if impl is None:
        impl = _IMPLS[name] = _Impl(name)
    return impl


class _DrainTolerantMachine:
    """Wraps h2's connection state machine so frames for streams below GOAWAY's last_stream_id are still
    accepted after GOAWAY (h2 alone raises ProtocolError for them, losing answers the server did send)."""

    __slots__ = ("_recv_goaway", "_send_headers", "goaway", "inner")

    def __init__(self, inner: Any, inputs: Any) -> None:
        self.inner = inner
        self.goaway = False
        self._recv_goaway = inputs.RECV_GOAWAY
        self._send_headers = inputs.SEND_HEADERS

    @property
    def state(self) -> Any:
        return self.inner.state

    def process_input(self, input_: Any) -> list[Any]:
        if self.goaway:
            if input_ is self._send_headers:
                raise RuntimeError("no new streams on a connection that received GOAWAY")
            return []
        if input_ is self._recv_goaway:
            self.goaway = True
        result: list[Any] = self.inner.process_input(input_)
        return result


class _Stream(_StreamState):
    __slots__ = ("pending",)

    def __init__(self, future: asyncio.Future[Response], deadline: float) -> None:
        self.future = future
        self.status = 0
        self.headers = []
        self.body = []
        self.deadline = deadline
        self.pending: memoryview | None = None  # request body bytes waiting for flow-control window


class H2AdapterConnection(BaseConnection[_Stream]):
    """One HTTP/2 connection over h2 or jh2 (`impl`, from :func:`load_impl`). Made by the pool's connection
    factory; not used directly."""

    def __init__(self, pool: PoolHooks, impl: _Impl) -> None:
        super().__init__(pool)
        cfg = impl.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        self.h2 = impl.H2Connection(config=cfg)
        self._opened = 0
        self.h2.state_machine = self._machine = _DrainTolerantMachine(
            self.h2.state_machine, impl.connection.ConnectionInputs
        )
        self._handlers = {
            impl.events.ResponseReceived: self._on_response,
            impl.events.DataReceived: self._on_data,
            impl.events.StreamEnded: self._on_ended,
            impl.events.StreamReset: self._on_reset,
            impl.events.ConnectionTerminated: self._on_goaway,
            impl.events.RemoteSettingsChanged: self._on_settings,
            impl.events.WindowUpdated: self._on_window,
            impl.events.PingAckReceived: self._on_ping_ack,
            impl.events.TrailersReceived: self._on_trailers,
        }
        self._max_streams_code = impl.settings.SettingCodes.MAX_CONCURRENT_STREAMS
        self._window_code = impl.settings.SettingCodes.INITIAL_WINDOW_SIZE
        self._push_code = impl.settings.SettingCodes.ENABLE_PUSH
        self._cancel_code = impl.errors.ErrorCodes.CANCEL
        self._stream_closed_error: type[Exception] = impl.exceptions.StreamClosedError

    # -- asyncio.Protocol -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = t = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        h2 = self.h2
        h2.initiate_connection()
        # Advertise our stream window in a SETTINGS frame: h2 applies a value assigned to local_settings only
        # when the server acknowledges it, and sends the old one, so the server stayed at 65535 per stream while
        # h2 believed 16 MiB and never opened the window again (a response over 64 KiB stalled). h2 applies
        # this change on the server's ACK too, which arrives before any DATA sent under the new window.
        h2.update_settings({self._window_code: RECV_WINDOW, self._push_code: 0})
        h2.increment_flow_control_window(RECV_WINDOW)  # the connection window is not a setting
        t.write(self.h2.data_to_send())
        self._started()

    def data_received(self, data: bytes) -> None:
        self._last_recv = self.loop.time()
        try:
            events = self.h2.receive_data(data)
        except Exception as exc:  # a protocol violation by the server: nothing on this connection is trustworthy
            self._abort(f"HTTP/2 protocol error: {type(exc).__name__}")
            return
        handlers = self._handlers
        for ev in events:
            h = handlers.get(type(ev))
            if h is not None:
                h(ev)
        self._schedule_flush()

    # -- requests ---------------------------------------------------------------------------------------------

    def start_request(
        self, headers: list[tuple[bytes, bytes]], body: bytes, timeout: float
    ) -> asyncio.Future[Response]:
        """Open a stream and queue its frames; the caller has checked `free > 0`."""
        h2 = self.h2
        sid: int = h2.get_next_available_stream_id()
        fut: asyncio.Future[Response] = self.loop.create_future()
        st = _Stream(fut, self.loop.time() + timeout)
        self.streams[sid] = st
        h2.gw_open = len(self.streams) - 1  # h2 adds one for the stream being opened
        self._opened += 1
        if self._opened % _SWEEP_EVERY == 0:
            h2.gw_sweep()
        if body:
            h2.send_headers(sid, headers)
            self._send_body(sid, st, memoryview(body))
        else:
            h2.send_headers(sid, headers, end_stream=True)
        self._schedule_flush()
        return fut

    def _send_body(self, sid: int, st: _Stream, view: memoryview) -> None:
        h2 = self.h2
        try:
            window = h2.local_flow_control_window(sid)
            frame = h2.max_outbound_frame_size
            while view:
                n = min(len(view), window, frame)
                if n <= 0:
                    st.pending = view
                    return
                last = n == len(view)
                h2.send_data(sid, view[:n].tobytes(), end_stream=last)
                view = view[n:]
                window -= n
        except self._stream_closed_error:
            # The server closed this stream in the read that also opened its window (a RST_STREAM after the
            # WINDOW_UPDATE): its own event, later in the same batch, settles the request. The rest of the body
            # is moot, and the error must not escape into data_received, which would close the connection.
            pass
        st.pending = None

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.closed:
            self.transport.write(data)

    def _remote_max_streams(self) -> int:
        return int(self.h2.remote_settings.max_concurrent_streams)

    def _cancel_stream(self, sid: int) -> None:
        try:
            self.h2.reset_stream(sid, self._cancel_code)
        except Exception:
            pass

    def _send_ping(self) -> None:
        self.h2.ping(b"gwhealth")

    def _send_goaway(self) -> None:
        try:
            self.h2.close_connection()
            self._flush()
        except Exception:
            pass

    # -- events -----------------------------------------------------------------------------------------------

    def _on_response(self, ev: Any) -> None:
        st = self.streams.get(ev.stream_id)
        if st is None:
            return
        status = 0
        hdrs = st.headers
        for k, v in ev.headers:
            if k == b":status":
                status = int(v)
            else:
                hdrs.append((k, v))
        st.status = status

    def _on_trailers(self, ev: Any) -> None:
        st = self.streams.get(ev.stream_id)
        if st is not None:
            st.headers.extend(ev.headers)

    def _on_data(self, ev: Any) -> None:
        if ev.flow_controlled_length:
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        st = self.streams.get(ev.stream_id)
        if st is not None:
            st.body.append(ev.data)

    def _on_ended(self, ev: Any) -> None:
        self._finish(ev.stream_id)

    def _on_reset(self, ev: Any) -> None:
        self._reset(ev.stream_id, int(ev.error_code))

    def _on_goaway(self, ev: Any) -> None:
        self._goaway(ev.last_stream_id if ev.last_stream_id is not None else 0, ev.additional_data)

    def _on_settings(self, ev: Any) -> None:
        if self._max_streams_code in ev.changed_settings:
            self._update_limit()

    def _on_window(self, ev: Any) -> None:
        for sid, st in list(self.streams.items()):
            if st.pending is not None:
                self._send_body(sid, st, st.pending)
                if st.pending is not None:
                    break

    def _on_ping_ack(self, ev: Any) -> None:
        self._ping_sent_at = None


def connection_factory(name: Library) -> ConnectionFactory:
    """Makes connections over `name` (h2 or jh2, imported now, once)."""
    impl = load_impl(name)
    return lambda pool: H2AdapterConnection(pool, impl)
