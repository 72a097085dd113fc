"""Evidence -> findings -> exit status: what an engineer reading the capture would tell the
helpdesk. Pure: plain records in, plain records out; no I/O.

Modules, in the order the data walks through them:

- ``classify``: one probe's answer -> port state and reason, per transport (``Reading``);
  TTL arithmetic and address comparison
- ``words``: the wording shared by the rules, ``probe analyze`` and the report writers
- ``context``: what every rule needs about one target, computed once (``Context``), and the
  caller's circumstances (``Method``, timeout, ``Source``)
- ``middlebox``: proving who sent a RST (TTL-limited SYNs, SYN proxies, IP IDs)
- ``rules/``: the rules, one module per family (gates, host, ports, app, options, family)
- ``registry``: the rules in order, ``diagnose(t)`` and the cross-target additions
- ``outcome``: the one exit policy (interrupted, cannot probe, problem, ok)
- ``expect``: an audit's expectations held against a check report
- ``trace``: reading a TCP traceroute's hops
"""
