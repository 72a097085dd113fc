"""The command line: one module per command, the shared options built once (``options``),
and ``main`` — the entry point, where every "could not run" error becomes one line on stderr
and an exit status. Nothing below the CLI prints errors or exits.
"""
