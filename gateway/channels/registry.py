"""Builds the configured channels and the route for each Pinpoint ChannelType they serve."""

from __future__ import annotations

from gateway.channels import custom, http_sms, push_routes, voice
from gateway.channels.base import AnyRoute, Runtime, checked_route
from gateway.channels.smpp import channel as smpp
from gateway.channels.smpp.wiring import wire as wire_smpp
from gateway.channels.sms_content import FAMILY as sms_family
from gateway.channels.smtp import channel as smtp
from gateway.channels.smtp.compose import FAMILY as email_family
from gateway.channels.webhook import WebhookClient
from gateway.config import (
    ApnsChannelConfig,
    ChannelConfig,
    FcmChannelConfig,
    GatewayConfig,
    HttpSmsChannelConfig,
    SmppChannelConfig,
    SmtpChannelConfig,
    VoiceChannelConfig,
)
from gateway.errors import ConfigError


def build_route(ch: ChannelConfig, runtime: Runtime) -> AnyRoute:
    """The route of one configured channel (push channels: push_routes.route, which needs the whole config)."""
    if isinstance(ch, SmtpChannelConfig):
        return checked_route(smtp.create(ch, runtime), email_family)
    if isinstance(ch, HttpSmsChannelConfig):
        return checked_route(http_sms.create(ch, runtime), sms_family)
    if isinstance(ch, SmppChannelConfig):
        return checked_route(smpp.create(ch, runtime), smpp.FAMILY)
    if isinstance(ch, VoiceChannelConfig):
        return checked_route(voice.create(ch, runtime), voice.FAMILY)
    raise ConfigError(f"channel kind {type(ch).__name__} has no builder")  # the config union and this table grow together


def build_routes(cfg: GatewayConfig, runtime: Runtime) -> dict[str, AnyRoute]:
    """The route of every Pinpoint ChannelType the configured channels serve."""
    routes: dict[str, AnyRoute] = {}
    for ch in cfg.channels:
        if isinstance(ch, ApnsChannelConfig | FcmChannelConfig):
            route = push_routes.route(ch, runtime, cfg)  # needs cfg.credentials for the stored-credentials key
        else:
            route = build_route(ch, runtime)
        if isinstance(route.channel, smpp.SmppChannel):
            wire_smpp(route.channel, cfg, runtime.redis)  # receipts to the event stream, MO to the keywords
        for channel_type in route.channel.channel_types:
            if channel_type in routes:
                raise ConfigError(f"two channels serve ChannelType {channel_type}; configure one")
            routes[channel_type] = route
    if "CUSTOM" not in routes:  # campaigns' custom delivery: always there, its webhooks come with each campaign
        client = WebhookClient(cfg.campaigns.webhooks, account_id=cfg.api.account_id)
        routes["CUSTOM"] = checked_route(custom.CustomChannel(runtime.redis, client), custom.FAMILY)
    return routes
