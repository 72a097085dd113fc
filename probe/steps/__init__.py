"""The checklist's steps besides the engine: the edge that asks the network and records what
it said, each as plain records (no library objects leak out).

- ``dns``: names through dnspython (A/AAAA, CNAME chain, which resolver answered).
- ``route``: the client's own route and source address toward a target.
- ``ping``: ICMP echo with icmplib sockets; ``icmp`` decodes what came back (pure).
- ``arp``: ARP / IPv6 neighbour solicitation for on-link targets, all in one window.
- ``hello``: ``--app``'s connect() and protocol hello; ``cert`` reads TLS certificates (pure).
"""
