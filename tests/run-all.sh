#!/usr/bin/env bash
# The whole suite on a fresh Debian machine (run as root for the lab tests):
# Debian packages for the lab, a venv with probe and its test tools, lint, types, tests.
# README's test command and .ci/run both call this script.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
    need=()
    for cmd in ip:iproute2 nft:nftables dnsmasq:dnsmasq-base tcpdump:tcpdump curl:curl nmap:nmap \
        setpriv:util-linux snmpd:snmpd prometheus:prometheus tshark:tshark; do
        command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd#*:}")
    done
    python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq
        # snmpd and prometheus are daemons the lab starts itself, inside its namespaces.
        # Their postinst must not start them on this machine: a policy-rc.d denying every
        # start, for this install only, unless the machine has one already. --no-remove:
        # never let an install take away a package the machine has.
        guard=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            guard=/usr/sbin/policy-rc.d
            trap 'rm -f "$guard"' EXIT
            printf '#!/bin/sh\nexit 101\n' >"$guard"
            chmod 755 "$guard"
        fi
        # tshark (the analyze corpus test's reference): wireshark-common asks whether users
        # may capture; answered no beforehand (only root reads files here, nothing captures).
        echo 'wireshark-common wireshark-common/install-setuid boolean false' |
            debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-remove "${need[@]}" >/dev/null
        if [ -n "$guard" ]; then
            rm -f "$guard"
            trap - EXIT
        fi
    fi
    # chronyd, the lab's NTP server, without installing chrony: the package conflicts with
    # the machine's own time daemon (systemd-timesyncd) and would start asking public NTP
    # pools. The lab needs only the binary, which it runs inside srv's namespace: unpacked
    # into .lab-tools/ (its libraries are in every Debian base system).
    if ! command -v chronyd >/dev/null 2>&1 && [ ! -x .lab-tools/usr/sbin/chronyd ]; then
        mkdir -p .lab-tools
        (cd .lab-tools && { apt-get download chrony 2>/dev/null || { apt-get update -qq &&
            apt-get download chrony 2>/dev/null; }; } && dpkg-deb -x chrony_*.deb . &&
            rm -f chrony_*.deb)
    fi
    export PATH="$PWD/.lab-tools/usr/sbin:$PATH"
    # As root the lab must run: a lab test that cannot build its namespaces fails, never skips.
    export PROBE_REQUIRE_LAB=1
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
export PATH="$PWD/.venv/bin:$PATH"

ruff check probe tests benchmarks
ruff format --check probe tests benchmarks
mypy
python -m pytest -q -p no:cacheprovider "$@"
