"""vpnfleet.control.reload against the lab, checked on the servers themselves: check mode validates and
reloads nothing; the real run reloads every server (ocserv's log, OpenVPN's SIGHUP) and leaves them healthy
with the same users connected; an invalid configuration stops everything before any reload; a batch whose
sessions do not come back stops the rollout there. Run with VPNFLEET_LAB_ID=fleet (see test_fleet_revoke).
"""

import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
RELOAD = os.path.join(REPO_ROOT, "playbooks", "reload.yml")
FLEET = os.path.join(HERE, "playbooks", "fleet")
OVPN_CONF = "/etc/openvpn/server/fleet.conf"
OVPN_SOCKET = "/run/openvpn-mgmt/fleet.sock"
# what each ocserv version logs when it reloads its configuration
OCSERV_RELOAD_MARK = "reloading configuration|reading supplemental config"


def ocserv_reloads(lab, host):
    out = lab.run(host, "journalctl -u ocserv --no-pager -o cat | grep -cE '%s' || true" % OCSERV_RELOAD_MARK).stdout
    return int(out.strip() or 0)


def openvpn_starts(lab, host):
    """How often the fleet instance (re)initialised: a SIGHUP and a restart both end with this line. The
    instance drops privileges and its configuration is root's only (as the openvpn role writes it), so the
    playbook restarts it through systemd instead of a SIGHUP it would not survive."""
    out = lab.run(host, "journalctl -u openvpn-server@fleet --no-pager -o cat "
                        "| grep -c 'Initialization Sequence Completed' || true").stdout
    return int(out.strip() or 0)


def ocserv_connected(lab, host):
    out = lab.run(host, ["occtl", "-j", "show", "users"]).stdout
    return sorted(set(u["Username"] for u in json.loads(out) if u.get("State") == "connected"))


def openvpn_common_names(lab, host):
    out = lab.run(host, "echo 'status 3' | socat -t 1 - UNIX-CONNECT:%s" % OVPN_SOCKET).stdout
    return sorted(line.split("\t")[1] for line in out.splitlines() if line.startswith("CLIENT_LIST\t"))


def snapshot(lab):
    ovpn = lab.groups["openvpn_servers"][0]
    snap = {"ocserv": {}, "ocserv_users": {}}
    for host in lab.groups["ocserv_servers"]:
        snap["ocserv"][host] = ocserv_reloads(lab, host)
        snap["ocserv_users"][host] = ocserv_connected(lab, host)
    snap["ovpn_starts"] = openvpn_starts(lab, ovpn)
    snap["openvpn_cns"] = openvpn_common_names(lab, ovpn)
    return snap


SERVERS = "ocserv_servers:openvpn_servers"


def test_reload_check_mode_validates_and_reloads_nothing(fleet):
    lab = fleet
    before = snapshot(lab)
    res = lab.playbook(RELOAD, extra_vars={"reload_hosts": SERVERS, "reload_batch": 3}, check=True)
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    # the validation ran for real
    validated = res.results("Validate the ocserv configuration")
    assert sorted(validated) == sorted(lab.groups["ocserv_servers"])
    parsed = res.results("Parse the OpenVPN configuration (options and their arguments)")
    assert not parsed[lab.groups["openvpn_servers"][0]].get("skipped")
    after = snapshot(lab)
    assert after == before


def test_reload_keeps_the_servers_healthy_and_the_sessions(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    before = snapshot(lab)
    assert before["openvpn_cns"] == ["alice", "bob"]
    res = lab.playbook(RELOAD, extra_vars={"reload_hosts": SERVERS, "reload_batch": 2})
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    after = snapshot(lab)
    for host in lab.groups["ocserv_servers"]:
        assert after["ocserv"][host] > before["ocserv"][host], "ocserv on %s was not reloaded" % host
        assert after["ocserv_users"][host] == before["ocserv_users"][host], host
        status = json.loads(lab.run(host, ["occtl", "-j", "show", "status"]).stdout)
        assert status["Status"] == "online"
    assert after["ovpn_starts"] == before["ovpn_starts"] + 1
    assert after["openvpn_cns"] == before["openvpn_cns"]
    assert res.result("Restart the OpenVPN instances that cannot re-read their files after SIGHUP", ovpn)["changed"]
    assert lab.run(ovpn, ["systemctl", "is-active", "openvpn-server@fleet"]).stdout.strip() == "active"
    reports = [r["msg"] for r in res.results("Show the outcome of every host").values() if "msg" in r][0]
    assert any(line.startswith(ovpn + ":") and "reloaded" in line for line in reports), reports


def test_reload_invalid_configuration_touches_nothing(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    before = snapshot(lab)
    lab.run(ovpn, "cp %s %s.good && echo 'no-such-option 1' >> %s" % (OVPN_CONF, OVPN_CONF, OVPN_CONF))
    try:
        res = lab.playbook(RELOAD, extra_vars={"reload_hosts": SERVERS, "reload_batch": 3})
    finally:
        lab.run(ovpn, "mv %s.good %s" % (OVPN_CONF, OVPN_CONF))
    assert res.rc != 0
    failed = res.result("Parse the OpenVPN configuration (options and their arguments)", ovpn)
    assert failed.get("failed")
    assert "no-such-option" in json.dumps(failed)
    # any_errors_fatal: no reload anywhere
    with pytest.raises(KeyError):
        res.results("Reload ocserv (configuration validated again first)")
    assert snapshot(lab) == before


def test_reload_stops_the_rollout_when_sessions_do_not_come_back(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    assert ovpn == lab.groups["ocserv_servers"][0], "the lab's first host serves both (first batch)"
    before = snapshot(lab)
    # valid configuration that only lets one client back in after the SIGHUP
    lab.run(ovpn, "cp %s %s.good && echo 'max-clients 1' >> %s" % (OVPN_CONF, OVPN_CONF, OVPN_CONF))
    try:
        res = lab.playbook(RELOAD, extra_vars={"reload_hosts": SERVERS, "reload_batch": 1,
                                               "reload_settle_timeout": 20})
    finally:
        # configuration back, and the server started with it
        lab.run(ovpn, "mv %s.good %s && systemctl restart openvpn-server@fleet" % (OVPN_CONF, OVPN_CONF))
    assert res.rc != 0
    check = res.result("Check that the servers are healthy and the sessions are as expected", ovpn)
    assert check.get("failed") and "rollout stops" in check["msg"], check
    # one of the two clients could not come back (max-clients 1)
    assert "openvpn fleet alice" in check["msg"] or "openvpn fleet bob" in check["msg"], check["msg"]
    after = snapshot(lab)
    assert after["ovpn_starts"] >= before["ovpn_starts"] + 1   # + the restart that puts it back
    # the later batches were not touched
    for host in lab.groups["ocserv_servers"][1:]:
        assert after["ocserv"][host] == before["ocserv"][host], host
