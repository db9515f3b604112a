# ruff: noqa: E501
"""Operations served through other stores' protocols (in-memory fakes here): the HTTP side of each, its
success shape as boto3 parses it, its errors."""

from __future__ import annotations

from typing import Any

from gateway import models
from tests.api.conftest import ApiServer, error_of

EMAIL_MSG = {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "Hi"}, "TextPart": {"Data": "Hello"}}}}


def test_send_messages_reaches_the_engine_with_decoded_shapes(pp: Any, raw_pp: Any, app_id: str, api_server: ApiServer) -> None:
    resp = pp.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"a@example.com": {"ChannelType": "EMAIL"}, "fail@example.com": {"ChannelType": "EMAIL"}},
        "MessageConfiguration": EMAIL_MSG, "TraceId": "t1"})
    result = resp["MessageResponse"]["Result"]
    assert result["a@example.com"]["DeliveryStatus"] == "SUCCESSFUL"
    assert result["fail@example.com"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    app, req = api_server.services.messages.requests[-1]
    assert app == app_id and isinstance(req, models.MessageRequest) and req.TraceId == "t1"
    assert req.MessageConfiguration.EmailMessage.SimpleEmail.Subject.Data == "Hi"
    code, _, message = error_of(lambda: raw_pp.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"a@example.com": {"ChannelType": "PIGEON"}}, "MessageConfiguration": EMAIL_MSG}))
    assert code == "BadRequestException" and "Addresses[...].ChannelType" in message and "PIGEON" in message
    code, _, message = error_of(lambda: pp.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {f"u{i}@example.com": {"ChannelType": "EMAIL"} for i in range(101)}, "MessageConfiguration": EMAIL_MSG}))
    assert code == "BadRequestException" and "100" in message
    code, _, message = error_of(lambda: pp.send_messages(ApplicationId=app_id, MessageRequest={"MessageConfiguration": EMAIL_MSG}))
    assert code == "BadRequestException" and "Addresses" in message


def test_send_users_messages(pp: Any, app_id: str) -> None:
    resp = pp.send_users_messages(ApplicationId=app_id, SendUsersMessageRequest={
        "Users": {"u1": {}}, "MessageConfiguration": EMAIL_MSG})["SendUsersMessageResponse"]
    assert resp["Result"]["u1"]["ep-u1"]["DeliveryStatus"] == "SUCCESSFUL"


def test_otp_and_phone(pp: Any, app_id: str) -> None:
    sent = pp.send_otp_message(ApplicationId=app_id, SendOTPMessageRequestParameters={
        "BrandName": "Shop", "Channel": "SMS", "DestinationIdentity": "+15555550100",
        "OriginationIdentity": "+15555550199", "ReferenceId": "r1"})["MessageResponse"]
    assert sent["Result"]["+15555550100"]["DeliveryStatus"] == "SUCCESSFUL"
    ok = pp.verify_otp_message(ApplicationId=app_id, VerifyOTPMessageRequestParameters={
        "DestinationIdentity": "+15555550100", "Otp": "123456", "ReferenceId": "r1"})
    assert ok["VerificationResponse"]["Valid"] is True
    phone = pp.phone_number_validate(NumberValidateRequest={"PhoneNumber": "+15555550100"})["NumberValidateResponse"]
    assert phone["PhoneType"] == "MOBILE"


def test_endpoints_and_users(pp: Any, app_id: str) -> None:
    accepted = pp.update_endpoint(ApplicationId=app_id, EndpointId="e1", EndpointRequest={
        "ChannelType": "EMAIL", "Address": "a@example.com", "User": {"UserId": "u1"}})
    assert accepted["ResponseMetadata"]["HTTPStatusCode"] == 202 and accepted["MessageBody"]["Message"] == "Accepted"
    pp.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": [
        {"Id": "e2", "ChannelType": "SMS", "Address": "+15555550100", "User": {"UserId": "u1"}}]})
    assert pp.get_endpoint(ApplicationId=app_id, EndpointId="e1")["EndpointResponse"]["Address"] == "a@example.com"
    users = pp.get_user_endpoints(ApplicationId=app_id, UserId="u1")["EndpointsResponse"]["Item"]
    assert {e["Id"] for e in users} == {"e1", "e2"}
    assert pp.delete_endpoint(ApplicationId=app_id, EndpointId="e2")["EndpointResponse"]["Id"] == "e2"
    assert error_of(lambda: pp.get_endpoint(ApplicationId=app_id, EndpointId="e2"))[:2] == ("NotFoundException", 404)
    assert len(pp.delete_user_endpoints(ApplicationId=app_id, UserId="u1")["EndpointsResponse"]["Item"]) == 1
    assert error_of(lambda: pp.get_user_endpoints(ApplicationId=app_id, UserId="u1"))[0] == "NotFoundException"
    code, _, message = error_of(lambda: pp.update_endpoint(ApplicationId=app_id, EndpointId="e3", EndpointRequest={
        "ChannelType": "EMAIL", "Address": "nope"}))
    assert code == "BadRequestException" and "Address" in message
    removed = pp.remove_attributes(ApplicationId=app_id, AttributeType="endpoint-custom-attributes",
                                   UpdateAttributesRequest={"Blacklist": ["color"]})["AttributesResource"]
    assert removed == {"ApplicationId": app_id, "AttributeType": "endpoint-custom-attributes", "Attributes": ["color"]}
    assert error_of(lambda: pp.remove_attributes(ApplicationId=app_id, AttributeType="junk",
                                                 UpdateAttributesRequest={}))[0] == "BadRequestException"
    assert error_of(lambda: pp.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": []}))[0] == "BadRequestException"


def test_templates(pp: Any) -> None:
    created = pp.create_email_template(TemplateName="welcome", EmailTemplateRequest={"Subject": "Hi {{User.Name}}", "HtmlPart": "<p>x</p>"})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["CreateTemplateMessageBody"]["Arn"].endswith("templates/welcome/EMAIL")
    assert error_of(lambda: pp.create_email_template(TemplateName="welcome", EmailTemplateRequest={}))[:2] == ("BadRequestException", 400)
    got = pp.get_email_template(TemplateName="welcome")["EmailTemplateResponse"]
    assert got["Subject"] == "Hi {{User.Name}}" and got["TemplateType"] == "EMAIL"
    assert pp.update_email_template(TemplateName="welcome", CreateNewVersion=True, EmailTemplateRequest={"Subject": "v2"})["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert pp.list_templates(PageSize="10", TemplateType="EMAIL")["TemplatesResponse"]["Item"][0]["TemplateName"] == "welcome"
    assert pp.list_template_versions(TemplateName="welcome", TemplateType="EMAIL")["TemplateVersionsResponse"]["Item"][0]["Version"] == "1"
    pp.update_template_active_version(TemplateName="welcome", TemplateType="EMAIL", TemplateActiveVersionRequest={"Version": "2"})
    assert pp.get_email_template(TemplateName="welcome")["EmailTemplateResponse"]["Version"] == "2"
    code, _, message = error_of(lambda: pp.list_template_versions(TemplateName="welcome", TemplateType="fax"))
    assert code == "BadRequestException" and "template-type" in message
    assert pp.delete_email_template(TemplateName="welcome")["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert error_of(lambda: pp.get_email_template(TemplateName="welcome"))[0] == "NotFoundException"
    assert error_of(lambda: pp.update_email_template(TemplateName="welcome", EmailTemplateRequest={}))[0] == "NotFoundException"


def test_segments_and_jobs(pp: Any, app_id: str) -> None:
    seg = pp.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "vip"})["SegmentResponse"]
    assert seg["Name"] == "vip" and seg["Version"] == 1
    pp.update_segment(ApplicationId=app_id, SegmentId=seg["Id"], WriteSegmentRequest={"Name": "vip2"})
    assert pp.get_segment(ApplicationId=app_id, SegmentId=seg["Id"])["SegmentResponse"]["Name"] == "vip2"
    assert pp.get_segment_version(ApplicationId=app_id, SegmentId=seg["Id"], Version="1")["SegmentResponse"]["Name"] == "vip"
    assert len(pp.get_segment_versions(ApplicationId=app_id, SegmentId=seg["Id"])["SegmentsResponse"]["Item"]) == 2
    assert len(pp.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"]) == 1
    assert error_of(lambda: pp.get_segment_version(ApplicationId=app_id, SegmentId=seg["Id"], Version="9"))[0] == "NotFoundException"
    imp = pp.create_import_job(ApplicationId=app_id, ImportJobRequest={
        "Format": "CSV", "RoleArn": "arn:aws:iam::1:role/r", "S3Url": "s3://b/k", "SegmentId": seg["Id"]})["ImportJobResponse"]
    assert imp["JobStatus"] == "CREATED"
    assert pp.get_import_job(ApplicationId=app_id, JobId=imp["Id"])["ImportJobResponse"]["Id"] == imp["Id"]
    assert len(pp.get_import_jobs(ApplicationId=app_id)["ImportJobsResponse"]["Item"]) == 1
    assert len(pp.get_segment_import_jobs(ApplicationId=app_id, SegmentId=seg["Id"])["ImportJobsResponse"]["Item"]) == 1
    exp = pp.create_export_job(ApplicationId=app_id, ExportJobRequest={"RoleArn": "arn:aws:iam::1:role/r", "S3UrlPrefix": "s3://b/"})
    assert exp["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert pp.get_export_job(ApplicationId=app_id, JobId=exp["ExportJobResponse"]["Id"])["ExportJobResponse"]["Type"] == "EXPORT"
    assert len(pp.get_export_jobs(ApplicationId=app_id)["ExportJobsResponse"]["Item"]) == 1
    assert pp.get_segment_export_jobs(ApplicationId=app_id, SegmentId=seg["Id"])["ExportJobsResponse"]["Item"] == []
    assert error_of(lambda: pp.get_import_job(ApplicationId=app_id, JobId="nope"))[0] == "NotFoundException"
    assert pp.delete_segment(ApplicationId=app_id, SegmentId=seg["Id"])["SegmentResponse"]["Id"] == seg["Id"]
    assert error_of(lambda: pp.get_segment(ApplicationId=app_id, SegmentId=seg["Id"]))[0] == "NotFoundException"
