"""Starting and running the exporter: config, the one Session and its raw sockets, the
listening socket, dropping root, SIGHUP reloads, then waitress until SIGTERM or Ctrl-C.

Order matters: everything that needs root happens first (the engine's raw sockets, a
privileged listening port), then the modules a probe loads lazily are loaded (after the drop
the interpreter's own files may not be readable by the new user), then the drop, and only
then the HTTP worker threads start — so they inherit CAP_NET_RAW from the thread that kept
it, for the ping and ARP sockets opened per probe.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from probe.errors import BadInput, CannotProbe, ProbeError, quoted
from probe.serve.config import ServeConfig, from_profiles
from probe.serve.guard import Guard

if TYPE_CHECKING:  # loaded when serving starts: the CLI's checks come first
    from probe.serve.app import Exporter

log = logging.getLogger("probe.serve")

DEFAULT_LISTEN = ":9799"
DEFAULT_MAX_IN_FLIGHT = 32
SPARE_THREADS = 4  # HTTP workers beyond the in-flight limit: /metrics and 503s stay quick

# Loaded before privileges are dropped: what a probe would otherwise import on first use.
_PRELOAD = (
    "probe.steps.dns",
    "probe.steps.system",
    "probe.steps.route",
    "probe.steps.ping",
    "probe.steps.arp",
    "probe.steps.hello",
    "probe.steps.cert",
    "probe.diagnosis.registry",
    "probe.plan.targets",
    "dns.resolver",
    "dns.rdtypes.IN.A",
    "dns.rdtypes.IN.AAAA",
    "dns.rdtypes.ANY.CNAME",
    "dns.rdtypes.ANY.SOA",
    "dns.rdtypes.ANY.TXT",
    "dns.rdtypes.ANY.PTR",
    "icmplib",
    "encodings.idna",
    "ssl",
    "prometheus_client.openmetrics.exposition",
)
_PRELOAD_IF_THERE = ("cryptography.x509", "cryptography.x509.oid")  # cert.py uses it if present


@dataclass(frozen=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    config: Path | None = None
    guard: Guard = field(default_factory=Guard)
    user: str | None = None
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    offset: float = 0.5
    profiles_dirs: tuple[Path, ...] = ()


def split_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``:PORT`` (every address) or ``[V6]:PORT``."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise BadInput(f"--listen must be ADDR:PORT, :PORT or [V6]:PORT, not {quoted(text)}")
    return host.strip("[]") or "", int(port)


def load(settings: Settings) -> ServeConfig:
    """The modules: the config file's, or one per profile. ConfigError when unusable."""
    from probe.plan import profiles

    dirs = list(settings.profiles_dirs)
    if settings.config is None:
        config = from_profiles(profiles.load_profiles(dirs))
    else:
        from probe.serve.configfile import load_config

        config = load_config(settings.config, lambda name: profiles.get_profile(name, dirs))
    for module in config.modules.values():  # --allow-ports holds for every module
        refused = settings.guard.refused_ports(module.ports)
        if refused:
            raise BadInput(
                f"module {quoted(module.name)} of {config.source} probes port {refused[0]}, "
                "which --allow-ports does not allow"
            )
    return config


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound, listening socket; no host: every address, IPv6 and IPv4 on one socket
    (IPv4 alone where the kernel has no IPv6)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host or '*'}:{port}"
    try:
        if host:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return _bound(family, host, port)
        try:
            return _bound(socket.AF_INET6, "::", port)
        except OSError as exc:
            if exc.errno != errno.EAFNOSUPPORT:
                raise
            return _bound(socket.AF_INET, "0.0.0.0", port)
    except OSError as exc:
        raise CannotProbe(f"cannot listen on {where}: {exc.strerror or exc}") from None


def _bound(family: int, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # v4 and v6
        sock.bind((host, port))
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock


def preload() -> None:
    for name in _PRELOAD:
        importlib.import_module(name)
    for name in _PRELOAD_IF_THERE:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    "probe.test".encode("idna")


def run(settings: Settings) -> int:
    """Serve until SIGTERM / Ctrl-C; ProbeError for what stops it from starting (raised
    before anything is logged: one line on stderr)."""
    from probe.serve.privileges import lookup_user, require_root

    config = load(settings)
    if settings.user is not None:
        lookup_user(settings.user)  # an unknown user is bad input, before anything opens
        require_root(settings.user)
    sock = listening_socket(*split_listen(settings.listen))
    try:
        _serve(settings, config, sock)
    finally:
        sock.close()
    log.info("stopped")
    return 0


def _serve(settings: Settings, config: ServeConfig, sock: socket.socket) -> None:
    from waitress.server import create_server

    from probe.serve.app import Exporter
    from probe.serve.privileges import drop_to
    from probe.session.core import WORKERS, Session

    if settings.guard.networks is None:
        log.warning("no --allow-targets: /probe may probe any address this host can reach")
    with Session(workers=max(WORKERS, settings.max_in_flight)) as session:
        choice = session.engine_for(False)  # the raw sockets, opened now (as root)
        log.info("engine: %s", "raw SYNs" if choice.note is None else choice.note)
        preload()
        if settings.user is not None:
            log.info(drop_to(settings.user).sentence())
        exporter = Exporter(
            session, config, settings.guard, settings.max_in_flight, offset=settings.offset
        )
        server = create_server(
            exporter,
            sockets=[sock],
            threads=settings.max_in_flight + SPARE_THREADS,
            ident="probe",
            connection_limit=max(100, 4 * settings.max_in_flight),
            channel_timeout=60,
        )
        _on_signals(settings, exporter)
        host, port = sock.getsockname()[:2]
        log.info(
            "listening on %s:%s with %d modules from %s (at most %d probes in flight)",
            f"[{host}]" if ":" in host else host,
            port,
            len(config.modules),
            config.source,
            settings.max_in_flight,
        )
        server.run()


def _on_signals(settings: Settings, exporter: Exporter) -> None:
    def reload(signum: int, frame: FrameType | None) -> None:
        try:
            config = load(settings)
        except ProbeError as exc:
            exporter.metrics.loaded(0, False)
            log.error("reload failed, the old config stays: %s", exc)
            return
        exporter.replace_config(config)
        log.info("reloaded %s: %d modules", config.source, len(config.modules))

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress's loop shuts its workers down on it

    signal.signal(signal.SIGHUP, reload)
    signal.signal(signal.SIGTERM, stop)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("probe")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("waitress").addHandler(handler)
