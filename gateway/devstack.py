"""`gateway dev`: a whole local stack in one command, for people trying Gateway and for load testers.

It starts, all on 127.0.0.1 and unprivileged: an embedded Redis; the sandbox SMTP sink (its own process, so a
load test measures Gateway and not the sink); in this process the sandbox SMSC (SMPP, with delivery receipts),
the HTTP voice provider (Twilio-shaped), APNs and FCM (HTTP/2 over TLS, with a CA made at start that the push
channels are configured to trust), and a small JSON endpoint with every sandbox's count; and `gateway serve`
with the REST API (SigV4, with a generated local access key) and channels configured against every sandbox.
It creates an application, writes what it started to `<data dir>/state.json` (benchmarks/locustfile.py reads it),
prints the URLs, the key and secret, a locust command and a boto3 snippet, and stops everything on Ctrl-C/SIGTERM.

Layout: pure functions build the configuration, the state and the banner; `run` is the I/O shell around them.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
from aiohttp import web

from gateway.embedded_redis import EmbeddedRedis, free_port
from gateway.supervisor import spawn, stop_all

log = logging.getLogger("gateway.dev")

STATE_FILE = "state.json"
DEFAULT_DATA_DIR = ".gateway-dev"
APNS_TOPIC = "com.example.gateway.dev"
FCM_PROJECT = "gateway-dev"
FCM_ACCOUNT = "gateway-dev@gateway-dev.iam.gserviceaccount.com"
SMPP_SYSTEM_ID = "gateway"
VOICE_ACCOUNT = "ACgatewaydev"


class DevState(msgspec.Struct, kw_only=True):
    """What a running `gateway dev` started: written to `<data dir>/state.json`, read by the locustfile."""

    pid: int
    api_url: str
    region: str
    access_key_id: str
    secret_access_key: str
    app_id: str
    redis_url: str
    stream_key: str
    events_key: str
    stats_url: str  # GET: JSON counts of every sandbox (see `Sandboxes.counts`)
    smtp_port: int
    smsc_port: int
    voice_url: str
    apns_url: str
    fcm_url: str
    apns_topic: str = APNS_TOPIC


class Ports(msgspec.Struct, kw_only=True):
    """The loopback ports of one stack."""

    redis: int
    api: int
    smtp: int
    smsc: int
    voice: int
    apns: int
    fcm: int
    stats: int


class Files(msgspec.Struct, kw_only=True):
    """Generated key material and certificates (paths inside the data directory)."""

    api_secret: str
    credentials_key: str
    ca: str
    server_cert: str  # certificate chain and key in one PEM, for the HTTP/2 sandboxes
    apns_key: str  # the .p8 (PKCS#8 EC P-256) the APNs channel signs provider tokens with
    apns_public: str
    fcm_service_account: str
    fcm_public: str


def state_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / STATE_FILE


def load_state(data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR) -> DevState:
    """The state a running `gateway dev` wrote in `data_dir`; FileNotFoundError saying what to run otherwise."""
    path = state_path(data_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: start the stack first with `gateway dev --data-dir {data_dir}`"
                                ) from None
    return msgspec.json.decode(raw, type=DevState)


def apns_team(worker: int) -> tuple[str, str]:
    """(team id, key id) of worker `worker`: each worker mints its own provider tokens, and APNs refuses a second
    token for one team within 20 minutes (TooManyProviderTokenUpdates), so every worker gets its own team."""
    return f"DEVTEAM{worker:03d}", f"DEVKEY{worker:04d}"


def _s(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render_config(ports: Ports, files: Files, *, key_id: str, worker: int, log_level: str) -> str:
    """The TOML configuration of worker `worker` (0 also serves the API): every channel against its sandbox."""
    team, kid = apns_team(worker)
    loopback = '["127.0.0.1/32"]'
    return "\n".join([
        f"redis_url = {_s(f'redis://127.0.0.1:{ports.redis}/0')}",
        f"log_level = {_s(log_level)}",
        "shutdown_grace_s = 5.0",
        "[stream]", "batch_size = 256", "max_inflight = 2048",
        # sandbox faults retry in seconds, not the production half-minute
        "[retry]", "base_s = 0.5", "cap_s = 2.0", "max_attempts = 4", "poll_ms = 100",
        "[credentials]", f"key_file = {_s(files.credentials_key)}",
        "[api]", 'auth = "sigv4"', "send_timeout_s = 30.0",
        "[[api.access_keys]]", f"access_key_id = {_s(key_id)}", f"secret_file = {_s(files.api_secret)}",
        "[[channels]]", 'kind = "smtp"', f"port = {ports.smtp}", "connections = 64",
        'default_from = "Gateway dev <dev@gateway.test>"',
        "[[channels]]", 'kind = "smpp"', f"port = {ports.smsc}", f"system_id = {_s(SMPP_SYSTEM_ID)}", "binds = 2",
        "window = 64", "transactional_reserve = 2", "registered_delivery = true",
        "[[channels]]", 'kind = "voice"', 'preset = "twilio"', f"account_sid = {_s(VOICE_ACCOUNT)}",
        f"api_base = {_s(f'http://127.0.0.1:{ports.voice}')}", "allow_http = true", f"allow_networks = {loopback}",
        "[[channels]]", 'kind = "apns"', f"production_url = {_s(f'https://127.0.0.1:{ports.apns}')}",
        f"sandbox_url = {_s(f'https://127.0.0.1:{ports.apns}')}", f"team_id = {_s(team)}", f"key_id = {_s(kid)}",
        f"token_key_file = {_s(files.apns_key)}", f"bundle_id = {_s(APNS_TOPIC)}", f"ca_file = {_s(files.ca)}",
        "[[channels]]", 'kind = "fcm"', f"send_url = {_s(f'https://127.0.0.1:{ports.fcm}')}",
        f"token_url = {_s(f'https://127.0.0.1:{ports.fcm}/token')}",
        f"service_account_file = {_s(files.fcm_service_account)}", f"ca_file = {_s(files.ca)}",
        "",
    ])


def _read_key_id(files: Files) -> str:
    return Path(files.api_secret).with_name("api-key-id").read_text().strip()


def banner(state: DevState, data_dir: str, workers: int) -> str:
    """What `gateway dev` prints once everything is up."""
    here = Path(__file__).resolve().parent.parent / "benchmarks" / "locustfile.py"
    locustfile = "benchmarks/locustfile.py"  # from a checkout's root; an installed package has no benchmarks/
    if here.exists():
        relative = os.path.relpath(here)
        locustfile = str(here) if relative.startswith("..") else relative
    data_flag = "" if data_dir == DEFAULT_DATA_DIR else f" GATEWAY_DEV_DIR={Path(data_dir).resolve()}"
    return f"""
Gateway dev stack is up ({workers} worker process{'es' if workers > 1 else ''}); Ctrl-C stops everything.

  REST API      {state.api_url}   (region {state.region}, SigV4)
  access key    {state.access_key_id}
  secret key    {state.secret_access_key}
  application   {state.app_id}
  Redis         {state.redis_url}   (ingest stream {state.stream_key}, events {state.events_key})
  sandboxes     SMTP 127.0.0.1:{state.smtp_port}, SMSC (SMPP) 127.0.0.1:{state.smsc_port}, voice {state.voice_url},
                APNs {state.apns_url} (topic {state.apns_topic}), FCM {state.fcm_url}
  sink counts   {state.stats_url}
  state file    {state_path(data_dir)}   (worker logs: {Path(data_dir) / 'worker-*.log'})

Load test (reads the state file; pick user classes by name, or none for all):
 {data_flag} locust -f {locustfile} --headless -u 20 -r 5 -t 60s

boto3:
  import boto3
  pp = boto3.client("pinpoint", endpoint_url="{state.api_url}", region_name="{state.region}",
                    aws_access_key_id="{state.access_key_id}", aws_secret_access_key="{state.secret_access_key}")
  pp.send_messages(ApplicationId="{state.app_id}", MessageRequest={{
      "Addresses": {{"ada@example.com": {{"ChannelType": "EMAIL"}}, "+14255550100": {{"ChannelType": "SMS"}}}},
      "MessageConfiguration": {{"EmailMessage": {{"SimpleEmail": {{"Subject": {{"Data": "Hi"}}, "TextPart": {{"Data": "Hello"}}}}}},
                               "SMSMessage": {{"Body": "Hello"}}}}}})
"""


# ------------------------------------------------------------------ key material


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_files(data_dir: Path) -> Files:
    """Generate (or keep, when a previous run made them) the local access key, and generate fresh push keys, a
    CA and the sandboxes' certificate for 127.0.0.1. The access key survives restarts so a pasted boto3 snippet
    keeps working; the rest is throwaway."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    data_dir.mkdir(parents=True, exist_ok=True)
    key_id_path, secret_path = data_dir / "api-key-id", data_dir / "api-secret"
    if not (key_id_path.exists() and secret_path.exists()):
        key_id_path.write_text("AKIDDEV" + secrets.token_hex(6).upper() + "\n")
        _write_private(secret_path, (secrets.token_urlsafe(30) + "\n").encode())
    creds = data_dir / "credentials.key"
    if not creds.exists():
        _write_private(creds, base64.b64encode(secrets.token_bytes(32)) + b"\n")

    def pem_private(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def pem_public(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Gateway dev CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, server_path = data_dir / "ca.pem", data_dir / "server.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(server_path, pem_private(leaf_key) + leaf.public_bytes(serialization.Encoding.PEM))

    apns_key = ec.generate_private_key(ec.SECP256R1())
    _write_private(data_dir / "apns.p8", pem_private(apns_key))
    (data_dir / "apns-public.pem").write_bytes(pem_public(apns_key))
    fcm_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (data_dir / "fcm-public.pem").write_bytes(pem_public(fcm_key))
    _write_private(data_dir / "fcm-service-account.json", json.dumps({
        "type": "service_account", "project_id": FCM_PROJECT, "client_email": FCM_ACCOUNT,
        "private_key": pem_private(fcm_key).decode(), "private_key_id": "dev",
    }).encode())
    return Files(api_secret=str(secret_path.resolve()), credentials_key=str(creds.resolve()),
                 ca=str(ca_path.resolve()), server_cert=str(server_path.resolve()),
                 apns_key=str((data_dir / "apns.p8").resolve()), apns_public=str((data_dir / "apns-public.pem").resolve()),
                 fcm_service_account=str((data_dir / "fcm-service-account.json").resolve()),
                 fcm_public=str((data_dir / "fcm-public.pem").resolve()))


# ------------------------------------------------------------------ the in-process sandboxes


async def smtp_accepted(port: int) -> int:
    """Messages the sandbox SMTP sink (another process) accepted so far: its XSTATS command."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()
        writer.write(b"XSTATS\r\nQUIT\r\n")
        line = await reader.readline()
    finally:
        writer.close()
    return int(line.split(b"accepted=")[1])


class Sandboxes:
    """The SMSC, voice, APNs and FCM sandboxes and the counts endpoint, in this process's event loop."""

    def __init__(self, ports: Ports, files: Files, workers: int) -> None:
        from gateway.sandbox.apns import ApnsSandbox
        from gateway.sandbox.fcm import FcmSandbox
        from gateway.sandbox.http_sms import SandboxHttpSms
        from gateway.sandbox.smsc import SandboxSmsc

        self.ports = ports
        self.files = files
        public = Path(files.apns_public).read_text()
        self.smsc = SandboxSmsc(record=False)
        self.voice = SandboxHttpSms(port=ports.voice, record=False)
        self.apns = ApnsSandbox({apns_team(w)[1]: (apns_team(w)[0], public) for w in range(workers)},
                                record=False, topics={APNS_TOPIC})
        self.fcm = FcmSandbox({FCM_ACCOUNT: Path(files.fcm_public).read_text()}, record=False)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        p, f = self.ports, self.files
        await self.smsc.start("127.0.0.1", p.smsc)
        await self.voice.start()
        await self.apns.start("127.0.0.1", p.apns, certfile=f.server_cert)
        await self.fcm.start("127.0.0.1", p.fcm, certfile=f.server_cert)

        async def stats(_: web.Request) -> web.Response:
            return web.json_response(await self.counts())

        app = web.Application()
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", p.stats).start()
        self._runner = runner

    async def counts(self) -> dict[str, int]:
        """What each sandbox accepted so far: email (SMTP sink), sms (submit_sm at the SMSC), sms_receipts
        (delivery receipts Gateway acknowledged), voice (calls), apns and fcm (pushes accepted with 200)."""
        return {
            "email": await smtp_accepted(self.ports.smtp),
            "sms": self.smsc.submit_count,
            "sms_receipts": len(self.smsc.deliver_resps),
            "voice": self.voice.total,
            "apns": self.apns.accepted,
            "fcm": self.fcm.accepted,
        }

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.fcm.aclose()
        await self.apns.aclose()
        await self.voice.aclose()
        await self.smsc.close()


# ------------------------------------------------------------------ the shell


class StartupError(Exception):
    """A part of the stack did not come up: the message says which and why."""


async def _wait_file(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise StartupError(f"{what} exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise StartupError(f"{what} did not start within {timeout:.0f}s")
        await asyncio.sleep(0.05)  # polling another process's file: there is no event to wait on


async def _wait_api(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            for p in procs:
                if p.poll() is not None:
                    raise StartupError(f"`gateway serve` exited with status {p.returncode} (its log is in the data "
                                       "directory)")
            try:
                async with session.get(url + "/openapi.json") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise StartupError(f"the REST API did not answer at {url} within {timeout:.0f}s")
            await asyncio.sleep(0.1)


async def run(data_dir: str = DEFAULT_DATA_DIR, *, api_port: int = 0, redis_port: int = 0, workers: int = 1,
              log_level: str = "WARNING", ready: asyncio.Event | None = None) -> int:
    """Start the stack, print the banner, wait for SIGINT/SIGTERM, stop everything. 0 on a clean stop; 1 when a
    part failed to start or a worker died (the message says which)."""
    data = Path(data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = _running_pid(data)
    if running is not None:
        print(f"gateway dev: already running (pid {running}) with data directory {data}; stop it first, or give "
              "another --data-dir", file=sys.stderr)
        return 1
    state_path(data).unlink(missing_ok=True)
    files = make_files(data)
    redis_server = EmbeddedRedis(port=redis_port or None, dir=str((data / "redis").resolve()), new_session=True)
    (data / "redis").mkdir(exist_ok=True)
    smtp_proc: subprocess.Popen[bytes] | None = None
    workers_procs: list[subprocess.Popen[bytes]] = []
    sandboxes: Sandboxes | None = None
    try:
        await asyncio.to_thread(redis_server.start)
        ports = Ports(redis=redis_server.port, api=api_port or free_port(), smtp=free_port(), smsc=free_port(),
                      voice=free_port(), apns=free_port(), fcm=free_port(), stats=free_port())
        ready_file = data / "smtp.port"
        ready_file.unlink(missing_ok=True)
        smtp_proc = spawn(["-m", "gateway.sandbox.smtp", "--port", str(ports.smtp), "--ready-file", str(ready_file)],
                         quiet=True)
        sandboxes = Sandboxes(ports, files, workers)
        await sandboxes.start()
        await _wait_file(ready_file, smtp_proc, "the sandbox SMTP sink")
        for w in range(workers):
            cfg = data / f"gateway-{w}.toml"
            cfg.write_text(render_config(ports, files, key_id=_read_key_id(files), worker=w, log_level=log_level))
            api = ["--api", f"127.0.0.1:{ports.api}"] if w == 0 else []
            workers_procs.append(spawn(["-m", "gateway.cli", "serve", "--config", str(cfg), "--consumer",
                                         f"dev-{w}", *api], data / f"worker-{w}.log"))
        api_url = f"http://127.0.0.1:{ports.api}"
        await _wait_api(api_url, workers_procs)
        app_id = await _create_app(redis_server.url)
        state = DevState(
            pid=os.getpid(), api_url=api_url, region="us-east-1", access_key_id=_read_key_id(files),
            secret_access_key=Path(files.api_secret).read_text().strip(), app_id=app_id, redis_url=redis_server.url,
            stream_key="gateway:send", events_key="gateway:events", stats_url=f"http://127.0.0.1:{ports.stats}/stats",
            smtp_port=ports.smtp, smsc_port=ports.smsc, voice_url=f"http://127.0.0.1:{ports.voice}",
            apns_url=f"https://127.0.0.1:{ports.apns}", fcm_url=f"https://127.0.0.1:{ports.fcm}")
        _write_private(state_path(data), msgspec.json.format(msgspec.json.encode(state)))
        print(banner(state, data_dir, workers), flush=True)
        if ready is not None:
            ready.set()
        died = asyncio.create_task(_first_exit(workers_procs, stop))
        await stop.wait()
        if died.done() and died.result() is not None:
            print(f"gateway dev: a worker exited with status {died.result()}; stopping (see {data}/worker-*.log)",
                  file=sys.stderr)
            return 1
        died.cancel()
        print("\ngateway dev: stopping", flush=True)
        return 0
    except (StartupError, OSError, RuntimeError, TimeoutError) as exc:
        print(f"gateway dev: {exc}", file=sys.stderr)
        return 1
    finally:
        state_path(data).unlink(missing_ok=True)
        await asyncio.to_thread(stop_all, workers_procs)
        if sandboxes is not None:
            await sandboxes.aclose()
        if smtp_proc is not None:
            await asyncio.to_thread(stop_all, [smtp_proc])
        await asyncio.to_thread(redis_server.cleanup)


def _running_pid(data: Path) -> int | None:
    """The pid of a `gateway dev` still running with `data` (its state file names a live process), else None."""
    try:
        pid = load_state(data).pid
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a stack that was killed left its state behind
    except PermissionError:
        pass  # alive, someone else's
    return pid


async def _first_exit(procs: list[subprocess.Popen[bytes]], stop: asyncio.Event) -> int | None:
    """The status of the first worker to exit on its own (then `stop` is set); polls: a Popen has no event."""
    while not stop.is_set():
        for p in procs:
            if p.poll() is not None:
                stop.set()
                return p.returncode
        await asyncio.sleep(0.5)
    return None


async def _create_app(redis_url: str) -> str:
    import redis.asyncio as aioredis

    from gateway.api.appstore import AppStore
    from gateway.api.services import Settings

    client = aioredis.Redis.from_url(redis_url)
    try:
        app = await AppStore(client, Settings().arn("")).create("gateway-dev")
    finally:
        await client.aclose()
    return app.Id


def main(data_dir: str = DEFAULT_DATA_DIR, *, api_port: int = 0, redis_port: int = 0, workers: int = 1,
         log_level: str = "WARNING") -> int:
    """`gateway dev`."""
    try:
        import uvloop

        return uvloop.run(run(data_dir, api_port=api_port, redis_port=redis_port, workers=workers,
                              log_level=log_level))
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(run(data_dir, api_port=api_port, redis_port=redis_port, workers=workers,
                               log_level=log_level))
