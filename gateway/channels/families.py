"""Event names of every Pinpoint channel family, by ChannelType.

They are data for :func:`gateway.outcome.decide`, known even for a ChannelType no channel is configured for (its
recipients are still refused with an event). Names are Pinpoint's where it has them (`_email.*`, `_SMS.*`); the
families it does not name follow the same scheme (`_push.*`, `_VOICE.*`, `_custom.*`, `_inapp.*`).
"""

from __future__ import annotations

from gateway.channels.base import EventNames

EMAIL = EventNames(prefix="_email", send="_email.send", bounce="_email.hardbounce", transient="_email.softbounce",
                   throttled="_email.softbounce", unknown="_email.unknown", failure="_email.rejected",
                   unregistered="_email.hardbounce", complaint="_email.complaint", suppress_bounces=True)
# Every SMS failure is _SMS.FAILURE in Pinpoint, but an opt-out has its own event.
SMS = EventNames(prefix="_SMS", rejected="_SMS.FAILURE", opt_out="_SMS.OPTOUT", failure="_SMS.FAILURE")
VOICE = EventNames(prefix="_VOICE", rejected="_VOICE.FAILED", failure="_VOICE.FAILED")
PUSH = EventNames(prefix="_push", send="_push.send", throttled="_push.throttled", unregistered="_push.unregistered")
CUSTOM = EventNames(prefix="_custom")
IN_APP = EventNames(prefix="_inapp")
UNKNOWN = EventNames(prefix="_message")  # a ChannelType that is missing or not Pinpoint's

BY_CHANNEL_TYPE: dict[str, EventNames] = {
    "EMAIL": EMAIL,
    "SMS": SMS,
    "VOICE": VOICE,
    **dict.fromkeys(("PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU"), PUSH),
    "CUSTOM": CUSTOM,
    "IN_APP": IN_APP,
}


def for_channel_type(channel_type: str) -> EventNames:
    """The event names of `channel_type`'s family (UNKNOWN's for a type that is not Pinpoint's)."""
    return BY_CHANNEL_TYPE.get(channel_type, UNKNOWN)
