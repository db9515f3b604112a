"""Late bounces and complaints, the pure parts: VERP tokens, report parsing (fixtures modelled on real reports),
correlation and the outcome a report leads to."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import errors
from gateway.bounces import correlate, reports, verp
from gateway.bounces.sent import SentMail, message_id_of
from gateway.channels import families
from gateway.channels.smtp.channel import SmtpChannel
from gateway.config import SmtpChannelConfig, from_dict
from gateway.errors import ConfigError
from gateway.outcome import Action, decide_late

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bounces"
KEY = b"k" * 32
APP = "0123456789abcdef0123456789abcdef"
MID = "a1b2c3d4e5f6-000000000001"
RCPT = "ada@example.com"
DOMAIN = "bounces.shop.test"


def fixture(name: str, *, verp_addr: str | None = None, rcpt: str = RCPT, message_id: str = MID) -> bytes:
    """A fixture report with its placeholders filled, in CRLF as it arrives over SMTP."""
    addr = verp_addr or verp.return_path("b", DOMAIN, KEY, APP, message_id, rcpt)
    text = (FIXTURES / name).read_text()
    text = text.replace("{{VERP}}", addr).replace("{{RCPT}}", rcpt)
    text = text.replace("{{MESSAGE_ID}}", f"<{message_id}@gateway.test>")
    return text.replace("\n", "\r\n").encode()


# ------------------------------------------------------------------ VERP


def test_verp_address_round_trips_and_fits_rfc5321():
    addr = verp.return_path("b", DOMAIN, KEY, APP, MID, RCPT)
    local, _, domain = addr.rpartition("@")
    assert domain == DOMAIN and len(local) <= 64 and len(addr) + 2 <= 256
    assert local == local.lower() and local.isascii()
    token = verp.decode_token(verp.split_local(local, "b") or "")
    assert (token.app, token.message_id) == (APP, MID)
    assert verp.verify(KEY, token, RCPT) and verp.verify(KEY, token, "ADA@Example.com")
    assert not verp.verify(KEY, token, "eve@example.com")
    assert not verp.verify(b"x" * 32, token, RCPT)
    # relays that fold the case of a local part do not break it
    upper = verp.decode_token((verp.split_local(local.upper(), "b") or "").upper())
    assert upper == token


def test_verp_falls_back_to_the_plain_return_path_when_it_would_not_fit():
    assert verp.return_path("b", DOMAIN, KEY, "app-" + "x" * 40, MID, RCPT) == "b@" + DOMAIN
    assert verp.return_path("bnc", DOMAIN, None, APP, MID, RCPT) == "bnc@" + DOMAIN
    assert verp.return_path("b", "d" * 250 + ".test", KEY, APP, MID, RCPT) == "b@" + "d" * 250 + ".test"


@settings(max_examples=200, deadline=None)
@given(app=st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
       mid=st.from_regex(r"[0-9a-f]{12}-[0-9a-f]{12}|[A-Za-z0-9]{1,10}", fullmatch=True),
       pos=st.integers(min_value=0), char=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
def test_a_tampered_token_never_verifies(app, mid, pos, char):
    token = verp.encode_token(KEY, app, mid, RCPT)
    good = verp.decode_token(token)
    assert (good.app, good.message_id) == (app, mid) and verp.verify(KEY, good, RCPT)
    i = pos % len(token)
    tampered = token[:i] + char + token[i + 1:]
    if tampered == token:
        return
    try:
        bad = verp.decode_token(tampered)
    except verp.VerpError:
        return
    assert not verp.verify(KEY, bad, RCPT)


@pytest.mark.parametrize("local", ["b+", "b+!!!", "b+aaaa", "b+" + "a" * 7, "x+abc", "bounce"])
def test_malformed_local_parts_are_refused(local):
    token = verp.split_local(local, "b")
    if token:
        with pytest.raises(verp.VerpError):
            verp.decode_token(token)
    else:
        assert token is None or local == "b"


def test_message_id_of_header():
    assert message_id_of(f"<{MID}@gateway.test>") == MID
    assert message_id_of("no-at-sign") is None
    assert message_id_of("<a b@c>") is None


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(("name", "status", "kind"), [
    ("rfc3464_hard.eml", "5.1.1", "hard"),
    ("gmail_hard.eml", "5.1.1", "hard"),
    ("microsoft_ndr.eml", "5.1.10", "hard"),
    ("yahoo_delayed.eml", "4.4.1", "soft"),
    ("dsn_delivered.eml", "2.0.0", None),
])
def test_dsn_fixtures(name, status, kind):
    r = reports.parse(fixture(name), null_sender=True)
    assert r.type == "dsn"
    (entry,) = r.recipients
    assert (entry.final_recipient, entry.status, entry.kind) == (RCPT, status, kind)
    assert message_id_of(r.message_id or "") == MID
    assert RCPT in r.original_to
    assert r.reporting_mta


def test_gmail_diagnostic_is_unfolded():
    (entry,) = reports.parse(fixture("gmail_hard.eml"), null_sender=True).recipients
    assert entry.diagnostic.startswith("550-5.1.1 The email account that you tried to reach does not exist. Please try")
    assert "\n" not in entry.diagnostic


@pytest.mark.parametrize("name", ["rfc5965_arf.eml", "yahoo_cfl_arf.eml", "microsoft_jmrp_redacted.eml"])
def test_arf_fixtures(name):
    r = reports.parse(fixture(name), null_sender=False)
    assert r.type == "arf" and r.feedback_type == "abuse"
    assert r.original_mail_from == verp.return_path("b", DOMAIN, KEY, APP, MID, RCPT)
    assert message_id_of(r.message_id or "") == MID


def test_plain_bounce_only_with_the_null_sender_and_one_status_class():
    r = reports.parse(fixture("qmail_plain.eml"), null_sender=True)
    assert r.type == "plain" and r.recipients[0].kind == "hard" and r.recipients[0].status == "5.1.1"
    with pytest.raises(reports.ReportError) as e:
        reports.parse(fixture("qmail_plain.eml"), null_sender=False)
    assert e.value.reason == "unparsed"
    ambiguous = b"From: x@y\r\nSubject: oops\r\n\r\nFirst 4.2.2 then 5.1.1.\r\n"
    with pytest.raises(reports.ReportError) as e:
        reports.parse(ambiguous, null_sender=True)
    assert e.value.reason == "unparsed"


def test_out_of_office_is_not_a_bounce():
    with pytest.raises(reports.ReportError) as e:
        reports.parse(fixture("out_of_office.eml"), null_sender=True)
    assert e.value.reason == "unparsed"


def test_dsn_without_recipient_blocks_is_malformed():
    with pytest.raises(reports.ReportError) as e:
        reports.parse(fixture("dsn_no_recipients.eml"), null_sender=True)
    assert e.value.reason == "malformed"


def _nested(depth: int) -> bytes:
    head = b"From: x@y\r\nMIME-Version: 1.0\r\n"
    body = b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    for i in range(depth):
        b = f"b{i}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\r\n\r\n--" + b + b"\r\n" + body
                + b"--" + b + b"--\r\n")
    return head + body


@pytest.mark.parametrize(("data", "reason"), [
    (_nested(9), "too-deep"),  # within the container budget, deeper than max_depth: found by the walk
    (_nested(5000), "too-deep"),  # refused before `email` would recurse (or spend seconds) on it
    (_nested(12), "too-deep"),  # more containers than 2 x max_depth, before parsing
    (b"From: x@y\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n\r\nx\r\n" * 500 + b"--z--\r\n",
     "too-many-parts"),
    (b"\xff\xfe\x00garbage\r\n\r\n\x00\x01", "unparsed"),
    (b"Content-Type: multipart/report; report-type=delivery-status; boundary=q\r\n\r\n--q\r\n\r\nx\r\n--q--\r\n",
     "malformed"),
    (b"Content-Type: multipart/report; report-type=disposition-notification; boundary=q\r\n\r\n--q--\r\n",
     "unsupported"),
    (b"Content-Type: multipart/report; report-type=feedback-report; boundary=q\r\n\r\n--q\r\n"
     b"Content-Type: message/feedback-report\r\n\r\nUser-Agent: x\r\n\r\n--q--\r\n", "malformed"),
])
def test_bad_reports_are_rejected_with_a_reason(data, reason):
    with pytest.raises(reports.ReportError) as e:
        reports.parse(data, null_sender=True, max_depth=8, max_parts=200)
    assert e.value.reason == reason


# ------------------------------------------------------------------ correlation and outcome

DOMAINS = {DOMAIN: correlate.Domain("b", (KEY,))}


def _match(data: bytes, records: dict[str, SentMail | None], rcpt_tos: list[str] | None = None,
           ) -> correlate.Match | correlate.Rejected:
    r = reports.parse(data, null_sender=True)
    rcpts = rcpt_tos if rcpt_tos is not None else [verp.return_path("b", DOMAIN, KEY, APP, MID, RCPT)]
    found, _ = correlate.tokens(r, rcpts, DOMAINS)
    return correlate.match(r, found, records)


def test_verp_match_uses_the_record_when_there_is_one():
    rec = SentMail(APP, MID, RCPT, "ep-1", "news@shop.test")
    m = _match(fixture("gmail_hard.eml"), {MID: rec})
    assert m == correlate.Match(rec, "verp")


def test_verp_match_without_a_record_takes_the_address_the_mac_verifies():
    m = _match(fixture("gmail_hard.eml"), {MID: None})
    assert m == correlate.Match(SentMail(APP, MID, RCPT), "verp")


def test_a_redacted_complaint_matches_through_the_record_only():
    data = fixture("microsoft_jmrp_redacted.eml")
    rec = SentMail(APP, MID, RCPT)
    assert _match(data, {MID: rec}) == correlate.Match(rec, "verp")
    data_without_message_id = data.replace(f"<{MID}@gateway.test>".encode(), b"<other@elsewhere>")
    m = _match(data_without_message_id, {MID: None})
    assert isinstance(m, correlate.Rejected) and m.reason == "unknown-message"  # unverifiable, not forged


def test_a_valid_token_replayed_for_another_address_is_forged():
    data = fixture("gmail_hard.eml", rcpt="victim@example.com",
                   verp_addr=verp.return_path("b", DOMAIN, KEY, APP, MID, RCPT))
    m = _match(data, {MID: None})
    assert isinstance(m, correlate.Rejected) and m.reason == "forged"


def test_a_token_signed_with_another_key_is_forged():
    forged = verp.return_path("b", DOMAIN, b"z" * 32, APP, MID, RCPT)
    m = _match(fixture("gmail_hard.eml", verp_addr=forged), {MID: None}, [forged])
    assert isinstance(m, correlate.Rejected) and m.reason == "forged"


def test_message_id_fallback_needs_the_recorded_recipient_named():
    plain = "b@" + DOMAIN
    rec = SentMail(APP, MID, RCPT)
    assert _match(fixture("microsoft_ndr.eml", verp_addr=plain), {MID: rec}, [plain]) == correlate.Match(rec, "message-id")
    other = SentMail(APP, MID, "someone@else.test")
    m = _match(fixture("microsoft_ndr.eml", verp_addr=plain), {MID: other}, [plain])
    assert isinstance(m, correlate.Rejected) and m.reason == "recipient-mismatch"
    m = _match(fixture("microsoft_ndr.eml", verp_addr=plain), {MID: None}, [plain])
    assert isinstance(m, correlate.Rejected) and m.reason == "unknown-message"


def test_decide_late_reuses_the_engine_decision():
    hard = decide_late(families.EMAIL, errors.RecipientRejected("x", code=550))
    assert (hard.event, hard.status, hard.action) == ("_email.hardbounce", "PERMANENT_FAILURE", Action.SUPPRESS)
    soft = decide_late(families.EMAIL, errors.TransientError("x", code=421))
    assert (soft.event, soft.status, soft.action, soft.message) == ("_email.softbounce", "TEMPORARY_FAILURE",
                                                                    Action.DONE, "x")
    complaint = decide_late(families.EMAIL, errors.Complained("y"))
    assert (complaint.event, complaint.action) == ("_email.complaint", Action.SUPPRESS)
    assert decide_late(families.SMS, errors.Complained("y")).action is Action.DONE


def test_error_for_each_report_kind():
    r = reports.parse(fixture("yahoo_delayed.eml"), null_sender=True)
    err = correlate.error_for(r, r.recipients[0])
    assert isinstance(err, errors.TransientError) and err.code == 421 and err.detail == "4.4.1"
    r = reports.parse(fixture("microsoft_ndr.eml"), null_sender=True)
    err = correlate.error_for(r, r.recipients[0])
    assert isinstance(err, errors.RecipientRejected) and err.code == 550 and "RecipientNotFound" in err.message
    r = reports.parse(fixture("dsn_delivered.eml"), null_sender=True)
    assert correlate.error_for(r, r.recipients[0]) is None
    r = reports.parse(fixture("yahoo_cfl_arf.eml"), null_sender=False)
    err = correlate.error_for(r, None)
    assert isinstance(err, errors.Complained) and "abuse" in err.message


def test_a_return_path_with_a_missing_or_short_verp_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("GW_TEST_VERP_KEY", raising=False)
    with pytest.raises(ConfigError, match="verp_key_env"):
        SmtpChannel(SmtpChannelConfig(return_path_domain=DOMAIN, verp_key_env="GW_TEST_VERP_KEY"))
    monkeypatch.setenv("GW_TEST_VERP_KEY", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        SmtpChannel(SmtpChannelConfig(return_path_domain=DOMAIN, verp_key_env="GW_TEST_VERP_KEY"))
    with pytest.raises(ConfigError, match="return_path_domain"):
        from_dict({"channels": [{"kind": "smtp", "return_path_domain": "not a domain"}]})
    with pytest.raises(ConfigError, match="verp_prefix"):
        from_dict({"channels": [{"kind": "smtp", "verp_prefix": "bounces-and-more"}]})
