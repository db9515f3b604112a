"""The email composer: Pinpoint's EmailMessage / template / DefaultMessage and per-address overrides → EmailContent.

Precedence follows Pinpoint: EmailMessage's SimpleEmail parts, then the email template's parts, then
EmailMessage.Body / DefaultMessage.Body as the text part. TitleOverride replaces the subject; BodyOverride
replaces the HTML part when there is one, else the text part. RawEmail is sent as given (not personalized).
"""

from __future__ import annotations

from gateway.channels import families
from gateway.channels.base import Family, Recipient, Render, Screen
from gateway.channels.smtp.mime import EmailContent, bare_address, check_header
from gateway.errors import ContentRejected
from gateway.models import DirectMessageConfiguration, EmailTemplateResponse

MAX_HEADERS = 15


def compose_email(
    config: DirectMessageConfiguration, template: EmailTemplateResponse | None, recipient: Recipient, render: Render
) -> EmailContent:
    """Build the email for one recipient. Raises ContentRejected for an address or header that cannot be sent."""
    em = config.EmailMessage
    to = bare_address(recipient.address)
    from_header = em.FromAddress if em and em.FromAddress else None
    sender = bare_address(from_header) if from_header else None
    reply_to = tuple(bare_address(a) for a in (em.ReplyToAddresses or ())) if em else ()
    if em is not None and em.RawEmail is not None and em.RawEmail.Data:
        return EmailContent(sender=sender, from_header=from_header, recipient=to, raw=em.RawEmail.Data)
    simple = em.SimpleEmail if em else None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    headers: list[tuple[str, str]] = []
    if template is not None:
        subject, html, text = template.Subject, template.HtmlPart, template.TextPart
        headers += [(h.Name or "", h.Value or "") for h in template.Headers or ()]
    if simple is not None:
        if simple.Subject is not None and simple.Subject.Data is not None:
            subject = simple.Subject.Data
        if simple.HtmlPart is not None and simple.HtmlPart.Data is not None:
            html = simple.HtmlPart.Data
        if simple.TextPart is not None and simple.TextPart.Data is not None:
            text = simple.TextPart.Data
        headers += [(h.Name or "", h.Value or "") for h in simple.Headers or ()]
    if html is None and text is None:
        body = (em.Body if em else None) or (config.DefaultMessage.Body if config.DefaultMessage else None)
        text = body
    if recipient.title_override is not None:
        subject = recipient.title_override
    if recipient.body_override is not None:
        if html is not None:
            html = recipient.body_override
        else:
            text = recipient.body_override
    if html is None and text is None:
        raise ContentRejected("the email has no body: set SimpleEmail parts, a template, Body or DefaultMessage", code=400)
    if len(headers) > MAX_HEADERS:
        raise ContentRejected(f"at most {MAX_HEADERS} headers are allowed, got {len(headers)}", code=400)
    rendered_headers: list[tuple[str, str]] = []
    for name, value in headers:
        if len(name) > 126 or len(value) > 870:
            raise ContentRejected(f"header {name[:40]!r} is too long (name ≤126, value ≤870 characters)", code=400)
        value = render(value) or ""
        check_header(name, value)
        rendered_headers.append((name, value))
    subject_text = render(subject) or ""
    check_header("Subject", subject_text)
    return EmailContent(
        sender=sender,
        from_header=from_header,
        recipient=to,
        subject=subject_text,
        text=render(text),
        html=render(html),
        reply_to=reply_to,
        headers=tuple(rendered_headers),
    )


#: The EMAIL family: EmailMessage / EmailTemplate, screened against the suppression list, hard bounces suppressed.
FAMILY: Family[EmailTemplateResponse, EmailContent] = Family(
    events=families.EMAIL, compose=compose_email, message_member="EmailMessage", default_member="DefaultMessage",
    template_member="EmailTemplate", template_type="EMAIL", template_class=EmailTemplateResponse,
    screen=Screen.SUPPRESSION)
