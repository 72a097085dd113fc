"""``probe analyze``: the same patterns, found in an existing capture."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from probe.cli import options as o


def analyze(
    capture_file: Annotated[
        Path,
        typer.Argument(
            metavar="CAPTURE", help="A pcap or pcapng file (Wireshark, tshark, tcpdump -w)."
        ),
    ],
    json_out: o.JsonOpt = False,
    verbose: o.VerboseOpt = False,
) -> int:
    """Find the connection problems in an existing capture: SYNs without answer, RSTs, ICMP
    rejects, handshakes that never complete, per server and port, explained like 'probe check'.
    Ctrl-C stops the reading and reports what was read (exit 130).

    \b
    Examples:
      probe analyze ticket-4711.pcapng
      tcpdump -i eth0 -w cap.pcap 'tcp or udp or icmp or icmp6'; probe analyze cap.pcap --json
    """
    from probe.capture import analyze as analyze_mod
    from probe.capture.reader import open_capture
    from probe.output.registry import render
    from probe.output.views import CaptureAnalysis

    # Ctrl-C stops the reading; what was read is analysed and printed, marked interrupted.
    cancel = threading.Event()
    with o.ctrl_c_sets(cancel), open_capture(capture_file, cancel) as cap:
        result = analyze_mod.analyze(cap.records())
    info = cap.info
    view = CaptureAnalysis(info, result)
    with o.writing_report():
        render(view, o.output_format(json_out), sys.stdout, verbose=verbose)
    return analyze_mod.exit_status(result, interrupted=info.interrupted)
