"""Which format renders which result: every command picks its output here.

    render(report, FormatName.JSON, sys.stdout)
    render(audit_result, FormatName.TEXT, sys.stdout, junit_path=path)
    write(audit_result, FormatName.JUNIT, path)

Results: ``Report`` (check), ``TraceReport`` (trace), ``AuditResult`` (audit),
``CaptureAnalysis`` (analyze), ``ProfileList`` and ``PortProfile`` (profiles), ``WatchResult``
(watch: its summary; the live lines are ``text.watch.LiveText`` and ``json.watch``'s). A format a
result does not have (JUnit for a check) is a ``BadInput``. The format modules are imported
only when asked for, so that a run loads rich only when it prints text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TextIO, TypeVar, cast

from probe.errors import BadInput
from probe.model import Report, TraceReport
from probe.output import files
from probe.output.base import Format, FormatName, Options

__all__ = ["formats_of", "formatter", "render", "write"]

R = TypeVar("R")

_Make = Callable[[Options], Format[Any]]


# --------------------------------------------------------------------------- loaders


def _check_text(o: Options) -> Format[Any]:
    from probe.output.text.check import CheckText

    return CheckText(o)


def _check_json(o: Options) -> Format[Any]:
    from probe.output.json.check import CheckJson

    return CheckJson(o)


def _trace_text(o: Options) -> Format[Any]:
    from probe.output.text.trace import TraceText

    return TraceText(o)


def _trace_json(o: Options) -> Format[Any]:
    from probe.output.json.trace import TraceJson

    return TraceJson(o)


def _audit_text(o: Options) -> Format[Any]:
    from probe.output.text.audit import AuditText

    return AuditText(o)


def _audit_json(o: Options) -> Format[Any]:
    from probe.output.json.audit import AuditJson

    return AuditJson(o)


def _audit_junit(o: Options) -> Format[Any]:
    from probe.output.junit import AuditJunit

    return AuditJunit(o)


def _check_openmetrics(o: Options) -> Format[Any]:
    from probe.output.openmetrics import CheckOpenMetrics

    return CheckOpenMetrics(o)


def _audit_openmetrics(o: Options) -> Format[Any]:
    from probe.output.openmetrics import AuditOpenMetrics

    return AuditOpenMetrics(o)


def _analysis_text(o: Options) -> Format[Any]:
    from probe.output.text.analyze import AnalysisText

    return AnalysisText(o)


def _analysis_json(o: Options) -> Format[Any]:
    from probe.output.json.analyze import AnalysisJson

    return AnalysisJson(o)


def _profiles_text(o: Options) -> Format[Any]:
    from probe.output.text.profiles import ProfileListText

    return ProfileListText(o)


def _profiles_json(o: Options) -> Format[Any]:
    from probe.output.json.profiles import ProfileListJson

    return ProfileListJson(o)


def _profile_text(o: Options) -> Format[Any]:
    from probe.output.text.profiles import ProfileText

    return ProfileText(o)


def _profile_json(o: Options) -> Format[Any]:
    from probe.output.json.profiles import ProfileJson

    return ProfileJson(o)


def _watch_text(o: Options) -> Format[Any]:
    from probe.output.text.watch import WatchText

    return WatchText(o)


def _watch_json(o: Options) -> Format[Any]:
    from probe.output.json.watch import WatchJson

    return WatchJson(o)


def _repeated_text(o: Options) -> Format[Any]:
    from probe.output.text.watch import RepeatedText

    return RepeatedText(o)


def _repeated_openmetrics(o: Options) -> Format[Any]:
    from probe.output.openmetrics import RepeatedOpenMetrics

    return RepeatedOpenMetrics(o)


def _repeated_json(o: Options) -> Format[Any]:
    from probe.output.json.watch import RepeatedJson

    return RepeatedJson(o)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class _Kind:
    command: str  # the command whose result this is, for the error message
    formats: Mapping[FormatName, _Make]


_TEXT, _JSON, _JUNIT = FormatName.TEXT, FormatName.JSON, FormatName.JUNIT
_OPENMETRICS = FormatName.OPENMETRICS

# A check's or a trace's result is a model record, always loaded; the other kinds' types are
# imported only when a result is not one of those (a check never loads the audit's modules).
_CHECK = _Kind("check", {_TEXT: _check_text, _JSON: _check_json, _OPENMETRICS: _check_openmetrics})
_TRACE = _Kind("trace", {_TEXT: _trace_text, _JSON: _trace_json})


@cache
def _kinds() -> Mapping[type, _Kind]:
    from probe.diagnosis.expect import AuditResult
    from probe.diagnosis.watch.report import RepeatedReport, WatchResult
    from probe.output.views import CaptureAnalysis, ProfileList
    from probe.plan.profiles import PortProfile

    return {
        Report: _CHECK,
        TraceReport: _TRACE,
        AuditResult: _Kind(
            "audit",
            {
                _TEXT: _audit_text,
                _JSON: _audit_json,
                _JUNIT: _audit_junit,
                _OPENMETRICS: _audit_openmetrics,
            },
        ),
        CaptureAnalysis: _Kind("analyze", {_TEXT: _analysis_text, _JSON: _analysis_json}),
        ProfileList: _Kind("profiles", {_TEXT: _profiles_text, _JSON: _profiles_json}),
        PortProfile: _Kind("profiles", {_TEXT: _profile_text, _JSON: _profile_json}),
        WatchResult: _Kind("watch", {_TEXT: _watch_text, _JSON: _watch_json}),
        RepeatedReport: _Kind(
            "check",
            {_TEXT: _repeated_text, _JSON: _repeated_json, _OPENMETRICS: _repeated_openmetrics},
        ),
    }


def _kind(kind: type) -> _Kind | None:
    if kind is Report:
        return _CHECK
    if kind is TraceReport:
        return _TRACE
    return _kinds().get(kind)


# How an error message names a file of each format.
_FILE_WORDS: Mapping[FormatName, str] = {
    _TEXT: "text",
    _JSON: "JSON",
    _JUNIT: "JUnit",
    _OPENMETRICS: "OpenMetrics",
}


# --------------------------------------------------------------------------- entry points


def formats_of(kind: type) -> tuple[FormatName, ...]:
    """The formats a kind of result can be rendered in (none for an unknown kind)."""
    known = _kind(kind)
    return () if known is None else tuple(known.formats)


def formatter(kind: type[R], fmt: FormatName, options: Options | None = None) -> Format[R]:
    """The format ``fmt`` for results of type ``kind``, built with this run's options."""
    known = _kind(kind)
    if known is None:
        raise TypeError(f"no output format renders a {kind.__name__}")
    make = known.formats.get(fmt)
    if make is None:
        have = " or ".join(known.formats)
        raise BadInput(f"probe {known.command} has no {fmt} output; it writes {have}")
    return cast(Format[R], make(options or Options()))


def render(
    result: object,
    fmt: FormatName,
    out: TextIO,
    *,
    verbose: bool = False,
    junit_path: Path | None = None,
    color: bool | None = None,
) -> None:
    """Render ``result`` in ``fmt`` onto ``out`` (see ``Options`` for the keywords)."""
    options = Options(verbose=verbose, junit_path=junit_path, color=color)
    formatter(type(result), fmt, options).render(result, out)


def write(result: object, fmt: FormatName, path: Path) -> None:
    """Render ``result`` in ``fmt`` into the file ``path`` (replaced); a file that cannot be
    written is a BadInput. Check the path with ``files.check_writable`` before probing."""
    chosen = formatter(type(result), fmt)
    with files.written(path, _FILE_WORDS[fmt]) as out:
        chosen.render(result, out)
