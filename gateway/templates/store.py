"""Message templates in Redis, with Pinpoint's versions, active version, tags and DefaultSubstitutions.

Templates are account-wide in Pinpoint (not per application), so their keys do not use an application's hash tag;
each template has its own (`{TYPE:name}`) so its keys share a Redis Cluster slot:

    gw:tpl:{TYPE:name}:meta   HASH  latest → int, active → int, created → ISO date of version 1
    gw:tpl:{TYPE:name}:v      HASH  version → JSON {"request": <XxxTemplateRequest>, "created", "modified", "rev"}
    gw:tpl:index              ZSET  (score 0) members "name\\x00TYPE", for ListTemplates by prefix

Semantics (Pinpoint API reference, templates-template-name-* and the `version` parameter's documentation):
- create → version "1", which is active; creating an existing name/type is an error;
- update with CreateNewVersion=true → a new version (one past the highest number ever given); the active version
  does not change; giving a `Version` too is refused ("If you specify a value of true for this parameter, don't
  specify a value for the version parameter. Otherwise, an error will occur.");
- update without it overwrites the latest existing version; a `Version`, if given, "must match the identifier for
  the latest existing version of the template" (an optimistic-concurrency check), so any other is refused;
- UpdateTemplateActiveVersion makes a version active, `latest` naming the latest existing one; get without a
  version returns the active one;
- delete with a version deletes that version (not the active one while others exist); without, all versions.

Every text part is compiled when saved, so a bad template (syntax, unknown helper) is refused at save time with
line and column. `program()` returns compiled programs cached per (name, type, version, part); entries are
revalidated against Redis at most once per `ttl` seconds (loop clock), so an overwrite made by another process is
seen within `ttl`; writes through this store invalidate its own cache at once.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gateway import models
from gateway.campaigns.inapp import content_problem
from gateway.errors import InvalidRequest, NotFound
from gateway.redisconn import text as _text

from .errors import TemplateError
from .program import Program, compile
from .variables import parse_default_substitutions

TemplateRequest = (
    models.EmailTemplateRequest
    | models.SMSTemplateRequest
    | models.PushNotificationTemplateRequest
    | models.VoiceTemplateRequest
    | models.InAppTemplateRequest
)
TemplateResponseT = (
    models.EmailTemplateResponse
    | models.SMSTemplateResponse
    | models.PushNotificationTemplateResponse
    | models.VoiceTemplateResponse
    | models.InAppTemplateResponse
)

TYPES: Final[dict[str, tuple[type[Any], type[Any]]]] = {
    "EMAIL": (models.EmailTemplateRequest, models.EmailTemplateResponse),
    "SMS": (models.SMSTemplateRequest, models.SMSTemplateResponse),
    "PUSH": (models.PushNotificationTemplateRequest, models.PushNotificationTemplateResponse),
    "VOICE": (models.VoiceTemplateRequest, models.VoiceTemplateResponse),
    "INAPP": (models.InAppTemplateRequest, models.InAppTemplateResponse),
}

#: Pinpoint's size quotas per part (characters).
_QUOTA: Final = {"EMAIL": 600_000, "SMS": 1_600, "VOICE": 10_000, "PUSH": 4_000, "INAPP": 200_000}
_PUSH_PLATFORMS: Final = ("ADM", "APNS", "Baidu", "Default", "GCM")
_PUSH_FIELDS: Final = ("Title", "Body", "Url", "ImageUrl", "ImageIconUrl", "SmallImageIconUrl", "MediaUrl", "Sound",
                       "RawContent")
_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
INDEX_KEY: Final = "gw:tpl:index"
#: The TemplateActiveVersionRequest.Version that names the latest existing version (Pinpoint's documented value).
LATEST: Final = "latest"
_T = TypeVar("_T")


def meta_key(name: str, type_: str) -> str:
    return "gw:tpl:{" + type_ + ":" + name + "}:meta"


def versions_key(name: str, type_: str) -> str:
    return "gw:tpl:{" + type_ + ":" + name + "}:v"


class TemplateNotFound(TemplateError, NotFound):
    """No template (or no such version) with that name and type."""


class TemplateExists(TemplateError, InvalidRequest):
    """Create was called for a name and type that already exist.

    An InvalidRequest, not a Conflict: botocore's model lists only BadRequest, Forbidden, MethodNotAllowed,
    TooManyRequests and InternalServerError for Create*Template, and the Pinpoint API reference documents no 409
    for it."""


class TemplateVersionError(TemplateError, InvalidRequest):
    """A version argument the operation refuses: not a version number, not the latest existing version on an
    update, or given together with create_new_version. Its message names no request shape: the caller knows which
    member carried the version."""


class InvalidTemplate(TemplateError, InvalidRequest):
    """The store refuses a template request: a part that does not compile, a quota, DefaultSubstitutions, the
    name, or deleting the active version while others exist.

    Its message names the request shape as the API's other validation errors do, `Invalid SMSTemplateRequest:
    <why>`, and for a part that does not compile the part as a member path, `Invalid
    SMSTemplateRequest.Body: line 2, column 11: <why>`; `reason` ("Body: <why>"), `line` and `column` are the
    compiler's, as on any TemplateError."""

    def __init__(self, type_: str, reason: str, line: int = 0, column: int = 0) -> None:
        super().__init__(reason, line, column)
        shape = request_shape(type_)
        part, sep, why = reason.partition(": ")
        if line and sep and " " not in part:
            message = f"Invalid {shape}.{part}: line {line}, column {column}: {why}"
        else:
            message = f"Invalid {shape}: {self}"
        self.args = (message,)  # str(self): the message above, not the compiler's "line L, column C: reason"


def request_shape(type_: str) -> str:
    """The name of the request shape of a template type ("SMS" -> "SMSTemplateRequest"), as messages name it."""
    return TYPES[type_][0].__name__ if type_ in TYPES else "TemplateRequest"


def version_number(version: str) -> int:
    """The version number a `Version` string names; TemplateVersionError unless it is a positive integer."""
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise TemplateVersionError(f"template version must be a positive integer, got {version!r:.40}") from None
    if number < 1:
        raise TemplateVersionError(f"template version must be a positive integer, got {version!r:.40}")
    return number


def update_target(
    what: str, existing: Collection[int], highest: int, *, create_new_version: bool, version: str | None
) -> int:
    """The version an Update*Template writes, by Pinpoint's rules: a new one (`highest` + 1) with
    create_new_version, which may not name a `version`; else the latest existing version, which a `version`, if
    given, must name. `existing` is the template's version numbers, `highest` the highest number ever given (a new
    version after a delete continues from it). `what` names the template in messages."""
    if create_new_version:
        if version is not None:
            raise TemplateVersionError(
                "CreateNewVersion is true, so Version must not be given: a new version gets the next identifier"
            )
        return highest + 1
    if not existing:
        raise TemplateNotFound(f"{what} does not exist")
    latest = max(existing)
    if version is None:
        return latest
    number = version_number(version)
    if number not in existing:
        raise TemplateNotFound(f"{what} has no version {number}")
    if number != latest:
        raise TemplateVersionError(
            f"Version {number} is not the latest version of {what} ({latest}): an update overwrites only the latest "
            "version; use CreateNewVersion to add a version"
        )
    return number


def active_target(what: str, existing: Collection[int], version: str) -> int:
    """The version UpdateTemplateActiveVersion makes active: `latest` is the latest existing version, any other
    value must be the number of an existing version."""
    if not existing:
        raise TemplateNotFound(f"{what} does not exist")
    if version == LATEST:
        return max(existing)
    number = version_number(version)
    if number not in existing:
        raise TemplateNotFound(f"{what} has no version {number}")
    return number


class _Record(msgspec.Struct):
    request: msgspec.Raw
    created: str
    modified: str
    rev: str = ""  # changes on every write: how cached programs notice an overwrite (timestamps can tie)


_enc = msgspec.json.Encoder()
_dec_record = msgspec.json.Decoder(_Record)


def text_parts(type_: str, request: Any) -> dict[str, str]:
    """The parts of a template that are Handlebars text, by part name (e.g. "HtmlPart", "APNS.Body")."""
    parts: dict[str, str] = {}
    if type_ == "EMAIL":
        for field in ("Subject", "HtmlPart", "TextPart"):
            value = getattr(request, field)
            if value is not None:
                parts[field] = value
        for header in request.Headers or ():
            if header.Name and header.Value is not None:
                parts["Headers." + header.Name] = header.Value
    elif type_ in ("SMS", "VOICE"):
        if request.Body is not None:
            parts["Body"] = request.Body
    elif type_ == "PUSH":
        for platform in _PUSH_PLATFORMS:
            tpl = getattr(request, platform)
            if tpl is None:
                continue
            for field in _PUSH_FIELDS:
                value = getattr(tpl, field, None)
                if value is not None:
                    parts[platform + "." + field] = value
    # In-app templates do not support variables (Pinpoint userguide): their text is sent as written.
    return parts


def _check_name(name: str, type_: str) -> None:
    if type_ not in TYPES:
        raise InvalidTemplate(type_, f"unknown template type {type_!r}; expected one of {', '.join(TYPES)}")
    if not _NAME.match(name):
        raise InvalidTemplate(type_, "template names are 1-128 characters of letters, digits, '_' and '-'")


def validate(type_: str, request: Any) -> dict[str, Program]:
    """Check quotas and DefaultSubstitutions, compile every part; returns the programs by part name. Raises
    InvalidTemplate naming the part (its compile error's line and column included)."""
    quota = _QUOTA[type_]
    programs: dict[str, Program] = {}
    for part, text in text_parts(type_, request).items():
        limit = 6_000 if part.startswith("ADM.") else quota
        if len(text) > limit:
            raise InvalidTemplate(type_, f"{part} is {len(text)} characters long; Pinpoint's limit for {type_} is {limit}")
        try:
            programs[part] = compile(text)
        except TemplateError as exc:
            raise InvalidTemplate(type_, f"{part}: {exc.reason}", exc.line, exc.column) from None
    if type_ == "INAPP" and isinstance(request, models.InAppTemplateRequest):
        problem = content_problem(request.Layout, request.Content, complete=False)  # as a campaign's InAppMessage
        if problem is not None:
            raise InvalidTemplate(type_, f"{problem[0]}: {problem[1]}")
    if type_ == "EMAIL" and request.Headers and len(request.Headers) > 15:
        raise InvalidTemplate(type_, "an email template has at most 15 headers")
    if type_ != "INAPP":
        try:
            parse_default_substitutions(request.DefaultSubstitutions)
        except ValueError as exc:
            raise InvalidTemplate(type_, str(exc)) from None
    return programs


class _Cached:
    __slots__ = ("checked", "defaults", "programs", "rev")

    def __init__(self, rev: str, programs: dict[str, Program], defaults: dict[str, Any], checked: float) -> None:
        self.rev = rev
        self.programs = programs
        self.defaults = defaults
        self.checked = checked


class TemplateStore:
    """Pinpoint's template operations on Redis, plus compiled-program access for the send path."""

    def __init__(self, redis: aioredis.Redis, *, ttl: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.ttl = ttl
        self.clock = clock  # wall clock for CreationDate/LastModifiedDate only
        self._cache: dict[tuple[str, str, int], _Cached] = {}
        self._active: dict[tuple[str, str], tuple[int, float]] = {}

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _forget(self, name: str, type_: str) -> None:
        self._active.pop((name, type_), None)
        for key in [k for k in self._cache if k[0] == name and k[1] == type_]:
            del self._cache[key]

    # -- writes -------------------------------------------------------------------------------------------------
    async def create(self, name: str, type_: str, request: TemplateRequest) -> str:
        """CreateXxxTemplate: version "1", active. Raises TemplateExists or InvalidTemplate (bad template)."""
        _check_name(name, type_)
        request = self._typed(type_, request)
        validate(type_, request)
        now = self._now()
        record = _enc.encode(_Record(msgspec.Raw(_enc.encode(request)), now, now, uuid.uuid4().hex))
        meta = meta_key(name, type_)
        exists = TemplateExists(f"template {name!r} of type {type_} already exists")
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(meta)  # create is atomic: meta and version 1 appear together or not at all
            if await pipe.exists(meta):
                raise exists
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(meta, mapping={"latest": 1, "active": 1, "created": now})
            pipe.hset(versions_key(name, type_), "1", record)
            try:
                await pipe.execute()
            except WatchError:
                raise exists from None
        await self.redis.zadd(INDEX_KEY, {name + "\x00" + type_: 0})
        self._forget(name, type_)
        return "1"

    async def update(
        self, name: str, type_: str, request: TemplateRequest, *, create_new_version: bool = False,
        version: str | None = None,
    ) -> str:
        """UpdateXxxTemplate; returns the version written (see `update_target` for which one, and what is refused)."""
        _check_name(name, type_)
        if version is not None:
            version_number(version)  # refuse a malformed version before compiling or reading anything
        request = self._typed(type_, request)
        validate(type_, request)
        now = self._now()
        encoded = msgspec.Raw(_enc.encode(request))
        what = f"template {name!r} of type {type_}"

        async def write(pipe: Any, meta: dict[str, str]) -> str:
            existing = await self._numbers(name, type_)
            target = update_target(what, existing, int(meta["latest"]), create_new_version=create_new_version,
                                   version=version)
            if create_new_version:
                created = now
            else:
                old = await self.redis.hget(versions_key(name, type_), str(target))
                if old is None:
                    raise TemplateNotFound(f"{what} has no version {target}")
                created = _dec_record.decode(old).created
            pipe.multi()
            if create_new_version:
                pipe.hset(meta_key(name, type_), "latest", target)
            pipe.hset(versions_key(name, type_), str(target),
                      _enc.encode(_Record(encoded, created, now, uuid.uuid4().hex)))
            return str(target)

        return await self._guarded(name, type_, write)

    async def set_active_version(self, name: str, type_: str, version: str) -> str:
        """UpdateTemplateActiveVersion: `version` is a version number or `latest`; returns the version made active."""
        _check_name(name, type_)
        if version != LATEST:
            version_number(version)  # refuse a malformed version before reading anything
        what = f"template {name!r} of type {type_}"

        async def write(pipe: Any, meta: dict[str, str]) -> str:
            number = active_target(what, await self._numbers(name, type_), version)
            pipe.multi()
            pipe.hset(meta_key(name, type_), "active", number)
            return str(number)

        return await self._guarded(name, type_, write)

    async def delete(self, name: str, type_: str, version: str | None = None) -> None:
        """DeleteXxxTemplate: one version, or (without `version`) the whole template."""
        _check_name(name, type_)
        if version is None:
            await self._meta(name, type_)
            await self.redis.delete(meta_key(name, type_), versions_key(name, type_))
            await self.redis.zrem(INDEX_KEY, name + "\x00" + type_)
            self._forget(name, type_)
            return

        async def write(pipe: Any, meta: dict[str, str]) -> bool:
            number = version_number(version)
            count = await self.redis.hlen(versions_key(name, type_))
            if number == int(meta["active"]) and count > 1:
                raise InvalidTemplate(type_, f"version {number} is the active version of {name!r}; make another "
                                      "version active before deleting it")
            if not await self.redis.hexists(versions_key(name, type_), str(number)):
                raise TemplateNotFound(f"template {name!r} of type {type_} has no version {number}")
            pipe.multi()
            pipe.hdel(versions_key(name, type_), str(number))
            if count == 1:
                pipe.delete(meta_key(name, type_))
            return count == 1

        if await self._guarded(name, type_, write):
            await self.redis.zrem(INDEX_KEY, name + "\x00" + type_)

    async def _guarded(self, name: str, type_: str, write: Callable[[Any, dict[str, str]], Awaitable[_T]]) -> _T:
        """Run `write(pipe, meta)` as one transaction on the template's keys, WATCHed from before its meta is read:
        `write` does its checks (reads through `self.redis`), calls `pipe.multi()` and queues its writes. If another
        client changed the template meanwhile, all is re-read and re-checked, so a racing delete or update never
        leaves half a template (a meta hash without `active` or versions without meta would wedge the name)."""
        keys = (meta_key(name, type_), versions_key(name, type_))
        try:
            while True:
                async with self.redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(*keys)
                    result = await write(pipe, await self._meta(name, type_))
                    try:
                        await pipe.execute()
                    except WatchError:
                        continue
                    return result
        finally:
            self._forget(name, type_)

    # -- reads --------------------------------------------------------------------------------------------------
    async def get(self, name: str, type_: str, version: str | None = None) -> TemplateResponseT:
        """GetXxxTemplate: the Pinpoint response shape of a version (the active one by default)."""
        _check_name(name, type_)
        meta = await self._meta(name, type_)
        number = version_number(version) if version is not None else int(meta["active"])
        raw = await self.redis.hget(versions_key(name, type_), str(number))
        if raw is None:
            raise TemplateNotFound(f"template {name!r} of type {type_} has no version {number}")
        return self._response(name, type_, number, _dec_record.decode(raw))

    async def list_versions(
        self, name: str, type_: str, *, page_size: int = 50, next_token: str | None = None
    ) -> models.TemplateVersionsResponse:
        """ListTemplateVersions, oldest first; NextToken is the next version number."""
        _check_name(name, type_)
        await self._meta(name, type_)
        raw = {_text(k): v for k, v in (await self.redis.hgetall(versions_key(name, type_))).items()}
        start = int(next_token) if next_token else 0
        numbers = sorted(n for n in (int(k) for k in raw) if n >= start)
        page = numbers[:page_size]
        items = []
        for n in page:
            rec = _dec_record.decode(raw[str(n)])
            req = msgspec.json.decode(rec.request)
            items.append(models.TemplateVersionResponse(
                CreationDate=rec.created, LastModifiedDate=rec.modified, TemplateName=name, TemplateType=type_,
                Version=str(n), DefaultSubstitutions=req.get("DefaultSubstitutions"),
                TemplateDescription=req.get("TemplateDescription"),
            ))
        token = str(numbers[page_size]) if len(numbers) > page_size else None
        return models.TemplateVersionsResponse(Item=items, NextToken=token)

    async def list_templates(
        self, *, prefix: str | None = None, template_type: str | None = None, page_size: int = 50,
        next_token: str | None = None,
    ) -> models.TemplatesResponse:
        """ListTemplates: the active version of each template, by name; NextToken continues after a name."""
        lo = "(" + next_token if next_token else ("[" + prefix if prefix else "-")
        hi = "[" + prefix + "\xff" if prefix else "+"
        items: list[models.TemplateResponse] = []
        token: str | None = None
        while len(items) < page_size:
            members = await self.redis.zrangebylex(INDEX_KEY, lo, hi, start=0, num=page_size * 2)
            if not members:
                break
            for member in members:
                text = _text(member)
                lo = "(" + text
                name, _, type_ = text.partition("\x00")
                if template_type and type_ != template_type:
                    continue
                try:
                    resp = await self.get(name, type_)
                except TemplateNotFound:
                    continue
                items.append(models.TemplateResponse(
                    CreationDate=resp.CreationDate, LastModifiedDate=resp.LastModifiedDate, TemplateName=name,
                    TemplateType=resp.TemplateType, Version=resp.Version, tags=resp.tags,
                    TemplateDescription=resp.TemplateDescription,
                    DefaultSubstitutions=getattr(resp, "DefaultSubstitutions", None),
                ))
                if len(items) == page_size:
                    token = text
                    break
            if token is not None:
                break
        return models.TemplatesResponse(Item=items, NextToken=token)

    # -- the send path ------------------------------------------------------------------------------------------
    async def program(self, name: str, type_: str, version: str | None, part: str) -> Program:
        """The compiled program of one part ("HtmlPart", "Subject", "Body", "APNS.Title", …) of a version (the
        active one when `version` is None). Raises TemplateNotFound when the template, version or part is absent."""
        entry = await self._entry(name, type_, version)
        program = entry.programs.get(part)
        if program is None:
            raise TemplateNotFound(f"template {name!r} of type {type_} has no part {part!r}")
        return program

    async def defaults(self, name: str, type_: str, version: str | None) -> dict[str, Any]:
        """The version's DefaultSubstitutions as a dict (for build_context)."""
        return (await self._entry(name, type_, version)).defaults

    async def _entry(self, name: str, type_: str, version: str | None) -> _Cached:
        _check_name(name, type_)
        now = asyncio.get_running_loop().time()
        if version is None:
            active = self._active.get((name, type_))
            if active is None or now - active[1] > self.ttl:
                meta = await self._meta(name, type_)
                active = (int(meta["active"]), now)
                self._active[(name, type_)] = active
            number = active[0]
        else:
            number = version_number(version)
        key = (name, type_, number)
        entry = self._cache.get(key)
        if entry is not None and now - entry.checked <= self.ttl:
            return entry
        raw = await self.redis.hget(versions_key(name, type_), str(number))
        if raw is None:
            self._cache.pop(key, None)
            raise TemplateNotFound(f"template {name!r} of type {type_} has no version {number}")
        rec = _dec_record.decode(raw)
        if entry is not None and entry.rev == rec.rev:
            entry.checked = now
            return entry
        request = msgspec.json.decode(rec.request, type=TYPES[type_][0])
        programs = validate(type_, request)
        defaults = parse_default_substitutions(getattr(request, "DefaultSubstitutions", None))
        entry = _Cached(rec.rev, programs, defaults, now)
        self._cache[key] = entry
        return entry

    # -- helpers ------------------------------------------------------------------------------------------------
    async def _numbers(self, name: str, type_: str) -> set[int]:
        """The template's existing version numbers (read inside a `_guarded` write, so WATCHed)."""
        return {int(_text(k)) for k in await self.redis.hkeys(versions_key(name, type_))}

    async def _meta(self, name: str, type_: str) -> dict[str, str]:
        raw = await self.redis.hgetall(meta_key(name, type_))
        meta = {_text(k): _text(v) for k, v in raw.items()}
        if "active" not in meta:
            raise TemplateNotFound(f"template {name!r} of type {type_} does not exist")
        return meta

    @staticmethod
    def _typed(type_: str, request: Any) -> Any:
        cls = TYPES[type_][0]
        if isinstance(request, cls):
            return request
        if isinstance(request, dict):
            try:
                return msgspec.convert(request, cls)
            except msgspec.ValidationError as exc:
                raise InvalidTemplate(type_, f"invalid {cls.__name__}: {exc}") from None
        raise InvalidTemplate(type_, f"a {type_} template must be a {cls.__name__}, got {type(request).__name__}")

    @staticmethod
    def _response(name: str, type_: str, number: int, rec: _Record) -> TemplateResponseT:
        resp_cls = TYPES[type_][1]
        fields = msgspec.json.decode(rec.request)
        allowed = set(resp_cls.__struct_fields__)
        data = {k: v for k, v in fields.items() if k in allowed}
        data.update(CreationDate=rec.created, LastModifiedDate=rec.modified, TemplateName=name, TemplateType=type_,
                    Version=str(number))
        response: TemplateResponseT = msgspec.convert(data, resp_cls)
        return response
