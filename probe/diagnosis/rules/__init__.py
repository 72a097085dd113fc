"""The diagnosis rules, one module per family; ``probe.diagnosis.registry`` runs them in order.

Each rule is a function ``(t, ctx) -> Finding | None`` over one ``TargetReport`` and its
``Context``, and returns at most ONE finding: ports sharing a code are grouped into that
finding's ``ports``.

- ``gates``: the name does not resolve, or the client has no route (nothing was probed)
- ``names``: the name as this client resolves it (a hosts file that disagrees with DNS)
- ``host``: the whole host (duplicate IP, down on the link, unreachable, silent, ping filtered)
- ``ports``: one port or a few (refused, refused by a middlebox, rejected, filtered, path
  loss, partial reachability)
- ``app``: the application behind an open port (silent, hello fails, TLS certificate)
- ``options``: the handshake's TCP options (MSS clamped, options stripped)
- ``family``: one name's IPv4 and IPv6 addresses compared (across targets)
"""
