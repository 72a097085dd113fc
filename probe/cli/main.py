"""The entry point: ``main`` runs the app (``probe.cli.app``) and turns every "could not run"
error (a ``ProbeError`` raised anywhere below), every usage error and every Ctrl-C into one
line on stderr and its exit status, once. The line goes through ``errors.printable``: what it
quotes from the input cannot reach the terminal as control characters.

Nothing is imported here at module level but the standard library's smallest modules: the
console script imports this module before ``entry()`` can catch anything, and a Ctrl-C in
the first moments (while typer and the commands load) must still be one line and exit 130.
"""

from __future__ import annotations

import os
import sys

INTERRUPTED = 130  # ExitStatus.INTERRUPTED, before anything of probe is imported
GC_THRESHOLD = 100_000  # allocations between young-generation collections (default 700)


def main() -> None:
    """Run the command line in ``sys.argv``; end with ``sys.exit(status)``."""
    try:
        status = _run(sys.argv[1:])
    except KeyboardInterrupt:  # while the modules load, or between the handlers below
        status = _say("interrupted", INTERRUPTED)
    sys.exit(status)


def _run(args: list[str]) -> int:
    import gc
    import signal
    import threading

    import typer

    from probe.cli import options
    from probe.cli.app import command
    from probe.errors import ProbeError

    group = command()
    # A run builds hundreds of thousands of small records that all live to the end (a
    # full-range scan: 65535 probes, answers, verdicts) and form no cycles. The cyclic
    # collector would walk them again and again for nothing: collect far less often.
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)
    options.stopped_at_once.clear()
    # Only the main thread may set handlers; a SIGINT ignored from the start (a background
    # job of a script) stays ignored.
    previous = signal.getsignal(signal.SIGINT)
    ours = threading.current_thread() is threading.main_thread() and previous not in (
        signal.SIG_IGN,
        None,  # set outside Python: leave it alone
    )
    if ours:
        signal.signal(signal.SIGINT, options.stop_at_once)
    try:
        status = group.main(args=args, prog_name="probe", standalone_mode=False)
        if options.stopped_at_once.is_set():  # typer made the KeyboardInterrupt an exit 130
            status = _say("interrupted", INTERRUPTED)
    except typer.Abort:  # older click's word for a Ctrl-C (also: end of input at a prompt)
        status = _say("interrupted", INTERRUPTED)
    except ProbeError as exc:
        status = _say(str(exc), exc.status)
    except Exception as exc:
        status = _usage_error(exc)
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    return int(status or 0)


def entry() -> None:
    """The ``probe`` command: ``main()``, then a hard exit once the output is flushed.

    A full-range scan leaves about a million small objects; a normal exit frees them one by
    one (~0.1 s) only for the process to end. Every file probe writes is closed by then, and
    the only threads that may still run are pings abandoned after Ctrl-C, which a normal exit
    would wait for; nothing is lost by skipping that (mypy exits this way too).
    """
    try:
        try:
            main()
            status = 0
        except SystemExit as done:
            status = _exit_code(done.code)
    except KeyboardInterrupt:  # a Ctrl-C while the last one was being reported
        status = INTERRUPTED
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (probe ... | head): nothing more to say
        pass
    except KeyboardInterrupt:
        status = INTERRUPTED
    os._exit(status)


def _say(message: str, status: int) -> int:
    """One line on stderr, safe to show; the status to exit with."""
    from probe.errors import printable

    print(f"probe: {printable(message)}", file=sys.stderr)
    return int(status)


def _exit_code(code: object) -> int:
    """What the interpreter would make of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _usage_error(exc: Exception) -> int:
    """A usage error from click (an unknown option, a missing argument) on one line in the
    form of probe's own, with its exit status (2). Recent typer carries its own copy of
    click, older typer uses click itself, so these are recognised by what they offer rather
    than by class."""
    message, code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
    if not callable(message) or not isinstance(code, int):
        raise exc
    text = str(message()).strip().rstrip(".")
    if text[:1].isupper() and text[1:2].islower():  # "No such option" -> "no such option"
        text = text[0].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", None) or "probe"
    return _say(f"{text} (see '{where} --help')", code)
