"""Adapters from the API's service protocols (services.py) to Gateway's stores, only where the shapes differ.

The stores' errors need no translation here: each store raises its own subclass of gateway.errors' NotFound /
InvalidRequest / Forbidden / Conflict, with a message naming the field or the resource, and the server answers each
root once. Stores whose shape is already the protocol's are registered as they are (EndpointStore,
gateway.phone, gateway.segments.jobs.Jobs).

- `SegmentAdapter`: SegmentService over `gateway.segments.store.SegmentStore`, with tags kept in the API's
  TagStore (so ListTagsForResource on a segment ARN and GetSegment agree).
- `EngineOtpService`: OtpService over `gateway.otp.OtpService`; the OTP message is sent through the engine (the
  ingest stream and a worker) with `Producer.send_messages_and_wait`, so SendOTPMessage answers the worker's
  MessageResponse.
- `TemplateAdapter`: TemplateService over `gateway.templates.store.TemplateStore`, with ARNs from the API's
  Settings and tags kept in the API's TagStore (so TagResource on a template ARN and GetXxxTemplate agree).
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from gateway import errors as gw
from gateway import models, otp
from gateway.api.errors import InternalServerError
from gateway.api.services import Settings, TemplateKind, TemplateRequest, TemplateResponse
from gateway.api.tagstore import TagStore, check_tags
from gateway.producer import Producer
from gateway.segments.store import SegmentStore
from gateway.templates.store import TYPES, TemplateNotFound, TemplateStore, request_shape


def _version(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise gw.InvalidRequest(f"Version must be a positive integer, got {value[:20]!r}")
    return int(value)


class SegmentAdapter:
    """SegmentService over the segment store (definitions are checked there before anything is stored).

    A segment's tags are the TagStore's, so CreateSegment's `tags`, TagResource/UntagResource on the segment's ARN
    and GetSegment(s) agree; DeleteSegment removes them."""

    def __init__(self, store: SegmentStore, tags: TagStore | None = None) -> None:
        self.store = store
        self.tags = tags

    @staticmethod
    def _resource(app_id: str, segment_id: str) -> str:
        return f"apps/{app_id}/segments/{segment_id}"

    async def _tagged(self, app_id: str, segs: list[models.SegmentResponse]) -> list[models.SegmentResponse]:
        if self.tags is None or not segs:
            return segs
        found = await self.tags.get_many([(self._resource(app_id, s.Id), app_id) for s in segs])
        return [msgspec.structs.replace(s, tags=t or None) for s, t in zip(segs, found, strict=True)]

    async def _add_tags(self, app_id: str, segment_id: str, request: models.WriteSegmentRequest) -> None:
        if self.tags is not None and request.tags:
            await self.tags.add(self._resource(app_id, segment_id), app_id, request.tags)

    async def create_segment(self, app_id: str, request: models.WriteSegmentRequest) -> models.SegmentResponse:
        if request.tags:
            check_tags(request.tags, "WriteSegmentRequest.tags")
        seg = await self.store.create(app_id, request)
        await self._add_tags(app_id, seg.Id, request)
        return (await self._tagged(app_id, [seg]))[0]

    async def get_segment(self, app_id: str, segment_id: str, version: str | None) -> models.SegmentResponse:
        number = None if version is None else _version(version)
        seg = await self.store.get_version(app_id, segment_id, number)
        return (await self._tagged(app_id, [seg]))[0]

    async def list_segments(self, app_id: str, page_size: int, token: str | None) -> models.SegmentsResponse:
        page = await self.store.list_segments(app_id, page_size, token)
        return msgspec.structs.replace(page, Item=await self._tagged(app_id, page.Item))

    async def update_segment(
        self, app_id: str, segment_id: str, request: models.WriteSegmentRequest
    ) -> models.SegmentResponse:
        if request.tags:
            current = await self.tags.get(self._resource(app_id, segment_id), app_id) if self.tags else {}
            check_tags({**current, **request.tags}, "WriteSegmentRequest.tags")  # before a version is written
        seg = await self.store.update(app_id, segment_id, request)
        await self._add_tags(app_id, segment_id, request)
        return (await self._tagged(app_id, [seg]))[0]

    async def delete_segment(self, app_id: str, segment_id: str) -> models.SegmentResponse:
        seg = (await self._tagged(app_id, [await self.store.delete(app_id, segment_id)]))[0]
        if self.tags is not None and seg.tags:
            await self.tags.clear(self._resource(app_id, segment_id), app_id)
        return seg

    async def list_segment_versions(
        self, app_id: str, segment_id: str, page_size: int, token: str | None
    ) -> models.SegmentsResponse:
        page = await self.store.versions(app_id, segment_id, page_size, token)
        return msgspec.structs.replace(page, Item=await self._tagged(app_id, page.Item))


class EngineOtpService:
    """OtpService: issue the code (gateway.otp), send its SMS or voice message through the engine and answer the
    worker's MessageResponse; verify against the stored HMAC."""

    def __init__(self, service: otp.OtpService, producer: Producer, timeout_s: float = 30.0) -> None:
        self.service = service
        self.producer = producer
        self.timeout_s = timeout_s

    async def send_otp(
        self, app_id: str, request: models.SendOTPMessageRequestParameters
    ) -> models.MessageResponse:
        message, _code = await self.service.build_otp_request(app_id, request)
        try:
            # an OTP always goes in the transactional lane, by SMS or by voice
            return await self.producer.send_messages_and_wait(app_id, message, timeout=self.timeout_s, transactional=True)
        except TimeoutError:
            raise InternalServerError(
                f"The OTP message is queued but no worker answered within {self.timeout_s:g}s; it will still be "
                "delivered and the code is valid (do not resend it)"
            ) from None

    async def verify_otp(
        self, app_id: str, request: models.VerifyOTPMessageRequestParameters
    ) -> models.VerificationResponse:
        return await self.service.verify(app_id, request)


def _required(kind: TemplateKind, request: TemplateRequest | None) -> TemplateRequest:
    # An empty body decodes to None; Pinpoint's model requires the payload on Create and Update.
    if request is None:
        raise gw.InvalidRequest(f"Missing request body: {request_shape(kind)} is required")
    return request


def _encode_token(name: str, kind: str) -> str:
    return base64.urlsafe_b64encode(f"{name}\x00{kind}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    """The store's position ("name\\0TYPE") inside a NextToken this adapter returned."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError):
        text = ""
    name, sep, kind = text.partition("\x00")
    if not sep or not name or kind not in TYPES:
        raise gw.InvalidRequest("NextToken is not a token ListTemplates returned")
    return text


class TemplateAdapter:
    """TemplateService over the template store (versions, active version, compile-at-save live there).

    Adds what the store leaves to the API: the template's ARN (`templates/NAME/TYPE` under the API's region and
    account), its tags, and opaque paging tokens. Tags given to Create*Template go to the TagStore, where
    TagResource/UntagResource/ListTagsForResource on the same ARN see them; Update*Template ignores `tags`, as
    Pinpoint has since May 2023 (tags are managed with TagResource). Deleting the whole template removes its tags.
    """

    def __init__(self, store: TemplateStore, settings: Settings, tags: TagStore | None = None) -> None:
        self.store = store
        self.settings = settings
        self.tags = tags

    @staticmethod
    def _resource(name: str, kind: str) -> str:
        return f"templates/{name}/{kind}"

    @staticmethod
    def _untagged(request: TemplateRequest) -> TemplateRequest:
        # The store keeps the content; tags live in the TagStore only, so there is one truth for them.
        return msgspec.structs.replace(request, tags=None) if request.tags is not None else request

    async def create_template(self, name: str, kind: TemplateKind, request: TemplateRequest) -> str:
        request = _required(kind, request)
        if request.tags:
            check_tags(request.tags, f"{request_shape(kind)}.tags")
        await self.store.create(name, kind, self._untagged(request))
        if self.tags is not None and request.tags:
            await self.tags.add(self._resource(name, kind), None, request.tags)
        return self.settings.arn(self._resource(name, kind))

    async def get_template(self, name: str, kind: TemplateKind, version: str | None) -> TemplateResponse | None:
        doc = await self.store.get(name, kind, version)
        tags = await self.tags.get(self._resource(name, kind), None) if self.tags is not None else {}
        return msgspec.structs.replace(doc, Arn=self.settings.arn(self._resource(name, kind)), tags=tags)

    async def update_template(
        self, name: str, kind: TemplateKind, request: TemplateRequest, create_new_version: bool, version: str | None
    ) -> None:
        await self.store.update(
            name, kind, self._untagged(_required(kind, request)), create_new_version=create_new_version, version=version
        )

    async def delete_template(self, name: str, kind: TemplateKind, version: str | None) -> bool:
        await self.store.delete(name, kind, version)
        if self.tags is not None and (version is None or not await self._exists(name, kind)):
            # The whole template is gone (all versions, or its last one): so are its tags.
            await self.tags.clear(self._resource(name, kind), None)
        return True

    async def _exists(self, name: str, kind: TemplateKind) -> bool:
        try:
            await self.store.get(name, kind)
        except TemplateNotFound:
            return False
        return True

    async def list_templates(
        self, page_size: int, token: str | None, prefix: str | None, kind: TemplateKind | None
    ) -> models.TemplatesResponse:
        after = _decode_token(token) if token else None
        # One more than asked: a NextToken only when another page really exists (no empty last page).
        page = await self.store.list_templates(
            prefix=prefix, template_type=kind, page_size=page_size + 1, next_token=after
        )
        items = page.Item[:page_size]
        next_token = None
        if len(page.Item) > page_size:
            last = items[-1]
            next_token = _encode_token(last.TemplateName, last.TemplateType)
        found = (
            await self.tags.get_many([(self._resource(t.TemplateName, t.TemplateType), None) for t in items])
            if self.tags is not None and items else [{} for _ in items]
        )
        items = [
            msgspec.structs.replace(t, Arn=self.settings.arn(self._resource(t.TemplateName, t.TemplateType)), tags=tg)
            for t, tg in zip(items, found, strict=True)
        ]
        return models.TemplatesResponse(Item=items, NextToken=next_token)

    async def list_template_versions(
        self, name: str, kind: TemplateKind, page_size: int, token: str | None
    ) -> models.TemplateVersionsResponse | None:
        if token is not None and not (token.isdigit() and int(token) >= 1):
            raise gw.InvalidRequest("NextToken is not a token ListTemplateVersions returned")
        return await self.store.list_versions(name, kind, page_size=page_size, next_token=token)

    async def set_active_version(self, name: str, kind: TemplateKind, version: str) -> None:
        await self.store.set_active_version(name, kind, version)
