"""Output: every result of every command, in every format, through one interface.

``base`` defines the ``Format`` interface (``FormatName``, per-run ``Options``);
``registry`` says which format renders which result and is what the commands call;
``views`` holds the result records that are not model records already. One package per
format: ``text/`` (a person at a terminal; rich), ``json/`` (``--json``), and ``junit``
(``audit --junit``); inside each, one module per kind of result. ``files`` checks and writes
an output file a user named.
"""
