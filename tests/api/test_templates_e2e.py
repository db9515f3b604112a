# ruff: noqa: E501
"""Message templates end to end: boto3's pinpoint client → API → TemplateAdapter → the real template store in
Redis, for all five types; and one SendMessages whose TemplateConfiguration picks a stored email template that a
worker renders and delivers to the sandbox SMTP sink."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from tests.api.conftest import ACCOUNT, REGION, SmtpEngineServer, error_of

ARN = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:templates"


class Kind:
    """How one template type is spelled in boto3, with two versions of content and a part that holds text."""

    def __init__(self, type_: str, method: str, request: str, response: str, created: str,
                 v1: dict[str, Any], v2: dict[str, Any], text: tuple[str, ...]) -> None:
        self.type = type_
        self.method = method  # create_<method>, get_<method>, ...
        self.request = request
        self.response = response
        self.created = created
        self.v1 = v1
        self.v2 = v2
        self.text = text  # path to a Handlebars text member inside the request (empty: the type has none)

    def create(self, pp: Any, name: str, body: dict[str, Any]) -> Any:
        return getattr(pp, f"create_{self.method}")(TemplateName=name, **{self.request: body})

    def get(self, pp: Any, name: str, **kw: Any) -> dict[str, Any]:
        return dict(getattr(pp, f"get_{self.method}")(TemplateName=name, **kw)[self.response])

    def update(self, pp: Any, name: str, body: dict[str, Any], **kw: Any) -> Any:
        return getattr(pp, f"update_{self.method}")(TemplateName=name, **{self.request: body}, **kw)

    def delete(self, pp: Any, name: str, **kw: Any) -> Any:
        return getattr(pp, f"delete_{self.method}")(TemplateName=name, **kw)

    def with_text(self, text: str) -> dict[str, Any]:
        """v1 with its Handlebars member replaced by `text`."""
        body = json.loads(json.dumps(self.v1))
        node = body
        for key in self.text[:-1]:
            node = node[key]
        node[self.text[-1]] = text
        return body


KINDS = [
    Kind("EMAIL", "email_template", "EmailTemplateRequest", "EmailTemplateResponse", "CreateTemplateMessageBody",
         {"Subject": "Hi {{User.UserAttributes.FirstName}}", "HtmlPart": "<p>{{#if Attributes.vip}}VIP{{else}}Hello{{/if}}</p>",
          "TextPart": "Hello", "TemplateDescription": "first", "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "friend"}',
          "Headers": [{"Name": "X-Campaign", "Value": "{{upper Attributes.campaign}}"}]},
         {"Subject": "Second {{Name}}", "HtmlPart": "<p>v2</p>", "TemplateDescription": "second"},
         ("HtmlPart",)),
    Kind("SMS", "sms_template", "SMSTemplateRequest", "SMSTemplateResponse", "CreateTemplateMessageBody",
         {"Body": "Code {{Code}} for {{capitalize Name}}", "DefaultSubstitutions": '{"Name": "you"}', "TemplateDescription": "first"},
         {"Body": "v2 {{Code}}"},
         ("Body",)),
    Kind("PUSH", "push_template", "PushNotificationTemplateRequest", "PushNotificationTemplateResponse", "CreateTemplateMessageBody",
         {"Default": {"Title": "Hi {{Name}}", "Body": "{{Count}} new", "Action": "OPEN_APP"},
          "APNS": {"Title": "Apple {{Name}}", "Body": "b", "Sound": "default"},
          "GCM": {"Title": "Android {{Name}}", "Body": "b", "ImageUrl": "https://x.test/{{Img}}.png"},
          "DefaultSubstitutions": '{"Name": "you"}'},
         {"Default": {"Title": "v2", "Body": "v2 body"}},
         ("Default", "Body")),
    Kind("VOICE", "voice_template", "VoiceTemplateRequest", "VoiceTemplateResponse", "CreateTemplateMessageBody",
         {"Body": "Your code is {{Code}}", "LanguageCode": "en-US", "VoiceId": "Joanna", "DefaultSubstitutions": '{"Code": "0"}'},
         {"Body": "Second {{Code}}", "LanguageCode": "en-GB", "VoiceId": "Amy"},
         ("Body",)),
    Kind("INAPP", "in_app_template", "InAppTemplateRequest", "InAppTemplateResponse", "TemplateCreateMessageBody",
         {"Layout": "TOP_BANNER", "CustomConfig": {"k": "v"},
          "Content": [{"BackgroundColor": "#ffffff", "BodyConfig": {"Alignment": "LEFT", "Body": "Hello", "TextColor": "#000000"},
                       "HeaderConfig": {"Alignment": "CENTER", "Header": "Sale", "TextColor": "#000000"}}]},
         {"Layout": "BOTTOM_BANNER",
          "Content": [{"BodyConfig": {"Alignment": "RIGHT", "Body": "Bye", "TextColor": "#111111"}}]},
         ()),
]
BY_TYPE = {k.type: k for k in KINDS}


def subset(doc: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(doc.get(k) == v for k, v in expected.items())


@pytest.mark.parametrize("kind", KINDS, ids=[k.type for k in KINDS])
def test_create_get_update_versions_and_delete(live_pp: Any, kind: Kind) -> None:
    pp = live_pp
    created = kind.create(pp, "welcome", {**kind.v1, "tags": {"team": "growth"}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    body = created[kind.created]
    arn = f"{ARN}/welcome/{kind.type}"
    assert body["Arn"] == arn and body["Message"] and body["RequestID"]
    assert body["RequestID"] == created["ResponseMetadata"]["RequestId"]

    v1 = kind.get(pp, "welcome")
    assert subset(v1, kind.v1), v1
    assert (v1["Arn"], v1["TemplateName"], v1["TemplateType"], v1["Version"]) == (arn, "welcome", kind.type, "1")
    assert v1["tags"] == {"team": "growth"}
    assert v1["CreationDate"].endswith("Z") and v1["LastModifiedDate"] == v1["CreationDate"]
    assert kind.get(pp, "welcome", Version="1") == v1

    # a new version: latest + 1, not active
    assert kind.update(pp, "welcome", kind.v2, CreateNewVersion=True)["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert kind.get(pp, "welcome") == v1
    v2 = kind.get(pp, "welcome", Version="2")
    assert subset(v2, kind.v2) and v2["Version"] == "2" and v2["tags"] == {"team": "growth"}
    for member in set(kind.v1) - set(kind.v2):  # a version holds only what its request held
        assert member not in v2, member

    # in place: the latest version, without `version` or with `version` naming it; CreationDate is kept
    kind.update(pp, "welcome", {**kind.v2, "TemplateDescription": "edited"})
    edited = kind.get(pp, "welcome", Version="2")
    assert edited["TemplateDescription"] == "edited" and edited["CreationDate"] == v2["CreationDate"]
    assert edited["LastModifiedDate"] >= v2["LastModifiedDate"]
    kind.update(pp, "welcome", {**kind.v2, "TemplateDescription": "v2 edited"}, Version="2")
    assert kind.get(pp, "welcome", Version="2")["TemplateDescription"] == "v2 edited"
    # Pinpoint refuses a `version` that is not the latest ("If specified for an update operation, this value must
    # match the identifier for the latest existing version"), and a `version` with create-new-version=true
    code, status, message = error_of(lambda: kind.update(pp, "welcome", {**kind.v1, "TemplateDescription": "v1 edited"}, Version="1"))
    assert (code, status) == ("BadRequestException", 400) and "not the latest version" in message and "(2)" in message, message
    assert "Request" not in message  # it is about the version parameter, not the template request
    code, status, message = error_of(lambda: kind.update(pp, "welcome", kind.v1, CreateNewVersion=True, Version="2"))
    assert (code, status) == ("BadRequestException", 400) and "create-new-version" in message and "version must not" in message, message
    assert kind.get(pp, "welcome") == v1 and kind.get(pp, "welcome", Version="2")["TemplateDescription"] == "v2 edited"
    assert [v["Version"] for v in pp.list_template_versions(TemplateName="welcome", TemplateType=kind.type)["TemplateVersionsResponse"]["Item"]] == ["1", "2"]
    # update ignores tags (as Pinpoint has since 2023: tags are managed with TagResource)
    kind.update(pp, "welcome", {**kind.v2, "tags": {"other": "x"}}, Version="2")
    assert kind.get(pp, "welcome", Version="2")["tags"] == {"team": "growth"}

    # the active version
    assert pp.update_template_active_version(TemplateName="welcome", TemplateType=kind.type, TemplateActiveVersionRequest={"Version": "2"})["ResponseMetadata"]["HTTPStatusCode"] == 200
    active = kind.get(pp, "welcome")
    assert active["Version"] == "2" and subset(active, kind.v2)
    listed = pp.list_templates(TemplateType=kind.type)["TemplatesResponse"]["Item"]
    assert [(t["TemplateName"], t["Version"], t["Arn"], t["tags"]) for t in listed] == [("welcome", "2", arn, {"team": "growth"})]

    # tags through TagResource on the template's ARN are the template's tags
    pp.tag_resource(ResourceArn=arn, TagsModel={"tags": {"env": "prod"}})
    assert kind.get(pp, "welcome")["tags"] == {"team": "growth", "env": "prod"}

    # deleting versions: not the active one while others exist
    code, status, message = error_of(lambda: kind.delete(pp, "welcome", Version="2"))
    assert (code, status) == ("BadRequestException", 400) and "active version" in message
    assert kind.delete(pp, "welcome", Version="1")["ResponseMetadata"]["HTTPStatusCode"] == 202
    code, status, message = error_of(lambda: kind.get(pp, "welcome", Version="1"))
    assert (code, status) == ("NotFoundException", 404) and "version 1" in message
    assert [v["Version"] for v in pp.list_template_versions(TemplateName="welcome", TemplateType=kind.type)["TemplateVersionsResponse"]["Item"]] == ["2"]
    # a new version after a delete continues from the latest number
    kind.update(pp, "welcome", kind.v1, CreateNewVersion=True)
    assert kind.get(pp, "welcome", Version="3")["Version"] == "3"

    # deleting the template removes every version and its tags
    assert kind.delete(pp, "welcome")["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert error_of(lambda: kind.get(pp, "welcome"))[:2] == ("NotFoundException", 404)
    assert error_of(lambda: kind.get(pp, "welcome", Version="3"))[0] == "NotFoundException"
    assert pp.list_templates()["TemplatesResponse"]["Item"] == []
    assert pp.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {}
    # the name is free again
    kind.create(pp, "welcome", kind.v2)
    again = kind.get(pp, "welcome")
    assert again["Version"] == "1" and again["tags"] == {} and subset(again, kind.v2)


def test_active_version_latest_and_updates_after_the_latest_version_is_deleted(live_pp: Any) -> None:
    pp, email = live_pp, BY_TYPE["EMAIL"]
    email.create(pp, "promo", email.v1)
    for n in (2, 3):
        email.update(pp, "promo", {**email.v2, "TemplateDescription": f"v{n}"}, CreateNewVersion=True)

    def activate(version: str) -> Any:
        return pp.update_template_active_version(TemplateName="promo", TemplateType="EMAIL", TemplateActiveVersionRequest={"Version": version})

    # `latest` is Pinpoint's documented value for the latest version
    assert activate("latest")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert email.get(pp, "promo")["Version"] == "3"
    # with the latest version deleted, an update overwrites the latest one that exists, and `latest` names it
    activate("1")
    email.delete(pp, "promo", Version="3")
    email.update(pp, "promo", {**email.v2, "TemplateDescription": "v2 edited"})
    assert email.get(pp, "promo", Version="2")["TemplateDescription"] == "v2 edited"
    email.update(pp, "promo", {**email.v2, "TemplateDescription": "v2 again"}, Version="2")
    activate("latest")
    active = email.get(pp, "promo")
    assert (active["Version"], active["TemplateDescription"]) == ("2", "v2 again")
    # a new version still continues after the highest number ever given
    email.update(pp, "promo", email.v2, CreateNewVersion=True)
    assert email.get(pp, "promo", Version="4")["Version"] == "4"
    # a Version that is neither `latest` nor a number is refused naming the member that carried it
    for bad in ("x", "Latest", "0"):
        code, status, message = error_of(functools.partial(activate, bad))
        assert (code, status) == ("BadRequestException", 400) and message.startswith("TemplateActiveVersionRequest.Version must be 'latest' or"), message


def test_deleting_the_last_version_deletes_the_template(live_pp: Any) -> None:
    kind = BY_TYPE["SMS"]
    kind.create(live_pp, "once", {**kind.v1, "tags": {"a": "b"}})
    kind.delete(live_pp, "once", Version="1")
    assert error_of(lambda: kind.get(live_pp, "once"))[0] == "NotFoundException"
    assert live_pp.list_tags_for_resource(ResourceArn=f"{ARN}/once/SMS")["TagsModel"]["tags"] == {}


def test_same_name_in_two_types_are_two_templates(live_pp: Any) -> None:
    BY_TYPE["EMAIL"].create(live_pp, "shared", BY_TYPE["EMAIL"].v1)
    BY_TYPE["SMS"].create(live_pp, "shared", BY_TYPE["SMS"].v1)
    BY_TYPE["SMS"].delete(live_pp, "shared")
    assert BY_TYPE["EMAIL"].get(live_pp, "shared")["Subject"] == BY_TYPE["EMAIL"].v1["Subject"]


def test_list_templates_pages_prefix_and_type(live_pp: Any) -> None:
    pp = live_pp
    names = {"EMAIL": ["alpha", "beta", "welcome-1", "welcome-2"], "SMS": ["alpha", "welcome-sms"], "PUSH": ["welcome-push"],
             "VOICE": ["zulu"], "INAPP": ["welcome-inapp"]}
    for type_, ns in names.items():
        for n in ns:
            BY_TYPE[type_].create(pp, n, BY_TYPE[type_].v1)
    everything = sorted((n, t) for t, ns in names.items() for n in ns)

    seen: list[tuple[str, str]] = []
    token: str | None = None
    pages = 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = pp.list_templates(PageSize="3", **kw)["TemplatesResponse"]
        pages += 1
        assert 1 <= len(page["Item"]) <= 3
        seen += [(t["TemplateName"], t["TemplateType"]) for t in page["Item"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert seen == everything and pages == 3  # 9 templates in pages of 3: no empty page at the end

    welcome = pp.list_templates(Prefix="welcome")["TemplatesResponse"]
    assert [(t["TemplateName"], t["TemplateType"]) for t in welcome["Item"]] == [p for p in everything if p[0].startswith("welcome")]
    assert "NextToken" not in welcome
    first = pp.list_templates(Prefix="welcome-", PageSize="2")["TemplatesResponse"]
    rest = pp.list_templates(Prefix="welcome-", PageSize="2", NextToken=first["NextToken"])["TemplatesResponse"]
    assert [t["TemplateName"] for t in first["Item"] + rest["Item"]] == ["welcome-1", "welcome-2", "welcome-inapp", "welcome-push"]
    last = pp.list_templates(Prefix="welcome-", PageSize="2", NextToken=rest["NextToken"])["TemplatesResponse"]
    assert [t["TemplateName"] for t in last["Item"]] == ["welcome-sms"] and "NextToken" not in last
    emails = pp.list_templates(TemplateType="EMAIL", Prefix="welcome")["TemplatesResponse"]["Item"]
    assert [t["TemplateName"] for t in emails] == ["welcome-1", "welcome-2"]
    assert {t["TemplateType"] for t in pp.list_templates(TemplateType="SMS")["TemplatesResponse"]["Item"]} == {"SMS"}
    page = pp.list_templates(TemplateType="EMAIL", PageSize="1")["TemplatesResponse"]
    assert [t["TemplateName"] for t in page["Item"]] == ["alpha"]
    page = pp.list_templates(TemplateType="EMAIL", PageSize="3", NextToken=page["NextToken"])["TemplatesResponse"]
    assert [t["TemplateName"] for t in page["Item"]] == ["beta", "welcome-1", "welcome-2"] and "NextToken" not in page
    item = pp.list_templates(Prefix="zulu")["TemplatesResponse"]["Item"][0]
    assert (item["Arn"], item["Version"], item["TemplateType"]) == (f"{ARN}/zulu/VOICE", "1", "VOICE")
    assert item["DefaultSubstitutions"] == BY_TYPE["VOICE"].v1["DefaultSubstitutions"] and item["CreationDate"]
    assert pp.list_templates(Prefix="nothing")["TemplatesResponse"]["Item"] == []

    for params, words in (({"NextToken": "not-a-token"}, "NextToken"), ({"PageSize": "0"}, "PageSize"),
                          ({"TemplateType": "FAX"}, "template-type")):
        code, status, message = error_of(lambda p=params: pp.list_templates(**p))
        assert (code, status) == ("BadRequestException", 400) and words in message, message


def test_list_template_versions_pages(live_pp: Any) -> None:
    pp = live_pp
    kind = BY_TYPE["EMAIL"]
    kind.create(pp, "news", kind.v1)
    for i in range(2, 6):
        kind.update(pp, "news", {**kind.v2, "TemplateDescription": f"v{i}"}, CreateNewVersion=True)
    first = pp.list_template_versions(TemplateName="news", TemplateType="EMAIL", PageSize="2")["TemplateVersionsResponse"]
    assert [v["Version"] for v in first["Item"]] == ["1", "2"]
    v1 = first["Item"][0]
    assert (v1["TemplateName"], v1["TemplateType"], v1["TemplateDescription"]) == ("news", "EMAIL", "first")
    assert v1["DefaultSubstitutions"] == kind.v1["DefaultSubstitutions"] and v1["CreationDate"] and v1["LastModifiedDate"]
    second = pp.list_template_versions(TemplateName="news", TemplateType="EMAIL", PageSize="2", NextToken=first["NextToken"])["TemplateVersionsResponse"]
    third = pp.list_template_versions(TemplateName="news", TemplateType="EMAIL", PageSize="2", NextToken=second["NextToken"])["TemplateVersionsResponse"]
    assert [v["Version"] for v in second["Item"]] == ["3", "4"]
    assert [(v["Version"], v["TemplateDescription"]) for v in third["Item"]] == [("5", "v5")] and "NextToken" not in third
    # the type in the path is case-insensitive, as Pinpoint's template-type is
    assert len(pp.list_template_versions(TemplateName="news", TemplateType="email")["TemplateVersionsResponse"]["Item"]) == 5
    code, _, message = error_of(lambda: pp.list_template_versions(TemplateName="news", TemplateType="EMAIL", NextToken="x"))
    assert code == "BadRequestException" and "NextToken" in message
    assert error_of(lambda: pp.list_template_versions(TemplateName="news", TemplateType="SMS"))[:2] == ("NotFoundException", 404)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.text], ids=[k.type for k in KINDS if k.text])
def test_bad_templates_are_refused_at_save_time_with_line_and_column(live_pp: Any, kind: Kind) -> None:
    pp = live_pp
    part = ".".join(kind.text)
    # an unclosed block: the message names the part and where the block opened
    code, status, message = error_of(lambda: kind.create(pp, "bad", kind.with_text("Hi\n  {{#if vip}}yes")))
    assert (code, status) == ("BadRequestException", 400), message
    assert message.startswith(f"Invalid {kind.request}.{part}: line 2, column ") and "opened at line 2, column 3" in message, message
    # an unknown helper, with a suggestion
    code, status, message = error_of(lambda: kind.create(pp, "bad", kind.with_text("{{upperr Name}}")))
    assert (code, status) == ("BadRequestException", 400)
    assert message == f"Invalid {kind.request}.{part}: line 1, column 1: unknown helper 'upperr' (did you mean 'upper'?)", message
    # nothing was stored
    assert error_of(lambda: kind.get(pp, "bad"))[0] == "NotFoundException"
    assert pp.list_templates()["TemplatesResponse"]["Item"] == []
    # a bad update leaves the stored version as it was, and creates no version
    kind.create(pp, "good", kind.v1)
    for kw in ({}, {"CreateNewVersion": True}):
        code, _, message = error_of(lambda kw=kw: kind.update(pp, "good", kind.with_text("{{/if}}"), **kw))
        assert code == "BadRequestException" and "line 1, column 1" in message, message
    assert subset(kind.get(pp, "good"), kind.v1)
    assert len(pp.list_template_versions(TemplateName="good", TemplateType=kind.type)["TemplateVersionsResponse"]["Item"]) == 1


def test_error_cases(live_pp: Any, raw_pp: Any) -> None:
    pp = live_pp
    email = BY_TYPE["EMAIL"]
    # unknown templates
    for call in (lambda: email.get(pp, "ghost"), lambda: email.update(pp, "ghost", email.v1),
                 lambda: email.delete(pp, "ghost"),
                 lambda: pp.list_template_versions(TemplateName="ghost", TemplateType="EMAIL"),
                 lambda: pp.update_template_active_version(TemplateName="ghost", TemplateType="EMAIL", TemplateActiveVersionRequest={"Version": "1"})):
        code, status, message = error_of(call)
        assert (code, status) == ("NotFoundException", 404) and "ghost" in message, message
    # duplicate create: Pinpoint's model lists no ConflictException for Create*Template, so a BadRequestException
    email.create(pp, "dup", email.v1)
    code, status, message = error_of(lambda: email.create(pp, "dup", email.v2))
    assert (code, status) == ("BadRequestException", 400) and "already exists" in message, message
    assert email.get(pp, "dup")["Subject"] == email.v1["Subject"]
    # versions that do not exist or are not numbers
    for call in (lambda: email.get(pp, "dup", Version="7"), lambda: email.delete(pp, "dup", Version="7"),
                 lambda: email.update(pp, "dup", email.v2, Version="7"),
                 lambda: pp.update_template_active_version(TemplateName="dup", TemplateType="EMAIL", TemplateActiveVersionRequest={"Version": "7"})):
        code, status, message = error_of(call)
        assert (code, status) == ("NotFoundException", 404) and "version 7" in message, message
    for call in (lambda: email.get(pp, "dup", Version="latest"), lambda: email.delete(pp, "dup", Version="0"),
                 lambda: pp.update_template_active_version(TemplateName="dup", TemplateType="EMAIL", TemplateActiveVersionRequest={"Version": "x"})):
        code, status, message = error_of(call)
        assert (code, status) == ("BadRequestException", 400) and "positive integer" in message, message
    code, _, message = error_of(lambda: email.create(pp, "hdr", {"Subject": "x", "Headers": [{"Name": "X-Tag", "Value": "a {{upperr x}}"}]}))
    assert code == "BadRequestException" and message.startswith("Invalid EmailTemplateRequest.Headers.X-Tag: line 1, column 3: "), message
    # store-level checks: DefaultSubstitutions must be a JSON object, Pinpoint's size quotas, names
    code, _, message = error_of(lambda: email.create(pp, "subs", {"Subject": "x", "DefaultSubstitutions": "[1]"}))
    assert code == "BadRequestException" and "DefaultSubstitutions" in message, message
    code, _, message = error_of(lambda: BY_TYPE["SMS"].create(pp, "long", {"Body": "x" * 1601}))
    assert code == "BadRequestException" and "1600" in message, message
    assert error_of(lambda: email.create(raw_pp, "no spaces", email.v1))[0] == "BadRequestException"
    code, _, message = error_of(lambda: email.create(pp, "tagged", {**email.v1, "tags": {"aws:x": "y"}}))
    assert code == "BadRequestException" and "aws:" in message
    assert error_of(lambda: email.get(pp, "tagged"))[0] == "NotFoundException"
    # the request shape is validated before the store sees it
    code, _, message = error_of(lambda: raw_pp.create_sms_template(TemplateName="t", SMSTemplateRequest={"Body": 5}))
    assert code == "BadRequestException" and "SMSTemplateRequest.Body" in message, message


def test_send_messages_renders_a_stored_email_template(smtp_engine: SmtpEngineServer) -> None:
    pp = smtp_engine.client()
    app = pp.create_app(CreateApplicationRequest={"Name": "shop"})["ApplicationResponse"]["Id"]
    pp.create_email_template(TemplateName="welcome", EmailTemplateRequest={
        "Subject": "Welcome, {{capitalize FirstName}}",
        "HtmlPart": "<p>Hi {{FirstName}} from {{Shop}}: {{#each Items}}[{{this}}]{{/each}}</p>",
        "TextPart": "Hi {{FirstName}} from {{Shop}}",
        "DefaultSubstitutions": json.dumps({"Shop": "Acme", "FirstName": "friend"}),
    })
    pp.update_email_template(TemplateName="welcome", CreateNewVersion=True, EmailTemplateRequest={
        "Subject": "Second edition for {{FirstName}}", "TextPart": "v2", "DefaultSubstitutions": '{"FirstName": "pal"}'})

    def send(template: dict[str, str], addresses: dict[str, Any]) -> dict[str, Any]:
        resp = pp.send_messages(ApplicationId=app, MessageRequest={
            "Addresses": addresses,
            "MessageConfiguration": {"EmailMessage": {"FromAddress": "news@shop.test"}},
            "TemplateConfiguration": {"EmailTemplate": template},
        })["MessageResponse"]
        return dict(resp["Result"])

    before = len(smtp_engine.sink.messages)
    result = send({"Name": "welcome"}, {
        "ada@example.com": {"ChannelType": "EMAIL", "Substitutions": {"FirstName": ["ada"], "Items": ["a", "b"]}},
        "bob@example.com": {"ChannelType": "EMAIL"},
    })
    assert {a: (r["DeliveryStatus"], r["StatusCode"]) for a, r in result.items()} == {
        "ada@example.com": ("SUCCESSFUL", 200), "bob@example.com": ("SUCCESSFUL", 200)}
    mails = {rcpt: data for _sender, rcpt, data in smtp_engine.sink.messages[before:]}
    assert set(mails) == {"ada@example.com", "bob@example.com"}
    # the active version (1): the recipient's Substitutions win over DefaultSubstitutions, which fill the rest
    assert b"Subject: Welcome, Ada" in mails["ada@example.com"]
    assert b"<p>Hi ada from Acme: [a][b]</p>" in mails["ada@example.com"]
    assert b"Hi ada from Acme" in mails["ada@example.com"]
    assert b"Subject: Welcome, Friend" in mails["bob@example.com"]
    assert b"<p>Hi friend from Acme: </p>" in mails["bob@example.com"]
    assert all(sender == "news@shop.test" for sender, _r, _d in smtp_engine.sink.messages[before:])

    # a named version, with that version's DefaultSubstitutions
    before = len(smtp_engine.sink.messages)
    result = send({"Name": "welcome", "Version": "2"}, {"bob@example.com": {"ChannelType": "EMAIL"}})
    assert result["bob@example.com"]["DeliveryStatus"] == "SUCCESSFUL"
    (_s, _r, data), = smtp_engine.sink.messages[before:]
    assert b"Subject: Second edition for pal" in data

    # an unknown template is that recipient's permanent failure; nothing is sent
    before = len(smtp_engine.sink.messages)
    result = send({"Name": "ghost"}, {"ada@example.com": {"ChannelType": "EMAIL"}})
    assert (result["ada@example.com"]["DeliveryStatus"], result["ada@example.com"]["StatusCode"]) == ("PERMANENT_FAILURE", 404)
    assert len(smtp_engine.sink.messages) == before
