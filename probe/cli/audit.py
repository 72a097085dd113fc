"""``probe audit``: expected port states per host, pass or fail."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from probe.cli import options as o


def audit(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.toml", help="Audit file: expected port states per host ([[hosts]])."
        ),
    ],
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", help="Also write the results as JUnit XML."),
    ] = None,
    yes: o.YesOpt = False,
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
    pcap: o.PcapOpt = None,
    payload_hex: o.PayloadHexOpt = None,
    payload_file: o.PayloadFileOpt = None,
    wait_for_icmp: o.WaitForIcmpOpt = False,
) -> int:
    """Check expected port states before a deployment: every host of FILE.toml is probed
    like 'probe check', then each expectation passes or fails (exit 0 only if all hold).

    \b
    Example file (also: filtered = [...], refused = [...], profile = "NAME", and for UDP
    udp_open, udp_blocked, udp_filtered, udp_refused):
      [[hosts]]
      target = "cam.example.com"
      open = [80, 6036]
      blocked = [3389]
      udp_open = [3702]

    \b
    Examples:
      probe audit site.toml
      probe audit site.toml --junit audit-junit.xml
      probe audit site.toml --format openmetrics > /var/lib/node_exporter/audit.prom
    """
    from probe.model import Protocol
    from probe.output.base import FormatName
    from probe.output.files import check_writable
    from probe.output.registry import render, write
    from probe.plan.audit import read_audit
    from probe.plan.targets import oversized_plan
    from probe.session.audit import exit_status, run_audit

    chosen = o.output_format(json_out, fmt)
    checked = read_audit(file, profiles_dir or [])
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
        ports=(),
        payload=o.payload(payload_hex, payload_file, checked.has(Protocol.UDP)),
        wait_for_icmp=wait_for_icmp,
    )
    if junit is not None:
        check_writable(junit, "--junit")
    o.confirm_size(oversized_plan(checked.addresses(), checked.probes()), yes)
    plan = checked.plan()
    with o.session() as session, o.pcap(pcap) as packet_log:
        result = run_audit(session, plan, opts, packet_log=packet_log)
    with o.writing_report():
        if junit is not None:
            write(result, FormatName.JUNIT, junit)
        render(result, chosen, sys.stdout, junit_path=junit)
    return exit_status(result)
