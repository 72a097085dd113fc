"""Options shared by the commands, declared once, and the helpers that turn them into the
session's records (CheckOptions, families, the large-run guard, the session itself).

Heavy modules (scapy, dnspython, icmplib, rich) are not imported here: ``probe --help`` loads
this module.
"""

from __future__ import annotations

import ipaddress
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from probe.errors import BadInput, Interrupted, quoted
from probe.status import ExitStatus

if TYPE_CHECKING:  # typing only: these load when a command runs
    from probe.engine.base import PacketLog
    from probe.model import Protocol
    from probe.output.base import FormatName
    from probe.session.core import Session
    from probe.session.options import CheckOptions

# Numbers and addresses are checked by probe's own parsers rather than typer's ranges, so
# that a bad value gets one line in probe's words (and nan or inf is no number of seconds).


def whole(option: str, low: int, high: int) -> Callable[[object], int]:
    """A parser for a whole-number option from ``low`` to ``high``."""

    def parse(value: object) -> int:
        digits = str(value).strip().lstrip("0") or "0"
        short = digits.isascii() and digits.isdigit() and len(digits) <= len(str(high))
        if short and low <= int(digits) <= high:
            return int(digits)
        raise BadInput(
            f"{option} must be a whole number from {low} to {high}, not {quoted(str(value))}"
        )

    return parse


def number(option: str, what: str, low: float, high: float) -> Callable[[object], float]:
    def parse(value: object) -> float:
        try:
            number = float(str(value))
        except ValueError:
            number = math.nan
        if math.isfinite(number) and low <= number <= high:
            return number
        raise BadInput(f"{option} must be {what} from {low} to {high}, not {quoted(str(value))}")

    return parse


def _nameserver(value: object) -> str:
    text = str(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadInput(
            f"--nameserver must be the IP address of a resolver, not {quoted(str(value))}"
        ) from None


def source_address(value: object, option: str = "--source") -> str:
    """An address of this computer to send from (``ping -I``, nmap ``-S``): a probe from any
    other would be a forged packet, and its answers would go to someone else."""
    from probe.engine.inet import is_local

    text = str(value).strip()
    try:
        address = str(ipaddress.ip_address(text))
    except ValueError:
        raise BadInput(f"{option} must be an IP address, not {quoted(str(value))}") from None
    if not is_local(address):
        raise BadInput(f"{option} {address} is not an address of this computer")
    return address


PortsOpt = Annotated[
    str | None,
    typer.Option(
        "--ports",
        "-p",
        metavar="SPEC",
        help="Ports: 80 | 80,443,6036 | 1-1024 | all | http,ssh | 53/udp | U:53,T:80. A bare "
        "port is TCP. Default: the 'common' profile.",
    ),
]
UdpOpt = Annotated[
    bool,
    typer.Option(
        "--udp",
        help="Every port of --ports is UDP (and a --profile gives its UDP ports only).",
    ),
]
PayloadHexOpt = Annotated[
    str | None,
    typer.Option(
        "--payload-hex",
        metavar="HEX",
        help="Send these bytes to every UDP port instead of its protocol's request "
        "(hex; spaces and colons allowed).",
    ),
]
PayloadFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--payload-file",
        metavar="FILE",
        help="Send FILE's bytes (at most 65507) to every UDP port instead of its protocol's "
        "request.",
    ),
]
WaitForIcmpOpt = Annotated[
    bool,
    typer.Option(
        "--wait-for-icmp",
        help="After the scan, probe the UDP ports left open|filtered again at one probe a "
        "second per host: hosts rate-limit their ICMP port unreachable (Linux: 6, then 1/s), "
        "and this pace decides every closed port.",
    ),
]
ProfileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Probe a named port profile's ports (see 'probe profiles'); "
        "repeatable, combinable with --ports.",
    ),
]
ProfilesDirOpt = Annotated[
    list[Path] | None,
    typer.Option("--profiles-dir", metavar="DIR", help="Extra directory of profile .toml files."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the report as JSON on stdout, and nothing else there.")
]
NameserverOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        metavar="IP",
        parser=_nameserver,
        help="Resolver to ask (repeatable). Default: the system's resolvers.",
    ),
]
TriesOpt = Annotated[
    int,
    typer.Option(
        "--tries",
        metavar="N",
        parser=whole("--tries", 1, 15),
        help="SYNs per port before 'filtered' (the triple SYN), 1 to 15.",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        parser=number("--timeout", "a number of seconds", 0.05, 60),
        help="Longest wait for an answer to one SYN (adaptive below it), 0.05 to 60.",
    ),
]
NoPingOpt = Annotated[bool, typer.Option("--no-ping", help="Skip the ICMP echo step.")]
ConnectOpt = Annotated[
    bool,
    typer.Option(
        "--connect", help="Probe with connect() instead of raw SYNs (less evidence, no privilege)."
    ),
]
RateOpt = Annotated[
    float | None,
    typer.Option(
        "--rate",
        metavar="PPS",
        parser=number("--rate", "a number of packets per second", 1, 1_000_000),
        help="Cap on packets sent per second, 1 to 1000000.",
    ),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source",
        "-S",
        metavar="ADDR",
        parser=source_address,
        help="Send every probe from ADDR, an address of this computer (its family only).",
    ),
]
V4Opt = Annotated[bool, typer.Option("-4", help="IPv4 only.")]
V6Opt = Annotated[bool, typer.Option("-6", help="IPv6 only.")]
YesOpt = Annotated[
    bool,
    typer.Option(
        "--yes", "-y", help="Go ahead with a run of more than 256 addresses or 100000 probes."
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show every port, even in large scans.")
]
PcapOpt = Annotated[
    Path | None,
    typer.Option(
        "--pcap",
        metavar="FILE",
        help="Write every packet sent and every answer received to FILE (pcap, for Wireshark).",
    ),
]


def families(ipv4: bool, ipv6: bool) -> tuple[int, ...]:
    if ipv4 and ipv6:
        raise BadInput("-4 and -6 exclude each other")
    return (4,) if ipv4 else (6,) if ipv6 else (4, 6)


def only(udp: bool) -> Protocol | None:
    """``--udp``: the protocol every port of the spec must be; None: as the spec says."""
    from probe.model import Protocol

    return Protocol.UDP if udp else None


def payload(hex_text: str | None, file: Path | None, has_udp: bool) -> bytes | None:
    """``--payload-hex`` / ``--payload-file``: the UDP payload override (None: not given)."""
    if hex_text is None and file is None:
        return None
    from probe.plan.udp_payload import payload_override

    return payload_override(hex_text, file, has_udp)


def check_options(
    *,
    nameserver: list[str] | None,
    ipv4: bool,
    ipv6: bool,
    tries: int,
    timeout: float,
    no_ping: bool,
    connect: bool,
    rate: float | None,
    source: str | None = None,
    **more: object,
) -> CheckOptions:
    """The CheckOptions of the probing commands (check, audit), from their shared flags;
    ``more``: the command's own fields (ports, app, app_protocol, payload)."""
    from probe.session.options import CheckOptions

    return CheckOptions(
        nameservers=tuple(nameserver or ()),
        families=families(ipv4, ipv6),
        tries=tries,
        timeout=timeout,
        ping=not no_ping,
        connect=connect,
        rate=rate,
        source=source,
        **more,  # type: ignore[arg-type]
    )


def confirm_size(why: str | None, yes: bool) -> None:
    """Large runs go ahead with --yes, or after a yes at the terminal; scripts must say --yes."""
    if why is None or yes:
        return
    if sys.stdin.isatty() and sys.stderr.isatty():
        sys.stderr.write(f"probe: {why}. Go ahead? [y/N]: ")
        sys.stderr.flush()
        answer = sys.stdin.readline()  # Ctrl-C here is an interruption (130), as anywhere
        if answer.strip().lower() in ("y", "yes"):
            return
        if not answer:  # end of input: nobody said yes
            sys.stderr.write("\n")
            raise BadInput(f"{why}; pass --yes to go ahead")
        raise typer.Exit(ExitStatus.BAD_INPUT)
    raise BadInput(f"{why}; pass --yes to go ahead")


@contextmanager
def session() -> Iterator[Session]:
    """The command's Session, closed at the end. While it runs, the first Ctrl-C sets its
    cancel event (every step stops at its next look and the report keeps what was measured);
    a second one interrupts at once."""
    from probe.session.core import Session

    s = Session()
    try:
        with ctrl_c_sets(s.cancel):
            yield s
    finally:
        s.close()


# Set when a Ctrl-C interrupted at once (KeyboardInterrupt) rather than by a cancel event:
# typer turns a KeyboardInterrupt into a silent exit 130, so main() looks here to say so.
stopped_at_once = threading.Event()


def stop_at_once(signum: int, frame: FrameType | None) -> None:
    """The SIGINT handler outside the commands' own: KeyboardInterrupt, noted."""
    stopped_at_once.set()
    raise KeyboardInterrupt


@contextmanager
def ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """While it runs, the first Ctrl-C sets ``cancel`` (the work stops at its next look and
    keeps what it has); a second one raises KeyboardInterrupt at once. Only the main thread
    gets signals: elsewhere this does nothing."""
    previous = None

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            stop_at_once(signum, frame)
        cancel.set()

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def writing_report() -> Iterator[None]:
    """Around writing the report: a Ctrl-C lets it finish (a JSON document cut in the middle
    is worse than one a moment late), then the command ends with exit 130; a second Ctrl-C
    cuts it short, and says so."""
    pressed = threading.Event()
    try:
        with ctrl_c_sets(pressed):
            yield
    except KeyboardInterrupt:
        raise Interrupted("interrupted while the report was written: it is cut short") from None
    if pressed.is_set():
        raise Interrupted("interrupted (the report was written in full)")


FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="Output on stdout: text (default), json (as --json) or openmetrics (Prometheus / "
        "OpenMetrics text, for node_exporter's textfile collector).",
    ),
]
_STDOUT_FORMATS = ("text", "json", "openmetrics")


def output_format(json_out: bool, fmt: str | None = None) -> FormatName:
    """The format for stdout, from ``--json`` and ``--format``."""
    from probe.output.base import FormatName

    if fmt is None:
        return FormatName.JSON if json_out else FormatName.TEXT
    word = fmt.strip().lower()
    if word not in _STDOUT_FORMATS:
        raise BadInput(f"--format must be one of {', '.join(_STDOUT_FORMATS)}, not {quoted(fmt)}")
    if json_out and word != FormatName.JSON:
        raise BadInput(f"--json and --format {word} exclude each other")
    return FormatName(word)


def pcap(path: Path | None) -> AbstractContextManager[PacketLog | None]:
    """``--pcap FILE``: the capture writer's ``recording``, loaded only when FILE is given."""
    if path is None:
        return nullcontext()
    from probe.capture.writer import recording

    return recording(path)
