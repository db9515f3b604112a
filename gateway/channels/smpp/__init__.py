"""SMS over SMPP 3.4: a sans-I/O PDU codec (pdu), receipt parsing (dlr) and Redis correlation (correlate), one
connection as an asyncio Protocol (session), MO handling (inbound), and the channel with several binds (channel).

The engine calls :func:`create` with the channel's config and :func:`compose_sms` to build each message's content.
"""

from gateway.channels.smpp.channel import SmppChannel, create
from gateway.channels.smpp.dlr import ReceiptEvent
from gateway.channels.smpp.inbound import InboundSms
from gateway.channels.sms_content import SmsContent, compose_sms

__all__ = ["InboundSms", "ReceiptEvent", "SmppChannel", "SmsContent", "compose_sms", "create"]
