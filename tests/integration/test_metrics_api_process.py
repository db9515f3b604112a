"""`python -m gateway.api` with `[metrics] listen`: the API process serves its own registry on the metrics
listener, and /metrics is not served on the API's port."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.embedded_redis import free_port


def test_api_process_serves_its_own_metrics_listener_only(tmp_path: Path, redis_server) -> None:
    metrics_port = free_port()
    config = tmp_path / "api.toml"
    config.write_text(f'redis_url = "{redis_server.url}"\n[api]\nauth = "none"\n'
                      f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
    api = subprocess.Popen([sys.executable, "-m", "gateway.api", "--listen", "127.0.0.1:0", "--config", str(config)],
                           stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert api.stdout is not None
        api_line = api.stdout.readline().decode()
        metrics_line = api.stdout.readline().decode()
        assert api_line.startswith("gateway API listening on http://127.0.0.1:"), api_line
        assert metrics_line.strip() == f"gateway API metrics on http://127.0.0.1:{metrics_port}/metrics"
        api_port = int(api_line.rsplit(":", 1)[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/apps", timeout=10) as resp:
            assert resp.status == 200
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/apps/nope", timeout=10)
        assert missing.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics", timeout=10)
        assert refused.value.code == 404  # not an operation: /metrics is only on the metrics listener
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
            families = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
        assert {"process_cpu_seconds", "python_gc_objects_collected", "python_info"} <= set(families)
        requests = {(s.labels["operation"], s.labels["code"]): s.value
                    for s in families["gateway_api_requests"].samples if s.name.endswith("_total")}
        assert requests == {("GetApps", "200"): 1, ("GetApp", "404"): 1, ("unmatched", "404"): 1}
        count = {s.labels["operation"]: s.value for s in families["gateway_api_request_seconds"].samples
                 if s.name.endswith("_count")}
        assert count == {"GetApps": 1, "GetApp": 1, "unmatched": 1}
    finally:
        api.terminate()
        api.wait(30)
