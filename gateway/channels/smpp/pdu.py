"""SMPP 3.4 PDUs, sans-I/O: bytes in, msgspec Structs out, and back.

Only the PDUs the gateway uses (both as an ESME and in the sandbox SMSC): the three binds, unbind,
enquire_link, submit_sm, deliver_sm, their responses and generic_nack, with optional TLVs on every body that
allows them. A :class:`Framer` cuts a byte stream into PDUs. Every malformed input raises :class:`PduError`
naming what is wrong; nothing is guessed.
"""

from __future__ import annotations

import struct
from typing import Final

import msgspec

from gateway.errors import DecodeError

# command_id values (SMPP 3.4 §5.1.2.1)
GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_RECEIVER_RESP: Final = 0x80000001
BIND_TRANSMITTER: Final = 0x00000002
BIND_TRANSMITTER_RESP: Final = 0x80000002
SUBMIT_SM: Final = 0x00000004
SUBMIT_SM_RESP: Final = 0x80000004
DELIVER_SM: Final = 0x00000005
DELIVER_SM_RESP: Final = 0x80000005
UNBIND: Final = 0x00000006
UNBIND_RESP: Final = 0x80000006
BIND_TRANSCEIVER: Final = 0x00000009
BIND_TRANSCEIVER_RESP: Final = 0x80000009
ENQUIRE_LINK: Final = 0x00000015
ENQUIRE_LINK_RESP: Final = 0x80000015

BINDS: Final = frozenset({BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER})
RESP_BIT: Final = 0x80000000

# command_status values (SMPP 3.4 §5.1.3) the gateway distinguishes
ESME_ROK: Final = 0x00
ESME_RINVMSGLEN: Final = 0x01
ESME_RINVCMDLEN: Final = 0x02
ESME_RINVCMDID: Final = 0x03
ESME_RINVBNDSTS: Final = 0x04
ESME_RALYBND: Final = 0x05
ESME_RSYSERR: Final = 0x08
ESME_RINVSRCADR: Final = 0x0A
ESME_RINVDSTADR: Final = 0x0B
ESME_RINVMSGID: Final = 0x0C
ESME_RBINDFAIL: Final = 0x0D
ESME_RINVPASWD: Final = 0x0E
ESME_RINVSYSID: Final = 0x0F
ESME_RMSGQFUL: Final = 0x14
ESME_RSUBMITFAIL: Final = 0x45
ESME_RTHROTTLED: Final = 0x58
ESME_RX_T_APPN: Final = 0x64  # receiver temporary app error: "try again later" for deliver_sm

STATUS_NAMES: Final = {
    0x00: "ESME_ROK", 0x01: "ESME_RINVMSGLEN", 0x02: "ESME_RINVCMDLEN", 0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS", 0x05: "ESME_RALYBND", 0x08: "ESME_RSYSERR", 0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR", 0x0C: "ESME_RINVMSGID", 0x0D: "ESME_RBINDFAIL", 0x0E: "ESME_RINVPASWD",
    0x0F: "ESME_RINVSYSID", 0x14: "ESME_RMSGQFUL", 0x45: "ESME_RSUBMITFAIL", 0x58: "ESME_RTHROTTLED",
    0x64: "ESME_RX_T_APPN",
}

# TLV tags (SMPP 3.4 §5.3.2)
TLV_RECEIPTED_MESSAGE_ID: Final = 0x001E
TLV_USER_MESSAGE_REFERENCE: Final = 0x0204
TLV_SAR_MSG_REF_NUM: Final = 0x020C
TLV_SAR_TOTAL_SEGMENTS: Final = 0x020E
TLV_SAR_SEGMENT_SEQNUM: Final = 0x020F
TLV_SC_INTERFACE_VERSION: Final = 0x0210
TLV_NETWORK_ERROR_CODE: Final = 0x0423
TLV_MESSAGE_PAYLOAD: Final = 0x0424
TLV_MESSAGE_STATE: Final = 0x0427

# esm_class bits
ESM_UDHI: Final = 0x40
ESM_TYPE_MASK: Final = 0x3C
ESM_DELIVERY_RECEIPT: Final = 0x04

HEADER: Final = struct.Struct(">IIII")
MAX_PDU: Final = 70_000  # a 64 KiB message_payload plus the largest body
_U16 = struct.Struct(">H")
_TLV_HEAD = struct.Struct(">HH")


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"0x{status:08X}")


class PduError(DecodeError):
    """A PDU is malformed (or a value cannot be encoded). `status` is the command_status to answer with."""

    def __init__(self, message: str, status: int = ESME_RINVCMDLEN) -> None:
        super().__init__(message)
        self.status = status


class Bind(msgspec.Struct, kw_only=True):
    command_id: int
    sequence_number: int = 0
    system_id: str
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


class BindResp(msgspec.Struct, kw_only=True):
    command_id: int
    command_status: int = 0
    sequence_number: int = 0
    system_id: str = ""
    tlvs: dict[int, bytes] = {}


class Simple(msgspec.Struct, kw_only=True):
    """A PDU without a body: enquire_link, unbind, their responses, generic_nack."""

    command_id: int
    command_status: int = 0
    sequence_number: int = 0


class Sm(msgspec.Struct, kw_only=True):
    """submit_sm or deliver_sm (same body layout)."""

    command_id: int
    sequence_number: int = 0
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, bytes] = {}


class SmResp(msgspec.Struct, kw_only=True):
    """submit_sm_resp or deliver_sm_resp. An error response may omit the body (message_id is then "")."""

    command_id: int
    command_status: int = 0
    sequence_number: int = 0
    message_id: str = ""


Pdu = Bind | BindResp | Simple | Sm | SmResp


# ---------------------------------------------------------------------------------------------------- encoding


def cstr(value: str, field: str, size: int) -> bytes:
    """A C-Octet String of at most `size` octets including the NUL."""
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise PduError(f"{field} must be ASCII", ESME_RINVMSGLEN) from None
    if len(raw) >= size or b"\0" in raw:
        raise PduError(f"{field} is longer than {size - 1} octets", ESME_RINVMSGLEN)
    return raw + b"\0"


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(_TLV_HEAD.pack(tag, len(v)) + v for tag, v in tlvs.items())


def frame(command_id: int, status: int, seq: int, body: bytes = b"") -> bytes:
    """Header plus body."""
    return HEADER.pack(16 + len(body), command_id, status, seq) + body


def sm_body(sm: Sm) -> bytes:
    """The body of a submit_sm / deliver_sm. With a message_payload TLV, short_message must be empty
    (sm_length = 0): SMPP forbids using both."""
    if len(sm.short_message) > 254:
        raise PduError("short_message is longer than 254 octets; use message_payload", ESME_RINVMSGLEN)
    if sm.short_message and TLV_MESSAGE_PAYLOAD in sm.tlvs:
        raise PduError("short_message and message_payload must not both be set", ESME_RINVMSGLEN)
    return b"".join((
        cstr(sm.service_type, "service_type", 6),
        bytes((sm.source_addr_ton, sm.source_addr_npi)),
        cstr(sm.source_addr, "source_addr", 21),
        bytes((sm.dest_addr_ton, sm.dest_addr_npi)),
        cstr(sm.destination_addr, "destination_addr", 21),
        bytes((sm.esm_class, sm.protocol_id, sm.priority_flag)),
        cstr(sm.schedule_delivery_time, "schedule_delivery_time", 17),
        cstr(sm.validity_period, "validity_period", 17),
        bytes((sm.registered_delivery, sm.replace_if_present_flag, sm.data_coding, sm.sm_default_msg_id,
               len(sm.short_message))),
        sm.short_message,
        encode_tlvs(sm.tlvs),
    ))


def encode(pdu: Pdu) -> bytes:
    """Serialize any PDU (the sequence number is the Struct's)."""
    if isinstance(pdu, Sm):
        return frame(pdu.command_id, 0, pdu.sequence_number, sm_body(pdu))
    if isinstance(pdu, SmResp):
        body = b"" if pdu.command_status and not pdu.message_id else cstr(pdu.message_id, "message_id", 65)
        return frame(pdu.command_id, pdu.command_status, pdu.sequence_number, body)
    if isinstance(pdu, Simple):
        return frame(pdu.command_id, pdu.command_status, pdu.sequence_number)
    if isinstance(pdu, Bind):
        body = b"".join((
            cstr(pdu.system_id, "system_id", 16),
            cstr(pdu.password, "password", 9),
            cstr(pdu.system_type, "system_type", 13),
            bytes((pdu.interface_version, pdu.addr_ton, pdu.addr_npi)),
            cstr(pdu.address_range, "address_range", 41),
        ))
        return frame(pdu.command_id, 0, pdu.sequence_number, body)
    body = cstr(pdu.system_id, "system_id", 16) + encode_tlvs(pdu.tlvs)
    if pdu.command_status and not pdu.system_id and not pdu.tlvs:
        body = b""
    return frame(pdu.command_id, pdu.command_status, pdu.sequence_number, body)


# ---------------------------------------------------------------------------------------------------- decoding


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def cstr(self, field: str, size: int) -> str:
        end = self.data.find(b"\0", self.pos, self.pos + size)
        if end < 0:
            raise PduError(f"{field} is not NUL-terminated within {size} octets")
        value = self.data[self.pos:end].decode("latin-1")
        self.pos = end + 1
        return value

    def u8(self, field: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"the body ends before {field}")
        v = self.data[self.pos]
        self.pos += 1
        return v

    def octets(self, n: int, field: str) -> bytes:
        if self.pos + n > len(self.data):
            raise PduError(f"{field} runs past the end of the PDU", ESME_RINVMSGLEN)
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def tlvs(self) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        data, pos, n = self.data, self.pos, len(self.data)
        while pos < n:
            if pos + 4 > n:
                raise PduError("a TLV header is truncated")
            tag, length = _TLV_HEAD.unpack_from(data, pos)
            pos += 4
            if pos + length > n:
                raise PduError(f"TLV 0x{tag:04X} runs past the end of the PDU")
            out[tag] = data[pos:pos + length]
            pos += length
        self.pos = pos
        return out


def decode_sm(command_id: int, seq: int, body: bytes) -> Sm:
    r = _Reader(body)
    sm = Sm(
        command_id=command_id,
        sequence_number=seq,
        service_type=r.cstr("service_type", 6),
        source_addr_ton=r.u8("source_addr_ton"),
        source_addr_npi=r.u8("source_addr_npi"),
        source_addr=r.cstr("source_addr", 21),
        dest_addr_ton=r.u8("dest_addr_ton"),
        dest_addr_npi=r.u8("dest_addr_npi"),
        destination_addr=r.cstr("destination_addr", 21),
        esm_class=r.u8("esm_class"),
        protocol_id=r.u8("protocol_id"),
        priority_flag=r.u8("priority_flag"),
        schedule_delivery_time=r.cstr("schedule_delivery_time", 17),
        validity_period=r.cstr("validity_period", 17),
        registered_delivery=r.u8("registered_delivery"),
        replace_if_present_flag=r.u8("replace_if_present_flag"),
        data_coding=r.u8("data_coding"),
        sm_default_msg_id=r.u8("sm_default_msg_id"),
    )
    sm.short_message = r.octets(r.u8("sm_length"), "short_message")
    sm.tlvs = r.tlvs()
    if sm.short_message and TLV_MESSAGE_PAYLOAD in sm.tlvs:
        raise PduError("short_message and message_payload are both set", ESME_RINVMSGLEN)
    return sm


def decode_message_id(body: bytes) -> str:
    """The message_id of a submit_sm_resp / deliver_sm_resp body ("" when an error response has no body)."""
    if not body:
        return ""
    end = body.find(b"\0", 0, 65)
    if end < 0:
        raise PduError("message_id is not NUL-terminated within 65 octets")
    return body[:end].decode("latin-1")


def decode_body(command_id: int, status: int, seq: int, body: bytes) -> Pdu:
    """Decode one PDU from its header fields and body."""
    if command_id in (SUBMIT_SM, DELIVER_SM):
        return decode_sm(command_id, seq, body)
    if command_id in (SUBMIT_SM_RESP, DELIVER_SM_RESP):
        return SmResp(command_id=command_id, command_status=status, sequence_number=seq,
                      message_id=decode_message_id(body))
    if command_id in (ENQUIRE_LINK, ENQUIRE_LINK_RESP, UNBIND, UNBIND_RESP, GENERIC_NACK):
        return Simple(command_id=command_id, command_status=status, sequence_number=seq)
    if command_id in BINDS:
        r = _Reader(body)
        return Bind(
            command_id=command_id,
            sequence_number=seq,
            system_id=r.cstr("system_id", 16),
            password=r.cstr("password", 9),
            system_type=r.cstr("system_type", 13),
            interface_version=r.u8("interface_version"),
            addr_ton=r.u8("addr_ton"),
            addr_npi=r.u8("addr_npi"),
            address_range=r.cstr("address_range", 41),
        )
    if command_id & RESP_BIT and (command_id & ~RESP_BIT) in BINDS:
        if not body:
            return BindResp(command_id=command_id, command_status=status, sequence_number=seq)
        r = _Reader(body)
        system_id = r.cstr("system_id", 16)
        return BindResp(command_id=command_id, command_status=status, sequence_number=seq, system_id=system_id,
                        tlvs=r.tlvs())
    raise PduError(f"unknown command_id 0x{command_id:08X}", ESME_RINVCMDID)


def decode(data: bytes) -> Pdu:
    """Decode exactly one complete PDU."""
    if len(data) < 16:
        raise PduError("a PDU is at least 16 octets")
    length, command_id, status, seq = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length {length} does not match the {len(data)} octets given")
    return decode_body(command_id, status, seq, data[16:])


class Framer:
    """Cuts a TCP byte stream into (command_id, command_status, sequence_number, body) tuples.

    A command_length below 16 or above MAX_PDU means the stream is out of step; :meth:`feed` raises PduError and
    the connection must be closed (no later byte can be trusted).
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, int, int, bytes]] = []
        pos = 0
        n = len(buf)
        unpack = HEADER.unpack_from
        while n - pos >= 16:
            length, command_id, status, seq = unpack(buf, pos)
            if length < 16 or length > MAX_PDU:
                self._buf = b""
                raise PduError(f"command_length {length} is out of range; the stream is out of step")
            if n - pos < length:
                break
            out.append((command_id, status, seq, buf[pos + 16:pos + length]))
            pos += length
        self._buf = buf[pos:] if pos < n else b""
        return out
