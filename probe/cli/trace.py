"""``probe trace``: TCP traceroute to one port, or (``--udp``, ``53/udp``) UDP traceroute."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from probe.cli import options as o
from probe.errors import PortSpecError, TargetError, quoted


def trace(
    target: Annotated[
        str, typer.Argument(metavar="TARGET", help="A host name, an IPv4 or an IPv6 address.")
    ],
    port: Annotated[
        str,
        typer.Option(
            "--port",
            "-p",
            metavar="N",
            help="The port to trace (a number or service name; 53/udp or --udp for UDP).",
        ),
    ],
    udp: Annotated[
        bool,
        typer.Option(
            "--udp",
            help="Trace a UDP port: datagrams carrying the port's request (DNS query, NTP "
            "request, SIP OPTIONS, ...), like traceroute -U -p N.",
        ),
    ] = False,
    max_hops: Annotated[
        int,
        typer.Option(
            "--max-hops",
            metavar="N",
            parser=o.whole("--max-hops", 1, 255),
            help="Highest TTL to send, 1 to 255.",
        ),
    ] = 30,
    silent_hops: Annotated[
        int,
        typer.Option(
            "--silent-hops",
            metavar="N",
            parser=o.whole("--silent-hops", 1, 255),
            help="Stop after this many silent hops past the last answer, 1 to 255.",
        ),
    ] = 3,
    json_out: o.JsonOpt = False,
    nameserver: o.NameserverOpt = None,
    tries: Annotated[
        int,
        typer.Option(
            "--tries",
            metavar="N",
            parser=o.whole("--tries", 1, 15),
            help="SYNs per hop (TTL; datagrams with --udp) before the hop counts as silent, "
            "1 to 15.",
        ),
    ] = 3,
    timeout: o.TimeoutOpt = 1.0,
    source: o.SourceOpt = None,
    ipv4: o.V4Opt = False,
    ipv6: o.V6Opt = False,
    pcap: o.PcapOpt = None,
) -> int:
    """TCP traceroute: SYNs to one port with TTL 1, 2, ... to find the hop where the SYN
    dies. With --udp (or a port like 53/udp): datagrams carrying the port's request, like
    classic traceroute. Needs raw sockets (root or CAP_NET_RAW).

    Examples:

      probe trace camera.example.com --port 6036

      probe trace 192.0.2.10 -p 443 --max-hops 15 --json

      probe trace pbx.example.com --udp --port 5060
    """
    from probe.output.registry import render
    from probe.plan.ports import parse_ports
    from probe.plan.targets import parse_target
    from probe.session.options import TraceOptions
    from probe.session.trace import exit_status

    requests = parse_ports(port, o.only(udp), "--udp traces a UDP port")
    if len(requests) != 1:
        raise PortSpecError(f"trace follows one port, not {len(requests)} ({quoted(port)})")
    parsed = parse_target(target)
    if len(parsed) != 1:
        raise TargetError(f"trace follows one host: {quoted(target)} holds {len(parsed)} addresses")
    opts = TraceOptions(
        port=requests[0].port,
        max_hops=max_hops,
        tries=tries,
        timeout=timeout,
        silent_hops=silent_hops,
        nameservers=tuple(nameserver or ()),
        families=o.families(ipv4, ipv6),
        protocol=requests[0].protocol,
        source=source,
    )
    with o.session() as session, o.pcap(pcap) as packet_log:
        report = session.trace(parsed[0], opts, packet_log=packet_log)
    with o.writing_report():
        render(report, o.output_format(json_out), sys.stdout)
    return exit_status(report)
