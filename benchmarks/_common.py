"""Helpers shared by the benchmarks: process CPU time, machine description, RESULTS.md rows."""

from __future__ import annotations

import datetime
import os
import platform
import socket
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = ("| date | machine | benchmark | case | metric | value | ratio vs baseline | notes |\n"
          "|---|---|---|---|---|---|---|---|\n")


def machine() -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def append_rows(rows: list[tuple[str, str, str, str, str, str]]) -> None:
    """Append rows (benchmark, case, metric, value, ratio, notes) with today's date and this machine."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nRows are appended by the scripts in benchmarks/. Only ratios measured "
                           "in the same run are comparable: this machine's speed swings about 2x between runs.\n\n" + HEADER)
    today = datetime.date.today().isoformat()
    with RESULTS.open("a") as f:
        for r in rows:
            f.write(f"| {today} | {machine()} | " + " | ".join(r) + " |\n")


def sink_accepted(port: int) -> int:
    """Messages the sandbox SMTP sink (another process) has accepted so far: its XSTATS command."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"XSTATS\r\n")
        line = f.readline()
        s.sendall(b"QUIT\r\n")
    return int(line.split(b"accepted=")[1])
