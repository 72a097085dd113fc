"""probe: why can't this client connect to that server?

DNS, the client's route, ping and crafted SYNs against each port, read like a network
engineer reads a capture, then explained in plain words with the evidence.
"""

__version__ = "0.1.0"
