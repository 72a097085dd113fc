"""Reading what the user hands over as files: target lists, audit files, profiles and UDP
payloads.

Bounded on purpose: at most ``MAX_INPUT_BYTES`` from a regular file (or standard input, where
the command allows ``-``). A device, a FIFO or a directory is refused before anything is
read: ``/dev/zero`` never ends and a FIFO without a writer never answers. TOML is parsed here
too, so that every way a parser can fail (syntax, nesting too deep for the parser's
recursion, an integer past the interpreter's 4300-digit limit) is the caller's ``BadInput``.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from typing import Any

from probe.errors import BadInput

__all__ = ["MAX_INPUT_BYTES", "parse_toml", "read_bytes", "read_text"]

MAX_INPUT_BYTES = 16 * 1024 * 1024  # 16 MiB: some 300 000 audit hosts or target lines
_AT_END = "(at end of document)"
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_text(
    path: str | os.PathLike[str], what: str, error: type[BadInput], *, stdin: bool = False
) -> str:
    """The UTF-8 text of ``path`` (``what`` names it in messages: "audit file"), or
    ``error``. With ``stdin``, ``-`` reads standard input (bounded as well)."""
    data = read_bytes(path, what, error, stdin=stdin)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        name = _name(path, what, stdin)
        raise error(f"{name} is not UTF-8 text (byte {exc.start + 1} cannot be decoded)") from None


def read_bytes(
    path: str | os.PathLike[str],
    what: str,
    error: type[BadInput],
    *,
    stdin: bool = False,
    limit: int = MAX_INPUT_BYTES,
) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them (more is ``error``), as ``read_text``
    reads them."""
    path_name = os.fsdecode(path)
    from_stdin = stdin and path_name == "-"
    name = _name(path, what, stdin)
    try:
        if not from_stdin:
            data = _read_regular(path_name, name, error, stdin, limit)
        elif sys.stdin is None:
            raise error(f"cannot read the {name}: standard input is closed")
        else:
            data = sys.stdin.buffer.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {name}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL character in the name
        raise error(f"cannot read {name}: that is not a usable file name") from None
    if len(data) > limit:
        raise error(f"{name} is larger than {_size(limit)}, more than probe reads")
    return data


def _name(path: str | os.PathLike[str], what: str, stdin: bool) -> str:
    path_name = os.fsdecode(path)
    if stdin and path_name == "-":
        return f"{what} on standard input"
    return f"{what} {path_name}"


def _read_regular(path: str, name: str, error: type[BadInput], stdin: bool, limit: int) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat() can refuse it.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _KINDS if test(mode)), "not a regular file")
            alternative = " or - for standard input" if stdin else ""
            raise error(f"cannot read {name}: it is {kind}; give a file{alternative}")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        return f.read(limit + 1)


def _size(size: int) -> str:
    mib = 1024 * 1024
    return f"{size // mib} MiB" if size % mib == 0 else f"{size} bytes"


def parse_toml(text: str, where: str, error: type[BadInput]) -> dict[str, Any]:
    """``tomllib.loads``; any failure becomes ``error`` saying what is wrong and where
    (``where`` names the file: "audit file site.toml")."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message ends with "(at line L, column C)", or "(at end of document)".
        raise error(f"{where} is not valid TOML: {_position(str(exc), text)}") from None
    except RecursionError:
        raise error(
            f"{where} nests arrays or tables too deeply for the TOML parser (a few hundred levels)"
        ) from None
    except ValueError:  # an integer of more than 4300 decimal digits
        raise error(f"{where} holds a number too long to read (more than 4300 digits)") from None


def _position(message: str, text: str) -> str:
    """The parser's message, with "end of document" turned into a line and column too."""
    if message.endswith(_AT_END):
        lines = text.split("\n")
        return message[: -len(_AT_END)] + (
            f"(at end of document, line {len(lines)}, column {len(lines[-1]) + 1})"
        )
    return message
