"""Mobile-originated messages (deliver_sm that is not a receipt): decoding and reassembly of concatenated parts.

Parts of a concatenated MO (UDH IE 0x00 or 0x08, or the SAR TLVs) are held in memory until all have arrived, or
until `max_age_s` passes, when what arrived is delivered with `complete=False` rather than dropped. Held parts
are acknowledged to the SMSC when they arrive, so a gateway restart loses an incomplete message's held parts;
the trade-off keeps the SMSC's window moving.
"""

from __future__ import annotations

import msgspec

from gateway._fast import load
from gateway.channels.smpp import pdu

gsm = load("gsm")


class InboundSms(msgspec.Struct, frozen=True, kw_only=True):
    """An incoming SMS, as the keywords module and the event stream receive it. `origination` is the sender
    (`+E.164` when the SMSC says the number is international), `destination` our number or short code."""

    channel: str
    origination: str
    destination: str
    body: str
    data_coding: int
    received_ms: int
    parts: int = 1
    complete: bool = True


def decode_text(data: bytes, coding: int) -> str:
    """short_message octets to text by data_coding: 0 GSM-7 (SMSC default), 1 IA5/ASCII, 3 Latin-1, 8 UCS-2;
    other codings (binary, Cyrillic, ...) are read as Latin-1 so nothing raises."""
    if coding == 0:
        return str(gsm.gsm7_decode(data))
    if coding == 8:
        return str(gsm.ucs2_decode(data))
    if coding == 1:
        return data.decode("ascii", "replace")
    return data.decode("latin-1")


def _number(addr: str, ton: int) -> str:
    return "+" + addr if ton == 1 and addr.isdigit() else addr


def split_udh(data: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """((ref, total, seq) or None, payload) from a UDH-prefixed short_message."""
    if not data:
        return None, data
    hl = data[0]
    if hl + 1 > len(data):
        return None, data
    header, payload = data[1:hl + 1], data[hl + 1:]
    i = 0
    while i + 2 <= len(header):
        iei, ln = header[i], header[i + 1]
        v = header[i + 2:i + 2 + ln]
        if iei == 0x00 and ln == 3 and len(v) == 3:
            return (v[0], v[1], v[2]), payload
        if iei == 0x08 and ln == 4 and len(v) == 4:
            return ((v[0] << 8) | v[1], v[2], v[3]), payload
        i += 2 + ln
    return None, payload


class Reassembler:
    def __init__(self, max_age_s: float = 600.0) -> None:
        self.max_age_s = max_age_s
        self._parts: dict[tuple[str, str, int], tuple[float, int, int, dict[int, bytes]]] = {}
        self.expired: list[InboundSms] = []  # incomplete messages flushed by age, delivered with the next call

    def add(self, channel: str, sm: pdu.Sm, now: float) -> InboundSms | None:
        """The complete message when `sm` finishes one (or is a single part), else None (held)."""
        data = sm.short_message or sm.tlvs.get(pdu.TLV_MESSAGE_PAYLOAD, b"")
        concat: tuple[int, int, int] | None = None
        if sm.esm_class & pdu.ESM_UDHI:
            concat, data = split_udh(data)
        elif pdu.TLV_SAR_MSG_REF_NUM in sm.tlvs:
            ref = int.from_bytes(sm.tlvs[pdu.TLV_SAR_MSG_REF_NUM], "big")
            total = sm.tlvs.get(pdu.TLV_SAR_TOTAL_SEGMENTS, b"\x01")[0]
            seq = sm.tlvs.get(pdu.TLV_SAR_SEGMENT_SEQNUM, b"\x01")[0]
            concat = (ref, total, seq)
        origination = _number(sm.source_addr, sm.source_addr_ton)
        destination = _number(sm.destination_addr, sm.dest_addr_ton)
        ms = int(now * 1000)
        if concat is None or concat[1] <= 1:
            return InboundSms(channel=channel, origination=origination, destination=destination,
                              body=decode_text(data, sm.data_coding), data_coding=sm.data_coding, received_ms=ms)
        self._expire(channel, now)
        ref, total, seq = concat
        key = (origination, destination, ref)
        started, _, coding, parts = self._parts.get(key, (now, total, sm.data_coding, {}))
        parts[seq] = data
        if len(parts) < total:
            self._parts[key] = (started, total, coding, parts)
            return None
        self._parts.pop(key, None)
        body = "".join(decode_text(parts[i], coding) for i in sorted(parts))
        return InboundSms(channel=channel, origination=origination, destination=destination, body=body,
                          data_coding=coding, received_ms=ms, parts=total)

    def _expire(self, channel: str, now: float) -> None:
        for key, (started, total, coding, parts) in list(self._parts.items()):
            if now - started > self.max_age_s:
                del self._parts[key]
                body = "".join(decode_text(parts[i], coding) for i in sorted(parts))
                self.expired.append(InboundSms(channel=channel, origination=key[0], destination=key[1], body=body,
                                               data_coding=coding, received_ms=int(started * 1000), parts=total,
                                               complete=False))
