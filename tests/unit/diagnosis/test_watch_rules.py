"""The intermittency rules over recorded attempt logs: each fires on its pattern, and none
fires on a healthy series of the same length."""

from __future__ import annotations

import random

import pytest
from watch_cases import (
    FLAP_40,
    HEALTHY_40,
    LB_ONE_DEAD_OF_3,
    LOSSY_40,
    T0,
    attempts,
)

from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.names import Resolution, dns_changed
from probe.diagnosis.watch.rules import diagnose_host
from probe.model import Finding, Severity

ADDR = "198.18.1.10"


def codes(found: tuple[Finding, ...]) -> list[str]:
    return [f.code for f in found]


def test_healthy_series_gets_no_finding() -> None:
    log = attempts(HEALTHY_40) + attempts("r" * 40, port=81)
    assert diagnose_host(ADDR, log) == ()


@pytest.mark.parametrize("seed", range(5))
def test_healthy_series_with_ordinary_rtt_noise_gets_no_finding(seed: int) -> None:
    rnd = random.Random(seed)
    rtts = [rnd.uniform(0.1, 3.0) for _ in range(60)]
    assert diagnose_host(ADDR, attempts("o" * 60, rtts=rtts)) == ()


def test_one_dead_backend_of_three_is_intermittent_refusal() -> None:
    ttls = [63, 127, 63] * 14
    found = diagnose_host(ADDR, attempts(LB_ONE_DEAD_OF_3, ttls=ttls[:40]))
    assert codes(found) == ["intermittent-refusal"]
    f = found[0]
    assert f.ports == (80,) and f.severity is Severity.ERROR
    assert "one dead backend among 3" in f.summary
    text = " ".join(f.evidence)
    assert "13 of 40 attempts failed (32 %: 13 refused), 27 open" in text
    assert "close to 1 in 3" in text
    assert "2 different stacks" in text  # TTL 63 and 127 among the SYN/ACKs
    assert "never more than 1 in a row" in text


def test_bunched_failures_are_flapping_not_refusal() -> None:
    log = attempts(FLAP_40) + attempts(FLAP_40.replace("o", "r"), port=81)
    found = diagnose_host(ADDR, log)
    assert codes(found) == ["flapping"]
    f = found[0]
    assert f.ports == (80, 81)
    assert "2 windows" in f.summary
    assert any("every watched port" in e for e in f.evidence)
    assert any("6 rounds in a row failed" in e for e in f.evidence)


def test_answers_to_retransmissions_are_syn_loss() -> None:
    found = diagnose_host(ADDR, attempts(LOSSY_40))
    assert codes(found) == ["syn-loss"]
    assert "answered only to a retransmitted SYN" in found[0].evidence[0]
    assert (
        "9 of 40 attempts answered only to a retransmitted SYN (7 on SYN #2, 2 on SYN #3); "
        "3 not answered at all" in found[0].evidence[0]
    )


def test_connect_times_at_the_retransmission_timer_are_syn_loss() -> None:
    rtts = [0.4] * 30
    for k in (3, 11, 19, 25):
        rtts[k] = 1000.4
    found = diagnose_host(ADDR, attempts("o" * 30, rtts=rtts), connect=True)
    assert codes(found) == ["syn-loss"]
    assert "SYN retransmission times" in found[0].evidence[0]


def test_rare_slow_answers_are_latency_spikes() -> None:
    rtts = [0.5] * 40
    rtts[7], rtts[23], rtts[31] = 180.0, 240.0, 95.0
    found = diagnose_host(ADDR, attempts("o" * 40, rtts=rtts))
    assert codes(found) == ["latency-spikes"]
    assert "3 of 40 answers" in found[0].evidence[0]


def test_silence_on_an_open_port_beside_a_steady_closed_one_is_overload() -> None:
    log = attempts("oo.ooo.oo2oooo.ooooo2oo.oooo") + attempts("r" * 28, port=81)
    found = diagnose_host(ADDR, log)
    assert codes(found) == ["overload-vs-firewall"]
    assert found[0].ports == (80,)
    assert "port 81 of the same host answered RST to every first SYN" in found[0].evidence[-1]


def test_short_series_say_nothing() -> None:
    assert diagnose_host(ADDR, attempts("oro")) == ()


def resolutions(*answers: tuple[str, ...]) -> list[Resolution]:
    return [Resolution(T0 + 10 * k, 10 * k, "web.probe.test", a) for k, a in enumerate(answers)]


def test_dns_changed() -> None:
    same = resolutions(("198.18.1.10",), ("198.18.1.10",))
    assert dns_changed(same) is None
    f = dns_changed(resolutions(("198.18.1.10",), ("198.18.1.10",), ("198.18.1.11",)))
    assert f is not None and f.code == "dns-changed"
    assert "2 different answers in 3 lookups" in f.summary
    assert any("198.18.1.11, before: 198.18.1.10" in e for e in f.evidence)


def test_attempt_is_a_frozen_record() -> None:
    a = attempts("o")[0]
    with pytest.raises(AttributeError):
        a.port = 81  # type: ignore[misc]
    assert isinstance(a, Attempt)


@pytest.mark.parametrize(
    "pattern", [LB_ONE_DEAD_OF_3, FLAP_40, LOSSY_40, "oo.ooo.oo2oooo.ooooo2oo.oooo"]
)
def test_a_healthy_series_of_the_same_length_gets_nothing(pattern: str) -> None:
    # every rule's pattern fires above; the same number of attempts, all open at once, with
    # a closed port beside, must not
    log = attempts("o" * len(pattern)) + attempts("r" * len(pattern), port=81)
    assert diagnose_host(ADDR, log) == ()


def test_flapping_needs_bunches_not_just_failures() -> None:
    # the same 11 failures as FLAP_40, spread out: no windows
    spread = "ooo." * 10
    found = codes(diagnose_host(ADDR, attempts(spread)))
    assert "flapping" not in found


def test_syn_cookie_signs_are_quoted() -> None:
    from dataclasses import replace

    from probe.model import TcpOptions

    bare = TcpOptions(mss=1460)
    log = attempts("oo.ooo.oo2oooo.ooooo2oo.oooo")
    log = [replace(a, tcp_options=bare) if a.round in (3, 9) else a for a in log]
    log += attempts("r" * 28, port=81)
    (f,) = diagnose_host(ADDR, log)
    assert f.code == "overload-vs-firewall"
    assert any("SYN cookies" in e for e in f.evidence)
