""" "Could not run" exceptions. Outcomes (filtered ports, NXDOMAIN...) are never exceptions.

    ProbeError                  base; carries the exit status cli.py maps it to
    ├── BadInput                exit 2: nothing was probed
    │   ├── TargetError         a target that is not a name, address or CIDR block
    │   ├── PortSpecError       a port spec that does not parse
    │   ├── ProfileError        unknown or malformed profile
    │   ├── AuditFileError      malformed audit file
    │   └── CaptureError        unreadable capture for analyze
    └── CannotProbe             exit 3: could not probe at all
        ├── NoPermission        no raw sockets and no fallback allowed
        └── NoRoute             no route / source address toward any target

Each is raised with one human sentence; cli.py prints it on one line of stderr.
"""

from probe.status import ExitStatus


class ProbeError(Exception):
    status: ExitStatus = ExitStatus.PROBLEM


class BadInput(ProbeError):
    status = ExitStatus.BAD_INPUT


class TargetError(BadInput):
    pass


class PortSpecError(BadInput):
    pass


class ProfileError(BadInput):
    pass


class AuditFileError(BadInput):
    pass


class CaptureError(BadInput):
    pass


class CannotProbe(ProbeError):
    status = ExitStatus.CANNOT_PROBE


class NoPermission(CannotProbe):
    pass


class NoRoute(CannotProbe):
    pass
