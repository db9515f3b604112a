"""Serve the inbound SMS/voice webhook from `gateway serve` when the config has an `[inbound]` section."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.config import GatewayConfig, InboundSection, host_port
from gateway.events import EventStreamSink
from gateway.sms.events import EventSink
from gateway.sms.inbound import InboundConfig, InboundWebhook
from gateway.sms.keywords import KeywordConfig, KeywordHandler, StreamReplier
from gateway.sms.optouts import OptOutStore


def keyword_handler(cfg: GatewayConfig, redis: Any, sink: EventSink) -> KeywordHandler:
    """The two-way SMS keyword handler for every source of incoming SMS (HTTP webhook, SMPP): texts from the
    `[inbound]` section (or the defaults), replies into the transactional lane."""
    section = cfg.inbound
    keywords = (KeywordConfig(help_text=section.help_text, stop_text=section.stop_text,
                              start_text=section.start_text, self_managed=section.self_managed)
                if section is not None else KeywordConfig())
    return KeywordHandler(OptOutStore(redis), sink, StreamReplier(redis, cfg.stream.lanes[0].send_key),
                          config_for=lambda app: keywords)


def webhook_from_config(section: InboundSection, cfg: GatewayConfig, redis: Any) -> InboundWebhook:
    sink = EventStreamSink(redis, cfg.stream.events_key, rollups=cfg.events.rollups,
                           retention_days=cfg.events.retention_days)
    handler = keyword_handler(cfg, redis, sink)
    inbound = InboundConfig(auth=section.auth, secret_envs=list(section.secret_envs), username=section.username,
                            password_env=section.password_env, public_url=section.public_url,
                            replay_window_s=section.replay_window_s)
    return InboundWebhook(inbound, handler, sink, redis)


async def start_inbound(cfg: GatewayConfig, redis: Any) -> tuple[web.AppRunner, int]:
    """Start the webhook at cfg.inbound.listen; returns the runner (`await runner.cleanup()`) and the port."""
    section = cfg.inbound
    if section is None:
        raise ValueError("no [inbound] section in the config")
    host, port = host_port(section.listen)
    runner = web.AppRunner(webhook_from_config(section, cfg, redis).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])
