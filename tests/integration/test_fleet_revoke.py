"""vpnfleet.control.revoke and vpnfleet.control.reinstate against the lab: hostile names refused before
anything changes, check mode plans, the real run cuts the user off on every server (checked on the
servers themselves, and by trying to reconnect as the user with what it has: password, cookie,
certificate), a second run changes nothing, other users stay connected; reinstate gives the access
back (the same clients get in again) and changes nothing the second time.

The lab (docs/lab.md): ocserv 1.1.6 / 1.3.0 / 1.5.0 on bookworm / trixie / sid with alice and bob
connected from the client host; an OpenVPN 2 server with a CRL in the openvpn role's PKI layout on
the first openvpn_servers host (playbooks/fleet/openvpn-setup.yml) with alice and bob connected, a
second one "fleetccd" there with a client-config-dir and no CRL (the CA not at hand); the lab's own
OpenVPN instances (CRL signed on the controller, no client-config-dir: "not blocked"); OpenVPN 3
sessions of the profile lab-vpn on the openvpn3 hosts. Run with VPNFLEET_LAB_ID=fleet.
"""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ocserv_support as ocs  # noqa: E402


HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
REVOKE = os.path.join(REPO_ROOT, "playbooks", "revoke.yml")
REINSTATE = os.path.join(REPO_ROOT, "playbooks", "reinstate.yml")
FLEET = os.path.join(HERE, "playbooks", "fleet")
OVPN_SOCKET = "/run/openvpn-mgmt/fleet.sock"
CCD_SOCKET = "/run/openvpn-mgmt/fleetccd.sock"
USER = "bob"        # revoked
OTHER = "alice"     # must stay connected
# the lab's own OpenVPN instances have a CRL signed on the controller and no client-config-dir: the run
# says "not blocked: reconnect possible" there, which these tests accept (the refusal has its own test)
EXTRA = {"revoke_users": [USER], "revoke_openvpn3_configs": ["lab-vpn"], "revoke_accept_reconnect": True}


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


def openvpn_common_names(lab, host, sock=OVPN_SOCKET):
    out = lab.run(host, "echo 'status 3' | socat -t 1 - UNIX-CONNECT:%s" % sock).stdout
    return [line.split("\t")[1] for line in out.splitlines() if line.startswith("CLIENT_LIST\t")]


def journal_has(lab, host, unit, text, since):
    """Whether the unit's journal since ``since`` (epoch) has a line with ``text``."""
    out = lab.run(host, ["journalctl", "-u", unit, "--no-pager", "-o", "cat",
                         "--since", "@%d" % int(since)], check=False).stdout
    return text in out


def client_unit_state(lab, unit):
    return lab.run(lab.groups["vpn_clients"][0], ["systemctl", "is-active", unit], check=False).stdout.strip()


def ccd_file(lab, host, instance, name=USER):
    res = lab.run(host, ["cat", "/etc/openvpn/server/%s/ccd/%s" % (instance, name)], check=False)
    return res.stdout if res.returncode == 0 else None


def crl_serials(lab, host):
    crl = lab.run(host, "openssl crl -in /etc/openvpn/server/fleet/crl.pem -noout -text").stdout
    return crl.replace(":", "").upper()


def cert_serial(lab, host, name=USER):
    return lab.run(host, ["openssl", "x509", "-in", "/etc/openvpn/server/fleet/pki/clients/%s.crt" % name,
                          "-noout", "-serial"]).stdout.strip().split("=")[1]


def o3_sessions(lab, host):
    out = lab.run(host, ["openvpn3", "sessions-list"]).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.strip().startswith("Path:")]


def report(res):
    """The summary lines of the run (the run_once debug task)."""
    for result in res.results("Report who was cut off where").values():
        if "msg" in result:
            return result["msg"]
    raise AssertionError("no report in %s" % res.stdout[-2000:])


# names that cannot be a user name, a certificate common name and a file name (CCD/<name>,
# clients/<name>.crt): refused by the first task, before discovery, on no host anything changed
@pytest.mark.parametrize("extra", [
    {"revoke_users": ["bob\n"]},
    {"revoke_users": ["bob"], "revoke_common_names": ["../bob"]},
    {"revoke_users": ["bob", "a/b", "..", "bob\u2028x", " bob", "-bob", "x" * 65, "", "bob\nalice", ".hidden"]},
], ids=["newline", "dotdot-cn", "mixed"])
def test_revoke_refuses_hostile_names(fleet, extra):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    for book in (REVOKE, REINSTATE):
        res = lab.playbook(book, extra_vars=dict(extra, revoke_accept_reconnect=True))
        assert res.rc != 0, (book, res.stats)
        msg = " ".join(r.get("msg", "") for r in res.results("Check the request").values())
        assert "refused" in msg, (book, res.results("Check the request"))
        bad = [n for n in extra.get("revoke_users", []) + extra.get("revoke_common_names", []) if n != "bob"]
        for name in bad:
            assert json.dumps(name) in msg, (name, msg)   # listed as JSON: a newline shows
        # nothing ran after the check: no discovery, no change anywhere
        ran = [t.get("task", {}).get("name") for t in res.tasks()]
        assert "Find the VPN servers of the host" not in ran, (book, ran)
        assert all(s.get("changed", 0) == 0 for s in res.stats.values()), res.stats
    for host in lab.groups["ocserv_servers"]:
        assert USER in [u["Username"] for u in ocserv_users(lab, host)], host
        assert not passwd_line(lab, host, USER).split(":")[2].startswith("!"), host
    assert ccd_file(lab, ovpn, "fleet") is None and ccd_file(lab, ovpn, "fleetccd") is None
    assert lab.run(ovpn, "ls /etc/openvpn/server/fleet/ccd /etc/openvpn/server/fleetccd/ccd").stdout.split() == [
        "/etc/openvpn/server/fleet/ccd:", "/etc/openvpn/server/fleetccd/ccd:"]
    assert USER in openvpn_common_names(lab, ovpn)


def test_revoke_refuses_a_bad_facts_max_age(fleet):
    """revoke_facts_max_age decides whether cached facts count as fresh: anything but whole seconds up to a
    day ("inf" would make facts of any age fresh) is refused by the first task, before anything is looked at."""
    lab = fleet
    for book, value in ((REVOKE, "inf"), (REVOKE, "300\n"), (REVOKE, -1), (REINSTATE, "nan")):
        res = lab.playbook(book, extra_vars={"revoke_users": [USER], "revoke_facts_max_age": value})
        assert res.rc != 0, (book, value, res.stats)
        msg = " ".join(r.get("msg", "") for r in res.results("Check the request").values())
        assert "revoke_facts_max_age is whole seconds" in msg, (book, value, msg)
        ran = [t.get("task", {}).get("name") for t in res.tasks()]
        assert "Find the VPN servers of the host" not in ran, (book, value, ran)
        assert all(s.get("changed", 0) == 0 for s in res.stats.values()), res.stats


def test_revoke_check_mode_changes_nothing(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    res = lab.playbook(REVOKE, extra_vars=EXTRA, check=True)
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    lines = report(res)
    text = "\n".join(lines)
    print(text)
    assert "check mode" in lines[0]
    for host in lab.groups["ocserv_servers"]:
        assert any(line.startswith(host) and "would be locked: %s" % USER in line
                   and "would be terminated: %s" % USER in line for line in lines), text
        # nothing changed on the server
        assert USER in [u["Username"] for u in ocserv_users(lab, host)]
        assert not passwd_line(lab, host, USER).split(":")[2].startswith("!")
    assert "CRL /etc/openvpn/server/fleet/crl.pem: %s would be revoked" % USER in text
    assert "client-config-dir /etc/openvpn/server/fleet/ccd: %s would be disabled" % USER in text
    assert "openvpn fleetccd: no crl-verify; client-config-dir /etc/openvpn/server/fleetccd/ccd: %s would be " \
           "disabled; connections would be killed (halt): %s" % (USER, USER) in text
    assert "would be killed (halt): %s" % USER in text
    # the lab's instances: CRL signed on the controller, no client-config-dir
    assert "openvpn lab: CRL /etc/openvpn/server/lab/crl.pem: CA key not on the host; not blocked: " \
           "reconnect possible (%s) - accepted" % USER in text
    assert USER in openvpn_common_names(lab, ovpn)
    assert USER in openvpn_common_names(lab, ovpn, CCD_SOCKET)
    assert ccd_file(lab, ovpn, "fleet") is None and ccd_file(lab, ovpn, "fleetccd") is None
    for host in lab.groups["openvpn3_clients"]:
        assert "session(s) would be disconnected (lab-vpn)" in text
        assert o3_sessions(lab, host)


def test_revoke_fails_where_the_name_can_come_back(fleet):
    """An instance with neither a CRL the play can sign nor a client-config-dir (the lab's own): the
    run fails there unless revoke_accept_reconnect (checked in check mode: the plan already says so)."""
    lab = fleet
    res = lab.playbook(REVOKE, extra_vars={"revoke_users": [USER]}, check=True)
    assert res.rc != 0
    failed = res.results("Fail the hosts where the revocation did not complete or a revoked name can reconnect")
    for host in lab.groups["openvpn_servers"]:
        assert failed[host].get("failed"), (host, failed)
        assert "lab: %s" % USER in failed[host]["msg"] and "revoke_accept_reconnect" in failed[host]["msg"]
        assert "fleet: " not in failed[host]["msg"]
    for host in lab.groups["ocserv_servers"]:
        # the other steps ran (as a plan) all the same
        assert res.result("Lock the ocserv accounts and terminate their sessions", host)["results"][0]["accounts"] == [USER]
    text = "\n".join(report(res))
    assert "not blocked: reconnect possible (%s)" % USER in text and "accepted" not in text


def test_revoke_cuts_the_user_off_everywhere(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    client = lab.groups["vpn_clients"][0]
    # what the user has besides its password: a session cookie in use on every ocserv server
    cookies = {}
    for host in lab.groups["ocserv_servers"]:
        cookies[host] = ocs.cookie(lab, host, USER)
        ocs.connect_with_cookie_bg(lab, host, cookies[host], "rv-%s" % host)
    for host in lab.groups["ocserv_servers"]:
        assert ocs.wait_until(lambda: len(ocs.connections(lab, host, USER)) >= 2, 30), host
    t0 = time.time()
    res = lab.playbook(REVOKE, extra_vars=EXTRA)
    elapsed = time.time() - t0
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
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
        # and the user cannot log in again: password refused while locked, the cookie refused (401)
        attempt = lab.run(client, ["vfl-oc", "cookie", host, USER], check=False, timeout=60)
        assert attempt.returncode != 0 and "COOKIE=" not in attempt.stdout, (host, attempt.stdout, attempt.stderr)
        assert ocs.connect_cookie(lab, host, cookies[host]) == 2, host
        ocs.stop_unit(lab, "vfl-octest-rv-%s" % host)

    # OpenVPN with a CRL: certificate in the CRL, connection gone, a reconnect is refused by the CRL
    assert USER not in openvpn_common_names(lab, ovpn)
    assert OTHER in openvpn_common_names(lab, ovpn)
    assert cert_serial(lab, ovpn) in crl_serials(lab, ovpn)
    assert "disable" in ccd_file(lab, ovpn, "fleet")
    # HALT: the client exits (OpenVPN takes a few seconds to act on it)
    assert ocs.wait_until(lambda: client_unit_state(lab, "openvpn-client@fleet-%s" % USER) != "active", 30)
    since = time.time() - 1
    lab.run(client, ["systemctl", "restart", "openvpn-client@fleet-%s" % USER])
    assert ocs.wait_until(lambda: journal_has(lab, ovpn, "openvpn-server@fleet", "certificate revoked", since), 40, 2), \
        "the server never refused the revoked certificate"
    assert USER not in openvpn_common_names(lab, ovpn)
    lab.run(client, ["systemctl", "stop", "openvpn-client@fleet-%s" % USER])

    # OpenVPN without the CA at hand: the client-config-dir refuses the name, the others stay
    assert "disable" in ccd_file(lab, ovpn, "fleetccd")
    assert USER not in openvpn_common_names(lab, ovpn, CCD_SOCKET)
    assert OTHER in openvpn_common_names(lab, ovpn, CCD_SOCKET)
    assert ocs.wait_until(lambda: client_unit_state(lab, "openvpn-client@fleetccd-%s" % USER) != "active", 30)
    since = time.time() - 1
    lab.run(client, ["systemctl", "restart", "openvpn-client@fleetccd-%s" % USER])
    assert ocs.wait_until(lambda: journal_has(lab, ovpn, "openvpn-server@fleetccd", "'disable' directive", since), 40, 2), \
        lab.run(ovpn, "journalctl -u openvpn-server@fleetccd --no-pager -n 30", check=False).stdout
    # the refusal comes after the TLS handshake: the server lists the refused instance (no address)
    # until the client has asked for its options and got AUTH_FAILED, then the client exits by itself
    # (stopped before that, the instance would stay listed until the server's ping timeout)
    unit = "openvpn-client@fleetccd-%s" % USER
    assert ocs.wait_until(lambda: journal_has(lab, client, unit, "AUTH_FAILED", since), 40, 2)
    assert ocs.wait_until(lambda: client_unit_state(lab, unit) != "active", 30)
    assert not journal_has(lab, client, unit, "Initialization Sequence Completed", since)
    assert ocs.wait_until(lambda: USER not in openvpn_common_names(lab, ovpn, CCD_SOCKET), 30)

    # OpenVPN 3: the sessions of the profile are gone
    for host in lab.groups["openvpn3_clients"]:
        assert o3_sessions(lab, host) == [], host

    for host in lab.groups["ocserv_servers"]:
        assert any(line.startswith(host) and "accounts locked: %s" % USER in line for line in lines), text
    assert "not blocked: reconnect possible (%s) - accepted" % USER in text


def test_revoke_second_run_changes_nothing(fleet):
    lab = fleet
    res = lab.playbook(REVOKE, extra_vars=EXTRA)
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    assert all(s.get("changed", 0) == 0 for s in res.stats.values()), res.stats
    text = "\n".join(report(res))
    assert "accounts already locked" in text and "not connected" in text
    assert "CRL: %s already revoked" % USER in text and "client-config-dir: already disabled" in text


def reinstate_report(res):
    for result in res.results("Report who was given access back where").values():
        if "msg" in result:
            return result["msg"]
    raise AssertionError("no report in %s" % res.stdout[-2000:])


def test_reinstate_check_mode_changes_nothing(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    res = lab.playbook(REINSTATE, extra_vars={"revoke_users": [USER]}, check=True)
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
    lines = reinstate_report(res)
    text = "\n".join(lines)
    print(text)
    assert "check mode" in lines[0]
    for host in lab.groups["ocserv_servers"]:
        assert any(line.startswith(host) and "accounts would be unlocked: %s" % USER in line for line in lines), text
        assert passwd_line(lab, host, USER).split(":")[2].startswith("!"), host
    assert "CRL /etc/openvpn/server/fleet/crl.pem: %s would be taken out" % USER in text
    assert "client-config-dir /etc/openvpn/server/fleetccd/ccd: %s would be enabled again" % USER in text
    assert "openvpn lab: CRL /etc/openvpn/server/lab/crl.pem: CA key not on the host" in text
    assert cert_serial(lab, ovpn) in crl_serials(lab, ovpn)
    assert "disable" in ccd_file(lab, ovpn, "fleet") and "disable" in ccd_file(lab, ovpn, "fleetccd")


def test_reinstate_gives_the_access_back(fleet):
    lab = fleet
    ovpn = lab.groups["openvpn_servers"][0]
    client = lab.groups["vpn_clients"][0]
    res = lab.playbook(REINSTATE, extra_vars={"revoke_users": [USER]})
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
    text = "\n".join(reinstate_report(res))
    print(text)
    for host in lab.groups["ocserv_servers"]:
        assert not passwd_line(lab, host, USER).split(":")[2].startswith("!"), host
        # the same client gets in again (its unit logs in with the password), the other user stayed
        ocs.connect_unit(lab, host, USER)
        assert OTHER in [u["Username"] for u in ocserv_users(lab, host)], host
    assert cert_serial(lab, ovpn) not in crl_serials(lab, ovpn)
    # the files revoke created are gone with its block
    assert ccd_file(lab, ovpn, "fleet") is None and ccd_file(lab, ovpn, "fleetccd") is None
    for instance, sock in (("fleet", OVPN_SOCKET), ("fleetccd", CCD_SOCKET)):
        lab.run(client, ["systemctl", "restart", "openvpn-client@%s-%s" % (instance, USER)])
        assert ocs.wait_until(lambda: USER in openvpn_common_names(lab, ovpn, sock), 60, 2), \
            lab.run(ovpn, "journalctl -u openvpn-server@%s --no-pager -n 30" % instance, check=False).stdout
        assert OTHER in openvpn_common_names(lab, ovpn, sock)


def test_reinstate_second_run_changes_nothing(fleet):
    lab = fleet
    res = lab.playbook(REINSTATE, extra_vars={"revoke_users": [USER]})
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
    assert all(s.get("changed", 0) == 0 for s in res.stats.values()), res.stats
    text = "\n".join(reinstate_report(res))
    assert "not locked: %s" % USER in text and "CRL: not revoked" in text
    assert "client-config-dir: nothing revoke wrote" in text


def test_revoke_refuses_an_empty_request(fleet):
    res = fleet.playbook(REVOKE, extra_vars={"revoke_users": []})
    assert res.rc != 0
    assert "Give revoke_users" in json.dumps(res.data)


O3_CN = "o3lab-client"   # the certificate of the lab's OpenVPN 3 profile lab-vpn (lab/provision/openvpn3.yml)


O3_SOCKET = "/run/openvpn-server/o3lab.sock"   # the OpenVPN 2 server of the OpenVPN 3 sessions


def o3_server_cns(lab, host):
    return openvpn_common_names(lab, host, O3_SOCKET)


def o3_start(lab, host):
    """Start a session of the profile, as its user would: the result of ``openvpn3 session-start``."""
    return lab.run(host, ["timeout", "90", "openvpn3", "session-start", "--config", "lab-vpn"], check=False,
                   timeout=120)


def test_openvpn3_profile_is_refused_after_revoke(fleet):
    """An OpenVPN 3 client: revoke disconnects its sessions and blocks its certificate's common name at the
    server it connects to (client-config-dir); starting the profile again is refused. Reinstate lets the
    same profile in again."""
    lab = fleet
    hosts = lab.groups["openvpn3_clients"]
    extra = {"revoke_common_names": [O3_CN], "revoke_openvpn3_configs": ["lab-vpn"], "revoke_hosts": ",".join(hosts)}
    for host in hosts:
        if not o3_sessions(lab, host):   # the tests above disconnected the lab's session
            assert o3_start(lab, host).returncode == 0, host
        assert O3_CN in o3_server_cns(lab, host), host
    try:
        res = lab.playbook(REVOKE, extra_vars=extra)
        assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
        text = "\n".join(report(res))
        assert text.count("client-config-dir /etc/openvpn/server/o3lab/ccd: %s disabled" % O3_CN) == len(hosts), text
        for host in hosts:
            assert o3_sessions(lab, host) == [], host
            assert "disable" in lab.run(host, ["cat", "/etc/openvpn/server/o3lab/ccd/" + O3_CN]).stdout, host
            # the profile, started again by its user, is refused by the server
            started = o3_start(lab, host)
            assert started.returncode != 0, (host, started.stdout, started.stderr)
            assert "authentication failed" in started.stdout + started.stderr, (host, started.stdout, started.stderr)
            # the refused attempt leaves the server's list once the client has its AUTH_FAILED
            assert ocs.wait_until(lambda: O3_CN not in o3_server_cns(lab, host), 60), o3_server_cns(lab, host)
            lab.run(host, ["openvpn3", "session-manage", "--config", "lab-vpn", "--disconnect"], check=False)
        # a second run changes nothing
        res = lab.playbook(REVOKE, extra_vars=extra)
        assert res.rc == 0 and all(res.stats[h]["changed"] == 0 for h in hosts), (res.stats, res.failures())
        res = lab.playbook(REINSTATE, extra_vars=extra)
        assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
        for host in hosts:
            assert lab.run(host, ["test", "-e", "/etc/openvpn/server/o3lab/ccd/" + O3_CN], check=False).returncode != 0
            # the same profile gets in again (and the lab has its live session back)
            started = o3_start(lab, host)
            assert started.returncode == 0, (host, started.stdout, started.stderr)
            assert O3_CN in o3_server_cns(lab, host), host
            assert len(o3_sessions(lab, host)) == 1, host
    finally:
        # whatever failed: the lab's profile is not left blocked, and has its one live session
        for host in hosts:
            lab.run(host, ["rm", "-f", "/etc/openvpn/server/o3lab/ccd/" + O3_CN], check=False)
            if not o3_sessions(lab, host):
                o3_start(lab, host)


def test_revoke_and_reinstate_with_fresh_cached_facts(fleet, tmp_path):
    """Fresh vpn_facts facts in the fact cache (as the fleet report leaves them): revoke and reinstate take
    the servers from them and do not run vpn_facts; facts that are too old or incomplete are not used."""
    lab = fleet
    hosts = lab.groups["ocserv_servers"]
    user = OTHER
    cache = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
             "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600"}
    gather = """
- hosts: %s
  gather_facts: false
  become: true
  tasks:
    - name: VPN facts
      vpnfleet.control.vpn_facts: {gather: %s}
"""
    res = lab.playbook(gather % (",".join(hosts), "[all]"), env=cache)
    assert res.rc == 0, res.failures()
    # ocserv accounts only: no OpenVPN common name (the lab's OpenVPN instances are on these hosts too)
    extra = {"revoke_users": [user], "revoke_common_names": [], "revoke_hosts": ",".join(hosts)}
    res = lab.playbook(REVOKE, extra_vars=extra, env=cache)
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
    text = "\n".join(report(res))
    for host in hosts:
        assert res.result("Find the VPN servers of the host", host).get("skipped"), host
        got = res.results("Lock the ocserv accounts and terminate their sessions")[host]["results"][0]
        assert got["accounts"] == [user] and got["terminated"] == [user], got
        assert user not in [u["Username"] for u in ocserv_users(lab, host)], host
        assert passwd_line(lab, host, user).split(":")[2].startswith("!"), host
    assert text.count("servers taken from the facts gathered") == len(hosts), text
    # too old (revoke_facts_max_age: 0) or incomplete (ocserv only): vpn_facts runs again
    res = lab.playbook(REVOKE, extra_vars=dict(extra, revoke_facts_max_age=0), env=cache, check=True)
    assert res.rc == 0, res.failures()
    for host in hosts:
        assert not res.result("Find the VPN servers of the host", host).get("skipped"), host
    res = lab.playbook(gather % (",".join(hosts), "[ocserv]"), env=cache)
    assert res.rc == 0, res.failures()
    res = lab.playbook(REVOKE, extra_vars=extra, env=cache, check=True)
    assert res.rc == 0, res.failures()
    for host in hosts:
        assert not res.result("Find the VPN servers of the host", host).get("skipped"), host
    # the undo from fresh facts (the check-mode run above left complete ones in the cache)
    res = lab.playbook(REINSTATE, extra_vars=extra, env=cache)
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-3000:])
    for host in hosts:
        assert res.result("Find the VPN servers of the host", host).get("skipped"), host
        assert not passwd_line(lab, host, user).split(":")[2].startswith("!"), host
        # the next test expects the user connected again
        ocs.connect_unit(lab, host, user)


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
