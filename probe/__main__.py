"""``python -m probe``."""

from probe.cli import entry

entry()
