import pytest
from hypothesis import given, strategies as st

from gateway import errors
from gateway.channels.smtp.replies import ProtocolViolation, Reply, ReplyParser, classify


def test_multiline_and_split_replies():
    p = ReplyParser()
    assert p.feed(b"250-host\r\n250-PIPELINING\r") == []
    (r,) = p.feed(b"\n250 8BITMIME\r\n")
    assert r == Reply(250, None, "host\nPIPELINING\n8BITMIME")
    assert p.feed(b"550 5.1.1 No such user\r\n354 go\r\n") == [Reply(550, "5.1.1", "No such user"), Reply(354, None, "go")]


@given(st.lists(st.tuples(st.integers(200, 599), st.text(alphabet="abc xyz", max_size=20)), min_size=1, max_size=5),
       st.integers(1, 7))
def test_replies_parse_the_same_however_the_bytes_are_split(replies, chunk):
    data = b"".join(b"%d %s\r\n" % (c, t.encode()) for c, t in replies)
    p = ReplyParser()
    got = []
    for i in range(0, len(data), chunk):
        got += p.feed(data[i:i + chunk])
    assert [r.code for r in got] == [c for c, _ in replies]


def test_garbage_is_a_protocol_violation():
    with pytest.raises(ProtocolViolation):
        ReplyParser().feed(b"hello there\r\n")


@pytest.mark.parametrize("command,code,enh,expected", [
    ("RCPT", 421, "4.7.0", errors.ProviderUnavailable),
    ("RCPT", 450, "4.2.1", errors.Throttled),
    ("RCPT", 451, "4.7.28", errors.Throttled),
    ("RCPT", 451, "4.3.0", errors.TransientError),
    ("RCPT", 452, "4.2.2", errors.TransientError),
    ("RCPT", 552, "5.5.3", errors.TransientError),  # RFC 821's "too many recipients"
    ("RCPT", 550, "5.1.1", errors.RecipientRejected),
    ("RCPT", 550, None, errors.RecipientRejected),
    ("BODY", 552, "5.3.4", errors.ContentRejected),
    ("BODY", 554, "5.6.0", errors.ContentRejected),
    ("RCPT", 554, "5.7.1", errors.PermanentError),
    ("MAIL", 535, "5.7.8", errors.AuthFailed),
])
def test_classification(command, code, enh, expected):
    err = classify(command, Reply(code, enh, "text"))
    assert type(err) is expected
    assert err.code == code and err.detail == enh
    assert err.retryable == issubclass(expected, errors.TransientError)
