# ruff: noqa: E501
"""In-memory implementations of the API's service protocols, standing in for stores built elsewhere."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway import errors as gw
from gateway import models
from gateway.api.services import TemplateKind, TemplateRequest, TemplateResponse


class FakeEndpoints:
    def __init__(self) -> None:
        self.eps: dict[tuple[str, str], models.EndpointResponse] = {}

    async def update_endpoint(self, app_id: str, endpoint_id: str, request: models.EndpointRequest) -> None:
        if request.ChannelType == "EMAIL" and request.Address and "@" not in request.Address:
            raise gw.InvalidRequest("EndpointRequest.Address is not an email address")
        fields = {k: v for k, v in msgspec.structs.asdict(request).items() if v is not None}
        self.eps[(app_id, endpoint_id)] = models.EndpointResponse(ApplicationId=app_id, Id=endpoint_id, **fields)

    async def update_endpoints_batch(self, app_id: str, request: models.EndpointBatchRequest) -> None:
        for item in request.Item:
            assert item.Id is not None
            await self.update_endpoint(app_id, item.Id, models.EndpointRequest(Address=item.Address, ChannelType=item.ChannelType, User=item.User))

    async def get(self, app_id: str, endpoint_id: str) -> models.EndpointResponse | None:
        return self.eps.get((app_id, endpoint_id))

    async def delete_endpoint(self, app_id: str, endpoint_id: str) -> models.EndpointResponse | None:
        return self.eps.pop((app_id, endpoint_id), None)

    def _user(self, app_id: str, user_id: str) -> list[models.EndpointResponse]:
        return [e for (a, _), e in self.eps.items() if a == app_id and e.User is not None and e.User.UserId == user_id]

    async def get_user_endpoints(self, app_id: str, user_id: str) -> models.EndpointsResponse:
        return models.EndpointsResponse(Item=self._user(app_id, user_id))

    async def delete_user_endpoints(self, app_id: str, user_id: str) -> models.EndpointsResponse:
        found = self._user(app_id, user_id)
        for e in found:
            assert e.Id is not None
            del self.eps[(app_id, e.Id)]
        return models.EndpointsResponse(Item=found)

    async def remove_attributes(self, app_id: str, attribute_type: str, blacklist: list[str]) -> models.AttributesResource:
        return models.AttributesResource(ApplicationId=app_id, AttributeType=attribute_type, Attributes=blacklist)


class FakeTemplates:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], TemplateRequest] = {}
        self.active: dict[tuple[str, str], str] = {}

    async def create_template(self, name: str, kind: TemplateKind, request: TemplateRequest) -> str:
        if (name, kind) in self.items:
            raise gw.InvalidRequest(f"Template {name} ({kind}) already exists")  # as Pinpoint: no 409 here
        self.items[(name, kind)] = request
        return f"arn:aws:mobiletargeting:eu-west-1:000000000000:templates/{name}/{kind}"

    async def get_template(self, name: str, kind: TemplateKind, version: str | None) -> TemplateResponse | None:
        req = self.items.get((name, kind))
        if req is None:
            return None
        assert isinstance(req, models.EmailTemplateRequest)
        return models.EmailTemplateResponse(TemplateName=name, TemplateType="EMAIL", Subject=req.Subject, HtmlPart=req.HtmlPart,
                                            CreationDate="2026-01-01T00:00:00.000Z", LastModifiedDate="2026-01-01T00:00:00.000Z",
                                            Version=version or self.active.get((name, kind), "1"))

    async def update_template(self, name: str, kind: TemplateKind, request: TemplateRequest, create_new_version: bool, version: str | None) -> None:
        if (name, kind) not in self.items:
            raise gw.NotFound(f"Template {name} not found")
        self.items[(name, kind)] = request

    async def delete_template(self, name: str, kind: TemplateKind, version: str | None) -> bool:
        return self.items.pop((name, kind), None) is not None

    async def list_templates(self, page_size: int, token: str | None, prefix: str | None, kind: TemplateKind | None) -> models.TemplatesResponse:
        names = sorted(n for (n, k) in self.items if (kind is None or k == kind) and n.startswith(prefix or ""))
        start = int(token) if token else 0
        page = names[start:start + page_size]
        nxt = str(start + page_size) if start + page_size < len(names) else None
        return models.TemplatesResponse(Item=[models.TemplateResponse(TemplateName=n, TemplateType="EMAIL", CreationDate="2026-01-01T00:00:00.000Z", LastModifiedDate="2026-01-01T00:00:00.000Z") for n in page], NextToken=nxt)

    async def list_template_versions(self, name: str, kind: TemplateKind, page_size: int, token: str | None) -> models.TemplateVersionsResponse | None:
        if (name, kind) not in self.items:
            return None
        return models.TemplateVersionsResponse(Item=[models.TemplateVersionResponse(TemplateName=name, TemplateType=kind, Version="1", CreationDate="2026-01-01T00:00:00.000Z", LastModifiedDate="2026-01-01T00:00:00.000Z")])

    async def set_active_version(self, name: str, kind: TemplateKind, version: str) -> None:
        if (name, kind) not in self.items:
            raise gw.NotFound(f"Template {name} not found")
        self.active[(name, kind)] = version


class FakeSegments:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], list[models.SegmentResponse]] = {}

    def _doc(self, app_id: str, sid: str, req: models.WriteSegmentRequest, version: int) -> models.SegmentResponse:
        return models.SegmentResponse(ApplicationId=app_id, Arn=f"arn:x:apps/{app_id}/segments/{sid}", Id=sid, Name=req.Name,
                                      CreationDate="2026-01-01T00:00:00.000Z", SegmentType="DIMENSIONAL", Version=version,
                                      Dimensions=req.Dimensions)

    async def create_segment(self, app_id: str, request: models.WriteSegmentRequest) -> models.SegmentResponse:
        sid = f"seg{len(self.items) + 1}"
        self.items[(app_id, sid)] = [self._doc(app_id, sid, request, 1)]
        return self.items[(app_id, sid)][-1]

    async def get_segment(self, app_id: str, segment_id: str, version: str | None) -> models.SegmentResponse | None:
        versions = self.items.get((app_id, segment_id))
        if not versions:
            return None
        if version is None:
            return versions[-1]
        return next((v for v in versions if str(v.Version) == version), None)

    async def list_segments(self, app_id: str, page_size: int, token: str | None) -> models.SegmentsResponse:
        return models.SegmentsResponse(Item=[v[-1] for (a, _), v in sorted(self.items.items()) if a == app_id])

    async def update_segment(self, app_id: str, segment_id: str, request: models.WriteSegmentRequest) -> models.SegmentResponse | None:
        versions = self.items.get((app_id, segment_id))
        if versions is None:
            return None
        versions.append(self._doc(app_id, segment_id, request, len(versions) + 1))
        return versions[-1]

    async def delete_segment(self, app_id: str, segment_id: str) -> models.SegmentResponse | None:
        versions = self.items.pop((app_id, segment_id), None)
        return versions[-1] if versions else None

    async def list_segment_versions(self, app_id: str, segment_id: str, page_size: int, token: str | None) -> models.SegmentsResponse | None:
        versions = self.items.get((app_id, segment_id))
        return None if versions is None else models.SegmentsResponse(Item=list(versions))


class FakeJobs:
    def __init__(self) -> None:
        self.imports: dict[str, models.ImportJobResponse] = {}
        self.exports: dict[str, models.ExportJobResponse] = {}

    async def create_import(self, app_id: str, request: models.ImportJobRequest) -> models.ImportJobResponse:
        jid = f"imp{len(self.imports) + 1}"
        job = models.ImportJobResponse(
            ApplicationId=app_id, CreationDate="2026-01-01T00:00:00.000Z", Id=jid, JobStatus="CREATED", Type="IMPORT",
            Definition=models.ImportJobResource(Format=request.Format, RoleArn=request.RoleArn, S3Url=request.S3Url, SegmentId=request.SegmentId))
        self.imports[jid] = job
        return job

    async def get_import(self, app_id: str, job_id: str) -> models.ImportJobResponse | None:
        return self.imports.get(job_id)

    async def list_imports(self, app_id: str, page_size: int, token: str | None, segment_id: str | None) -> models.ImportJobsResponse:
        return models.ImportJobsResponse(Item=[j for j in self.imports.values() if segment_id is None or j.Definition.SegmentId == segment_id])

    async def create_export(self, app_id: str, request: models.ExportJobRequest) -> models.ExportJobResponse:
        jid = f"exp{len(self.exports) + 1}"
        job = models.ExportJobResponse(
            ApplicationId=app_id, CreationDate="2026-01-01T00:00:00.000Z", Id=jid, JobStatus="CREATED", Type="EXPORT",
            Definition=models.ExportJobResource(RoleArn=request.RoleArn, S3UrlPrefix=request.S3UrlPrefix, SegmentId=request.SegmentId))
        self.exports[jid] = job
        return job

    async def get_export(self, app_id: str, job_id: str) -> models.ExportJobResponse | None:
        return self.exports.get(job_id)

    async def list_exports(self, app_id: str, page_size: int, token: str | None, segment_id: str | None) -> models.ExportJobsResponse:
        return models.ExportJobsResponse(Item=[j for j in self.exports.values() if segment_id is None or j.Definition.SegmentId == segment_id])


class FakeMessages:
    """Answers each address SUCCESSFUL, except addresses starting with 'fail' (PERMANENT_FAILURE)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.raise_next: Exception | None = None

    async def send_messages(self, app_id: str, request: models.MessageRequest) -> models.MessageResponse:
        if self.raise_next is not None:
            exc, self.raise_next = self.raise_next, None
            raise exc
        self.requests.append((app_id, request))
        result = {
            a: models.MessageResult(
                DeliveryStatus="PERMANENT_FAILURE" if a.startswith("fail") else "SUCCESSFUL",
                StatusCode=400 if a.startswith("fail") else 200, MessageId=f"m-{a}")
            for a in request.Addresses or {}
        }
        return models.MessageResponse(ApplicationId=app_id, RequestId="r1", Result=result)

    async def send_users_messages(self, app_id: str, request: models.SendUsersMessageRequest) -> models.SendUsersMessageResponse:
        self.requests.append((app_id, request))
        result = {u: {f"ep-{u}": models.EndpointMessageResult(DeliveryStatus="SUCCESSFUL", StatusCode=200)} for u in request.Users}
        return models.SendUsersMessageResponse(ApplicationId=app_id, RequestId="r2", Result=result)


class FakeOtp:
    async def send_otp(self, app_id: str, request: models.SendOTPMessageRequestParameters) -> models.MessageResponse:
        return models.MessageResponse(ApplicationId=app_id, Result={request.DestinationIdentity: models.MessageResult(DeliveryStatus="SUCCESSFUL", StatusCode=200)})

    async def verify_otp(self, app_id: str, request: models.VerifyOTPMessageRequestParameters) -> models.VerificationResponse:
        return models.VerificationResponse(Valid=request.Otp == "123456")


class FakePhone:
    def validate(self, request: models.NumberValidateRequest) -> models.NumberValidateResponse:
        return models.NumberValidateResponse(CleansedPhoneNumberE164=request.PhoneNumber, PhoneType="MOBILE", PhoneTypeCode=0)
