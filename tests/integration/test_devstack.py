"""`gateway dev` and `gateway demo` as a user runs them: subprocesses on loopback, read through their output.

The dev stack is started once; locust runs headless against it with every user class of
benchmarks/locustfile.py (which reads the stack's state file: no environment variables), and every recipient
the requests asked for must have reached its sandbox, counted by the sandboxes themselves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import config as config_mod
from gateway.devstack import Files, Ports, load_state, render_config, state_path

ROOT = Path(__file__).resolve().parents[2]
USER_CLASSES = ["ApiSendUser", "ApiEndpointsUser", "StreamSendUser", "SmsUser", "PushUser"]


class Stack:
    def __init__(self, proc: subprocess.Popen[str], data_dir: Path, banner: str) -> None:
        self.proc = proc
        self.data_dir = data_dir
        self.banner = banner


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("devstack") / "data"
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "dev", "--data-dir", str(data_dir)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:  # blocks until the banner is printed (or the process exits: then the test fails)
        lines.append(line)
        if line.startswith("boto3:"):
            lines += [proc.stdout.readline() for _ in range(7)]
            break
    banner = "".join(lines)
    if "Gateway dev stack is up" not in banner:
        proc.kill()
        pytest.fail(f"gateway dev did not start:\n{banner}")
    yield Stack(proc, data_dir, banner)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_dev_prints_what_a_user_needs_and_writes_the_state(stack: Stack) -> None:
    state = load_state(stack.data_dir)
    for value in (state.api_url, state.access_key_id, state.secret_access_key, state.redis_url, state.app_id):
        assert value in stack.banner
    assert "locust -f" in stack.banner and 'boto3.client("pinpoint"' in stack.banner
    assert state.api_url.startswith("http://127.0.0.1:") and state.redis_url.startswith("redis://127.0.0.1:")
    # the secret is the configured one (the file mode keeps it to this user)
    assert (stack.data_dir / "api-secret").read_text().strip() == state.secret_access_key
    assert (stack.data_dir / "api-secret").stat().st_mode & 0o077 == 0


def test_boto3_reaches_every_channel_with_the_printed_key(stack: Stack) -> None:
    import boto3

    state = load_state(stack.data_dir)
    pp = boto3.client("pinpoint", endpoint_url=state.api_url, region_name=state.region,
                      aws_access_key_id=state.access_key_id, aws_secret_access_key=state.secret_access_key)
    result = pp.send_messages(ApplicationId=state.app_id, MessageRequest={
        "Addresses": {"ada@example.com": {"ChannelType": "EMAIL"}, "+14255550100": {"ChannelType": "SMS"},
                      "+14255550101": {"ChannelType": "VOICE"}, "ab" * 32: {"ChannelType": "APNS"},
                      "gone" + "ab" * 30: {"ChannelType": "APNS"}, "fcm-token-1": {"ChannelType": "GCM"}},
        "MessageConfiguration": {
            "EmailMessage": {"SimpleEmail": {"Subject": {"Data": "Hi"}, "TextPart": {"Data": "Hello"}}},
            "SMSMessage": {"Body": "Hello"}, "VoiceMessage": {"Body": "Hello", "OriginationNumber": "+14255550199"},
            "DefaultPushNotificationMessage": {"Title": "Hi", "Body": "Hello"}},
    })["MessageResponse"]["Result"]
    status = {addr: r["DeliveryStatus"] for addr, r in result.items()}
    assert status.pop("gone" + "ab" * 30) == "PERMANENT_FAILURE"  # a dead token, as the APNs sandbox scripts it
    assert set(status.values()) == {"SUCCESSFUL"}, result
    wrong = boto3.client("pinpoint", endpoint_url=state.api_url, region_name=state.region,
                         aws_access_key_id=state.access_key_id, aws_secret_access_key="not-the-secret")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        wrong.get_apps()
    assert info.value.response["Error"]["Code"] == "ForbiddenException"


def test_locust_every_user_class_with_no_environment_and_every_recipient_reaches_a_sandbox(
        stack: Stack, tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "BENCH_"))}
    env["GATEWAY_LOCUST_RESULT"] = str(result)
    run = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "locustfile.py"), "--headless",
         "-u", str(len(USER_CLASSES)), "-r", str(len(USER_CLASSES)), "-t", "4s", "--stop-timeout", "20",
         "--recipients", "20", "--gateway-dev-dir", str(stack.data_dir), "--only-summary", *USER_CLASSES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "Delivered to the sandboxes during the test" in out
    report = json.loads(result.read_text())
    assert report["failures"] == 0 and report["requests"] > 0
    names = set(report["by_name"])
    assert {"SendMessages", "SendUsersMessages", "UpdateEndpointsBatch", "GetEndpoint", "gateway:send",
            "SendMessages SMS", "SendMessages push"} <= names, names
    asked, confirmed, received = report["asked"], report["confirmed"], report["received"]
    assert set(asked) == {"email", "sms", "sms_receipts", "apns", "fcm"}  # sms_receipts: one per SMS
    for sink, n in asked.items():
        # every recipient of every answered request reached its sandbox, and nothing else did: a request the end
        # of the test cut off (at most one per user, of at most 20 recipients) may or may not have been delivered,
        # and several users send to one sink (email: SendMessages, SendUsersMessages and the stream)
        assert 0 < confirmed[sink] <= received[sink] <= n, (sink, report)
        assert n - confirmed[sink] <= 20 * len(USER_CLASSES), (sink, report)


def test_a_second_dev_on_the_same_data_dir_is_refused(stack: Stack) -> None:
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "dev", "--data-dir", str(stack.data_dir)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"already running (pid {stack.proc.pid})" in run.stderr
    assert load_state(stack.data_dir).pid == stack.proc.pid  # the running stack's state is untouched


def test_sigterm_stops_everything_and_removes_the_state(stack: Stack) -> None:
    state = load_state(stack.data_dir)
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(60) == 0
    assert not state_path(stack.data_dir).exists()
    for url in (state.api_url, state.redis_url, state.stats_url):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_the_dev_config_is_valid_for_every_worker(tmp_path: Path) -> None:
    ports = Ports(redis=6379, api=8080, smtp=2525, smsc=2775, voice=8089, apns=8443, fcm=8444, stats=8000)
    files = Files(api_secret=str(tmp_path / 's"ecret'), credentials_key="k", ca="ca.pem", server_cert="s.pem",
                  apns_key="a.p8", apns_public="a.pem", fcm_service_account="f.json", fcm_public="f.pem")
    teams = set()
    for worker in range(3):
        cfg = config_mod.from_dict(tomllib.loads(render_config(ports, files, key_id="AKIDX", worker=worker,
                                                               log_level="WARNING")))
        assert {type(c).__name__ for c in cfg.channels} == {
            "SmtpChannelConfig", "SmppChannelConfig", "VoiceChannelConfig", "ApnsChannelConfig", "FcmChannelConfig"}
        assert cfg.api.auth == "sigv4" and cfg.api.access_keys[0].secret_file == files.api_secret
        apns: Any = next(c for c in cfg.channels if type(c).__name__ == "ApnsChannelConfig")
        assert apns.ca_file == "ca.pem" and apns.production_url == "https://127.0.0.1:8443"
        teams.add(apns.team_id)
    assert len(teams) == 3  # APNs refuses a second provider token for one team within 20 minutes


def test_demo_shows_email_sms_with_receipts_and_push_with_dead_tokens() -> None:
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "demo", "--count", "200", "--sms", "300",
                          "--push", "300"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout.replace("\r", "\n")
    email, sms, push = out.split("\nEmail: ")[1], out.split("\nSMS: ")[1], out.split("\nPush: ")[1]
    email = email.split("\nSMS: ")[0]
    sms = sms.split("\nPush: ")[0]

    def line(part: str, label: str) -> int:
        (found,) = [x for x in part.splitlines() if x.strip().startswith(label)]
        return int(found.split()[-1].replace(",", ""))

    # email: address 7 hard-bounces, address 8 fails twice and is then delivered
    assert (line(email, "delivered (SUCCESSFUL)"), line(email, "failed PERMANENT_FAILURE")) == (199, 1)
    # SMS: 7 refused by the SMSC, 8 "queue full" once then accepted, 9 accepted with an undeliverable receipt
    assert (line(sms, "delivered (SUCCESSFUL)"), line(sms, "failed PERMANENT_FAILURE")) == (299, 1)
    assert (line(sms, "receipt DELIVERED"), line(sms, "receipt UNREACHABLE")) == (298, 1)
    # push: tokens 42, 142, 242 are dead (410 Unregistered)
    assert (line(push, "delivered (SUCCESSFUL)"), line(push, "failed PERMANENT_FAILURE")) == (297, 3)
    for part in (email, sms, push):
        assert "throughput" in part and "latency enqueue→outcome p50" in part



def test_demo_campaign_shows_each_treatment_and_its_run_metrics() -> None:
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "demo", "--campaign", "--endpoints", "1000"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout.replace("\r", "\n")
    a = out.split("treatment A (TreatmentId 0)")[1].split("treatment B")[0]
    b = out.split("treatment B (TreatmentId 1)")[1].split("scheduler:")[0]

    def line(part: str, label: str) -> int:
        (found,) = [x for x in part.splitlines() if x.strip().startswith(label)]
        return int(found.split()[-1].replace(",", ""))

    sent = {}
    for name, part in (("A", a), ("B", b)):
        assert line(part, "ENDPOINT_PRODUCED") == 1000
        sent[name] = line(part, "delivered (SUCCESSFUL)")
        assert sent[name] + line(part, "TREATMENT_HOLDOUT") == 1000  # everyone else is held out of this treatment
        assert f"{sent[name]:,} of {sent[name]:,} endpoints enqueued" in part.splitlines()[0]
    # A 45 %, B 45 %, 10 % held out: 100 cohorts of about 10 endpoints each
    assert 350 < sent["A"] < 550 and 350 < sent["B"] < 550 and 20 < 1000 - sent["A"] - sent["B"] < 200
    assert "scheduler: run planned and enqueued" in out and "messages/s from CreateCampaign" in out
