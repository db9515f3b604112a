"""Delivery receipts: lenient parsing of deliver_sm receipts (sans-I/O) and their correlation, through Redis, with
the message ids our submit_sm_resp returned, so receipts that arrive after a gateway restart still map.

Real SMSCs differ (protocols-and-reliability.md §5): ids with or without leading zeros, some in the other base
(hex or decimal) than their submit_sm_resp gave; 10- or 12-digit dates; `text:` or `Text:`; missing fields;
receipts that carry only the TLVs receipted_message_id / message_state. TLVs win over the text when both are
present. An id is read in another base only when the channel says its SMSC does that (`receipt_id_base`): with
an SMSC that numbers from 1, "10" read as decimal is "a", the live id of another message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

import msgspec

from gateway.channels.smpp import pdu
from gateway.sms import events

# message_state values (SMPP 3.4 §5.2.28) and the 7-letter stat words of Appendix B
ENROUTE, DELIVERED, EXPIRED, DELETED, UNDELIVERABLE, ACCEPTED, UNKNOWN, REJECTED = range(1, 9)
STATE_NAMES: Final = {1: "ENROUTE", 2: "DELIVERED", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIVERABLE", 6: "ACCEPTED",
                      7: "UNKNOWN", 8: "REJECTED"}
_STAT_WORDS: Final = {
    "ENROUTE": ENROUTE, "DELIVRD": DELIVERED, "DELIVERED": DELIVERED, "EXPIRED": EXPIRED, "DELETED": DELETED,
    "UNDELIV": UNDELIVERABLE, "UNDELIVERABLE": UNDELIVERABLE, "ACCEPTD": ACCEPTED, "ACCEPTED": ACCEPTED,
    "UNKNOWN": UNKNOWN, "REJECTD": REJECTED, "REJECTED": REJECTED,
}
STAT_WORD: Final = {ENROUTE: "ENROUTE", DELIVERED: "DELIVRD", EXPIRED: "EXPIRED", DELETED: "DELETED",
                    UNDELIVERABLE: "UNDELIV", ACCEPTED: "ACCEPTD", UNKNOWN: "UNKNOWN", REJECTED: "REJECTD"}

#: Final states as Kannel maps them; ENROUTE and ACCEPTED are intermediate.
FINAL_SUCCESS: Final = frozenset({DELIVERED})
FINAL_FAILURE: Final = frozenset({EXPIRED, DELETED, UNDELIVERABLE, UNKNOWN, REJECTED})

#: Pinpoint's SMS record_status for each state (pinpoint.md §7).
RECORD_STATUS: Final = {
    DELIVERED: "DELIVERED", EXPIRED: "TTL_EXPIRED", DELETED: "CARRIER_UNREACHABLE", UNDELIVERABLE: "UNREACHABLE",
    UNKNOWN: "UNKNOWN", REJECTED: "CARRIER_BLOCKED", ENROUTE: "PENDING", ACCEPTED: "PENDING",
}

_FIELD = re.compile(r"(?i)(?<![A-Za-z])(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:")


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """One parsed delivery receipt. `state` is a message_state value (1..8); dates are epoch milliseconds (UTC,
    as SMSCs rarely say otherwise) or None when absent or unreadable."""

    message_id: str
    state: int
    error: str | None = None
    submitted_ms: int | None = None
    done_ms: int | None = None
    text: str | None = None
    network_error: bytes | None = None
    id_from_tlv: bool = False  # receipted_message_id: the form submit_sm_resp gave, whatever the text does

    @property
    def final(self) -> bool:
        return self.state in FINAL_SUCCESS or self.state in FINAL_FAILURE

    @property
    def delivered(self) -> bool:
        return self.state in FINAL_SUCCESS


class ReceiptError(ValueError):
    """A deliver_sm flagged as a receipt from which no message id or state can be read."""


def is_receipt(sm: pdu.Sm) -> bool:
    """A deliver_sm is a receipt when esm_class says so (SMSC receipt 0x04, intermediate notification 0x20) or it
    carries receipted_message_id; anything else is a mobile-originated message."""
    kind = sm.esm_class & pdu.ESM_TYPE_MASK
    return kind in (0x04, 0x08, 0x20) or pdu.TLV_RECEIPTED_MESSAGE_ID in sm.tlvs


def parse_date(value: str | None) -> int | None:
    """YYMMDDhhmm or YYMMDDhhmmss (UTC) to epoch milliseconds; None when it is not such a date."""
    if not value:
        return None
    digits = value.strip()
    if not digits.isdigit() or len(digits) not in (10, 12):
        return None
    try:
        dt = datetime(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6:8]),
                      int(digits[8:10]), int(digits[10:12]) if len(digits) == 12 else 0, tzinfo=UTC)
    except ValueError:
        return None
    return int(dt.timestamp() * 1000)


_STANDARD = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\S*) dlvrd:(?P<dlvrd>\S*) submit date:(?P<submit_date>\d*) "
    r"done date:(?P<done_date>\d*) stat:(?P<stat>\S*) err:(?P<err>\S*)(?: [Tt]ext:(?P<text>.*))?\Z", re.S)


def parse_fields(text: str) -> dict[str, str]:
    """The `key:value` fields of an Appendix B receipt text, keys lower-cased with `_` for spaces. Everything
    after `text:` is the text (it may hold spaces and colons)."""
    m = _STANDARD.match(text)  # the exact Appendix B layout, in one match; anything else field by field
    if m is not None:
        return {k: v for k, v in m.groupdict().items() if v is not None}
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    for i, m in enumerate(matches):
        key = m.group(1).lower().replace(" ", "_")
        if key in fields:
            continue
        if key == "text":
            fields[key] = text[m.end():]
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        fields[key] = text[m.end():end].strip()
    return fields


def state_from_word(word: str | None) -> int | None:
    if not word:
        return None
    w = word.strip().upper()
    return _STAT_WORDS.get(w) or _STAT_WORDS.get(w[:7])


def parse_receipt(sm: pdu.Sm) -> Receipt:
    """Parse a receipt deliver_sm (see :func:`is_receipt`); raise ReceiptError when it names no id or state."""
    raw = sm.short_message or sm.tlvs.get(pdu.TLV_MESSAGE_PAYLOAD, b"")
    fields = parse_fields(raw.decode("latin-1")) if raw else {}
    tlv_id = sm.tlvs.get(pdu.TLV_RECEIPTED_MESSAGE_ID)
    message_id = tlv_id.split(b"\0", 1)[0].decode("latin-1").strip() if tlv_id else fields.get("id", "").strip()
    tlv_state = sm.tlvs.get(pdu.TLV_MESSAGE_STATE)
    state = tlv_state[0] if tlv_state and 1 <= tlv_state[0] <= 8 else state_from_word(fields.get("stat"))
    if not message_id:
        raise ReceiptError("the receipt carries no message id")
    if state is None:
        raise ReceiptError("the receipt carries no readable state")
    return Receipt(
        message_id=message_id,
        state=state,
        error=fields.get("err") or None,
        submitted_ms=parse_date(fields.get("submit_date")),
        done_ms=parse_date(fields.get("done_date")),
        text=fields.get("text"),
        network_error=sm.tlvs.get(pdu.TLV_NETWORK_ERROR_CODE),
        id_from_tlv=bool(tlv_id),
    )


def canonical_id(message_id: str) -> str:
    """How an SMSC message id is stored: trimmed, lower-case, leading zeros removed ("0" stays "0")."""
    s = message_id.strip().lower().lstrip("0")
    return s or ("0" if message_id.strip() else "")


_HEX = frozenset("0123456789abcdef")

#: `receipt_id_base` values: how a receipt's text id relates to the id submit_sm_resp gave.
ID_BASES: Final = ("same", "hex", "decimal", "either")


def id_candidates(message_id: str, base: str = "same") -> list[str]:
    """The canonical forms a receipt's id may stand for, most likely first.

    `same`: the id as given (leading zeros and case ignored). `hex`: the SMSC reports in hex an id its
    submit_sm_resp gave in decimal; `decimal`: the reverse (cardboardfish, jsmpp #178); each is converted exactly,
    not guessed. `either`: as given, then both conversions -- ambiguous (an SMSC numbering from 1 makes "10" and
    "a" both live ids), so only for an SMSC known to mix bases."""
    c = canonical_id(message_id)
    if base == "same" or not c or len(c) > 32 or not _HEX.issuperset(c):
        return [c]
    if base == "hex":
        return [str(int(c, 16))]
    if base == "decimal":
        return [format(int(c), "x")] if c.isdigit() else [c]
    out = [c]
    if c.isdigit():
        out.append(format(int(c), "x"))
    out.append(str(int(c, 16)))
    return list(dict.fromkeys(out))  # without repeats, in order


def receipt_candidates(receipt: Receipt, base: str) -> list[str]:
    """:func:`id_candidates` for a parsed receipt: a receipted_message_id TLV is taken as given (it carries the
    submit_sm_resp's id by definition), only a text id is converted."""
    return id_candidates(receipt.message_id, "same" if receipt.id_from_tlv else base)


def receipt_text(message_id: str, state: int, *, err: str = "000", submit: str = "2601010000",
                 done: str = "2601010000", text: str = "") -> str:
    """An Appendix B receipt text (used by the sandbox SMSC and tests)."""
    dlvrd = "001" if state == DELIVERED else "000"
    return (f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submit} done date:{done} "
            f"stat:{STAT_WORD[state]} err:{err} text:{text[:20]}")


# ---------------------------------------------------------------------------------------------------- correlation

SUCCESS_EVENT: Final = "_SMS.SUCCESS"
FAILURE_EVENT: Final = "_SMS.FAILURE"
BUFFERED_EVENT: Final = "_SMS.BUFFERED"


class Sent(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """What the gateway remembers about one accepted submit_sm, stored at `gw:{app}:smsid:<smsc id>`."""

    app: str
    message_id: str
    part: int = 1
    parts: int = 1
    destination: str = ""
    origination: str = ""
    message_type: str = "PROMOTIONAL"


class ReceiptEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A receipt matched to our message: what the channel's `on_receipt` hook receives.

    `event_type` is `_SMS.SUCCESS` (every part delivered), `_SMS.FAILURE` (the first part that failed) or
    `_SMS.BUFFERED` (an intermediate ENROUTE/ACCEPTED notice for one part). `record_status` is Pinpoint's.
    """

    app: str
    message_id: str
    provider_message_id: str
    event_type: str
    record_status: str
    message_state: str
    error_code: str | None
    destination: str
    origination: str
    message_type: str
    part: int
    parts: int
    submitted_ms: int | None
    done_ms: int | None
    channel: str


def part_event(receipt: Receipt, parts: int, states: list[int]) -> str | None:
    """The event a receipt for one part produces once that part is settled (its mapping claimed, so this runs
    once per part): `states` are the final states of the message's settled parts, this one included.

    Intermediate receipts are BUFFERED; a one-part message gets SUCCESS or FAILURE; a multi-part message gets
    FAILURE for the first part that failed and SUCCESS once every part is delivered, and nothing otherwise."""
    if not receipt.final:
        return BUFFERED_EVENT
    if parts == 1:
        return SUCCESS_EVENT if receipt.delivered else FAILURE_EVENT
    failed = sum(1 for s in states if s not in FINAL_SUCCESS)
    if not receipt.delivered:
        return FAILURE_EVENT if failed == 1 else None
    return SUCCESS_EVENT if len(states) == parts and not failed else None


def build_event(channel: str, sent: Sent, smsc_id: str, receipt: Receipt, event_type: str) -> ReceiptEvent:
    return ReceiptEvent(
        app=sent.app, message_id=sent.message_id, provider_message_id=smsc_id, event_type=event_type,
        record_status=RECORD_STATUS.get(receipt.state, "UNKNOWN"), message_state=STATE_NAMES[receipt.state],
        error_code=receipt.error, destination=sent.destination, origination=sent.origination,
        message_type=sent.message_type, part=sent.part, parts=sent.parts, submitted_ms=receipt.submitted_ms,
        done_ms=receipt.done_ms, channel=channel,
    )


def receipt_record(ev: ReceiptEvent) -> dict[str, object]:
    """The Pinpoint-shaped event record for a receipt (the same attributes as HTTP SMS receipts, plus Pinpoint's
    message_type and number_of_message_parts), ready for the event stream sink."""
    return events.record(ev.event_type, ev.app, {
        "message_id": ev.message_id,
        "provider_message_id": ev.provider_message_id,
        "destination_phone_number": ev.destination,
        "origination_phone_number": ev.origination or None,
        "record_status": ev.record_status,
        "message_type": ev.message_type.capitalize(),
        "number_of_message_parts": ev.parts,
        "provider_status": ev.message_state,
        "provider_error_code": ev.error_code,
    }, event_ms=ev.done_ms)
