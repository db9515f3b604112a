"""What the API's recommender operations and PutEvents call (gateway/api/services.py RecommenderService): the
configuration store, the built-in recommender, and the SSRF allowlist that https URIs are checked against."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from gateway import models
from gateway.channels import urlguard
from gateway.channels.urlguard import IPNetwork
from gateway.config import GatewayConfig, RecommendersConfig
from gateway.recommenders.builtin import BuiltinRecommender, BuiltinSettings, Interaction
from gateway.recommenders.store import RecommenderStore
from gateway.recommenders.validate import RecommenderRequest


class Recommenders:
    """Recommender configurations over `store`; PutEvents' learning goes to `builtin` while `store.learning()`."""

    def __init__(self, store: RecommenderStore, builtin: BuiltinRecommender,
                 allow: tuple[IPNetwork, ...] = ()) -> None:
        self.store = store
        self.builtin = builtin
        self.allow = allow

    async def create(self, req: RecommenderRequest) -> models.RecommenderConfigurationResponse:
        return await self.store.create(req)

    async def get(self, recommender_id: str) -> models.RecommenderConfigurationResponse:
        return await self.store.get(recommender_id)

    async def list(self, page_size: int, token: str | None) -> models.ListRecommenderConfigurationsResponse:
        return await self.store.list(page_size, token)

    async def update(self, recommender_id: str, req: RecommenderRequest) -> models.RecommenderConfigurationResponse:
        return await self.store.update(recommender_id, req)

    async def delete(self, recommender_id: str) -> models.RecommenderConfigurationResponse:
        return await self.store.delete(recommender_id)

    async def learning(self) -> bool:
        return await self.store.learning()

    def item_of(self, event: models.Event) -> str | None:
        attributes = event.Attributes
        return attributes.get(self.builtin.settings.item_attribute) or None if attributes else None

    async def stage_events(self, pipe: Pipeline, app_id: str, interactions: Sequence[Interaction]) -> None:
        await self.builtin.stage(pipe, app_id, interactions)


def recommenders_from_config(config: GatewayConfig, redis: aioredis.Redis) -> Recommenders:
    """The service `gateway serve --api` wires: `config.recommenders` for the built-in recommender, the custom
    channel's SSRF allowlist (`campaigns.webhooks.allow_networks`) for https URIs."""
    store = RecommenderStore(redis, flag_ttl_s=config.recommenders.flag_ttl_s)
    return Recommenders(store, BuiltinRecommender(redis, builtin_settings(config.recommenders)),
                        urlguard.parse_networks(config.campaigns.webhooks.allow_networks))


def builtin_settings(r: RecommendersConfig) -> BuiltinSettings:
    """The built-in recommender's settings from the `[recommenders]` config section."""
    return BuiltinSettings(
        item_attribute=r.item_attribute, half_life_days=r.half_life_days, history_size=r.history_size,
        pair_window=r.pair_window, co_size=r.co_size, co_read=r.co_read, history_ttl_days=r.history_ttl_days,
    )
