"""Rules about the handshake's TCP options: mss-clamped, tcp-options-stripped. On every port
of a host alike they are remarks (info); on some ports only they point at a device in front
of those ports (warning)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from probe.diagnosis.context import Context
from probe.diagnosis.words import and_list, cap, group, numbers, port_list, port_words, verb
from probe.model import Finding, PortResult, PortState, Severity, TargetReport

# What a SYN/ACK announces on a plain Ethernet path: MTU 1500 less the IP and TCP headers.
_ETHERNET_MSS: Final[Mapping[int, int]] = {4: 1460, 6: 1440}

# IPv4 MSS values that name their usual cause (IPv6: 20 bytes less).
_MSS_CAUSES: Final[Mapping[int, str]] = {
    1452: "PPPoE (MTU 1492, DSL lines)",
    1436: "a GRE tunnel (MTU 1476)",
    1380: "a Cisco ASA's default MSS rewrite, or WireGuard (MTU 1420)",
    536: "the TCP default, used when no MSS is announced",
}

# What our SYN offers (engine/raw.py), so that its absence in the SYN/ACK means something.
_OFFERED = "our SYN offered MSS 1460, SACK, timestamps and window scale 7"


def _mss(p: PortResult) -> int:
    assert p.tcp_options is not None and p.tcp_options.mss is not None
    return p.tcp_options.mss


def mss_clamped(t: TargetReport, ctx: Context) -> Finding | None:
    """mss-clamped: SYN/ACKs announce an MSS below the Ethernet one (1460, IPv6 1440): a
    tunnel or VPN on the way, or a device rewriting the MSS."""
    family = t.family or 4
    base = _ETHERNET_MSS[family]
    known = [
        p
        for p in ctx.state(PortState.OPEN)
        if p.tcp_options is not None and p.tcp_options.mss is not None
    ]
    low = [p for p in known if _mss(p) < base]
    if not low:
        return None
    ports = numbers(low)
    evidence = []
    for g in group(low, _mss):
        mss = _mss(g[0])
        cause = _MSS_CAUSES.get(mss + (20 if family == 6 else 0))
        typical = f" (typical of {cause})" if cause else ""
        evidence.append(
            f"SYN/ACK on {port_list(numbers(g))} announces MSS {mss}: {base - mss} bytes less "
            f"than the {base} of an IPv{family} path with MTU 1500{typical}"
        )
    normal = [p for p in known if _mss(p) >= base]
    if normal:
        sizes = "/".join(str(m) for m in sorted({_mss(p) for p in normal}))
        evidence.append(f"SYN/ACK on {port_list(numbers(normal))} announces MSS {sizes}")
        summary = (
            f"{cap(port_words(ports))} on {ctx.host} {verb(ports, 'announces', 'announce')} a "
            "smaller MSS than the host's other ports: a device in front of "
            f"{verb(ports, 'that port', 'those ports')} (load balancer, proxy, firewall) "
            "rewrites the handshake."
        )
    else:
        sizes = "/".join(str(m) for m in sorted({_mss(p) for p in low}))
        summary = (
            f"The server announces MSS {sizes}, not the {base} of a plain Ethernet path: the "
            "path goes through a tunnel or VPN (PPPoE, IPsec, GRE), or a firewall rewrites "
            "the MSS."
        )
    probe_size = 1472 if family == 4 else 1452  # fills a 1500-byte packet with ICMP headers
    six = " -6" if family == 6 else ""
    first = (
        "capture on the server: if its own SYN/ACK on "
        f"{port_list(ports)} announces {base}, a device on the way rewrites it"
        if normal
        else "usually harmless and often deliberate: the clamp keeps packets small enough for "
        "the tunnel on the way"
    )
    return Finding(
        code="mss-clamped",
        severity=Severity.WARNING if normal else Severity.INFO,
        ports=ports,
        summary=summary,
        evidence=(*evidence, _OFFERED),
        next_steps=(
            first,
            "if small requests work but large transfers stall (pages half load, copies hang), "
            f"check the path MTU: ping{six} -M do -s {probe_size} {ctx.host} (Windows: ping "
            f"-f -l {probe_size} {ctx.host}) must not say 'message too long'",
            "if no tunnel is expected on this path, look for a firewall rewriting the MSS "
            "(Cisco ASA: sysopt connection tcpmss; iptables TCPMSS; nftables maxseg size set)",
        ),
    )


def _features(p: PortResult) -> dict[str, bool]:
    o = p.tcp_options
    assert o is not None
    return {
        "SACK": o.sack_permitted,
        "timestamps": o.timestamps,
        "window scaling": o.wscale is not None,
    }


def tcp_options_stripped(t: TargetReport, ctx: Context) -> Finding | None:
    """tcp-options-stripped: a SYN/ACK without SACK, timestamps or window scaling where the
    host's other ports have them (a device in front of those ports), or none of the three
    on any port (an old stack, or a firewall normalising options). Timestamps missing
    everywhere alone is Windows' default and no finding."""
    known = [p for p in ctx.state(PortState.OPEN) if p.tcp_options is not None]
    if not known:
        return None
    feats = {p.port: _features(p) for p in known}
    somewhere = {n for f in feats.values() for n, on in f.items() if on}
    lacking: dict[int, tuple[str, ...]] = {}
    for p in known:
        missing = tuple(n for n, on in feats[p.port].items() if not on and n in somewhere)
        if missing:
            lacking[p.port] = missing
    bare = () if somewhere else numbers(known)
    if not lacking and not bare:
        return None
    ports = tuple(sorted({*lacking, *bare}))
    evidence: list[str] = []
    if lacking:
        having = numbers(p for p in known if p.port not in lacking)
        groups: dict[tuple[str, ...], list[int]] = {}
        for port, missing in lacking.items():
            groups.setdefault(missing, []).append(port)
        for missing, nums in groups.items():
            others = f"which the SYN/ACK on {port_list(having)} has" if having else ""
            evidence.append(
                f"SYN/ACK on {port_list(nums)} without {and_list(missing)}"
                + (f", {others}" if others else "")
            )
        summary = (
            f"The handshake on {port_words(ports)} of {ctx.host} lacks TCP options "
            f"({and_list(list(dict.fromkeys(n for m in lacking.values() for n in m)))}) that "
            "the host's other ports announce: a device in front of "
            f"{verb(ports, 'that port', 'those ports')} (load balancer, proxy, firewall) "
            "answers or rewrites the handshake."
        )
        steps = [
            "capture on the server: if its own SYN/ACK carries the options, a device on the way "
            "strips them (firewall TCP normalisation such as a Cisco ASA tcp-map, or a load "
            "balancer's TCP profile)",
            f"probe trace {ctx.host} --port {ports[0]} shows the hops in front of the port",
        ]
    else:
        evidence.append(
            f"SYN/ACK on {port_list(bare)} with none of SACK, timestamps or window scaling"
        )
        summary = (
            f"{ctx.host} answers the handshake without SACK, timestamps or window scaling: an "
            "old or embedded TCP stack, or a firewall stripping TCP options; connections work "
            "but are slow on long or lossy paths."
        )
        steps = [
            "if the server runs a general-purpose OS, check its TCP settings (Linux: sysctl "
            "net.ipv4.tcp_sack, tcp_timestamps, tcp_window_scaling; Windows: netsh int tcp "
            "show global)",
            "otherwise look for a firewall normalising TCP options on the way",
        ]
    return Finding(
        code="tcp-options-stripped",
        severity=Severity.WARNING if lacking else Severity.INFO,
        ports=ports,
        summary=summary,
        evidence=(*evidence, _OFFERED),
        next_steps=tuple(steps),
    )
