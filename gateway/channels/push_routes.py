"""Routes for the push channels (APNs, FCM): what gateway.channels.registry calls for `kind = "apns"`/`"fcm"`."""

from __future__ import annotations

import logging

from gateway.channels import apns, fcm
from gateway.channels.base import AnyRoute, Runtime, checked_route
from gateway.config import ApnsChannelConfig, FcmChannelConfig, GatewayConfig
from gateway.credentials import CredentialStore, configured_key

log = logging.getLogger("gateway.push")


def credential_store(runtime: Runtime, cfg: GatewayConfig) -> CredentialStore | None:
    """The runtime's CredentialStore, made once from `cfg.credentials` when its key is configured; None (config
    defaults only) when no key is set. A configured but unusable key is a ConfigError (`configured_key`)."""
    store = runtime.credentials
    if store is not None:
        return store
    key = configured_key(cfg.credentials.key_env, cfg.credentials.key_file)
    if key is None:
        log.info("no credentials key (%s is not set): push channels use their configured default credentials only",
                 cfg.credentials.key_env)
        return None
    store = CredentialStore(runtime.redis, key)
    runtime.credentials = store  # every push route of this runtime reads through the same store
    return store


def route(ch: ApnsChannelConfig | FcmChannelConfig, runtime: Runtime, cfg: GatewayConfig) -> AnyRoute:
    """The route of a push channel, reading stored per-application credentials when a key is configured."""
    store = credential_store(runtime, cfg)
    if isinstance(ch, ApnsChannelConfig):
        return checked_route(apns.create(ch, runtime, credentials=store), apns.FAMILY)
    return checked_route(fcm.create(ch, runtime, credentials=store), fcm.FAMILY)
