"""Rules about the whole host: duplicate-ip, host-down-on-link, host-unreachable,
host-silent, icmp-blocked. They run before the per-port rules, and a host-level finding
takes the ports it explains (``Context.link_down``, ``host_unreachable``, ``host_silent``)."""

from __future__ import annotations

from probe.diagnosis.classify import connect_errnos, reason_text
from probe.diagnosis.context import Context, ping_status
from probe.diagnosis.words import (
    cap,
    endpoints,
    group,
    numbers,
    port_words,
    ports_words,
    probed_words,
    sent_word,
    ttl_words,
    verb,
)
from probe.model import Finding, PingStatus, PortState, Severity, TargetReport


def duplicate_ip(t: TargetReport, ctx: Context) -> Finding | None:
    """duplicate-ip: more than one MAC address answers ARP / neighbour solicitation."""
    if t.arp is None:
        return None
    macs = tuple(dict.fromkeys(m.lower() for m in t.arp.macs))
    if len(macs) < 2:
        return None
    asked = "neighbour advertisements" if t.family == 6 else "ARP replies"
    return Finding(
        code="duplicate-ip",
        severity=Severity.ERROR,
        summary=f"More than one device answers for {ctx.host} ({', '.join(macs)}): an IP address "
        "conflict, so connections reach one or the other at random.",
        evidence=(f"{asked} for {ctx.host} from {len(macs)} MAC addresses: {', '.join(macs)}",),
        next_steps=(
            "find the devices by MAC address: the switch's MAC address table or the DHCP "
            "server's leases (the first three bytes name the vendor of each network card)",
            "give one of them another address; the usual cause is a static address inside the "
            "DHCP pool",
        ),
    )


def host_down_on_link(t: TargetReport, ctx: Context) -> Finding | None:
    """host-down-on-link: the target is on the client's segment and nothing answers ARP."""
    if not ctx.link_down:
        return None
    asked = "no neighbour advertisement" if t.family == 6 else "no ARP reply"
    iface = f" on {t.route.interface}" if t.route is not None and t.route.interface else ""
    arp = t.arp
    tried = ""
    if arp is not None and arp.requests:
        what = "neighbour solicitations" if t.family == 6 else "ARP requests"
        tried = f" to {arp.requests} {what} within {arp.wait_s:g} s"
    segment = "(it is on the client's own network segment)"
    evidence = [f"{asked} for {ctx.host}{iface}{tried} {segment}"]
    evidence += ctx.ping_lines(t.ping)
    ports = numbers(t.ports)
    if ports:
        evidence.append(f"no answer on {port_words(ports)}")
    return Finding(
        code="host-down-on-link",
        severity=Severity.ERROR,
        ports=ports,
        summary=f"Nothing on the local network answers for {ctx.host}: the device is off or "
        "disconnected, on another VLAN, or the address is wrong.",
        evidence=tuple(evidence),
        next_steps=(
            "check that the device is powered on and connected (cable and link light, Wi-Fi)",
            f"check the device's own IP address and subnet mask: is it really {ctx.host}?",
            "check that the device's switch port is in the same VLAN as the client",
        ),
    )


def host_unreachable(t: TargetReport, ctx: Context) -> Finding | None:
    """host-unreachable: routers answered ICMP host/network unreachable (named)."""
    unreach = (
        *ctx.state(PortState.UNREACHABLE),
        *(p for p in ctx.udp if p.state is PortState.UNREACHABLE),
    )
    ping_unreach = t.ping is not None and t.ping.status is PingStatus.UNREACHABLE
    if ctx.link_down or not (unreach or (ping_unreach and not ctx.host_answered)):
        return None
    routers = list(dict.fromkeys(p.responder for p in unreach if p.responder))
    if ping_unreach and t.ping is not None and t.ping.responder and t.ping.responder not in routers:
        routers.append(t.ping.responder)
    nets = {p.reason for p in unreach} == {"net-unreach"}
    what = "network unreachable" if nets else "host unreachable"

    evidence: list[str] = []
    if ping_unreach:
        evidence += ctx.ping_lines(t.ping)
    for g in group(unreach, lambda p: (p.responder, p.reason, p.ttl, p.protocol)):
        p, named = g[0], ports_words(g)
        if p.responder is None:
            errnos = " or ".join(connect_errnos(p.reason, p.protocol)) or p.reason
            if ctx.connect:
                did = f"connect() to {named} failed"
            else:  # the raw engine's sendto() was refused: failed ARP or an unreachable route
                did = f"this computer's kernel refused to send to {named}"
            evidence.append(f"{did}: {what} ({errnos})")
        else:
            ttl = f", {ttl_words(p.ttl)}" if p.ttl is not None else ""
            evidence.append(
                f"{reason_text(p.reason)} from {p.responder} for {sent_word(p)} to {named}{ttl}"
            )
    covered = list(unreach)
    if ctx.host_unreachable:
        silent = [
            *ctx.state(PortState.FILTERED),
            *(p for p in ctx.udp if p.state is PortState.OPEN_FILTERED),
        ]
        if silent:
            evidence.append(
                f"no answer at all on {ports_words(silent)}: routers rate-limit their ICMP "
                "errors, so some probes get nothing back"
            )
            covered.extend(silent)
    ports, protocols = endpoints(covered)

    probe_port = ports[0] if ports else 80
    steps = [f"probe trace {ctx.host} --port {probe_port} shows how far the SYN gets"]
    if routers:
        steps.append(f"check the routing table of {', '.join(routers)} toward {ctx.host}")
    steps.append(f"check that {ctx.host} is up and connected on its own network")

    if ctx.host_answered:
        up = numbers(ctx.state(PortState.OPEN)) or numbers(ctx.host_refused)
        by = f"the router at {', '.join(routers)}" if routers else "the network"
        summary = (
            f"{cap(ports_words(covered))} {verb(ports, 'gets', 'get')} {what} from {by} although "
            f"the host answers on {port_words(up) if up else 'other ports'}: most likely a "
            "firewall rejecting with an unreachable message."
        )
        steps[1:1] = [f"look for a reject rule for {ports_words(covered)} on {by}"]
    elif routers:
        who = "router at" if len(routers) == 1 else "routers at"
        says = "reports" if len(routers) == 1 else "report"
        summary = (
            f"The {who} {', '.join(routers)} {says} {ctx.host} as unreachable ({what}): the "
            "host is down, or that router has no working route to it."
        )
    else:
        summary = (
            f"The host {ctx.host} cannot be reached ({what}): a router on the way reported it "
            "unreachable, or nothing answered ARP on the local network."
        )
    return Finding(
        code="host-unreachable",
        severity=Severity.ERROR,
        ports=ports,
        protocols=protocols,
        summary=summary,
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def host_silent(t: TargetReport, ctx: Context) -> Finding | None:
    """host-silent: no ping reply (or no ping) and no answer on any port."""
    if not ctx.host_silent:
        return None
    ports, protocols = endpoints(t.ports)
    if not ports:
        nothing = "no reply to ping (no ports were probed)"
    elif ping_status(t) is not PingStatus.SKIPPED:
        nothing = f"no reply to ping and no answer on {probed_words(ports)}"
    elif ctx.ping_step:
        nothing = f"no answer on {probed_words(ports)} (ping was skipped)"
    else:  # no ping step at all (a capture): nothing to say about ping, nothing was probed
        nothing = f"no answer on {probed_words(ports, 'attempted')}"
    evidence = [*ctx.ping_lines(t.ping), *ctx.syn_lines(t.ports)]
    steps = ["check that the host is up (console, hypervisor, someone on site)"]
    if t.address is not None and t.input != t.address:
        evidence.append(f"{t.input} resolved to {t.address}")
        steps.append(f"check that {t.address} is still the right address for {t.input}")
    else:
        steps.append(f"check that {ctx.host} is the right address")
    steps.append(
        f"probe trace {ctx.host} --port {ports[0] if ports else 80} shows where the packets stop"
    )
    steps.append("check the firewall in front of the host: a default-drop policy answers nothing")
    return Finding(
        code="host-silent",
        severity=Severity.ERROR,
        ports=ports,
        protocols=protocols,
        summary=f"The host {ctx.host} answers nothing: {nothing}, so the host is down or "
        "everything to it is dropped (firewall, wrong address, blackhole route).",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def icmp_blocked(t: TargetReport, ctx: Context) -> Finding | None:
    """icmp-blocked: ping got nothing (or an unreachable) but the host answered on TCP."""
    if ping_status(t) not in (PingStatus.NO_REPLY, PingStatus.UNREACHABLE) or not ctx.host_answered:
        return None
    opened = [*ctx.state(PortState.OPEN), *(p for p in ctx.udp if p.state is PortState.OPEN)]
    up = f"on {ports_words(opened)}" if opened else "TCP probes"
    return Finding(
        code="icmp-blocked",
        severity=Severity.INFO,
        summary=f"The host {ctx.host} is up (it answers {up}) but not to ping: ICMP echo is "
        "filtered, so ping is not a valid test for this host.",
        evidence=(*ctx.ping_lines(t.ping), ctx.answers_line()),
        next_steps=(
            "test this host with a TCP port (probe check, Test-NetConnection, nc -vz) "
            "instead of ping",
            "if monitoring needs ping, allow ICMP echo on the host's firewall or the firewall "
            "in front of it",
        ),
    )
