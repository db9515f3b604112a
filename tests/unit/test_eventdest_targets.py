"""The pure parts of event destinations: what a DestinationStreamArn names, how records are cut into calls."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.eventdest import targets


def test_aws_arns_give_kind_name_and_region() -> None:
    k = targets.parse("arn:aws:kinesis:eu-west-3:123456789012:stream/pinpoint")
    assert (k.kind, k.target, k.region, k.partition) == ("kinesis", "pinpoint", "eu-west-3", "aws")
    f = targets.parse("arn:aws-cn:firehose:cn-north-1:123456789012:deliverystream/ev.s_1")
    assert (f.kind, f.target, f.region, f.partition) == ("firehose", "ev.s_1", "cn-north-1", "aws-cn")
    assert targets.parse("https://h.example/x?y=1").kind == "webhook"
    assert targets.parse("redis:exports:{a}").target == "exports:{a}"


@pytest.mark.parametrize("spec", [
    "arn:aws:firehose:us-east-1:123456789012:stream/x",  # firehose names a deliverystream
    "arn:aws:kinesis:us-east-1:123456789012:deliverystream/x",
    "arn:aws:kinesis:useast1:123456789012:stream/x",
    "arn:aws:kinesis:us-east-1:12345678901:stream/x",
    "arn:aws:kinesis:us-east-1:123456789012:stream/" + "x" * 65,
    "arn:aws:sqs:us-east-1:123456789012:stream/x",
    "http://h.example/x", "https://h.example/a b", "redis:", "redis:a b", "redis:gateway:events", "",
])
def test_malformed_destinations_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        targets.parse(spec)


def test_only_aws_destinations_need_a_role() -> None:
    targets.check_role(targets.parse("redis:x"), "")
    with pytest.raises(ValueError):
        targets.check_role(targets.parse("arn:aws:kinesis:us-east-1:123456789012:stream/x"), "role")


def test_group_names_carry_the_app_and_change_with_the_destination() -> None:
    a = targets.group_name("app1", "redis:x")
    assert targets.group_app(a) == "app1" and a != targets.group_name("app1", "redis:y")
    assert targets.group_app("gateway") is None


@given(st.lists(st.integers(1, 300), max_size=60), st.integers(1, 7), st.integers(300, 1000))
def test_chunks_cover_in_order_within_limits(sizes: list[int], max_records: int, max_bytes: int) -> None:
    parts = targets.chunks(sizes, max_records, max_bytes)
    assert [i for p in parts for i in p] == list(range(len(sizes)))
    for p in parts:
        assert len(p) <= max_records and sum(sizes[i] for i in p) <= max_bytes


def test_failed_positions_and_backoff() -> None:
    assert targets.failed_positions([{"SequenceNumber": "1"}, {"ErrorCode": "Throttled"}, {"RecordId": "r"}]) == [1]
    delays = [0.0]
    for _ in range(6):
        delays.append(targets.next_delay(delays[-1], 0.5, 4.0))
    assert delays[1:] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert targets.webhook_body([b'{"a":1}', b"{}"]) == b'[{"a":1},{}]'


def test_pinpoint_does_not_stream_transactional_push_and_voice() -> None:
    assert not targets.streamed_by_pinpoint("_push.success", b'{"attributes":{"message_id":"m"}}')
    assert not targets.streamed_by_pinpoint("_VOICE.INITIATED", b'{"attributes":{}}')
    assert targets.streamed_by_pinpoint("_push.success", b'{"attributes":{"campaign_id":"c"}}')
    assert targets.streamed_by_pinpoint("_VOICE.FAILED", b'{"attributes":{"journey_id":"j"}}')
    assert targets.streamed_by_pinpoint("_email.send", b"not even json")
    assert targets.streamed_by_pinpoint("_SMS.SUCCESS", b'{"attributes":{}}')


def test_the_documented_configuration_is_valid() -> None:
    """docs/event-streams.md's [event_destinations] example parses into the config it describes."""
    import re
    import tomllib
    from pathlib import Path

    from gateway.config import from_dict

    text = (Path(__file__).resolve().parents[2] / "docs" / "event-streams.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    cfg = from_dict(tomllib.loads(block.group(1))).event_destinations
    assert cfg.batch_size == 500 and cfg.aws_pinpoint_scope and cfg.webhook.secret_env == "GATEWAY_WEBHOOK_SECRET"
