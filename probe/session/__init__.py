"""Sessions: one per process, running the checklist over the network edge.

- ``core``: the Session (engines, worker pool, edge, cancel event), safe from several threads.
- ``options``: what one run is asked to do (CheckOptions, TraceOptions).
- ``edge``: the network edge as plain functions (DNS, route, ping, ARP/ND, hellos, engines).
- ``resolve``: which addresses of a target to probe, shared by check and trace.
- ``check``: the checklist walk; ``trace``: the TTL walk; ``audit``: an audit plan's run.
"""
