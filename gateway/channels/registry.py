"""Builds the configured channels and the route for each Pinpoint ChannelType they serve."""

from __future__ import annotations

from gateway.channels import push_routes
from gateway.channels.base import Runtime
from gateway.channels.smtp import channel as smtp
from gateway.channels.smtp.compose import compose_email
from gateway.channels.smtp.compose import message_substitutions as email_substitutions
from gateway.config import ApnsChannelConfig, FcmChannelConfig, GatewayConfig, SmtpChannelConfig
from gateway.dispatch import Route
from gateway.errors import ConfigError


def build_routes(cfg: GatewayConfig, runtime: Runtime) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for ch in cfg.channels:
        if isinstance(ch, SmtpChannelConfig):
            route = Route(smtp.create(ch, runtime), compose_email, email_substitutions, "EmailTemplate", "EMAIL")
        elif isinstance(ch, ApnsChannelConfig | FcmChannelConfig):
            route = push_routes.route(ch, runtime, cfg)
        else:  # pragma: no cover - the config union and this table grow together
            raise ConfigError(f"channel kind {type(ch).__name__} has no builder")
        for channel_type in route.channel.channel_types:
            if channel_type in routes:
                raise ConfigError(f"two channels serve ChannelType {channel_type}; configure one")
            routes[channel_type] = route
    return routes
