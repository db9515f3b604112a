import base64
import email
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import _fast
from gateway.channels.smtp.mime import (
    EmailContent,
    address_header,
    assemble,
    bare_address,
    check_header,
    encode_header,
    seven_bit,
)
from gateway.errors import ContentRejected

IMPLS = _fast.implementations("mime")
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=400)


def canonical(text: str) -> bytes:
    """A text part's bytes in canonical form: every line break CRLF (RFC 2046 §4.1.1), nothing dropped."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode()


def unstuff(data: bytes) -> bytes:
    return (data[1:] if data.startswith(b"..") else data).replace(b"\r\n..", b"\r\n.")


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage) and not msg.defects
    return msg


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
        decoded = base64.b64decode(body.replace(b"\r\n", b""))
    else:
        decoded = b"\r\n".join(ln[1:] if ln.startswith(b"..") else ln for ln in body.split(b"\r\n"))
    assert decoded == canonical(text)  # byte-exact, the last line break included, whatever the encoding


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


@given(text=st.none() | TEXT, html=st.none() | TEXT, allow_8bit=st.booleans(), stuff=st.booleans())
def test_assembled_parts_parse_back_byte_exact(text, html, allow_8bit, stuff):
    """Python's `email` parser is the oracle: every part's content is the text in canonical form, its trailing
    line breaks included. A lone part loses nothing either: its last line break is the one before the final dot."""
    c = EmailContent(sender="a@shop.test", from_header=None, recipient="x@example.com", text=text, html=html)
    data = assemble(c, "a@shop.test", "mid-1", "gw.test", allow_8bit, stuff)
    assert allow_8bit or data.isascii()
    wire = (unstuff(data) if stuff else data) + b"\r\n"  # the line break that DATA's dot (or BDAT) adds
    msg = parse(wire)
    parts = [(p, t) for p, t in (("plain", text), ("html", html)) if t is not None] or [("plain", "")]
    for subtype, body in parts:
        part = msg.get_body((subtype,))
        assert part is not None
        expected = canonical(body)
        if len(parts) == 1 and part["Content-Transfer-Encoding"] != "base64" and not expected.endswith(b"\r\n"):
            expected += b"\r\n"  # a message is made of lines: its last line gains the break it lacked
        assert part.get_payload(decode=True) == expected


@pytest.mark.parametrize("value,header", [
    ("Zoë Café <news@shop.test>", "=?utf-8?b?Wm/DqyBDYWbDqQ==?= <news@shop.test>"),
    ('"Zoë, Café" <news@shop.test>', "=?utf-8?b?Wm/DqywgQ2Fmw6k=?= <news@shop.test>"),
    ("Shop <news@shop.test>", "Shop <news@shop.test>"),
    ("Shop, Inc. <news@shop.test>", '"Shop, Inc." <news@shop.test>'),
    ('"Shop, Inc" <news@shop.test>', '"Shop, Inc" <news@shop.test>'),
    ('Say "hi" <news@shop.test>', '"Say \\"hi\\"" <news@shop.test>'),
    ("=?utf-8?q?x?= <news@shop.test>", '"=?utf-8?q?x?=" <news@shop.test>'),
    ("<news@shop.test>", "news@shop.test"),
    ("news@shop.test", "news@shop.test"),
])
def test_address_headers_encode_the_display_name_only(value, header):
    assert address_header(value) == header


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"), max_size=80))
def test_any_display_name_parses_back(name):
    name = name.strip()
    c = EmailContent(sender="news@shop.test", from_header=f"{name} <news@shop.test>", recipient="x@example.com",
                     text="hi")
    data = assemble(c, "news@shop.test", "mid-1", "gw.test", True, False) + b"\r\n"
    msg = parse(data)
    (addr,) = msg["From"].addresses
    expected = name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' and '"' not in name[1:-1] else name
    assert addr.addr_spec == "news@shop.test"
    line = data.split(b"\r\n", 1)[0].decode()
    if not line.startswith("From: =?"):
        assert addr.display_name == expected  # atoms or a quoted-string
    else:
        # Encoded-words: Python's address parser treats their decoded whitespace as folding space and keeps the
        # space between adjacent words (RFC 2047 §6.2 ignores it), so the exact check uses the RFC 2047 decoder.
        phrase = line[len("From: "):line.rindex(" <")]
        assert str(email.header.make_header(email.header.decode_header(phrase))) == expected
        assert "".join(addr.display_name.split()) == "".join(expected.split())


def test_raw_email_is_converted_to_7bit_for_a_relay_without_8bitmime():
    raw = ("From: Zoë <z@shop.test>\nSubject: Grüße\nMIME-Version: 1.0\n"
           'Content-Type: multipart/alternative; boundary="b"\n\n--b\n'
           "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße\nzwei\n\n"
           "--b\nContent-Type: application/octet-stream\n\n").encode() + b"\xff\x00\n--b--\n"
    c = EmailContent(sender=None, from_header=None, recipient="x@example.com", raw=raw)
    assert assemble(c, "z@shop.test", "m", "gw.test", allow_8bit=True) == raw.replace(b"\n", b"\r\n")[:-2]
    data = assemble(c, "z@shop.test", "m", "gw.test", allow_8bit=False, stuff=False)
    assert data.isascii()
    msg = parse(data + b"\r\n")
    assert msg["Subject"] == "Grüße" and msg["From"].addresses[0].display_name == "Zoë"
    text, blob = (p for p in msg.walk() if not p.is_multipart())
    assert text.get_payload(decode=True) == "Grüße\r\nzwei\r\n".encode()
    assert blob.get_payload(decode=True) == b"\xff\x00"
    assert seven_bit(b"Subject: plain\r\n\r\nascii\r\n") == b"Subject: plain\r\n\r\nascii\r\n"
