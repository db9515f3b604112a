"""AWS Signature Version 4 verification, sans I/O.

The canonical request is rebuilt exactly as botocore's `SigV4Auth` builds it for a non-S3 service:
- canonical URI: the raw (already percent-encoded) path with dot segments removed, percent-encoded once more
  with `/` and `~` safe (so an ARN's `%2F` becomes `%252F`, as botocore signs it). Since the signature then
  covers a path other than the one sent, the server refuses dot segments before verifying
  (`gateway.api.routing.check_path`);
- canonical query: `key=value` pairs, each URI-encoded (RFC 3986 unreserved characters kept), sorted;
- canonical headers: the headers named in SignedHeaders, lower-cased, values with runs of whitespace folded,
  several values of one header joined by `,`;
- payload hash: SHA-256 of the body (an `x-amz-content-sha256` header must equal it; UNSIGNED-PAYLOAD is refused).

The credential scope may name any region; its service must be `mobiletargeting` (Pinpoint's signing name).
Signatures compare in constant time, and `X-Amz-Date` must be within 5 minutes of the server's clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote, unquote

from multidict import MultiMapping

from gateway.api.errors import Forbidden

SERVICE = "mobiletargeting"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 300.0
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


Headers = MultiMapping[str]  # case-insensitive in practice: aiohttp's CIMultiDictProxy, multidict's CIMultiDict


def _amz_date_seconds(value: str) -> float | None:
    """Seconds since the epoch of `YYYYMMDDTHHMMSSZ`, or None (a hand parse: strptime costs ~20 us a request)."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not (value[:8] + value[9:15]).isdigit():
        return None
    try:
        when = dt.datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=dt.UTC,
        )
    except ValueError:
        return None
    return when.timestamp()


def remove_dot_segments(path: str) -> str:
    """botocore's `normalize_url_path`: drop `.`, resolve `..`, collapse empty segments, keep edge slashes."""
    if not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def canonical_uri(raw_path: str) -> str:
    return quote(remove_dot_segments(raw_path), safe="/~")


def canonical_query(raw_query: str) -> str:
    """Sorted `k=v` pairs, each re-encoded canonically (a client's own encoding choices do not matter)."""
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(
    method: str, raw_path: str, raw_query: str, headers: Headers, signed: list[str], payload_hash: str
) -> str:
    lines = [method.upper(), canonical_uri(raw_path), canonical_query(raw_query)]
    for name in signed:
        values = headers.getall(name, [])
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}")
    return "\n".join([*lines, "", ";".join(signed), payload_hash])


class _Authorization:
    __slots__ = ("access_key", "date", "region", "service", "signature", "signed_headers", "terminator")

    def __init__(self, header: str) -> None:
        algorithm, _, rest = header.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise Forbidden(f"Unsupported authorization type {algorithm!r}; only {ALGORITHM} is accepted")
        fields: dict[str, str] = {}
        for item in rest.split(","):
            key, sep, value = item.strip().partition("=")
            if sep:
                fields[key] = value
        missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
        if missing:
            raise Forbidden(f"Authorization header requires {', '.join(missing)}")
        scope = fields["Credential"].split("/")
        if len(scope) != 5:
            raise Forbidden("Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")
        self.access_key, self.date, self.region, self.service, self.terminator = scope
        self.signed_headers = fields["SignedHeaders"].split(";")
        self.signature = fields["Signature"]


class SigV4Verifier:
    """Verifies requests signed with any of `keys` (access key id -> secret access key).

    `clock` returns wall-clock seconds since the epoch (signatures carry absolute times); tests pass their own.
    """

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        service: str = SERVICE,
        max_skew_s: float = MAX_SKEW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = dict(keys)
        self.service = service
        self.max_skew_s = max_skew_s
        self._clock = clock
        self._signing_keys: dict[tuple[str, str, str], bytes] = {}

    def secret_of(self, access_key: str) -> str | None:
        """The secret access key of `access_key`, or None when it is not configured (the dashboard's login checks
        against the same keys the API verifies signatures with)."""
        return self._keys.get(access_key)

    def _signing_key(self, access_key: str, secret: str, date: str, region: str) -> bytes:
        cache_key = (access_key, date, region)
        key = self._signing_keys.get(cache_key)
        if key is None:
            k = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
            k = hmac.digest(k, region.encode(), "sha256")
            k = hmac.digest(k, self.service.encode(), "sha256")
            key = hmac.digest(k, b"aws4_request", "sha256")
            if len(self._signing_keys) >= 1024:  # one entry per key, day and region: bounded anyway
                self._signing_keys.clear()
            self._signing_keys[cache_key] = key
        return key

    def verify(self, method: str, raw_path: str, raw_query: str, headers: Headers, body: bytes) -> str:
        """The access key id that signed the request; raises Forbidden (403, Pinpoint's shape) otherwise."""
        header = headers.get("Authorization")
        if not header:
            raise Forbidden("Missing Authentication Token: requests must be signed with AWS Signature Version 4")
        auth = _Authorization(header)
        secret = self._keys.get(auth.access_key)
        if secret is None:
            raise Forbidden(
                f"The security token included in the request is invalid: unknown access key {auth.access_key!r}"
            )
        if auth.service != self.service or auth.terminator != "aws4_request":
            raise Forbidden(f"Credential should be scoped to correct service: '{self.service}'")
        signed = auth.signed_headers
        if "host" not in signed or "x-amz-date" not in signed:
            raise Forbidden("SignedHeaders must include host and x-amz-date")
        if signed != sorted(signed) or any(h != h.lower() for h in signed):
            raise Forbidden("SignedHeaders must be lower-case and sorted")
        amz_date = headers.get("X-Amz-Date")
        if not amz_date:
            raise Forbidden("Missing X-Amz-Date header")
        when = _amz_date_seconds(amz_date)
        if when is None:
            raise Forbidden(f"X-Amz-Date {amz_date[:40]!r} is not in the form YYYYMMDDTHHMMSSZ")
        if amz_date[:8] != auth.date:
            raise Forbidden(f"Credential date {auth.date} does not match X-Amz-Date {amz_date}")
        skew = when - self._clock()
        if abs(skew) > self.max_skew_s:
            raise Forbidden(
                f"Signature expired: X-Amz-Date {amz_date} is {abs(skew):.0f}s from the server's time "
                f"(allowed: {self.max_skew_s:.0f}s)"
            )
        payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        declared = headers.get("X-Amz-Content-SHA256")
        if declared is not None and declared != payload_hash:
            raise Forbidden("X-Amz-Content-SHA256 does not match the SHA-256 of the body")
        creq = canonical_request(method, raw_path, raw_query, headers, signed, payload_hash)
        scope = f"{auth.date}/{auth.region}/{auth.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
        key = self._signing_key(auth.access_key, secret, auth.date, auth.region)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
            raise Forbidden(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method."
            )
        return auth.access_key
