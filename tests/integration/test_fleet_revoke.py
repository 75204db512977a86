"""vpnfleet.control.revoke against the lab: check mode plans, the real run cuts the user off on every
server (checked on the servers themselves, and by trying to reconnect as the user), a second run
changes nothing, other users stay connected.

The lab (docs/lab.md): ocserv 1.1.6 / 1.3.0 / 1.5.0 on bookworm / trixie / sid with alice and bob
connected from the client host; an OpenVPN 2 server with a CRL in the openvpn role's PKI layout on
the first openvpn_servers host (playbooks/fleet/openvpn-setup.yml) with alice and bob connected;
OpenVPN 3 sessions of the profile lab-vpn on the openvpn3 hosts. Run with VPNFLEET_LAB_ID=fleet.
"""

import json
import os
import time


HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
REVOKE = os.path.join(REPO_ROOT, "playbooks", "revoke.yml")
FLEET = os.path.join(HERE, "playbooks", "fleet")
OVPN_SOCKET = "/run/openvpn-mgmt/fleet.sock"
USER = "bob"        # revoked
OTHER = "alice"     # must stay connected


def ocserv_users(lab, host):
    out = lab.run(host, ["occtl", "-j", "show", "users"]).stdout
    return [u for u in json.loads(out) if u.get("State") == "connected"]


def ocserv_valid_session_users(lab, host):
    # occtl's sessions JSON has trailing commas before 1.4; the names are enough here
    out = lab.run(host, ["occtl", "show", "sessions", "valid"]).stdout
    return [line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1]


def passwd_line(lab, host, user):
    out = lab.run(host, ["cat", "/etc/ocserv/ocpasswd"]).stdout
    return [line for line in out.splitlines() if line.startswith(user + ":")][0]


def openvpn_common_names(lab, host):
    out = lab.run(host, "echo 'status 3' | socat -t 1 - UNIX-CONNECT:%s" % OVPN_SOCKET).stdout
    return [line.split("\t")[1] for line in out.splitlines() if line.startswith("CLIENT_LIST\t")]


def o3_sessions(lab, host):
    out = lab.run(host, ["openvpn3", "sessions-list"]).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.strip().startswith("Path:")]


def report(res):
    """The summary lines of the run (the run_once debug task)."""
    for result in res.results("Report who was cut off where").values():
        if "msg" in result:
            return result["msg"]
    raise AssertionError("no report in %s" % res.stdout[-2000:])


def test_revoke_check_mode_changes_nothing(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    res = lab.playbook(REVOKE, extra_vars={"revoke_users": [USER], "revoke_openvpn3_configs": ["lab-vpn"]},
                       check=True)
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    lines = report(res)
    text = "\n".join(lines)
    assert "check mode" in lines[0]
    for host in lab.groups["ocserv_servers"]:
        assert any(line.startswith(host) and "would be locked: %s" % USER in line
                   and "would be terminated: %s" % USER in line for line in lines), text
        # nothing changed on the server
        assert USER in [u["Username"] for u in ocserv_users(lab, host)]
        assert not passwd_line(lab, host, USER).split(":")[2].startswith("!")
    assert "CRL /etc/openvpn/server/fleet/crl.pem: %s would be revoked" % USER in text
    assert "would be killed (halt): %s" % USER in text
    assert USER in openvpn_common_names(lab, ovpn)
    for host in lab.groups["openvpn3_clients"]:
        assert "session(s) would be disconnected (lab-vpn)" in text
        assert o3_sessions(lab, host)


def test_revoke_cuts_the_user_off_everywhere(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    client = lab.groups["vpn_clients"][0]
    t0 = time.time()
    res = lab.playbook(REVOKE, extra_vars={"revoke_users": [USER], "revoke_openvpn3_configs": ["lab-vpn"]})
    elapsed = time.time() - t0
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    lines = report(res)
    text = "\n".join(lines)
    print("revoke took %.1f s\n%s" % (elapsed, text))

    for host in lab.groups["ocserv_servers"]:
        # on the server: no connection, no valid session cookie, account locked
        assert USER not in [u["Username"] for u in ocserv_users(lab, host)], host
        assert USER not in ocserv_valid_session_users(lab, host), host
        assert passwd_line(lab, host, USER).split(":")[2].startswith("!"), host
        # the other user is untouched
        assert OTHER in [u["Username"] for u in ocserv_users(lab, host)], host
        # and the user cannot log in again (password refused while locked)
        attempt = lab.run(client, ["vfl-oc", "cookie", host, USER], check=False, timeout=60)
        assert attempt.returncode != 0 and "COOKIE=" not in attempt.stdout, (host, attempt.stdout, attempt.stderr)

    # OpenVPN: certificate in the CRL, connection gone, a reconnect is refused by the CRL
    assert USER not in openvpn_common_names(lab, ovpn)
    assert OTHER in openvpn_common_names(lab, ovpn)
    crl = lab.run(ovpn, "openssl crl -in /etc/openvpn/server/fleet/crl.pem -noout -text").stdout
    serial = lab.run(ovpn, ["openssl", "x509", "-in", "/etc/openvpn/server/fleet/pki/clients/%s.crt" % USER,
                            "-noout", "-serial"]).stdout.strip().split("=")[1]
    assert serial in crl.replace(":", "").upper()
    assert lab.run(client, ["systemctl", "is-active", "openvpn-client@fleet-%s" % USER],
                   check=False).stdout.strip() != "active"   # HALT: the client exited
    lab.run(client, ["systemctl", "restart", "openvpn-client@fleet-%s" % USER])
    deadline = time.time() + 40
    refused = ""
    while time.time() < deadline:
        refused = lab.run(ovpn, "journalctl -u openvpn-server@fleet --no-pager --since '-60s' "
                                "| grep 'certificate revoked: CN=%s' || true" % USER).stdout
        if refused:
            break
        time.sleep(2)
    assert refused, "the server never refused the revoked certificate"
    assert USER not in openvpn_common_names(lab, ovpn)
    lab.run(client, ["systemctl", "stop", "openvpn-client@fleet-%s" % USER])

    # OpenVPN 3: the sessions of the profile are gone
    for host in lab.groups["openvpn3_clients"]:
        assert o3_sessions(lab, host) == [], host

    for host in lab.groups["ocserv_servers"]:
        assert any(line.startswith(host) and "accounts locked: %s" % USER in line for line in lines), text


def test_revoke_second_run_changes_nothing(fleet):
    lab = fleet
    res = lab.playbook(REVOKE, extra_vars={"revoke_users": [USER], "revoke_openvpn3_configs": ["lab-vpn"]})
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    assert all(s.get("changed", 0) == 0 for s in res.stats.values()), res.stats
    text = "\n".join(report(res))
    assert "accounts already locked" in text and "not connected" in text


def test_revoke_refuses_an_empty_request(fleet):
    res = fleet.playbook(REVOKE, extra_vars={"revoke_users": []})
    assert res.rc != 0
    assert "Give revoke_users" in json.dumps(res.data)


def test_revoke_with_the_servers_named_in_the_inventory(fleet):
    """revoke_ocserv_instances names the servers: no discovery, one ocserv_user task per server locks
    the account and ends the sessions (the fleet fixture unlocks and reconnects afterwards)."""
    lab = fleet
    hosts = lab.groups["ocserv_servers"]
    user = OTHER
    for host in hosts:
        assert user in [u["Username"] for u in ocserv_users(lab, host)], host
    res = lab.playbook(REVOKE, extra_vars={
        "revoke_users": [user], "revoke_hosts": ",".join(hosts),
        "revoke_ocserv_instances": [{"socket": "/var/run/occtl.socket", "passwd_file": "/etc/ocserv/ocpasswd"}]})
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
    for host in hosts:
        assert res.result("Find the VPN servers of the host", host).get("skipped"), host
        got = res.results("Lock the ocserv accounts and terminate their sessions")[host]["results"][0]
        assert got["changed"] and got["accounts"] == [user] and got["terminated"] == [user], got
        assert user not in [u["Username"] for u in ocserv_users(lab, host)], host
        assert user not in ocserv_valid_session_users(lab, host), host
        assert passwd_line(lab, host, user).split(":")[2].startswith("!"), host
    text = "\n".join(report(res))
    for host in hosts:
        assert any(line.startswith(host) and "accounts locked: %s" % user in line for line in text.splitlines()), text
