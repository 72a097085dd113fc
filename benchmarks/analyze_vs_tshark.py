"""``probe analyze`` throughput and memory beside ``tshark -q -z conv,tcp``, measured (not
asserted): run from the repo root.

    python benchmarks/analyze_vs_tshark.py [--sizes 1000000,3000000] [--runs N] [--keep DIR]

For each size, writes a deterministic capture with struct (Ethernet, microseconds, as
``tcpdump -w`` writes it) in a temporary directory: many clients, 20 servers, mostly healthy
connections (SYN, SYN/ACK, ACK, data, FIN: ten packets each), and a few per cent of each
problem pattern (SYNs unanswered three times, RST, ICMP admin prohibited, SYN/ACK never
acknowledged) interleaved in time order. Then runs, alternately, ``probe analyze FILE --json``
and ``tshark -r FILE -q -z conv,tcp`` (``--runs`` times each) and prints the median wall
time, packets per second, the ratio, and the peak RSS of each process (/usr/bin/time %M).
The goal: faster than tshark, and probe's memory flat as the file grows (compare the sizes).

probe's findings are also checked against what was generated, attempt for attempt, so the
speed is not bought with wrong answers. Nothing is sent on any network: files only.
tshark: installed with apt when missing (``DEBIAN_FRONTEND=noninteractive``, setuid off).
Before anything is generated, probe must answer ``--version`` in this interpreter; a run that
fails stops the benchmark with a non-zero status (``benchmarks/common.py``): no figures from
a failed run.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import check_status, checked_probe  # noqa: E402

ETH_IP = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
SYN, SYN_ACK, ACK, PSH_ACK, FIN_ACK, RST_ACK = 0x02, 0x12, 0x10, 0x18, 0x11, 0x14
SYN_OPTS = bytes.fromhex("020405b4 0402 080a0000000100000000 01 030307")
ROUTER = bytes((198, 18, 0, 1))
HEALTHY = [bytes((198, 18, 1, 10 + i)) for i in range(16)]
SILENT = bytes((198, 18, 9, 9))  # drops every SYN to 443
CLOSED = bytes((198, 18, 1, 1))  # RST on 8080
FIREWALLED = bytes((198, 18, 1, 2))  # the router rejects 3389
ONE_WAY = bytes((198, 18, 1, 3))  # SYN/ACK never acknowledged on 443
KINDS = (  # (kind, weight, expected finding)
    ("healthy", 90, "ok"),
    ("unanswered", 4, "syn-unanswered"),
    ("refused", 3, "syn-refused"),
    ("rejected", 2, "syn-rejected"),
    ("incomplete", 1, "handshake-incomplete"),
)
CONNECTIONS_PER_SECOND = 2000


def _tcp(
    src: bytes, dst: bytes, sport: int, dport: int, flags: int, ttl: int, payload: int
) -> bytes:
    opts = SYN_OPTS if flags & SYN else b""
    tcp = struct.pack(
        "!HHIIBBHHH", sport, dport, 1000, 2000, (20 + len(opts)) << 2, flags, 64240, 0, 0
    )
    total = 20 + len(tcp) + len(opts) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, ttl, 6, 0, src, dst)
    return ETH_IP + ip + tcp + opts + b"\x00" * payload


def _icmp_reject(client: bytes, server: bytes, sport: int, dport: int) -> bytes:
    quoted = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 60, 0, 0x4000, 63, 6, 0, client, server)
    quoted += struct.pack("!HHI", sport, dport, 1000)
    icmp = struct.pack("!BBHI", 3, 13, 0, 0) + quoted
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0, ROUTER, client)
    return ETH_IP + ip + icmp


def _connection(kind: str, n: int, rng: random.Random) -> list[tuple[float, bytes]]:
    """(offset in seconds, frame) for connection number ``n``: a unique 4-tuple each."""
    client = bytes((198, 18, 100 + (n // 60000) % 4, (n // 240000) % 250 + 1))
    sport = 1024 + n % 60000

    def c2s(srv: bytes, port: int, flags: int, pay: int = 0) -> bytes:
        return _tcp(client, srv, sport, port, flags, 64, pay)

    def s2c(srv: bytes, port: int, flags: int, pay: int = 0) -> bytes:
        return _tcp(srv, client, port, sport, flags, 63, pay)

    rtt = rng.uniform(0.0005, 0.03)
    if kind == "healthy":
        srv = HEALTHY[n % len(HEALTHY)]
        return [
            (0.0, c2s(srv, 443, SYN)),
            (rtt, s2c(srv, 443, SYN_ACK)),
            (rtt + 0.0001, c2s(srv, 443, ACK)),
            (rtt + 0.0002, c2s(srv, 443, PSH_ACK, 300)),
            (2 * rtt + 0.0002, s2c(srv, 443, ACK)),
            (2 * rtt + 0.001, s2c(srv, 443, PSH_ACK, 1200)),
            (2 * rtt + 0.0011, c2s(srv, 443, ACK)),
            (2 * rtt + 0.002, c2s(srv, 443, FIN_ACK)),
            (3 * rtt + 0.002, s2c(srv, 443, FIN_ACK)),
            (3 * rtt + 0.0021, c2s(srv, 443, ACK)),
        ]
    if kind == "unanswered":
        return [(t, c2s(SILENT, 443, SYN)) for t in (0.0, 1.0, 3.0)]
    if kind == "refused":
        return [(0.0, c2s(CLOSED, 8080, SYN)), (rtt, s2c(CLOSED, 8080, RST_ACK))]
    if kind == "rejected":
        reject = _icmp_reject(client, FIREWALLED, sport, 3389)
        return [(0.0, c2s(FIREWALLED, 3389, SYN)), (rtt, reject)]
    return [
        (0.0, c2s(ONE_WAY, 443, SYN)),
        (rtt, s2c(ONE_WAY, 443, SYN_ACK)),
        (1.0, c2s(ONE_WAY, 443, SYN)),
        (1.0 + rtt, s2c(ONE_WAY, 443, SYN_ACK)),
    ]


def generate(path: Path, packets: int, seed: int = 2024) -> Counter[str]:
    """Write ``packets`` frames in time order; return the attempts generated per finding."""
    rng = random.Random(seed)
    names = [k for k, _, _ in KINDS]
    weights = [w for _, w, _ in KINDS]
    expected = {k: code for k, _, code in KINDS}
    made: Counter[str] = Counter()
    pending: list[tuple[float, int, bytes, str]] = []  # a heap: frames not yet written
    start = 1_700_000_000.0
    written = n = 0
    rec = struct.Struct("<IIII").pack
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while written < packets:
            now = start + n / CONNECTIONS_PER_SECOND
            while pending and pending[0][0] <= now and written < packets:
                ts, _, frame, _ = heapq.heappop(pending)
                sec = int(ts)
                f.write(rec(sec, int((ts - sec) * 1e6), len(frame), len(frame)) + frame)
                written += 1
            kind = rng.choices(names, weights)[0]
            for i, (offset, frame) in enumerate(_connection(kind, n, rng)):
                heapq.heappush(pending, (now + offset, n * 16 + i, frame, expected[kind]))
            made[expected[kind]] += 1
            n += 1
    # Connections cut off by the end of the file: those whose SYN was never written are not
    # in it at all; the others may end differently from what was planned (counted as "cut").
    for _, key, _, code in pending:
        if key % 16 == 0:
            made[code] -= 1
        elif key % 16 == 1:
            made["cut"] += 1
    return made


def _ensure_tshark() -> str | None:
    found = shutil.which("tshark")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("installing tshark with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["debconf-set-selections"],
        input="wireshark-common wireshark-common/install-setuid boolean false\n",
        text=True,
        check=False,
    )
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "tshark"], env=env, check=False, capture_output=True
    )
    return shutil.which("tshark")


def measure(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, int, bytes]:
    """(wall seconds, peak RSS in KiB, stdout) of one child process; an exit status outside
    ``ok`` stops the benchmark.

    The peak RSS comes from /usr/bin/time (%M) when it is there: a child's own ru_maxrss, as
    wait4 reports it, also counts the pages it shared with this (large) process between fork
    and exec.
    """
    fd, out_name = tempfile.mkstemp(prefix="bench-out-")
    os.close(fd)
    rss_name, err_name = out_name + ".rss", out_name + ".err"
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    wrapped = [timer, "-f", "%M", "-o", rss_name, *argv] if timer else argv
    try:
        with open(out_name, "wb") as out, open(err_name, "wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(wrapped, stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        said = Path(err_name).read_text(errors="replace")
        check_status(argv, os.waitstatus_to_exitcode(status), ok, said)
        rss = int(Path(rss_name).read_text().split()[-1]) if timer else int(usage.ru_maxrss)
        return wall, rss, Path(out_name).read_bytes()
    finally:
        for name in (out_name, rss_name, err_name):
            Path(name).unlink(missing_ok=True)


def check_findings(output: bytes, made: Counter[str]) -> str:
    report = json.loads(output)
    found: Counter[str] = Counter()
    for f in report["findings"]:
        found[f["code"]] += f["count"]
    want = Counter({k: v for k, v in made.items() if k != "cut"})
    cut = made["cut"]
    # attempts still in flight at the end of the file may be left out or judged early
    diff = sum(abs(found[k] - want[k]) for k in set(found) | set(want))
    verdict = "match" if diff <= 2 * cut + 2 else f"MISMATCH (off by {diff})"
    return f"{verdict}: " + ", ".join(f"{k} {found[k]}" for k in sorted(found))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,3000000", help="packets per file, comma-separated")
    ap.add_argument("--runs", type=int, default=3, choices=range(1, 11), metavar="N")
    ap.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    probe = [*checked_probe([sys.executable, "-m", "probe"]), "analyze"]
    tshark = _ensure_tshark()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="probe-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    if tshark:
        version = subprocess.run([tshark, "--version"], capture_output=True, text=True, check=False)
        env_note += ", " + " ".join(version.stdout.split()[:3])  # "TShark (Wireshark) 4.0.17"
    print(f"# probe analyze vs tshark -q -z conv,tcp ({env_note})")
    rows = []
    try:
        for size in sizes:
            path = workdir / f"bench-{size}.pcap"
            t0 = time.perf_counter()
            made = generate(path, size)
            mb = path.stat().st_size / 1e6
            print(f"\n{size:,} packets, {mb:.0f} MB, generated in {time.perf_counter() - t0:.1f} s")
            ours: list[tuple[float, int]] = []
            theirs: list[tuple[float, int]] = []
            output = b""
            for _ in range(args.runs):  # interleaved, so that both see the same machine
                # probe: 0 or 1, the analysis completed (1: problem patterns, as generated)
                wall, rss, output = measure([*probe, str(path), "--json"], ok=(0, 1))
                ours.append((wall, rss))
                if tshark:
                    wall, rss, _ = measure([tshark, "-r", str(path), "-q", "-z", "conv,tcp"])
                    theirs.append((wall, rss))
            print(f"  findings: {check_findings(output, made)}")
            p_wall = statistics.median(w for w, _ in ours)
            p_rss = max(r for _, r in ours) / 1024
            print(
                f"  probe analyze: {p_wall:6.2f} s  {size / p_wall:>10,.0f} pps  "
                f"peak RSS {p_rss:6.0f} MB"
            )
            row = {"size": size, "probe_s": p_wall, "probe_rss": p_rss}
            if theirs:
                t_wall = statistics.median(w for w, _ in theirs)
                t_rss = max(r for _, r in theirs) / 1024
                print(
                    f"  tshark       : {t_wall:6.2f} s  {size / t_wall:>10,.0f} pps  "
                    f"peak RSS {t_rss:6.0f} MB"
                )
                print(
                    f"  probe is {t_wall / p_wall:.1f}x faster and uses {t_rss / p_rss:.1f}x "
                    "less memory"
                )
                row |= {"tshark_s": t_wall, "tshark_rss": t_rss}
            rows.append(row)
            if args.keep is None:
                path.unlink()
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        grow = b["size"] / a["size"]
        print(
            f"\nfile {grow:.1f}x larger: probe's peak RSS x{b['probe_rss'] / a['probe_rss']:.2f}"
            + (f", tshark's x{b['tshark_rss'] / a['tshark_rss']:.2f}" if "tshark_rss" in a else "")
        )
        print("goal: faster than tshark, memory flat: " + _verdict(rows))


def _verdict(rows: list[dict[str, float]]) -> str:
    faster = all(r["probe_s"] < r.get("tshark_s", float("inf")) for r in rows)
    flat = rows[-1]["probe_rss"] < rows[0]["probe_rss"] * 1.25
    return ("met" if faster and flat else "MISSED") + f" (faster: {faster}, flat: {flat})"


if __name__ == "__main__":
    main()
