"""Issue 12 in the lab: names as the client resolves them, DNS's own rcodes, and verdicts
that follow what the user asked for.

- The client's hosts file names intranet.probe.test (DNS: NXDOMAIN) and, for one test,
  maps web.probe.test to another lab host (a stale entry): the address probed is the one the
  client's applications get, and dns-hosts-override says what DNS says beside it.
- dnsmasq answers REFUSED for a name outside its zones: dns-refused, not SERVFAIL.
- The default profile against a host with one service exits 0, its closed ports one line.
- --app: a silent or failing application makes the exit status 1.
"""

from __future__ import annotations

from typing import Any

from . import topology as t
from .netlab import Lab


def only_target(report: dict[str, Any]) -> dict[str, Any]:
    targets: list[dict[str, Any]] = report["targets"]
    assert len(targets) == 1, targets
    return targets[0]


def codes(target: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in target["findings"]}


# ------------------------------------------------------------------ the hosts file


def test_a_name_only_the_hosts_file_knows_is_probed(lab: Lab) -> None:
    rc, report = lab.probe_json("check", t.NAME_HOSTS_ONLY, "-4", "-p", str(t.HTTP_PORT))
    target = only_target(report)
    assert target["address"] == t.SRV_V4
    assert target["dns"]["status"] == "nxdomain" and target["dns"]["addresses"] == []
    system = target["dns"]["system"]
    assert (system["status"], system["addresses"], system["source"]) == (
        "ok",
        [t.SRV_V4],
        "hosts",
    )
    assert system["hosts_file"] == "/etc/hosts"
    assert [p["state"] for p in target["ports"]] == ["open"]
    finding = codes(target)["dns-hosts-override"]
    assert finding["severity"] == "info"
    assert "DNS does not know the name (NXDOMAIN)" in finding["summary"]
    assert "dns-nxdomain" not in codes(target)
    assert rc == 0  # the client reaches it: a remark, not a problem


def test_a_stale_hosts_entry_is_probed_and_named(lab: Lab) -> None:
    with lab.client_hosts({t.NAME_WEB: t.DUAL_V4}):
        rc, report = lab.probe_json("check", t.NAME_WEB, "-4", "-p", str(t.HTTP_PORT))
        text = lab.run_probe("check", t.NAME_WEB, "-4", "-p", str(t.HTTP_PORT)).stdout
    target = only_target(report)
    assert target["address"] == t.DUAL_V4  # where the client's applications go
    assert target["dns"]["status"] == "ok" and target["dns"]["addresses"] == [t.SRV_V4]
    assert target["dns"]["system"]["addresses"] == [t.DUAL_V4]
    assert target["dns"]["system"]["source"] == "hosts"
    line = target["dns"]["system"]["hosts_lines"][0]
    finding = codes(target)["dns-hosts-override"]
    assert finding["severity"] == "warning"
    assert finding["summary"].startswith(
        f"This computer's hosts file maps {t.NAME_WEB} to {t.DUAL_V4}; DNS says {t.SRV_V4}:"
    )
    assert finding["evidence"][0] == f"/etc/hosts line {line}: {t.NAME_WEB} -> {t.DUAL_V4}"
    assert f"DNS ({t.DNS_V4}): {t.SRV_V4}" in finding["evidence"]
    assert (
        f"probe check {t.SRV_V4} shows whether the address DNS gives works"
        in (finding["next_steps"])
    )
    assert rc == 0  # port 80 answers on the host the entry names
    assert f"{t.DUAL_V4} from the hosts file; DNS servers: {t.SRV_V4} via {t.DNS_V4}" in text


def test_with_nameserver_dns_is_what_was_asked_for(lab: Lab) -> None:
    with lab.client_hosts({t.NAME_WEB: t.DUAL_V4}):
        rc, report = lab.probe_json(
            "check", t.NAME_WEB, "-4", "-p", str(t.HTTP_PORT), "--nameserver", t.DNS_V4
        )
    target = only_target(report)
    assert target["address"] == t.SRV_V4
    assert "system" not in target["dns"]
    assert "dns-hosts-override" not in codes(target)
    assert rc == 0


def test_a_name_dns_and_the_hosts_file_agree_on(lab: Lab) -> None:
    _, report = lab.probe_json("check", t.NAME_WEB, "-4", "-p", str(t.HTTP_PORT), "--no-ping")
    target = only_target(report)
    assert target["address"] == t.SRV_V4
    assert target["dns"]["system"]["source"] == "dns"
    assert "hosts_file" not in target["dns"]["system"]
    assert "dns-hosts-override" not in codes(target)


# ------------------------------------------------------------------ rcodes


def test_refused_is_its_own_status_in_plain_words(lab: Lab) -> None:
    rc, report = lab.probe_json("check", t.NAME_REFUSED, "-p", str(t.HTTP_PORT))
    target = only_target(report)
    assert target["dns"]["status"] == "refused"
    assert target["dns"]["detail"] == f"{t.DNS_V4} answered REFUSED"
    assert target["dns"]["system"]["status"] in ("not_found", "error")
    finding = codes(target)["dns-refused"]
    assert finding["severity"] == "error"
    assert "REFUSED" in finding["summary"] and "Do53" not in str(finding)
    assert not target["ports"] and rc == 1


# ------------------------------------------------------------------ verdicts


def test_the_default_profile_against_a_host_with_one_service(lab: Lab) -> None:
    proc = lab.run_probe("check", t.NEAR_V4, "--no-ping")
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "other ports of the profile closed: RST from the host" in out, out
    assert "✘" not in out and "port-refused" not in out
    assert "Verdict: Port 80 is open; the profile's" in out
    rc, report = lab.probe_json("check", t.NEAR_V4, "--no-ping")
    target = only_target(report)
    closed = [p for p in target["ports"] if p["state"] != "open"]
    assert closed and all(p["asked"] is False and p["state"] == "refused" for p in closed)
    assert [p["port"] for p in target["ports"] if p["state"] == "open"] == [t.HTTP_PORT]
    assert target["findings"] == [] and rc == 0


def test_ports_asked_for_by_name_keep_their_rules(lab: Lab) -> None:
    rc, report = lab.probe_json("check", t.NEAR_V4, "--no-ping", "-p", "80,81")
    assert rc == 1
    assert "port-refused" in codes(only_target(report))


def test_app_results_decide_the_exit_status(lab: Lab) -> None:
    silent, _ = lab.probe_json("check", t.SRV_V4, "-p", str(t.SILENT_PORT), "--app")
    answered, _ = lab.probe_json("check", t.SRV_V4, "-p", str(t.SSH_PORT), "--app")
    wrong, report = lab.probe_json(
        "check", t.SRV_V4, "-p", str(t.SSH_PORT), "--app-protocol", "http"
    )
    assert (silent, answered, wrong) == (1, 0, 1)
    assert codes(only_target(report))["app-error"]["severity"] == "error"
