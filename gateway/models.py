"""Pinpoint's shapes as msgspec Structs, generated from botocore's pinpoint 2016-12-01 model.

Do not edit: regenerate with `python tools/gen_models.py > gateway/models.py`. Attribute names are the
model's member names so JSON round-trips unchanged; required members have no default.
"""

# ruff: noqa: E501
from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec


class Shape(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Base of every generated shape: keyword-only, absent members omitted when encoded."""


Action: TypeAlias = Literal['OPEN_APP', 'DEEP_LINK', 'URL']
Alignment: TypeAlias = Literal['LEFT', 'CENTER', 'RIGHT']
AttributeType: TypeAlias = Literal['INCLUSIVE', 'EXCLUSIVE', 'CONTAINS', 'BEFORE', 'AFTER', 'ON', 'BETWEEN']
ButtonAction: TypeAlias = Literal['LINK', 'DEEP_LINK', 'CLOSE']
CampaignStatus: TypeAlias = Literal['SCHEDULED', 'EXECUTING', 'PENDING_NEXT_RUN', 'COMPLETED', 'PAUSED', 'DELETED', 'INVALID']
ChannelType: TypeAlias = Literal['PUSH', 'GCM', 'APNS', 'APNS_SANDBOX', 'APNS_VOIP', 'APNS_VOIP_SANDBOX', 'ADM', 'SMS', 'VOICE', 'EMAIL', 'BAIDU', 'CUSTOM', 'IN_APP']
DayOfWeek: TypeAlias = Literal['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY']
DeliveryStatus: TypeAlias = Literal['SUCCESSFUL', 'THROTTLED', 'TEMPORARY_FAILURE', 'PERMANENT_FAILURE', 'UNKNOWN_FAILURE', 'OPT_OUT', 'DUPLICATE']
DimensionType: TypeAlias = Literal['INCLUSIVE', 'EXCLUSIVE']
Duration: TypeAlias = Literal['HR_24', 'DAY_7', 'DAY_14', 'DAY_30']
FilterType: TypeAlias = Literal['SYSTEM', 'ENDPOINT']
Format: TypeAlias = Literal['CSV', 'JSON']
Frequency: TypeAlias = Literal['ONCE', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'EVENT', 'IN_APP_EVENT']
Include: TypeAlias = Literal['ALL', 'ANY', 'NONE']
JobStatus: TypeAlias = Literal['CREATED', 'PREPARING_FOR_INITIALIZATION', 'INITIALIZING', 'PROCESSING', 'PENDING_JOB', 'COMPLETING', 'COMPLETED', 'FAILING', 'FAILED']
JourneyRunStatus: TypeAlias = Literal['SCHEDULED', 'RUNNING', 'COMPLETED', 'CANCELLED']
Layout: TypeAlias = Literal['BOTTOM_BANNER', 'TOP_BANNER', 'OVERLAYS', 'MOBILE_FEED', 'MIDDLE_BANNER', 'CAROUSEL']
MessageType: TypeAlias = Literal['TRANSACTIONAL', 'PROMOTIONAL']
Mode: TypeAlias = Literal['DELIVERY', 'FILTER']
Operator: TypeAlias = Literal['ALL', 'ANY']
RecencyType: TypeAlias = Literal['ACTIVE', 'INACTIVE']
SegmentType: TypeAlias = Literal['DIMENSIONAL', 'IMPORT']
SourceType: TypeAlias = Literal['ALL', 'ANY', 'NONE']
State: TypeAlias = Literal['DRAFT', 'ACTIVE', 'COMPLETED', 'CANCELLED', 'CLOSED', 'PAUSED']
TemplateType: TypeAlias = Literal['EMAIL', 'SMS', 'VOICE', 'PUSH', 'INAPP']
Type: TypeAlias = Literal['ALL', 'ANY', 'NONE']
__EndpointTypesElement: TypeAlias = Literal['PUSH', 'GCM', 'APNS', 'APNS_SANDBOX', 'APNS_VOIP', 'APNS_VOIP_SANDBOX', 'ADM', 'SMS', 'VOICE', 'EMAIL', 'BAIDU', 'CUSTOM', 'IN_APP']
__TimezoneEstimationMethodsElement: TypeAlias = Literal['PHONE_NUMBER', 'POSTAL_CODE']


class ADMChannelRequest(Shape, kw_only=True, gc=False):
    ClientId: str
    ClientSecret: str
    Enabled: bool | None = None


class ADMChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class ADMMessage(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    ConsolidationKey: str | None = None
    Data: dict[str, str] | None = None
    ExpiresAfter: str | None = None
    IconReference: str | None = None
    ImageIconUrl: str | None = None
    ImageUrl: str | None = None
    MD5: str | None = None
    RawContent: str | None = None
    SilentPush: bool | None = None
    SmallImageIconUrl: str | None = None
    Sound: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    Title: str | None = None
    Url: str | None = None


class APNSChannelRequest(Shape, kw_only=True, gc=False):
    BundleId: str | None = None
    Certificate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    PrivateKey: str | None = None
    TeamId: str | None = None
    TokenKey: str | None = None
    TokenKeyId: str | None = None


class APNSChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    HasTokenKey: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class APNSMessage(Shape, kw_only=True, gc=False):
    APNSPushType: str | None = None
    Action: Action | None = None
    Badge: int | None = None
    Body: str | None = None
    Category: str | None = None
    CollapseId: str | None = None
    Data: dict[str, str] | None = None
    MediaUrl: str | None = None
    PreferredAuthenticationMethod: str | None = None
    Priority: str | None = None
    RawContent: str | None = None
    SilentPush: bool | None = None
    Sound: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    ThreadId: str | None = None
    TimeToLive: int | None = None
    Title: str | None = None
    Url: str | None = None


class APNSPushNotificationTemplate(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    MediaUrl: str | None = None
    RawContent: str | None = None
    Sound: str | None = None
    Title: str | None = None
    Url: str | None = None


class APNSSandboxChannelRequest(Shape, kw_only=True, gc=False):
    BundleId: str | None = None
    Certificate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    PrivateKey: str | None = None
    TeamId: str | None = None
    TokenKey: str | None = None
    TokenKeyId: str | None = None


class APNSSandboxChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    HasTokenKey: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class APNSVoipChannelRequest(Shape, kw_only=True, gc=False):
    BundleId: str | None = None
    Certificate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    PrivateKey: str | None = None
    TeamId: str | None = None
    TokenKey: str | None = None
    TokenKeyId: str | None = None


class APNSVoipChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    HasTokenKey: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class APNSVoipSandboxChannelRequest(Shape, kw_only=True, gc=False):
    BundleId: str | None = None
    Certificate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    PrivateKey: str | None = None
    TeamId: str | None = None
    TokenKey: str | None = None
    TokenKeyId: str | None = None


class APNSVoipSandboxChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    HasTokenKey: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class ActivitiesResponse(Shape, kw_only=True, gc=False):
    Item: list[ActivityResponse]
    NextToken: str | None = None


class Activity(Shape, kw_only=True, gc=False):
    CUSTOM: CustomMessageActivity | None = None
    ConditionalSplit: ConditionalSplitActivity | None = None
    Description: str | None = None
    EMAIL: EmailMessageActivity | None = None
    Holdout: HoldoutActivity | None = None
    MultiCondition: MultiConditionalSplitActivity | None = None
    PUSH: PushMessageActivity | None = None
    RandomSplit: RandomSplitActivity | None = None
    SMS: SMSMessageActivity | None = None
    Wait: WaitActivity | None = None
    ContactCenter: ContactCenterActivity | None = None


class ActivityResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str
    End: str | None = None
    Id: str
    Result: str | None = None
    ScheduledStart: str | None = None
    Start: str | None = None
    State: str | None = None
    SuccessfulEndpointCount: int | None = None
    TimezonesCompletedCount: int | None = None
    TimezonesTotalCount: int | None = None
    TotalEndpointCount: int | None = None
    TreatmentId: str | None = None
    ExecutionMetrics: dict[str, str] | None = None


class AddressConfiguration(Shape, kw_only=True, gc=False):
    BodyOverride: str | None = None
    ChannelType: ChannelType | None = None
    Context: dict[str, str] | None = None
    RawContent: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    TitleOverride: str | None = None


class AndroidPushNotificationTemplate(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    ImageIconUrl: str | None = None
    ImageUrl: str | None = None
    RawContent: str | None = None
    SmallImageIconUrl: str | None = None
    Sound: str | None = None
    Title: str | None = None
    Url: str | None = None


class ApplicationDateRangeKpiResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndTime: str
    KpiName: str
    KpiResult: BaseKpiResult
    NextToken: str | None = None
    StartTime: str


class ApplicationResponse(Shape, kw_only=True, gc=False):
    Arn: str
    Id: str
    Name: str
    tags: dict[str, str] | None = None
    CreationDate: str | None = None


class ApplicationSettingsJourneyLimits(Shape, kw_only=True, gc=False):
    DailyCap: int | None = None
    TimeframeCap: JourneyTimeframeCap | None = None
    TotalCap: int | None = None


class ApplicationSettingsResource(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignHook: CampaignHook | None = None
    LastModifiedDate: str | None = None
    Limits: CampaignLimits | None = None
    QuietTime: QuietTime | None = None
    JourneyLimits: ApplicationSettingsJourneyLimits | None = None


class ApplicationsResponse(Shape, kw_only=True, gc=False):
    Item: list[ApplicationResponse] | None = None
    NextToken: str | None = None


class AttributeDimension(Shape, kw_only=True, gc=False):
    AttributeType: AttributeType | None = None
    Values: list[str]


class AttributesResource(Shape, kw_only=True, gc=False):
    ApplicationId: str
    AttributeType: str
    Attributes: list[str] | None = None


class BadRequestException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class BaiduChannelRequest(Shape, kw_only=True, gc=False):
    ApiKey: str
    Enabled: bool | None = None
    SecretKey: str


class BaiduChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    Credential: str
    Enabled: bool | None = None
    HasCredential: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class BaiduMessage(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    Data: dict[str, str] | None = None
    IconReference: str | None = None
    ImageIconUrl: str | None = None
    ImageUrl: str | None = None
    RawContent: str | None = None
    SilentPush: bool | None = None
    SmallImageIconUrl: str | None = None
    Sound: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    TimeToLive: int | None = None
    Title: str | None = None
    Url: str | None = None


class BaseKpiResult(Shape, kw_only=True, gc=False):
    Rows: list[ResultRow]


class CampaignCustomMessage(Shape, kw_only=True, gc=False):
    Data: str | None = None


class CampaignDateRangeKpiResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str
    EndTime: str
    KpiName: str
    KpiResult: BaseKpiResult
    NextToken: str | None = None
    StartTime: str


class CampaignEmailMessage(Shape, kw_only=True, gc=False):
    Body: str | None = None
    FromAddress: str | None = None
    Headers: list[MessageHeader] | None = None
    HtmlBody: str | None = None
    Title: str | None = None


class CampaignEventFilter(Shape, kw_only=True, gc=False):
    Dimensions: EventDimensions
    FilterType: FilterType


class CampaignHook(Shape, kw_only=True, gc=False):
    LambdaFunctionName: str | None = None
    Mode: Mode | None = None
    WebUrl: str | None = None


class CampaignInAppMessage(Shape, kw_only=True, gc=False):
    Body: str | None = None
    Content: list[InAppMessageContent] | None = None
    CustomConfig: dict[str, str] | None = None
    Layout: Layout | None = None


class CampaignLimits(Shape, kw_only=True, gc=False):
    Daily: int | None = None
    MaximumDuration: int | None = None
    MessagesPerSecond: int | None = None
    Total: int | None = None
    Session: int | None = None


class CampaignResponse(Shape, kw_only=True, gc=False):
    AdditionalTreatments: list[TreatmentResource] | None = None
    ApplicationId: str
    Arn: str
    CreationDate: str
    CustomDeliveryConfiguration: CustomDeliveryConfiguration | None = None
    DefaultState: CampaignState | None = None
    Description: str | None = None
    HoldoutPercent: int | None = None
    Hook: CampaignHook | None = None
    Id: str
    IsPaused: bool | None = None
    LastModifiedDate: str
    Limits: CampaignLimits | None = None
    MessageConfiguration: MessageConfiguration | None = None
    Name: str | None = None
    Schedule: Schedule | None = None
    SegmentId: str
    SegmentVersion: int
    State: CampaignState | None = None
    tags: dict[str, str] | None = None
    TemplateConfiguration: TemplateConfiguration | None = None
    TreatmentDescription: str | None = None
    TreatmentName: str | None = None
    Version: int | None = None
    Priority: int | None = None


class CampaignSmsMessage(Shape, kw_only=True, gc=False):
    Body: str | None = None
    MessageType: MessageType | None = None
    OriginationNumber: str | None = None
    SenderId: str | None = None
    EntityId: str | None = None
    TemplateId: str | None = None


class CampaignState(Shape, kw_only=True, gc=False):
    CampaignStatus: CampaignStatus | None = None


class CampaignsResponse(Shape, kw_only=True, gc=False):
    Item: list[CampaignResponse]
    NextToken: str | None = None


class ChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Version: int | None = None


class ChannelsResponse(Shape, kw_only=True, gc=False):
    Channels: dict[str, ChannelResponse]


class Condition(Shape, kw_only=True, gc=False):
    Conditions: list[SimpleCondition] | None = None
    Operator: Operator | None = None


class ConditionalSplitActivity(Shape, kw_only=True, gc=False):
    Condition: Condition | None = None
    EvaluationWaitTime: WaitTime | None = None
    FalseActivity: str | None = None
    TrueActivity: str | None = None


class ContactCenterActivity(Shape, kw_only=True, gc=False):
    NextActivity: str | None = None


class ConflictException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class CreateAppRequest(Shape, kw_only=True, gc=False):
    CreateApplicationRequest: CreateApplicationRequest


class CreateAppResponse(Shape, kw_only=True, gc=False):
    ApplicationResponse: ApplicationResponse


class CreateApplicationRequest(Shape, kw_only=True, gc=False):
    Name: str
    tags: dict[str, str] | None = None


class CreateCampaignRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    WriteCampaignRequest: WriteCampaignRequest


class CreateCampaignResponse(Shape, kw_only=True, gc=False):
    CampaignResponse: CampaignResponse


class CreateEmailTemplateRequest(Shape, kw_only=True, gc=False):
    EmailTemplateRequest: EmailTemplateRequest
    TemplateName: str


class CreateEmailTemplateResponse(Shape, kw_only=True, gc=False):
    CreateTemplateMessageBody: CreateTemplateMessageBody


class CreateExportJobRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    ExportJobRequest: ExportJobRequest


class CreateExportJobResponse(Shape, kw_only=True, gc=False):
    ExportJobResponse: ExportJobResponse


class CreateImportJobRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    ImportJobRequest: ImportJobRequest


class CreateImportJobResponse(Shape, kw_only=True, gc=False):
    ImportJobResponse: ImportJobResponse


class CreateInAppTemplateRequest(Shape, kw_only=True, gc=False):
    InAppTemplateRequest: InAppTemplateRequest
    TemplateName: str


class CreateInAppTemplateResponse(Shape, kw_only=True, gc=False):
    TemplateCreateMessageBody: TemplateCreateMessageBody


class CreateJourneyRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    WriteJourneyRequest: WriteJourneyRequest


class CreateJourneyResponse(Shape, kw_only=True, gc=False):
    JourneyResponse: JourneyResponse


class CreatePushTemplateRequest(Shape, kw_only=True, gc=False):
    PushNotificationTemplateRequest: PushNotificationTemplateRequest
    TemplateName: str


class CreatePushTemplateResponse(Shape, kw_only=True, gc=False):
    CreateTemplateMessageBody: CreateTemplateMessageBody


class CreateRecommenderConfiguration(Shape, kw_only=True, gc=False):
    Attributes: dict[str, str] | None = None
    Description: str | None = None
    Name: str | None = None
    RecommendationProviderIdType: str | None = None
    RecommendationProviderRoleArn: str
    RecommendationProviderUri: str
    RecommendationTransformerUri: str | None = None
    RecommendationsDisplayName: str | None = None
    RecommendationsPerMessage: int | None = None


class CreateRecommenderConfigurationRequest(Shape, kw_only=True, gc=False):
    CreateRecommenderConfiguration: CreateRecommenderConfiguration


class CreateRecommenderConfigurationResponse(Shape, kw_only=True, gc=False):
    RecommenderConfigurationResponse: RecommenderConfigurationResponse


class CreateSegmentRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    WriteSegmentRequest: WriteSegmentRequest


class CreateSegmentResponse(Shape, kw_only=True, gc=False):
    SegmentResponse: SegmentResponse


class CreateSmsTemplateRequest(Shape, kw_only=True, gc=False):
    SMSTemplateRequest: SMSTemplateRequest
    TemplateName: str


class CreateSmsTemplateResponse(Shape, kw_only=True, gc=False):
    CreateTemplateMessageBody: CreateTemplateMessageBody


class CreateTemplateMessageBody(Shape, kw_only=True, gc=False):
    Arn: str | None = None
    Message: str | None = None
    RequestID: str | None = None


class CreateVoiceTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    VoiceTemplateRequest: VoiceTemplateRequest


class CreateVoiceTemplateResponse(Shape, kw_only=True, gc=False):
    CreateTemplateMessageBody: CreateTemplateMessageBody


class CustomDeliveryConfiguration(Shape, kw_only=True, gc=False):
    DeliveryUri: str
    EndpointTypes: list[__EndpointTypesElement] | None = None


class CustomMessageActivity(Shape, kw_only=True, gc=False):
    DeliveryUri: str | None = None
    EndpointTypes: list[__EndpointTypesElement] | None = None
    MessageConfig: JourneyCustomMessage | None = None
    NextActivity: str | None = None
    TemplateName: str | None = None
    TemplateVersion: str | None = None


class DefaultButtonConfiguration(Shape, kw_only=True, gc=False):
    BackgroundColor: str | None = None
    BorderRadius: int | None = None
    ButtonAction: ButtonAction
    Link: str | None = None
    Text: str
    TextColor: str | None = None


class DefaultMessage(Shape, kw_only=True, gc=False):
    Body: str | None = None
    Substitutions: dict[str, list[str]] | None = None


class DefaultPushNotificationMessage(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    Data: dict[str, str] | None = None
    SilentPush: bool | None = None
    Substitutions: dict[str, list[str]] | None = None
    Title: str | None = None
    Url: str | None = None


class DefaultPushNotificationTemplate(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    Sound: str | None = None
    Title: str | None = None
    Url: str | None = None


class DeleteAdmChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteAdmChannelResponse(Shape, kw_only=True, gc=False):
    ADMChannelResponse: ADMChannelResponse


class DeleteApnsChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteApnsChannelResponse(Shape, kw_only=True, gc=False):
    APNSChannelResponse: APNSChannelResponse


class DeleteApnsSandboxChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteApnsSandboxChannelResponse(Shape, kw_only=True, gc=False):
    APNSSandboxChannelResponse: APNSSandboxChannelResponse


class DeleteApnsVoipChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteApnsVoipChannelResponse(Shape, kw_only=True, gc=False):
    APNSVoipChannelResponse: APNSVoipChannelResponse


class DeleteApnsVoipSandboxChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteApnsVoipSandboxChannelResponse(Shape, kw_only=True, gc=False):
    APNSVoipSandboxChannelResponse: APNSVoipSandboxChannelResponse


class DeleteAppRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteAppResponse(Shape, kw_only=True, gc=False):
    ApplicationResponse: ApplicationResponse


class DeleteBaiduChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteBaiduChannelResponse(Shape, kw_only=True, gc=False):
    BaiduChannelResponse: BaiduChannelResponse


class DeleteCampaignRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str


class DeleteCampaignResponse(Shape, kw_only=True, gc=False):
    CampaignResponse: CampaignResponse


class DeleteEmailChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteEmailChannelResponse(Shape, kw_only=True, gc=False):
    EmailChannelResponse: EmailChannelResponse


class DeleteEmailTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class DeleteEmailTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class DeleteEndpointRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndpointId: str


class DeleteEndpointResponse(Shape, kw_only=True, gc=False):
    EndpointResponse: EndpointResponse


class DeleteEventStreamRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteEventStreamResponse(Shape, kw_only=True, gc=False):
    EventStream: EventStream


class DeleteGcmChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteGcmChannelResponse(Shape, kw_only=True, gc=False):
    GCMChannelResponse: GCMChannelResponse


class DeleteInAppTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class DeleteInAppTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class DeleteJourneyRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str


class DeleteJourneyResponse(Shape, kw_only=True, gc=False):
    JourneyResponse: JourneyResponse


class DeletePushTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class DeletePushTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class DeleteRecommenderConfigurationRequest(Shape, kw_only=True, gc=False):
    RecommenderId: str


class DeleteRecommenderConfigurationResponse(Shape, kw_only=True, gc=False):
    RecommenderConfigurationResponse: RecommenderConfigurationResponse


class DeleteSegmentRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    SegmentId: str


class DeleteSegmentResponse(Shape, kw_only=True, gc=False):
    SegmentResponse: SegmentResponse


class DeleteSmsChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteSmsChannelResponse(Shape, kw_only=True, gc=False):
    SMSChannelResponse: SMSChannelResponse


class DeleteSmsTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class DeleteSmsTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class DeleteUserEndpointsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    UserId: str


class DeleteUserEndpointsResponse(Shape, kw_only=True, gc=False):
    EndpointsResponse: EndpointsResponse


class DeleteVoiceChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class DeleteVoiceChannelResponse(Shape, kw_only=True, gc=False):
    VoiceChannelResponse: VoiceChannelResponse


class DeleteVoiceTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class DeleteVoiceTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class DirectMessageConfiguration(Shape, kw_only=True, gc=False):
    ADMMessage: ADMMessage | None = None
    APNSMessage: APNSMessage | None = None
    BaiduMessage: BaiduMessage | None = None
    DefaultMessage: DefaultMessage | None = None
    DefaultPushNotificationMessage: DefaultPushNotificationMessage | None = None
    EmailMessage: EmailMessage | None = None
    GCMMessage: GCMMessage | None = None
    SMSMessage: SMSMessage | None = None
    VoiceMessage: VoiceMessage | None = None


class EmailChannelRequest(Shape, kw_only=True, gc=False):
    ConfigurationSet: str | None = None
    Enabled: bool | None = None
    FromAddress: str
    Identity: str
    RoleArn: str | None = None
    OrchestrationSendingRoleArn: str | None = None


class EmailChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    ConfigurationSet: str | None = None
    CreationDate: str | None = None
    Enabled: bool | None = None
    FromAddress: str | None = None
    HasCredential: bool | None = None
    Id: str | None = None
    Identity: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    MessagesPerSecond: int | None = None
    Platform: str
    RoleArn: str | None = None
    OrchestrationSendingRoleArn: str | None = None
    Version: int | None = None


class EmailMessage(Shape, kw_only=True, gc=False):
    Body: str | None = None
    FeedbackForwardingAddress: str | None = None
    FromAddress: str | None = None
    RawEmail: RawEmail | None = None
    ReplyToAddresses: list[str] | None = None
    SimpleEmail: SimpleEmail | None = None
    Substitutions: dict[str, list[str]] | None = None


class EmailMessageActivity(Shape, kw_only=True, gc=False):
    MessageConfig: JourneyEmailMessage | None = None
    NextActivity: str | None = None
    TemplateName: str | None = None
    TemplateVersion: str | None = None


class EmailTemplateRequest(Shape, kw_only=True, gc=False):
    DefaultSubstitutions: str | None = None
    HtmlPart: str | None = None
    RecommenderId: str | None = None
    Subject: str | None = None
    Headers: list[MessageHeader] | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    TextPart: str | None = None


class EmailTemplateResponse(Shape, kw_only=True, gc=False):
    Arn: str | None = None
    CreationDate: str
    DefaultSubstitutions: str | None = None
    HtmlPart: str | None = None
    LastModifiedDate: str
    RecommenderId: str | None = None
    Subject: str | None = None
    Headers: list[MessageHeader] | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    TemplateName: str
    TemplateType: TemplateType
    TextPart: str | None = None
    Version: str | None = None


class EndpointBatchItem(Shape, kw_only=True, gc=False):
    Address: str | None = None
    Attributes: dict[str, list[str]] | None = None
    ChannelType: ChannelType | None = None
    Demographic: EndpointDemographic | None = None
    EffectiveDate: str | None = None
    EndpointStatus: str | None = None
    Id: str | None = None
    Location: EndpointLocation | None = None
    Metrics: dict[str, float] | None = None
    OptOut: str | None = None
    RequestId: str | None = None
    User: EndpointUser | None = None


class EndpointBatchRequest(Shape, kw_only=True, gc=False):
    Item: list[EndpointBatchItem]


class EndpointDemographic(Shape, kw_only=True, gc=False):
    AppVersion: str | None = None
    Locale: str | None = None
    Make: str | None = None
    Model: str | None = None
    ModelVersion: str | None = None
    Platform: str | None = None
    PlatformVersion: str | None = None
    Timezone: str | None = None


class EndpointItemResponse(Shape, kw_only=True, gc=False):
    Message: str | None = None
    StatusCode: int | None = None


class EndpointLocation(Shape, kw_only=True, gc=False):
    City: str | None = None
    Country: str | None = None
    Latitude: float | None = None
    Longitude: float | None = None
    PostalCode: str | None = None
    Region: str | None = None


class EndpointMessageResult(Shape, kw_only=True, gc=False):
    Address: str | None = None
    DeliveryStatus: DeliveryStatus
    MessageId: str | None = None
    StatusCode: int
    StatusMessage: str | None = None
    UpdatedToken: str | None = None


class EndpointRequest(Shape, kw_only=True, gc=False):
    Address: str | None = None
    Attributes: dict[str, list[str]] | None = None
    ChannelType: ChannelType | None = None
    Demographic: EndpointDemographic | None = None
    EffectiveDate: str | None = None
    EndpointStatus: str | None = None
    Location: EndpointLocation | None = None
    Metrics: dict[str, float] | None = None
    OptOut: str | None = None
    RequestId: str | None = None
    User: EndpointUser | None = None


class EndpointResponse(Shape, kw_only=True, gc=False):
    Address: str | None = None
    ApplicationId: str | None = None
    Attributes: dict[str, list[str]] | None = None
    ChannelType: ChannelType | None = None
    CohortId: str | None = None
    CreationDate: str | None = None
    Demographic: EndpointDemographic | None = None
    EffectiveDate: str | None = None
    EndpointStatus: str | None = None
    Id: str | None = None
    Location: EndpointLocation | None = None
    Metrics: dict[str, float] | None = None
    OptOut: str | None = None
    RequestId: str | None = None
    User: EndpointUser | None = None


class EndpointSendConfiguration(Shape, kw_only=True, gc=False):
    BodyOverride: str | None = None
    Context: dict[str, str] | None = None
    RawContent: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    TitleOverride: str | None = None


class EndpointUser(Shape, kw_only=True, gc=False):
    UserAttributes: dict[str, list[str]] | None = None
    UserId: str | None = None


class EndpointsResponse(Shape, kw_only=True, gc=False):
    Item: list[EndpointResponse]


class Event(Shape, kw_only=True, gc=False):
    AppPackageName: str | None = None
    AppTitle: str | None = None
    AppVersionCode: str | None = None
    Attributes: dict[str, str] | None = None
    ClientSdkVersion: str | None = None
    EventType: str
    Metrics: dict[str, float] | None = None
    SdkName: str | None = None
    Session: Session | None = None
    Timestamp: str


class EventCondition(Shape, kw_only=True, gc=False):
    Dimensions: EventDimensions | None = None
    MessageActivity: str | None = None


class EventDimensions(Shape, kw_only=True, gc=False):
    Attributes: dict[str, AttributeDimension] | None = None
    EventType: SetDimension | None = None
    Metrics: dict[str, MetricDimension] | None = None


class EventFilter(Shape, kw_only=True, gc=False):
    Dimensions: EventDimensions
    FilterType: FilterType


class EventItemResponse(Shape, kw_only=True, gc=False):
    Message: str | None = None
    StatusCode: int | None = None


class EventStartCondition(Shape, kw_only=True, gc=False):
    EventFilter: EventFilter | None = None
    SegmentId: str | None = None


class EventStream(Shape, kw_only=True, gc=False):
    ApplicationId: str
    DestinationStreamArn: str
    ExternalId: str | None = None
    LastModifiedDate: str | None = None
    LastUpdatedBy: str | None = None
    RoleArn: str


class EventsBatch(Shape, kw_only=True, gc=False):
    Endpoint: PublicEndpoint
    Events: dict[str, Event]


class EventsRequest(Shape, kw_only=True, gc=False):
    BatchItem: dict[str, EventsBatch]


class EventsResponse(Shape, kw_only=True, gc=False):
    Results: dict[str, ItemResponse] | None = None


class ExportJobRequest(Shape, kw_only=True, gc=False):
    RoleArn: str
    S3UrlPrefix: str
    SegmentId: str | None = None
    SegmentVersion: int | None = None


class ExportJobResource(Shape, kw_only=True, gc=False):
    RoleArn: str
    S3UrlPrefix: str
    SegmentId: str | None = None
    SegmentVersion: int | None = None


class ExportJobResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CompletedPieces: int | None = None
    CompletionDate: str | None = None
    CreationDate: str
    Definition: ExportJobResource
    FailedPieces: int | None = None
    Failures: list[str] | None = None
    Id: str
    JobStatus: JobStatus
    TotalFailures: int | None = None
    TotalPieces: int | None = None
    TotalProcessed: int | None = None
    Type: str


class ExportJobsResponse(Shape, kw_only=True, gc=False):
    Item: list[ExportJobResponse]
    NextToken: str | None = None


class ForbiddenException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class GCMChannelRequest(Shape, kw_only=True, gc=False):
    ApiKey: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    ServiceJson: str | None = None


class GCMChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    Credential: str | None = None
    DefaultAuthenticationMethod: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    HasFcmServiceCredentials: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class GCMMessage(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    CollapseKey: str | None = None
    Data: dict[str, str] | None = None
    IconReference: str | None = None
    ImageIconUrl: str | None = None
    ImageUrl: str | None = None
    PreferredAuthenticationMethod: str | None = None
    Priority: str | None = None
    RawContent: str | None = None
    RestrictedPackageName: str | None = None
    SilentPush: bool | None = None
    SmallImageIconUrl: str | None = None
    Sound: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    TimeToLive: int | None = None
    Title: str | None = None
    Url: str | None = None


class GPSCoordinates(Shape, kw_only=True, gc=False):
    Latitude: float
    Longitude: float


class GPSPointDimension(Shape, kw_only=True, gc=False):
    Coordinates: GPSCoordinates
    RangeInKilometers: float | None = None


class GetAdmChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetAdmChannelResponse(Shape, kw_only=True, gc=False):
    ADMChannelResponse: ADMChannelResponse


class GetApnsChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetApnsChannelResponse(Shape, kw_only=True, gc=False):
    APNSChannelResponse: APNSChannelResponse


class GetApnsSandboxChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetApnsSandboxChannelResponse(Shape, kw_only=True, gc=False):
    APNSSandboxChannelResponse: APNSSandboxChannelResponse


class GetApnsVoipChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetApnsVoipChannelResponse(Shape, kw_only=True, gc=False):
    APNSVoipChannelResponse: APNSVoipChannelResponse


class GetApnsVoipSandboxChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetApnsVoipSandboxChannelResponse(Shape, kw_only=True, gc=False):
    APNSVoipSandboxChannelResponse: APNSVoipSandboxChannelResponse


class GetAppRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetAppResponse(Shape, kw_only=True, gc=False):
    ApplicationResponse: ApplicationResponse


class GetApplicationDateRangeKpiRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndTime: str | None = None
    KpiName: str
    NextToken: str | None = None
    PageSize: str | None = None
    StartTime: str | None = None


class GetApplicationDateRangeKpiResponse(Shape, kw_only=True, gc=False):
    ApplicationDateRangeKpiResponse: ApplicationDateRangeKpiResponse


class GetApplicationSettingsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetApplicationSettingsResponse(Shape, kw_only=True, gc=False):
    ApplicationSettingsResource: ApplicationSettingsResource


class GetAppsRequest(Shape, kw_only=True, gc=False):
    PageSize: str | None = None
    Token: str | None = None


class GetAppsResponse(Shape, kw_only=True, gc=False):
    ApplicationsResponse: ApplicationsResponse


class GetBaiduChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetBaiduChannelResponse(Shape, kw_only=True, gc=False):
    BaiduChannelResponse: BaiduChannelResponse


class GetCampaignActivitiesRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str
    PageSize: str | None = None
    Token: str | None = None


class GetCampaignActivitiesResponse(Shape, kw_only=True, gc=False):
    ActivitiesResponse: ActivitiesResponse


class GetCampaignDateRangeKpiRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str
    EndTime: str | None = None
    KpiName: str
    NextToken: str | None = None
    PageSize: str | None = None
    StartTime: str | None = None


class GetCampaignDateRangeKpiResponse(Shape, kw_only=True, gc=False):
    CampaignDateRangeKpiResponse: CampaignDateRangeKpiResponse


class GetCampaignRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str


class GetCampaignResponse(Shape, kw_only=True, gc=False):
    CampaignResponse: CampaignResponse


class GetCampaignVersionRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str
    Version: str


class GetCampaignVersionResponse(Shape, kw_only=True, gc=False):
    CampaignResponse: CampaignResponse


class GetCampaignVersionsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str
    PageSize: str | None = None
    Token: str | None = None


class GetCampaignVersionsResponse(Shape, kw_only=True, gc=False):
    CampaignsResponse: CampaignsResponse


class GetCampaignsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    Token: str | None = None


class GetCampaignsResponse(Shape, kw_only=True, gc=False):
    CampaignsResponse: CampaignsResponse


class GetChannelsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetChannelsResponse(Shape, kw_only=True, gc=False):
    ChannelsResponse: ChannelsResponse


class GetEmailChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetEmailChannelResponse(Shape, kw_only=True, gc=False):
    EmailChannelResponse: EmailChannelResponse


class GetEmailTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class GetEmailTemplateResponse(Shape, kw_only=True, gc=False):
    EmailTemplateResponse: EmailTemplateResponse


class GetEndpointRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndpointId: str


class GetEndpointResponse(Shape, kw_only=True, gc=False):
    EndpointResponse: EndpointResponse


class GetEventStreamRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetEventStreamResponse(Shape, kw_only=True, gc=False):
    EventStream: EventStream


class GetExportJobRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JobId: str


class GetExportJobResponse(Shape, kw_only=True, gc=False):
    ExportJobResponse: ExportJobResponse


class GetExportJobsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    Token: str | None = None


class GetExportJobsResponse(Shape, kw_only=True, gc=False):
    ExportJobsResponse: ExportJobsResponse


class GetGcmChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetGcmChannelResponse(Shape, kw_only=True, gc=False):
    GCMChannelResponse: GCMChannelResponse


class GetImportJobRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JobId: str


class GetImportJobResponse(Shape, kw_only=True, gc=False):
    ImportJobResponse: ImportJobResponse


class GetImportJobsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    Token: str | None = None


class GetImportJobsResponse(Shape, kw_only=True, gc=False):
    ImportJobsResponse: ImportJobsResponse


class GetInAppMessagesRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndpointId: str


class GetInAppMessagesResponse(Shape, kw_only=True, gc=False):
    InAppMessagesResponse: InAppMessagesResponse


class GetInAppTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class GetInAppTemplateResponse(Shape, kw_only=True, gc=False):
    InAppTemplateResponse: InAppTemplateResponse


class GetJourneyDateRangeKpiRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndTime: str | None = None
    JourneyId: str
    KpiName: str
    NextToken: str | None = None
    PageSize: str | None = None
    StartTime: str | None = None


class GetJourneyDateRangeKpiResponse(Shape, kw_only=True, gc=False):
    JourneyDateRangeKpiResponse: JourneyDateRangeKpiResponse


class GetJourneyExecutionActivityMetricsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyActivityId: str
    JourneyId: str
    NextToken: str | None = None
    PageSize: str | None = None


class GetJourneyExecutionActivityMetricsResponse(Shape, kw_only=True, gc=False):
    JourneyExecutionActivityMetricsResponse: JourneyExecutionActivityMetricsResponse


class GetJourneyExecutionMetricsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str
    NextToken: str | None = None
    PageSize: str | None = None


class GetJourneyExecutionMetricsResponse(Shape, kw_only=True, gc=False):
    JourneyExecutionMetricsResponse: JourneyExecutionMetricsResponse


class GetJourneyRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str


class GetJourneyResponse(Shape, kw_only=True, gc=False):
    JourneyResponse: JourneyResponse


class GetJourneyRunExecutionActivityMetricsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyActivityId: str
    JourneyId: str
    NextToken: str | None = None
    PageSize: str | None = None
    RunId: str


class GetJourneyRunExecutionActivityMetricsResponse(Shape, kw_only=True, gc=False):
    JourneyRunExecutionActivityMetricsResponse: JourneyRunExecutionActivityMetricsResponse


class GetJourneyRunExecutionMetricsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str
    NextToken: str | None = None
    PageSize: str | None = None
    RunId: str


class GetJourneyRunExecutionMetricsResponse(Shape, kw_only=True, gc=False):
    JourneyRunExecutionMetricsResponse: JourneyRunExecutionMetricsResponse


class GetJourneyRunsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str
    PageSize: str | None = None
    Token: str | None = None


class GetJourneyRunsResponse(Shape, kw_only=True, gc=False):
    JourneyRunsResponse: JourneyRunsResponse


class GetPushTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class GetPushTemplateResponse(Shape, kw_only=True, gc=False):
    PushNotificationTemplateResponse: PushNotificationTemplateResponse


class GetRecommenderConfigurationRequest(Shape, kw_only=True, gc=False):
    RecommenderId: str


class GetRecommenderConfigurationResponse(Shape, kw_only=True, gc=False):
    RecommenderConfigurationResponse: RecommenderConfigurationResponse


class GetRecommenderConfigurationsRequest(Shape, kw_only=True, gc=False):
    PageSize: str | None = None
    Token: str | None = None


class GetRecommenderConfigurationsResponse(Shape, kw_only=True, gc=False):
    ListRecommenderConfigurationsResponse: ListRecommenderConfigurationsResponse


class GetSegmentExportJobsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    SegmentId: str
    Token: str | None = None


class GetSegmentExportJobsResponse(Shape, kw_only=True, gc=False):
    ExportJobsResponse: ExportJobsResponse


class GetSegmentImportJobsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    SegmentId: str
    Token: str | None = None


class GetSegmentImportJobsResponse(Shape, kw_only=True, gc=False):
    ImportJobsResponse: ImportJobsResponse


class GetSegmentRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    SegmentId: str


class GetSegmentResponse(Shape, kw_only=True, gc=False):
    SegmentResponse: SegmentResponse


class GetSegmentVersionRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    SegmentId: str
    Version: str


class GetSegmentVersionResponse(Shape, kw_only=True, gc=False):
    SegmentResponse: SegmentResponse


class GetSegmentVersionsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    SegmentId: str
    Token: str | None = None


class GetSegmentVersionsResponse(Shape, kw_only=True, gc=False):
    SegmentsResponse: SegmentsResponse


class GetSegmentsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    Token: str | None = None


class GetSegmentsResponse(Shape, kw_only=True, gc=False):
    SegmentsResponse: SegmentsResponse


class GetSmsChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetSmsChannelResponse(Shape, kw_only=True, gc=False):
    SMSChannelResponse: SMSChannelResponse


class GetSmsTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class GetSmsTemplateResponse(Shape, kw_only=True, gc=False):
    SMSTemplateResponse: SMSTemplateResponse


class GetUserEndpointsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    UserId: str


class GetUserEndpointsResponse(Shape, kw_only=True, gc=False):
    EndpointsResponse: EndpointsResponse


class GetVoiceChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str


class GetVoiceChannelResponse(Shape, kw_only=True, gc=False):
    VoiceChannelResponse: VoiceChannelResponse


class GetVoiceTemplateRequest(Shape, kw_only=True, gc=False):
    TemplateName: str
    Version: str | None = None


class GetVoiceTemplateResponse(Shape, kw_only=True, gc=False):
    VoiceTemplateResponse: VoiceTemplateResponse


class HoldoutActivity(Shape, kw_only=True, gc=False):
    NextActivity: str | None = None
    Percentage: int


class ImportJobRequest(Shape, kw_only=True, gc=False):
    DefineSegment: bool | None = None
    ExternalId: str | None = None
    Format: Format
    RegisterEndpoints: bool | None = None
    RoleArn: str
    S3Url: str
    SegmentId: str | None = None
    SegmentName: str | None = None


class ImportJobResource(Shape, kw_only=True, gc=False):
    DefineSegment: bool | None = None
    ExternalId: str | None = None
    Format: Format
    RegisterEndpoints: bool | None = None
    RoleArn: str
    S3Url: str
    SegmentId: str | None = None
    SegmentName: str | None = None


class ImportJobResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CompletedPieces: int | None = None
    CompletionDate: str | None = None
    CreationDate: str
    Definition: ImportJobResource
    FailedPieces: int | None = None
    Failures: list[str] | None = None
    Id: str
    JobStatus: JobStatus
    TotalFailures: int | None = None
    TotalPieces: int | None = None
    TotalProcessed: int | None = None
    Type: str


class ImportJobsResponse(Shape, kw_only=True, gc=False):
    Item: list[ImportJobResponse]
    NextToken: str | None = None


class InAppCampaignSchedule(Shape, kw_only=True, gc=False):
    EndDate: str | None = None
    EventFilter: CampaignEventFilter | None = None
    QuietTime: QuietTime | None = None


class InAppMessage(Shape, kw_only=True, gc=False):
    Content: list[InAppMessageContent] | None = None
    CustomConfig: dict[str, str] | None = None
    Layout: Layout | None = None


class InAppMessageBodyConfig(Shape, kw_only=True, gc=False):
    Alignment: Alignment
    Body: str
    TextColor: str


class InAppMessageButton(Shape, kw_only=True, gc=False):
    Android: OverrideButtonConfiguration | None = None
    DefaultConfig: DefaultButtonConfiguration | None = None
    IOS: OverrideButtonConfiguration | None = None
    Web: OverrideButtonConfiguration | None = None


class InAppMessageCampaign(Shape, kw_only=True, gc=False):
    CampaignId: str | None = None
    DailyCap: int | None = None
    InAppMessage: InAppMessage | None = None
    Priority: int | None = None
    Schedule: InAppCampaignSchedule | None = None
    SessionCap: int | None = None
    TotalCap: int | None = None
    TreatmentId: str | None = None


class InAppMessageContent(Shape, kw_only=True, gc=False):
    BackgroundColor: str | None = None
    BodyConfig: InAppMessageBodyConfig | None = None
    HeaderConfig: InAppMessageHeaderConfig | None = None
    ImageUrl: str | None = None
    PrimaryBtn: InAppMessageButton | None = None
    SecondaryBtn: InAppMessageButton | None = None


class InAppMessageHeaderConfig(Shape, kw_only=True, gc=False):
    Alignment: Alignment
    Header: str
    TextColor: str


class InAppMessagesResponse(Shape, kw_only=True, gc=False):
    InAppMessageCampaigns: list[InAppMessageCampaign] | None = None


class InAppTemplateRequest(Shape, kw_only=True, gc=False):
    Content: list[InAppMessageContent] | None = None
    CustomConfig: dict[str, str] | None = None
    Layout: Layout | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None


class InAppTemplateResponse(Shape, kw_only=True, gc=False):
    Arn: str | None = None
    Content: list[InAppMessageContent] | None = None
    CreationDate: str
    CustomConfig: dict[str, str] | None = None
    LastModifiedDate: str
    Layout: Layout | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    TemplateName: str
    TemplateType: TemplateType
    Version: str | None = None


class InternalServerErrorException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class ItemResponse(Shape, kw_only=True, gc=False):
    EndpointItemResponse: EndpointItemResponse | None = None
    EventsItemResponse: dict[str, EventItemResponse] | None = None


class JourneyCustomMessage(Shape, kw_only=True, gc=False):
    Data: str | None = None


class JourneyDateRangeKpiResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndTime: str
    JourneyId: str
    KpiName: str
    KpiResult: BaseKpiResult
    NextToken: str | None = None
    StartTime: str


class JourneyEmailMessage(Shape, kw_only=True, gc=False):
    FromAddress: str | None = None


class JourneyExecutionActivityMetricsResponse(Shape, kw_only=True, gc=False):
    ActivityType: str
    ApplicationId: str
    JourneyActivityId: str
    JourneyId: str
    LastEvaluatedTime: str
    Metrics: dict[str, str]


class JourneyExecutionMetricsResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str
    LastEvaluatedTime: str
    Metrics: dict[str, str]


class JourneyLimits(Shape, kw_only=True, gc=False):
    DailyCap: int | None = None
    EndpointReentryCap: int | None = None
    MessagesPerSecond: int | None = None
    EndpointReentryInterval: str | None = None
    TimeframeCap: JourneyTimeframeCap | None = None
    TotalCap: int | None = None


class JourneyPushMessage(Shape, kw_only=True, gc=False):
    TimeToLive: str | None = None


class JourneyChannelSettings(Shape, kw_only=True, gc=False):
    ConnectCampaignArn: str | None = None
    ConnectCampaignExecutionRoleArn: str | None = None


class JourneyResponse(Shape, kw_only=True, gc=False):
    Activities: dict[str, Activity] | None = None
    ApplicationId: str
    CreationDate: str | None = None
    Id: str
    LastModifiedDate: str | None = None
    Limits: JourneyLimits | None = None
    LocalTime: bool | None = None
    Name: str
    QuietTime: QuietTime | None = None
    RefreshFrequency: str | None = None
    Schedule: JourneySchedule | None = None
    StartActivity: str | None = None
    StartCondition: StartCondition | None = None
    State: State | None = None
    tags: dict[str, str] | None = None
    WaitForQuietTime: bool | None = None
    RefreshOnSegmentUpdate: bool | None = None
    JourneyChannelSettings: JourneyChannelSettings | None = None
    SendingSchedule: bool | None = None
    OpenHours: OpenHours | None = None
    ClosedDays: ClosedDays | None = None
    TimezoneEstimationMethods: list[__TimezoneEstimationMethodsElement] | None = None


class JourneyRunExecutionActivityMetricsResponse(Shape, kw_only=True, gc=False):
    ActivityType: str
    ApplicationId: str
    JourneyActivityId: str
    JourneyId: str
    LastEvaluatedTime: str
    Metrics: dict[str, str]
    RunId: str


class JourneyRunExecutionMetricsResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str
    LastEvaluatedTime: str
    Metrics: dict[str, str]
    RunId: str


class JourneyRunResponse(Shape, kw_only=True, gc=False):
    CreationTime: str
    LastUpdateTime: str
    RunId: str
    Status: JourneyRunStatus


class JourneyRunsResponse(Shape, kw_only=True, gc=False):
    Item: list[JourneyRunResponse]
    NextToken: str | None = None


class JourneySMSMessage(Shape, kw_only=True, gc=False):
    MessageType: MessageType | None = None
    OriginationNumber: str | None = None
    SenderId: str | None = None
    EntityId: str | None = None
    TemplateId: str | None = None


class JourneySchedule(Shape, kw_only=True, gc=False):
    EndTime: str | None = None
    StartTime: str | None = None
    Timezone: str | None = None


class JourneyStateRequest(Shape, kw_only=True, gc=False):
    State: State | None = None


class JourneyTimeframeCap(Shape, kw_only=True, gc=False):
    Cap: int | None = None
    Days: int | None = None


class JourneysResponse(Shape, kw_only=True, gc=False):
    Item: list[JourneyResponse]
    NextToken: str | None = None


class ListJourneysRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    PageSize: str | None = None
    Token: str | None = None


class ListJourneysResponse(Shape, kw_only=True, gc=False):
    JourneysResponse: JourneysResponse


class ListRecommenderConfigurationsResponse(Shape, kw_only=True, gc=False):
    Item: list[RecommenderConfigurationResponse]
    NextToken: str | None = None


class ListTagsForResourceRequest(Shape, kw_only=True, gc=False):
    ResourceArn: str


class ListTagsForResourceResponse(Shape, kw_only=True, gc=False):
    TagsModel: TagsModel


class ListTemplateVersionsRequest(Shape, kw_only=True, gc=False):
    NextToken: str | None = None
    PageSize: str | None = None
    TemplateName: str
    TemplateType: str


class ListTemplateVersionsResponse(Shape, kw_only=True, gc=False):
    TemplateVersionsResponse: TemplateVersionsResponse


class ListTemplatesRequest(Shape, kw_only=True, gc=False):
    NextToken: str | None = None
    PageSize: str | None = None
    Prefix: str | None = None
    TemplateType: str | None = None


class ListTemplatesResponse(Shape, kw_only=True, gc=False):
    TemplatesResponse: TemplatesResponse


class Message(Shape, kw_only=True, gc=False):
    Action: Action | None = None
    Body: str | None = None
    ImageIconUrl: str | None = None
    ImageSmallIconUrl: str | None = None
    ImageUrl: str | None = None
    JsonBody: str | None = None
    MediaUrl: str | None = None
    RawContent: str | None = None
    SilentPush: bool | None = None
    TimeToLive: int | None = None
    Title: str | None = None
    Url: str | None = None


class MessageBody(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class MessageConfiguration(Shape, kw_only=True, gc=False):
    ADMMessage: Message | None = None
    APNSMessage: Message | None = None
    BaiduMessage: Message | None = None
    CustomMessage: CampaignCustomMessage | None = None
    DefaultMessage: Message | None = None
    EmailMessage: CampaignEmailMessage | None = None
    GCMMessage: Message | None = None
    SMSMessage: CampaignSmsMessage | None = None
    InAppMessage: CampaignInAppMessage | None = None


class MessageRequest(Shape, kw_only=True, gc=False):
    Addresses: dict[str, AddressConfiguration] | None = None
    Context: dict[str, str] | None = None
    Endpoints: dict[str, EndpointSendConfiguration] | None = None
    MessageConfiguration: DirectMessageConfiguration
    TemplateConfiguration: TemplateConfiguration | None = None
    TraceId: str | None = None


class MessageResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndpointResult: dict[str, EndpointMessageResult] | None = None
    RequestId: str | None = None
    Result: dict[str, MessageResult] | None = None


class MessageResult(Shape, kw_only=True, gc=False):
    DeliveryStatus: DeliveryStatus
    MessageId: str | None = None
    StatusCode: int
    StatusMessage: str | None = None
    UpdatedToken: str | None = None


class MethodNotAllowedException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class MetricDimension(Shape, kw_only=True, gc=False):
    ComparisonOperator: str
    Value: float


class MultiConditionalBranch(Shape, kw_only=True, gc=False):
    Condition: SimpleCondition | None = None
    NextActivity: str | None = None


class MultiConditionalSplitActivity(Shape, kw_only=True, gc=False):
    Branches: list[MultiConditionalBranch] | None = None
    DefaultActivity: str | None = None
    EvaluationWaitTime: WaitTime | None = None


class NotFoundException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class NumberValidateRequest(Shape, kw_only=True, gc=False):
    IsoCountryCode: str | None = None
    PhoneNumber: str | None = None


class NumberValidateResponse(Shape, kw_only=True, gc=False):
    Carrier: str | None = None
    City: str | None = None
    CleansedPhoneNumberE164: str | None = None
    CleansedPhoneNumberNational: str | None = None
    Country: str | None = None
    CountryCodeIso2: str | None = None
    CountryCodeNumeric: str | None = None
    County: str | None = None
    OriginalCountryCodeIso2: str | None = None
    OriginalPhoneNumber: str | None = None
    PhoneType: str | None = None
    PhoneTypeCode: int | None = None
    Timezone: str | None = None
    ZipCode: str | None = None


class OverrideButtonConfiguration(Shape, kw_only=True, gc=False):
    ButtonAction: ButtonAction
    Link: str | None = None


class PayloadTooLargeException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class PhoneNumberValidateRequest(Shape, kw_only=True, gc=False):
    NumberValidateRequest: NumberValidateRequest


class PhoneNumberValidateResponse(Shape, kw_only=True, gc=False):
    NumberValidateResponse: NumberValidateResponse


class PublicEndpoint(Shape, kw_only=True, gc=False):
    Address: str | None = None
    Attributes: dict[str, list[str]] | None = None
    ChannelType: ChannelType | None = None
    Demographic: EndpointDemographic | None = None
    EffectiveDate: str | None = None
    EndpointStatus: str | None = None
    Location: EndpointLocation | None = None
    Metrics: dict[str, float] | None = None
    OptOut: str | None = None
    RequestId: str | None = None
    User: EndpointUser | None = None


class PushMessageActivity(Shape, kw_only=True, gc=False):
    MessageConfig: JourneyPushMessage | None = None
    NextActivity: str | None = None
    TemplateName: str | None = None
    TemplateVersion: str | None = None


class PushNotificationTemplateRequest(Shape, kw_only=True, gc=False):
    ADM: AndroidPushNotificationTemplate | None = None
    APNS: APNSPushNotificationTemplate | None = None
    Baidu: AndroidPushNotificationTemplate | None = None
    Default: DefaultPushNotificationTemplate | None = None
    DefaultSubstitutions: str | None = None
    GCM: AndroidPushNotificationTemplate | None = None
    RecommenderId: str | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None


class PushNotificationTemplateResponse(Shape, kw_only=True, gc=False):
    ADM: AndroidPushNotificationTemplate | None = None
    APNS: APNSPushNotificationTemplate | None = None
    Arn: str | None = None
    Baidu: AndroidPushNotificationTemplate | None = None
    CreationDate: str
    Default: DefaultPushNotificationTemplate | None = None
    DefaultSubstitutions: str | None = None
    GCM: AndroidPushNotificationTemplate | None = None
    LastModifiedDate: str
    RecommenderId: str | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    TemplateName: str
    TemplateType: TemplateType
    Version: str | None = None


class PutEventStreamRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    WriteEventStream: WriteEventStream


class PutEventStreamResponse(Shape, kw_only=True, gc=False):
    EventStream: EventStream


class PutEventsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EventsRequest: EventsRequest


class PutEventsResponse(Shape, kw_only=True, gc=False):
    EventsResponse: EventsResponse


class QuietTime(Shape, kw_only=True, gc=False):
    End: str | None = None
    Start: str | None = None


class RandomSplitActivity(Shape, kw_only=True, gc=False):
    Branches: list[RandomSplitEntry] | None = None


class RandomSplitEntry(Shape, kw_only=True, gc=False):
    NextActivity: str | None = None
    Percentage: int | None = None


class RawEmail(Shape, kw_only=True, gc=False):
    Data: bytes | None = None


class RecencyDimension(Shape, kw_only=True, gc=False):
    Duration: Duration
    RecencyType: RecencyType


class RecommenderConfigurationResponse(Shape, kw_only=True, gc=False):
    Attributes: dict[str, str] | None = None
    CreationDate: str
    Description: str | None = None
    Id: str
    LastModifiedDate: str
    Name: str | None = None
    RecommendationProviderIdType: str | None = None
    RecommendationProviderRoleArn: str
    RecommendationProviderUri: str
    RecommendationTransformerUri: str | None = None
    RecommendationsDisplayName: str | None = None
    RecommendationsPerMessage: int | None = None


class RemoveAttributesRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    AttributeType: str
    UpdateAttributesRequest: UpdateAttributesRequest


class RemoveAttributesResponse(Shape, kw_only=True, gc=False):
    AttributesResource: AttributesResource


class ResultRow(Shape, kw_only=True, gc=False):
    GroupedBys: list[ResultRowValue]
    Values: list[ResultRowValue]


class ResultRowValue(Shape, kw_only=True, gc=False):
    Key: str
    Type: str
    Value: str


class SMSChannelRequest(Shape, kw_only=True, gc=False):
    Enabled: bool | None = None
    SenderId: str | None = None
    ShortCode: str | None = None


class SMSChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    PromotionalMessagesPerSecond: int | None = None
    SenderId: str | None = None
    ShortCode: str | None = None
    TransactionalMessagesPerSecond: int | None = None
    Version: int | None = None


class SMSMessage(Shape, kw_only=True, gc=False):
    Body: str | None = None
    Keyword: str | None = None
    MediaUrl: str | None = None
    MessageType: MessageType | None = None
    OriginationNumber: str | None = None
    SenderId: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    EntityId: str | None = None
    TemplateId: str | None = None


class SMSMessageActivity(Shape, kw_only=True, gc=False):
    MessageConfig: JourneySMSMessage | None = None
    NextActivity: str | None = None
    TemplateName: str | None = None
    TemplateVersion: str | None = None


class SMSTemplateRequest(Shape, kw_only=True, gc=False):
    Body: str | None = None
    DefaultSubstitutions: str | None = None
    RecommenderId: str | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None


class SMSTemplateResponse(Shape, kw_only=True, gc=False):
    Arn: str | None = None
    Body: str | None = None
    CreationDate: str
    DefaultSubstitutions: str | None = None
    LastModifiedDate: str
    RecommenderId: str | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    TemplateName: str
    TemplateType: TemplateType
    Version: str | None = None


class Schedule(Shape, kw_only=True, gc=False):
    EndTime: str | None = None
    EventFilter: CampaignEventFilter | None = None
    Frequency: Frequency | None = None
    IsLocalTime: bool | None = None
    QuietTime: QuietTime | None = None
    StartTime: str
    Timezone: str | None = None


class SegmentBehaviors(Shape, kw_only=True, gc=False):
    Recency: RecencyDimension | None = None


class SegmentCondition(Shape, kw_only=True, gc=False):
    SegmentId: str


class SegmentDemographics(Shape, kw_only=True, gc=False):
    AppVersion: SetDimension | None = None
    Channel: SetDimension | None = None
    DeviceType: SetDimension | None = None
    Make: SetDimension | None = None
    Model: SetDimension | None = None
    Platform: SetDimension | None = None


class SegmentDimensions(Shape, kw_only=True, gc=False):
    Attributes: dict[str, AttributeDimension] | None = None
    Behavior: SegmentBehaviors | None = None
    Demographic: SegmentDemographics | None = None
    Location: SegmentLocation | None = None
    Metrics: dict[str, MetricDimension] | None = None
    UserAttributes: dict[str, AttributeDimension] | None = None


class SegmentGroup(Shape, kw_only=True, gc=False):
    Dimensions: list[SegmentDimensions] | None = None
    SourceSegments: list[SegmentReference] | None = None
    SourceType: SourceType | None = None
    Type: Type | None = None


class SegmentGroupList(Shape, kw_only=True, gc=False):
    Groups: list[SegmentGroup] | None = None
    Include: Include | None = None


class SegmentImportResource(Shape, kw_only=True, gc=False):
    ChannelCounts: dict[str, int] | None = None
    ExternalId: str
    Format: Format
    RoleArn: str
    S3Url: str
    Size: int


class SegmentLocation(Shape, kw_only=True, gc=False):
    Country: SetDimension | None = None
    GPSPoint: GPSPointDimension | None = None


class SegmentReference(Shape, kw_only=True, gc=False):
    Id: str
    Version: int | None = None


class SegmentResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    Arn: str
    CreationDate: str
    Dimensions: SegmentDimensions | None = None
    Id: str
    ImportDefinition: SegmentImportResource | None = None
    LastModifiedDate: str | None = None
    Name: str | None = None
    SegmentGroups: SegmentGroupList | None = None
    SegmentType: SegmentType
    tags: dict[str, str] | None = None
    Version: int | None = None


class SegmentsResponse(Shape, kw_only=True, gc=False):
    Item: list[SegmentResponse]
    NextToken: str | None = None


class SendMessagesRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    MessageRequest: MessageRequest


class SendMessagesResponse(Shape, kw_only=True, gc=False):
    MessageResponse: MessageResponse


class SendOTPMessageRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    SendOTPMessageRequestParameters: SendOTPMessageRequestParameters


class SendOTPMessageRequestParameters(Shape, kw_only=True, gc=False):
    AllowedAttempts: int | None = None
    BrandName: str
    Channel: str
    CodeLength: int | None = None
    DestinationIdentity: str
    EntityId: str | None = None
    Language: str | None = None
    OriginationIdentity: str
    ReferenceId: str
    TemplateId: str | None = None
    ValidityPeriod: int | None = None


class SendOTPMessageResponse(Shape, kw_only=True, gc=False):
    MessageResponse: MessageResponse


class SendUsersMessageRequest(Shape, kw_only=True, gc=False):
    Context: dict[str, str] | None = None
    MessageConfiguration: DirectMessageConfiguration
    TemplateConfiguration: TemplateConfiguration | None = None
    TraceId: str | None = None
    Users: dict[str, EndpointSendConfiguration]


class SendUsersMessageResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str
    RequestId: str | None = None
    Result: dict[str, dict[str, EndpointMessageResult]] | None = None


class SendUsersMessagesRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    SendUsersMessageRequest: SendUsersMessageRequest


class SendUsersMessagesResponse(Shape, kw_only=True, gc=False):
    SendUsersMessageResponse: SendUsersMessageResponse


class Session(Shape, kw_only=True, gc=False):
    Duration: int | None = None
    Id: str
    StartTimestamp: str
    StopTimestamp: str | None = None


class SetDimension(Shape, kw_only=True, gc=False):
    DimensionType: DimensionType | None = None
    Values: list[str]


class SimpleCondition(Shape, kw_only=True, gc=False):
    EventCondition: EventCondition | None = None
    SegmentCondition: SegmentCondition | None = None
    SegmentDimensions: SegmentDimensions | None = None


class SimpleEmail(Shape, kw_only=True, gc=False):
    HtmlPart: SimpleEmailPart | None = None
    Subject: SimpleEmailPart | None = None
    TextPart: SimpleEmailPart | None = None
    Headers: list[MessageHeader] | None = None


class MessageHeader(Shape, kw_only=True, gc=False):
    Name: str | None = None
    Value: str | None = None


class SimpleEmailPart(Shape, kw_only=True, gc=False):
    Charset: str | None = None
    Data: str | None = None


class StartCondition(Shape, kw_only=True, gc=False):
    Description: str | None = None
    EventStartCondition: EventStartCondition | None = None
    SegmentStartCondition: SegmentCondition | None = None


class TagResourceRequest(Shape, kw_only=True, gc=False):
    ResourceArn: str
    TagsModel: TagsModel


class TagsModel(Shape, kw_only=True, gc=False):
    tags: dict[str, str]


class Template(Shape, kw_only=True, gc=False):
    Name: str | None = None
    Version: str | None = None


class TemplateActiveVersionRequest(Shape, kw_only=True, gc=False):
    Version: str | None = None


class TemplateConfiguration(Shape, kw_only=True, gc=False):
    EmailTemplate: Template | None = None
    PushTemplate: Template | None = None
    SMSTemplate: Template | None = None
    VoiceTemplate: Template | None = None
    InAppTemplate: Template | None = None


class TemplateCreateMessageBody(Shape, kw_only=True, gc=False):
    Arn: str | None = None
    Message: str | None = None
    RequestID: str | None = None


class TemplateResponse(Shape, kw_only=True, gc=False):
    Arn: str | None = None
    CreationDate: str
    DefaultSubstitutions: str | None = None
    LastModifiedDate: str
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    TemplateName: str
    TemplateType: TemplateType
    Version: str | None = None


class TemplateVersionResponse(Shape, kw_only=True, gc=False):
    CreationDate: str
    DefaultSubstitutions: str | None = None
    LastModifiedDate: str
    TemplateDescription: str | None = None
    TemplateName: str
    TemplateType: str
    Version: str | None = None


class TemplateVersionsResponse(Shape, kw_only=True, gc=False):
    Item: list[TemplateVersionResponse]
    Message: str | None = None
    NextToken: str | None = None
    RequestID: str | None = None


class TemplatesResponse(Shape, kw_only=True, gc=False):
    Item: list[TemplateResponse]
    NextToken: str | None = None


class TooManyRequestsException(Shape, kw_only=True, gc=False):
    Message: str | None = None
    RequestID: str | None = None


class TreatmentResource(Shape, kw_only=True, gc=False):
    CustomDeliveryConfiguration: CustomDeliveryConfiguration | None = None
    Id: str
    MessageConfiguration: MessageConfiguration | None = None
    Schedule: Schedule | None = None
    SizePercent: int
    State: CampaignState | None = None
    TemplateConfiguration: TemplateConfiguration | None = None
    TreatmentDescription: str | None = None
    TreatmentName: str | None = None


class UntagResourceRequest(Shape, kw_only=True, gc=False):
    ResourceArn: str
    TagKeys: list[str]


class UpdateAdmChannelRequest(Shape, kw_only=True, gc=False):
    ADMChannelRequest: ADMChannelRequest
    ApplicationId: str


class UpdateAdmChannelResponse(Shape, kw_only=True, gc=False):
    ADMChannelResponse: ADMChannelResponse


class UpdateApnsChannelRequest(Shape, kw_only=True, gc=False):
    APNSChannelRequest: APNSChannelRequest
    ApplicationId: str


class UpdateApnsChannelResponse(Shape, kw_only=True, gc=False):
    APNSChannelResponse: APNSChannelResponse


class UpdateApnsSandboxChannelRequest(Shape, kw_only=True, gc=False):
    APNSSandboxChannelRequest: APNSSandboxChannelRequest
    ApplicationId: str


class UpdateApnsSandboxChannelResponse(Shape, kw_only=True, gc=False):
    APNSSandboxChannelResponse: APNSSandboxChannelResponse


class UpdateApnsVoipChannelRequest(Shape, kw_only=True, gc=False):
    APNSVoipChannelRequest: APNSVoipChannelRequest
    ApplicationId: str


class UpdateApnsVoipChannelResponse(Shape, kw_only=True, gc=False):
    APNSVoipChannelResponse: APNSVoipChannelResponse


class UpdateApnsVoipSandboxChannelRequest(Shape, kw_only=True, gc=False):
    APNSVoipSandboxChannelRequest: APNSVoipSandboxChannelRequest
    ApplicationId: str


class UpdateApnsVoipSandboxChannelResponse(Shape, kw_only=True, gc=False):
    APNSVoipSandboxChannelResponse: APNSVoipSandboxChannelResponse


class UpdateApplicationSettingsRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    WriteApplicationSettingsRequest: WriteApplicationSettingsRequest


class UpdateApplicationSettingsResponse(Shape, kw_only=True, gc=False):
    ApplicationSettingsResource: ApplicationSettingsResource


class UpdateAttributesRequest(Shape, kw_only=True, gc=False):
    Blacklist: list[str] | None = None


class UpdateBaiduChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    BaiduChannelRequest: BaiduChannelRequest


class UpdateBaiduChannelResponse(Shape, kw_only=True, gc=False):
    BaiduChannelResponse: BaiduChannelResponse


class UpdateCampaignRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    CampaignId: str
    WriteCampaignRequest: WriteCampaignRequest


class UpdateCampaignResponse(Shape, kw_only=True, gc=False):
    CampaignResponse: CampaignResponse


class UpdateEmailChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EmailChannelRequest: EmailChannelRequest


class UpdateEmailChannelResponse(Shape, kw_only=True, gc=False):
    EmailChannelResponse: EmailChannelResponse


class UpdateEmailTemplateRequest(Shape, kw_only=True, gc=False):
    CreateNewVersion: bool | None = None
    EmailTemplateRequest: EmailTemplateRequest
    TemplateName: str
    Version: str | None = None


class UpdateEmailTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class UpdateEndpointRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndpointId: str
    EndpointRequest: EndpointRequest


class UpdateEndpointResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class UpdateEndpointsBatchRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    EndpointBatchRequest: EndpointBatchRequest


class UpdateEndpointsBatchResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class UpdateGcmChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    GCMChannelRequest: GCMChannelRequest


class UpdateGcmChannelResponse(Shape, kw_only=True, gc=False):
    GCMChannelResponse: GCMChannelResponse


class UpdateInAppTemplateRequest(Shape, kw_only=True, gc=False):
    CreateNewVersion: bool | None = None
    InAppTemplateRequest: InAppTemplateRequest
    TemplateName: str
    Version: str | None = None


class UpdateInAppTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class UpdateJourneyRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str
    WriteJourneyRequest: WriteJourneyRequest


class UpdateJourneyResponse(Shape, kw_only=True, gc=False):
    JourneyResponse: JourneyResponse


class UpdateJourneyStateRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    JourneyId: str
    JourneyStateRequest: JourneyStateRequest


class UpdateJourneyStateResponse(Shape, kw_only=True, gc=False):
    JourneyResponse: JourneyResponse


class UpdatePushTemplateRequest(Shape, kw_only=True, gc=False):
    CreateNewVersion: bool | None = None
    PushNotificationTemplateRequest: PushNotificationTemplateRequest
    TemplateName: str
    Version: str | None = None


class UpdatePushTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class UpdateRecommenderConfiguration(Shape, kw_only=True, gc=False):
    Attributes: dict[str, str] | None = None
    Description: str | None = None
    Name: str | None = None
    RecommendationProviderIdType: str | None = None
    RecommendationProviderRoleArn: str
    RecommendationProviderUri: str
    RecommendationTransformerUri: str | None = None
    RecommendationsDisplayName: str | None = None
    RecommendationsPerMessage: int | None = None


class UpdateRecommenderConfigurationRequest(Shape, kw_only=True, gc=False):
    RecommenderId: str
    UpdateRecommenderConfiguration: UpdateRecommenderConfiguration


class UpdateRecommenderConfigurationResponse(Shape, kw_only=True, gc=False):
    RecommenderConfigurationResponse: RecommenderConfigurationResponse


class UpdateSegmentRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    SegmentId: str
    WriteSegmentRequest: WriteSegmentRequest


class UpdateSegmentResponse(Shape, kw_only=True, gc=False):
    SegmentResponse: SegmentResponse


class UpdateSmsChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    SMSChannelRequest: SMSChannelRequest


class UpdateSmsChannelResponse(Shape, kw_only=True, gc=False):
    SMSChannelResponse: SMSChannelResponse


class UpdateSmsTemplateRequest(Shape, kw_only=True, gc=False):
    CreateNewVersion: bool | None = None
    SMSTemplateRequest: SMSTemplateRequest
    TemplateName: str
    Version: str | None = None


class UpdateSmsTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class UpdateTemplateActiveVersionRequest(Shape, kw_only=True, gc=False):
    TemplateActiveVersionRequest: TemplateActiveVersionRequest
    TemplateName: str
    TemplateType: str


class UpdateTemplateActiveVersionResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class UpdateVoiceChannelRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    VoiceChannelRequest: VoiceChannelRequest


class UpdateVoiceChannelResponse(Shape, kw_only=True, gc=False):
    VoiceChannelResponse: VoiceChannelResponse


class UpdateVoiceTemplateRequest(Shape, kw_only=True, gc=False):
    CreateNewVersion: bool | None = None
    TemplateName: str
    Version: str | None = None
    VoiceTemplateRequest: VoiceTemplateRequest


class UpdateVoiceTemplateResponse(Shape, kw_only=True, gc=False):
    MessageBody: MessageBody


class VerificationResponse(Shape, kw_only=True, gc=False):
    Valid: bool | None = None


class VerifyOTPMessageRequest(Shape, kw_only=True, gc=False):
    ApplicationId: str
    VerifyOTPMessageRequestParameters: VerifyOTPMessageRequestParameters


class VerifyOTPMessageRequestParameters(Shape, kw_only=True, gc=False):
    DestinationIdentity: str
    Otp: str
    ReferenceId: str


class VerifyOTPMessageResponse(Shape, kw_only=True, gc=False):
    VerificationResponse: VerificationResponse


class VoiceChannelRequest(Shape, kw_only=True, gc=False):
    Enabled: bool | None = None


class VoiceChannelResponse(Shape, kw_only=True, gc=False):
    ApplicationId: str | None = None
    CreationDate: str | None = None
    Enabled: bool | None = None
    HasCredential: bool | None = None
    Id: str | None = None
    IsArchived: bool | None = None
    LastModifiedBy: str | None = None
    LastModifiedDate: str | None = None
    Platform: str
    Version: int | None = None


class VoiceMessage(Shape, kw_only=True, gc=False):
    Body: str | None = None
    LanguageCode: str | None = None
    OriginationNumber: str | None = None
    Substitutions: dict[str, list[str]] | None = None
    VoiceId: str | None = None


class VoiceTemplateRequest(Shape, kw_only=True, gc=False):
    Body: str | None = None
    DefaultSubstitutions: str | None = None
    LanguageCode: str | None = None
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    VoiceId: str | None = None


class VoiceTemplateResponse(Shape, kw_only=True, gc=False):
    Arn: str | None = None
    Body: str | None = None
    CreationDate: str
    DefaultSubstitutions: str | None = None
    LanguageCode: str | None = None
    LastModifiedDate: str
    tags: dict[str, str] | None = None
    TemplateDescription: str | None = None
    TemplateName: str
    TemplateType: TemplateType
    Version: str | None = None
    VoiceId: str | None = None


class WaitActivity(Shape, kw_only=True, gc=False):
    NextActivity: str | None = None
    WaitTime: WaitTime | None = None


class WaitTime(Shape, kw_only=True, gc=False):
    WaitFor: str | None = None
    WaitUntil: str | None = None


class WriteApplicationSettingsRequest(Shape, kw_only=True, gc=False):
    CampaignHook: CampaignHook | None = None
    CloudWatchMetricsEnabled: bool | None = None
    EventTaggingEnabled: bool | None = None
    Limits: CampaignLimits | None = None
    QuietTime: QuietTime | None = None
    JourneyLimits: ApplicationSettingsJourneyLimits | None = None


class WriteCampaignRequest(Shape, kw_only=True, gc=False):
    AdditionalTreatments: list[WriteTreatmentResource] | None = None
    CustomDeliveryConfiguration: CustomDeliveryConfiguration | None = None
    Description: str | None = None
    HoldoutPercent: int | None = None
    Hook: CampaignHook | None = None
    IsPaused: bool | None = None
    Limits: CampaignLimits | None = None
    MessageConfiguration: MessageConfiguration | None = None
    Name: str | None = None
    Schedule: Schedule | None = None
    SegmentId: str | None = None
    SegmentVersion: int | None = None
    tags: dict[str, str] | None = None
    TemplateConfiguration: TemplateConfiguration | None = None
    TreatmentDescription: str | None = None
    TreatmentName: str | None = None
    Priority: int | None = None


class WriteEventStream(Shape, kw_only=True, gc=False):
    DestinationStreamArn: str
    RoleArn: str


class WriteJourneyRequest(Shape, kw_only=True, gc=False):
    Activities: dict[str, Activity] | None = None
    CreationDate: str | None = None
    LastModifiedDate: str | None = None
    Limits: JourneyLimits | None = None
    LocalTime: bool | None = None
    Name: str
    QuietTime: QuietTime | None = None
    RefreshFrequency: str | None = None
    Schedule: JourneySchedule | None = None
    StartActivity: str | None = None
    StartCondition: StartCondition | None = None
    State: State | None = None
    WaitForQuietTime: bool | None = None
    RefreshOnSegmentUpdate: bool | None = None
    JourneyChannelSettings: JourneyChannelSettings | None = None
    SendingSchedule: bool | None = None
    OpenHours: OpenHours | None = None
    ClosedDays: ClosedDays | None = None
    TimezoneEstimationMethods: list[__TimezoneEstimationMethodsElement] | None = None


class WriteSegmentRequest(Shape, kw_only=True, gc=False):
    Dimensions: SegmentDimensions | None = None
    Name: str | None = None
    SegmentGroups: SegmentGroupList | None = None
    tags: dict[str, str] | None = None


class WriteTreatmentResource(Shape, kw_only=True, gc=False):
    CustomDeliveryConfiguration: CustomDeliveryConfiguration | None = None
    MessageConfiguration: MessageConfiguration | None = None
    Schedule: Schedule | None = None
    SizePercent: int
    TemplateConfiguration: TemplateConfiguration | None = None
    TreatmentDescription: str | None = None
    TreatmentName: str | None = None


class OpenHoursRule(Shape, kw_only=True, gc=False):
    StartTime: str | None = None
    EndTime: str | None = None


class OpenHours(Shape, kw_only=True, gc=False):
    EMAIL: dict[str, list[OpenHoursRule]] | None = None
    SMS: dict[str, list[OpenHoursRule]] | None = None
    PUSH: dict[str, list[OpenHoursRule]] | None = None
    VOICE: dict[str, list[OpenHoursRule]] | None = None
    CUSTOM: dict[str, list[OpenHoursRule]] | None = None


class ClosedDaysRule(Shape, kw_only=True, gc=False):
    Name: str | None = None
    StartDateTime: str | None = None
    EndDateTime: str | None = None


class ClosedDays(Shape, kw_only=True, gc=False):
    EMAIL: list[ClosedDaysRule] | None = None
    SMS: list[ClosedDaysRule] | None = None
    PUSH: list[ClosedDaysRule] | None = None
    VOICE: list[ClosedDaysRule] | None = None
    CUSTOM: list[ClosedDaysRule] | None = None


# operation name -> (method, path, input shape, output shape, success status)
OPERATIONS: dict[str, tuple[str, str, str | None, str | None, int]] = {
    'CreateApp': ('POST', '/v1/apps', 'CreateAppRequest', 'CreateAppResponse', 201),
    'CreateCampaign': ('POST', '/v1/apps/{application-id}/campaigns', 'CreateCampaignRequest', 'CreateCampaignResponse', 201),
    'CreateEmailTemplate': ('POST', '/v1/templates/{template-name}/email', 'CreateEmailTemplateRequest', 'CreateEmailTemplateResponse', 201),
    'CreateExportJob': ('POST', '/v1/apps/{application-id}/jobs/export', 'CreateExportJobRequest', 'CreateExportJobResponse', 202),
    'CreateImportJob': ('POST', '/v1/apps/{application-id}/jobs/import', 'CreateImportJobRequest', 'CreateImportJobResponse', 201),
    'CreateInAppTemplate': ('POST', '/v1/templates/{template-name}/inapp', 'CreateInAppTemplateRequest', 'CreateInAppTemplateResponse', 201),
    'CreateJourney': ('POST', '/v1/apps/{application-id}/journeys', 'CreateJourneyRequest', 'CreateJourneyResponse', 201),
    'CreatePushTemplate': ('POST', '/v1/templates/{template-name}/push', 'CreatePushTemplateRequest', 'CreatePushTemplateResponse', 201),
    'CreateRecommenderConfiguration': ('POST', '/v1/recommenders', 'CreateRecommenderConfigurationRequest', 'CreateRecommenderConfigurationResponse', 201),
    'CreateSegment': ('POST', '/v1/apps/{application-id}/segments', 'CreateSegmentRequest', 'CreateSegmentResponse', 201),
    'CreateSmsTemplate': ('POST', '/v1/templates/{template-name}/sms', 'CreateSmsTemplateRequest', 'CreateSmsTemplateResponse', 201),
    'CreateVoiceTemplate': ('POST', '/v1/templates/{template-name}/voice', 'CreateVoiceTemplateRequest', 'CreateVoiceTemplateResponse', 201),
    'DeleteAdmChannel': ('DELETE', '/v1/apps/{application-id}/channels/adm', 'DeleteAdmChannelRequest', 'DeleteAdmChannelResponse', 200),
    'DeleteApnsChannel': ('DELETE', '/v1/apps/{application-id}/channels/apns', 'DeleteApnsChannelRequest', 'DeleteApnsChannelResponse', 200),
    'DeleteApnsSandboxChannel': ('DELETE', '/v1/apps/{application-id}/channels/apns_sandbox', 'DeleteApnsSandboxChannelRequest', 'DeleteApnsSandboxChannelResponse', 200),
    'DeleteApnsVoipChannel': ('DELETE', '/v1/apps/{application-id}/channels/apns_voip', 'DeleteApnsVoipChannelRequest', 'DeleteApnsVoipChannelResponse', 200),
    'DeleteApnsVoipSandboxChannel': ('DELETE', '/v1/apps/{application-id}/channels/apns_voip_sandbox', 'DeleteApnsVoipSandboxChannelRequest', 'DeleteApnsVoipSandboxChannelResponse', 200),
    'DeleteApp': ('DELETE', '/v1/apps/{application-id}', 'DeleteAppRequest', 'DeleteAppResponse', 200),
    'DeleteBaiduChannel': ('DELETE', '/v1/apps/{application-id}/channels/baidu', 'DeleteBaiduChannelRequest', 'DeleteBaiduChannelResponse', 200),
    'DeleteCampaign': ('DELETE', '/v1/apps/{application-id}/campaigns/{campaign-id}', 'DeleteCampaignRequest', 'DeleteCampaignResponse', 200),
    'DeleteEmailChannel': ('DELETE', '/v1/apps/{application-id}/channels/email', 'DeleteEmailChannelRequest', 'DeleteEmailChannelResponse', 200),
    'DeleteEmailTemplate': ('DELETE', '/v1/templates/{template-name}/email', 'DeleteEmailTemplateRequest', 'DeleteEmailTemplateResponse', 202),
    'DeleteEndpoint': ('DELETE', '/v1/apps/{application-id}/endpoints/{endpoint-id}', 'DeleteEndpointRequest', 'DeleteEndpointResponse', 202),
    'DeleteEventStream': ('DELETE', '/v1/apps/{application-id}/eventstream', 'DeleteEventStreamRequest', 'DeleteEventStreamResponse', 200),
    'DeleteGcmChannel': ('DELETE', '/v1/apps/{application-id}/channels/gcm', 'DeleteGcmChannelRequest', 'DeleteGcmChannelResponse', 200),
    'DeleteInAppTemplate': ('DELETE', '/v1/templates/{template-name}/inapp', 'DeleteInAppTemplateRequest', 'DeleteInAppTemplateResponse', 202),
    'DeleteJourney': ('DELETE', '/v1/apps/{application-id}/journeys/{journey-id}', 'DeleteJourneyRequest', 'DeleteJourneyResponse', 200),
    'DeletePushTemplate': ('DELETE', '/v1/templates/{template-name}/push', 'DeletePushTemplateRequest', 'DeletePushTemplateResponse', 202),
    'DeleteRecommenderConfiguration': ('DELETE', '/v1/recommenders/{recommender-id}', 'DeleteRecommenderConfigurationRequest', 'DeleteRecommenderConfigurationResponse', 200),
    'DeleteSegment': ('DELETE', '/v1/apps/{application-id}/segments/{segment-id}', 'DeleteSegmentRequest', 'DeleteSegmentResponse', 200),
    'DeleteSmsChannel': ('DELETE', '/v1/apps/{application-id}/channels/sms', 'DeleteSmsChannelRequest', 'DeleteSmsChannelResponse', 200),
    'DeleteSmsTemplate': ('DELETE', '/v1/templates/{template-name}/sms', 'DeleteSmsTemplateRequest', 'DeleteSmsTemplateResponse', 202),
    'DeleteUserEndpoints': ('DELETE', '/v1/apps/{application-id}/users/{user-id}', 'DeleteUserEndpointsRequest', 'DeleteUserEndpointsResponse', 202),
    'DeleteVoiceChannel': ('DELETE', '/v1/apps/{application-id}/channels/voice', 'DeleteVoiceChannelRequest', 'DeleteVoiceChannelResponse', 200),
    'DeleteVoiceTemplate': ('DELETE', '/v1/templates/{template-name}/voice', 'DeleteVoiceTemplateRequest', 'DeleteVoiceTemplateResponse', 202),
    'GetAdmChannel': ('GET', '/v1/apps/{application-id}/channels/adm', 'GetAdmChannelRequest', 'GetAdmChannelResponse', 200),
    'GetApnsChannel': ('GET', '/v1/apps/{application-id}/channels/apns', 'GetApnsChannelRequest', 'GetApnsChannelResponse', 200),
    'GetApnsSandboxChannel': ('GET', '/v1/apps/{application-id}/channels/apns_sandbox', 'GetApnsSandboxChannelRequest', 'GetApnsSandboxChannelResponse', 200),
    'GetApnsVoipChannel': ('GET', '/v1/apps/{application-id}/channels/apns_voip', 'GetApnsVoipChannelRequest', 'GetApnsVoipChannelResponse', 200),
    'GetApnsVoipSandboxChannel': ('GET', '/v1/apps/{application-id}/channels/apns_voip_sandbox', 'GetApnsVoipSandboxChannelRequest', 'GetApnsVoipSandboxChannelResponse', 200),
    'GetApp': ('GET', '/v1/apps/{application-id}', 'GetAppRequest', 'GetAppResponse', 200),
    'GetApplicationDateRangeKpi': ('GET', '/v1/apps/{application-id}/kpis/daterange/{kpi-name}', 'GetApplicationDateRangeKpiRequest', 'GetApplicationDateRangeKpiResponse', 200),
    'GetApplicationSettings': ('GET', '/v1/apps/{application-id}/settings', 'GetApplicationSettingsRequest', 'GetApplicationSettingsResponse', 200),
    'GetApps': ('GET', '/v1/apps', 'GetAppsRequest', 'GetAppsResponse', 200),
    'GetBaiduChannel': ('GET', '/v1/apps/{application-id}/channels/baidu', 'GetBaiduChannelRequest', 'GetBaiduChannelResponse', 200),
    'GetCampaign': ('GET', '/v1/apps/{application-id}/campaigns/{campaign-id}', 'GetCampaignRequest', 'GetCampaignResponse', 200),
    'GetCampaignActivities': ('GET', '/v1/apps/{application-id}/campaigns/{campaign-id}/activities', 'GetCampaignActivitiesRequest', 'GetCampaignActivitiesResponse', 200),
    'GetCampaignDateRangeKpi': ('GET', '/v1/apps/{application-id}/campaigns/{campaign-id}/kpis/daterange/{kpi-name}', 'GetCampaignDateRangeKpiRequest', 'GetCampaignDateRangeKpiResponse', 200),
    'GetCampaignVersion': ('GET', '/v1/apps/{application-id}/campaigns/{campaign-id}/versions/{version}', 'GetCampaignVersionRequest', 'GetCampaignVersionResponse', 200),
    'GetCampaignVersions': ('GET', '/v1/apps/{application-id}/campaigns/{campaign-id}/versions', 'GetCampaignVersionsRequest', 'GetCampaignVersionsResponse', 200),
    'GetCampaigns': ('GET', '/v1/apps/{application-id}/campaigns', 'GetCampaignsRequest', 'GetCampaignsResponse', 200),
    'GetChannels': ('GET', '/v1/apps/{application-id}/channels', 'GetChannelsRequest', 'GetChannelsResponse', 200),
    'GetEmailChannel': ('GET', '/v1/apps/{application-id}/channels/email', 'GetEmailChannelRequest', 'GetEmailChannelResponse', 200),
    'GetEmailTemplate': ('GET', '/v1/templates/{template-name}/email', 'GetEmailTemplateRequest', 'GetEmailTemplateResponse', 200),
    'GetEndpoint': ('GET', '/v1/apps/{application-id}/endpoints/{endpoint-id}', 'GetEndpointRequest', 'GetEndpointResponse', 200),
    'GetEventStream': ('GET', '/v1/apps/{application-id}/eventstream', 'GetEventStreamRequest', 'GetEventStreamResponse', 200),
    'GetExportJob': ('GET', '/v1/apps/{application-id}/jobs/export/{job-id}', 'GetExportJobRequest', 'GetExportJobResponse', 200),
    'GetExportJobs': ('GET', '/v1/apps/{application-id}/jobs/export', 'GetExportJobsRequest', 'GetExportJobsResponse', 200),
    'GetGcmChannel': ('GET', '/v1/apps/{application-id}/channels/gcm', 'GetGcmChannelRequest', 'GetGcmChannelResponse', 200),
    'GetImportJob': ('GET', '/v1/apps/{application-id}/jobs/import/{job-id}', 'GetImportJobRequest', 'GetImportJobResponse', 200),
    'GetImportJobs': ('GET', '/v1/apps/{application-id}/jobs/import', 'GetImportJobsRequest', 'GetImportJobsResponse', 200),
    'GetInAppMessages': ('GET', '/v1/apps/{application-id}/endpoints/{endpoint-id}/inappmessages', 'GetInAppMessagesRequest', 'GetInAppMessagesResponse', 200),
    'GetInAppTemplate': ('GET', '/v1/templates/{template-name}/inapp', 'GetInAppTemplateRequest', 'GetInAppTemplateResponse', 200),
    'GetJourney': ('GET', '/v1/apps/{application-id}/journeys/{journey-id}', 'GetJourneyRequest', 'GetJourneyResponse', 200),
    'GetJourneyDateRangeKpi': ('GET', '/v1/apps/{application-id}/journeys/{journey-id}/kpis/daterange/{kpi-name}', 'GetJourneyDateRangeKpiRequest', 'GetJourneyDateRangeKpiResponse', 200),
    'GetJourneyExecutionActivityMetrics': ('GET', '/v1/apps/{application-id}/journeys/{journey-id}/activities/{journey-activity-id}/execution-metrics', 'GetJourneyExecutionActivityMetricsRequest', 'GetJourneyExecutionActivityMetricsResponse', 200),
    'GetJourneyExecutionMetrics': ('GET', '/v1/apps/{application-id}/journeys/{journey-id}/execution-metrics', 'GetJourneyExecutionMetricsRequest', 'GetJourneyExecutionMetricsResponse', 200),
    'GetJourneyRunExecutionActivityMetrics': ('GET', '/v1/apps/{application-id}/journeys/{journey-id}/runs/{run-id}/activities/{journey-activity-id}/execution-metrics', 'GetJourneyRunExecutionActivityMetricsRequest', 'GetJourneyRunExecutionActivityMetricsResponse', 200),
    'GetJourneyRunExecutionMetrics': ('GET', '/v1/apps/{application-id}/journeys/{journey-id}/runs/{run-id}/execution-metrics', 'GetJourneyRunExecutionMetricsRequest', 'GetJourneyRunExecutionMetricsResponse', 200),
    'GetJourneyRuns': ('GET', '/v1/apps/{application-id}/journeys/{journey-id}/runs', 'GetJourneyRunsRequest', 'GetJourneyRunsResponse', 200),
    'GetPushTemplate': ('GET', '/v1/templates/{template-name}/push', 'GetPushTemplateRequest', 'GetPushTemplateResponse', 200),
    'GetRecommenderConfiguration': ('GET', '/v1/recommenders/{recommender-id}', 'GetRecommenderConfigurationRequest', 'GetRecommenderConfigurationResponse', 200),
    'GetRecommenderConfigurations': ('GET', '/v1/recommenders', 'GetRecommenderConfigurationsRequest', 'GetRecommenderConfigurationsResponse', 200),
    'GetSegment': ('GET', '/v1/apps/{application-id}/segments/{segment-id}', 'GetSegmentRequest', 'GetSegmentResponse', 200),
    'GetSegmentExportJobs': ('GET', '/v1/apps/{application-id}/segments/{segment-id}/jobs/export', 'GetSegmentExportJobsRequest', 'GetSegmentExportJobsResponse', 200),
    'GetSegmentImportJobs': ('GET', '/v1/apps/{application-id}/segments/{segment-id}/jobs/import', 'GetSegmentImportJobsRequest', 'GetSegmentImportJobsResponse', 200),
    'GetSegmentVersion': ('GET', '/v1/apps/{application-id}/segments/{segment-id}/versions/{version}', 'GetSegmentVersionRequest', 'GetSegmentVersionResponse', 200),
    'GetSegmentVersions': ('GET', '/v1/apps/{application-id}/segments/{segment-id}/versions', 'GetSegmentVersionsRequest', 'GetSegmentVersionsResponse', 200),
    'GetSegments': ('GET', '/v1/apps/{application-id}/segments', 'GetSegmentsRequest', 'GetSegmentsResponse', 200),
    'GetSmsChannel': ('GET', '/v1/apps/{application-id}/channels/sms', 'GetSmsChannelRequest', 'GetSmsChannelResponse', 200),
    'GetSmsTemplate': ('GET', '/v1/templates/{template-name}/sms', 'GetSmsTemplateRequest', 'GetSmsTemplateResponse', 200),
    'GetUserEndpoints': ('GET', '/v1/apps/{application-id}/users/{user-id}', 'GetUserEndpointsRequest', 'GetUserEndpointsResponse', 200),
    'GetVoiceChannel': ('GET', '/v1/apps/{application-id}/channels/voice', 'GetVoiceChannelRequest', 'GetVoiceChannelResponse', 200),
    'GetVoiceTemplate': ('GET', '/v1/templates/{template-name}/voice', 'GetVoiceTemplateRequest', 'GetVoiceTemplateResponse', 200),
    'ListJourneys': ('GET', '/v1/apps/{application-id}/journeys', 'ListJourneysRequest', 'ListJourneysResponse', 200),
    'ListTagsForResource': ('GET', '/v1/tags/{resource-arn}', 'ListTagsForResourceRequest', 'ListTagsForResourceResponse', 200),
    'ListTemplateVersions': ('GET', '/v1/templates/{template-name}/{template-type}/versions', 'ListTemplateVersionsRequest', 'ListTemplateVersionsResponse', 200),
    'ListTemplates': ('GET', '/v1/templates', 'ListTemplatesRequest', 'ListTemplatesResponse', 200),
    'PhoneNumberValidate': ('POST', '/v1/phone/number/validate', 'PhoneNumberValidateRequest', 'PhoneNumberValidateResponse', 200),
    'PutEventStream': ('POST', '/v1/apps/{application-id}/eventstream', 'PutEventStreamRequest', 'PutEventStreamResponse', 200),
    'PutEvents': ('POST', '/v1/apps/{application-id}/events', 'PutEventsRequest', 'PutEventsResponse', 202),
    'RemoveAttributes': ('PUT', '/v1/apps/{application-id}/attributes/{attribute-type}', 'RemoveAttributesRequest', 'RemoveAttributesResponse', 200),
    'SendMessages': ('POST', '/v1/apps/{application-id}/messages', 'SendMessagesRequest', 'SendMessagesResponse', 200),
    'SendOTPMessage': ('POST', '/v1/apps/{application-id}/otp', 'SendOTPMessageRequest', 'SendOTPMessageResponse', 200),
    'SendUsersMessages': ('POST', '/v1/apps/{application-id}/users-messages', 'SendUsersMessagesRequest', 'SendUsersMessagesResponse', 200),
    'TagResource': ('POST', '/v1/tags/{resource-arn}', 'TagResourceRequest', None, 204),
    'UntagResource': ('DELETE', '/v1/tags/{resource-arn}', 'UntagResourceRequest', None, 204),
    'UpdateAdmChannel': ('PUT', '/v1/apps/{application-id}/channels/adm', 'UpdateAdmChannelRequest', 'UpdateAdmChannelResponse', 200),
    'UpdateApnsChannel': ('PUT', '/v1/apps/{application-id}/channels/apns', 'UpdateApnsChannelRequest', 'UpdateApnsChannelResponse', 200),
    'UpdateApnsSandboxChannel': ('PUT', '/v1/apps/{application-id}/channels/apns_sandbox', 'UpdateApnsSandboxChannelRequest', 'UpdateApnsSandboxChannelResponse', 200),
    'UpdateApnsVoipChannel': ('PUT', '/v1/apps/{application-id}/channels/apns_voip', 'UpdateApnsVoipChannelRequest', 'UpdateApnsVoipChannelResponse', 200),
    'UpdateApnsVoipSandboxChannel': ('PUT', '/v1/apps/{application-id}/channels/apns_voip_sandbox', 'UpdateApnsVoipSandboxChannelRequest', 'UpdateApnsVoipSandboxChannelResponse', 200),
    'UpdateApplicationSettings': ('PUT', '/v1/apps/{application-id}/settings', 'UpdateApplicationSettingsRequest', 'UpdateApplicationSettingsResponse', 200),
    'UpdateBaiduChannel': ('PUT', '/v1/apps/{application-id}/channels/baidu', 'UpdateBaiduChannelRequest', 'UpdateBaiduChannelResponse', 200),
    'UpdateCampaign': ('PUT', '/v1/apps/{application-id}/campaigns/{campaign-id}', 'UpdateCampaignRequest', 'UpdateCampaignResponse', 200),
    'UpdateEmailChannel': ('PUT', '/v1/apps/{application-id}/channels/email', 'UpdateEmailChannelRequest', 'UpdateEmailChannelResponse', 200),
    'UpdateEmailTemplate': ('PUT', '/v1/templates/{template-name}/email', 'UpdateEmailTemplateRequest', 'UpdateEmailTemplateResponse', 202),
    'UpdateEndpoint': ('PUT', '/v1/apps/{application-id}/endpoints/{endpoint-id}', 'UpdateEndpointRequest', 'UpdateEndpointResponse', 202),
    'UpdateEndpointsBatch': ('PUT', '/v1/apps/{application-id}/endpoints', 'UpdateEndpointsBatchRequest', 'UpdateEndpointsBatchResponse', 202),
    'UpdateGcmChannel': ('PUT', '/v1/apps/{application-id}/channels/gcm', 'UpdateGcmChannelRequest', 'UpdateGcmChannelResponse', 200),
    'UpdateInAppTemplate': ('PUT', '/v1/templates/{template-name}/inapp', 'UpdateInAppTemplateRequest', 'UpdateInAppTemplateResponse', 202),
    'UpdateJourney': ('PUT', '/v1/apps/{application-id}/journeys/{journey-id}', 'UpdateJourneyRequest', 'UpdateJourneyResponse', 200),
    'UpdateJourneyState': ('PUT', '/v1/apps/{application-id}/journeys/{journey-id}/state', 'UpdateJourneyStateRequest', 'UpdateJourneyStateResponse', 200),
    'UpdatePushTemplate': ('PUT', '/v1/templates/{template-name}/push', 'UpdatePushTemplateRequest', 'UpdatePushTemplateResponse', 202),
    'UpdateRecommenderConfiguration': ('PUT', '/v1/recommenders/{recommender-id}', 'UpdateRecommenderConfigurationRequest', 'UpdateRecommenderConfigurationResponse', 200),
    'UpdateSegment': ('PUT', '/v1/apps/{application-id}/segments/{segment-id}', 'UpdateSegmentRequest', 'UpdateSegmentResponse', 200),
    'UpdateSmsChannel': ('PUT', '/v1/apps/{application-id}/channels/sms', 'UpdateSmsChannelRequest', 'UpdateSmsChannelResponse', 200),
    'UpdateSmsTemplate': ('PUT', '/v1/templates/{template-name}/sms', 'UpdateSmsTemplateRequest', 'UpdateSmsTemplateResponse', 202),
    'UpdateTemplateActiveVersion': ('PUT', '/v1/templates/{template-name}/{template-type}/active-version', 'UpdateTemplateActiveVersionRequest', 'UpdateTemplateActiveVersionResponse', 200),
    'UpdateVoiceChannel': ('PUT', '/v1/apps/{application-id}/channels/voice', 'UpdateVoiceChannelRequest', 'UpdateVoiceChannelResponse', 200),
    'UpdateVoiceTemplate': ('PUT', '/v1/templates/{template-name}/voice', 'UpdateVoiceTemplateRequest', 'UpdateVoiceTemplateResponse', 202),
    'VerifyOTPMessage': ('POST', '/v1/apps/{application-id}/verify-otp', 'VerifyOTPMessageRequest', 'VerifyOTPMessageResponse', 200),
}
