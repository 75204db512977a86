# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openvpn_* modules against the lab's real OpenVPN servers and clients.

Servers: bookworm (OpenVPN 2.6.14) and sid (2.7.8); trixie (2.6.14) for the read-only checks.
Every outcome is checked on the server itself with the lab helper ``vfl-ovpn`` (its own
management client, independent of the collection) or systemd. The lab layout is described in
docs/openvpn.md; ``lab/lab up`` (the ``lab`` fixture) restores it.
"""

import json
import re
import time
import uuid

import pytest

SOCK = "/run/openvpn-server/lab.sock"
HOLD_SOCK = "/run/openvpn-server/labhold.sock"
PWFILE = "/etc/openvpn/server/lab/labpw-mgmt.pw"
SERVERS = ["bookworm", "sid"]
VERSION = {"bookworm": "2.6.14", "trixie": "2.6.14", "sid": "2.7.8"}
MGMT = {"2.6.14": 5, "2.7.8": 6}
CERT_CLIENTS = ["alice", "bob", "carol", "dave"]


def task(lab, host, module, args, check=False, become_user=None, diff=False):
    """Run one task of ``module`` on ``host`` -> its result dict (failures included)."""
    play = {"hosts": host, "gather_facts": False, "tasks": [
        {"name": "T", "vpnfleet.control." + module: args, "ignore_errors": True}]}
    if become_user:
        play["become"] = True
        play["become_user"] = become_user
    res = lab.playbook(json.dumps([play]), check=check, diff=diff)
    try:
        return res.result("T", host)
    except KeyError:
        raise AssertionError("playbook failed (rc %s): %s %s" % (res.rc, res.stdout[-3000:], res.stderr[-3000:]))


def clients(lab, host, instance="lab"):
    """The server's own view: {cn: [(cid, real address, username)]}, established clients only."""
    out = lab.run(host, ["vfl-ovpn", "clients", instance]).stdout
    result = {}
    for line in out.splitlines():
        cn, cid, addr, user = line.split("\t")
        result.setdefault(cn, []).append((int(cid), addr, user))
    return result


def wait_clients(lab, host, cns, instance="lab", timeout=90):
    proc = lab.run(host, ["vfl-ovpn", "wait-clients", instance, str(timeout)] + list(cns),
                   timeout=timeout + 30, check=False)
    assert proc.returncode == 0, "%s: %s not back: %s" % (host, cns, proc.stdout)


def restore_client(lab, host, cn, instance="lab"):
    unit = "openvpn-client@%s-%s" % (host, cn) if instance == "lab" else "openvpn-client@%s-pw-%s" % (host, cn)
    lab.run("client", ["systemctl", "restart", unit])
    wait_clients(lab, host, [cn], instance)


def unit_active(lab, host, unit):
    return lab.run(host, ["systemctl", "is-active", unit], check=False).stdout.strip()


# ------------------------------------------------------------------------- info

@pytest.mark.parametrize("host", ["bookworm", "trixie", "sid"])
def test_info_matches_the_server(lab, host):
    wait_clients(lab, host, CERT_CLIENTS)
    res = task(lab, host, "openvpn_info", {"socket": SOCK})
    assert not res.get("failed"), res
    assert res["changed"] is False and res["held"] is False
    assert res["version"]["openvpn"] == VERSION[host]
    assert res["management_version"] == MGMT[VERSION[host]]
    main_pid = lab.run(host, ["systemctl", "show", "-p", "MainPID", "--value", "openvpn-server@lab"]).stdout
    assert res["pid"] == int(main_pid)
    assert res["state"]["state"] == "CONNECTED"
    own = clients(lab, host)
    got = {}
    for c in res["clients"]:
        got.setdefault(c["common_name"], []).append(c)
    assert set(CERT_CLIENTS) <= set(got)
    assert "mallory" not in got  # revoked: never connects
    for cn in CERT_CLIENTS:
        assert sorted(c["client_id"] for c in got[cn]) == sorted(x[0] for x in own[cn])
    assert [c["username"] for c in got["dave"]] == ["dave"]
    assert all(c["username"] is None for c in got["alice"])
    for c in res["clients"]:
        assert isinstance(c["connected_since"], int) and c["connected_since"] > 1700000000
        assert c["real_ip"] == lab.hosts["client"]["ip"]
        assert c["proto"] == ("udp4" if VERSION[host] == "2.7.8" else None)
    assert res["load_stats"]["nclients"] == len([c for c in res["clients"] if not c["pending"]])


def test_revoked_client_is_refused(lab):
    for host in SERVERS:
        assert "mallory" not in clients(lab, host)
        log = lab.run(host, "journalctl -u openvpn-server@lab --no-pager -o cat | grep -c 'certificate revoked'",
                      check=False)
        assert int(log.stdout.strip() or 0) > 0


@pytest.mark.parametrize("host", SERVERS)
def test_tcp_with_password_and_wrong_password(lab, host):
    res = task(lab, host, "openvpn_info", {"host": "127.0.0.1", "port": 7505, "password_file": PWFILE,
                                           "gather": ["status", "version"]})
    assert not res.get("failed"), res
    assert "alice" in [c["common_name"] for c in res["clients"]]
    res = task(lab, host, "openvpn_info", {"host": "127.0.0.1", "port": 7505, "password": "not-the-password"})
    assert res["failed"] and res["error_kind"] == "auth_failed" and "wrong password" in res["msg"]
    assert "not-the-password" not in json.dumps(res)
    # the interface is free again at once
    res = task(lab, host, "openvpn_info", {"host": "127.0.0.1", "port": 7505, "password_file": PWFILE,
                                           "gather": ["pid"], "timeout": 5})
    assert not res.get("failed"), res


def test_missing_socket(lab):
    res = task(lab, "bookworm", "openvpn_info", {"socket": "/run/openvpn-server/nosuch.sock"})
    assert res["failed"] and res["error_kind"] == "not_found" and "/run/openvpn-server/nosuch.sock" in res["msg"]


@pytest.mark.parametrize("host", SERVERS)
def test_forbidden_socket(lab, host):
    # vpnuser may not enter /run/openvpn-server (0710 root:vfl-vpnadm)
    res = task(lab, host, "openvpn_info", {"socket": SOCK}, become_user="vpnuser")
    assert res["failed"] and res["error_kind"] == "permission_denied", res
    assert "Permission denied" in res["msg"]
    # vpnadmin may, but the server accepts only root (management-client-user root): closed, no banner
    res = task(lab, host, "openvpn_info", {"socket": SOCK, "timeout": 5}, become_user="vpnadmin")
    assert res["failed"] and res["error_kind"] == "permission_denied", res
    assert "management-client-user" in res["msg"]


def _hold_open(lab, host, seconds):
    unit = "vfl-hold-%s" % uuid.uuid4().hex[:8]
    lab.run(host, ["systemd-run", "--unit", unit, "--collect", "vfl-ovpn", "hold-open", "lab", str(seconds)])
    deadline = time.time() + 20
    while time.time() < deadline:
        out = lab.run(host, ["journalctl", "-u", unit, "-o", "cat", "--no-pager"], check=False).stdout
        if "holding" in out:
            return unit
        time.sleep(0.3)
    raise AssertionError("the holder did not get the interface")


@pytest.mark.parametrize("host", SERVERS)
def test_busy_interface(lab, host):
    # held longer than the timeout: fails as busy, after about `timeout` seconds, not a hang
    unit = _hold_open(lab, host, 25)
    try:
        res = task(lab, host, "openvpn_info", {"socket": SOCK, "timeout": 3})
        assert res["failed"] and res["error_kind"] == "busy", res
        assert "another management client holds the interface" in res["msg"]
    finally:
        lab.run(host, ["systemctl", "stop", unit], check=False)
    # held shorter than the timeout: waits, then succeeds
    unit = _hold_open(lab, host, 6)
    start = time.time()
    res = task(lab, host, "openvpn_info", {"socket": SOCK, "timeout": 30, "gather": ["pid"]})
    assert not res.get("failed"), res
    assert time.time() - start >= 3
    lab.run(host, ["systemctl", "stop", unit], check=False)


# ----------------------------------------------------------------------- client

@pytest.mark.parametrize("host", SERVERS)
def test_kill_not_connected_is_unchanged(lab, host):
    res = task(lab, host, "openvpn_client", {"socket": SOCK, "common_name": ["nobody"], "client_id": [99999]})
    assert not res.get("failed") and res["changed"] is False and res["killed"] == []
    # the revoked client is never connected either
    res = task(lab, host, "openvpn_client", {"socket": SOCK, "common_name": "mallory"})
    assert res["changed"] is False


@pytest.mark.parametrize("host", SERVERS)
def test_kill_check_mode_changes_nothing(lab, host):
    wait_clients(lab, host, ["bob"])
    before = clients(lab, host)["bob"]
    res = task(lab, host, "openvpn_client", {"socket": SOCK, "common_name": "bob"}, check=True, diff=True)
    assert res["changed"] is True and [k["common_name"] for k in res["killed"]] == ["bob"]
    assert res["diff"]["before"]["clients"][0]["common_name"] == "bob"
    time.sleep(6)  # a client-kill would have removed it after ~5 s
    assert clients(lab, host)["bob"] == before


@pytest.mark.parametrize("host", SERVERS)
def test_kill_restart_comes_back_with_new_cid(lab, host):
    wait_clients(lab, host, ["carol"])
    old = [c[0] for c in clients(lab, host)["carol"]]
    res = task(lab, host, "openvpn_client", {"socket": SOCK, "common_name": "carol", "kill": "restart",
                                             "kill_message": "config changed"})
    assert not res.get("failed"), res
    assert res["changed"] and [k["client_id"] for k in res["killed"]] == old
    assert res["commands"] == ['client-kill %d "RESTART,config changed"' % old[0]]
    # wait=true: gone from the status when the module returned (or back already with a new CID)
    assert not set(old) & set(c[0] for c in clients(lab, host).get("carol", []))
    wait_clients(lab, host, ["carol"], timeout=30)
    new = [c[0] for c in clients(lab, host)["carol"]]
    assert new and not set(new) & set(old)
    assert unit_active(lab, "client", "openvpn-client@%s-carol" % host) == "active"


@pytest.mark.parametrize("host", SERVERS)
def test_kill_halt_by_username_stays_away(lab, host):
    wait_clients(lab, host, ["dave"])
    try:
        res = task(lab, host, "openvpn_client", {"socket": SOCK, "username": "dave", "kill_message": "bye from admin"})
        assert not res.get("failed"), res
        assert res["changed"] and [k["common_name"] for k in res["killed"]] == ["dave"]
        assert res["killed"][0]["username"] == "dave"
        assert "dave" not in clients(lab, host)
        # the client was told HALT: it exits and does not come back
        deadline = time.time() + 20
        while unit_active(lab, "client", "openvpn-client@%s-dave" % host) == "active" and time.time() < deadline:
            time.sleep(0.5)
        assert unit_active(lab, "client", "openvpn-client@%s-dave" % host) != "active"
        log = lab.run("client", ["journalctl", "-u", "openvpn-client@%s-dave" % host, "-o", "cat", "--no-pager"]).stdout
        assert "Halt command was pushed by server ('bye from admin')" in log
        time.sleep(3)
        assert "dave" not in clients(lab, host)
        # second run: nothing to do
        res = task(lab, host, "openvpn_client", {"socket": SOCK, "username": "dave"})
        assert res["changed"] is False
    finally:
        restore_client(lab, host, "dave")


@pytest.mark.parametrize("host", SERVERS)
def test_kill_by_address_in_the_version_syntax(lab, host):
    wait_clients(lab, host, ["alice"])
    (cid, addr, _user), = clients(lab, host)["alice"]
    try:
        res = task(lab, host, "openvpn_client", {"socket": SOCK, "real_address": addr, "method": "address"})
        assert not res.get("failed"), res
        bare = re.sub(r"^udp4:", "", addr)
        if VERSION[host] == "2.7.8":
            assert res["commands"] == ["kill udp:%s" % bare]
        else:
            assert res["commands"] == ["kill %s" % bare]
        assert [k["client_id"] for k in res["killed"]] == [cid]
        assert cid not in [c[0] for c in clients(lab, host).get("alice", [])]
    finally:
        restore_client(lab, host, "alice")  # UDP: the client would only notice at ping-restart


# ----------------------------------------------------------------------- server

@pytest.mark.parametrize("host", SERVERS)
@pytest.mark.parametrize("state,signal", [("reloaded", "SIGHUP"), ("restarted", "SIGUSR1")])
def test_reload_restart_with_wait(lab, host, state, signal):
    pid = int(lab.run(host, ["systemctl", "show", "-p", "MainPID", "--value", "openvpn-server@lab"]).stdout)
    res = task(lab, host, "openvpn_server", {"socket": SOCK, "state": state}, check=True)
    assert res["changed"] and res["signal"] == signal
    res = task(lab, host, "openvpn_server", {"socket": SOCK, "state": state, "timeout": 30})
    assert not res.get("failed"), res
    assert res["changed"] and res["signal"] == signal and res["state"]["state"] == "CONNECTED"
    assert res["pid"] == pid and 1 < res["elapsed"] < 30
    log = lab.run(host, "journalctl -u openvpn-server@lab --no-pager -o cat | grep -c '%s\\[hard,\\] received'"
                  % signal, check=False)
    assert int(log.stdout.strip() or 0) >= 1
    # explicit-exit-notify: the clients were told and come back
    wait_clients(lab, host, CERT_CLIENTS, timeout=60)


@pytest.mark.parametrize("host", SERVERS)
def test_stop_tcp_instance_then_unchanged(lab, host):
    try:
        res = task(lab, host, "openvpn_server", {"host": "127.0.0.1", "port": 7505, "password_file": PWFILE,
                                                 "state": "stopped"})
        assert not res.get("failed"), res
        assert res["changed"] and res["signal"] == "SIGTERM"
        deadline = time.time() + 15
        while unit_active(lab, host, "openvpn-server@labpw") == "active" and time.time() < deadline:
            time.sleep(0.5)
        assert unit_active(lab, host, "openvpn-server@labpw") in ("inactive", "failed")
        res = task(lab, host, "openvpn_server", {"host": "127.0.0.1", "port": 7505, "password_file": PWFILE,
                                                 "state": "stopped"})
        assert not res.get("failed") and res["changed"] is False
    finally:
        lab.run(host, ["systemctl", "start", "openvpn-server@labpw"])
        lab.run("client", ["systemctl", "restart", "openvpn-client@%s-pw-alice" % host])
        wait_clients(lab, host, ["alice"], instance="labpw")


@pytest.mark.parametrize("host", SERVERS)
def test_hold_release(lab, host):
    lab.run(host, ["systemctl", "restart", "openvpn-server@labhold"])
    lab.run(host, "for i in $(seq 50); do [ -S %s ] && exit 0; sleep 0.2; done; exit 1" % HOLD_SOCK)
    res = task(lab, host, "openvpn_info", {"socket": HOLD_SOCK, "gather": ["status", "state"]})
    assert not res.get("failed"), res
    assert res["held"] is True and res["clients"] == [] and res["state"]["state"] == "CONNECTING"
    res = task(lab, host, "openvpn_server", {"socket": HOLD_SOCK, "hold": "released"}, check=True)
    assert res["changed"] and res["held"] is False
    assert "CONNECTING" in lab.run(host, ["vfl-ovpn", "cmd", "labhold", "state"]).stdout
    res = task(lab, host, "openvpn_server", {"socket": HOLD_SOCK, "hold": "released"})
    assert not res.get("failed"), res
    assert res["changed"] and res["hold_commands"] == ["hold release"] and res["state"]["state"] == "CONNECTED"
    assert res["hold_flag"] == 1
    assert ",CONNECTED," in lab.run(host, ["vfl-ovpn", "cmd", "labhold", "state"]).stdout
    res = task(lab, host, "openvpn_server", {"socket": HOLD_SOCK, "hold": "released"})
    assert res["changed"] is False
    # the flag stays: a restart holds again, and hold=released releases it again on the way
    res = task(lab, host, "openvpn_server", {"socket": HOLD_SOCK, "state": "restarted", "hold": "released",
                                             "timeout": 30})
    assert not res.get("failed"), res
    assert res["state"]["state"] == "CONNECTED" and res["hold_commands"] == ["hold release"]


# ---------------------------------------------------------------------- command

@pytest.mark.parametrize("host", SERVERS)
def test_command(lab, host):
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": "status 2"})
    assert not res.get("failed") and res["changed"] is False and res["lines"][0].startswith("TITLE,OpenVPN")
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": "verb"})
    assert res["changed"] is False and res["lines"] == ["SUCCESS: verb=3"]
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": "verb 3"}, check=True)
    assert res["changed"] is True and res["lines"] == []
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": "verb 3"})
    assert res["changed"] is True and res["lines"][0].startswith("SUCCESS")
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": "kill nosuchcn"})
    assert res["failed"] and "common name 'nosuchcn' not found" in res["msg"]


# ------------------------------------------------------------------ hostile input

def _connections(lab, host, unit):
    """How many management clients the server has seen connect (its journal)."""
    out = lab.run(host, "journalctl -u %s --no-pager -o cat | grep -c 'MANAGEMENT: Client connected'" % unit,
                  check=False).stdout
    return int(out.strip() or 0)


@pytest.mark.parametrize("host", SERVERS)
def test_password_with_a_newline_sends_no_second_command(lab, host):
    """TCP management: the real password followed by a line feed and a command.

    Before the fix the server took the first line as the password and ran the second
    (here ``mute 17``, harmless and visible with ``mute``)."""
    password = lab.run(host, ["head", "-n1", PWFILE]).stdout.strip()
    before = _connections(lab, host, "openvpn-server@labpw")
    try:
        for tail in ("\nmute 17", "\r\nmute 17", "\x00mute 17"):
            res = task(lab, host, "openvpn_info", {"host": "127.0.0.1", "port": 7505, "password": password + tail,
                                                   "gather": ["pid"]})
            assert res["failed"] and res["error_kind"] == "invalid", res
            assert password not in json.dumps(res)
        assert lab.run(host, ["vfl-ovpn", "cmd", "labpw", "mute"]).stdout.strip() == "SUCCESS: mute=0"
        # refused before connecting: only vfl-ovpn's own connection reached the server
        assert _connections(lab, host, "openvpn-server@labpw") == before + 1
    finally:
        lab.run(host, ["vfl-ovpn", "cmd", "labpw", "mute", "0"], check=False)
    # the right password alone still works
    res = task(lab, host, "openvpn_info", {"host": "127.0.0.1", "port": 7505, "password": password,
                                           "gather": ["pid"]})
    assert not res.get("failed"), res


@pytest.mark.parametrize("host", SERVERS)
def test_hostile_values_never_reach_the_socket(lab, host):
    before = _connections(lab, host, "openvpn-server@lab")
    cases = [
        ("openvpn_command", {"socket": SOCK, "command": "status\nsignal SIGTERM"}),
        ("openvpn_command", {"socket": SOCK, "command": "kill 'alice"}),
        ("openvpn_command", {"socket": SOCK, "command": "# kill alice"}),
        ("openvpn_client", {"socket": SOCK, "client_id": [0], "kill_message": "bye\nsignal SIGTERM"}),
        ("openvpn_client", {"socket": SOCK, "common_name": ["alice\nsignal SIGTERM"]}),
        ("openvpn_info", {"socket": SOCK, "timeout": "nan"}),
        # longer than the server's 1024-byte line buffer: the server would run "pid" (see below)
        ("openvpn_command", {"socket": SOCK, "command": "a" * 1024 + "Xpid"}),
    ]
    for module, args in cases:
        res = task(lab, host, module, args)
        assert res["failed"] and res["error_kind"] == "invalid", (module, args, res)
    assert _connections(lab, host, "openvpn-server@lab") == before
    assert unit_active(lab, host, "openvpn-server@lab") == "active"


LONG_LINE_PROBE = r"""
import socket, time
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(5)
sock.connect("%s")
sock.recv(4096)
sock.sendall(b"a" * 1024 + b"Xpid\n")
time.sleep(0.5)
print(sock.recv(4096).decode().strip())
sock.sendall(b"quit\n")
""" % SOCK


@pytest.mark.parametrize("host", SERVERS)
def test_server_runs_the_rest_of_a_long_line(lab, host):
    """Why lines are limited to 1023 bytes: the server empties its 1024-byte line buffer and reads the
    rest of a longer line as a command of its own (here ``pid``)."""
    out = lab.run(host, ["python3", "-c", LONG_LINE_PROBE]).stdout.strip()
    assert out.startswith("SUCCESS: pid="), out


@pytest.mark.parametrize("host", SERVERS)
def test_command_reads_openvpn_quoting(lab, host):
    # OpenVPN reads "status" 2 as status 2: read-only, run in check mode
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": '"status" \'2\''}, check=True)
    assert not res.get("failed") and res["changed"] is False and res["lines"][0].startswith("TITLE,OpenVPN")
    # state 'on' is state on for OpenVPN: a change, not sent in check mode
    for command in ("state 'on'", "state all on", "'verb' 5"):
        res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": command}, check=True)
        assert not res.get("failed") and res["changed"] is True and res["lines"] == [], (command, res)
    assert lab.run(host, ["vfl-ovpn", "cmd", "lab", "verb"]).stdout.strip() == "SUCCESS: verb=3"
    # log with two arguments answers twice: both replies are read, none is left over
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": "log 2 1"})
    assert not res.get("failed") and res["changed"] is False and len(res["lines"]) == 3, res
    # a kill message with quotes, backslash and # reaches the client as written
    res = task(lab, host, "openvpn_command", {"socket": SOCK, "command": 'echo "a \\"b\\" #c"'}, check=True)
    assert res["read_only"] is True


# ----------------------------------------------------------------- server fault

# Runs on the server host. A holder takes the interface; a client queued behind it gives up;
# the holder quits once one more client is queued (the listen queue of the socket, from ss):
# that client is the one OpenVPN 2.7.8 accepts without serving it.
STALL_HELPER = r"""
import socket, subprocess, sys, time
path, action = sys.argv[1], sys.argv[2]

def conn():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    return sock

def banner(sock, seconds):
    sock.settimeout(seconds)
    try:
        return sock.recv(4096)
    except socket.timeout:
        return b""

def queued():
    out = subprocess.run(["ss", "-xlH", "src", path], capture_output=True, text=True).stdout.split()
    return int(out[2]) if len(out) > 2 else 0

holder = conn()
assert banner(holder, 10).startswith(b">INFO:"), "the holder got no banner"
gone = conn()
time.sleep(0.3)
gone.close()                                   # gave up while queued
if action == "witness":
    witness = conn()                           # a plain client (no probe)
else:
    print("holding", flush=True)
deadline = time.time() + 90
while queued() < 2 and time.time() < deadline:
    time.sleep(0.05)
holder.sendall(b"quit\n")
holder.close()
if action == "witness":
    got = banner(witness, float(sys.argv[3]))
    print("banner" if got else "no banner", flush=True)
    if not got:
        # wake the server as the collection does, and leave it clean
        probe = conn()
        banner(witness, 5)
        witness.sendall(b"quit\n")
        witness.close()
        if banner(probe, 5):
            probe.sendall(b"quit\n")
        probe.close()
    else:
        witness.sendall(b"quit\n")
        witness.close()
else:
    print("released", flush=True)
"""


def test_stall_after_a_queued_client_gave_up_is_a_2_7_8_fault(lab):
    """The fault itself: on 2.7.8 a plain client queued behind a client that gave up gets no
    banner although the holder has quit; 2.6.14 serves it at once."""
    for host, expected in (("sid", "no banner"), ("bookworm", "banner")):
        out = lab.run(host, ["python3", "-c", STALL_HELPER, SOCK, "witness", "4"], timeout=120).stdout.strip()
        assert out == expected, (host, out)
        # and the interface is usable again for a plain client
        assert lab.run(host, ["vfl-ovpn", "cmd", "lab", "pid"]).stdout.startswith("SUCCESS: pid=")


@pytest.mark.parametrize("host", SERVERS)
def test_module_succeeds_on_a_stalled_interface(lab, host):
    """The module's connection is queued behind a client that gave up (2.7.8 does not serve it
    until another connection arrives): it must succeed, not report the free interface as busy,
    and leave the interface usable for plain clients (its extra connection quits once served)."""
    unit = "vfl-stall-%s" % uuid.uuid4().hex[:8]
    lab.run(host, ["systemd-run", "--unit", unit, "--collect", "python3", "-c", STALL_HELPER, SOCK, "hold"])
    try:
        deadline = time.time() + 20
        while "holding" not in lab.run(host, ["journalctl", "-u", unit, "-o", "cat", "--no-pager"],
                                       check=False).stdout:
            assert time.time() < deadline, "the holder did not get the interface"
            time.sleep(0.3)
        res = task(lab, host, "openvpn_info", {"socket": SOCK, "gather": ["pid"], "timeout": 10})
        log = lab.run(host, ["journalctl", "-u", unit, "-o", "cat", "--no-pager"], check=False).stdout
        assert "released" in log, log
        assert not res.get("failed"), res
        assert res["pid"] == int(lab.run(host, ["systemctl", "show", "-p", "MainPID", "--value",
                                                "openvpn-server@lab"]).stdout)
    finally:
        lab.run(host, ["systemctl", "stop", unit], check=False)
    # nothing of the module is left queued: a plain client is served at once
    assert lab.run(host, ["vfl-ovpn", "cmd", "lab", "pid"], timeout=30).stdout.startswith("SUCCESS: pid=")
