#!/usr/bin/env bash
# Records the real seed captures of tests/fuzz/seeds/ (see README.md there): two network
# namespaces joined by a veth pair, made here and deleted on exit, with 198.18.x addresses
# only (nothing leaves the pair). Needs root, iproute2, nftables, tcpdump and python3.
# The client connects to an open port, a closed one (RST), one dropped (SYN retransmissions)
# and one rejected with ICMP admin-prohibited, twice, while tcpdump writes Ethernet, Linux
# cooked SLL and SLL2, micro- and nanosecond pcap files. (VLAN and QinQ frames are made from
# these by make_seeds.py: the kernel this was written on has no 802.1Q module.) Run it again
# only to renew the files: the fuzz tests read the committed ones.
set -euo pipefail
cd "$(dirname "$0")"
out=seeds
mkdir -p "$out"
A="probe-fuzz-client-$$"
B="probe-fuzz-server-$$"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add veth-fz netns "$A" type veth peer name veth-fz netns "$B"
for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set veth-fz up
    # No IPv6 on these links: router solicitations and DAD would only add noise.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$A" addr add 198.18.50.1/24 dev veth-fz
ip -n "$B" addr add 198.18.50.2/24 dev veth-fz
ip -n "$B" addr add 198.18.51.2/24 dev veth-fz
ip -n "$A" route add 198.18.51.0/24 via 198.18.50.2  # a second server address, one route away

# The server: 80 open, 81 closed (RST), 82 dropped, 83 rejected by ICMP admin-prohibited.
ip netns exec "$B" nft -f - <<'NFT'
table inet fuzz {
    chain input {
        type filter hook input priority 0;
        tcp dport 82 drop
        tcp dport 83 reject with icmp type admin-prohibited
    }
}
NFT
ip netns exec "$B" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(16)
while True:
    c, _ = s.accept()
    c.recv(100)
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello\n")
    c.close()
' &
pids+=($!)

capture() {  # capture NAME tcpdump-options...
    local name=$1
    shift
    ip netns exec "$A" tcpdump -U -s 200 -w "$out/$name" "$@" 'tcp or icmp' 2>/dev/null &
    pids+=($!)
}
capture eth.pcap -i veth-fz
capture eth-nano.pcap -i veth-fz --time-stamp-precision nano
capture sll.pcap -i any -y LINUX_SLL
capture sll2-nano.pcap -i any -y LINUX_SLL2 --time-stamp-precision nano
sleep 2

ip netns exec "$A" python3 -c '
import socket, threading
def attempt(host, port):
    s = socket.socket()
    s.settimeout(3.5)  # the dropped port: the SYN and its retransmissions at 1 s and 3 s
    try:
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.recv(100)
    except OSError:
        pass
    s.close()
jobs = [
    threading.Thread(target=attempt, args=(host, port))
    for host in ("198.18.50.2", "198.18.51.2")
    for port in (80, 81, 82, 83)
]
for j in jobs:
    j.start()
for j in jobs:
    j.join()
'
sleep 1
for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
ls -l "$out"
