"""Routes for the push channels (APNs, FCM): what gateway.channels.registry calls for `kind = "apns"`/`"fcm"`."""

from __future__ import annotations

import logging
from typing import Any, cast

from gateway.channels import apns, fcm
from gateway.channels.base import Runtime
from gateway.config import ApnsChannelConfig, FcmChannelConfig, GatewayConfig
from gateway.credentials import CredentialStore, configured_key
from gateway.dispatch import Route
from gateway.models import DirectMessageConfiguration

log = logging.getLogger("gateway.push")


def _substitutions(own: Any, default: Any) -> dict[str, list[str]] | None:
    """The platform message's substitutions when it has any, else the default push message's."""
    if own is not None and own.Substitutions:
        return cast("dict[str, list[str]]", own.Substitutions)
    return default.Substitutions if default is not None else None


def apns_substitutions(config: DirectMessageConfiguration) -> dict[str, list[str]] | None:
    """Message-level substitutions of an APNs send: APNSMessage's, else DefaultPushNotificationMessage's."""
    return _substitutions(config.APNSMessage, config.DefaultPushNotificationMessage)


def gcm_substitutions(config: DirectMessageConfiguration) -> dict[str, list[str]] | None:
    """Message-level substitutions of an FCM send: GCMMessage's, else DefaultPushNotificationMessage's."""
    return _substitutions(config.GCMMessage, config.DefaultPushNotificationMessage)


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


def route(ch: ApnsChannelConfig | FcmChannelConfig, runtime: Runtime, cfg: GatewayConfig) -> Route:
    store = credential_store(runtime, cfg)
    if isinstance(ch, ApnsChannelConfig):
        return Route(apns.create(ch, runtime, credentials=store), apns.compose_apns, apns_substitutions,
                     "PushTemplate", "PUSH")
    return Route(fcm.create(ch, runtime, credentials=store), fcm.compose_gcm, gcm_substitutions, "PushTemplate",
                 "PUSH")
