"""Host discovery before a run of many addresses (pure): which addresses are alive, from
what came back to a few cheap probes, and the words that say what was left out.

Large ranges mostly hold nothing, and a port scan of a silent address costs every try's
timeout on every port. As nmap does by default, a run of more than ``THRESHOLD`` addresses
first sends each address four cheap probes, and probes ports only on those that answered
one of them; ``--all-hosts`` (nmap's ``-Pn``) skips this. The probes, and why each:

- ICMP echo: most hosts answer, but Windows' firewall drops echo by default, and so do
  many servers' and firewalls' rules;
- a SYN to 443: a web server answers SYN/ACK, anything else RST — a host that drops ICMP
  still answers TCP;
- a bare ACK to 80: any host answers an ACK of no connection with a RST, listening or not,
  and stateless filters that drop SYNs to the inside let ACKs (replies, to them) through;
- ARP / neighbour solicitation for on-link addresses: a host answers before any firewall
  rule sees the packet, so nothing on the local segment hides from it.

Any answer from the address itself proves it alive: an echo reply, a SYN/ACK, a RST, an
ICMP error it sent (a router's "host unreachable" proves the opposite), an ARP reply.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from probe.engine.base import Job
from probe.model import AnswerKind, ArpResult, Method, PortEvidence

THRESHOLD = 256  # more addresses than this: discovery first (a /24 is probed as it is)
SYN_PORT = 443
ACK_PORT = 80
TRIES = 2  # per probe: one loss must not hide a host, and four probes back each other up
# Probes in flight at the start of discovery's scan. Most addresses of a large range are
# silent, and a probe to a silent address holds its place in the window for the whole
# timeout without ever growing it: from the engine's usual 64, a /16 would take half an
# hour. 1024 is about a thousand 40-byte probes a second at a 1 s timeout, the pace of
# nmap -T4's discovery; answers and proven drops still move it as usual.
WINDOW = 1024.0


class Probe(StrEnum):
    """A discovery probe; the members are the JSON's words."""

    ECHO = "icmp-echo"
    SYN = "tcp-syn-443"
    ACK = "tcp-ack-80"
    # Without raw sockets (the connect() engine) the same two ports get a connection
    # attempt each: connected or refused, the host answered (nmap's unprivileged discovery).
    CONNECT_443 = "tcp-connect-443"
    CONNECT_80 = "tcp-connect-80"
    ARP = "arp"  # ARP, or neighbour solicitation for IPv6


_WORDS = {
    Probe.ECHO: "ICMP echo",
    Probe.SYN: f"SYN to {SYN_PORT}",
    Probe.ACK: f"ACK to {ACK_PORT}",
    Probe.CONNECT_443: f"connect() to {SYN_PORT}",
    Probe.CONNECT_80: f"connect() to {ACK_PORT}",
    Probe.ARP: "ARP",
}


@dataclass(frozen=True)
class Discovery:
    """What host discovery found: the probes sent, each live address with the probes it
    answered (in address order), and the silent rest as CIDR blocks — not probed further."""

    asked: int
    probes: tuple[Probe, ...]
    alive: tuple[tuple[str, tuple[Probe, ...]], ...]
    silent: tuple[str, ...]
    interrupted: bool = False  # cut short: the silent ones were not all asked to the end

    @property
    def skipped(self) -> int:
        return self.asked - len(self.alive)


def wanted(addresses: int, enabled: bool) -> bool:
    """Discovery runs when it is enabled (check's default) and the run is large."""
    return enabled and addresses > THRESHOLD


def tcp_probes(method: Method) -> list[Probe]:
    """The engine's two probes, as that engine sends them."""
    return (
        [Probe.CONNECT_443, Probe.CONNECT_80]
        if method is Method.CONNECT
        else [Probe.SYN, Probe.ACK]
    )


def jobs(addresses: Iterable[str], source: str | None = None) -> list[Job]:
    """The engine's part: a SYN to 443 and an ACK to 80 for every address (from ``source``)."""
    out: list[Job] = []
    for a in addresses:
        out += (Job(a, SYN_PORT, source=source), Job(a, ACK_PORT, ack=True, source=source))
    return out


def answered(ev: PortEvidence) -> bool:
    """The address itself answered this probe. connect() names no responder: a connection
    made or refused is the host's answer, its other errors are not."""
    if ev.answer in (AnswerKind.SYN_ACK, AnswerKind.RST):
        return ev.responder is None or ev.responder == ev.address
    return ev.answer is AnswerKind.ICMP and ev.responder == ev.address


def decide(
    addresses: Sequence[str],
    probes: Sequence[Probe],
    evidence: Iterable[PortEvidence],
    echoed: Collection[str] = (),
    neighbours: Mapping[str, ArpResult | None] | None = None,
    *,
    interrupted: bool = False,
) -> Discovery:
    """The live addresses among ``addresses``, from the engine's ``evidence`` (SYNs and
    ACKs), the addresses that answered echo (``echoed``) and the ARP/ND answers."""
    by: dict[str, list[Probe]] = {a: [] for a in addresses}
    for a in echoed:
        if a in by:
            by[a].append(Probe.ECHO)
    for ev in evidence:
        if ev.address in by and answered(ev):
            syn, ack = tcp_probes(ev.method)
            by[ev.address].append(ack if ev.port == ACK_PORT else syn)
    for a, arp in (neighbours or {}).items():
        if arp is not None and arp.macs and a in by:
            by[a].append(Probe.ARP)
    order = {p: k for k, p in enumerate(Probe)}
    alive = [(a, tuple(sorted(set(got), key=order.__getitem__))) for a, got in by.items() if got]
    return Discovery(
        asked=len(by),
        probes=tuple(probes),
        alive=tuple(sorted(alive, key=lambda item: _sort_key(item[0]))),
        silent=blocks(a for a, got in by.items() if not got),
        interrupted=interrupted,
    )


def merge(a: Discovery | None, b: Discovery | None) -> Discovery | None:
    """Two parts of one run's discovery (a run checked in batches) as one record."""
    if a is None or b is None:
        return a or b
    alive = sorted((*a.alive, *b.alive), key=lambda item: _sort_key(item[0]))
    silent = (ipaddress.ip_network(n) for n in (*a.silent, *b.silent))
    return Discovery(
        asked=a.asked + b.asked,
        probes=tuple(p for p in Probe if p in a.probes or p in b.probes),
        alive=tuple(alive),
        silent=_collapse(silent),
        interrupted=a.interrupted or b.interrupted,
    )


def blocks(addresses: Iterable[str]) -> tuple[str, ...]:
    """Addresses as the fewest CIDR blocks that hold exactly them, IPv4 first."""
    return _collapse(ipaddress.ip_network(a) for a in addresses)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _collapse(networks: Iterable[Network]) -> tuple[str, ...]:
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for net in networks:
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    nets = [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]
    return tuple(str(n) for n in nets)


def _sort_key(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


def words(probes: Sequence[Probe]) -> str:
    """The probes in words: ICMP echo, SYN to 443, ACK to 80, ARP."""
    return ", ".join(_WORDS[p] for p in probes)


def summary(d: Discovery) -> str:
    """The one line the report carries (a note): how many were left out, and why."""
    how = f"did not answer host discovery ({words(d.probes)})"
    if d.interrupted:
        return f"Host discovery was interrupted: {len(d.alive):,} of {d.asked:,} addresses answered"
    if not d.alive:
        return (
            f"No address of the {d.asked:,} answered host discovery ({words(d.probes)}): "
            "no port probed; --all-hosts probes them all"
        )
    if not d.skipped:
        return f"All {d.asked:,} addresses answered host discovery ({words(d.probes)})"
    return f"{d.skipped:,} of {d.asked:,} addresses {how}: not probed; --all-hosts probes them all"
