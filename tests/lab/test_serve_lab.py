"""``probe serve`` in the lab: a real Prometheus (Debian's package) that knows nothing of
probe scrapes two modules through the multi-target pattern and gets the right values; the
exporter runs as nobody with CAP_NET_RAW alone and still sends raw SYNs; the SSRF guard
refuses addresses outside --allow-targets, names included; SIGHUP reloads keep the old
config when the new one is bad; and a soak of SERVE_SOAK_COUNT requests (2000 by default),
20 in flight, leaves memory and descriptors flat.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import serve_lab as s
from . import topology as t
from .netlab import Lab

SOAK_COUNT = int(os.environ.get("SERVE_SOAK_COUNT", "2000"))
SOAK_LIMIT = 300.0  # seconds: the soak stops sending past this (its answers must all be good)


@pytest.fixture(scope="module")
def served(lab: Lab) -> Iterator[s.Served]:
    # Not under pytest's temporary directory (mode 0700): the exporter, running as nobody,
    # reads its config again on SIGHUP.
    workdir = Path(tempfile.mkdtemp(prefix=f"{t.PREFIX}serve-"))
    try:
        os.chmod(workdir, 0o755)
        config = workdir / "probe.toml"
        config.write_text(s.CONFIG)
        os.chmod(config, 0o644)
        with s.serving(lab, workdir, config, "--log-level", "info") as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_prometheus_scrapes_the_camera_and_the_firewalled_host(
    lab: Lab, served: s.Served, tmp_path: Path
) -> None:
    if shutil.which("prometheus") is None:
        pytest.fail("the prometheus command is missing (Debian package prometheus)")
    os.chmod(tmp_path, 0o755)
    with s.prometheus(lab, tmp_path):
        cam = 'job="probe_camera"'
        fw = 'job="probe_firewalled"'
        success = s.wait_for(lab, f"probe_success{{{cam}}} or probe_success{{{fw}}}")
        deadline = time.monotonic() + 30
        while len(success) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            success = s.query(lab, f"probe_success{{{cam}}} or probe_success{{{fw}}}")
        by_job = {labels["job"]: (labels, value) for labels, value in success}
        assert set(by_job) == {"probe_camera", "probe_firewalled"}, success
        labels, value = by_job["probe_camera"]
        assert value == 0  # 6036 expected open, refused by the NAT router
        assert labels["instance"] == t.NAME_CAM and labels["site"] == "lab"
        assert by_job["probe_firewalled"][1] == 1  # 80 open, 81 closed, 82 dropped: as expected

        def one(expr: str) -> float:
            found = s.query(lab, expr)
            assert len(found) == 1, (expr, found)
            return found[0][1]

        port = f'{cam},port="{t.CAM_UNFORWARDED_PORT}",protocol="tcp"'
        assert one(f'probe_port_state{{{port},state="refused"}}') == 1
        assert one(f'probe_port_state{{{port},state="open"}}') == 0
        assert one(f'probe_port_state{{{cam},port="{t.CAM_HTTP_PORT}",state="open"}}') == 1
        assert one(f'probe_port_expected{{{port},expected="open"}}') == 0
        assert one(f"probe_port_responder_ttl{{{port}}}") == t.TTL_DIRECT
        assert one(f'probe_finding{{{cam},code="port-refused-by-middlebox"}}') == 1
        assert one(f"probe_ip_protocol{{{cam}}}") == 4
        dropped = f'{fw},port="{t.DROPPED_PORT}",protocol="tcp"'
        assert one(f'probe_port_state{{{dropped},state="filtered"}}') == 1
        assert one(f'probe_port_expected{{{dropped},expected="filtered"}}') == 1
        assert one(f"probe_port_tries{{{dropped}}}") == 3
        assert one(f'probe_port_state{{{fw},port="{t.CLOSED_PORT}",state="refused"}}') == 1
        assert one(f'probe_finding{{{fw},code="port-filtered",severity="error"}}') == 1
        assert one(f'probe_finding{{{fw},code="port-refused"}}') == 1
        assert one(f"probe_ping_success{{{fw}}}") == 1  # ping works as nobody (CAP_NET_RAW)
        # the exporter's own metrics, scraped by their own job: both modules' probes counted
        # (polled: that job's last scrape may predate the other module's first probe)
        ran = 'sum(probe_exporter_probes_total{job="probe_exporter"})'
        deadline = time.monotonic() + 20
        while (s.query(lab, ran) or [({}, 0.0)])[0][1] < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert s.query(lab, ran)[0][1] >= 2
        print("\nPrometheus /api/v1/query results:")
        for expr in ("probe_success", "probe_finding"):
            for labels, value in s.query(lab, expr):
                shown = {k: v for k, v in labels.items() if k not in ("__name__", "site")}
                print(f"  {expr}{shown} = {value:g}")


def test_the_exporter_runs_as_nobody_with_cap_net_raw_alone(lab: Lab, served: s.Served) -> None:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{served.pid}/status").read_text().splitlines()
    )
    assert status["Uid"].split() == ["65534"] * 4
    assert status["Gid"].split() == ["65534"] * 4
    assert int(status["CapEff"], 16) == 1 << 13  # CAP_NET_RAW
    assert int(status["CapPrm"], 16) == 1 << 13
    assert "dropped root: now running as nobody" in served.log_text()
    code, body = s.http_get(lab, f"http://{s.SERVE}/probe?module=camera&target={t.NAT_PUBLIC_V4}")
    assert code == 200
    # raw SYNs still go out (the TTL of the router's RST is only known in raw mode)
    line = f'probe_port_responder_ttl{{port="{t.CAM_UNFORWARDED_PORT}",protocol="tcp"}} 64.0'
    assert line in body
    # what a probe loads on first use was loaded before the drop (the interpreter's own
    # files may be unreadable by nobody): the HTTP hello, TLS and DNS code all run
    code, body = s.http_get(
        lab, f"http://{s.SERVE}/probe?module=web-app&target={t.NAME_WEB}&debug=true"
    )
    assert code == 200 and "probe_success 1.0" in body, body
    assert f"App http on {t.HTTP_PORT}: answered" in body, body


@pytest.mark.parametrize(
    ("target", "code", "words"),
    [
        (t.NAME_UNREACH, 403, f"target address {t.UNREACHABLE_HOST_V4} is not allowed"),
        (t.CAM_V4, 403, f"target address {t.CAM_V4} is not allowed"),
        ("198.18.1.0/24", 403, "is a CIDR block"),
        ("300.1.1.1", 400, "is not a valid IPv4 address"),
    ],
)
def test_the_guard_refuses(lab: Lab, served: s.Served, target: str, code: int, words: str) -> None:
    got, body = s.http_get(lab, f"http://{s.SERVE}/probe?module=camera&target={target}")
    assert got == code and words in body, body


def test_soak_memory_and_descriptors_stay_flat(lab: Lab, served: s.Served) -> None:
    result = s.soak(lab, served, SOAK_COUNT, concurrency=20, limit=SOAK_LIMIT)
    print("\n" + s.soak_figures(result))
    assert result["bad"] == 0, result["examples"]
    assert result["count"] == SOAK_COUNT, "the soak ran out of time"
    warm = next(x for x in result["samples"] if x[0] == "warm")
    end = result["samples"][-1]
    assert end[3] <= warm[3] + 4  # descriptors: flat (a few sockets may be mid-close)
    assert end[2] <= warm[2] * 1.15 + 4096  # RSS in KiB: within 15 % (plus 4 MiB) of warm-up


def test_sighup_reload_keeps_the_old_config_when_the_new_one_is_bad(
    lab: Lab, served: s.Served
) -> None:
    config = Path(served.log).parent / "probe.toml"
    config.write_text(s.CONFIG + "\n[modules.broken]\nports = [80]\ntries = 99\n")
    s.reload(served)
    time.sleep(1)
    log = served.log_text()
    line = s.CONFIG.count("\n") + 4
    assert "reload failed, the old config stays" in log
    assert f"{config}, line {line}, module 'broken': 'tries' must be" in log
    url = f"http://{s.SERVE}/probe?module=soak&target={t.SRV_V4}"
    assert s.http_get(lab, url)[0] == 200
    config.write_text(s.CONFIG + "\n[modules.nat]\nports = [80]\nrefused = [6036]\n")
    s.reload(served)
    time.sleep(1)
    code, body = s.http_get(lab, f"http://{s.SERVE}/probe?module=nat&target={t.NAME_CAM}")
    assert code == 200 and "probe_success 1.0" in body
    assert "reloaded" in served.log_text()


def test_check_format_openmetrics_in_the_lab(lab: Lab) -> None:
    done = lab.run_probe(
        "check",
        t.NAME_CAM,
        "-p",
        f"{t.CAM_HTTP_PORT},{t.CAM_UNFORWARDED_PORT}",
        "--format",
        "openmetrics",
    )
    assert done.returncode == 1, done.stderr
    who = f'address="{t.NAT_PUBLIC_V4}",port="{t.CAM_UNFORWARDED_PORT}",protocol="tcp"'
    assert f'probe_port_state{{{who},state="refused",target="{t.NAME_CAM}"}} 1.0' in done.stdout
    assert 'code="port-refused-by-middlebox"' in done.stdout
    assert done.stdout.endswith("# EOF\n")
