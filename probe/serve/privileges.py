"""Dropping root after the raw sockets are open: an unprivileged user keeping CAP_NET_RAW alone.

The engine's raw sockets are opened once, at start, as root. A socket already open keeps
working whatever the process becomes, so the exporter then runs as ``--user`` (``nobody``)
with one capability left, CAP_NET_RAW: what the ping and ARP steps need for the sockets they
open per probe. The steps, with the standard C library's calls through ctypes (no compiler,
no extra package):

1. ``prctl(PR_SET_KEEPCAPS, 1)``: this thread keeps its permitted set across setuid;
2. ``setgroups([])``, ``setgid``, ``setuid``: glibc applies the ids to every thread; the
   other threads lose every capability (they hold open sockets and need none);
3. ``capset``: effective and permitted = {CAP_NET_RAW}, inheritable empty;
4. ``prctl(PR_SET_NO_NEW_PRIVS, 1)``: nothing executed later can gain privileges.

Threads started afterwards by this thread (the HTTP workers, the step pool) inherit its
capability. ``capabilities()`` reads back what the kernel says, for the log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pwd
from dataclasses import dataclass

from probe.errors import BadInput, NoPermission, quoted

PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
CAP_NET_RAW = 13
_CAP_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


@dataclass(frozen=True)
class Dropped:
    user: str
    uid: int
    gid: int
    effective: int  # the capability mask the kernel reports afterwards

    def sentence(self) -> str:
        caps = "cap_net_raw only" if self.effective == 1 << CAP_NET_RAW else hex(self.effective)
        return (
            f"dropped root: now running as {self.user} (uid {self.uid}, gid {self.gid}), "
            f"capabilities: {caps}; the raw sockets opened at start stay in use"
        )


def lookup_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise BadInput(f"--user {quoted(name)}: no such user on this system") from None


def require_root(name: str) -> None:
    """NoPermission (exit 3) unless this process can become user ``name``."""
    if os.geteuid() != 0:
        raise NoPermission(
            f"--user {quoted(name)} needs probe serve to start as root (it opens the raw "
            "sockets, then drops to that user)"
        )


def drop_to(name: str) -> Dropped:
    """Become user ``name`` keeping CAP_NET_RAW only; NoPermission when not root."""
    entry = lookup_user(name)
    require_root(name)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _check(libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    header = _Header(_CAP_VERSION_3, 0)
    data = (_Data * 2)()
    data[0].effective = data[0].permitted = 1 << CAP_NET_RAW
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset(CAP_NET_RAW)")
    _check(libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS, 0)")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    return Dropped(name, os.getuid(), os.getgid(), capabilities())


def capabilities() -> int:
    """This thread's effective capability mask, as /proc says."""
    with open(f"/proc/self/task/{_thread_id()}/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def _thread_id() -> int:
    import threading

    return threading.get_native_id()


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise NoPermission(f"could not drop privileges: {what} failed: {os.strerror(err)}")
