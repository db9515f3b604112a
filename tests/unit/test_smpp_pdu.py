"""SMPP PDU codec: golden byte vectors (cross-checked once against smpplib), round trips, framing, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.smpp import pdu

SUBMIT = bytes.fromhex(
    "00000035" "00000004" "00000000" "00000007"  # header
    "00" "05" "00" "41434d4500" "01" "01" "313431353535353031303000"  # service, src ton/npi/addr, dst
    "00" "00" "00" "00" "00" "01" "00" "00" "00" "05" "48656c6c6f"  # esm..sm_length, "Hello"
)
BIND_TRX = bytes.fromhex("0000001c000000090000000000000001737973007077000034000000")


def test_submit_sm_golden_vector() -> None:
    sm = pdu.Sm(command_id=pdu.SUBMIT_SM, sequence_number=7, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1,
                dest_addr_npi=1, destination_addr="14155550100", registered_delivery=1, short_message=b"Hello")
    assert pdu.encode(sm) == SUBMIT
    assert pdu.decode(SUBMIT) == sm


def test_bind_transceiver_golden_vector() -> None:
    bind = pdu.Bind(command_id=pdu.BIND_TRANSCEIVER, sequence_number=1, system_id="sys", password="pw")
    assert pdu.encode(bind) == BIND_TRX
    assert pdu.decode(BIND_TRX) == bind


def test_simple_and_resp_vectors() -> None:
    assert pdu.encode(pdu.Simple(command_id=pdu.ENQUIRE_LINK, sequence_number=1)) == bytes.fromhex(
        "00000010000000150000000000000001")
    resp = pdu.SmResp(command_id=pdu.SUBMIT_SM_RESP, sequence_number=2, message_id="1A2B")
    assert pdu.encode(resp) == bytes.fromhex("00000015800000040000000000000002" "3141324200")
    err = pdu.SmResp(command_id=pdu.SUBMIT_SM_RESP, command_status=0x58, sequence_number=3)
    assert pdu.encode(err) == bytes.fromhex("00000010800000040000005800000003")  # error resp without a body
    assert pdu.decode(pdu.encode(err)) == err


def test_bind_resp_with_tlv_round_trip() -> None:
    r = pdu.BindResp(command_id=pdu.BIND_TRANSCEIVER_RESP, sequence_number=1, system_id="smsc",
                     tlvs={pdu.TLV_SC_INTERFACE_VERSION: b"\x34"})
    assert pdu.decode(pdu.encode(r)) == r


def test_message_payload_sets_sm_length_zero() -> None:
    sm = pdu.Sm(command_id=pdu.SUBMIT_SM, destination_addr="1", tlvs={pdu.TLV_MESSAGE_PAYLOAD: b"x" * 300})
    raw = pdu.encode(sm)
    body = raw[16:]
    # sm_length is the octet right before the TLVs; the TLV follows immediately
    tlv_at = body.index(b"\x04\x24\x01\x2c")
    assert body[tlv_at - 1] == 0
    assert pdu.decode(raw) == sm
    with pytest.raises(pdu.PduError):
        pdu.encode(pdu.Sm(command_id=pdu.SUBMIT_SM, short_message=b"a", tlvs={pdu.TLV_MESSAGE_PAYLOAD: b"b"}))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (bytes.fromhex("0000000f0000001500000000000000"), "at least 16"),
        (bytes.fromhex("00000014000000040000000000000001" "41424344"), "not NUL-terminated"),
        (bytes.fromhex("00000010000000990000000000000001"), "unknown command_id"),
        (bytes.fromhex("00000011000000150000000000000001"), "does not match"),
    ],
)
def test_malformed_pdus_raise_specific_errors(raw: bytes, message: str) -> None:
    with pytest.raises(pdu.PduError, match=message):
        pdu.decode(raw)


def test_truncated_short_message_and_tlv() -> None:
    body = SUBMIT[16:-5] + b"Hel"
    with pytest.raises(pdu.PduError, match="short_message runs past"):
        pdu.decode_sm(pdu.SUBMIT_SM, 1, body)
    with pytest.raises(pdu.PduError, match="TLV header is truncated"):
        pdu.decode_sm(pdu.SUBMIT_SM, 1, SUBMIT[16:] + b"\x00\x1e")


def test_encoder_rejects_oversized_fields() -> None:
    with pytest.raises(pdu.PduError, match="destination_addr is longer than 20"):
        pdu.encode(pdu.Sm(command_id=pdu.SUBMIT_SM, destination_addr="1" * 21))
    with pytest.raises(pdu.PduError, match="ASCII"):
        pdu.encode(pdu.Sm(command_id=pdu.SUBMIT_SM, source_addr="Zürich"))


def test_framer_reassembles_any_split() -> None:
    stream = SUBMIT + BIND_TRX + SUBMIT
    for cut in range(1, len(stream)):
        f = pdu.Framer()
        frames = f.feed(stream[:cut]) + f.feed(stream[cut:])
        assert [c for c, _, _, _ in frames] == [pdu.SUBMIT_SM, pdu.BIND_TRANSCEIVER, pdu.SUBMIT_SM]


def test_framer_rejects_out_of_step_stream() -> None:
    with pytest.raises(pdu.PduError, match="out of step"):
        pdu.Framer().feed(bytes.fromhex("00000004000000150000000000000001"))


addr = st.text(alphabet="0123456789", max_size=20)
octet = st.integers(0, 255)


@settings(max_examples=150, deadline=None)
@given(
    src=addr, dst=addr, esm=octet, dc=octet, rd=octet, seq=st.integers(1, 0x7FFFFFFF),
    sm=st.binary(max_size=254),
    tlvs=st.dictionaries(st.integers(0x1400, 0x3FFF), st.binary(max_size=40), max_size=3),
)
def test_sm_round_trip(src: str, dst: str, esm: int, dc: int, rd: int, seq: int, sm: bytes,
                       tlvs: dict[int, bytes]) -> None:
    for cid in (pdu.SUBMIT_SM, pdu.DELIVER_SM):
        p = pdu.Sm(command_id=cid, sequence_number=seq, source_addr=src, destination_addr=dst, esm_class=esm,
                   data_coding=dc, registered_delivery=rd, short_message=sm, tlvs=tlvs)
        assert pdu.decode(pdu.encode(p)) == p
