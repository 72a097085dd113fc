"""``probe check``: the checklist against each target."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from probe.cli import options as o
from probe.errors import BadInput, quoted

TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="TARGET", help="Host names, IPv4/IPv6 addresses or CIDR blocks."),
]
TargetsFileOpt = Annotated[
    str | None,
    typer.Option(
        "--targets-file",
        "-iL",
        metavar="FILE",
        help="Read more targets from FILE (one per line, # comments; - for stdin).",
    ),
]
AppOpt = Annotated[
    bool,
    typer.Option(
        "--app",
        help="After an open port: a full connect() and a protocol hello (HTTP request, TLS "
        "handshake and certificate, SSH/SMTP/FTP/POP3/IMAP banner).",
    ),
]
AppProtocolOpt = Annotated[
    str | None,
    typer.Option(
        "--app-protocol",
        metavar="NAME",
        help="The hello to use on every open port instead of the port's service name: http, "
        "tls, ssh, smtp, ftp, pop3, imap, banner or generic. Implies --app.",
    ),
]
AllHostsOpt = Annotated[
    bool,
    typer.Option(
        "--all-hosts",
        "-Pn",
        help="Probe the ports of every address. Without it, a run of more than 256 addresses "
        "first asks which are alive (ICMP echo, SYN to 443, ACK to 80, ARP on the local "
        "network) and probes only those, like nmap.",
    ),
]
OpenOpt = Annotated[
    bool,
    typer.Option(
        "--open",
        help="List only what answered: the targets with an open port (in JSON too; the "
        "summary of a large run still counts every address).",
    ),
]


RepeatOpt = Annotated[
    int,
    typer.Option(
        "--repeat",
        metavar="N",
        parser=o.whole("--repeat", 1, 10_000),
        help="Probe every port N times (each round from fresh source ports), with the "
        "statistics and the intermittency findings (a load balancer with one bad backend).",
    ),
]


def check(
    targets: TargetsArg = None,
    targets_file: TargetsFileOpt = None,
    yes: o.YesOpt = False,
    ports: o.PortsOpt = None,
    udp: o.UdpOpt = False,
    profile: o.ProfileOpt = None,
    profiles_dir: o.ProfilesDirOpt = None,
    json_out: o.JsonOpt = False,
    fmt: o.FormatOpt = None,
    nameserver: o.NameserverOpt = None,
    tries: o.TriesOpt = 3,
    timeout: o.TimeoutOpt = 1.0,
    no_ping: o.NoPingOpt = False,
    connect: o.ConnectOpt = False,
    rate: o.RateOpt = None,
    source: o.SourceOpt = None,
    ipv4: o.V4Opt = False,
    ipv6: o.V6Opt = False,
    verbose: o.VerboseOpt = False,
    app_hello: AppOpt = False,
    app_protocol: AppProtocolOpt = None,
    pcap: o.PcapOpt = None,
    payload_hex: o.PayloadHexOpt = None,
    payload_file: o.PayloadFileOpt = None,
    wait_for_icmp: o.WaitForIcmpOpt = False,
    repeat: RepeatOpt = 1,
    open_only: OpenOpt = False,
    all_hosts: AllHostsOpt = False,
) -> int:
    """Run the checklist against each TARGET: DNS, client route, ping, SYNs to each port,
    then explain what is most likely wrong.

    Examples:

      probe check camera.example.com --ports 80,6036

      probe check 192.0.2.10 --profile web --json

      probe check db1 db2 -p 5432 --nameserver 192.0.2.53 --tries 3 --timeout 1

      probe check pbx.example -p 5060,5060/udp,4569/udp

      probe check cam.example.com --profile camera --format openmetrics > cam.prom
    """
    from probe.cli import large
    from probe.model import Protocol
    from probe.output.base import FormatName
    from probe.output.registry import render
    from probe.output.text.progress import ScanProgress
    from probe.plan import targets as targets_mod
    from probe.plan.profiles import select_ports
    from probe.session.check import exit_status

    if app_protocol is not None:
        from probe.steps.hello import PROTOCOLS

        app_protocol = app_protocol.lower()
        if app_protocol not in PROTOCOLS:
            raise typer.BadParameter(
                f"{quoted(app_protocol)} is not one of {', '.join(PROTOCOLS)}",
                param_hint="'--app-protocol'",
            )
    chosen = o.output_format(json_out, fmt)
    texts = list(targets or ())
    if targets_file:
        texts += targets_mod.read_targets_file(targets_file)
    if not texts:
        raise BadInput("give at least one TARGET (or --targets-file)")
    parsed = targets_mod.parse_targets(texts)
    requests = select_ports(ports, profile or [], profiles_dir or [], o.only(udp))
    has_udp = any(r.protocol is Protocol.UDP for r in requests)
    opts = o.check_options(
        nameserver=nameserver,
        ipv4=ipv4,
        ipv6=ipv6,
        tries=tries,
        timeout=timeout,
        no_ping=no_ping,
        connect=connect,
        rate=rate,
        source=source,
        ports=requests,
        app=app_hello or app_protocol is not None,
        app_protocol=app_protocol,
        payload=o.payload(payload_hex, payload_file, has_udp),
        wait_for_icmp=wait_for_icmp,
        discover=not all_hosts,
    )
    o.confirm_size(targets_mod.oversized(targets_mod.count_addresses(parsed), len(opts.ports)), yes)
    result: object
    with (
        o.session() as session,
        o.pcap(pcap) as packet_log,
        ScanProgress(enabled=chosen is FormatName.TEXT and sys.stderr.isatty()) as progress,
    ):
        if repeat == 1 and large.large(parsed, len(opts.ports), chosen):
            return large.run_large(
                session,
                parsed,
                opts,
                chosen,
                verbose=verbose,
                open_only=open_only,
                progress=progress,
                packet_log=packet_log,
            )
        if repeat > 1:
            from probe.session.repeat import run_repeat

            repeated = run_repeat(
                session.scope(), parsed, opts, repeat, progress=progress, packet_log=packet_log
            )
            report, result = repeated.report, repeated
        else:
            report = session.check(parsed, opts, progress=progress, packet_log=packet_log)
            result = report
    with o.writing_report():
        shown = large.only_open(report) if open_only and result is report else result
        render(shown, chosen, sys.stdout, verbose=verbose)
    return exit_status(report)
