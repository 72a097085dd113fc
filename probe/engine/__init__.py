"""The engine: every probe the tool sends to a port, and what came back.

- ``base``: the Engine interface (``scan``, ``cancel``, ``close``), jobs, config, results.
- ``raw``: the raw-socket engine (sockets opened once, shared by concurrent scans);
  ``scan`` runs one scan's loop, ``receive`` reads the sockets and routes each answer to
  its scan, ``sender`` puts probes on the wire (``mmsg``: sendmmsg), ``timing`` paces them.
- ``transport``: what a transport protocol provides; ``tcp`` implements it (udp beside it).
- Shared pieces: ``cookies`` (which probe an answer belongs to), ``icmp`` (errors quoting a
  probe), ``bpf`` (kernel filters), ``inet`` (checksums, headers).
- ``connect``: the connect() fallback; ``fake``: a scripted engine for tests.
"""
