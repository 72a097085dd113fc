"""rules/ports.py: refused (by the host or a device in front of it, with the middlebox
proof), rejected, filtered, partial reachability, path loss."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from diagnosis_cases import ROUTER, SCENARIOS, V6, build, by_code

from probe.diagnosis.context import Source
from probe.diagnosis.registry import diagnose
from probe.model import Method, Severity, TargetReport, TcpOptions

# --------------------------------------------------------------------------- wording


def test_nat_case_names_nat_forwarding_port_and_both_ttls(mk: Any) -> None:
    t = build(mk, SCENARIOS["camera: NAT forwards 80, router resets 6036"][0])
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert f.severity is Severity.ERROR
    assert "NAT" in f.summary and "forward" in f.summary
    assert "6036" in f.summary and "80 is forwarded" in f.summary
    assert any("TTL 63" in e and "TTL 64" in e and "one hop closer" in e for e in f.evidence)
    assert any("port forwarding" in s and "6036" in s for s in f.next_steps)
    assert any("firewall" in s for s in f.next_steps)


def test_middlebox_against_echo_quotes_the_echo_reply(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST closer than the echo reply, no SYN/ACK"][0])
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert any(e.startswith("echo reply with TTL 63") and "TTL 64" in e for e in f.evidence)
    assert "without port forwarding" in f.summary


def test_middlebox_two_hops_closer(mk: Any) -> None:
    t = mk.target((80, "open", 62), (6036, "refused", 64), ping=mk.ping("ok", 64))
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert any("2 hops closer" in e for e in f.evidence)


def test_middlebox_from_another_address_names_it(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST from another address, same TTL"][0])
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert any(f"came from {ROUTER}, not from {mk.host}" in e for e in f.evidence)


def test_same_address_written_differently_is_the_host(mk: Any) -> None:
    t = mk.target(
        {"port": 22, "state": "refused", "responder": "2001:db8:0::7"},
        (80, "open"),
        address=V6,
    )
    assert "port-refused" in by_code(diagnose(t))


def test_refused_same_distance_evidence(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST with the same TTL as the SYN/ACK"][0])
    f = by_code(diagnose(t))["port-refused"]
    assert "Nothing is listening on port 22 on 198.18.2.1" in f.summary
    assert f.evidence == (
        "RST from 198.18.2.1 on 22 with TTL 63 (≈ 1 hop): the same distance as the SYN/ACK on 80 "
        "with TTL 63",
    )


def test_refused_without_comparison_says_so(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST, nothing to compare with"][0])
    f = by_code(diagnose(t))["port-refused"]
    assert any("no SYN/ACK or echo reply to compare" in e for e in f.evidence)
    assert any("port forwarding" in s for s in f.next_steps)


def test_refused_in_connect_mode_cannot_tell_host_from_middlebox(mk: Any) -> None:
    t = build(mk, SCENARIOS["connect mode: refused is plain port-refused"][0])
    f = by_code(diagnose(t, mode=Method.CONNECT))["port-refused"]
    assert any("cannot tell the host from" in e for e in f.evidence)


def test_refused_ports_are_grouped_by_ttl(mk: Any) -> None:
    t = mk.target((22, "refused"), (23, "refused"), (24, "refused"), (80, "open"), (25, "refused"))
    f = by_code(diagnose(t))["port-refused"]
    assert f.ports == (22, 23, 24, 25)
    assert "ports 22-25" in f.summary
    assert len(f.evidence) == 1 and "on 22-25 with TTL 63" in f.evidence[0]


def test_filtered_evidence_counts_syns_and_says_host_is_up(mk: Any) -> None:
    t = build(mk, SCENARIOS["filtered ports are grouped"][0])
    f = by_code(diagnose(t, timeout=2.0))["port-filtered"]
    assert "3 SYNs to each of 82, 8443, no answer within 2 s each" in f.evidence
    assert "SYN/ACK on 80" in f.evidence
    assert f.summary.startswith(
        "Ports 82, 8443 on 198.18.2.1 get no answer although the host is up"
    )
    assert "firewall drops" in f.summary and "NAT" in f.summary


def test_filtered_with_ping_only_says_it_answers_ping(mk: Any) -> None:
    t = build(mk, SCENARIOS["all filtered, ping answers"][0])
    f = by_code(diagnose(t))["port-filtered"]
    assert "it answers ping" in f.summary


def test_filtered_without_timeout_does_not_invent_one(mk: Any) -> None:
    t = mk.target((82, "filtered"), (80, "open"))
    f = by_code(diagnose(t))["port-filtered"]
    assert "3 SYNs to 82, no answer" in f.evidence
    assert not any("within" in e for e in f.evidence)


def test_filtered_in_a_capture_leaves_the_syns_to_the_capture(mk: Any) -> None:
    t = mk.literal(ports=((82, "filtered"), (80, "open")), ping=None)
    checked = by_code(diagnose(t))["port-filtered"]
    captured = by_code(diagnose(t, source=Source.CAPTURE))["port-filtered"]
    assert checked.evidence == ("3 SYNs to 82, no answer", "SYN/ACK on 80")
    assert captured.evidence == ("SYN/ACK on 80",)
    assert captured.summary == checked.summary


def test_filtered_in_connect_mode_speaks_of_attempts(mk: Any) -> None:
    t = mk.target(mk.connect_port(82, "filtered"), mk.connect_port(80, "open"))
    f = by_code(diagnose(t, mode=Method.CONNECT, timeout=1))["port-filtered"]
    assert "3 connection attempts to 82 timed out after 1 s each" in f.evidence


def test_rejected_names_the_firewall(mk: Any) -> None:
    t = build(mk, SCENARIOS["rejected by a firewall"][0])
    f = by_code(diagnose(t))["port-rejected"]
    assert f.summary == (
        f"The firewall at {ROUTER} rejects port 8443 (ICMP administratively prohibited)."
    )
    assert any(ROUTER in s and "192.0.2.10" in s for s in f.next_steps)


def test_rejected_by_the_host_itself(mk: Any) -> None:
    t = build(mk, SCENARIOS["rejected by the host's own firewall"][0])
    f = by_code(diagnose(t))["port-rejected"]
    assert "firewall on 198.18.2.1 itself" in f.summary and "port unreachable" in f.summary


def test_rejected_by_two_firewalls_names_both(mk: Any) -> None:
    t = mk.target(
        {"port": 8443, "state": "rejected"},
        {"port": 22, "state": "rejected", "responder": "198.18.1.1", "reason": "port-unreach"},
    )
    f = by_code(diagnose(t))["port-rejected"]
    assert ROUTER in f.summary and "198.18.1.1" in f.summary
    assert f.ports == (22, 8443)


def test_rejected_locally(mk: Any) -> None:
    t = build(mk, SCENARIOS["rejected locally (connect, EPERM)"][0])
    f = by_code(diagnose(t, mode=Method.CONNECT))["port-rejected"]
    assert f.summary == "This computer's own firewall blocks port 25."
    assert any("EACCES/EPERM" in e for e in f.evidence)


def test_partial_reachability_wording(mk: Any) -> None:
    t = build(mk, SCENARIOS["camera: NAT forwards 80, router resets 6036"][0])
    f = by_code(diagnose(t))["partial-reachability"]
    assert f.severity is Severity.WARNING
    assert f.summary == "The host is up and port 80 answers; the problem is limited to port 6036."


# --------------------------------------------------------------------------- path loss


def lossy(mk: Any, retried: dict[int, int], clean: int = 20, filtered: tuple[int, ...] = ()) -> Any:
    """A host whose ports 1..clean answered at once, ``retried`` {port: try} later, and
    ``filtered`` ports never (after 7 tries)."""
    ports = [mk.port(n, "refused") for n in range(1, clean + 1)]
    ports += [mk.port(n, "refused", tries=k) for n, k in retried.items()]
    ports += [mk.port(n, "filtered", tries=7) for n in filtered]
    return mk.target(*ports)


def test_path_loss_when_ports_answer_only_retransmissions(mk: Any) -> None:
    t = lossy(mk, {101: 2, 102: 2, 103: 3, 104: 2, 105: 4}, filtered=(200, 201, 202, 300))
    (f,) = [f for f in diagnose(t) if f.code == "path-loss"]
    assert f.severity is Severity.WARNING and f.ports == (101, 102, 103, 104, 105)
    # 5 of 25 answering ports needed a retry: 8 lost tries of 33 in all.
    assert f.summary == (
        "The path to 198.18.2.1 loses packets (about 24% of tries): ports 200-202, 300 may "
        "have lost every try rather than be dropped by a firewall."
    )
    assert f.evidence[0].startswith("5 of 25 answering ports answered only a retransmission")
    assert "up to try 4" in f.evidence[0]
    assert f.evidence[1] == (
        "at that loss all 7 tries fail by chance for about 1 port in 20,322; unanswered "
        "here: 200-202, 300"
    )
    assert f.next_steps[0].startswith("probe check 198.18.2.1 -p 200-202,300 --tries 9 again")
    assert "port-filtered" in {x.code for x in diagnose(t)}  # still reported as such


def test_path_loss_without_silent_ports_says_everything_answered(mk: Any) -> None:
    (f,) = [f for f in diagnose(lossy(mk, {101: 2, 102: 2, 103: 2})) if f.code == "path-loss"]
    assert f.summary.endswith("; every port still answered in the end.")
    assert f.next_steps[0].startswith("probe trace 198.18.2.1 --port 101")


@pytest.mark.parametrize(
    ("retried", "clean"),
    [
        ({101: 2, 102: 2}, 20),  # two retried ports: a blip, not a lossy path
        ({101: 2, 102: 2, 103: 2}, 200),  # three of 203: 1.5 % lost, under the 5 % bar
    ],
    ids=["few ports", "small share"],
)
def test_no_path_loss_for_a_blip(mk: Any, retried: dict[int, int], clean: int) -> None:
    assert "path-loss" not in {f.code for f in diagnose(lossy(mk, retried, clean))}


def test_no_path_loss_in_connect_mode(mk: Any) -> None:
    t = lossy(mk, {101: 2, 102: 2, 103: 3})
    assert "path-loss" not in {f.code for f in diagnose(t, mode=Method.CONNECT)}


# --------------------------------------------------------------------------- middlebox proof


def _rst_proof(port: int, answer: str, responder: str, **kw: Any) -> Any:
    """A TTL-limited confirmation SYN's evidence (middlebox.py), sent with TTL 1."""
    from probe.model import AnswerKind, PortEvidence

    return PortEvidence(
        "198.18.2.1",
        port,
        Method.RAW,
        AnswerKind(answer),
        1,
        responder=responder,
        probe_ttl=1,
        **kw,
    )


def _camera(mk: Any, *confirmations: Any) -> TargetReport:
    t = mk.target((80, "open", 63), (6036, "refused", 64), ping=mk.ping("ok", 64))
    return replace(t, confirmations=confirmations)


def test_middlebox_without_proof_keeps_its_evidence(mk: Any) -> None:
    f = by_code(diagnose(_camera(mk)))["port-refused-by-middlebox"]
    assert f.evidence == (
        "SYN/ACK on 80 with TTL 63 (≈ 1 hop); RST on 6036 with TTL 64 (≈ 0 hops): one hop closer",
    )


def test_middlebox_cites_the_ttl_limited_proof(mk: Any) -> None:
    t = _camera(mk, _rst_proof(6036, "rst", "198.18.2.1", ttl=64, window=0))
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert f.evidence[0].endswith("one hop closer")  # the suspicion, then its proof
    assert f.evidence[1] == (
        "a SYN to 6036 with TTL 1 — enough for hop 1, too short to reach the host — still "
        "drew the RST from 198.18.2.1: the device at hop 1 answers for the host"
    )


def test_middlebox_says_when_the_proof_fails(mk: Any) -> None:
    t = _camera(mk, _rst_proof(6036, "icmp", ROUTER, icmp_type=11, icmp_code=0, ttl=64))
    found = by_code(diagnose(t))
    assert "port-refused" not in found
    proof = found["port-refused-by-middlebox"].evidence[1]
    assert "time exceeded from 198.18.0.1" in proof and "not confirmed" in proof


def test_middlebox_flags_a_syn_proxy_and_another_ip_stack(mk: Any) -> None:
    forged = mk.port(443, "open", 64, window=0, tcp_options=TcpOptions(), ip_id=0)
    t = mk.target(
        mk.port(80, "open", 62, ip_id=4711),
        forged,
        mk.port(6036, "refused", 64, ip_id=0),
        ping=mk.ping("ok", 62),
    )
    evidence = by_code(diagnose(t))["port-refused-by-middlebox"].evidence
    assert any(e.startswith("SYN/ACK on 443 with window 0 and no TCP options") for e in evidence)
    assert any(
        e.startswith("RST on 6036 with IP ID 0, the host's own answers (SYN/ACK on 80)")
        for e in evidence
    )


def test_proof_for_a_host_refused_port_is_not_quoted(mk: Any) -> None:
    t = mk.target((80, "open", 63), (81, "refused", 63))
    t = replace(t, confirmations=(_rst_proof(81, "rst", "198.18.2.1", ttl=63),))
    found = by_code(diagnose(t))
    assert "port-refused-by-middlebox" not in found
    assert not any("TTL 1" in e for f in found.values() for e in f.evidence)


# --------------------------------------------------------------------------- ports set aside


def test_the_default_profiles_closed_ports_get_no_finding(mk: Any) -> None:
    other = {"asked": False}
    t = mk.target(
        (80, "open"),
        {"port": 21, "state": "refused", **other},
        {"port": 22, "state": "refused", "ttl": 64, **other},  # even a middlebox's RST
        {"port": 23, "state": "filtered", **other},
        {"port": 25, "state": "rejected", **other},
    )
    assert diagnose(t) == ()
    # the same ports asked for by name: today's findings
    named = mk.target(*(replace(p, asked=True) for p in t.ports))
    assert [f.code for f in diagnose(named)] == [
        "port-refused-by-middlebox",
        "port-refused",
        "port-rejected",
        "port-filtered",
        "partial-reachability",
    ]


def test_a_port_asked_for_beside_the_ones_set_aside(mk: Any) -> None:
    t = mk.target((80, "open"), (8080, "refused"), {"port": 21, "state": "refused", "asked": False})
    findings = {f.code: f.ports for f in diagnose(t)}
    assert findings == {"port-refused": (8080,), "partial-reachability": (8080,)}
