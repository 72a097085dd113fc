"""The real UDP daemons of the lab's srv host: chronyd (NTP) and snmpd (SNMP).

Each function writes its daemon's configuration into the lab's work directory and returns
the command line to run inside srv's namespace (in the foreground, logging to stderr, which
the lab keeps in ``<workdir>/<key>.log``). Neither daemon has any outside source or sink: no
NTP ``server``/``pool`` lines, no SNMP trap sinks, no AgentX socket, no command socket; they
listen on srv's lab addresses only, and srv's namespace has routes to the lab prefixes only.
Their pid, drift and persistent files live in the work directory, so two labs (two prefixes)
and a daemon of the machine itself never share one.
"""

from __future__ import annotations

from pathlib import Path

from . import topology as t

# key -> (namespace, UDP port, addresses): the lab waits until ``ss`` shows every address
READY: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "chronyd": (t.SRV_NS, t.NTP_PORT, (t.SRV_V4, t.SRV_V6)),
    "snmpd": (t.SRV_NS, t.SNMP_PORT, (t.SRV_V4, t.SRV_V6)),
}


def chronyd(workdir: Path) -> list[str]:
    """chronyd serving its own clock at NTP_STRATUM: ``local`` makes it a server with no
    source at all; -x leaves the system clock alone (a namespace shares the machine's)."""
    conf = workdir / "chrony.conf"
    conf.write_text(
        f"local stratum {t.NTP_STRATUM}\n"
        "allow all\n"
        f"port {t.NTP_PORT}\n"
        f"bindaddress {t.SRV_V4}\n"
        f"bindaddress {t.SRV_V6}\n"
        "cmdport 0\n"  # no chronyc over UDP
        "bindcmdaddress /\n"  # and no Unix command socket (/run/chrony is the machine's)
        f"pidfile {workdir / 'chronyd.pid'}\n"
        f"driftfile {workdir / 'chrony.drift'}\n"
    )
    # -u root: chronyd would switch to the _chrony user, which cannot write the work dir
    return ["chronyd", "-x", "-d", "-u", "root", "-f", str(conf)]


def snmpd(workdir: Path) -> list[str]:
    """snmpd answering v1/v2c gets for community SNMP_COMMUNITY from the lab and SNMPv3
    discovery (its USM answers every engine-ID probe with a Report)."""
    conf = workdir / "snmpd.conf"
    persistent = workdir / "snmp"
    persistent.mkdir(exist_ok=True)
    conf.write_text(
        f"agentaddress udp:{t.SRV_V4}:{t.SNMP_PORT},udp6:[{t.SRV_V6}]:{t.SNMP_PORT}\n"
        f"rocommunity {t.SNMP_COMMUNITY} {t.LAB_NET_V4}\n"
        f"rocommunity6 {t.SNMP_COMMUNITY} {t.LAB_NET_V6}\n"
        f"sysDescr {t.SNMP_SYSDESCR}\n"
        "sysLocation probe lab\n"
        "sysContact nobody\n"
        "sysServices 72\n"
    )
    env = [
        "env",
        f"SNMP_PERSISTENT_DIR={persistent}",  # engine boots, engine ID: not /var/lib/snmp
        f"SNMPCONFPATH={workdir}",
        "MIBS=",  # no MIB files to look for (Debian ships none): no warnings
    ]
    # -f foreground, -Le log to stderr, -C no default config files, only -c's
    return [*env, "snmpd", "-f", "-Le", "-C", "-c", str(conf)]
