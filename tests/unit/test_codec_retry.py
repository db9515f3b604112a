import random

import msgspec
import pytest

from gateway.config import RetryConfig
from gateway.errors import DecodeError
from gateway.stream import codec, retry

REQ = b'{"Addresses": {"a@b.co": {"ChannelType": "EMAIL"}}, "MessageConfiguration": {}}'


def test_decode_valid_entry_and_retry_fields_round_trip():
    e = codec.decode("1-0", {b"app": b"shop", b"request": REQ, b"idempotency_key": b"k", b"reply_to": b"gw:reply:r"})
    assert (e.app, e.kind, e.attempt, e.idempotency_key, e.reply_to, e.request_id) == (
        "shop", "messages", 1, "k", "gw:reply:r", "1-0")
    f = codec.retry_fields(e, REQ, ["a@b.co"], {"a@b.co": "m1"})
    again = codec.decode("9-0", {k.encode(): v for k, v in f.items()})
    assert (again.attempt, again.only, again.message_ids, again.request_id) == (2, ["a@b.co"], {"a@b.co": "m1"}, "1-0")


@pytest.mark.parametrize("fields,message", [
    ({b"request": REQ}, "missing field 'app'"),
    ({b"app": b"a b", b"request": REQ}, "field 'app'"),
    ({b"app": b"a"}, "missing field 'request'"),
    ({b"app": b"a", b"request": b"[1]"}, "not a valid MessageRequest"),
    ({b"app": b"a", b"request": REQ, b"idempotency_key": b""}, "idempotency_key"),
    ({b"app": b"a", b"request": REQ, b"attempt": b"x"}, "retry fields are corrupt"),
    ({b"app": b"a", b"kind": b"users", b"request": b'{"MessageConfiguration": {}, "Users": {}}'}, "1 to 100 Users"),
])
def test_decode_errors_say_what_is_wrong(fields, message):
    with pytest.raises(DecodeError, match=message):
        codec.decode("1-0", fields)


DEEP = (b'{"Addresses": {"a@b.co": {"ChannelType": "EMAIL"}}, "MessageConfiguration": {}, "Unknown": '
        + b"[" * 100_000 + b"]" * 100_000 + b"}")


@pytest.mark.parametrize("fields,message", [
    # a RecursionError from msgspec skipping an unknown member is a decode error, not a crash of the batch
    ({b"app": b"a", b"request": DEEP}, "nested too deeply"),
    ({b"app": b"a", b"request": DEEP.replace(b'"Unknown"', b'"Context": {"k": ') + b"}"}, "not a valid"),
    # reply_to is written and expired: only keys of the reply namespace
    ({b"app": b"a", b"request": REQ, b"reply_to": b"gw:{a}:suppressed"}, "field 'reply_to' must be a reply key"),
    ({b"app": b"a", b"request": REQ, b"reply_to": b"gateway:send"}, "field 'reply_to' must be a reply key"),
    ({b"app": b"a", b"request": REQ, b"reply_to": b"gw:reply:"}, "field 'reply_to' must be a reply key"),
    ({b"app": b"a", b"request": REQ, b"reply_to": b"gw:reply:{x}"}, "field 'reply_to' must be a reply key"),
    ({b"app": b"a", b"request": REQ, b"reply_to": b"gw:reply:" + b"a" * 129}, "field 'reply_to' must be a reply key"),
])
def test_hostile_entries_are_decode_errors(fields, message):
    with pytest.raises(DecodeError, match=message):
        codec.decode("1-0", fields)


def test_producers_cannot_name_a_reply_key_outside_the_namespace():
    from gateway.models import MessageRequest

    req = msgspec.json.decode(REQ, type=MessageRequest)
    with pytest.raises(DecodeError, match="reply_to"):
        codec.encode_request("a", req, reply_to="gw:{a}:suppressed")
    assert codec.encode_request("a", req, reply_to="gw:reply:abc")["reply_to"] == b"gw:reply:abc"


def test_too_many_recipients():
    req = msgspec.json.encode({"Addresses": {f"a{i}@b.co": {} for i in range(101)}, "MessageConfiguration": {}})
    with pytest.raises(DecodeError, match="limit is 100"):
        codec.decode("1-0", {b"app": b"a", b"request": req})


def test_backoff_grows_is_capped_and_honours_hints():
    cfg = RetryConfig(base_s=10, cap_s=100)
    rng = random.Random(1)
    delays = [retry.backoff_s(cfg, a, None, rng) for a in range(1, 8)]
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20
    assert all(50 <= d <= 100 for d in delays[4:])
    assert retry.backoff_s(cfg, 1, 60, rng) == 60
    assert retry.backoff_s(cfg, 1, 10_000, rng) == 100


def test_rejected_events_follow_each_family_s_naming():
    from gateway.channels.families import for_channel_type
    from gateway.config import RetryConfig
    from gateway.outcome import Refused, decide

    def rejected_event(channel_type: str, status: str) -> str:
        return decide(for_channel_type(channel_type), Refused(status, 400, ""), 1, RetryConfig()).event

    assert rejected_event("EMAIL", "PERMANENT_FAILURE") == "_email.rejected"
    assert rejected_event("SMS", "OPT_OUT") == "_SMS.OPTOUT"
    assert rejected_event("SMS", "DUPLICATE") == "_SMS.FAILURE"
    assert rejected_event("VOICE", "PERMANENT_FAILURE") == "_VOICE.FAILED"  # as the voice channel names failures
    assert rejected_event("APNS", "PERMANENT_FAILURE") == "_push.rejected"


async def test_a_producer_writes_into_the_lanes_a_worker_of_the_same_prefix_reads():
    """The lanes' keys are built once (StreamConfig.lanes): what a producer of prefix `p` writes, the dispatcher's
    transactional and default lanes of prefix `p` read."""
    from gateway.config import StreamConfig
    from gateway.producer import Producer

    class Recorder:
        def __init__(self):
            self.keys = []

        async def xadd(self, key, fields):
            self.keys.append(key)
            return b"1-0"

    redis = Recorder()
    producer = Producer(redis, prefix="{tenant}")
    sms = {"Addresses": {"+14155550100": {"ChannelType": "SMS"}}, "MessageConfiguration": {"SMSMessage": {}}}
    await producer.send_messages("a", {**sms, "MessageConfiguration": {"SMSMessage": {"MessageType": "TRANSACTIONAL"}}})
    await producer.send_messages("a", sms)
    transactional, default = StreamConfig(prefix="{tenant}").lanes
    assert redis.keys == [transactional.send_key, default.send_key] == ["{tenant}:send:transactional", "{tenant}:send"]
