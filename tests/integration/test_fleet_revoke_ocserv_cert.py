"""Revoke and reinstate for ocserv with certificate authentication, against the lab with real clients.

On the server host (``VPNFLEET_CERTAUTH_HOSTS``, default ``sid``; any of the lab's ocserv_servers) the
vpnfleet.control.ocserv role deploys a second ocserv beside the lab's password-file ocserv
(playbooks/certauth/setup.yml): ``auth = "certificate"``, the role's client CA, certificates for carol and
dave, the CRL, on port 4443 with its own unit, sockets and tun prefix. openconnect clients on the client
host log in with those certificates. Then playbooks/tasks/revoke-ocserv-cert.yml (run the way
playbooks/revoke.yml includes it, playbooks/certauth/revoke.yml) revokes carol: she is cut off, her
certificate and her cookie are refused when she tries to come back, dave and the lab's password users
stay connected; a second run and a role run change nothing (the revocation survives the role);
reinstate-ocserv-cert.yml gives carol access again, and its second run changes nothing.

Run: ``VPNFLEET_LAB_ID=certauth pytest tests/integration/test_fleet_revoke_ocserv_cert.py``.
"""

import json
import os
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYS = os.path.join(HERE, "playbooks", "certauth")
HOSTS = [h for h in os.environ.get("VPNFLEET_CERTAUTH_HOSTS", "sid").split(",") if h]
SOCKET = "/run/occtl-certauth.socket"
PKI = "/etc/ocserv/certauth-pki"
CONF = "/etc/ocserv/certauth.conf"
REVOKED = "carol"
OTHER = "dave"
HELPER = "/usr/local/bin/vfl-certauth"


def client_dir(server):
    return "/etc/vfl-certauth/%s" % server


def unit(server, user):
    return "vfl-certauth-%s-%s" % (server, user)


def connected(lab, server, socket=SOCKET):
    out = lab.run(server, ["occtl", "-s", socket, "-j", "show", "users"]).stdout
    return sorted(u["Username"] for u in json.loads(out) if u.get("State") == "connected")


def wait_for(predicate, timeout=90, step=1.0):
    end = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > end:
            return value
        time.sleep(step)


def connect(lab, server, user):
    """Start a real openconnect client as a transient unit on the client host; True once the server lists it."""
    client = lab.groups["vpn_clients"][0]
    lab.run(client, ["systemctl", "reset-failed", unit(server, user) + ".service"], check=False)
    lab.run(client, ["systemd-run", "--unit", unit(server, user), "--property", "Restart=no",
                     HELPER, client_dir(server), "run", user, "occ-%s-%s" % (server[:4], user[:5])])
    return wait_for(lambda: user in connected(lab, server), timeout=120)


def unit_active(lab, server, user):
    client = lab.groups["vpn_clients"][0]
    res = lab.run(client, ["systemctl", "is-active", unit(server, user) + ".service"], check=False)
    return res.stdout.strip() == "active"


def authenticate(lab, server, user):
    client = lab.groups["vpn_clients"][0]
    return lab.run(client, [HELPER, client_dir(server), "auth", user], check=False, timeout=90)


def crl_serials(lab, server):
    out = lab.run(server, ["openssl", "crl", "-in", PKI + "/crl.pem", "-noout", "-text"]).stdout
    return [line.split(":", 1)[1].strip().upper() for line in out.splitlines()
            if line.strip().startswith("Serial Number:")]


def cert_serial(lab, server, user):
    out = lab.run(server, ["openssl", "x509", "-in", "%s/clients/%s.crt" % (PKI, user), "-noout", "-serial"]).stdout
    return out.strip().split("=", 1)[1].upper()


def play(lab, server, mode, check=False):
    return lab.playbook(os.path.join(PLAYS, "revoke.yml"), check=check, timeout=900,
                        extra_vars={"certauth_host": server, "certauth_users": [REVOKED], "certauth_mode": mode})


def report(res, server):
    return res.result("Report", server)["msg"]


def changed(res, server):
    return res.stats.get(server, {}).get("changed")


@pytest.fixture(scope="module", params=HOSTS)
def certauth(request, lab):
    server = request.param
    if server not in lab.groups.get("ocserv_servers", []):
        pytest.skip("%s is not an ocserv server of the lab" % server)
    client = lab.groups["vpn_clients"][0]
    cleanup(lab, server)   # what an earlier run may have left: the role starts from nothing
    res = lab.playbook(os.path.join(PLAYS, "setup.yml"), extra_vars={"certauth_host": server}, timeout=1500)
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    # the users' certificates and keys, the server's URL and key pin, on the client host
    pin = lab.run(server, "certtool --certificate-info --infile /etc/ocserv/certauth-tls/server-cert.pem"
                          " | awk '/pin-sha256:/{print $1; exit}'").stdout.strip()
    assert pin.startswith("pin-sha256:"), pin
    lab.run(client, ["install", "-d", "-m", "0700", client_dir(server)])
    lab.run(client, "cat > %s/server" % client_dir(server),
            input="https://%s:4443/ %s\n" % (lab.hosts[server]["ip"], pin))
    for user in (REVOKED, OTHER):
        for ext in ("crt", "key"):
            text = lab.run(server, ["cat", "%s/clients/%s.%s" % (PKI, user, ext)]).stdout
            lab.run(client, "umask 077; cat > %s/%s.%s" % (client_dir(server), user, ext), input=text)
    with open(os.path.join(PLAYS, "files", "vfl-certauth.sh")) as f:
        lab.run(client, "cat > %s && chmod 0755 %s" % (HELPER, HELPER), input=f.read())
    yield server
    cleanup(lab, server)


def cleanup(lab, server):
    """The clients, then the second ocserv and everything the role made for it."""
    client = lab.groups["vpn_clients"][0]
    for user in (REVOKED, OTHER):
        lab.run(client, ["systemctl", "stop", unit(server, user) + ".service"], check=False)
        lab.run(client, ["systemctl", "reset-failed", unit(server, user) + ".service"], check=False)
    lab.run(client, ["rm", "-rf", client_dir(server)], check=False)
    lab.run(server, "systemctl disable --now ocserv-certauth.service; rm -rf /etc/systemd/system/ocserv-certauth.service"
                    " %s %s /etc/ocserv/certauth-tls /etc/ocserv/certauth-ocpasswd; systemctl daemon-reload"
                    % (CONF, PKI), check=False)
    if lab.run(server, ["test", "-S", "/var/run/occtl.socket"], check=False).returncode != 0:
        # ocserv 1.5.0 removes /var/run/occtl.socket when any ocserv of the host exits, also one with its own
        # occtl-socket-file (docs/roles.md): the lab's ocserv is restarted, its clients reconnected
        lab.run(server, ["systemctl", "restart", "ocserv"])
        assert wait_for(lambda: lab.run(server, ["test", "-S", "/var/run/occtl.socket"], check=False).returncode == 0,
                        timeout=60)
        for user in ("alice", "bob"):
            lab.run(client, ["systemctl", "restart", "oc-client@%s-%s.service" % (server, user)], check=False)


def test_role_deploys_certificate_auth(certauth, lab):
    server = certauth
    conf = lab.run(server, ["cat", CONF]).stdout
    assert 'auth = "certificate"' in conf
    assert "ca-cert = %s/ca.pem" % PKI in conf and "crl = %s/crl.pem" % PKI in conf
    assert "cert-user-oid = 2.5.4.3" in conf
    assert crl_serials(lab, server) == []
    mode = lab.run(server, ["stat", "-c", "%a", PKI + "/ca-key.pem"]).stdout.strip()
    assert mode == "600"
    # real clients log in with their certificates (the user name is the CN)
    assert connect(lab, server, REVOKED), connected(lab, server)
    assert connect(lab, server, OTHER), connected(lab, server)
    # vpn_facts reports the auth method and the CRL of the instance
    res = lab.playbook("""
- hosts: %s
  gather_facts: false
  tasks:
    - name: Facts
      vpnfleet.control.vpn_facts: {gather: [ocserv], details: false}
""" % server)
    assert res.rc == 0, res.failures()
    insts = res.result("Facts", server)["ansible_facts"]["vpn"]["ocserv_instances"]
    mine = [i for i in insts if i["config"] == CONF][0]
    assert mine["auth_methods"] == ["certificate"] and mine["crl"] == PKI + "/crl.pem"
    lab_ocserv = [i for i in insts if i["config"] == "/etc/ocserv/ocserv.conf"][0]
    assert lab_ocserv["auth_methods"] == ["plain"] and lab_ocserv["crl"] is None


def test_revoke_check_mode_changes_nothing(certauth, lab):
    server = certauth
    before = lab.run(server, ["sha256sum", PKI + "/crl.pem"]).stdout
    res = play(lab, server, "revoke", check=True)
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    lines = report(res, server)["lines"]
    assert any("would be revoked" in line and REVOKED in line for line in lines), lines
    assert lab.run(server, ["sha256sum", PKI + "/crl.pem"]).stdout == before
    assert REVOKED in connected(lab, server)


def test_revoke_cuts_off_and_refuses_the_certificate(certauth, lab):
    server = certauth
    terminate = "terminate" in lab.run(server, ["occtl", "help"], check=False).stdout
    cookie = None
    if terminate:
        # a second, unused session of carol (what a client that saved its cookie has); ocserv < 1.5 cannot
        # invalidate such a session (no terminate), so it is only made where it can be
        res = authenticate(lab, server, REVOKED)
        assert res.returncode == 0, res.stdout + res.stderr
        cookie = [line.split("=", 1)[1].strip("'") for line in res.stdout.splitlines() if line.startswith("COOKIE=")][0]
    lab_users = connected(lab, server, "/var/run/occtl.socket")
    res = play(lab, server, "revoke")
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    msg = report(res, server)
    assert any("revoked in %s/crl.pem" % PKI in line and REVOKED in line for line in msg["lines"]), msg
    assert msg["unblocked"] == []
    assert res.result("Make ocserv re-read the CRLs (occtl reload)", server)["changed"]
    # the CRL lists carol's certificate and only hers
    assert crl_serials(lab, server) == [cert_serial(lab, server, REVOKED)]
    # carol is cut off, her client gone; dave and the lab's password users stay connected
    assert wait_for(lambda: REVOKED not in connected(lab, server), timeout=60), connected(lab, server)
    assert wait_for(lambda: not unit_active(lab, server, REVOKED), timeout=60)
    assert OTHER in connected(lab, server) and unit_active(lab, server, OTHER)
    assert connected(lab, server, "/var/run/occtl.socket") == lab_users
    # she tries to come back with what she has: the certificate, the cookie
    res = authenticate(lab, server, REVOKED)
    assert res.returncode != 0, res.stdout + res.stderr
    assert "COOKIE=" not in res.stdout
    if cookie:
        client = lab.groups["vpn_clients"][0]
        res = lab.run(client, [HELPER, client_dir(server), "connect-cookie", REVOKED, cookie], check=False, timeout=90)
        assert res.returncode in (1, 2), (res.returncode, res.stdout, res.stderr)
    assert not connect_quick(lab, server, REVOKED)
    assert OTHER in connected(lab, server)


def connect_quick(lab, server, user):
    """A full connection attempt that is expected to fail: False once the client gave up, never listed."""
    client = lab.groups["vpn_clients"][0]
    lab.run(client, ["systemctl", "reset-failed", unit(server, user) + ".service"], check=False)
    lab.run(client, ["systemd-run", "--unit", unit(server, user), "--property", "Restart=no",
                     HELPER, client_dir(server), "run", user, "occ-%s-%s" % (server[:4], user[:5])])
    ok = wait_for(lambda: user in connected(lab, server) or not unit_active(lab, server, user), timeout=60)
    listed = user in connected(lab, server)
    lab.run(client, ["systemctl", "stop", unit(server, user) + ".service"], check=False)
    assert ok
    return listed


def test_revoke_second_run_and_role_run_change_nothing(certauth, lab):
    server = certauth
    res = play(lab, server, "revoke")
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    assert changed(res, server) == 0, res.stats
    assert any("already revoked: %s" % REVOKED in line for line in report(res, server)["lines"])
    # the role keeps the playbook's CRL entry, and its second run changes nothing
    res = lab.playbook(os.path.join(PLAYS, "setup.yml"), extra_vars={"certauth_host": server}, timeout=1500)
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    assert changed(res, server) == 0, [t["task"]["name"] for t in res.tasks()
                                       if t["hosts"].get(server, {}).get("changed")]
    assert crl_serials(lab, server) == [cert_serial(lab, server, REVOKED)]
    assert authenticate(lab, server, REVOKED).returncode != 0


def test_reinstate_gives_access_back(certauth, lab):
    server = certauth
    res = play(lab, server, "reinstate", check=True)
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    assert crl_serials(lab, server) == [cert_serial(lab, server, REVOKED)]
    res = play(lab, server, "reinstate")
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    lines = report(res, server)["lines"]
    assert any("removed from %s/crl.pem" % PKI in line and REVOKED in line for line in lines), lines
    assert crl_serials(lab, server) == []
    # the same certificate gets in again
    assert connect(lab, server, REVOKED), connected(lab, server)
    assert OTHER in connected(lab, server)
    res = play(lab, server, "reinstate")
    assert res.rc == 0, (res.failures(), res.stderr[-3000:])
    assert changed(res, server) == 0, res.stats
    assert any("not revoked, unchanged: %s" % REVOKED in line for line in report(res, server)["lines"])
