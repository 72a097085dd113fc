"""Lab pieces for ``probe serve``: the exporter and a real Prometheus in the client namespace,
HTTP through curl there, and the soak client. Used by test_serve_lab.py and
benchmarks/serve_soak.py.

Everything listens on the client's lab address (198.18.0.2); Prometheus' only scrape target
is that exporter (static config, no service discovery, no remote write, no alertmanager), and
the probes it asks for name lab hosts only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import topology as t
from .netlab import Lab, LabError

SERVE_PORT = 9799
PROMETHEUS_PORT = 9090
SERVE = f"{t.CLIENT_V4}:{SERVE_PORT}"
PROMETHEUS = f"{t.CLIENT_V4}:{PROMETHEUS_PORT}"
START_TIMEOUT = 15.0  # seconds for the exporter or Prometheus to answer
# What /probe may touch in the lab: the client LAN, the server LAN and the NAT address; not
# the cam LAN behind the NAT (198.18.3.0/24) nor the unreachable networks (198.18.4.0/22).
ALLOW_TARGETS = "198.18.0.0/23,198.18.2.0/24,2001:2::/48"

CONFIG = f"""\
# The NAT camera: both ports expected open; the router does not forward 6036 (its own RST).
[modules.camera]
ports = [{t.CAM_HTTP_PORT}, {t.CAM_UNFORWARDED_PORT}]

# The firewalled server: http open, 81 closed, 82 dropped by its host firewall.
[modules.firewalled]
open = [{t.HTTP_PORT}]
blocked = [{t.CLOSED_PORT}]
filtered = [{t.DROPPED_PORT}]
ip_protocol = "ip4"

# After the handshake, an HTTP request (the hello runs in the exporter's worker pool).
[modules.web-app]
ports = [{t.HTTP_PORT}]
app_protocol = "http"
ping = false

# The soak's module: two quick answers, no ping.
[modules.soak]
ports = [{t.HTTP_PORT}]
refused = [{t.CLOSED_PORT}]
ping = false
"""


@dataclass(frozen=True)
class Served:
    pid: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def http_get(lab: Lab, url: str, timeout: float = 15.0) -> tuple[int, str]:
    """(HTTP status, body) of a GET from the client namespace (0: no answer)."""
    done = lab.exec(
        lab.client_ns,
        "curl",
        "-sS",
        "--max-time",
        str(timeout),
        "-w",
        "\n%{http_code}",
        url,
        timeout=timeout + 5,
    )
    body, _, code = done.stdout.rpartition("\n")
    return (int(code) if code.isdigit() else 0), body


def _wait_http(lab: Lab, url: str, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if http_get(lab, url, timeout=2)[0] == 200:
            return
        time.sleep(0.2)
    _stop(proc)
    raise LabError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def serving(lab: Lab, workdir: Path, config: Path, *extra: str) -> Iterator[Served]:
    """``probe serve`` in the client namespace on SERVE, as root dropping to nobody."""
    log = workdir / "serve.log"
    argv = [
        "ip",
        "netns",
        "exec",
        lab.client_ns,
        *lab.probe_command(),
        "serve",
        "--listen",
        SERVE,
        "--config",
        str(config),
        "--allow-targets",
        ALLOW_TARGETS,
        "--user",
        "nobody",
        *extra,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        _wait_http(lab, f"http://{SERVE}/-/healthy", proc, "probe serve", log)
        yield Served(proc.pid, log)
    finally:
        _stop(proc)


def prometheus_config(scrape_interval: str = "2s") -> str:
    """Two probe jobs (the multi-target pattern with relabelling, as in the README) and the
    exporter's own metrics; every address a lab address."""

    def job(name: str, module: str, targets: Sequence[str]) -> str:
        listed = ", ".join(f'"{x}"' for x in targets)
        return f"""
  - job_name: {name}
    metrics_path: /probe
    params:
      module: [{module}]
    static_configs:
      - targets: [{listed}]
        labels:
          site: lab
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: {SERVE}
"""

    camera = job("probe_camera", "camera", [t.NAME_CAM])
    firewalled = job("probe_firewalled", "firewalled", [t.NAME_WEB])
    return f"""\
global:
  scrape_interval: {scrape_interval}
  scrape_timeout: {scrape_interval}
  evaluation_interval: {scrape_interval}
scrape_configs:{camera}{firewalled}
  - job_name: probe_exporter
    static_configs:
      - targets: ["{SERVE}"]
"""


@contextlib.contextmanager
def prometheus(lab: Lab, workdir: Path) -> Iterator[Path]:
    """Debian's Prometheus in the client namespace, listening on PROMETHEUS."""
    config = workdir / "prometheus.yml"
    config.write_text(prometheus_config())
    log = workdir / "prometheus.log"
    argv = [
        "ip",
        "netns",
        "exec",
        lab.client_ns,
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address={PROMETHEUS}",
        "--log.level=warn",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        _wait_http(lab, f"http://{PROMETHEUS}/-/ready", proc, "prometheus", log)
        yield log
    finally:
        _stop(proc)


def query(lab: Lab, expr: str) -> list[tuple[dict[str, str], float]]:
    """Prometheus' instant query API: (labels, value) per series."""
    done = lab.exec(
        lab.client_ns,
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-G",
        f"http://{PROMETHEUS}/api/v1/query",
        "--data-urlencode",
        f"query={expr}",
        timeout=15,
    )
    data: dict[str, Any] = json.loads(done.stdout)
    assert data["status"] == "success", data
    return [(r["metric"], float(r["value"][1])) for r in data["data"]["result"]]


def wait_for(lab: Lab, expr: str, seconds: float = 30.0) -> list[tuple[dict[str, str], float]]:
    """The query's result once it has one series or more (bounded wait)."""
    deadline = time.monotonic() + seconds
    while True:
        found = query(lab, expr)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def reload(served: Served) -> None:
    os.kill(served.pid, signal.SIGHUP)


# Runs in the client namespace: COUNT GETs of URL, CONCURRENCY at once, each answer checked
# (200 and the metrics expected); the exporter's RSS and open descriptors read from /proc
# before, after WARMUP answers, and every STEP answers; prints one JSON object.
SOAK = r"""
import json, sys, threading, time, os, urllib.request
from concurrent.futures import ThreadPoolExecutor

url = sys.argv[1]
count, concurrency, pid, warmup = (int(x) for x in sys.argv[2:6])
limit = float(sys.argv[6])
must = [line for line in sys.argv[7].split("|") if line]
step = max(1, count // 10)

def sample():
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))

lock = threading.Lock()
done = [0]
bad = []
samples = [("start", 0, *sample())]
begin = time.monotonic()

def one(i):
    if time.monotonic() - begin > limit:
        return
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read().decode()
            ok = r.status == 200 and all(m in body for m in must)
    except Exception as exc:
        ok, body = False, repr(exc)
    with lock:
        done[0] += 1
        if not ok and len(bad) < 5:
            bad.append(body[:300])
        elif not ok:
            bad.append("")
        n = done[0]
        if n == warmup or n % step == 0:
            samples.append(("warm" if n == warmup else "at", n, *sample()))

with ThreadPoolExecutor(concurrency) as pool:
    list(pool.map(one, range(count)))
seconds = time.monotonic() - begin
samples.append(("end", done[0], *sample()))
out = {"count": done[0], "bad": len(bad), "examples": bad[:5], "seconds": seconds}
print(json.dumps({**out, "samples": samples}))
"""


def soak(
    lab: Lab,
    served: Served,
    count: int,
    concurrency: int = 20,
    warmup: int = 200,
    limit: float = 600.0,
) -> dict[str, Any]:
    """``count`` /probe requests of the soak module at SRV_V4, ``concurrency`` at once."""
    url = f"http://{SERVE}/probe?module=soak&target={t.SRV_V4}"
    must = "|".join(
        [
            "probe_success 1.0",
            f'probe_port_state{{port="{t.HTTP_PORT}",protocol="tcp",state="open"}} 1.0',
            f'probe_port_state{{port="{t.CLOSED_PORT}",protocol="tcp",state="refused"}} 1.0',
        ]
    )
    args = (url, str(count), str(concurrency), str(served.pid), str(warmup), str(limit), must)
    done = lab.python(lab.client_ns, SOAK, *args, timeout=limit + 60)
    if done.returncode != 0:
        raise AssertionError(f"soak client failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def soak_figures(result: dict[str, Any]) -> str:
    """The soak's figures, one line per sample: answers so far, RSS, open descriptors."""
    lines = [
        f"{result['count']} requests in {result['seconds']:.1f} s "
        f"({result['count'] / max(result['seconds'], 1e-9):.0f}/s), {result['bad']} bad answers"
    ]
    for kind, n, rss, fds in result["samples"]:
        lines.append(f"  {kind:5} {n:5d} answers: RSS {rss / 1024:6.1f} MiB, {fds} open fds")
    return "\n".join(lines)
