"""rules/options.py: mss-clamped, tcp-options-stripped."""

from __future__ import annotations

from typing import Any

import pytest
from diagnosis_cases import V6, by_code

from probe.diagnosis.outcome import has_problem
from probe.diagnosis.registry import diagnose
from probe.model import Method, Severity, TcpOptions

# --------------------------------------------------------------------------- handshake options

FULL = {"mss": 1460, "wscale": 7, "sack_permitted": True, "timestamps": True}


def opened(mk: Any, port: int, **options: Any) -> Any:
    """An open port whose SYN/ACK carried ``options`` (over the full Linux set)."""
    return mk.port(port, "open", tcp_options=TcpOptions(**{**FULL, **options}))


def test_mss_clamped_on_every_port_is_a_remark(mk: Any) -> None:
    t = mk.target(opened(mk, 80, mss=1380), opened(mk, 443, mss=1380))
    f = by_code(diagnose(t))["mss-clamped"]
    assert (f.severity, f.ports) == (Severity.INFO, (80, 443))
    assert "MSS 1380" in f.summary and "tunnel" in f.summary
    assert "80, 443 announces MSS 1380: 80 bytes less than the 1460" in f.evidence[0]
    assert "Cisco ASA" in f.evidence[0]
    assert any("ping -M do -s 1472 198.18.2.1" in s for s in f.next_steps)
    assert not has_problem(diagnose(t))


def test_mss_clamped_on_some_ports_points_at_a_device_in_front(mk: Any) -> None:
    t = mk.target(opened(mk, 80), opened(mk, 9445, mss=1360))
    f = by_code(diagnose(t))["mss-clamped"]
    assert (f.severity, f.ports) == (Severity.WARNING, (9445,))
    assert "device in front of that port" in f.summary
    assert "SYN/ACK on 80 announces MSS 1460" in f.evidence


@pytest.mark.parametrize(
    ("address", "mss", "clamped"),
    [
        ("198.18.2.1", 1460, False),
        ("198.18.2.1", 8960, False),  # jumbo frames: bigger is fine
        ("198.18.2.1", 1459, True),
        (V6, 1440, False),
        (V6, 1432, True),  # PPPoE on IPv6
        ("198.18.2.1", None, False),  # no MSS option: the stripping rule's business
    ],
)
def test_mss_baseline_per_family(mk: Any, address: str, mss: int | None, clamped: bool) -> None:
    t = mk.target(opened(mk, 80, mss=mss), address=address)
    assert ("mss-clamped" in by_code(diagnose(t))) is clamped


def test_mss_clamped_ipv6_names_pppoe(mk: Any) -> None:
    t = mk.target(opened(mk, 80, mss=1432), address=V6)
    f = by_code(diagnose(t))["mss-clamped"]
    assert "1440 of an IPv6 path" in f.evidence[0] and "PPPoE" in f.evidence[0]
    assert any(f"ping -6 -M do -s 1452 {V6}" in s for s in f.next_steps)


def test_options_stripped_on_one_port(mk: Any) -> None:
    bare = {"wscale": None, "sack_permitted": False, "timestamps": False}
    t = mk.target(opened(mk, 80), opened(mk, 443), opened(mk, 9445, **bare))
    f = by_code(diagnose(t))["tcp-options-stripped"]
    assert (f.severity, f.ports) == (Severity.WARNING, (9445,))
    assert f.evidence[0] == (
        "SYN/ACK on 9445 without SACK, timestamps and window scaling, which the SYN/ACK on "
        "80, 443 has"
    )
    assert "our SYN offered" in f.evidence[-1]
    assert "device in front of that port" in f.summary
    assert any("probe trace 198.18.2.1 --port 9445" in s for s in f.next_steps)


def test_options_stripped_groups_by_what_is_missing(mk: Any) -> None:
    t = mk.target(
        opened(mk, 80),
        opened(mk, 81, sack_permitted=False),
        opened(mk, 82, sack_permitted=False),
        opened(mk, 83, timestamps=False),
    )
    f = by_code(diagnose(t))["tcp-options-stripped"]
    assert f.ports == (81, 82, 83)
    assert f.evidence[:2] == (
        "SYN/ACK on 81-82 without SACK, which the SYN/ACK on 80 has",
        "SYN/ACK on 83 without timestamps, which the SYN/ACK on 80 has",
    )
    assert "(SACK and timestamps)" in f.summary


def test_no_options_anywhere_is_a_remark_about_the_stack(mk: Any) -> None:
    bare = {"mss": 536, "wscale": None, "sack_permitted": False, "timestamps": False}
    t = mk.target(opened(mk, 80, **bare), opened(mk, 554, **bare))
    f = by_code(diagnose(t))["tcp-options-stripped"]
    assert (f.severity, f.ports) == (Severity.INFO, (80, 554))
    assert "old or embedded TCP stack" in f.summary
    assert any("tcp_sack" in s for s in f.next_steps)


def test_windows_without_timestamps_is_normal(mk: Any) -> None:
    t = mk.target(opened(mk, 80, timestamps=False), opened(mk, 3389, timestamps=False))
    assert diagnose(t) == ()


def test_no_options_rules_without_syn_ack_options(mk: Any) -> None:
    # connect() fallback or options not recorded: nothing to judge.
    t = mk.target(mk.connect_port(80), mk.connect_port(443))
    assert diagnose(t, mode=Method.CONNECT) == ()


def test_mss_clamped_on_some_ports_asks_for_a_server_capture(mk: Any) -> None:
    t = mk.target(opened(mk, 80), opened(mk, 9445, mss=1360))
    f = by_code(diagnose(t))["mss-clamped"]
    assert f.next_steps[0].startswith("capture on the server: if its own SYN/ACK on 9445")
