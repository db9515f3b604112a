"""Builds the configured channels and the route for each Pinpoint ChannelType they serve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.channels import http_sms, push_routes, voice
from gateway.channels.base import Runtime
from gateway.channels.smpp import channel as smpp
from gateway.channels.smpp.wiring import wire as wire_smpp
from gateway.channels.sms_content import compose_sms
from gateway.channels.smtp import channel as smtp
from gateway.channels.smtp.compose import compose_email
from gateway.config import (
    ApnsChannelConfig,
    FcmChannelConfig,
    GatewayConfig,
    HttpSmsChannelConfig,
    SmppChannelConfig,
    SmtpChannelConfig,
    VoiceChannelConfig,
)
from gateway.dispatch import Route
from gateway.errors import ConfigError
from gateway.models import DirectMessageConfiguration


def _substitutions(member: str) -> Callable[[DirectMessageConfiguration], dict[str, list[str]] | None]:
    """Message-level substitutions of one channel family: its own message's, else DefaultMessage's."""

    def pick(config: DirectMessageConfiguration) -> dict[str, list[str]] | None:
        own: Any = getattr(config, member)
        if own is not None and own.Substitutions:
            return own.Substitutions  # type: ignore[no-any-return]
        return config.DefaultMessage.Substitutions if config.DefaultMessage else None

    return pick


def build_route(ch: Any, runtime: Runtime) -> Route:
    if isinstance(ch, SmtpChannelConfig):
        return Route(smtp.create(ch, runtime), compose_email, _substitutions("EmailMessage"), "EmailTemplate", "EMAIL")
    if isinstance(ch, HttpSmsChannelConfig):
        return Route(http_sms.create(ch, runtime), compose_sms, _substitutions("SMSMessage"), "SMSTemplate", "SMS")
    if isinstance(ch, SmppChannelConfig):
        return Route(smpp.create(ch, runtime), compose_sms, _substitutions("SMSMessage"), "SMSTemplate", "SMS")
    if isinstance(ch, VoiceChannelConfig):
        return Route(voice.create(ch, runtime), voice.compose_voice, _substitutions("VoiceMessage"), "VoiceTemplate", "VOICE")
    raise ConfigError(f"channel kind {type(ch).__name__} has no builder")  # the config union and this table grow together


def build_routes(cfg: GatewayConfig, runtime: Runtime) -> dict[str, Route]:
    routes: dict[str, Route] = {}
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
    return routes
