"""SendMessages end to end: boto3 → API → ingest stream → worker → sandbox SMTP server, and the MessageResponse
the worker pushes back comes out of boto3."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiServer, SmtpEngineServer, error_of


def test_send_messages_email_reaches_the_sandbox(smtp_engine: SmtpEngineServer) -> None:
    pp = smtp_engine.client()
    app_id = pp.create_app(CreateApplicationRequest={"Name": "e2e"})["ApplicationResponse"]["Id"]
    resp = pp.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"ada@example.com": {"ChannelType": "EMAIL", "Substitutions": {"name": ["Ada"]}},
                      "bounce@example.com": {"ChannelType": "EMAIL"}},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "Shop <news@shop.test>",
            "SimpleEmail": {"Subject": {"Data": "Hello {{name}}"}, "TextPart": {"Data": "Hi {{name}}"}},
            "Substitutions": {"name": ["friend"]}}},
    })["MessageResponse"]
    assert resp["ApplicationId"] == app_id and resp["RequestId"]
    ok, bounced = resp["Result"]["ada@example.com"], resp["Result"]["bounce@example.com"]
    assert (ok["DeliveryStatus"], ok["StatusCode"]) == ("SUCCESSFUL", 200) and ok["MessageId"]
    assert bounced["DeliveryStatus"] == "PERMANENT_FAILURE"
    (sender, rcpt, data), = smtp_engine.sink.messages
    assert (sender, rcpt) == ("news@shop.test", "ada@example.com")
    assert b"Subject: Hello Ada" in data


def test_send_users_messages_through_the_engine(smtp_engine: SmtpEngineServer) -> None:
    pp = smtp_engine.client()
    app_id = pp.create_app(CreateApplicationRequest={"Name": "e2e"})["ApplicationResponse"]["Id"]
    from gateway.endpoints.store import EndpointStore
    from gateway.models import EndpointResponse, EndpointUser

    smtp_engine.call(EndpointStore(smtp_engine.redis).put(app_id, EndpointResponse(
        Id="ep-1", Address="grace@example.com", ChannelType="EMAIL", User=EndpointUser(UserId="u1"))))
    resp = pp.send_users_messages(ApplicationId=app_id, SendUsersMessageRequest={
        "Users": {"u1": {}},
        "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "s"}, "TextPart": {"Data": "t"}}}},
    })["SendUsersMessageResponse"]
    assert resp["ApplicationId"] == app_id
    assert resp["Result"]["u1"]["ep-1"]["DeliveryStatus"] == "SUCCESSFUL"
    assert [m[1] for m in smtp_engine.sink.messages] == ["grace@example.com"]


def test_no_worker_answer_is_a_500_naming_the_queued_request(redis_server: Any, sync_redis: Any) -> None:
    server = ApiServer(redis_server.url, None, with_fakes=False)
    server.start()
    try:
        from botocore import UNSIGNED

        server.services.messages.timeout_s = 0.2  # type: ignore[union-attr]
        pp = server.client(signature_version=UNSIGNED)
        app_id = pp.create_app(CreateApplicationRequest={"Name": "x"})["ApplicationResponse"]["Id"]
        code, status, message = error_of(lambda: pp.send_messages(ApplicationId=app_id, MessageRequest={
            "Addresses": {"a@example.com": {"ChannelType": "EMAIL"}},
            "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "s"}}}}}))
        assert (code, status) == ("InternalServerErrorException", 500) and "queued" in message
        assert sync_redis.xlen("gateway:send") == 1
    finally:
        server.stop()
