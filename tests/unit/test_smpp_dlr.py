"""Delivery receipt parsing (T20): a corpus of real-world receipt shapes and properties of id correlation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.channels.smpp import dlr, pdu


def _dsm(text: str = "", tlvs: dict[int, bytes] | None = None, esm: int = 0x04) -> pdu.Sm:
    return pdu.Sm(command_id=pdu.DELIVER_SM, esm_class=esm, short_message=text.encode("latin-1"), tlvs=tlvs or {})


CORPUS = [
    # (text, id, state, err, done_ms)
    ("id:0123456789 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 "
     "Text:Hello world", "0123456789", dlr.DELIVERED, "000", 1767268860000),
    ("id:1A2B3C sub:001 dlvrd:000 submit date:260101120000 done date:260101120130 stat:UNDELIV err:0FF "
     "text:caf\xe9 stat:x", "1A2B3C", dlr.UNDELIVERABLE, "0FF", 1767268890000),
    ("ID:77 SUB:1 DLVRD:0 SUBMIT DATE:2601011200 DONE DATE:2601011200 STAT:EXPIRED ERR:0 TEXT:", "77", dlr.EXPIRED,
     "0", 1767268800000),
    ("id:abc stat:REJECTD", "abc", dlr.REJECTED, None, None),
    ("id:5 submit_date:2601011200 done_date:2613011200 stat:ACCEPTD err:000", "5", dlr.ACCEPTED, "000", None),
    ("id:5 stat:ENROUTE", "5", dlr.ENROUTE, None, None),
    ("id:6 dlvrd:1 stat:DELIVERED err:000 text:", "6", dlr.DELIVERED, "000", None),
    ("id:7 stat:UNKNOWN err:", "7", dlr.UNKNOWN, None, None),
    ("id:8 stat:deleted", "8", dlr.DELETED, None, None),
]


@pytest.mark.parametrize(("text", "mid", "state", "err", "done"), CORPUS)
def test_receipt_corpus(text: str, mid: str, state: int, err: str | None, done: int | None) -> None:
    r = dlr.parse_receipt(_dsm(text))
    assert (r.message_id, r.state, r.error, r.done_ms) == (mid, state, err, done)


def test_text_field_keeps_spaces_and_colons() -> None:
    r = dlr.parse_receipt(_dsm("id:1 stat:DELIVRD err:000 text:a: b stat:c"))
    assert r.text == "a: b stat:c" and r.state == dlr.DELIVERED


def test_tlv_only_receipt() -> None:
    sm = _dsm(tlvs={pdu.TLV_RECEIPTED_MESSAGE_ID: b"00AF\0", pdu.TLV_MESSAGE_STATE: b"\x05"}, esm=0)
    assert dlr.is_receipt(sm)
    r = dlr.parse_receipt(sm)
    assert (r.message_id, r.state, r.final, r.delivered) == ("00AF", dlr.UNDELIVERABLE, True, False)


def test_tlvs_win_over_text() -> None:
    sm = _dsm("id:999 stat:UNDELIV", {pdu.TLV_RECEIPTED_MESSAGE_ID: b"42\0", pdu.TLV_MESSAGE_STATE: b"\x02"})
    r = dlr.parse_receipt(sm)
    assert (r.message_id, r.state) == ("42", dlr.DELIVERED)


def test_receipt_in_message_payload() -> None:
    sm = pdu.Sm(command_id=pdu.DELIVER_SM, esm_class=4, tlvs={pdu.TLV_MESSAGE_PAYLOAD: b"id:9 stat:DELIVRD"})
    assert dlr.parse_receipt(sm).message_id == "9"


@pytest.mark.parametrize("text", ["", "stat:DELIVRD", "id:5 stat:WHATEVER", "garbage"])
def test_unreadable_receipts_raise(text: str) -> None:
    with pytest.raises(dlr.ReceiptError):
        dlr.parse_receipt(_dsm(text))


def test_mo_is_not_a_receipt() -> None:
    assert not dlr.is_receipt(_dsm("id:1 stat:DELIVRD", esm=0))
    assert dlr.is_receipt(_dsm("", esm=0x20))


def test_dates() -> None:
    assert dlr.parse_date("2601011200") == dlr.parse_date("260101120000")
    assert dlr.parse_date("2613011200") is None and dlr.parse_date("26010112") is None


@given(st.integers(0, 2**63), st.integers(0, 6))
def test_ids_correlate_across_bases_and_leading_zeros(n: int, zeros: int) -> None:
    stored_hex = dlr.canonical_id(format(n, "X"))
    stored_dec = dlr.canonical_id(str(n))
    for reported in ("0" * zeros + str(n), "0" * zeros + format(n, "X"), "0" * zeros + format(n, "x")):
        cands = dlr.id_candidates(reported, "either")
        assert stored_hex in cands or stored_dec in cands
    # the exact form always comes first
    assert dlr.id_candidates("0" * zeros + format(n, "X"), "either")[0] == stored_hex


@given(st.integers(0, 2**40), st.sampled_from(sorted(dlr.STAT_WORD)))
def test_generated_receipt_text_round_trips(n: int, state: int) -> None:
    r = dlr.parse_receipt(_dsm(dlr.receipt_text(format(n, "X"), state, text="hi there")))
    assert dlr.canonical_id(r.message_id) == dlr.canonical_id(format(n, "X")) and r.state == state
    assert r.text == "hi there"


def test_record_status_mapping() -> None:
    assert dlr.RECORD_STATUS[dlr.DELIVERED] == "DELIVERED"
    assert dlr.RECORD_STATUS[dlr.EXPIRED] == "TTL_EXPIRED"
    assert all(s in dlr.RECORD_STATUS for s in dlr.FINAL_FAILURE)


def test_ids_are_read_in_another_base_only_when_configured() -> None:
    # An SMSC numbering in hex from 1: "10" is the 16th message, "a" the 10th; nothing is guessed by default.
    assert dlr.id_candidates("10") == ["10"]
    assert dlr.id_candidates("0010") == ["10"]
    assert dlr.id_candidates("10", "decimal") == ["a"]  # the receipt says decimal 10 for hex id A
    assert dlr.id_candidates("A", "hex") == ["10"]  # the receipt says hex A for decimal id 10
    assert dlr.id_candidates("10", "either") == ["10", "a", "16"]
    assert dlr.id_candidates("xyz-1", "hex") == ["xyz-1"]  # not a number: as given


def test_a_tlv_id_is_never_converted() -> None:
    sm = pdu.Sm(command_id=pdu.DELIVER_SM, esm_class=4, short_message=b"id:16 stat:DELIVRD",
                tlvs={pdu.TLV_RECEIPTED_MESSAGE_ID: b"10\0"})
    r = dlr.parse_receipt(sm)
    assert r.id_from_tlv and dlr.receipt_candidates(r, "decimal") == ["10"]
    text_only = dlr.parse_receipt(_dsm("id:16 stat:DELIVRD"))
    assert dlr.receipt_candidates(text_only, "decimal") == ["10"]


def test_part_event() -> None:
    ok = dlr.Receipt(message_id="1", state=dlr.DELIVERED)
    bad = dlr.Receipt(message_id="1", state=dlr.UNDELIVERABLE)
    assert dlr.part_event(dlr.Receipt(message_id="1", state=dlr.ENROUTE), 3, []) == dlr.BUFFERED_EVENT
    assert dlr.part_event(ok, 1, [dlr.DELIVERED]) == dlr.SUCCESS_EVENT
    assert dlr.part_event(bad, 1, [dlr.UNDELIVERABLE]) == dlr.FAILURE_EVENT
    assert dlr.part_event(ok, 2, [dlr.DELIVERED]) is None
    assert dlr.part_event(ok, 2, [dlr.DELIVERED, dlr.DELIVERED]) == dlr.SUCCESS_EVENT
    assert dlr.part_event(bad, 3, [dlr.DELIVERED, dlr.UNDELIVERABLE]) == dlr.FAILURE_EVENT
    assert dlr.part_event(bad, 3, [dlr.EXPIRED, dlr.UNDELIVERABLE]) is None  # not the first failure
    assert dlr.part_event(ok, 2, [dlr.EXPIRED, dlr.DELIVERED]) is None
