"""The SMS composer: precedence, rendering, sender validation."""

from __future__ import annotations

import pytest

from gateway import models
from gateway.channels.base import Recipient
from gateway.channels.sms_content import SmsContent, compose_sms
from gateway.errors import ContentRejected


def _render(source: str | None) -> str | None:
    return None if source is None else source.replace("{{name}}", "Ada")


def _recipient(**kw: object) -> Recipient:
    return Recipient(key="+14155550100", address="+14155550100", channel_type="SMS", **kw)  # type: ignore[arg-type]


def _template(body: str) -> models.SMSTemplateResponse:
    return models.SMSTemplateResponse(
        Body=body, CreationDate="2026-01-01", LastModifiedDate="2026-01-01", TemplateName="t", TemplateType="SMS"
    )


def test_sms_message_fields_become_content() -> None:
    config = models.DirectMessageConfiguration(
        SMSMessage=models.SMSMessage(
            Body="Hi {{name}}", MessageType="TRANSACTIONAL", OriginationNumber="+12065550123", SenderId="ACME",
            Keyword="OTP", EntityId="E1", TemplateId="T1",
        )
    )
    assert compose_sms(config, None, _recipient(), _render) == SmsContent(
        body="Hi Ada", message_type="TRANSACTIONAL", origination_number="+12065550123", sender_id="ACME",
        keyword="OTP", entity_id="E1", template_id="T1",
    )


def test_body_precedence_override_then_sms_then_default_then_template() -> None:
    t = _template("template")
    both = models.DirectMessageConfiguration(
        SMSMessage=models.SMSMessage(Body="sms"), DefaultMessage=models.DefaultMessage(Body="default")
    )
    assert compose_sms(both, t, _recipient(body_override="override"), _render).body == "override"
    assert compose_sms(both, t, _recipient(), _render).body == "sms"
    default_only = models.DirectMessageConfiguration(DefaultMessage=models.DefaultMessage(Body="default"))
    assert compose_sms(default_only, t, _recipient(), _render).body == "default"
    assert compose_sms(models.DirectMessageConfiguration(), t, _recipient(), _render).body == "template"


def test_message_type_defaults_to_promotional() -> None:
    config = models.DirectMessageConfiguration(SMSMessage=models.SMSMessage(Body="x"))
    content = compose_sms(config, None, _recipient(), _render)
    assert content.message_type == "PROMOTIONAL" and not content.transactional


@pytest.mark.parametrize(
    ("sms", "detail"),
    [
        (models.SMSMessage(), "no_body"),
        (models.SMSMessage(Body="x", SenderId="TOOLONGSENDERID"), "invalid_sender_id"),
        (models.SMSMessage(Body="x", SenderId="12345"), "invalid_sender_id"),
        (models.SMSMessage(Body="x", OriginationNumber="+1-206"), "invalid_origination_number"),
        (models.SMSMessage(Body="x", MediaUrl="https://x/y.png"), "media_url"),
        (models.SMSMessage(Body="x", Keyword="two words"), "invalid_keyword"),
        (models.SMSMessage(Body="x" * 1601), "body_too_long"),
    ],
)
def test_invalid_requests_are_content_rejected(sms: models.SMSMessage, detail: str) -> None:
    with pytest.raises(ContentRejected) as info:
        compose_sms(models.DirectMessageConfiguration(SMSMessage=sms), None, _recipient(), _render)
    assert info.value.detail == detail


def test_empty_after_render_is_rejected() -> None:
    config = models.DirectMessageConfiguration(SMSMessage=models.SMSMessage(Body="{{x}}"))
    with pytest.raises(ContentRejected):
        compose_sms(config, None, _recipient(), lambda s: "")
