"""The endpoint and user store: each endpoint is one JSON document (Pinpoint's EndpointResponse) at
`gw:{app}:ep:<id>`, and each user a set of endpoint ids at `gw:{app}:user:<user id>`.

Reads for a send are one pipelined round trip for any number of endpoints. Writes follow Pinpoint's rules
(rules.py) and are optimistic transactions (WATCH the documents and sets they read, MULTI/EXEC, retry on
conflict), so several workers can write the same application. Every write also appends the changed endpoint ids
to the application's change stream `gw:{app}:epchg`, which the segment index (gateway/segments/index.py) reads to
stay current; the document write and the change entry are in the same transaction.

Other keys: `gw:{app}:eps` (set of every endpoint id), `gw:{app}:addr:<address>` (endpoint ids holding that
address), `gw:{app}:attrs:<kind>` (attribute names in use, for the 250-key quota) and `gw:{app}:attrs-removed:<kind>`
(RemoveAttributes blacklist patterns).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gateway import keys, phone
from gateway.endpoints import rules
from gateway.endpoints.rules import EndpointValidationError
from gateway.errors import NotFound
from gateway.models import (
    AttributesResource,
    EndpointBatchItem,
    EndpointBatchRequest,
    EndpointRequest,
    EndpointResponse,
    EndpointsResponse,
)
from gateway.redisconn import text as _s

_decode = msgspec.json.Decoder(EndpointResponse).decode
_encode = msgspec.json.Encoder().encode
_KINDS = ("custom", "metric", "user")
CHANGELOG_MAXLEN = 200_000  # entries (each names up to 100 ids); an index further behind than this rebuilds


class Deactivation(msgspec.Struct, kw_only=True):
    """Why a channel made an endpoint INACTIVE: when (ISO 8601), the provider's reason, and the provider's own
    time in ms when it gives one (APNs 410: when the token stopped being valid)."""

    at: str
    reason: str
    since_ms: int | None = None


class EndpointNotFound(NotFound):
    """No endpoint (or user) with that id in the application: the REST API answers NotFoundException."""


def normalize_address(channel_type: str | None, address: str) -> str:
    """The form an Address is stored and matched in: SMS and VOICE numbers in E.164 (gateway/phone.py), every
    other channel's address exactly as given. An SMS/VOICE address that is not a possible phone number is an
    EndpointValidationError saying why (the number itself is not repeated)."""
    if channel_type is None:
        return address
    try:
        return phone.normalize_address(channel_type, address)
    except phone.InvalidPhoneNumber as exc:
        raise EndpointValidationError(f"Address: {exc} (ChannelType {channel_type})") from None


def all_ids_key(app: str) -> str:
    return keys.app_key(app, "eps")


def changes_key(app: str) -> str:
    """Stream of endpoint changes: field `ids` = JSON list of endpoint ids written or deleted together."""
    return keys.app_key(app, "epchg")


def address_key(app: str, address: str) -> str:
    return keys.app_key(app, "addr", address)


def registry_key(app: str, kind: str) -> str:
    return keys.app_key(app, "attrs", kind)


def removed_key(app: str, kind: str) -> str:
    return keys.app_key(app, "attrs-removed", kind)


class EndpointStore:
    """Reads and writes endpoints of any application through one Redis client."""

    def __init__(self, redis: aioredis.Redis, *, clock: Callable[[], str] = rules.now_iso) -> None:
        self.redis = redis
        self._clock = clock

    # -- reads -------------------------------------------------------------------------------------------------

    async def get_many(self, app: str, endpoint_ids: Sequence[str]) -> list[EndpointResponse | None]:
        """Endpoints in the order asked, None where an id does not exist."""
        if not endpoint_ids:
            return []
        raw = await self.redis.mget([keys.endpoint(app, i) for i in endpoint_ids])
        return [None if r is None else _decode(r) for r in raw]

    async def get(self, app: str, endpoint_id: str) -> EndpointResponse | None:
        return (await self.get_many(app, [endpoint_id]))[0]

    async def user_endpoint_ids(self, app: str, user_ids: Sequence[str]) -> list[list[str]]:
        """The endpoint ids of each user, sorted, in the order asked."""
        pipe = self.redis.pipeline(transaction=False)
        for u in user_ids:
            pipe.smembers(keys.user(app, u))
        return [sorted(_s(m) for m in members) for members in await pipe.execute()]

    async def get_user_endpoints(self, app: str, user_id: str) -> EndpointsResponse:
        """GetUserEndpoints: every endpoint of the user; EndpointNotFound when the user has none."""
        ids = (await self.user_endpoint_ids(app, [user_id]))[0]
        eps = [e for e in await self.get_many(app, ids) if e is not None]
        if not eps:
            raise EndpointNotFound(f"user {user_id!r} has no endpoints in application {app!r}")
        return EndpointsResponse(Item=eps)

    async def count(self, app: str) -> int:
        return int(await self.redis.scard(all_ids_key(app)))

    # -- writes ------------------------------------------------------------------------------------------------

    async def put(self, app: str, endpoint: EndpointResponse) -> None:
        """Store an endpoint document as given (no merge, no limits: fixtures and internal tools). The sets and the
        change stream stay consistent, so the segment index sees it."""
        if not endpoint.Id:
            raise ValueError("endpoint has no Id")
        old = await self.get(app, endpoint.Id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(keys.endpoint(app, endpoint.Id), _encode(endpoint))
        pipe.sadd(all_ids_key(app), endpoint.Id)
        self._queue_sets(pipe, app, old, endpoint)
        self._queue_change(pipe, app, [endpoint.Id])
        await pipe.execute()

    async def update_endpoint(
        self, app: str, endpoint_id: str, req: EndpointRequest | EndpointBatchItem
    ) -> EndpointResponse:
        """UpdateEndpoint: create or merge one endpoint; returns the stored endpoint."""
        if not endpoint_id:
            raise EndpointValidationError("endpoint id is required")
        return (await self._write(app, [(endpoint_id, req)]))[0]

    async def update_endpoints_batch(self, app: str, batch: EndpointBatchRequest) -> list[EndpointResponse]:
        """UpdateEndpointsBatch: up to 100 items, all or none written; returns the stored endpoints in order."""
        if len(batch.Item) > rules.MAX_BATCH:
            raise EndpointValidationError(
                f"{len(batch.Item)} items exceed the limit of {rules.MAX_BATCH} per UpdateEndpointsBatch"
            )
        items: list[tuple[str, EndpointRequest | EndpointBatchItem]] = []
        for i, item in enumerate(batch.Item):
            if not item.Id:
                raise EndpointValidationError(f"Item[{i}]: Id is required")
            items.append((item.Id, item))
        return await self._write(app, items) if items else []

    async def _write(
        self, app: str, items: Sequence[tuple[str, EndpointRequest | EndpointBatchItem]]
    ) -> list[EndpointResponse]:
        for i, (_, req) in enumerate(items):
            try:
                rules.check_request(req)
            except EndpointValidationError as exc:
                raise EndpointValidationError(f"Item[{i}]: {exc}" if len(items) > 1 else str(exc)) from None
        ids = list(dict.fromkeys(i for i, _ in items))
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    return await self._attempt(pipe, app, ids, items)
                except WatchError:
                    continue

    async def _attempt(
        self,
        pipe: Any,
        app: str,
        ids: list[str],
        items: Sequence[tuple[str, EndpointRequest | EndpointBatchItem]],
    ) -> list[EndpointResponse]:
        ep_keys = [keys.endpoint(app, i) for i in ids]
        await pipe.watch(*ep_keys, *(registry_key(app, k) for k in _KINDS))
        # Everything read after WATCH is protected by it, whichever connection reads it: one pipelined round trip.
        reads = self.redis.pipeline(transaction=False)
        reads.mget(ep_keys)
        for k in _KINDS:
            reads.smembers(removed_key(app, k))
            reads.smembers(registry_key(app, k))
        raw, *sets = await reads.execute()
        docs: dict[str, EndpointResponse | None] = {
            i: None if r is None else _decode(r) for i, r in zip(ids, raw, strict=True)
        }
        originals = dict(docs)
        blocked: dict[str, frozenset[str]] = {}
        registry: dict[str, set[str]] = {}
        for n, k in enumerate(_KINDS):
            pats = {_s(p) for p in sets[2 * n]}
            registry[k] = {_s(m) for m in sets[2 * n + 1]}
            names = {m for _, r in items for m in rules.attribute_keys(r)[k]}
            blocked[k] = frozenset(rules.glob_matches(pats, names))
        now = self._clock()
        request_id = str(uuid.uuid4())
        order: list[EndpointResponse] = []
        for n, (eid, req) in enumerate(items):
            if req.Address is not None:
                try:
                    address = normalize_address(req.ChannelType or _channel(docs[eid]), req.Address)
                except EndpointValidationError as exc:
                    raise EndpointValidationError(f"Item[{n}]: {exc}" if len(items) > 1 else str(exc)) from None
                req = msgspec.structs.replace(req, Address=address)
            merged = rules.merge(app, eid, docs[eid], req, now=now, request_id=request_id, blocked=blocked)
            docs[eid] = merged
            order.append(merged)
        encoded = {eid: rules.check_size(d) for eid, d in docs.items() if d is not None}
        # The 250-key quota counts custom attributes, metrics and user attributes across the application.
        new_names = {k: set() for k in _KINDS}  # type: dict[str, set[str]]
        for d in docs.values():
            assert d is not None
            for k, names in rules.attribute_keys(d).items():
                new_names[k] |= names - registry[k]
        total = sum(len(registry[k]) + len(new_names[k]) for k in _KINDS)
        if total > rules.MAX_APP_ATTRIBUTE_KEYS:
            raise EndpointValidationError(
                f"application {app!r} would have {total} attribute and metric keys; the limit is "
                f"{rules.MAX_APP_ATTRIBUTE_KEYS}"
            )
        # Users: each holds at most 15 endpoints; a 16th push endpoint displaces the user's oldest push endpoint
        # (rules.user_displacements), which is written here, in the same transaction, INACTIVE without its UserId.
        joins: dict[str, list[str]] = {}
        for eid, d in docs.items():
            new_uid = _uid(d)
            if new_uid and new_uid != _uid(originals[eid]):
                joins.setdefault(new_uid, []).append(eid)
        for uid, eids in joins.items():
            await pipe.watch(keys.user(app, uid))
            members = {_s(m) for m in await pipe.smembers(keys.user(app, uid))} - set(eids)
            members = {m for m in members if m not in docs or _uid(docs[m]) == uid}  # leaving in this write
            if len(members) + len(eids) <= rules.MAX_ENDPOINTS_PER_USER:
                continue
            # Full: the displacement rule needs every member's ChannelType and EffectiveDate (read, and WATCHed).
            outside = sorted(m for m in members if m not in docs)
            stored: dict[str, EndpointResponse] = {}
            if outside:
                okeys = [keys.endpoint(app, o) for o in outside]
                await pipe.watch(*okeys)
                for o, r in zip(outside, await pipe.mget(okeys), strict=True):
                    if r is not None:
                        stored[o] = _decode(r)
            current: dict[str, EndpointResponse] = {}
            for m in members:
                e = docs[m] if m in docs else stored.get(m)
                if e is not None and _uid(e) == uid:  # a set entry without its document does not hold a place
                    current[m] = e
            joining = [d for d in (docs[e] for e in eids) if d is not None]
            for victim in rules.user_displacements(uid, current, joining):
                if victim not in docs:
                    docs[victim] = originals[victim] = stored[victim]
                old = docs[victim]
                assert old is not None
                docs[victim] = d = rules.displace(old)
                encoded[victim] = _encode(d)
        # Address written on an endpoint -> every other endpoint with that Address becomes INACTIVE.
        deactivate: dict[str, EndpointResponse] = {}
        written_addr = {}  # address -> the endpoint that wrote it last in this call
        for eid, req in items:
            if req.Address is not None:
                d = docs[eid]
                assert d is not None and d.Address is not None
                written_addr[d.Address] = eid
        for addr, winner in written_addr.items():
            akey = address_key(app, addr)
            await pipe.watch(akey)
            holders = {_s(m) for m in await pipe.smembers(akey)}
            holders |= {e for e, d in docs.items() if d is not None and d.Address == addr}
            others = sorted(holders - {winner})
            outside = [o for o in others if o not in docs]
            if outside:
                okeys = [keys.endpoint(app, o) for o in outside]
                await pipe.watch(*okeys)
                for o, r in zip(outside, await pipe.mget(okeys), strict=True):
                    if r is not None:
                        docs_o = _decode(r)
                        if docs_o.Address == addr and docs_o.EndpointStatus != "INACTIVE":
                            deactivate[o] = msgspec.structs.replace(docs_o, EndpointStatus="INACTIVE")
            for o in others:
                d = docs.get(o)
                if d is not None and d.Address == addr and d.EndpointStatus != "INACTIVE":
                    docs[o] = d = msgspec.structs.replace(d, EndpointStatus="INACTIVE")
                    encoded[o] = _encode(d)
        pipe.multi()
        for eid, d in docs.items():
            assert d is not None
            pipe.set(keys.endpoint(app, eid), encoded[eid])
            self._queue_sets(pipe, app, originals[eid], d)
        for o, d in deactivate.items():
            pipe.set(keys.endpoint(app, o), _encode(d))
        pipe.sadd(all_ids_key(app), *docs)
        for k in _KINDS:
            if new_names[k]:
                pipe.sadd(registry_key(app, k), *new_names[k])
        self._queue_change(pipe, app, [*docs, *deactivate])
        await pipe.execute()
        by_id = {eid: docs[eid] for eid in docs}
        return [by_id[o.Id or ""] or o for o in order]

    @staticmethod
    def _queue_sets(pipe: Any, app: str, old: EndpointResponse | None, new: EndpointResponse) -> None:
        eid = new.Id or ""
        if _uid(old) and _uid(old) != _uid(new):
            pipe.srem(keys.user(app, _uid(old)), eid)
        if _uid(new):
            pipe.sadd(keys.user(app, _uid(new)), eid)
        if old is not None and old.Address and old.Address != new.Address:
            pipe.srem(address_key(app, old.Address), eid)
        if new.Address:
            pipe.sadd(address_key(app, new.Address), eid)

    @staticmethod
    def _queue_change(pipe: Any, app: str, ids: Sequence[str]) -> None:
        pipe.xadd(changes_key(app), {"ids": _encode(list(ids))}, maxlen=CHANGELOG_MAXLEN, approximate=True)

    async def _modify(
        self, app: str, endpoint_id: str, change: Callable[[EndpointResponse], EndpointResponse]
    ) -> EndpointResponse:
        key = keys.endpoint(app, endpoint_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise EndpointNotFound(f"endpoint {endpoint_id!r} not found in application {app!r}")
                    new = change(_decode(raw))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, _encode(new))
                    self._queue_change(pipe, app, [endpoint_id])
                    await pipe.execute()
                    return new
                except WatchError:
                    continue

    async def set_status(self, app: str, endpoint_id: str, status: str, *, reason: str | None = None,
                         since_ms: int | None = None) -> EndpointResponse:
        """Set EndpointStatus (a push channel that learns a token is dead sets INACTIVE). EffectiveDate is kept:
        the device did nothing. Deactivating also records when and why (`deactivation()`), with the provider's
        own time when it gives one (APNs: the last time the token was valid); reactivating clears that record."""
        if status not in rules.STATUSES:
            raise EndpointValidationError(f"EndpointStatus must be ACTIVE or INACTIVE, not {status!r}")
        updated = await self._modify(app, endpoint_id, lambda e: msgspec.structs.replace(e, EndpointStatus=status))
        if status == "INACTIVE":
            record = Deactivation(at=self._clock(), reason=reason or "", since_ms=since_ms)
            await self.redis.hset(keys.app_key(app, "deactivated"), endpoint_id, _encode(record))
        else:
            await self.redis.hdel(keys.app_key(app, "deactivated"), endpoint_id)
        return updated

    async def deactivation(self, app: str, endpoint_id: str) -> Deactivation | None:
        """When and why the endpoint was made INACTIVE by a channel, if it was."""
        raw = await self.redis.hget(keys.app_key(app, "deactivated"), endpoint_id)
        return None if raw is None else msgspec.json.decode(raw, type=Deactivation)

    async def opt_out(self, app: str, endpoint_id: str, opt_out: str = "ALL") -> EndpointResponse:
        """Set OptOut (ALL or NONE) on one endpoint."""
        if opt_out not in rules.OPT_OUTS:
            raise EndpointValidationError(f"OptOut must be ALL or NONE, not {opt_out!r}")
        return await self._modify(app, endpoint_id, lambda e: msgspec.structs.replace(e, OptOut=opt_out))

    async def opt_out_address(self, app: str, channel_type: str, address: str, opt_out: str = "ALL") -> list[str]:
        """Set OptOut on every endpoint holding `address` (an SMS STOP reply, an email complaint); the ids changed."""
        try:
            addr = normalize_address(channel_type, address)
        except EndpointValidationError:
            addr = address  # not a number any endpoint could have been stored with after normalization
        ids = sorted(_s(m) for m in await self.redis.smembers(address_key(app, addr)))
        done = []
        for eid in ids:
            try:
                await self.opt_out(app, eid, opt_out)
                done.append(eid)
            except EndpointNotFound:
                continue
        return done

    async def delete_endpoint(self, app: str, endpoint_id: str) -> EndpointResponse:
        """DeleteEndpoint: remove it and return what was stored; EndpointNotFound when absent."""
        key = keys.endpoint(app, endpoint_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise EndpointNotFound(f"endpoint {endpoint_id!r} not found in application {app!r}")
                    old = _decode(raw)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.delete(key)
                    pipe.srem(all_ids_key(app), endpoint_id)
                    if _uid(old):
                        pipe.srem(keys.user(app, _uid(old)), endpoint_id)
                    if old.Address:
                        pipe.srem(address_key(app, old.Address), endpoint_id)
                    self._queue_change(pipe, app, [endpoint_id])
                    await pipe.execute()
                    return old
                except WatchError:
                    continue

    async def delete_user_endpoints(self, app: str, user_id: str) -> EndpointsResponse:
        """DeleteUserEndpoints: delete every endpoint of the user; returns them. EndpointNotFound if none."""
        ids = (await self.user_endpoint_ids(app, [user_id]))[0]
        deleted = []
        for eid in ids:
            try:
                deleted.append(await self.delete_endpoint(app, eid))
            except EndpointNotFound:
                await self.redis.srem(keys.user(app, user_id), eid)
        if not deleted:
            raise EndpointNotFound(f"user {user_id!r} has no endpoints in application {app!r}")
        return EndpointsResponse(Item=deleted)

    async def remove_attributes(self, app: str, attribute_type: str, blacklist: Sequence[str]) -> AttributesResource:
        """RemoveAttributes: drop names (exact or `*`/`?` globs) of one kind from the application. As in Pinpoint,
        existing endpoints keep their values, and later writes stop capturing values for those names."""
        kind = rules.ATTRIBUTE_TYPES.get(attribute_type)
        if kind is None:
            raise EndpointValidationError(
                f"attribute type {attribute_type!r} is not one of {', '.join(rules.ATTRIBUTE_TYPES)}"
            )
        if not blacklist:
            raise EndpointValidationError("Blacklist must name at least one attribute")
        names = {_s(n) for n in await self.redis.smembers(registry_key(app, kind))}
        removed = sorted(rules.glob_matches(blacklist, names))
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(removed_key(app, kind), *blacklist)
        if removed:
            pipe.srem(registry_key(app, kind), *removed)
        await pipe.execute()
        return AttributesResource(ApplicationId=app, AttributeType=attribute_type, Attributes=removed)


def _uid(ep: EndpointResponse | None) -> str:
    return ep.User.UserId or "" if ep is not None and ep.User is not None else ""


def _channel(ep: EndpointResponse | None) -> str | None:
    return ep.ChannelType if ep is not None else None
