""" "Could not run" exceptions. Outcomes (filtered ports, NXDOMAIN...) are never exceptions.

    ProbeError                  base; carries the exit status cli/main.py maps it to
    ├── BadInput                exit 2: nothing was probed
    │   ├── TargetError         a target that is not a name, address or CIDR block
    │   ├── PortSpecError       a port spec that does not parse
    │   ├── ProfileError        unknown or malformed profile
    │   ├── AuditFileError      malformed audit file
    │   └── CaptureError        unreadable capture for analyze
    ├── CannotProbe             exit 3: could not probe at all
    │   ├── NoPermission        no raw sockets and no fallback allowed
    │   └── NoRoute             no route / source address toward any target
    └── Interrupted             exit 130: Ctrl-C while the report was being written

Each is raised with one human sentence; cli/main.py prints it on one line of stderr, through
``printable``. A message that quotes what the user gave uses ``quoted`` (a string) or
``shown`` (any value read from a file): control characters escaped, long values cut.
"""

from probe.status import ExitStatus

QUOTE_LIMIT = 100  # characters of an input quoted in a message
LINE_LIMIT = 1000  # characters of a whole error line


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


class Interrupted(ProbeError):
    status = ExitStatus.INTERRUPTED


def printable(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` safe for one line of a terminal or a log: every character that is not
    printable (C0/C1 controls such as ESC, BEL, CR, LF and NUL; bidirectional overrides such
    as U+202E; surrogates from undecodable arguments) written as Python escapes it
    (``\\x1b``, ``\\u202e``), and the whole cut after ``limit`` characters."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return text


def quoted(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``'text'`` for a message quoting the user's input: printable, and at most ``limit``
    characters of it, with the length said when it is cut."""
    if len(text) > limit:
        return f"'{printable(text[:limit])}...' ({len(text)} characters)"
    return f"'{printable(text)}'"


def shown(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value read from a file (TOML: a string, number, list, table...) for a message:
    strings ``quoted``, anything else as Python writes it, printable and cut."""
    if isinstance(value, str):
        return quoted(value, limit)
    try:
        text = repr(value)
    except ValueError:  # an integer past the interpreter's 4300-digit limit for str()
        return "a value too large to show"
    return printable(text, limit)
