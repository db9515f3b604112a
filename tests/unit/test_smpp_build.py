"""The channel's submit_sm bodies: the one-part fast path is byte-identical to the codec, multi-part UDH fields
are right (T21), on Hypothesis-generated texts."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.base import Outbound, Recipient, Runtime
from gateway.channels.smpp import channel as smpp_channel
from gateway.channels.smpp import pdu
from gateway.channels.sms_content import SmsContent
from gateway.config import SmppChannelConfig


class _Redis:
    def register_script(self, script: str) -> Any:
        return None


def _channel(**kw: Any) -> smpp_channel.SmppChannel:
    cfg = msgspec.convert({"system_id": "x", **kw}, SmppChannelConfig)
    return smpp_channel.SmppChannel(cfg, Runtime(_Redis(), None))


def _msg(body: str, sender: str = "ACME", transactional: bool = True) -> Outbound:
    return Outbound(message_id="m", app="a", recipient=Recipient(key="k", address="+447700900123", channel_type="SMS"),
                    content=SmsContent(body=body, sender_id=sender,
                                       message_type="TRANSACTIONAL" if transactional else "PROMOTIONAL"))


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=150, deadline=None)
@given(texts, st.sampled_from(["ACME", "+14155550199", "12345"]), st.booleans())
def test_one_part_fast_path_matches_the_codec(body: str, sender: str, transactional: bool) -> None:
    ch = _channel(validity_period_s=3600)
    bodies, dst, _ = ch.build(_msg(body, sender, transactional))
    sms = [pdu.decode_sm(pdu.SUBMIT_SM, 0, b) for b in bodies]
    assert dst == "447700900123"
    if len(bodies) == 1:
        sm = sms[0]
        assert pdu.sm_body(sm) == bodies[0]
        assert sm.priority_flag == (1 if transactional else 0) and sm.validity_period == "000000010000000R"
        assert sm.registered_delivery == 1 and sm.esm_class == 0
    else:
        refs = {sm.short_message[3] for sm in sms}
        assert len(refs) == 1  # one reference for all parts
        assert [sm.short_message[:3] for sm in sms] == [b"\x05\x00\x03"] * len(sms)
        assert [sm.short_message[4] for sm in sms] == [len(sms)] * len(sms)
        assert [sm.short_message[5] for sm in sms] == list(range(1, len(sms) + 1))
        assert all(sm.esm_class == 0x40 for sm in sms)
