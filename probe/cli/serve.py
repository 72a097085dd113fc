"""``probe serve``: the Prometheus exporter (probe.serve does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probe.cli import options as o

ListenOpt = Annotated[
    str,
    typer.Option(
        "--listen", metavar="ADDR:PORT", help="Where to serve HTTP: ADDR:PORT, :PORT, [V6]:PORT."
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Modules file (.toml, .yml or .yaml). Default: every profile is a module.",
    ),
]
AllowTargetsOpt = Annotated[
    str | None,
    typer.Option(
        "--allow-targets",
        metavar="CIDR,...",
        help="Only addresses in these networks may be probed (others: 403). Default: any.",
    ),
]
AllowPortsOpt = Annotated[
    str | None,
    typer.Option(
        "--allow-ports",
        metavar="SPEC",
        help="Only these ports may be probed (every module's ports must fit). Default: any.",
    ),
]
UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user",
        metavar="NAME",
        help="After opening the raw sockets as root, run as this user keeping CAP_NET_RAW only.",
    ),
]
MaxInFlightOpt = Annotated[
    int,
    typer.Option(
        "--max-in-flight",
        metavar="N",
        parser=o.whole("--max-in-flight", 1, 1000),
        help="Most probes at once; one more gets 503 at once. 1 to 1000.",
    ),
]
OffsetOpt = Annotated[
    float,
    typer.Option(
        "--timeout-offset",
        metavar="SECONDS",
        parser=o.number("--timeout-offset", "a number of seconds", 0, 10),
        help="Kept from Prometheus' scrape timeout for answering (blackbox's flag). 0 to 10.",
    ),
]
LogLevelOpt = Annotated[
    str,
    typer.Option("--log-level", metavar="LEVEL", help="debug, info, warning or error."),
]


def serve(
    listen: ListenOpt = ":9799",
    config: ConfigOpt = None,
    allow_targets: AllowTargetsOpt = None,
    allow_ports: AllowPortsOpt = None,
    user: UserOpt = None,
    max_in_flight: MaxInFlightOpt = 32,
    timeout_offset: OffsetOpt = 0.5,
    profiles_dir: o.ProfilesDirOpt = None,
    log_level: LogLevelOpt = "info",
) -> int:
    """Serve Prometheus metrics: /probe?target=HOST&module=NAME runs the checklist against
    one host with a module's ports and expectations (the multi-target exporter pattern,
    like blackbox_exporter); /metrics has the exporter's own metrics; / the recent probes.

    \b
    Examples:
      probe serve --listen :9799 --allow-targets 10.0.0.0/8
      probe serve --config /etc/probe/serve.toml --user nobody --allow-ports 1-1024
      curl 'http://localhost:9799/probe?target=cam.example.com&module=camera&debug=true'
    """
    from probe.errors import BadInput
    from probe.serve import server
    from probe.serve.guard import Guard, parse_networks, parse_ports

    level = log_level.strip().lower()
    if level not in ("debug", "info", "warning", "error"):
        raise BadInput(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    server.split_listen(listen)  # a bad --listen is bad input before anything starts
    guard = Guard(
        networks=parse_networks(allow_targets) if allow_targets is not None else None,
        ports=parse_ports(allow_ports) if allow_ports is not None else None,
    )
    server.setup_logging(level)
    settings = server.Settings(
        listen=listen,
        config=config,
        guard=guard,
        user=user,
        max_in_flight=max_in_flight,
        offset=timeout_offset,
        profiles_dirs=tuple(profiles_dir or ()),
    )
    return server.run(settings)
