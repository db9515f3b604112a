"""A sandbox SMSC: an SMPP 3.4 server on raw asyncio, fast enough that a benchmark never measures it, with faults
scripted by destination number.

Destinations starting `999` or `1555999` (a possible NANP number, for paths that validate numbers) are scripts,
named below by what follows that prefix (anything else is accepted with ESME_ROK):

======================  =================================================================================
``99958N…``             ESME_RTHROTTLED (0x58) for the first N submits to this destination, then accepted
``99914N…``             ESME_RMSGQFUL (0x14) for the first N submits, then accepted
``99908N…``             ESME_RSYSERR (0x08) for the first N submits, then accepted
``99911…``              ESME_RINVDSTADR (0x0B), always
``99910…``              ESME_RINVSRCADR (0x0A), always
``99900…``              no submit_sm_resp at all
``99906…``              the SMSC sends unbind instead of answering, then closes
``99901N…``             accepted; the receipt (DELIVRD) is held back N times `receipt_delay_unit` seconds
``99902…``              accepted; the receipt says UNDELIV (err:001)
``99903…``              accepted; the receipt says EXPIRED
``99905…``              accepted; an ENROUTE receipt first, then DELIVRD
``99907…``              accepted; the sender texts back (an MO message "REPLY <text>") to the source address
======================  =================================================================================

Receipts (when the submit_sm asks with registered_delivery) go to a receiver or transceiver bind of the same
system_id, in the text, TLV or both styles, with ids in the opposite base from the submit_sm_resp when
`receipt_id_base` differs. Tests can stop answering enquire_link, inject MO messages and read what was submitted.

Strict by default, as real SMSCs that caught us out are: message ids are hex numbers from 1 (so "10" read in
decimal is "a", the id of another live message), and an immediate receipt leaves in the same write as its
submit_sm_resp when the bind can take it, so the client reads both in one read. `strict=False` gives ids from
0x10000 and receipts in a later write.
Run alone: `python -m gateway.sandbox.smsc --port 2775` (prints the port; uvloop when installed; `--lenient`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
from collections import defaultdict
from typing import Literal, cast

from gateway.channels.smpp import dlr, pdu

log = logging.getLogger("gateway.sandbox.smsc")

_NUL = 0


class SandboxSmsc:
    """The server and its script state (shared by every connection)."""

    def __init__(
        self,
        *,
        credentials: dict[str, str] | None = None,
        id_base: Literal["hex", "dec"] = "hex",
        receipt_id_base: Literal["hex", "dec"] = "hex",
        receipt_style: Literal["text", "tlv", "both"] = "both",
        receipt_delay_unit: float = 0.05,
        record: bool = False,
        strict: bool = True,
        id_start: int | None = None,
    ) -> None:
        self.credentials = credentials
        self.same_write = strict
        self.id_base = id_base
        self.receipt_id_base = receipt_id_base
        self.receipt_style = receipt_style
        self.receipt_delay_unit = receipt_delay_unit
        self.record = record
        self.answer_enquire_link = True
        self.ids = itertools.count(id_start if id_start is not None else 1 if strict else 0x10000)
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.submitted: list[pdu.Sm] = []  # when `record`
        self.submit_count = 0
        self.sessions: set[SmscConnection] = set()
        self.held_receipts: list[tuple[str, bytes]] = []  # (system_id, deliver_sm body) nobody could take yet
        self.deliver_resps: list[tuple[int, int]] = []  # (seq, status) of deliver_sm_resp from clients
        self.bind_count = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SmscConnection(self), host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in list(self.sessions):
            s.abort()
        if self._server is not None:
            await self._server.wait_closed()

    def kick(self) -> None:
        """Drop every connection at once (an SMSC restart as the client sees it)."""
        for s in list(self.sessions):
            s.abort()

    def format_id(self, n: int, base: str) -> str:
        return format(n, "X") if base == "hex" else str(n)

    def receivers(self, system_id: str) -> list[SmscConnection]:
        return [s for s in self.sessions if s.system_id == system_id and s.can_receive]

    def deliver(self, system_id: str, body: bytes) -> bool:
        """Send a deliver_sm body to a receiving bind of `system_id`; held for the next bind if none."""
        targets = self.receivers(system_id)
        if not targets:
            self.held_receipts.append((system_id, body))
            return False
        targets[0].send_deliver(body)
        return True

    def inject_mo(self, system_id: str, source: str, destination: str, text: bytes, data_coding: int = 0,
                  esm_class: int = 0) -> bool:
        """A mobile-originated message from `source` to `destination`."""
        sm = pdu.Sm(command_id=pdu.DELIVER_SM, source_addr_ton=1, source_addr_npi=1, source_addr=source,
                    dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination, esm_class=esm_class,
                    data_coding=data_coding, short_message=text)
        return self.deliver(system_id, pdu.sm_body(sm))

    def receipt_body(self, sm: pdu.Sm, n: int, state: int, err: str = "000") -> bytes:
        rid = self.format_id(n, self.receipt_id_base)
        tlvs: dict[int, bytes] = {}
        text = b""
        if self.receipt_style in ("tlv", "both"):
            tlvs[pdu.TLV_RECEIPTED_MESSAGE_ID] = self.format_id(n, self.id_base).encode() + b"\0"
            tlvs[pdu.TLV_MESSAGE_STATE] = bytes((state,))
        if self.receipt_style in ("text", "both"):
            text = dlr.receipt_text(rid, state, err=err, text="").encode()
        out = pdu.Sm(command_id=pdu.DELIVER_SM, source_addr_ton=sm.dest_addr_ton, source_addr_npi=sm.dest_addr_npi,
                     source_addr=sm.destination_addr, dest_addr_ton=sm.source_addr_ton,
                     dest_addr_npi=sm.source_addr_npi, destination_addr=sm.source_addr,
                     esm_class=pdu.ESM_DELIVERY_RECEIPT, short_message=text, tlvs=tlvs)
        return pdu.sm_body(out)


class SmscConnection(asyncio.Protocol):
    """One ESME connection."""

    def __init__(self, server: SandboxSmsc) -> None:
        self.server = server
        self.framer = pdu.Framer()
        self.transport: asyncio.Transport | None = None
        self.system_id = ""
        self.bound_as = 0
        self.seq = itertools.count(1)
        self.out: list[bytes] = []
        self.trailing: list[bytes] = []  # receipts that leave right behind the response being written
        self.loop = asyncio.get_running_loop()

    @property
    def can_receive(self) -> bool:
        return self.bound_as in (pdu.BIND_RECEIVER, pdu.BIND_TRANSCEIVER)

    @property
    def can_transmit(self) -> bool:
        return self.bound_as in (pdu.BIND_TRANSMITTER, pdu.BIND_TRANSCEIVER)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.server.sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.sessions.discard(self)
        self.transport = None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def send_deliver(self, body: bytes) -> None:
        self.write(pdu.frame(pdu.DELIVER_SM, 0, next(self.seq), body))

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.framer.feed(data)
        except pdu.PduError:
            self.abort()
            return
        out = self.out
        for command_id, status, seq, body in frames:
            if command_id == pdu.SUBMIT_SM:
                resp = self.on_submit(seq, body)
                if resp is not None:
                    out.append(resp)
                if self.trailing:
                    out += self.trailing
                    self.trailing.clear()
            elif command_id == pdu.ENQUIRE_LINK:
                if self.server.answer_enquire_link:
                    out.append(pdu.frame(pdu.ENQUIRE_LINK_RESP, 0, seq))
            elif command_id == pdu.DELIVER_SM_RESP:
                self.server.deliver_resps.append((seq, status))
            elif command_id in pdu.BINDS:
                out.append(self.on_bind(command_id, seq, body))
            elif command_id == pdu.UNBIND:
                out.append(pdu.frame(pdu.UNBIND_RESP, 0, seq))
                self.write(b"".join(out))
                out.clear()
                if self.transport is not None:
                    self.transport.close()
                return
            elif command_id & pdu.RESP_BIT:
                pass
            else:
                out.append(pdu.frame(pdu.GENERIC_NACK, pdu.ESME_RINVCMDID, seq))
        if out:
            self.write(b"".join(out) if len(out) > 1 else out[0])
            out.clear()

    def on_bind(self, command_id: int, seq: int, body: bytes) -> bytes:
        resp_id = command_id | pdu.RESP_BIT
        try:
            bind = pdu.decode_body(command_id, 0, seq, body)
        except pdu.PduError as exc:
            return pdu.frame(resp_id, exc.status, seq)
        assert isinstance(bind, pdu.Bind)
        creds = self.server.credentials
        if self.bound_as:
            return pdu.frame(resp_id, pdu.ESME_RALYBND, seq)
        if creds is not None:
            if bind.system_id not in creds:
                return pdu.frame(resp_id, pdu.ESME_RINVSYSID, seq)
            if creds[bind.system_id] != bind.password:
                return pdu.frame(resp_id, pdu.ESME_RINVPASWD, seq)
        self.system_id = bind.system_id
        self.bound_as = command_id
        self.server.bind_count += 1
        if self.can_receive:
            held = [b for s, b in self.server.held_receipts if s == self.system_id]
            self.server.held_receipts = [(s, b) for s, b in self.server.held_receipts if s != self.system_id]
            for b in held:
                self.loop.call_soon(self.send_deliver, b)
        return pdu.frame(resp_id, 0, seq, b"sandbox\0" + bytes((0x02, 0x10, 0, 1, 0x34)))

    def on_submit(self, seq: int, body: bytes) -> bytes | None:
        server = self.server
        if not self.can_transmit:
            return pdu.frame(pdu.SUBMIT_SM_RESP, pdu.ESME_RINVBNDSTS, seq)
        # Fast path: find destination_addr and registered_delivery without decoding the whole body.
        try:
            p = body.index(_NUL) + 3  # service_type, source ton/npi
            p = body.index(_NUL, p) + 3  # source_addr, dest ton/npi
            d_end = body.index(_NUL, p)
            dest = body[p:d_end]
            q = body.index(_NUL, d_end + 4)  # esm, pid, priority, schedule_delivery_time
            q = body.index(_NUL, q + 1)  # validity_period
            registered = body[q + 1] & 0x03
        except (ValueError, IndexError):
            return pdu.frame(pdu.SUBMIT_SM_RESP, pdu.ESME_RINVCMDLEN, seq)
        scripted = dest.startswith((b"999", b"1555999"))
        if server.record or scripted or registered:
            try:
                sm = pdu.decode_sm(pdu.SUBMIT_SM, seq, body)
            except pdu.PduError as exc:
                return pdu.frame(pdu.SUBMIT_SM_RESP, exc.status, seq)
            if server.record:
                server.submitted.append(sm)
        else:
            sm = None
        server.submit_count += 1
        if scripted:
            assert sm is not None
            return self.scripted(seq, dest.decode("latin-1"), sm)
        n = next(server.ids)
        if registered and sm is not None:
            self.receipt(server.receipt_body(sm, n, dlr.DELIVERED))
        return pdu.frame(pdu.SUBMIT_SM_RESP, 0, seq, server.format_id(n, server.id_base).encode() + b"\0")

    def receipt(self, body: bytes) -> None:
        """Send an immediate receipt: in the same write as the response (strict, and this bind receives), else
        on the next loop turn to a receiving bind."""
        if self.server.same_write and self.can_receive:
            self.trailing.append(pdu.frame(pdu.DELIVER_SM, 0, next(self.seq), body))
        else:
            self.loop.call_soon(self.server.deliver, self.system_id, body)

    def scripted(self, seq: int, dest: str, sm: pdu.Sm) -> bytes | None:
        server = self.server
        script = dest[7:] if dest.startswith("1555999") else dest[3:]
        code, arg = script[0:2], script[2:3]
        times = int(arg) if arg.isdigit() else 1
        fail_first = {"58": pdu.ESME_RTHROTTLED, "14": pdu.ESME_RMSGQFUL, "08": pdu.ESME_RSYSERR}
        if code in fail_first:
            server.counts[dest] += 1
            if server.counts[dest] <= times:
                return pdu.frame(pdu.SUBMIT_SM_RESP, fail_first[code], seq)
        elif code == "11":
            return pdu.frame(pdu.SUBMIT_SM_RESP, pdu.ESME_RINVDSTADR, seq)
        elif code == "10":
            return pdu.frame(pdu.SUBMIT_SM_RESP, pdu.ESME_RINVSRCADR, seq)
        elif code == "00":
            return None
        elif code == "06":
            self.write(pdu.frame(pdu.UNBIND, 0, next(self.seq)))
            self.loop.call_soon(self.abort)
            return None
        n = next(server.ids)
        resp = pdu.frame(pdu.SUBMIT_SM_RESP, 0, seq, server.format_id(n, server.id_base).encode() + b"\0")
        if sm.registered_delivery & 0x03:
            sid = self.system_id
            if code == "01":
                body = server.receipt_body(sm, n, dlr.DELIVERED)
                self.loop.call_later(times * server.receipt_delay_unit, server.deliver, sid, body)
            elif code == "02":
                self.receipt(server.receipt_body(sm, n, dlr.UNDELIVERABLE, "001"))
            elif code == "03":
                self.receipt(server.receipt_body(sm, n, dlr.EXPIRED, "000"))
            elif code == "05":
                self.receipt(server.receipt_body(sm, n, dlr.ENROUTE))
                self.receipt(server.receipt_body(sm, n, dlr.DELIVERED))
            else:
                self.receipt(server.receipt_body(sm, n, dlr.DELIVERED))
        if code == "07":
            self.loop.call_soon(server.inject_mo, self.system_id, sm.destination_addr, sm.source_addr,
                                b"REPLY " + sm.short_message[:100], sm.data_coding)
        return resp


async def _serve(host: str, port: int, strict: bool = True) -> None:
    server = SandboxSmsc(strict=strict)
    bound = await server.start(host, port)
    print(bound, flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="sandbox SMSC (SMPP 3.4 server with scripted faults)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lenient", action="store_true",
                        help="ids from 0x10000 and receipts in a later write (default: hex ids from 1, each receipt "
                             "in the same write as its response)")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(_serve(args.host, args.port, not args.lenient))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
