"""Applies tracking and unsubscribe to one composed email (called by the dispatcher after the composer).

For HTML email of an application with tracking on: links rewritten to `{public_url}/c/{token}` and the pixel
`{public_url}/o/{token}` added (gateway.tracking.rewrite). For every email: the unsubscribe URL
`{public_url}/u/{token}` replaces the `{{amazonSESUnsubscribeUrl}}` / `{{unsubscribeUrl}}` template variables, and
bulk email (sent by a campaign or a journey; direct SendMessages email is transactional, as Pinpoint's KPIs count
it) gets RFC 8058's List-Unsubscribe and List-Unsubscribe-Post headers unless the message brings its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from gateway.channels.base import Outbound
from gateway.channels.smtp.mime import EmailContent
from gateway.config import TrackingConfig
from gateway.tracking.rewrite import rewriter
from gateway.tracking.tokens import MessageSigner, Signer

#: Template variables that render the recipient's unsubscribe URL: SES's (what Pinpoint users' templates hold)
#: and a plain name.
UNSUBSCRIBE_VARIABLES = ("amazonSESUnsubscribeUrl", "unsubscribeUrl")
#: What those variables render to, replaced by the real URL once the message id is known. Letters and digits
#: only, so Handlebars' HTML escaping leaves it as it is.
PLACEHOLDER = "gwUnsubscribeUrl7c2e9d4f0b"
BULK_CONTEXT_KEYS = ("campaign_id", "journey_id")


def is_bulk(context: Mapping[str, str]) -> bool:
    """Bulk (marketing) email: sent by a campaign or a journey. Direct sends (SendMessages) are transactional."""
    return any(context.get(k) for k in BULK_CONTEXT_KEYS)


def list_unsubscribe_headers(url: str, mailto: str | None) -> tuple[tuple[str, str], ...]:
    """RFC 8058 one-click: the https URL (first) and a mailto, and the List-Unsubscribe-Post marker."""
    value = f"<{url}>" + (f", <mailto:{mailto}?subject=unsubscribe>" if mailto else "")
    return (("List-Unsubscribe", value), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))


class Tracker:
    """The per-process tracking state: config, signer, URL prefixes."""

    def __init__(self, cfg: TrackingConfig, keys: Mapping[str, bytes]) -> None:
        self.cfg = cfg
        self.signer = Signer(keys)
        base = cfg.public_url.rstrip("/")
        self.base = base
        self._open = base + "/o/"
        self._click = base + "/c/"
        self._unsub = base + "/u/"
        rw = rewriter(self.signer.kid, self._click if cfg.clicks else None, base + "/",
                      self._open if cfg.opens else None)
        # Links rewritten and the open pixel added, as configured (one pass, see gateway.tracking.rewrite): the
        # compiled rewrite's bound method itself, so the send path enters C with no Python frame in between.
        self.track_html: Callable[[str, MessageSigner], str] = rw.html
        # The same for a message whose signer is needed for nothing else (no unsubscribe URL): called as
        # `track_message(html, signer, app, message_id, endpoint_id)`, one C call that makes no signer.
        self.track_message: Callable[[str, Signer, str, str, str], str] = rw.message_html

    def tracks(self, app: str) -> bool:
        """Whether opens/clicks are tracked for `app` (the section's default unless `apps` overrides it)."""
        return self.cfg.apps.get(app, True)

    def add_variables(self, ctx: dict[str, Any]) -> None:
        """Make the unsubscribe variables render (to the placeholder) unless the request sets them itself."""
        for name in UNSUBSCRIBE_VARIABLES:
            ctx.setdefault(name, PLACEHOLDER)

    def unsubscribe_url(self, signer: MessageSigner, endpoint_id: str, address: str) -> str:
        # the address travels only when there is no endpoint to find it by
        return self._unsub + signer.unsubscribe("" if endpoint_id else address)

    def __call__(self, msg: Outbound[Any]) -> Outbound[Any]:
        """`msg` with tracking and unsubscribe applied, when it is an email (else `msg` itself)."""
        content = msg.content
        if not isinstance(content, EmailContent) or content.raw is not None:
            return msg
        html, text, headers, subject = content.html, content.text, content.headers, content.subject
        placeholder = ((html is not None and PLACEHOLDER in html) or (text is not None and PLACEHOLDER in text)
                       or PLACEHOLDER in subject)
        mode = self.cfg.unsubscribe_headers
        add_headers = (mode == "all" or (mode == "bulk" and is_bulk(msg.recipient.context))) and not any(
            name.lower() == "list-unsubscribe" for name, _ in headers)
        track = html is not None and self.tracks(msg.app) and (self.cfg.clicks or self.cfg.opens)
        if not (placeholder or add_headers or track):
            return msg
        eid = msg.recipient.endpoint_id or ""
        if html is not None and not (placeholder or add_headers):  # tracking alone: the usual transactional email
            html = self.track_message(html, self.signer, msg.app, msg.message_id, eid)
            return msg if html is content.html else msgspec.structs.replace(
                msg, content=msgspec.structs.replace(content, html=html))
        signer = self.signer.message(msg.app, msg.message_id, eid)  # one HMAC for all of this message's tokens
        unsub = self.unsubscribe_url(signer, eid, content.recipient) if placeholder or add_headers else ""
        if placeholder:
            html = html.replace(PLACEHOLDER, unsub) if html is not None else None
            text = text.replace(PLACEHOLDER, unsub) if text is not None else None
            subject = subject.replace(PLACEHOLDER, unsub)
        if add_headers:
            headers = headers + list_unsubscribe_headers(unsub, self.cfg.unsubscribe_mailto)
        if track and html is not None:
            html = self.track_html(html, signer)
        if html is content.html and text is content.text and headers is content.headers and subject is content.subject:
            return msg
        return msgspec.structs.replace(
            msg, content=msgspec.structs.replace(content, html=html, text=text, headers=headers, subject=subject))


def tracker_from_config(cfg: TrackingConfig | None, environ: Mapping[str, str] | None = None) -> Tracker | None:
    """The Tracker of a `[tracking]` section (None without one); ConfigError when its keys are missing."""
    if cfg is None:
        return None
    from gateway.tracking.tokens import keys_from_env
    return Tracker(cfg, keys_from_env(cfg.key_env, environ))
