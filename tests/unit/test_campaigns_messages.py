"""A treatment's run as MessageRequests: Pinpoint's campaign message shapes mapped to SendMessages' own, batches
of at most 100 endpoints, campaign attributes in Context, and requests the stream codec carries unchanged."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway import models
from gateway.campaigns.errors import CampaignValidationError
from gateway.campaigns.messages import direct_configuration, run_requests
from gateway.campaigns.plan import Content
from gateway.campaigns.validate import check_campaign
from gateway.stream import codec

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_campaign_messages_become_send_messages_shapes() -> None:
    cfg = direct_configuration(models.MessageConfiguration(
        EmailMessage=models.CampaignEmailMessage(FromAddress="news@example.com", Title="Sale", HtmlBody="<b>50%</b>",
                                                 Body="50%", Headers=[models.MessageHeader(Name="X-Tag", Value="a")]),
        SMSMessage=models.CampaignSmsMessage(Body="Sale", MessageType="PROMOTIONAL", OriginationNumber="+15550100"),
        GCMMessage=models.Message(Title="T", Body="B", ImageSmallIconUrl="https://i.test/s.png", TimeToLive=60,
                                  JsonBody='{"deal": "50", "n": 2}'),
        APNSMessage=models.Message(Body="B", MediaUrl="https://i.test/m.png", SilentPush=False),
        DefaultMessage=models.Message(Body="D", Url="https://x.test", Action="URL"),
    ))
    assert cfg.EmailMessage == models.EmailMessage(FromAddress="news@example.com", SimpleEmail=models.SimpleEmail(
        Subject=models.SimpleEmailPart(Data="Sale"), HtmlPart=models.SimpleEmailPart(Data="<b>50%</b>"),
        TextPart=models.SimpleEmailPart(Data="50%"), Headers=[models.MessageHeader(Name="X-Tag", Value="a")]))
    assert cfg.SMSMessage == models.SMSMessage(Body="Sale", MessageType="PROMOTIONAL", OriginationNumber="+15550100")
    assert cfg.GCMMessage == models.GCMMessage(Title="T", Body="B", SmallImageIconUrl="https://i.test/s.png",
                                               TimeToLive=60, Data={"deal": "50", "n": "2"})
    assert cfg.APNSMessage == models.APNSMessage(Body="B", MediaUrl="https://i.test/m.png", SilentPush=False)
    assert cfg.DefaultPushNotificationMessage == models.DefaultPushNotificationMessage(Body="D", Url="https://x.test", Action="URL")
    # content from a template: the message carries only the sender
    only_from = direct_configuration(models.MessageConfiguration(EmailMessage=models.CampaignEmailMessage(FromAddress="a@example.com")))
    assert only_from.EmailMessage == models.EmailMessage(FromAddress="a@example.com")


def test_requests_are_batches_with_the_campaign_context() -> None:
    content = Content(models.MessageConfiguration(SMSMessage=models.CampaignSmsMessage(Body="hi")),
                      models.TemplateConfiguration(EmailTemplate=models.Template(Name="welcome")), None,
                      models.Schedule(StartTime="IMMEDIATE"))
    ids = [f"e{i}" for i in range(250)]
    reqs = run_requests(content, ids, campaign_id="c1", activity_id="a1", treatment_id=2)
    assert [len(r.Endpoints or {}) for r in reqs] == [100, 100, 50]
    assert [e for r in reqs for e in (r.Endpoints or {})] == ids
    assert all(r.Context == {"campaign_id": "c1", "campaign_activity_id": "a1", "treatment_id": "2"} for r in reqs)
    assert reqs[0].TemplateConfiguration == content.templates and reqs[0].TraceId == "c1:a1"
    fields = codec.encode_request("app", reqs[2])  # as Redis hands the entry back to a worker: bytes keys
    entry = codec.decode("1-0", {k.encode() if isinstance(k, str) else k: v for k, v in fields.items()})
    assert entry.request == reqs[2]
    assert run_requests(content, [], campaign_id="c1", activity_id="a1", treatment_id=0) == []


def test_json_body_must_be_a_json_object() -> None:
    for bad in ("[1]", "not json", "[" * 100_000):
        req = models.WriteCampaignRequest(SegmentId="s", Schedule=models.Schedule(StartTime="IMMEDIATE"),
                                          MessageConfiguration=models.MessageConfiguration(GCMMessage=models.Message(JsonBody=bad)))
        with pytest.raises(CampaignValidationError, match=r"GCMMessage\.JsonBody: must be a JSON object"):
            check_campaign(req, now=NOW)
