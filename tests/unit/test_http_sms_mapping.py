"""HTTP provider engine, sans-I/O: body templates, the Twilio preset, and every response mapping."""

from __future__ import annotations

import email.utils
import urllib.parse

import msgspec
import pytest

from gateway import config as gwconfig
from gateway.channels import http_provider as hp
from gateway.channels.http_template import FieldMap, compile_template, json_path, render_template
from gateway.errors import (
    AuthFailed,
    ConfigError,
    ContentRejected,
    PermanentError,
    ProviderTimeout,
    ProviderUnavailable,
    RecipientRejected,
    Throttled,
    TransientError,
)

ENV = {"TW_TOKEN": "secret-token", "API_KEY": "k-123"}


def twilio(**kw: object) -> hp.Provider:
    cfg = gwconfig.HttpSmsChannelConfig(
        preset="twilio", account_sid="AC123", auth=gwconfig.HttpAuthConfig(kind="basic", secret_env="TW_TOKEN"), **kw
    )
    return hp.resolve(cfg, environ=ENV)


def generic(**kw: object) -> hp.Provider:
    base: dict[str, object] = {
        "url": "https://sms.example.com/v1/send",
        "fields": {"to": "${to}", "text": "${body}"},
        "message_id_path": "messages.0.id",
        "error_code_path": "error.code",
        "error_message_path": "error.message",
    }
    base.update(kw)
    return hp.resolve(msgspec.convert(base, gwconfig.HttpSmsChannelConfig), environ=ENV)


# -- templates ---------------------------------------------------------------------------------------------------


def test_template_compiles_literals_vars_and_dollar_escape() -> None:
    parts = compile_template("Hi ${to}, $$5 ${body}!", {"to", "body"})
    assert render_template(parts, {"to": "+1", "body": "x"}) == "Hi +1, $5 x!"


@pytest.mark.parametrize("src", ["${nope}", "cost $5", "${to", "$ {to}"])
def test_template_rejects_unknown_vars_and_stray_dollar(src: str) -> None:
    with pytest.raises(ConfigError):
        compile_template(src, {"to"})


def test_tenant_values_are_data_not_templates() -> None:
    # A body that looks like a placeholder or JSON stays literal text, and is encoded, never interpreted.
    fm = FieldMap({"text": "${body}", "meta.to": "${to}"}, {"body", "to"})
    body = '${to} "},{"admin":true} {{constructor.constructor}}'
    out = fm.render({"body": body, "to": "+15550001111"})
    assert out == {"text": body, "meta": {"to": "+15550001111"}}
    assert msgspec.json.decode(msgspec.json.encode(out))["text"] == body


def test_single_variable_field_without_value_is_omitted() -> None:
    fm = FieldMap({"To": "${to}", "StatusCallback": "${status_callback}", "Tag": "x-${status_callback}"},
                  {"to", "status_callback"})
    assert fm.render({"to": "+1", "status_callback": None}) == {"To": "+1", "Tag": "x-"}


def test_json_path() -> None:
    data = {"messages": [{"id": "m1"}], "a": {"b": 0}}
    assert json_path(data, "messages.0.id") == "m1"
    assert json_path(data, "a.b") == 0
    assert json_path(data, "messages.3.id") is None
    assert json_path(data, "a.b.c") is None
    assert json_path(None, "x") is None


# -- Twilio preset ----------------------------------------------------------------------------------------------


def test_twilio_preset_url_auth_and_form_body() -> None:
    p = twilio(status_callback_url="https://gw.example.com/sms/status")
    assert p.url == "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
    assert p.form and p.message_id_path == "sid"
    assert p.headers["Authorization"] == "Basic " + __import__("base64").b64encode(b"AC123:secret-token").decode()
    assert p.headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = hp.encode_body(p, {"to": "+14255550100", "from": "+12065550100", "body": "héllo & bye",
                              "status_callback": "https://gw.example.com/sms/status?app=a&mid=m"})
    assert dict(urllib.parse.parse_qsl(body.decode())) == {
        "To": "+14255550100", "From": "+12065550100", "Body": "héllo & bye",
        "StatusCallback": "https://gw.example.com/sms/status?app=a&mid=m",
    }


def test_twilio_voice_preset_uses_calls_resource() -> None:
    cfg = gwconfig.VoiceChannelConfig(preset="twilio", account_sid="AC9", auth=gwconfig.HttpAuthConfig(
        kind="basic", secret_env="TW_TOKEN"))
    p = hp.resolve(cfg, voice=True, environ=ENV)
    assert p.url.endswith("/Accounts/AC9/Calls.json")
    assert hp.encode_body(p, {"to": "+1", "from": "+2", "twiml": "<Response/>"}) == (
        b"To=%2B1&From=%2B2&Twiml=%3CResponse%2F%3E")


def test_preset_needs_account_sid_and_secret() -> None:
    with pytest.raises(ConfigError, match="account_sid"):
        hp.resolve(gwconfig.HttpSmsChannelConfig(preset="twilio"), environ=ENV)
    with pytest.raises(ConfigError, match="MISSING"):
        hp.resolve(gwconfig.HttpSmsChannelConfig(preset="twilio", account_sid="AC1", auth=gwconfig.HttpAuthConfig(
            kind="basic", secret_env="MISSING")), environ=ENV)


def test_auth_kinds() -> None:
    assert generic(auth={"kind": "bearer", "secret_env": "API_KEY"}).headers["Authorization"] == "Bearer k-123"
    assert generic(auth={"kind": "header", "secret_env": "API_KEY", "header_name": "X-Api-Key"}).headers[
        "X-Api-Key"] == "k-123"
    assert "Authorization" not in generic().headers


def test_generic_json_body_and_header_crlf_rejected() -> None:
    p = generic()
    assert msgspec.json.decode(hp.encode_body(p, {"to": "+1", "body": "hi"})) == {"to": "+1", "text": "hi"}
    with pytest.raises(ConfigError, match="CR or LF"):
        generic(headers={"X-A": "a\r\nInjected: 1"})
    with pytest.raises(ConfigError, match="unknown variable"):
        generic(fields={"to": "${recipient}"})


# -- response mapping -------------------------------------------------------------------------------------------


def test_success_returns_message_id() -> None:
    assert hp.classify(generic(), 200, None, b'{"messages":[{"id":"abc"}]}') == "abc"
    assert hp.classify(twilio(), 201, None, b'{"sid":"SM1","status":"queued"}') == "SM1"
    assert hp.classify(generic(), 202, None, b"") is None


def test_success_path_must_hold_success_value() -> None:
    p = generic(success_path="status", success_values=["ok"], error_codes={"E1": "recipient"})
    assert hp.classify(p, 200, None, b'{"status":"ok","messages":[{"id":"x"}]}') == "x"
    with pytest.raises(PermanentError):
        hp.classify(p, 200, None, b'{"status":"error"}')
    with pytest.raises(RecipientRejected):
        hp.classify(p, 200, None, b'{"status":"error","error":{"code":"E1"}}')


@pytest.mark.parametrize(
    ("status", "body", "cls", "retry_after"),
    [
        (429, b"{}", Throttled, 7.0),
        (503, b"{}", ProviderUnavailable, 7.0),
        (500, b"{}", ProviderUnavailable, None),
        (502, b"not json", ProviderUnavailable, None),
        (401, b"{}", AuthFailed, None),
        (403, b"{}", AuthFailed, None),
        (404, b"{}", RecipientRejected, None),
        (410, b"{}", RecipientRejected, None),
        (413, b"{}", ContentRejected, None),
        (422, b"{}", ContentRejected, None),
        (408, b"{}", ProviderTimeout, 7.0),
        (400, b"{}", PermanentError, None),
        (409, b"{}", PermanentError, None),
    ],
)
def test_status_mapping(status: int, body: bytes, cls: type[Exception], retry_after: float | None) -> None:
    with pytest.raises(cls) as info:
        hp.classify(generic(), status, "7", body)
    err = info.value
    assert type(err) is cls
    assert err.code == status  # type: ignore[attr-defined]
    if retry_after is not None:
        assert err.retry_after == retry_after  # type: ignore[attr-defined]
    assert err.retryable == (cls in (Throttled, ProviderUnavailable, ProviderTimeout))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("21610", 400, hp.OptedOut),
        ("21211", 400, RecipientRejected),
        ("21614", 400, RecipientRejected),
        ("21617", 400, ContentRejected),
        ("20003", 401, AuthFailed),
        ("20429", 429, Throttled),
        ("99999", 400, PermanentError),
    ],
)
def test_twilio_error_codes(code: str, status: int, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        hp.classify(twilio(), status, None, b'{"code":%s,"message":"m","status":%d}' % (code.encode(), status))
    assert type(info.value) is cls
    assert info.value.detail.startswith(code)  # type: ignore[attr-defined]


def test_opted_out_is_permanent_recipient_error() -> None:
    assert issubclass(hp.OptedOut, RecipientRejected)
    assert not hp.OptedOut.retryable


def test_operator_error_code_overrides_preset() -> None:
    p = twilio(error_codes={"21211": "transient"})
    with pytest.raises(TransientError):
        hp.classify(p, 400, None, b'{"code":21211}')


def test_retry_after_forms() -> None:
    assert hp.parse_retry_after("120") == 120.0
    assert hp.parse_retry_after(None) is None
    assert hp.parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_060, usegmt=True)
    assert hp.parse_retry_after(date, now=1_000_000) == 60.0
    assert hp.parse_retry_after(date, now=2_000_000) == 0.0


def test_config_union_accepts_http_sms_and_voice() -> None:
    cfg = gwconfig.from_dict({"channels": [
        {"kind": "http_sms", "preset": "twilio", "account_sid": "AC1", "transactional_connections": "8"},
        {"kind": "voice", "url": "https://voice.example.com/calls", "fields": {"to": "${to}"}},
    ]})
    assert isinstance(cfg.channels[0], gwconfig.HttpSmsChannelConfig)
    assert cfg.channels[0].transactional_connections == 8
    assert isinstance(cfg.channels[1], gwconfig.VoiceChannelConfig)
    with pytest.raises(ConfigError, match="bogus"):
        gwconfig.from_dict({"channels": [{"kind": "http_sms", "bogus": 1}]})


# -- properties -------------------------------------------------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.text(), st.text())
def test_any_tenant_value_survives_json_and_form_encoding_unchanged(body: str, to: str) -> None:
    p_json = generic()
    p_form = twilio()
    assert msgspec.json.decode(hp.encode_body(p_json, {"to": to, "body": body})) == {"to": to, "text": body}
    pairs = dict(urllib.parse.parse_qsl(hp.encode_body(p_form, {"to": to, "from": "+1", "body": body}).decode(),
                                        keep_blank_values=True))
    assert pairs["Body"] == body and pairs["To"] == to


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_compile_never_executes_and_either_parses_or_raises_config_error(src: str) -> None:
    try:
        parts = compile_template(src, {"to"})
    except ConfigError:
        return
    assert render_template(parts, {"to": "X"}) is not None
