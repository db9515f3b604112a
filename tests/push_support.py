"""Helpers shared by the push tests: signing keys, a mocked clock, fakes for the runtime."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway import models
from gateway.channels.base import Outbound, Recipient, Runtime

TEAM = "TEAM000001"
KID = "KEY0000001"
BUNDLE = "com.example.app"
EMAIL = "push@example-project.iam.gserviceaccount.com"


def _pem(key: Any) -> tuple[str, str]:
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


@functools.cache
def ec_keys() -> tuple[str, str]:
    """(private PKCS#8 PEM = a .p8 file, public PEM) for APNs ES256."""
    return _pem(ec.generate_private_key(ec.SECP256R1()))


@functools.cache
def rsa_keys() -> tuple[str, str]:
    """(private PEM, public PEM) for a service account's RS256."""
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def service_json(project: str = "demo-project", token_uri: str | None = None) -> str:
    import json

    priv, _ = rsa_keys()
    return json.dumps({"type": "service_account", "project_id": project, "client_email": EMAIL,
                       "private_key": priv, "private_key_id": "abc123", "token_uri": token_uri})


class FakeClock:
    """A mocked clock: tests move `mono` and `wall` by hand."""

    def __init__(self, wall: float) -> None:
        self.mono = 1000.0
        self.wall_s = wall

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.wall_s

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall_s += seconds


class FakeEndpoints:
    """Records set_status calls (the endpoint store's method the push channels call)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def set_status(self, app: str, endpoint_id: str, status: str, *, reason: str | None = None,
                         since_ms: int | None = None) -> None:
        self.calls.append((app, endpoint_id, status))


def identity(text: str | None) -> str | None:
    return text


def outbound(content: Any, address: str, *, channel_type: str = "APNS", message_id: str = "m-1",
             endpoint_id: str | None = "ep-1", app: str = "app1") -> Outbound:
    r = Recipient(key=endpoint_id or address, address=address, channel_type=channel_type, endpoint_id=endpoint_id)
    return Outbound(message_id=message_id, app=app, recipient=r, content=content)


def apns_config(**fields: Any) -> models.DirectMessageConfiguration:
    return models.DirectMessageConfiguration(APNSMessage=models.APNSMessage(**fields))


#: Every integration test that builds a push channel runs on each HTTP/2 implementation.
HTTP2_IMPLS = ["native", "jh2", "h2"]

C = TypeVar("C")


class ChannelFactory(Generic[C]):
    """Builds channels for a test (`create(Config(**defaults, **overrides), Runtime(None, endpoints), ...)`) and
    closes every one it built in `aclose`."""

    def __init__(self, create: Callable[..., C], config: Callable[..., Any], **defaults: Any) -> None:
        self.create = create
        self.config = config
        self.defaults = defaults
        self.made: list[C] = []

    def __call__(self, clock: FakeClock | None = None, endpoints: Any = None, credentials: Any = None,
                 **cfg: Any) -> C:
        ch = self.create(self.config(**{**self.defaults, **cfg}), Runtime(None, endpoints), clock=clock,
                         credentials=credentials)
        self.made.append(ch)
        return ch

    async def aclose(self) -> None:
        for ch in self.made:
            await ch.aclose()  # type: ignore[attr-defined]
