"""The endpoint and user store: each endpoint is one JSON document (Pinpoint's EndpointResponse) at
`gw:{app}:ep:<id>`, and each user a set of endpoint ids at `gw:{app}:user:<user id>`.

Reads for a send are one pipelined round trip for any number of endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from gateway import keys
from gateway.models import EndpointResponse

_decode = msgspec.json.Decoder(EndpointResponse).decode
_encode = msgspec.json.Encoder().encode


class EndpointStore:
    """Reads and writes endpoints of any application through one Redis client."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get_many(self, app: str, endpoint_ids: Sequence[str]) -> list[EndpointResponse | None]:
        """Endpoints in the order asked, None where an id does not exist."""
        if not endpoint_ids:
            return []
        raw = await self.redis.mget([keys.endpoint(app, i) for i in endpoint_ids])
        return [None if r is None else _decode(r) for r in raw]

    async def get(self, app: str, endpoint_id: str) -> EndpointResponse | None:
        return (await self.get_many(app, [endpoint_id]))[0]

    async def put(self, app: str, endpoint: EndpointResponse) -> None:
        """Store an endpoint document as given (no merge; see UpdateEndpoint semantics for that)."""
        if not endpoint.Id:
            raise ValueError("endpoint has no Id")
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(keys.endpoint(app, endpoint.Id), _encode(endpoint))
        if endpoint.User is not None and endpoint.User.UserId:
            pipe.sadd(keys.user(app, endpoint.User.UserId), endpoint.Id)
        await pipe.execute()

    async def user_endpoint_ids(self, app: str, user_ids: Sequence[str]) -> list[list[str]]:
        """The endpoint ids of each user, sorted, in the order asked."""
        pipe = self.redis.pipeline(transaction=False)
        for u in user_ids:
            pipe.smembers(keys.user(app, u))
        return [sorted(m.decode() for m in members) for members in await pipe.execute()]
