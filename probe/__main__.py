"""``python -m probe``."""

from probe.cli.main import entry

entry()
