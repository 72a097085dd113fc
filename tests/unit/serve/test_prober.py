"""The probe's time budget from the scrape, and the privilege drop's refusals (what can be
checked without becoming another user: the lab test drops for real)."""

from __future__ import annotations

import pytest

from probe.errors import BadInput, NoPermission
from probe.plan.expectations import Expect, Expectation
from probe.serve import privileges
from probe.serve.config import Module
from probe.serve.prober import MIN_BUDGET, budget

MODULE = Module("m", (Expectation(80, Expect.OPEN),), timeout=8.0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 8.0),  # no header: the module's timeout
        ("10", 8.0),  # the module's timeout caps the scrape's
        ("3", 2.5),  # the scrape's timeout minus the offset
        ("0.55", MIN_BUDGET),  # never below the least worth starting
        ("soon", 8.0),  # not a number: ignored
        ("-1", 8.0),
        ("nan", 8.0),
        ("inf", 8.0),
    ],
)
def test_budget(header: str | None, seconds: float) -> None:
    assert budget(MODULE, header, offset=0.5) == pytest.approx(seconds)


def test_dropping_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privileges.os, "geteuid", lambda: 1000)
    with pytest.raises(NoPermission, match="needs probe serve to start as root"):
        privileges.drop_to("nobody")


def test_an_unknown_user_is_bad_input() -> None:
    with pytest.raises(BadInput, match="no such user"):
        privileges.lookup_user("no-such-user-for-probe")


def test_the_log_line_names_the_capability() -> None:
    dropped = privileges.Dropped("nobody", 65534, 65534, 1 << privileges.CAP_NET_RAW)
    assert "capabilities: cap_net_raw only" in dropped.sentence()
    assert "0x3000" in privileges.Dropped("x", 1, 1, 0x3000).sentence()
