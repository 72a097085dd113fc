"""What to probe, from what the user typed (pure, no I/O but reading the files named):

- ``targets``: host names, addresses and CIDR blocks -> Target records; target files; the
  guard on a run's size.
- ``ports``: port specs and service names -> PortRequest records; --ports with --profile.
- ``profiles``: the named port profiles (shipped and the user's own).
- ``audit``: audit files -> an AuditFile (checked, counted on port ranges) -> an AuditPlan of
  expected states per host and port; its records are in ``expectations``.
- ``inputs``: every file above read with bounds (a regular file or stdin, at most 16 MiB)
  and every TOML failure turned into the caller's BadInput.
"""
