"""Pinpoint's rules for a Create/UpdateRecommenderConfiguration body, as pure functions.

Every rule is Pinpoint's documented one (the CreateRecommenderConfiguration shape's member documentation), except
where Gateway's providers differ from AWS's, said at each rule:
- RecommendationProviderUri: Pinpoint takes only an Amazon Personalize campaign ARN; Gateway takes that, an
  https:// URL of a model service (checked by the SSRF guard, gateway/channels/urlguard.py) or `gateway:builtin`
  (the built-in recommender, gateway/recommenders/builtin.py);
- RecommendationTransformerUri: Pinpoint takes an AWS Lambda function name or ARN; Gateway runs no Lambda
  functions, so it takes an https:// URL and refuses a Lambda form with a message saying so;
- RecommendationProviderRoleArn: required as in Pinpoint and checked to be an IAM role ARN; only the Personalize
  provider would use it (Gateway's https and built-in providers ignore it).

A refusal is a `RecommenderValidationError` (400 BadRequestException) whose message names the member as
`<Shape>.<Member>`.
"""

from __future__ import annotations

import re
from typing import Final

from gateway import models
from gateway.channels import urlguard
from gateway.errors import InvalidRequest

BUILTIN: Final = "gateway:builtin"
ID_TYPES: Final = ("PINPOINT_ENDPOINT_ID", "PINPOINT_USER_ID")
DEFAULT_ID_TYPE: Final = "PINPOINT_ENDPOINT_ID"
DEFAULT_PER_MESSAGE: Final = 5
MAX_PER_MESSAGE: Final = 5
MAX_ATTRIBUTES: Final = 10

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,127}\Z")
# Pinpoint's documentation lists "_ ; () ," and a hyphen that is U+2010; the ASCII hyphen is accepted as well.
_DESCRIPTION: Final = re.compile(r"[A-Za-z0-9 _;(),\u2010-]{0,128}\Z")
_DISPLAY_NAME: Final = re.compile(r"[A-Za-z0-9 _-]{1,25}\Z")
_ATTRIBUTE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,49}\Z")
_ATTRIBUTE_DISPLAY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,24}\Z")
_ROLE_ARN: Final = re.compile(r"arn:aws(?:-[a-z]+)*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}\Z")
_PERSONALIZE: Final = re.compile(
    r"arn:aws(?:-[a-z]+)*:personalize:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:campaign/[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z"
)
_LAMBDA: Final = re.compile(r"(?:arn:[^:]*:lambda:|[A-Za-z0-9_-]+(?::[A-Za-z0-9$_-]+)?\Z)")

RecommenderRequest = models.CreateRecommenderConfiguration | models.UpdateRecommenderConfiguration


class RecommenderValidationError(InvalidRequest):
    """A recommender configuration member Gateway refuses; the message names it."""


def provider_kind(uri: str) -> str:
    """Which provider a valid RecommendationProviderUri names: "personalize", "https" or "builtin"."""
    if uri == BUILTIN:
        return "builtin"
    return "personalize" if uri.startswith("arn:") else "https"


def _bad(shape: str, member: str, why: str) -> RecommenderValidationError:
    return RecommenderValidationError(f"{shape}.{member} {why}")


def _check_https(shape: str, member: str, uri: str, allow: tuple[urlguard.IPNetwork, ...]) -> None:
    try:
        urlguard.check_url(uri, allow=allow)
    except urlguard.BlockedAddress as exc:
        raise _bad(shape, member, f"refused: {exc}") from None


def check_provider_uri(shape: str, uri: str, allow: tuple[urlguard.IPNetwork, ...]) -> None:
    """An Amazon Personalize campaign ARN, an https:// model-service URL, or `gateway:builtin`."""
    member = "RecommendationProviderUri"
    if not uri:
        raise _bad(shape, member, "is required")
    if uri == BUILTIN:
        return
    if uri.startswith("arn:"):
        if not _PERSONALIZE.match(uri):
            raise _bad(shape, member, "must be an Amazon Personalize campaign ARN "
                                      f"(arn:aws:personalize:REGION:ACCOUNT:campaign/NAME), got {uri[:120]!r}")
        return
    if not uri.startswith("https://"):
        raise _bad(shape, member, f"must be an Amazon Personalize campaign ARN, an https:// model-service URL or "
                                  f"{BUILTIN!r}, got {uri[:120]!r}")
    _check_https(shape, member, uri, allow)


def check_transformer_uri(shape: str, uri: str, allow: tuple[urlguard.IPNetwork, ...]) -> None:
    """An https:// URL; a Lambda function name or ARN is refused (Gateway runs no Lambda functions)."""
    member = "RecommendationTransformerUri"
    if "://" not in uri and _LAMBDA.match(uri):
        raise _bad(shape, member, f"names an AWS Lambda function ({uri[:120]!r}): Lambda is not available here; "
                                  "use an https transformer (an https:// URL)")
    if not uri.startswith("https://"):
        raise _bad(shape, member, f"must be an https:// URL, got {uri[:120]!r}")
    _check_https(shape, member, uri, allow)


def check_attributes(shape: str, attributes: dict[str, str]) -> None:
    """1-10 entries; names start with a letter or number, up to 50 of letters, numbers, _ and -; display names
    start with a letter or number, up to 25 of letters, numbers, spaces, _ and -."""
    if not 1 <= len(attributes) <= MAX_ATTRIBUTES:
        raise _bad(shape, "Attributes", f"must hold 1 to {MAX_ATTRIBUTES} attributes, got {len(attributes)}")
    for name, display in attributes.items():
        if not _ATTRIBUTE_NAME.match(name):
            raise _bad(shape, "Attributes", f"name {name[:60]!r} must start with a letter or number and hold up to "
                                            "50 letters, numbers, underscores or hyphens")
        if not _ATTRIBUTE_DISPLAY.match(display):
            raise _bad(shape, f"Attributes.{name}", f"display name {display[:40]!r} must start with a letter or "
                                                   "number and hold up to 25 letters, numbers, spaces, underscores "
                                                   "or hyphens")


def normalize(
    shape: str, req: RecommenderRequest, allow: tuple[urlguard.IPNetwork, ...] = ()
) -> RecommenderRequest:
    """`req` checked member by member (RecommenderValidationError naming the first bad one) with Pinpoint's defaults
    filled in (RecommendationProviderIdType PINPOINT_ENDPOINT_ID, RecommendationsPerMessage 5). `allow` is the
    SSRF guard's allowlist for https URIs (the custom channel's, `campaigns.webhooks.allow_networks`)."""
    if req.Name is not None and not _NAME.match(req.Name):
        raise _bad(shape, "Name", "must start with a letter or number and hold up to 128 letters, numbers, spaces, "
                                  f"underscores or hyphens, got {req.Name[:140]!r}")
    if req.Description is not None and not _DESCRIPTION.match(req.Description):
        raise _bad(shape, "Description", "must hold up to 128 letters, numbers, spaces or _ ; ( ) , -")
    id_type = req.RecommendationProviderIdType or DEFAULT_ID_TYPE
    if id_type not in ID_TYPES:
        raise _bad(shape, "RecommendationProviderIdType", f"must be one of {', '.join(ID_TYPES)}, got {id_type[:40]!r}")
    per_message = DEFAULT_PER_MESSAGE if req.RecommendationsPerMessage is None else req.RecommendationsPerMessage
    if not 1 <= per_message <= MAX_PER_MESSAGE:
        raise _bad(shape, "RecommendationsPerMessage", f"must be from 1 to {MAX_PER_MESSAGE}, got {per_message}")
    if not _ROLE_ARN.match(req.RecommendationProviderRoleArn):
        raise _bad(shape, "RecommendationProviderRoleArn", "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), "
                                                           f"got {req.RecommendationProviderRoleArn[:120]!r}")
    check_provider_uri(shape, req.RecommendationProviderUri, allow)
    transformer = req.RecommendationTransformerUri
    if transformer is not None:
        check_transformer_uri(shape, transformer, allow)
        if not req.Attributes:
            raise _bad(shape, "Attributes", "is required with a RecommendationTransformerUri (the attributes the "
                                            "transformer fills)")
        check_attributes(shape, req.Attributes)
    elif req.Attributes is not None:
        raise _bad(shape, "Attributes", "goes only with a RecommendationTransformerUri, which is missing")
    display = req.RecommendationsDisplayName
    if display is not None and not _DISPLAY_NAME.match(display):
        raise _bad(shape, "RecommendationsDisplayName", "must hold 1 to 25 letters, numbers, spaces, underscores or "
                                                        f"hyphens, got {display[:40]!r}")
    if display is None and transformer is None:
        raise _bad(shape, "RecommendationsDisplayName", "is required when there is no RecommendationTransformerUri")
    return type(req)(
        Attributes=req.Attributes, Description=req.Description, Name=req.Name, RecommendationProviderIdType=id_type,
        RecommendationProviderRoleArn=req.RecommendationProviderRoleArn,
        RecommendationProviderUri=req.RecommendationProviderUri, RecommendationTransformerUri=transformer,
        RecommendationsDisplayName=display, RecommendationsPerMessage=per_message,
    )
