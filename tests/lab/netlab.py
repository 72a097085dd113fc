"""Builds and tears down the lab of network namespaces described in topology.py.

Plain subprocess calls to ``ip``, ``nft``, ``sysctl``, ``dnsmasq`` and (daemons.py) ``chronyd``
and ``snmpd``; no library state. The build is batched (one ``ip -batch`` per namespace, run in
parallel) so it takes about a second.
``setup()`` first removes leftovers of a crashed run (namespaces with the lab's prefix and the
processes inside them, /etc/netns/<prefix>*); ``teardown()`` is safe to call at any point, any
number of times, and leaves the root namespace's guard routes in place.

Safety: nothing of the lab is connected to the root namespace, the client has routes to the
lab prefixes only, and the root namespace gets ``unreachable`` routes for the lab prefixes so
that a command run outside the lab by mistake fails at once instead of leaving the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import daemons
from . import topology as t

SERVERS_PY = Path(__file__).with_name("servers.py")
NETNS_ETC = Path("/etc/netns")
REQUIRED_TOOLS = ("ip", "ss", "nft", "dnsmasq", "sysctl", "setpriv", "chronyd", "snmpd")
LOCK_DIR = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
LOCK_WAIT = float(os.environ.get("PROBE_LAB_LOCK_WAIT", "300"))  # seconds for another run
READY_TIMEOUT = 10.0  # seconds for every server and dnsmasq to listen
STOP_TIMEOUT = 3.0  # seconds for a process to exit after SIGTERM
PR_SET_PDEATHSIG = 1

# Sysctls per namespace. ICMP rate limits off where answers come from, so tests that send
# many probes get every ICMP error and echo reply (the kernel would otherwise drop some);
# a host with ``icmp_limits`` (srv) keeps a real host's instead.
_NO_ICMP_LIMITS = {
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv6.icmp.ratelimit": "0",
    "net.ipv4.icmp_msgs_per_sec": "100000",
    "net.ipv4.icmp_msgs_burst": "100000",
}
_COMMON_SYSCTLS = {
    # No duplicate address detection: v6 addresses usable at once (nodad covers the globals,
    # these cover the link-local ones created when links come up).
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.all.accept_ra": "0",
    "net.ipv6.conf.default.accept_ra": "0",
}


class LabError(RuntimeError):
    """The lab could not be built."""


def unavailable_reason() -> str | None:
    """Why the lab cannot be built on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, nftables)"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"the lab needs these tools on PATH: {', '.join(missing)}"
    try:
        proc = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`ip netns list` failed: {exc}"
    if proc.returncode != 0:
        return f"`ip netns list` failed: {proc.stderr.strip()}"
    return None


def _hosts_text(entries: dict[str, str]) -> str:
    """A hosts file: localhost, then one line per (name, address) of ``entries``."""
    lines = ["127.0.0.1 localhost", "::1 localhost"]
    lines += [f"{address} {name}" for name, address in entries.items()]
    return "\n".join(lines) + "\n"


def _set_pdeathsig() -> None:
    """In the child before exec: SIGTERM it when the test process goes away."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _run(
    argv: Sequence[str], *, input: str | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a setup command; raise LabError with its stderr when it fails."""
    proc = subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _run_all(jobs: Iterable[tuple[list[str], str | None]], timeout: float = 30.0) -> None:
    """Run setup commands in parallel; raise LabError naming every one that failed."""
    started: list[tuple[list[str], subprocess.Popen[str], str | None]] = []
    for argv, stdin in jobs:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append((argv, proc, stdin))
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    for argv, proc, stdin in started:
        try:
            _, err = proc.communicate(stdin, timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            errors.append(f"{' '.join(argv)}: timed out")
            continue
        if proc.returncode != 0:
            errors.append(f"{' '.join(argv)} ({proc.returncode}): {err.strip()}")
    if errors:
        raise LabError("; ".join(errors))


def _stop(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, wait (bounded), SIGKILL: only this process, by its id."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)


def lab_namespaces(prefix: str = t.PREFIX) -> list[str]:
    """Existing network namespaces whose name has the lab's prefix."""
    proc = _run(["ip", "netns", "list"])
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    return [name for name in names if name.startswith(prefix)]


def _kill_namespace_processes(ns: str) -> None:
    """Kill what still runs inside a lab namespace (leftovers of a crashed run), by pid."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.run(
            ["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False
        )
        pids = [int(p) for p in proc.stdout.split() if p.isdigit() and int(p) != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        for _ in range(30):  # up to 1.5 s for them to go
            time.sleep(0.05)
            if all(not Path(f"/proc/{pid}").exists() for pid in pids):
                return


def remove_lab_namespaces(prefix: str = t.PREFIX) -> None:
    """Delete every namespace with the lab prefix (and its processes) and /etc/netns files."""
    for ns in lab_namespaces(prefix):
        _kill_namespace_processes(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)
    if NETNS_ETC.is_dir():
        for entry in NETNS_ETC.iterdir():
            if entry.name.startswith(prefix):
                shutil.rmtree(entry, ignore_errors=True)
        with contextlib.suppress(OSError):
            NETNS_ETC.rmdir()  # only when empty: never other namespaces' files


def _workdir_prefix(prefix: str = t.PREFIX) -> str:
    return f"probe-lab-{prefix}"


def remove_stale_workdirs(prefix: str = t.PREFIX) -> None:
    """Log/pid directories left by a crashed run of this prefix (call with the lock held)."""
    for path in Path(tempfile.gettempdir()).glob(_workdir_prefix(prefix) + "*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def install_root_guard() -> None:
    """Root namespace: the lab prefixes are unreachable, so nothing leaks out by mistake."""
    _run(["ip", "-batch", "-"], input=f"route replace unreachable {t.LAB_NET_V4}\n")
    _run(["ip", "-6", "-batch", "-"], input=f"route replace unreachable {t.LAB_NET_V6}\n")


def acquire_lab_lock(prefix: str = t.PREFIX, wait: float = LOCK_WAIT) -> int:
    """Hold the prefix's lock (flock) so two runs on one machine never share or wreck a lab.

    Waits up to ``wait`` seconds for another run to finish. The kernel drops the lock when
    its holder dies, so a crashed run's leftovers are cleaned by the next holder only.
    """
    fd = os.open(LOCK_DIR / f"probe-lab-{prefix}lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LabError(
                    f"another lab run with prefix {prefix!r} still holds the lock after"
                    f" {wait:.0f}s (set PROBE_LAB_PREFIX to run a second lab)"
                ) from None
            time.sleep(0.2)


class Lab:
    """The lab: build with setup(), use exec()/run_probe()/probe_json(), end with teardown().

    Also a context manager. Host namespaces and addresses are in ``topology``.
    """

    client_ns: str = t.CLIENT_NS
    router_ns: str = t.ROUTER_NS
    topology = t

    def __init__(self) -> None:
        self.workdir: Path | None = None
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.setup_seconds: float | None = None
        self._lock_fd: int | None = None

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> Lab:
        self.setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.teardown()

    def setup(self) -> None:
        """Build the whole lab; on any failure tear down what was built and re-raise."""
        reason = unavailable_reason()
        if reason:
            raise LabError(reason)
        self._lock_fd = acquire_lab_lock()
        started = time.monotonic()
        try:
            install_root_guard()
            remove_lab_namespaces()
            remove_stale_workdirs()
            self.workdir = Path(tempfile.mkdtemp(prefix=_workdir_prefix()))
            self._create_namespaces()
            self._set_sysctls()
            self._build_router()
            self._configure_hosts()
            self._start_services()
        except BaseException:
            self.teardown()
            raise
        self.setup_seconds = time.monotonic() - started

    def teardown(self) -> None:
        """Stop every process the lab started, delete its namespaces and files. Idempotent.

        Namespaces are removed only by the holder of the lab lock: a run that never got the
        lock must not delete the lab of the run that has it.
        """
        for proc in self.processes.values():  # all at once, then wait for each
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in self.processes.values():
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        self.processes.clear()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if self._lock_fd is not None:
            try:
                remove_lab_namespaces()
            finally:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    @contextlib.contextmanager
    def client_hosts(self, extra: dict[str, str]) -> Iterator[Path]:
        """The client's hosts file with ``extra`` entries (name -> address) as well, for the
        duration of the block; yields the file's path. Every ``ip netns exec`` bind-mounts
        the file anew, so the next probe run reads it."""
        path = NETNS_ETC / self.client_ns / "hosts"
        path.write_text(_hosts_text({**t.CLIENT_HOSTS, **extra}))
        try:
            yield path
        finally:
            path.write_text(_hosts_text(t.CLIENT_HOSTS))

    def flush_client_neighbours(self) -> None:
        """Forget the client's ARP/ND cache, so the next probe resolves on-link hosts anew."""
        self.exec(self.client_ns, "ip", "neigh", "flush", "all")

    @contextlib.contextmanager
    def extra_server(self, ns: str, *listen: str, extra: Sequence[str] = ()) -> Iterator[None]:
        """A servers.py of a test's own in ``ns`` (``mode@host:port`` specs), listening on
        entry and stopped (by its pid) on exit."""
        argv = [sys.executable, str(SERVERS_PY), "--name", "extra", *extra]
        for spec in listen:
            argv += ["--listen", spec]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_set_pdeathsig,
        )
        try:
            assert proc.stdout is not None
            ready = proc.stdout.readline().strip()  # servers.py prints READY or exits
            if ready != "READY":
                _stop(proc)
                err = proc.stderr.read() if proc.stderr else ""
                raise LabError(f"extra server {' '.join(listen)} failed: {err.strip()[-2000:]}")
            yield
        finally:
            _stop(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()

    # ----------------------------------------------------------------- building

    def _create_namespaces(self) -> None:
        _run(["ip", "-batch", "-"], input="".join(f"netns add {ns}\n" for ns in t.ALL_NS))
        resolv = f"nameserver {t.DNS_V4}\noptions timeout:2 attempts:1\n"
        for ns in t.ALL_NS:  # no lab process ever sees the host's resolvers
            (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
            (NETNS_ETC / ns / "resolv.conf").write_text(resolv)
            (NETNS_ETC / ns / "hosts").write_text(
                _hosts_text(t.CLIENT_HOSTS if ns == t.CLIENT_NS else {})
            )

    def _set_sysctls(self) -> None:
        jobs: list[tuple[list[str], str | None]] = []
        limits = {host.ns: dict(host.icmp_limits) for host in t.HOSTS if host.icmp_limits}
        for ns in t.ALL_NS:
            values = _COMMON_SYSCTLS | limits.get(ns, _NO_ICMP_LIMITS)
            forwarding = "1" if ns == t.ROUTER_NS else "0"
            values["net.ipv4.ip_forward"] = forwarding
            values["net.ipv6.conf.all.forwarding"] = forwarding
            if ns == t.CLIENT_NS:
                # unprivileged ICMP echo sockets (icmplib privileged=False) for every group
                values["net.ipv4.ping_group_range"] = "0 2147483647"
            args = [f"{key}={value}" for key, value in values.items()]
            jobs.append((["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *args], None))
        _run_all(jobs)

    def _build_router(self) -> None:
        lines = ["link set lo up", f"address add {t.NAT_PUBLIC_V4}/32 dev lo"]
        for lan in t.LANS:
            lines += [
                f"link add {lan.bridge} address {lan.router_mac} type bridge"
                " stp_state 0 mcast_snooping 0",
                f"address add {lan.router_v4}/{lan.prefix_v4} dev {lan.bridge}",
            ]
            if lan.router_v6:
                lines.append(f"address add {lan.router_v6}/{lan.prefix_v6} dev {lan.bridge} nodad")
            lines.append(f"link set {lan.bridge} up")
        for host in t.HOSTS:
            lines += [
                f"link add {host.router_iface} type veth peer name {t.HOST_IFACE}"
                f" address {host.mac} netns {host.ns}",
                f"link set {host.router_iface} master {host.lan.bridge}",
                f"link set {host.router_iface} up",
            ]
        lines += [f"route add {route}" for route in t.ROUTER_ROUTES]
        _run(["ip", "-n", t.ROUTER_NS, "-batch", "-"], input="\n".join(lines) + "\n")
        _run(["ip", "netns", "exec", t.ROUTER_NS, "nft", "-f", "-"], input=t.ROUTER_NFT)

    def _configure_hosts(self) -> None:
        jobs: list[tuple[list[str], str | None]] = []
        for host in t.HOSTS:
            lan = host.lan
            lines = [
                "link set lo up",
                f"link set {t.HOST_IFACE} up",
                f"address add {host.v4}/{lan.prefix_v4} dev {t.HOST_IFACE}",
            ]
            if host.v6:
                lines.append(f"address add {host.v6}/{lan.prefix_v6} dev {t.HOST_IFACE} nodad")
            if host.default_route:
                lines.append(f"route add default via {lan.router_v4}")
            else:
                lines.append(f"route add {t.LAB_NET_V4} via {lan.router_v4}")
                if lan.router_v6 and host.v6:
                    lines.append(f"route add {t.LAB_NET_V6} via {lan.router_v6}")
            lines += [f"route add {route}" for route in host.extra_routes]
            jobs.append((["ip", "-n", host.ns, "-batch", "-"], "\n".join(lines) + "\n"))
            if host.firewall:
                rules = "\n".join(f"        {rule}" for rule in host.firewall)
                ruleset = (
                    "table inet probe_lab_host {\n    chain input {\n"
                    "        type filter hook input priority filter; policy accept;\n"
                    f"{rules}\n    }}\n}}\n"
                )
                jobs.append((["ip", "netns", "exec", host.ns, "nft", "-f", "-"], ruleset))
        _run_all(jobs)

    def _start_services(self) -> None:
        assert self.workdir is not None
        for host in t.HOSTS:
            listen: list[str] = []
            for service in host.services:
                listen += ["--listen", f"{service.mode}@{host.v4}:{service.port}"]
                if host.v6:
                    listen += ["--listen", f"{service.mode}@[{host.v6}]:{service.port}"]
            if host is t.DNS:
                host_ip, port = t.SERVFAIL_UPSTREAM
                listen += ["--listen", f"servfail@{host_ip}:{port}"]
            if listen:
                argv = [sys.executable, str(SERVERS_PY), "--name", host.name, *listen]
                self._spawn(host.name, host.ns, argv, stdout=subprocess.PIPE)
        self._spawn("dnsmasq", t.DNS_NS, self._dnsmasq_argv(), stdout=subprocess.DEVNULL)
        self._spawn("chronyd", t.SRV_NS, daemons.chronyd(self.workdir), stdout=subprocess.DEVNULL)
        self._spawn("snmpd", t.SRV_NS, daemons.snmpd(self.workdir), stdout=subprocess.DEVNULL)
        self._wait_ready()

    def _dnsmasq_argv(self) -> list[str]:
        assert self.workdir is not None
        upstream_ip, upstream_port = t.SERVFAIL_UPSTREAM
        argv = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--port=53",
            f"--listen-address={t.DNS_V4}",
            f"--listen-address={t.DNS_V6}",
            "--bind-interfaces",
            f"--pid-file={self.workdir / 'dnsmasq.pid'}",
            "--user=root",
            "--group=root",
            "--cache-size=0",  # every query reaches the configured behaviour
            f"--local=/{t.DNS_DOMAIN}/",
            f"--server=/{t.NAME_SERVFAIL}/{upstream_ip}#{upstream_port}",
            f"--server=/{t.NAME_TIMEOUT}/{t.SILENT_DNS_V4}",
            f"--log-facility={self.workdir / 'dnsmasq.log'}",
            "--log-queries",
        ]
        for name, (v4s, v6s) in t.HOST_RECORDS.items():
            argv.append(f"--host-record={','.join((name, *v4s, *v6s))}")
        argv += [f"--cname={alias},{target}" for alias, target in t.CNAME_RECORDS.items()]
        argv += [f"--txt-record={name},{text}" for name, text in t.TXT_RECORDS.items()]
        return argv

    def _spawn(self, key: str, ns: str, argv: list[str], *, stdout: int) -> None:
        assert self.workdir is not None
        log = (self.workdir / f"{key}.log").open("w")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=log,
            text=True,
            preexec_fn=_set_pdeathsig,
            start_new_session=True,  # Ctrl-C of the test run does not hit them mid-teardown
        )
        log.close()
        self.processes[key] = proc

    def _wait_ready(self) -> None:
        """Every servers.py prints READY once it listens; the daemons are polled with ss."""
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = {k: p for k, p in self.processes.items() if p.stdout is not None}
        with selectors.DefaultSelector() as sel:
            for key, proc in waiting.items():
                assert proc.stdout is not None
                sel.register(proc.stdout, selectors.EVENT_READ, key)
            while waiting and time.monotonic() < deadline:
                for sel_key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    key = sel_key.data
                    line = waiting[key].stdout.readline()  # type: ignore[union-attr]
                    sel.unregister(sel_key.fileobj)
                    if line.strip() != "READY":
                        raise LabError(f"server {key} failed to start: {self._log(key)}")
                    del waiting[key]
        if waiting:
            raise LabError(f"servers not ready after {READY_TIMEOUT}s: {', '.join(waiting)}")
        polled = {"dnsmasq": (t.DNS_NS, t.DNS_UDP_PORT, (t.DNS_V4, t.DNS_V6)), **daemons.READY}
        while polled and time.monotonic() < deadline:
            for key, (ns, port, addresses) in list(polled.items()):
                if self.processes[key].poll() is not None:
                    raise LabError(f"{key} exited: {self._log(key)}")
                ss = self.exec(ns, "ss", "-Hlun", f"sport = :{port}", timeout=5)
                if all(address in ss.stdout for address in addresses):
                    del polled[key]
            if polled:
                time.sleep(0.05)
        if polled:
            logs = "; ".join(f"{key}: {self._log(key)}" for key in polled)
            raise LabError(f"not listening after {READY_TIMEOUT}s: {logs}")

    def _log(self, key: str) -> str:
        if self.workdir is None:
            return ""
        path = self.workdir / f"{key}.log"
        return path.read_text(errors="replace").strip()[-2000:] if path.exists() else ""

    # ----------------------------------------------------------------- running things

    def exec(
        self,
        ns: str,
        *argv: str,
        timeout: float = 30.0,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside namespace ``ns`` (text, captured; never raises on exit status)."""
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def python(
        self, ns: str, code: str, *args: str, timeout: float = 30.0, unprivileged: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a Python snippet (this interpreter) inside ``ns``; ``args`` land in sys.argv[1:]."""
        argv = (sys.executable, "-c", code, *args)
        if unprivileged:
            if ns != self.client_ns:
                raise ValueError("unprivileged runs are for the client namespace")
            return self.run_in_client_unprivileged(*argv, timeout=timeout)
        return self.exec(ns, *argv, timeout=timeout)

    def run_in_client_unprivileged(
        self, *argv: str, timeout: float = 60.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the client namespace without CAP_NET_RAW.

        Still uid 0 (the interpreter lives under /root, mode 0700, which ``nobody`` cannot
        enter), but CAP_NET_RAW is gone from the bounding, inheritable and ambient sets, so
        after exec no raw or packet socket can be opened: exactly what an unprivileged user
        lacks for SYN probes. Unprivileged ICMP echo works there through ping_group_range.
        """
        drop = [
            "setpriv",
            "--bounding-set=-net_raw",
            "--inh-caps=-net_raw",
            "--ambient-caps=-net_raw",
            "--",
        ]
        return self.exec(self.client_ns, *drop, *argv, timeout=timeout, env=env)

    def probe_command(self) -> list[str]:
        """The installed ``probe`` console script, preferring the one of this interpreter."""
        beside = Path(sys.executable).with_name("probe")
        if beside.is_file() and os.access(beside, os.X_OK):
            return [str(beside)]
        found = shutil.which("probe")
        if found:
            return [found]
        return [sys.executable, "-m", "probe"]

    def run_probe(
        self, *args: str, timeout: float = 60.0, unprivileged: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``probe ARGS`` inside the client namespace (optionally without CAP_NET_RAW)."""
        argv = (*self.probe_command(), *args)
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
        if unprivileged:
            return self.run_in_client_unprivileged(*argv, timeout=timeout, env=env)
        return self.exec(self.client_ns, *argv, timeout=timeout, env=env)

    def probe_json(
        self, *args: str, timeout: float = 60.0, unprivileged: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """``probe COMMAND --json REST`` in the client namespace: (exit code, parsed stdout).

        ``--json`` goes right after the command word (``check``, ``trace``...), where a
        per-command option is accepted; without arguments it is the only argument.
        """
        argv = (args[0], "--json", *args[1:]) if args else ("--json",)
        proc = self.run_probe(*argv, timeout=timeout, unprivileged=unprivileged)
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(
                f"probe --json {' '.join(args)} exited {proc.returncode} without JSON on"
                f" stdout ({exc}).\nstdout: {proc.stdout[:2000]!r}\nstderr: {proc.stderr[-2000:]}"
            ) from exc
        if not isinstance(data, dict):
            raise AssertionError(f"probe --json printed {type(data).__name__}, not an object")
        return proc.returncode, data
