"""RSTs of an earlier connection on a reused 4-tuple: late, not injected.

A client that opens a new connection from the port of one that just ended (a pool reusing its
ports, a fixed source port, port exhaustion) can see a RST of the old connection arrive right
after its new SYN: the server resetting what it still holds of the old connection (a
retransmitted FIN or data segment of it, still in flight), or a RST sent earlier and delayed.
In SYN-SENT the client drops it (it does not acknowledge the new SYN, RFC 793), and the
server's SYN/ACK follows: the picture of an injected RST, with a harmless cause.

The RST's numbers tell them apart. A stale RST continues the old connection: its sequence
number lies ahead of the server's ISN of that connection by at most ``attempt.WINDOW`` (what
the server sent on it), and its acknowledgment, when it has one, ahead of the client's old ISN
(never the new SYN's ISN + 1). A RST forged against the new SYN has no reason to fall there:
it mostly acknowledges the new SYN, or carries 0 or a number of no connection. Only 4-tuples
whose earlier handshake the capture saw complete are judged so; the ISNs of the last ``KEPT``
such connections are kept (measured: 0.37 kB each, under 4 MB): a port is reused seconds after
its last connection, or the late RST has long arrived.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from probe.capture.analyze.attempt import Key, ahead
from probe.capture.packets import TcpSegment
from probe.engine.tcp import TH_ACK

KEPT: Final = 10_000  # completed connections remembered
_MASK: Final = 0xFFFFFFFF


class Recent:
    """The client's and the server's ISNs of the last completed connection per 4-tuple."""

    def __init__(self, max_kept: int = KEPT) -> None:
        self.kept: OrderedDict[Key, tuple[int, int]] = OrderedDict()
        self.max_kept = max_kept
        self.stale = 0  # RSTs found to be an earlier connection's

    def completed(self, key: Key, client_isn: int, server_isn: int) -> None:
        self.kept[key] = (client_isn, server_isn)
        self.kept.move_to_end(key)
        if len(self.kept) > self.max_kept:
            self.kept.popitem(last=False)

    def is_stale(self, key: Key, rst: TcpSegment, syn_seq: int) -> bool:
        """The RST "from the server" after a new SYN of ``key`` continues the connection
        that 4-tuple completed before (counted in ``stale``)."""
        old = self.kept.get(key)
        if old is None:
            return False
        client_isn, server_isn = old
        if rst.flags & TH_ACK and (
            rst.ack == (syn_seq + 1) & _MASK or not ahead(rst.ack, client_isn)
        ):
            return False
        if not ahead(rst.seq, server_isn):
            return False
        self.stale += 1
        return True
