"""What the API needs from the rest of Gateway, as small protocols, and the container handed to `create_app`.

Stores owned elsewhere (endpoints, templates, segments, import/export jobs, the send engine, OTP, phone
validation, push channel credentials) plug in by implementing one protocol each; the API module decodes and validates
the request into the model's shape before calling, and encodes what comes back. Where a store already has the
protocol's shape it is registered as it is (EndpointStore, gateway.phone); an adapter
(gateway/api/adapters.py) stands between only where shapes differ (ARNs, tags, paging tokens, the engine).

Conventions for every implementation:
- A missing resource is `None` where the return type allows it, or the store's own `gateway.errors.NotFound`
  subclass (404, with its message).
- The roots of gateway.errors are answered once, by the server: `InvalidRequest` (message naming the field) 400,
  `Forbidden` 403, `NotFound` 404, `Conflict` 409. Stores raise their own subclasses of these directly.
- Anything else escaping is a bug: logged and answered 500 InternalServerErrorException.
- `page_size` is already validated (1..1000); `token` is the opaque NextToken the same service returned.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from redis.asyncio.client import Pipeline

from gateway import models
from gateway.api.appstore import AppStore
from gateway.api.tagstore import TagStore
from gateway.channels.urlguard import IPNetwork
from gateway.kpi.rollup import Roller
from gateway.recommenders.builtin import Interaction
from gateway.recommenders.validate import RecommenderRequest

TemplateKind = Literal["EMAIL", "SMS", "VOICE", "PUSH", "INAPP"]
TemplateRequest = (
    models.EmailTemplateRequest
    | models.SMSTemplateRequest
    | models.VoiceTemplateRequest
    | models.PushNotificationTemplateRequest
    | models.InAppTemplateRequest
)
TemplateResponse = (
    models.EmailTemplateResponse
    | models.SMSTemplateResponse
    | models.VoiceTemplateResponse
    | models.PushNotificationTemplateResponse
    | models.InAppTemplateResponse
)

# Channel names as Pinpoint's GetChannels keys them.
ChannelKind = Literal[
    "EMAIL", "SMS", "VOICE", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "GCM", "ADM", "BAIDU"
]
ChannelResponse = (
    models.EmailChannelResponse
    | models.SMSChannelResponse
    | models.VoiceChannelResponse
    | models.APNSChannelResponse
    | models.APNSSandboxChannelResponse
    | models.APNSVoipChannelResponse
    | models.APNSVoipSandboxChannelResponse
    | models.GCMChannelResponse
    | models.ADMChannelResponse
    | models.BaiduChannelResponse
)


PushChannelKind = Literal["APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "GCM", "ADM", "BAIDU"]
PushChannelRequest = (
    models.APNSChannelRequest
    | models.APNSSandboxChannelRequest
    | models.APNSVoipChannelRequest
    | models.APNSVoipSandboxChannelRequest
    | models.GCMChannelRequest
    | models.ADMChannelRequest
    | models.BaiduChannelRequest
)


class ChannelSettingsStore(Protocol):
    """Per-application settings of the channels that carry no credentials (EMAIL, SMS, VOICE). `put` gets the
    public response document the API built; `secrets` is always empty for these kinds (a store refuses any)."""

    async def get_channel(self, app_id: str, kind: ChannelKind) -> ChannelResponse | None: ...

    async def put_channel(
        self, app_id: str, kind: ChannelKind, document: ChannelResponse, secrets: Mapping[str, str]
    ) -> None: ...

    async def delete_channel(self, app_id: str, kind: ChannelKind) -> ChannelResponse | None: ...

    async def list_channels(self, app_id: str) -> dict[ChannelKind, ChannelResponse]: ...


class PushChannelService(Protocol):
    """Per-application push channels (APNS, APNS_SANDBOX, APNS_VOIP, APNS_VOIP_SANDBOX, GCM, ADM, BAIDU) with
    their credentials, which the implementation keeps encrypted and never answers: responses carry only
    HasCredential / HasTokenKey / HasFcmServiceCredentials. `update_channel` gets the validated request, merges
    it into the stored channel as Pinpoint does (absent members keep their value; `Version` goes up) and returns
    the new response document. `list_channels` keys GetChannels' push entries."""

    async def get_channel(self, app_id: str, kind: PushChannelKind) -> ChannelResponse | None: ...

    async def update_channel(
        self, app_id: str, kind: PushChannelKind, request: PushChannelRequest
    ) -> ChannelResponse: ...

    async def delete_channel(self, app_id: str, kind: PushChannelKind) -> ChannelResponse | None: ...

    async def list_channels(self, app_id: str) -> dict[ChannelKind, ChannelResponse]: ...


class EndpointService(Protocol):
    """Endpoints and users (UpdateEndpoint, UpdateEndpointsBatch, GetEndpoint, DeleteEndpoint, GetUserEndpoints,
    DeleteUserEndpoints, RemoveAttributes; PutEvents' endpoint updates). `gateway.endpoints.store.EndpointStore`
    is one. What the writes return is not used. A user without endpoints is NotFound or an empty `Item`."""

    async def update_endpoint(self, app_id: str, endpoint_id: str, request: models.EndpointRequest) -> object: ...

    async def update_endpoints_batch(self, app_id: str, request: models.EndpointBatchRequest) -> object: ...

    async def get(self, app_id: str, endpoint_id: str) -> models.EndpointResponse | None: ...

    async def delete_endpoint(self, app_id: str, endpoint_id: str) -> models.EndpointResponse | None: ...

    async def get_user_endpoints(self, app_id: str, user_id: str) -> models.EndpointsResponse: ...

    async def delete_user_endpoints(self, app_id: str, user_id: str) -> models.EndpointsResponse: ...

    async def remove_attributes(
        self, app_id: str, attribute_type: str, blacklist: Sequence[str]
    ) -> models.AttributesResource: ...


class TemplateService(Protocol):
    """Message templates with versions (Create/Get/Update/Delete x 5 kinds, ListTemplates, ListTemplateVersions,
    UpdateTemplateActiveVersion). `version` None means the active version."""

    async def create_template(self, name: str, kind: TemplateKind, request: TemplateRequest) -> str:
        """Create; returns the new template's ARN. Conflict if it exists."""
        ...

    async def get_template(self, name: str, kind: TemplateKind, version: str | None) -> TemplateResponse | None: ...

    async def update_template(
        self, name: str, kind: TemplateKind, request: TemplateRequest, create_new_version: bool, version: str | None
    ) -> None: ...

    async def delete_template(self, name: str, kind: TemplateKind, version: str | None) -> bool:
        """False when there was no such template (or version)."""
        ...

    async def list_templates(
        self, page_size: int, token: str | None, prefix: str | None, kind: TemplateKind | None
    ) -> models.TemplatesResponse: ...

    async def list_template_versions(
        self, name: str, kind: TemplateKind, page_size: int, token: str | None
    ) -> models.TemplateVersionsResponse | None: ...

    async def set_active_version(self, name: str, kind: TemplateKind, version: str) -> None: ...


class SegmentService(Protocol):
    """Segments with versions."""

    async def create_segment(self, app_id: str, request: models.WriteSegmentRequest) -> models.SegmentResponse: ...

    async def get_segment(self, app_id: str, segment_id: str, version: str | None) -> models.SegmentResponse | None: ...

    async def list_segments(self, app_id: str, page_size: int, token: str | None) -> models.SegmentsResponse: ...

    async def update_segment(
        self, app_id: str, segment_id: str, request: models.WriteSegmentRequest
    ) -> models.SegmentResponse | None: ...

    async def delete_segment(self, app_id: str, segment_id: str) -> models.SegmentResponse | None: ...

    async def list_segment_versions(
        self, app_id: str, segment_id: str, page_size: int, token: str | None
    ) -> models.SegmentsResponse | None: ...


class CampaignService(Protocol):
    """Campaigns with versions (gateway.campaigns.store.CampaignStore is one). Every member of a
    WriteCampaignRequest is checked before anything is stored (InvalidRequest naming the member)."""

    async def create_campaign(self, app_id: str, request: models.WriteCampaignRequest) -> models.CampaignResponse: ...

    async def get_campaign(self, app_id: str, campaign_id: str, version: str | None) -> models.CampaignResponse: ...

    async def list_campaigns(self, app_id: str, page_size: int, token: str | None) -> models.CampaignsResponse: ...

    async def update_campaign(
        self, app_id: str, campaign_id: str, request: models.WriteCampaignRequest
    ) -> models.CampaignResponse: ...

    async def delete_campaign(self, app_id: str, campaign_id: str) -> models.CampaignResponse: ...

    async def list_campaign_versions(
        self, app_id: str, campaign_id: str, page_size: int, token: str | None
    ) -> models.CampaignsResponse: ...

    async def list_activities(
        self, app_id: str, campaign_id: str, page_size: int, token: str | None
    ) -> models.ActivitiesResponse: ...

    async def get_in_app_messages(self, app_id: str, endpoint_id: str) -> models.InAppMessagesResponse: ...

    async def record_in_app_events(self, app_id: str, endpoint_id: str, events: Mapping[str, models.Event]) -> None: ...


class JourneyService(Protocol):
    """Journey definitions (gateway.journeys.store.JourneyStore is one). Every member of a WriteJourneyRequest is
    checked before anything is stored, and State moves by Pinpoint's rules (InvalidRequest naming the member)."""

    async def create_journey(self, app_id: str, request: models.WriteJourneyRequest) -> models.JourneyResponse: ...

    async def get_journey(self, app_id: str, journey_id: str) -> models.JourneyResponse: ...

    async def list_journeys(self, app_id: str, page_size: int, token: str | None) -> models.JourneysResponse: ...

    async def update_journey(
        self, app_id: str, journey_id: str, request: models.WriteJourneyRequest
    ) -> models.JourneyResponse: ...

    async def update_journey_state(
        self, app_id: str, journey_id: str, request: models.JourneyStateRequest
    ) -> models.JourneyResponse: ...

    async def delete_journey(self, app_id: str, journey_id: str) -> models.JourneyResponse: ...


class JobService(Protocol):
    """Import and export jobs (`gateway.segments.jobs.Jobs` is one). `segment_id` restricts a listing to one
    segment's jobs."""

    async def create_import(self, app: str, req: models.ImportJobRequest, /) -> models.ImportJobResponse: ...

    async def get_import(self, app: str, job_id: str, /) -> models.ImportJobResponse: ...

    async def list_imports(self, app: str, page_size: int, token: str | None, segment_id: str | None, /
                           ) -> models.ImportJobsResponse: ...

    async def create_export(self, app: str, req: models.ExportJobRequest, /) -> models.ExportJobResponse: ...

    async def get_export(self, app: str, job_id: str, /) -> models.ExportJobResponse: ...

    async def list_exports(self, app: str, page_size: int, token: str | None, segment_id: str | None, /
                           ) -> models.ExportJobsResponse: ...


class MessageService(Protocol):
    """The send engine, the same one the stream feeds (SendMessages, SendUsersMessages)."""

    async def send_messages(self, app_id: str, request: models.MessageRequest) -> models.MessageResponse: ...

    async def send_users_messages(
        self, app_id: str, request: models.SendUsersMessageRequest
    ) -> models.SendUsersMessageResponse: ...


class OtpService(Protocol):
    async def send_otp(
        self, app_id: str, request: models.SendOTPMessageRequestParameters
    ) -> models.MessageResponse: ...

    async def verify_otp(
        self, app_id: str, request: models.VerifyOTPMessageRequestParameters
    ) -> models.VerificationResponse: ...


class PhoneService(Protocol):
    """PhoneNumberValidate. The module `gateway.phone` is one (a lookup in libphonenumber's offline data, so not a
    coroutine)."""

    def validate(self, request: models.NumberValidateRequest) -> models.NumberValidateResponse: ...


class RecommenderService(Protocol):
    """Account-wide recommender configurations (gateway.recommenders.service.Recommenders is one). Requests reach
    it checked and with defaults filled (gateway.recommenders.validate.normalize, with `allow` as the SSRF guard's
    allowlist). A missing id is a NotFound subclass."""

    allow: tuple[IPNetwork, ...]

    async def create(self, req: RecommenderRequest) -> models.RecommenderConfigurationResponse: ...

    async def get(self, recommender_id: str) -> models.RecommenderConfigurationResponse: ...

    async def list(self, page_size: int, token: str | None) -> models.ListRecommenderConfigurationsResponse: ...

    async def update(
        self, recommender_id: str, req: RecommenderRequest
    ) -> models.RecommenderConfigurationResponse: ...

    async def delete(self, recommender_id: str) -> models.RecommenderConfigurationResponse: ...

    async def learning(self) -> bool:
        """Whether PutEvents should feed the built-in recommender (`stage_events`)."""
        ...

    def item_of(self, event: models.Event) -> str | None:
        """The item id an event carries for the built-in recommender (its configured attribute), if any."""
        ...

    async def stage_events(self, pipe: Pipeline, app_id: str, interactions: Sequence[Interaction]) -> None:
        """Queue on `pipe` (sent with PutEvents' own writes) what the built-in recommender learns from these
        (endpoint id, user id or None, item id) interactions."""
        ...


class Settings:
    """Deployment facts the API needs: where ARNs say they live and where events go."""

    __slots__ = ("account_id", "events_key", "region", "retention_days", "rollups")

    def __init__(
        self, *, region: str = "us-east-1", account_id: str = "000000000000", events_key: str = "gateway:events",
        rollups: bool = True, retention_days: int = 90,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.events_key = events_key
        self.rollups = rollups  # [events] rollups: the KPI rollups are kept as events are written
        self.retention_days = retention_days

    def arn(self, resource: str) -> str:
        return f"arn:aws:mobiletargeting:{self.region}:{self.account_id}:{resource}"


class Services:
    """Everything the API handlers call. Operations whose service is None are not served (the router answers
    them with a NotFoundException naming the operation), so a deployment serves exactly what it has."""

    def __init__(
        self,
        *,
        settings: Settings,
        apps: AppStore,
        tags: TagStore,
        channels: ChannelSettingsStore,
        push_channels: PushChannelService | None = None,
        endpoints: EndpointService | None = None,
        templates: TemplateService | None = None,
        segments: SegmentService | None = None,
        campaigns: CampaignService | None = None,
        journeys: JourneyService | None = None,
        jobs: JobService | None = None,
        messages: MessageService | None = None,
        otp: OtpService | None = None,
        phone: PhoneService | None = None,
        recommenders: RecommenderService | None = None,
    ) -> None:
        self.settings = settings
        self.apps = apps
        self.tags = tags
        self.channels = channels
        self.push_channels = push_channels
        self.endpoints = endpoints
        self.templates = templates
        self.segments = segments
        self.campaigns = campaigns
        self.journeys = journeys
        self.jobs = jobs
        self.messages = messages
        self.otp = otp
        self.phone = phone
        self.recommenders = recommenders

    @functools.cached_property
    def roller(self) -> Roller | None:
        """The KPI rollups writer of what the API itself writes to the events stream (PutEvents), made once; None
        when the deployment keeps no rollups ([events] rollups = false)."""
        if not self.settings.rollups:
            return None
        return Roller(self.apps.redis, retention_days=self.settings.retention_days)
