"""The lab is what docs/lab.md says it is: real Debian hosts, systemd, SSH, ocserv, clients, bans."""

import hashlib
import json
import os
import re
import subprocess

import pytest

EXPECTED_OCSERV = {"bookworm": "1.1.6", "trixie": "1.3.0", "sid": "1.5.0"}


def test_inventory_matches_hosts(lab):
    assert lab.hosts, "lab has no hosts"
    assert sorted(lab.groups["lab"]) == sorted(lab.hosts)
    for name, h in lab.hosts.items():
        assert re.match(r"^\d+\.\d+\.\d+\.\d+$", h["ip"]), h
        for g in h["groups"]:
            assert name in lab.groups[g]
    with open(lab.inventory) as f:
        text = f.read()
    for name in lab.hosts:
        assert "%s:" % name in text


def test_systemd_is_pid1_and_running(lab):
    for name in lab.hosts:
        assert lab.run(name, ["cat", "/proc/1/comm"]).stdout.strip() == "systemd", name
        state = lab.run(name, ["systemctl", "is-system-running"], check=False).stdout.strip()
        failed = lab.run(name, ["systemctl", "--failed", "--no-legend", "--plain"], check=False).stdout
        assert state in ("running", "degraded"), (name, state)
        # a degraded host must only have failed units nobody in the lab uses
        assert "ocserv" not in failed and "ssh" not in failed and "oc-client" not in failed, (name, failed)
        assert lab.run(name, ["hostname"]).stdout.strip() == name


def test_release_is_right(lab):
    codename = {"bookworm": "bookworm", "trixie": "trixie", "sid": "sid"}
    for name, h in lab.hosts.items():
        osr = lab.run(name, ["cat", "/etc/os-release"]).stdout
        if h["release"] == "sid":
            assert "sid" in osr or "forky" in osr, osr
        else:
            assert "VERSION_CODENAME=%s" % codename[h["release"]] in osr, osr


def test_ansible_ping_over_ssh(lab):
    res = lab.playbook("""
- hosts: lab
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
    - name: Connection facts
      ansible.builtin.setup:
        gather_subset: [min]
""")
    assert res.rc == 0, res.stderr + res.stdout[-3000:]
    pings = res.results("Ping")
    assert sorted(pings) == sorted(lab.hosts)
    for name in lab.hosts:
        assert pings[name]["ping"] == "pong"
        facts = res.result("Connection facts", name)["ansible_facts"]
        assert facts["ansible_service_mgr"] == "systemd"
        # reached over SSH from the lab network, not through podman exec
        assert facts["ansible_env"]["SSH_CONNECTION"].split()[2] == lab.hosts[name]["ip"]


def test_ocserv_versions(lab):
    servers = lab.groups.get("ocserv_servers", [])
    assert servers
    for name in servers:
        st = json.loads(lab.run(name, ["occtl", "-j", "show", "status"]).stdout)
        assert st["Status"] == "online"
        out = lab.run(name, ["occtl", "--version"])
        ver = (out.stdout + out.stderr).strip().splitlines()[0]
        expect = EXPECTED_OCSERV.get(lab.hosts[name]["release"])
        if expect:
            assert ver.endswith("version " + expect), ver
        assert lab.run(name, ["systemctl", "is-active", "ocserv.service"]).stdout.strip() == "active"


def test_alice_and_bob_connected_everywhere(lab):
    for name in lab.groups.get("ocserv_servers", []):
        users = json.loads(lab.run(name, ["occtl", "-j", "show", "users"]).stdout)
        connected = {u["Username"] for u in users if u["State"] == "connected"}
        assert {"alice", "bob"} <= connected, (name, users)
        client_ips = {lab.hosts[c]["ip"] for c in lab.groups.get("vpn_clients", [])}
        assert {u["Remote IP"] for u in users} <= client_ips
        alice = [u for u in users if u["Username"] == "alice"][0]
        # alice's per-user config gives her an iroute
        assert "10.99.0.0/255.255.0.0" in alice["iRoutes"], alice


@pytest.mark.parametrize("server", ["bookworm", "trixie", "sid"])
def test_ban_source_is_banned_and_refused(lab, server):
    if server not in lab.groups.get("ocserv_servers", []) or not lab.groups.get("vpn_clients"):
        pytest.skip("no %s server or no client in this lab" % server)
    client = lab.groups["vpn_clients"][0]
    ban_ip = lab.run(client, ["vfl-oc", "ban-source-ip"]).stdout.strip()
    assert ban_ip == lab.ban_source_ip
    lab.run(server, ["occtl", "unban", "ip", ban_ip], check=False)
    try:
        # a good login from the ban source works and is seen from the ban source address
        ok = lab.run(client, ["vfl-oc", "ban-attempt", server, "carol"], check=False, timeout=60)
        assert ok.returncode == 0 and "COOKIE=" in ok.stdout, ok.stdout + ok.stderr
        for attempt in range(3):
            bad = lab.run(client, ["vfl-oc", "ban-attempt", server, "mallory", "wrong"], check=False, timeout=60)
            assert bad.returncode != 0, (attempt, bad.stdout, bad.stderr)
        bans = lab.run(server, ["occtl", "show", "ip", "bans"]).stdout
        assert ban_ip in bans, bans
        # banned: even the right password is refused
        refused = lab.run(client, ["vfl-oc", "ban-attempt", server, "carol"], check=False, timeout=60)
        assert refused.returncode != 0 and "COOKIE=" not in refused.stdout, refused.stdout + refused.stderr
        # the lab's own clients (inside the server's subnet) are exempt: still connected, can log in
        again = lab.run(client, ["vfl-oc", "cookie", server, "dave"], check=False, timeout=60)
        assert again.returncode == 0 and "COOKIE=" in again.stdout, again.stdout + again.stderr
    finally:
        lab.run(server, ["occtl", "unban", "ip", ban_ip], check=False)
    after = lab.run(client, ["vfl-oc", "ban-attempt", server, "carol"], check=False, timeout=60)
    assert after.returncode == 0, after.stdout + after.stderr


def test_cookie_helpers(lab):
    """A cookie from --authenticate reconnects; after the server drops the session it is refused."""
    servers = lab.groups.get("ocserv_servers", [])
    if not servers or not lab.groups.get("vpn_clients"):
        pytest.skip("no ocserv server or client")
    client = lab.groups["vpn_clients"][0]
    server = servers[0]
    out = lab.run(client, ["vfl-oc", "cookie", server, "erin"], timeout=60).stdout
    cookie = re.search(r"^COOKIE='?([^'\n]+)'?$", out, re.M).group(1)
    ok = lab.run(client, ["vfl-oc", "connect-cookie", server, cookie], check=False, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # disconnect drops the session (default config: no persistent cookies)
    lab.run(server, ["occtl", "disconnect", "user", "erin"], check=False)
    sessions = json.loads(re.sub(r",(\s*[}\]])", r"\1",
                                 lab.run(server, ["occtl", "-j", "show", "sessions", "valid"]).stdout))
    for s in [s for s in sessions if s.get("Username") == "erin"]:
        lab.run(server, "occtl terminate session %s || true" % s["Session"], check=False)
    # erin's session was only idle after the SIGHUP: on servers without terminate the
    # cookie may stay valid until cookie-timeout; 1.5.0 invalidates it
    if lab.hosts[server]["release"] == "sid":
        refused = lab.run(client, ["vfl-oc", "connect-cookie", server, cookie], check=False, timeout=60)
        assert refused.returncode == 2, refused.stdout + refused.stderr


# --- lab/lab itself (no shared lab needed) ---------------------------------

LAB_CMD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lab", "lab")


def _lab(*args, timeout=300):
    return subprocess.run([LAB_CMD] + list(args), text=True, timeout=timeout, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("spec, msg", [
    ("h1", "bad --host"),
    ("h1=jessie", "unknown release"),
    ("H1=bookworm", "bad --host"),
])
def test_cli_rejects_bad_hosts(spec, msg):
    p = _lab("up", "--id", "clitest-bad", "--host", spec, "--no-provision")
    assert p.returncode == 1 and msg in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


def test_cli_unknown_lab():
    assert _lab("down", "--id", "clitest-none").returncode == 0
    p = _lab("exec", "--id", "clitest-none", "h1", "--", "true")
    assert p.returncode == 1 and "not up" in p.stderr
    p = _lab("inventory", "--id", "clitest-none")
    assert p.returncode == 1 and "not up" in p.stderr
    assert _lab("status", "--id", "clitest-none").returncode == 3


def _podman_names(lab_id):
    env = dict(os.environ, CONTAINERS_CONF="/var/cache/vpnfleet/podman/containers.conf",
               CONTAINERS_STORAGE_CONF="/var/cache/vpnfleet/podman/storage.conf")
    cont = subprocess.run(["podman", "ps", "-a", "--filter", "label=vpnfleet.lab=%s" % lab_id,
                           "--format", "{{.Names}}"], text=True, env=env, check=True,
                          stdout=subprocess.PIPE).stdout.split()
    nets = [n for n in subprocess.run(["podman", "network", "ls", "--format", "{{.Name}}"], text=True, env=env,
                                      check=True, stdout=subprocess.PIPE).stdout.split()
            if n == "vfl-%s" % lab_id]
    return cont, nets


def test_cli_small_lab_up_exec_down():
    """What Molecule does: a 2-host lab without provisioning, up twice (idempotent), down clean."""
    lab_id = "clitest-%d" % os.getpid()
    try:
        p = _lab("up", "--id", lab_id, "--host", "h1=bookworm", "--host", "h2=sid:g1,g2", "--no-provision")
        assert p.returncode == 0, p.stderr
        inv = p.stdout.strip()
        assert inv.endswith("/.lab/%s/inventory.yml" % lab_id) and os.path.exists(inv)
        with open(inv) as f:
            text = f.read()
        assert "g1:" in text and "g2:" in text and "lab_release: \"sid\"" in text
        cont, nets = _podman_names(lab_id)
        assert sorted(cont) == ["vfl-%s-h1" % lab_id, "vfl-%s-h2" % lab_id] and nets == ["vfl-%s" % lab_id]
        p2 = _lab("up", "--id", lab_id, "--host", "h1=bookworm", "--host", "h2=sid:g1,g2", "--no-provision")
        assert p2.returncode == 0 and "started" not in p2.stderr, p2.stderr
        p = _lab("exec", "--id", lab_id, "h2", "--", "cat", "/proc/1/comm")
        assert p.returncode == 0 and p.stdout.strip() == "systemd"
        p = _lab("exec", "--id", lab_id, "h1", "--", "sh", "-c", "exit 7")
        assert p.returncode == 7
        state = os.path.join(os.path.dirname(inv), "ssh_config")
        p = subprocess.run(["ssh", "-F", state, "h2", "hostname"], text=True, timeout=60, check=False,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.returncode == 0 and p.stdout.strip() == "h2", p.stderr
    finally:
        d = _lab("down", "--id", lab_id)
    assert d.returncode == 0, d.stderr
    assert _podman_names(lab_id) == ([], [])
    assert not os.path.exists(os.path.join(os.path.dirname(LAB_CMD), "..", ".lab", lab_id))
    # no ssh master of that lab left
    ps = subprocess.run(["ps", "-eo", "args"], text=True, check=True, stdout=subprocess.PIPE).stdout
    assert ("/.lab/%s/" % lab_id) not in ps
    assert ("/tmp/vfl-%s-" % hashlib.sha256(lab_id.encode()).hexdigest()[:6]) not in ps
