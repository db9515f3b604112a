"""Configuration: msgspec Structs loaded from TOML, then overlaid with GATEWAY_* environment variables.

`GATEWAY_STREAM__BATCH_SIZE=500` sets `stream.batch_size`; `__` separates levels and a number indexes a list
(`GATEWAY_CHANNELS__0__PORT=2525`). Unknown keys, wrong types and out-of-range values are errors that name the
key (`ConfigError: Expected `int` >= 1 - at `$.stream.batch_size``), never silently ignored.
Secrets are never inline: they are read from files or environment variables named here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from gateway.errors import ConfigError

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class _Base(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class StreamConfig(_Base):
    """The ingest stream contract (see README "Stream contract")."""

    prefix: str = "gateway"
    group: str = "gateway"
    consumer: str | None = None  # default: hostname-pid
    batch_size: PositiveInt = 256
    block_ms: Annotated[int, msgspec.Meta(ge=0)] = 100
    claim_idle_ms: PositiveInt = 60_000  # longer than the slowest send
    claim_interval_ms: PositiveInt = 5_000
    max_inflight: PositiveInt = 2048
    transactional_inflight: PositiveInt = 256  # the transactional lane's own budget: bulk can never use it
    max_deliveries: PositiveInt = 10  # an entry read this many times without an outcome is dead-lettered
    trim_interval_ms: PositiveInt = 10_000

    @property
    def send_key(self) -> str:
        return f"{self.prefix}:send"

    @property
    def events_key(self) -> str:
        return f"{self.prefix}:events"

    @property
    def dead_key(self) -> str:
        return f"{self.prefix}:dead"

    @property
    def retry_key(self) -> str:
        return f"{self.prefix}:retry"

    @property
    def lanes(self) -> list[Lane]:
        """The ingest lanes, most urgent first: transactional (OTP, alerts) and the default (bulk) lane."""
        return [
            Lane("transactional", f"{self.prefix}:send:transactional", f"{self.prefix}:retry:transactional",
                 self.transactional_inflight),
            Lane("default", self.send_key, self.retry_key, self.max_inflight),
        ]


class Lane(msgspec.Struct, frozen=True):
    """One ingest stream with its own retry schedule and in-flight budget."""

    name: str
    send_key: str
    retry_key: str
    max_inflight: int


class RetryConfig(_Base):
    """Exponential backoff with full jitter for temporary failures; dead-letter after `max_attempts`."""

    max_attempts: PositiveInt = 5
    base_s: PositiveFloat = 30.0
    cap_s: PositiveFloat = 3600.0
    poll_ms: PositiveInt = 200


class RateLimit(_Base):
    rate: PositiveFloat
    burst: PositiveInt = 1
    shared: bool = False  # share the quota across workers through Redis


_DOMAIN = r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"


class SmtpChannelConfig(_Base, tag="smtp", tag_field="kind"):
    """An SMTP relay (smart host) used for the EMAIL channel."""

    name: str = "email"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 2525
    connections: PositiveInt = 32
    max_messages_per_connection: PositiveInt = 10_000
    starttls: Literal["never", "opportunistic", "required"] = "opportunistic"
    tls_verify: bool = True
    username: str | None = None
    password_env: str | None = None  # name of the environment variable holding the password
    helo_name: str = "gateway.localdomain"
    connect_timeout_s: PositiveFloat = 30.0
    command_timeout_s: PositiveFloat = 300.0  # RFC 5321 minimums are minutes
    data_timeout_s: PositiveFloat = 600.0  # after the final dot: a timeout here is "maybe sent"
    rate_limit: RateLimit | None = None
    default_from: str | None = None
    # Late bounces and complaints (docs/bounces.md): with a return-path domain, MAIL FROM is a VERP address
    # `<verp_prefix>+<signed token>@<return_path_domain>` (HMAC key in the variable named by verp_key_env; without
    # one, the plain `<verp_prefix>@<return_path_domain>`), and each accepted message's Message-ID is remembered
    # for sent_ttl_s so a report without the VERP address still maps to it.
    return_path_domain: Annotated[str, msgspec.Meta(max_length=253, pattern=_DOMAIN)] | None = None
    verp_prefix: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,4}$")] = "b"
    verp_key_env: str | None = None
    sent_ttl_s: PositiveInt = 604_800  # relays give up on a message after about 5 days: a week covers their DSNs


class HttpAuthConfig(_Base):
    """How an HTTP provider authenticates us. Secrets come from environment variables named here, never inline."""

    kind: Literal["none", "basic", "bearer", "header"] = "none"
    username: str | None = None  # basic; for the Twilio preset defaults to account_sid
    secret_env: str | None = None  # basic password, bearer token or header value
    header_name: str = "Authorization"  # kind="header"


ProviderErrorAction = Literal["recipient", "content", "auth", "opt_out", "throttled", "unavailable", "transient"]


class _HttpProviderBase(_Base):
    """An HTTP SMS or voice provider (see docs/sms-http.md). `fields` maps body fields to `${var}` templates."""

    name: str = "sms"
    preset: Literal["twilio"] | None = None
    url: str | None = None  # required unless a preset builds it
    api_base: str = "https://api.twilio.com"  # preset="twilio": where the Twilio API lives
    account_sid: str | None = None  # preset="twilio"
    method: Literal["POST", "PUT"] = "POST"
    auth: HttpAuthConfig = msgspec.field(default_factory=HttpAuthConfig)
    body_format: Literal["json", "form"] | None = None  # default: the preset's, else json
    fields: dict[str, str] = {}
    headers: dict[str, str] = {}
    success_statuses: list[Annotated[int, msgspec.Meta(ge=100, le=599)]] = []  # default: any 2xx
    message_id_path: str | None = None  # JSON path of the provider's message id, e.g. "sid" or "messages.0.id"
    success_path: str | None = None  # JSON path that must hold one of success_values on a 2xx
    success_values: list[str] = []
    error_code_path: str | None = None
    error_message_path: str | None = None
    error_codes: dict[str, ProviderErrorAction] = {}  # provider error code -> what it means
    status_callback_url: str | None = None  # our inbound webhook's receipt URL, passed as ${status_callback}
    transactional_connections: PositiveInt = 64
    promotional_connections: PositiveInt = 64
    connect_timeout_s: PositiveFloat = 10.0
    read_timeout_s: PositiveFloat = 30.0  # after the request was written: a timeout here is "maybe sent"
    keepalive_timeout_s: PositiveFloat = 15.0
    allow_http: bool = False  # plain http:// (sandbox, LAN providers)
    allow_networks: list[str] = []  # CIDRs exempt from the SSRF guard, e.g. ["127.0.0.1/32"] for the sandbox
    rate_limit: RateLimit | None = None


class HttpSmsChannelConfig(_HttpProviderBase, tag="http_sms", tag_field="kind"):
    """SMS through an HTTP provider (Twilio-compatible preset or a configured JSON/form API)."""


class VoiceChannelConfig(_HttpProviderBase, tag="voice", tag_field="kind"):
    """Voice messages through an HTTP provider configured like HTTP SMS."""

    name: str = "voice"
    default_language_code: str = "en-US"
    default_voice_id: str | None = None



class _PushBase(_Base):
    """Connection settings shared by the APNs and FCM channels (HTTP/2 pools)."""

    # HTTP/2 implementation: "native" (our own framing, gateway/channels/http2/native.py: the fastest), or the h2
    # library or its API-compatible faster fork jh2 (benchmarks/bench_push.py measures all three)
    http2: Literal["native", "jh2", "h2"] = "native"
    connections: PositiveInt = 4  # per origin and credential
    max_streams: PositiveInt = 1000  # cap on the server's SETTINGS_MAX_CONCURRENT_STREAMS
    connect_timeout_s: PositiveFloat = 10.0
    request_timeout_s: PositiveFloat = 30.0
    acquire_timeout_s: PositiveFloat = 30.0
    ping_interval_s: PositiveFloat = 60.0
    ping_timeout_s: PositiveFloat = 10.0
    ca_file: str | None = None  # trust this CA (PEM) instead of the system store
    tls_verify: bool = True
    credentials_ttl_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0  # how long per-app credentials are cached


class ApnsChannelConfig(_PushBase, tag="apns", tag_field="kind"):
    """APNs over HTTP/2 for APNS, APNS_SANDBOX, APNS_VOIP, APNS_VOIP_SANDBOX. An application's stored
    credentials (UpdateApnsChannel) win; the `team_id`.. fields are the default for applications without."""

    name: str = "apns"
    production_url: str = "https://api.push.apple.com"  # http:// means h2c (sandbox only)
    sandbox_url: str = "https://api.sandbox.push.apple.com"
    team_id: str | None = None
    key_id: str | None = None
    token_key_file: str | None = None  # the .p8 key
    bundle_id: str | None = None
    certificate_file: str | None = None  # PEM client certificate (certificate auth)
    private_key_file: str | None = None  # its key, when not in certificate_file
    token_refresh_s: Annotated[float, msgspec.Meta(ge=1200, le=3540)] = 3000.0  # Apple: 20..60 minutes


class FcmChannelConfig(_PushBase, tag="fcm", tag_field="kind"):
    """FCM HTTP v1 for GCM. An application's stored ServiceJson (UpdateGcmChannel) wins over the default."""

    name: str = "fcm"
    send_url: str = "https://fcm.googleapis.com"  # messages go to {send_url}/v1/projects/{project}/messages:send
    token_url: str = "https://oauth2.googleapis.com/token"
    token_audience: str | None = None  # JWT `aud`; default: the service account's token_uri, else token_url
    service_account_file: str | None = None
    project_id: str | None = None  # default: the service account's project_id
    token_refresh_margin_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0


class CredentialsConfig(_Base):
    """The AES-256-GCM key that encrypts stored channel credentials: base64 of 32 bytes, from a file or an
    environment variable (never inline)."""

    key_env: str = "GW_CREDENTIALS_KEY"
    key_file: str | None = None


class SmppChannelConfig(_Base, tag="smpp", tag_field="kind", kw_only=True):
    """An SMSC reached over SMPP 3.4 for the SMS channel (see docs/sms.md)."""

    name: str = "sms"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 2775
    tls: bool = False
    tls_verify: bool = True
    system_id: Annotated[str, msgspec.Meta(max_length=15)]
    password_env: str | None = None  # name of the environment variable holding the password (at most 8 chars)
    system_type: Annotated[str, msgspec.Meta(max_length=12)] = ""
    bind_mode: Literal["transceiver", "transmitter_receiver"] = "transceiver"
    binds: PositiveInt = 1
    window: PositiveInt = 10  # outstanding submit_sm per bind
    transactional_reserve: Annotated[int, msgspec.Meta(ge=0)] = 2  # window slots promotional traffic may not take
    response_timeout_s: PositiveFloat = 10.0  # no submit_sm_resp by then: UNKNOWN_FAILURE, never resent
    connect_timeout_s: PositiveFloat = 10.0
    enquire_link_s: PositiveFloat = 15.0
    dead_after_missed: PositiveInt = 3
    reconnect_base_s: PositiveFloat = 1.0
    reconnect_cap_s: PositiveFloat = 60.0
    throttle_pause_s: PositiveFloat = 1.0  # first pause after ESME_RTHROTTLED; doubles while throttling goes on
    throttle_pause_max_s: PositiveFloat = 60.0
    throttle_retries: Annotated[int, msgspec.Meta(ge=0)] = 5
    queue_full_retries: Annotated[int, msgspec.Meta(ge=0)] = 3
    system_error_retries: Annotated[int, msgspec.Meta(ge=0)] = 2
    retry_backoff_s: PositiveFloat = 0.5
    registered_delivery: bool = True
    long_messages: Literal["udh", "sar", "payload"] = "udh"
    max_parts: Annotated[int, msgspec.Meta(ge=1, le=255)] = 30
    source_addr: str | None = None  # default sender when a message names none
    service_type: Annotated[str, msgspec.Meta(max_length=5)] = ""
    validity_period_s: PositiveInt | None = None
    receipt_ttl_s: PositiveInt = 259_200  # how long a receipt can still be matched (Pinpoint waits 72 h)
    # How the SMSC writes a receipt's text id: as its submit_sm_resp gave it ("same"), in hex for a decimal id
    # ("hex"), in decimal for a hex id ("decimal"), or either ("either": guesses, ambiguous with small ids).
    receipt_id_base: Literal["same", "hex", "decimal", "either"] = "same"
    # Receipts being stored (read, not yet answered): past this many the channel's binds stop reading from the SMSC
    # until half are answered (backpressure while Redis is slow; the SMSC's own window bounds it too).
    deliver_window: PositiveInt = 256
    entity_id_tlv: Annotated[int, msgspec.Meta(ge=0x1400, le=0x3FFF)] | None = None  # vendor TLV for EntityId
    template_id_tlv: Annotated[int, msgspec.Meta(ge=0x1400, le=0x3FFF)] | None = None
    rate_limit: RateLimit | None = None  # message parts per second
    # Incoming (MO) messages name only numbers: the application each of our numbers belongs to, else inbound_app.
    number_apps: dict[str, str] = {}
    inbound_app: str | None = None


ChannelConfig = (
    SmtpChannelConfig | HttpSmsChannelConfig | VoiceChannelConfig | ApnsChannelConfig | FcmChannelConfig
    | SmppChannelConfig
)


class IdempotencyConfig(_Base):
    ttl_s: PositiveInt = 86_400


class AccessKey(_Base):
    """An access key the API accepts SigV4 signatures from; the secret is read from a file or a variable."""

    access_key_id: str
    secret_env: str | None = None  # name of the environment variable holding the secret access key
    secret_file: str | None = None  # path of a file holding it


class ApiConfig(_Base):
    """Pinpoint's REST API (`gateway serve --api HOST:PORT`). `auth = "none"` disables signature checks and is
    for local use only: with it the API refuses to listen on anything but a loopback address unless
    `allow_unauthenticated = true` says that is really meant."""

    auth: Literal["sigv4", "none"] = "sigv4"
    allow_unauthenticated: bool = False  # auth = "none" on a non-loopback address: refused unless this is true
    access_keys: list[AccessKey] = []
    region: str = "us-east-1"  # the region ARNs carry (any region is accepted in signatures)
    account_id: str = "000000000000"  # the account ARNs carry
    send_timeout_s: PositiveFloat = 30.0  # SendMessages waits this long for the worker's MessageResponse


class InboundSection(_Base):
    """The inbound webhook for SMS/voice receipts and incoming messages (two-way SMS), served by `gateway serve`
    at `listen` (HOST:PORT). Secrets are read from the environment variables named here."""

    listen: str
    auth: Literal["hmac", "basic", "twilio"] = "hmac"
    secret_envs: list[str] = []
    username: str | None = None
    password_env: str | None = None
    public_url: str | None = None
    replay_window_s: PositiveInt = 600
    help_text: str = "Reply STOP to unsubscribe. Msg&data rates may apply."
    stop_text: str = "You have been unsubscribed and will receive no further messages. Reply START to resubscribe."
    start_text: str = "You have been resubscribed. Reply STOP to unsubscribe."
    self_managed: bool = False  # Pinpoint's self-managed opt-outs: record keywords as events, act on none


class BouncesSection(_Base):
    """The inbound SMTP listener for late bounces (RFC 3464 DSNs) and complaints (RFC 5965 ARF) addressed to the
    SMTP channels' return-path domains, served by `gateway serve` at `listen` (HOST:PORT) or `--bounces`."""

    listen: str | None = None
    hostname: str | None = None  # the name in the greeting; default: the first return-path domain
    max_message_bytes: PositiveInt = 4 * 1024 * 1024  # SIZE; a report longer than this is refused (552)
    max_mime_depth: PositiveInt = 8  # deeper nesting of multiparts and attached messages: rejected, counted
    max_mime_parts: PositiveInt = 200
    max_recipients: PositiveInt = 100  # RCPT TO per transaction
    timeout_s: PositiveFloat = 60.0  # idle time before a session is dropped


class OtpSection(_Base):
    """One-time passwords (SendOTPMessage, VerifyOTPMessage), served by the API when this section is present.
    The HMAC key (at least 32 bytes) is read from the environment variable named by `key_env`; the API refuses
    to start without it. `templates` maps a language (`en-US`) to the message, with `${code}`, `${brand}` and
    `${minutes}`; they extend the built-in en-US text."""

    key_env: str = "GATEWAY_OTP_KEY"
    templates: dict[str, str] = {}
    default_language: str = "en-US"
    send_timeout_s: PositiveFloat = 30.0  # SendOTPMessage waits this long for the worker's MessageResponse


class JobsConfig(_Base):
    """Where import and export jobs (CreateImportJob, CreateExportJob) may read and write, and how they fetch
    http(s) sources. Local paths (plain or `file://`) are refused unless they resolve, symlinks and `..` included,
    inside a directory listed here: none by default. URL sources go through the same SSRF guard as provider URLs
    (gateway/channels/urlguard.py): https only unless `allow_http`, no private, loopback or link-local address
    unless a network is in `allow_networks`, every redirect hop checked."""

    import_dirs: list[str] = []  # local sources must lie inside one of these
    export_dirs: list[str] = []  # export targets must lie inside one of these
    max_import_bytes: PositiveInt = 100 * 1024 * 1024  # the largest file or http(s) body one import piece reads
    allow_http: bool = False  # plain http:// sources
    allow_networks: list[str] = []  # CIDRs exempt from the SSRF guard, e.g. ["10.0.0.0/8"]
    max_redirects: Annotated[int, msgspec.Meta(ge=0, le=20)] = 5
    connect_timeout_s: PositiveFloat = 10.0
    read_timeout_s: PositiveFloat = 30.0  # the longest wait for the next bytes of a response
    fetch_timeout_s: PositiveFloat = 600.0  # a whole download, redirects included


class CampaignWebhooksConfig(_Base):
    """How the gateway calls the https webhooks campaigns name: the custom channel's DeliveryUri and the CampaignHook
    WebUrl (gateway/channels/webhook.py; docs/campaigns.md "Custom channel and hooks"). Every request goes through the
    SSRF guard (gateway/channels/urlguard.py): no private, loopback or link-local address unless a network is in
    `allow_networks`. Every POST is signed with the secret in the environment variable `secret_env` (Standard
    Webhooks headers, as the inbound SMS webhooks verify them); without it, custom delivery and hooks are refused."""

    secret_env: str = "GATEWAY_WEBHOOK_SECRET"  # the HMAC-SHA256 signing secret (raw, or whsec_<base64>)
    allow_networks: list[str] = []  # CIDRs exempt from the SSRF guard, e.g. ["10.0.0.0/8"]; tests: 127.0.0.1/32
    ca_file: str | None = None  # extra CA bundle (PEM) to trust besides the system's, e.g. a private CA
    connect_timeout_s: PositiveFloat = 5.0
    timeout_s: PositiveFloat = 10.0  # one POST or HEAD, start to end: a slower webhook has failed
    max_response_bytes: PositiveInt = 6 * 1024 * 1024  # a hook's answer (50 endpoints) larger than this is refused
    connections: PositiveInt = 32  # pooled connections to webhooks per worker
    hook_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3  # tries of one hook batch before it counts failed
    hook_backoff_s: PositiveFloat = 0.5  # first retry delay of a hook batch, doubling


class EventDestinationsConfig(_Base):
    """Delivery of each application's event stream (PutEventStream) by every worker (gateway/eventdest/;
    docs/event-streams.md): Kinesis, Firehose, an https webhook or another Redis stream, one consumer group each."""

    enabled: bool = True  # run the destination runner in this worker
    poll_ms: PositiveInt = 2000  # how often the worker looks for added, changed or deleted event streams
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500  # entries read per XREADGROUP
    block_ms: PositiveInt = 1000  # an idle destination's XREADGROUP wait
    claim_idle_ms: PositiveInt = 60_000  # a dead worker's unacknowledged batch is taken over after this
    backoff_base_s: PositiveFloat = 0.5  # first retry of a refused batch (or of its failed records), doubling
    backoff_cap_s: PositiveFloat = 30.0
    aws_endpoint_url: str | None = None  # another AWS endpoint (LocalStack, moto, a VPC endpoint)
    assume_role: bool = True  # with a RoleArn, call AWS as that role (STS AssumeRole); else the SDK chain's own
    aws_threads: PositiveInt = 4  # concurrent AWS SDK calls per worker (boto3 in a thread pool)
    aws_timeout_s: PositiveFloat = 10.0
    webhook: CampaignWebhooksConfig = msgspec.field(default_factory=CampaignWebhooksConfig)  # signing, guard, TLS
    webhook_max_bytes: PositiveInt = 1_048_576  # one webhook POST's body at most (a batch is cut into several)
    redis_maxlen: PositiveInt | None = None  # a redis:KEY destination's approximate MAXLEN (None: untrimmed)
    # Kinesis and Firehose get what Pinpoint streams (not transactional push and voice), so consumers written for
    # Pinpoint see the same records; false streams every record there too. Webhook and Redis get every record.
    aws_pinpoint_scope: bool = True


class CampaignsConfig(_Base):
    """The campaign scheduler every worker runs (gateway/campaigns/runner.py; docs/campaigns.md)."""

    enabled: bool = True  # run due campaigns in this worker
    poll_ms: PositiveInt = 1000  # how often the worker looks for due campaign runs
    lease_ms: Annotated[int, msgspec.Meta(ge=1000)] = 30_000  # a run's lease; another worker takes over after it
    # MessageRequests (of at most 100 endpoints each) enqueued per pipelined round trip: also the most a takeover
    # can enqueue twice. 50 rather than 10: the worker running the campaign reads the entries as they arrive, and
    # bigger bursts give it fuller batches (bench_campaign at 300k endpoints: 1.06-1.10x the direct-XADD baseline
    # end to end, against 1.15-1.17x with 10)
    chunk_requests: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    due_per_poll: PositiveInt = 10  # due campaigns per application looked at per poll
    # EVENT campaigns: the worker's listener reads the events stream in this consumer group (its own cursor)
    events_group: str = "campaign-triggers"
    events_batch: PositiveInt = 256  # events-stream entries read per call
    events_block_ms: PositiveInt = 500  # how long an idle read waits for new events (an event wakes it at once)
    events_handled_ttl_s: PositiveInt = 86_400  # how long a (campaign, event) stays marked handled (redelivery)
    webhooks: CampaignWebhooksConfig = msgspec.field(default_factory=CampaignWebhooksConfig)


class MetricsConfig(_Base):
    """Prometheus `/metrics` (docs/metrics.md). Off unless `listen` (HOST:PORT, port 0: any free port) is set:
    every process (`gateway serve`, `python -m gateway.api`) serves its own registry on its own listener, never
    on the API port; several processes on one host each need their own port (GATEWAY_METRICS__LISTEN)."""

    listen: str | None = None
    sample_interval_ms: PositiveInt = 5_000  # how often stream lag, pending, retry and dead-letter sizes are read


class LoggingConfig(_Base):
    """How `gateway serve` logs (docs/metrics.md): `format = "json"` writes one JSON object per line; `redact`
    (on by default, in either format) replaces email addresses, phone numbers, push tokens and configured
    secrets in messages, arguments and tracebacks."""

    format: Literal["text", "json"] = "text"
    redact: bool = True


class TrackingConfig(_Base):
    """Email open and click tracking and one-click unsubscribe (docs/tracking.md). With this section, opens and
    clicks are tracked for every application (Pinpoint tracks them by default) unless `apps` turns an application
    off; without it nothing is rewritten. Tokens are signed with the keys in the environment variable named by
    `key_env` (`KID:SECRET,KID:SECRET`: the first signs, all verify, so keys rotate by id)."""

    public_url: str  # where recipients reach the tracking server, e.g. "https://t.example.com"
    listen: str | None = None  # HOST:PORT the tracking server binds (`gateway serve --tracking` overrides)
    key_env: str = "GATEWAY_TRACKING_KEYS"
    opens: bool = True  # add the open pixel to HTML email
    clicks: bool = True  # rewrite http(s) links of HTML email
    apps: dict[str, bool] = {}  # per-application override of opens and clicks (application id -> on/off)
    # List-Unsubscribe / List-Unsubscribe-Post (RFC 8058) on "bulk" email (campaigns and journeys), "all", "none"
    unsubscribe_headers: Literal["bulk", "all", "none"] = "bulk"
    unsubscribe_mailto: str | None = None  # an address for the mailto: form of List-Unsubscribe, if any
    # What an unsubscribe does: OptOut ALL on the endpoint (suppression when it went to a bare address), or
    # always put the address on the application's suppression list
    unsubscribe_action: Literal["opt_out", "suppress"] = "opt_out"
    batch_events: PositiveInt = 500  # the server writes its events when this many are buffered ...
    flush_ms: PositiveInt = 50  # ... or this long after the first one
    request_timeout_s: PositiveFloat = 10.0  # a request must arrive whole this soon after its first byte
    keepalive_timeout_s: PositiveFloat = 75.0  # an idle keep-alive connection is closed after this long
    # how long a tracked campaign/journey email's attribution record (gw:{app}:mattr:<message id>) is kept, so its
    # opens, clicks and unsubscribes carry campaign_id etc.; later ones count as transactional (docs/analytics.md)
    attribution_days: PositiveInt = 30


class EventsConfig(_Base):
    """The events stream's retention and the KPI rollups (docs/analytics.md)."""

    retention_days: PositiveInt = 90  # entries older than this are trimmed (XTRIM MINID, by age only)
    trim: bool = True  # every worker trims the events stream to the retention (cheap, idempotent)
    trim_interval_ms: PositiveInt = 300_000
    # the KPI rollups, maintained by every writer of the events stream as it writes (one script call per
    # application and batch, docs/analytics.md); false: KPIs are not computed (the KPI operations refuse)
    rollups: bool = True
    rollup_batch: PositiveInt = 1000  # events read per page by `gateway kpi rebuild`
    rollup_interval_ms: PositiveInt = 200  # unused since the rollups are written with the events; kept for old configs


class RecommendersConfig(_Base):
    """The built-in recommender (gateway/recommenders/builtin.py; docs/recommenders.md). It learns from PutEvents
    only while some recommender configuration names `gateway:builtin`; https provider and transformer URIs are
    checked against `campaigns.webhooks.allow_networks` (the custom channel's SSRF allowlist)."""

    item_attribute: str = "item_id"  # the event attribute that names the item an event is about
    half_life_days: PositiveFloat = 7.0  # popularity (and a history item's pull) halves over this time
    history_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50  # items remembered (and excluded) per recipient
    pair_window: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5  # a new item pairs with this many recent ones
    co_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200  # co-occurring items kept per item (its top)
    co_read: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50  # of which an answer reads the top this many
    history_ttl_days: PositiveFloat = 90.0  # a recipient's history expires this long after its last event
    flag_ttl_s: PositiveFloat = 5.0  # how long an API process caches "is the built-in recommender configured"


class GatewayConfig(_Base):
    # None (not configured): `gateway serve` starts the embedded Redis in its data directory (gateway/localredis.py);
    # a library user's Worker and the API use redis://127.0.0.1:6379/0 (redisconn.url_of).
    redis_url: str | None = None
    # One blocking pool per process (gateway/redisconn.py): at most this many connections; a command that finds
    # them all busy waits up to redis_pool_timeout_s for one instead of failing ("Too many connections").
    redis_max_connections: PositiveInt = 64
    redis_pool_timeout_s: PositiveFloat = 10.0
    # `gateway serve` retries an unreachable Redis at start until it answers (a line when it fails, one when it is
    # up); a number here makes it give up after that many seconds and exit 1 with a line saying where it tried.
    redis_startup_timeout_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    stream: StreamConfig = msgspec.field(default_factory=StreamConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    idempotency: IdempotencyConfig = msgspec.field(default_factory=IdempotencyConfig)
    channels: list[ChannelConfig] = []
    credentials: CredentialsConfig = msgspec.field(default_factory=CredentialsConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    inbound: InboundSection | None = None
    otp: OtpSection | None = None
    bounces: BouncesSection | None = None
    jobs: JobsConfig = msgspec.field(default_factory=JobsConfig)
    campaigns: CampaignsConfig = msgspec.field(default_factory=CampaignsConfig)
    event_destinations: EventDestinationsConfig = msgspec.field(default_factory=EventDestinationsConfig)
    tracking: TrackingConfig | None = None
    shutdown_grace_s: PositiveFloat = 30.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    events: EventsConfig = msgspec.field(default_factory=EventsConfig)
    recommenders: RecommendersConfig = msgspec.field(default_factory=RecommendersConfig)


def host_port(value: str) -> tuple[str, int]:
    """Parse "HOST:PORT" (an IPv6 host may be bracketed; port 0 means any free port); ConfigError otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _set_path(tree: dict[str, Any], path: list[str], value: str) -> None:
    node: Any = tree
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(f"environment key {'__'.join(path)}: {part!r} must be a list index")
            idx = int(part)
            while len(node) <= idx:
                node.append({})
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if last:
            node[part] = value
        else:
            child = node.get(part)
            if child is None:
                child = [] if path[i + 1].isdigit() else {}
                node[part] = child
            node = child


# Secret variables named by a default (OtpSection.key_env): values, never configuration overlays.
DEFAULT_SECRET_ENVS = frozenset({"GATEWAY_OTP_KEY", "GATEWAY_TRACKING_KEYS"})


def secret_env_names(data: Any, environ: Mapping[str, str], prefix: str = "GATEWAY_") -> set[str]:
    """Names of the environment variables the configuration reads secrets from: values of `*_env` keys and
    `*_envs` lists in `data`, of `GATEWAY_..._ENV` (and `..._ENVS__N`) overlay variables, and the defaults. A secret kept in, say,
    `GATEWAY_API_SECRET` is then not mistaken for the (unknown) configuration key `api_secret`."""
    names = set(DEFAULT_SECRET_ENVS)
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and k.endswith("_env") and isinstance(v, str):
                    names.add(v)
                elif isinstance(k, str) and k.endswith("_envs") and isinstance(v, list):
                    names.update(x for x in v if isinstance(x, str))
                else:
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    for k, v in environ.items():
        if k.startswith(prefix) and (k.upper().endswith("_ENV") or "_ENVS__" in k.upper()):
            names.add(v)
    return names


def overlay_env(data: dict[str, Any], environ: Mapping[str, str], prefix: str = "GATEWAY_") -> dict[str, Any]:
    """Merge `GATEWAY_A__B=value` variables into `data` (values stay strings; conversion is lax by type).
    Variables the configuration names as holding secrets (see `secret_env_names`) are skipped."""
    skip = {"GATEWAY_NO_EXTENSIONS", "GATEWAY_CYTHON_ANNOTATE", "GATEWAY_CONFIG"}
    skip |= secret_env_names(data, environ, prefix)
    for name, value in sorted(environ.items()):
        if not name.startswith(prefix) or name in skip:
            continue
        path = [p.lower() for p in name[len(prefix):].split("__") if p]
        if path:
            _set_path(data, path, value)
    return data


def from_dict(data: Mapping[str, Any]) -> GatewayConfig:
    try:
        return msgspec.convert(dict(data), type=GatewayConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc


def load_for_command(config: str | None, redis: str | None,
                     environ: Mapping[str, str]) -> tuple[GatewayConfig, dict[str, str]]:
    """The configuration a command runs with: the file named by --config (else GATEWAY_CONFIG), the environment
    over it and --redis over both. Returns it with the environment it was read from (commands pass that on, so
    what they read later agrees with it). ConfigError when the file or a value is wrong."""
    env = dict(environ)
    if redis:
        env["GATEWAY_REDIS_URL"] = redis
    return load(config or env.get("GATEWAY_CONFIG"), env), env


def load(path: str | None = None, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Load TOML from `path` (if any), overlay the environment, validate. REDIS_URL sets redis_url too."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    if "REDIS_URL" in environ and "redis_url" not in data:
        data["redis_url"] = environ["REDIS_URL"]
    overlay_env(data, environ)
    return from_dict(data)
