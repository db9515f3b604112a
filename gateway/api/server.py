"""The aiohttp application serving Pinpoint's REST API.

One catch-all aiohttp route hands every request to `_Dispatcher`, which: refuses dot segments in the path (the
signature covers the path with them resolved, routing uses it as sent), verifies the SigV4 signature (unless
authentication is explicitly disabled), matches the operation on the raw path, converts query members, decodes
the body straight into the model's shape, checks the application exists, runs the handler and encodes its
output payload with the operation's success status. Every failure leaves in Pinpoint's error shape.

`gateway serve --api HOST:PORT` calls `app_from_config`; tests and embedders call `create_app`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis
from aiohttp import web

from gateway import errors as gw
from gateway import otp, phone
from gateway.api import errors
from gateway.api.adapters import EngineOtpService, SegmentAdapter, TemplateAdapter
from gateway.api.appstore import AppStore
from gateway.api.channelstore import RedisChannelStore
from gateway.api.engine import StreamMessageService
from gateway.api.handlers import load_handlers
from gateway.api.openapi import openapi_json
from gateway.api.pushchannels import push_channels_from_config
from gateway.api.registry import Call, Operation
from gateway.api.routing import Router, check_path
from gateway.api.services import Services, Settings
from gateway.api.sigv4 import SigV4Verifier
from gateway.api.tagstore import TagStore
from gateway.api.validation import decode_body, query_params
from gateway.campaigns.store import CampaignStore
from gateway.channels.webhook import WebhookClient
from gateway.config import ApiConfig, GatewayConfig
from gateway.endpoints.store import EndpointStore
from gateway.errors import ConfigError
from gateway.journeys.store import JourneyStore
from gateway.metrics.core import ApiMetrics
from gateway.metrics.server import OPERATION, api_middleware
from gateway.producer import Producer
from gateway.recommenders.service import recommenders_from_config
from gateway.redisconn import url_of
from gateway.segments.jobs import Jobs
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

log = logging.getLogger("gateway.api")

MAX_BODY_BYTES = 7 * 1024 * 1024  # Pinpoint's maximum request payload
_encode = msgspec.json.Encoder().encode


def _safe_id(value: str) -> bool:
    # Ids become part of Redis keys inside a `{app}` hash tag: braces would break the tag.
    return "{" not in value and "}" not in value and len(value) <= 256


class _Dispatcher:
    def __init__(self, services: Services, verifier: SigV4Verifier | None) -> None:
        self.services = services
        self.verifier = verifier
        self.router = Router()
        self.operations: dict[str, Operation] = {
            name: op for name, op in load_handlers().items() if op.available(services)
        }

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        try:
            return await self._handle(request, request_id)
        except errors.ApiError as exc:
            return self._error(exc, request_id)
        except gw.GatewayError as exc:
            mapped = errors.from_store_error(exc)
            if mapped is None:
                log.exception("request %s failed", request_id)
                mapped = errors.InternalServerError(f"Internal error ({type(exc).__name__}); request {request_id}")
            return self._error(mapped, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return self._error(errors.InternalServerError(f"Internal server error; request {request_id}"), request_id)

    async def _handle(self, request: web.Request, request_id: str) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        method = request.method
        if path == "/openapi.json" and method == "GET":
            return web.Response(body=openapi_json(), content_type="application/json")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise errors.PayloadTooLarge(f"Request body exceeds {MAX_BODY_BYTES} bytes") from None
        check_path(path)  # before the signature: it covers the path with dot segments resolved
        if self.verifier is not None:
            self.verifier.verify(method, path, query, request.headers, body)
        route, params = self.router.match(method, path)
        request[OPERATION] = route.name  # for /metrics (gateway/metrics/server.py)
        op = self.operations.get(route.name)
        if op is None:
            raise errors.NotFound(
                f"Operation {route.name} is not served by this Gateway deployment (see the README's operations table)"
            )
        for value in params.values():
            if not _safe_id(value):
                raise errors.BadRequest(f"Invalid identifier in path: {value[:64]!r}")
        if route.query:
            params.update(query_params(route, query))
        payload = decode_body(route, body)
        if op.check_app and "ApplicationId" in params:
            if not await self.services.apps.exists(params["ApplicationId"]):
                raise errors.NotFound(f"Application {params['ApplicationId']} not found")
        result: Any = await op.handler(Call(self.services, params, payload, request_id))
        headers = {"x-amzn-RequestId": request_id}
        if route.output is None or result is None:
            return web.Response(status=route.status, headers=headers)
        return web.Response(body=_encode(result), status=route.status, headers=headers, content_type="application/json")

    @staticmethod
    def _error(exc: errors.ApiError, request_id: str) -> web.Response:
        return web.Response(
            body=errors.error_body(exc, request_id), status=exc.status, headers=errors.error_headers(exc, request_id)
        )


DISPATCHER = web.AppKey("gateway.api.dispatcher", _Dispatcher)


def create_app(services: Services, verifier: SigV4Verifier | None, config: GatewayConfig | None = None
               ) -> web.Application:
    """The API application, with the dashboard at /dashboard (gateway/dashboard/web.py; `config` names the
    streams whose lag it shows, default the default streams). `verifier` None disables authentication (local use
    only: say so in config)."""
    from gateway.dashboard.web import Dashboard

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    dispatcher = _Dispatcher(services, verifier)
    app[DISPATCHER] = dispatcher
    Dashboard(services, verifier, config or GatewayConfig()).add_routes(app)  # before the API's catch-all

    async def handle(request: web.Request) -> web.StreamResponse:
        return await dispatcher(request)

    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def served_operations(app: web.Application) -> list[str]:
    """Names of the operations this application serves (its deployment has every service they need)."""
    dispatcher = app[DISPATCHER]
    return sorted(dispatcher.operations)


def build_verifier(api: ApiConfig, environ: Mapping[str, str] | None = None) -> SigV4Verifier | None:
    """The SigV4 verifier of `api` (None when `auth = "none"`); ConfigError naming the key if a secret is missing."""
    if api.auth == "none":
        return None
    environ = os.environ if environ is None else environ
    if not api.access_keys:
        raise ConfigError('api.access_keys is empty: add a key, or set api.auth = "none" for local use only')
    keys: dict[str, str] = {}
    for i, key in enumerate(api.access_keys):
        where = f"api.access_keys[{i}]"
        if key.secret_env:
            secret = environ.get(key.secret_env)
            if not secret:
                raise ConfigError(f"{where}.secret_env: environment variable {key.secret_env} is not set")
        elif key.secret_file:
            try:
                secret = Path(key.secret_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{where}.secret_file: cannot read {key.secret_file}: {exc.strerror}") from exc
        else:
            raise ConfigError(f"{where}: give secret_env or secret_file")
        keys[key.access_key_id] = secret
    return SigV4Verifier(keys)


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id is not part of the address
    except ValueError:
        return False  # any other name may resolve to anything
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def check_listen_auth(api: ApiConfig, host: str) -> None:
    """ConfigError (one line saying why and what to do) when `auth = "none"` would serve the API without
    authentication on a non-loopback address and `api.allow_unauthenticated` does not force it: anyone who can
    reach the port could then create, read and delete every application and send as any of them."""
    if api.auth == "none" and not api.allow_unauthenticated and not _is_loopback(host):
        raise ConfigError(
            f'api.auth = "none" refuses to serve the API unauthenticated on {host or "all addresses"} (not loopback): '
            "listen on 127.0.0.1 or ::1, configure api.access_keys with auth = \"sigv4\", or set "
            "api.allow_unauthenticated = true to force it"
        )


def otp_from_config(
    config: GatewayConfig, redis: aioredis.Redis | None, environ: Mapping[str, str] | None = None
) -> otp.OtpService | None:
    """The OTP service `config.otp` asks for (None when the section is absent: OTP is then not served).
    ConfigError naming the variable when its HMAC key is missing or shorter than 32 bytes."""
    section = config.otp
    if section is None:
        return None
    return otp.OtpService(
        redis,
        otp.OtpConfig(
            key_env=section.key_env,
            templates={**otp.DEFAULT_TEMPLATES, **section.templates},
            default_language=section.default_language,
        ),
        environ=environ,
    )


def check_api_config(
    config: GatewayConfig, environ: Mapping[str, str] | None = None, host: str | None = None
) -> None:
    """Raise ConfigError now, before anything listens, for what `start_api` would refuse: `auth = "none"` on a
    non-loopback `host` without `api.allow_unauthenticated`, an access key whose secret is missing, an `[otp]`
    section whose HMAC key is missing or too short, or a `[credentials]` key that is configured but unreadable or
    not base64 of 32 bytes."""
    if host is not None:
        check_listen_auth(config.api, host)
    build_verifier(config.api, environ)
    otp_from_config(config, None, environ)
    push_channels_from_config(config.credentials, None, environ)


def services_from_config(
    config: GatewayConfig, redis: aioredis.Redis, environ: Mapping[str, str] | None = None
) -> Services:
    """Every service Gateway itself provides, over one Redis client: applications, tags, EMAIL/SMS/VOICE channel
    settings, endpoints and users, message templates (the store the worker renders from), segments, campaigns, import/export
    jobs, PhoneNumberValidate, sending through the ingest stream, push channels over the encrypted credential
    store the worker reads (`config.credentials`; without a key their operations answer ForbiddenException, and
    a configured but unusable key is a ConfigError at once), and OTP when `config.otp` is present (ConfigError at
    once if its key is missing). `environ` replaces `os.environ` for the OTP and credentials keys."""
    settings = Settings(
        region=config.api.region, account_id=config.api.account_id, events_key=config.stream.events_key,
        rollups=config.events.rollups, retention_days=config.events.retention_days,
    )
    producer = Producer(redis, prefix=config.stream.prefix)
    endpoint_store = EndpointStore(redis)
    segment_store = SegmentStore(redis, arn_prefix=settings.arn("").rstrip(":"))
    otp_service = otp_from_config(config, redis, environ)
    otp_timeout = config.otp.send_timeout_s if config.otp is not None else config.api.send_timeout_s
    tags = TagStore(redis)
    template_store = TemplateStore(redis)
    return Services(
        settings=settings,
        apps=AppStore(redis, settings.arn("")),
        tags=tags,
        channels=RedisChannelStore(redis),
        push_channels=push_channels_from_config(config.credentials, redis, environ),
        messages=StreamMessageService(producer, config.api.send_timeout_s),
        endpoints=endpoint_store,
        segments=SegmentAdapter(segment_store, tags),
        campaigns=CampaignStore(redis, segment_store, template_store, tags, arn_prefix=settings.arn("").rstrip(":"),
                                head_check=WebhookClient(config.campaigns.webhooks,
                                                         account_id=config.api.account_id).head_check),
        journeys=JourneyStore(redis, segment_store, template_store, tags,
                              head_check=WebhookClient(config.campaigns.webhooks,
                                                       account_id=config.api.account_id).head_check),
        templates=TemplateAdapter(template_store, settings, tags),
        jobs=Jobs(redis, endpoint_store, segment_store, config=config.jobs),
        phone=phone,
        otp=None if otp_service is None else EngineOtpService(otp_service, producer, otp_timeout),
        recommenders=recommenders_from_config(config, redis),
    )


def app_from_config(config: GatewayConfig, services: Services) -> web.Application:
    """The API application for `gateway serve --api`: authentication as `config.api` says."""
    return create_app(services, build_verifier(config.api), config)


async def start_api(
    config: GatewayConfig, host: str, port: int, *, redis: aioredis.Redis | None = None,
    metrics: ApiMetrics | None = None,
) -> tuple[web.AppRunner, int]:
    """Start serving the API on host:port (0 = a free port) in the running loop; returns the runner (call
    `await runner.cleanup()` to stop) and the bound port. For `gateway serve --api HOST:PORT`. ConfigError,
    before anything listens, for `auth = "none"` on a non-loopback host (see `check_listen_auth`). `metrics`
    records every request (served on the metrics listener, never here)."""
    check_listen_auth(config.api, host)
    client = redis or aioredis.Redis.from_url(url_of(config), max_connections=256)
    services = services_from_config(config, client)
    app = app_from_config(config, services)
    if metrics is not None:
        app.middlewares.append(api_middleware(metrics))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])
