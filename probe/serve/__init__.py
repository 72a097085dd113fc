"""``probe serve``: a Prometheus multi-target exporter over one long-lived Session.

- ``config``: modules (what a ``/probe?module=`` probes and expects), from a TOML or YAML
  file or one per shipped profile; ``configfile`` reads the file and finds key lines.
- ``guard``: which targets and ports a request may touch (SSRF), and the in-flight limit.
- ``prober``: one request's probe through the Session, bounded by the scrape's deadline.
- ``exporter``: the exporter's own metrics; ``recent``: the bounded ring behind ``GET /``.
- ``app``: the WSGI routes; ``server``: start, privileges, SIGHUP reload, waitress.
- ``privileges``: drop root to an unprivileged user keeping only CAP_NET_RAW.

The metric families themselves are built by ``probe.output.openmetrics`` (shared with
``probe check --format openmetrics``).
"""
