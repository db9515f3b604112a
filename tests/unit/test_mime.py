import email
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import _fast
from gateway.channels.smtp.mime import EmailContent, assemble, bare_address, check_header, encode_header
from gateway.errors import ContentRejected

IMPLS = _fast.implementations("mime")


@given(st.text(), st.booleans())
def test_twins_agree_on_encode_part(text, allow_8bit):
    results = {impl.encode_part(text, allow_8bit) for impl in IMPLS}
    assert len(results) == 1


@given(st.binary())
def test_twins_agree_on_to_data(data):
    assert len({impl.to_data(data) for impl in IMPLS}) == 1


@pytest.mark.parametrize("impl", IMPLS)
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=2000))
def test_encoded_part_round_trips_and_is_dot_stuffed(impl, text):
    cte, body = impl.encode_part(text, True)
    for line in body.split(b"\r\n"):
        assert len(line) <= 998
        assert b"\r" not in line and b"\n" not in line
    if cte == b"base64":
        import base64
        assert base64.b64decode(body.replace(b"\r\n", b"")).decode() == text
    else:
        unstuffed = b"\r\n".join(ln[1:] if ln.startswith(b"..") else ln for ln in body.split(b"\r\n"))
        flat = text.replace("\r\n", "\n").replace("\r", "\n")
        norm = flat[:-1] if flat.endswith("\n") else flat  # exactly one final line break is dropped (DATA adds it)
        assert unstuffed.decode().replace("\r\n", "\n") == norm


def test_assembled_message_parses_as_multipart_alternative():
    c = EmailContent(sender="a@shop.test", from_header="Shop <a@shop.test>", recipient="x@example.com",
                     subject="Olá mundo", text="plain ünïcode", html="<p>" + "x" * 1200 + "</p>",
                     reply_to=("r@shop.test",), headers=(("X-Campaign", "c1"),))
    data = assemble(c, "a@shop.test", "mid-1", "gw.test", allow_8bit=False)
    msg = email.message_from_bytes(data.replace(b"\r\n..", b"\r\n."), policy=policy.default)
    assert msg["Subject"] == "Olá mundo"
    assert msg["Message-ID"] == "<mid-1@gw.test>"
    assert msg["Reply-To"] == "r@shop.test" and msg["X-Campaign"] == "c1"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text.get_content().strip() == "plain ünïcode"
    assert html.get_content().strip() == "<p>" + "x" * 1200 + "</p>"


def test_header_injection_and_bad_addresses_are_rejected():
    with pytest.raises(ContentRejected):
        check_header("Subject", "hi\r\nBcc: victim@example.com")
    for bad in ["no-at-sign", "a@b@c", "x@y\r\nRCPT TO:<z@w>", "<>", "a b@c.d"]:
        with pytest.raises(ContentRejected):
            bare_address(bad)
    assert bare_address('"Shop, Inc" <orders@shop.test>') == "orders@shop.test"


def test_encoded_words_split_on_character_boundaries():
    enc = encode_header("é" * 40)
    assert all(w.startswith("=?utf-8?b?") for w in enc.split(" "))
    assert str(email.header.make_header(email.header.decode_header(enc))) == "é" * 40
