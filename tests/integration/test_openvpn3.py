# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openvpn3_session_info / openvpn3_session against the lab's OpenVPN 3 hosts (24.1 and 27.1).

Every host of ``openvpn3_clients`` runs its own OpenVPN 2 server (``openvpn-server@o3lab``) and one
session of the profile ``lab-vpn`` (lab/provision/openvpn3.yml). The modules run through real
``ansible-playbook`` on all of them at once; outcomes are checked on the session's own D-Bus
properties (busctl in the host) and on the server's view of its clients (management interface,
``o3lab-server-status``). The client profile has ``explicit-exit-notify``, so a pause or a
disconnect removes the client from the server at once.
"""

from __future__ import absolute_import, division, print_function

import json
import time

import pytest

PROFILE = "lab-vpn"
SESSIONS = "net.openvpn.v3.sessions"
SERVICE_FILE = "/usr/share/dbus-1/system-services/net.openvpn.v3.sessions.service"


# -- helpers ------------------------------------------------------------------------------------

def hosts(lab):
    found = lab.groups.get("openvpn3_clients", [])
    if not found:
        pytest.skip("the lab has no openvpn3_clients hosts")
    return found


def busctl(lab, host, *args, check=True):
    res = lab.run(host, ["busctl", "--system", "--json=short"] + list(args), check=check)
    return json.loads(res.stdout)["data"] if res.returncode == 0 and res.stdout.strip() else None


def session_paths(lab, host):
    return sorted(busctl(lab, host, "call", SESSIONS, "/net/openvpn/v3/sessions", SESSIONS,
                         "FetchAvailableSessions")[0])


def dbus_props(lab, host, path):
    data = busctl(lab, host, "call", SESSIONS, path, "org.freedesktop.DBus.Properties", "GetAll", "s", SESSIONS)
    return dict((k, v["data"]) for k, v in data[0].items())


def dbus_status(lab, host, path):
    return busctl(lab, host, "get-property", SESSIONS, path, SESSIONS, "status")


def server_clients(lab, host):
    """The OpenVPN 2 server's clients: ``{client_id: real_address}``."""
    out = json.loads(lab.run(host, ["o3lab-server-status"]).stdout)
    return dict((int(c["Client ID"]), c["Real Address"]) for c in out["clients"]
                if c["Common Name"] == "o3lab-client")


def wait_server(lab, host, predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        clients = server_clients(lab, host)
        if predicate(clients) or time.monotonic() > deadline:
            return clients
        time.sleep(0.5)


def task(module, args, name="Task", become_user=None, ignore_errors=True):
    lines = ["- hosts: openvpn3_clients", "  gather_facts: false"]
    if become_user:
        lines += ["  become: true", "  become_user: %s" % become_user]
    lines += ["  tasks:", "    - name: %s" % name, "      vpnfleet.control.%s:" % module]
    for key, value in args.items():
        lines.append("        %s: %s" % (key, json.dumps(value)))
    if ignore_errors:
        lines.append("      ignore_errors: true")
    return "\n".join(lines) + "\n"


def run(lab, module, args=None, check=False, diff=True, become_user=None, per_host=None):
    """Run one task on every o3 host; ``per_host``: ``{host: args}`` merged over ``args``."""
    if per_host:
        # one play per host when the arguments differ (paths are per host)
        plays = []
        for host, extra in sorted(per_host.items()):
            merged = dict(args or {})
            merged.update(extra)
            plays.append(task(module, merged, become_user=become_user).replace(
                "- hosts: openvpn3_clients", "- hosts: %s" % host))
        text = "".join(plays)
    else:
        text = task(module, args or {}, become_user=become_user)
    res = lab.playbook(text, check=check, diff=diff)
    assert res.data is not None, (res.rc, res.stdout[-3000:], res.stderr[-3000:])
    return res.results("Task")


def lab_session(lab, host):
    """The one session of the lab profile on ``host``."""
    paths = busctl(lab, host, "call", SESSIONS, "/net/openvpn/v3/sessions", SESSIONS, "LookupConfigName",
                   "s", PROFILE)[0]
    assert len(paths) == 1, paths
    return paths[0]


@pytest.fixture(scope="module")
def o3(lab):
    """Start from exactly one connected session of the profile on every o3 host."""
    names = hosts(lab)
    for host in names:
        lab.run(host, "systemctl start openvpn-server@o3lab")
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected", "multiple": True,
                                        "cleanup": True, "timeout": 60})
    for host in names:
        assert not res[host].get("failed"), res[host]
        for path in session_paths(lab, host):
            if path != res[host]["sessions"][0]["path"]:
                busctl(lab, host, "call", SESSIONS, path, SESSIONS, "Disconnect")
    return names


# -- openvpn3_session_info ------------------------------------------------------------------------

def test_info_matches_the_sessions_dbus_properties(lab, o3):
    res = run(lab, "openvpn3_session_info", {})
    for host in o3:
        r = res[host]
        assert not r.get("failed"), r
        assert r["changed"] is False
        # "OpenVPN3/Linux v24.1 (openvpn3)"
        assert r["version"] == lab.run(host, ["openvpn3", "version"]).stdout.split()[1]
        paths = session_paths(lab, host)
        assert [s["path"] for s in r["sessions"]] == paths
        for s in r["sessions"]:
            props = dbus_props(lab, host, s["path"])
            assert s["config_name"] == props["config_name"]
            assert s["config_path"] == props["config_path"]
            assert s["device"] == props["device_name"]
            assert s["owner"] == props["owner"] == 0 and s["owner_name"] == "root"
            assert s["created"] == props["session_created"]
            assert s["backend_pid"] == props["backend_pid"]
            assert [s["status"]["major"], s["status"]["minor"], s["status"]["message"]] == props["status"]
            assert s["state"] == "connected"
            assert [s["connected_to"]["protocol"], s["connected_to"]["server_ip"],
                    s["connected_to"]["server_port"]] == props["connected_to"] == ["udpv4", "127.0.0.1", 1194]
            assert s["statistics"]["bytes_in"] > 0
            # the tun device exists in the host
            assert lab.run(host, ["ip", "link", "show", s["device"]]).returncode == 0


def test_info_filters(lab, o3):
    per_host = {}
    for host in o3:
        path = lab_session(lab, host)
        per_host[host] = {"path": path, "interface": dbus_props(lab, host, path)["device_name"]}
    res = run(lab, "openvpn3_session_info", {"config_name": PROFILE, "statistics": False}, per_host=per_host)
    for host in o3:
        assert [s["path"] for s in res[host]["sessions"]] == [per_host[host]["path"]]
        assert "statistics" not in res[host]["sessions"][0]
    res = run(lab, "openvpn3_session_info", {"config_name": "no-such-profile"})
    for host in o3:
        assert res[host]["sessions"] == []


# -- openvpn3_session: a real session through its states --------------------------------------------

def test_session_lifecycle(lab, o3):
    start = dict((h, lab_session(lab, h)) for h in o3)
    before = dict((h, server_clients(lab, h)) for h in o3)
    for host in o3:
        assert len(before[host]) >= 1, before[host]

    # paused, check mode: predicted, nothing done
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "paused"}, check=True)
    for host in o3:
        assert res[host]["changed"] is True and not res[host].get("failed"), res[host]
        assert dbus_status(lab, host, start[host])[1] == 7

    # paused: the tunnel is down, the client left the server
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "paused", "reason": "integration test"})
    for host in o3:
        r = res[host]
        assert r["changed"] is True, r
        assert r["diff"] == {"before": {start[host]: "connected"}, "after": {start[host]: "paused"}}
        assert r["session"]["state"] == "paused" and r["session"]["path"] == start[host]
        assert dbus_status(lab, host, start[host])[1] == 14
        left = wait_server(lab, host, lambda c, b=before[host]: not set(c) & set(b))
        assert not set(left) & set(before[host]), left
    info = run(lab, "openvpn3_session_info", {"config_name": PROFILE})
    for host in o3:
        assert info[host]["sessions"][0]["state"] == "paused"

    # paused again: unchanged
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "paused"})
    for host in o3:
        assert res[host]["changed"] is False and res[host]["actions"] == [], res[host]

    # connected: resumed, the client is back on the server (a new connection)
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected"})
    resumed = {}
    for host in o3:
        r = res[host]
        assert r["changed"] is True and r["actions"] == [{"path": start[host], "action": "resume"}], r
        assert r["session"]["state"] == "connected"
        assert dbus_status(lab, host, start[host])[1] == 7
        resumed[host] = wait_server(lab, host, lambda c, b=before[host]: bool(set(c) - set(b)))
        assert set(resumed[host]) - set(before[host]), resumed[host]
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected"})
    for host in o3:
        assert res[host]["changed"] is False, res[host]

    # restarted: always a change, and the server sees a new connection
    per_host = dict((h, {"path": start[h]}) for h in o3)
    res = run(lab, "openvpn3_session", {"state": "restarted"}, per_host=per_host)
    for host in o3:
        r = res[host]
        assert r["changed"] is True and r["actions"] == [{"path": start[host], "action": "restart"}], r
        assert r["session"]["state"] == "connected"
        props = dbus_props(lab, host, start[host])
        assert props["status"][1] == 7 and props["statistics"].get("N_RECONNECT", 0) >= 1
        seen = set(resumed[host]) | set(before[host])
        after = wait_server(lab, host, lambda c, s=seen: bool(set(c) - s))
        assert set(after) - seen, (after, seen)
    current = dict((h, max(server_clients(lab, h))) for h in o3)

    # absent, check mode, then for real: the session is gone, the client left the server
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "absent"}, check=True)
    for host in o3:
        assert res[host]["changed"] is True and session_paths(lab, host) == [start[host]]
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "absent"})
    for host in o3:
        r = res[host]
        assert r["changed"] is True and r["sessions"] == [], r
        assert start[host] not in session_paths(lab, host)
        gone = wait_server(lab, host, lambda c, cid=current[host]: cid not in c)
        assert current[host] not in gone
    info = run(lab, "openvpn3_session_info", {"config_name": PROFILE})
    for host in o3:
        assert info[host]["sessions"] == []
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "absent"})
    for host in o3:
        assert res[host]["changed"] is False, res[host]

    # connected with no session: started from the imported profile (check mode first)
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected"}, check=True)
    for host in o3:
        assert res[host]["changed"] is True and res[host]["actions"] == [{"path": None, "action": "start"}]
        assert session_paths(lab, host) == []
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected", "timeout": 60})
    for host in o3:
        r = res[host]
        assert r["changed"] is True and r["actions"][0]["action"] == "start", r
        new = r["session"]["path"]
        assert new != start[host] and session_paths(lab, host) == [new]
        assert dbus_status(lab, host, new)[1] == 7
        assert wait_server(lab, host, lambda c, cid=current[host]: any(i > cid for i in c))
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected"})
    for host in o3:
        assert res[host]["changed"] is False, res[host]


# -- failures: a clear message and no change -------------------------------------------------------

def assert_unchanged(lab, o3, snapshot):
    for host in o3:
        path, pid = snapshot[host]
        assert session_paths(lab, host) == [path]
        props = dbus_props(lab, host, path)
        assert props["status"][1] == 7 and props["backend_pid"] == pid


def snapshot(lab, o3):
    out = {}
    for host in o3:
        path = lab_session(lab, host)
        out[host] = (path, dbus_props(lab, host, path)["backend_pid"])
    return out


def test_no_such_session(lab, o3):
    snap = snapshot(lab, o3)
    res = run(lab, "openvpn3_session", {"path": "/net/openvpn/v3/sessions/00000000s0000s0000s0000s000000000000",
                                        "state": "paused"})
    for host in o3:
        r = res[host]
        assert r["failed"] is True and r["error_kind"] == "not_found" and r["changed"] is False, r
        assert "no OpenVPN 3 session with path" in r["msg"]
    res = run(lab, "openvpn3_session", {"interface": "tun99", "state": "restarted"})
    for host in o3:
        assert res[host]["error_kind"] == "not_found"
    res = run(lab, "openvpn3_session", {"config_name": "no-such-profile", "state": "connected"})
    for host in o3:
        assert res[host]["error_kind"] == "not_found"
        assert "no imported configuration profile named 'no-such-profile'" in res[host]["msg"]
    assert_unchanged(lab, o3, snap)


def test_values_beginning_with_a_dash(lab, o3):
    """Values that look like busctl options reach D-Bus as values ("--" ends busctl's options):
    a profile named ``--it-dash`` is started, paused with the reason ``--version`` and removed;
    malformed values fail as invalid before busctl runs."""
    snap = snapshot(lab, o3)
    name = "--it-dash"
    res = run(lab, "openvpn3_session_info", {"config_name": "--help"})
    for host in o3:
        assert not res[host].get("failed") and res[host]["sessions"] == [], res[host]
    res = run(lab, "openvpn3_session_info", {"interface": "-x"})
    for host in o3:
        assert not res[host].get("failed") and res[host]["sessions"] == [], res[host]
    for args in ({"path": "--help"}, {"path": "/net/openvpn/v3/configuration/x"}, {"config_name": "a\nb"},
                 {"interface": "tun0 -x"}):
        res = run(lab, "openvpn3_session", dict(args, state="paused"))
        for host in o3:
            assert res[host]["failed"] is True and res[host]["error_kind"] == "invalid", res[host]
    configs = {}
    try:
        for host in o3:
            text = lab.run(host, ["cat", "/etc/openvpn/server/o3lab/lab-vpn.ovpn"]).stdout
            for _attempt in range(30):
                # the configuration service is D-Bus activated: its root object comes a moment later
                imported = busctl(lab, host, "--timeout=120", "--", "call", "net.openvpn.v3.configuration",
                                  "/net/openvpn/v3/configuration", "net.openvpn.v3.configuration", "Import",
                                  "ssbb", name, text, "false", "false", check=False)
                if imported:
                    break
                time.sleep(1)
            configs[host] = imported[0]
        res = run(lab, "openvpn3_session", {"config_name": name, "state": "connected", "timeout": 120})
        for host in o3:
            r = res[host]
            assert not r.get("failed") and r["changed"] is True, r
            assert r["session"]["state"] == "connected" and r["session"]["config_name"] == name, r
        res = run(lab, "openvpn3_session", {"config_name": name, "state": "paused", "reason": "--version",
                                            "timeout": 60})
        for host in o3:
            r = res[host]
            assert not r.get("failed") and r["changed"] is True and r["session"]["state"] == "paused", r
            assert dbus_status(lab, host, r["session"]["path"])[1] == 14
        res = run(lab, "openvpn3_session", {"config_name": name, "state": "absent"})
        for host in o3:
            assert res[host]["changed"] is True and res[host]["sessions"] == [], res[host]
    finally:
        for host, cfg in configs.items():
            for path in busctl(lab, host, "--", "call", SESSIONS, "/net/openvpn/v3/sessions", SESSIONS,
                               "LookupConfigName", "s", name)[0]:
                busctl(lab, host, "call", SESSIONS, path, SESSIONS, "Disconnect", check=False)
            busctl(lab, host, "call", "net.openvpn.v3.configuration", cfg, "net.openvpn.v3.configuration",
                   "Remove", check=False)
    assert_unchanged(lab, o3, snap)


def test_two_sessions_for_one_config_name(lab, o3):
    """Two profiles imported under one name, a session of each (27.1 refuses two of one profile)."""
    snap = snapshot(lab, o3)
    dup = "it-dup"
    configs = {}
    try:
        for host in o3:
            for _i in range(2):
                lab.run(host, ["openvpn3", "config-import", "--config", "/etc/openvpn/server/o3lab/lab-vpn.ovpn",
                               "--name", dup])
            configs[host] = busctl(lab, host, "call", "net.openvpn.v3.configuration",
                                   "/net/openvpn/v3/configuration", "net.openvpn.v3.configuration",
                                   "LookupConfigName", "s", dup)[0]
            for cfg in configs[host]:
                lab.run(host, ["openvpn3", "session-start", "--config-path", cfg, "--timeout", "30"], timeout=60)
        res = run(lab, "openvpn3_session", {"config_name": dup, "state": "paused"})
        for host in o3:
            r = res[host]
            assert r["failed"] is True and r["error_kind"] == "ambiguous" and r["changed"] is False, r
            assert "more than one session (2)" in r["msg"]
            for path in busctl(lab, host, "call", SESSIONS, "/net/openvpn/v3/sessions", SESSIONS,
                               "LookupConfigName", "s", dup)[0]:
                assert dbus_status(lab, host, path)[1] == 7
        # multiple=true acts on each
        res = run(lab, "openvpn3_session", {"config_name": dup, "state": "absent", "multiple": True})
        for host in o3:
            r = res[host]
            assert r["changed"] is True and len(r["actions"]) == 2, r
            assert busctl(lab, host, "call", SESSIONS, "/net/openvpn/v3/sessions", SESSIONS,
                          "LookupConfigName", "s", dup)[0] == []
    finally:
        for host, paths in configs.items():
            for path in busctl(lab, host, "call", SESSIONS, "/net/openvpn/v3/sessions", SESSIONS,
                               "LookupConfigName", "s", dup)[0]:
                busctl(lab, host, "call", SESSIONS, path, SESSIONS, "Disconnect", check=False)
            for cfg in paths:
                busctl(lab, host, "call", "net.openvpn.v3.configuration", cfg, "net.openvpn.v3.configuration",
                       "Remove", check=False)
    assert_unchanged(lab, o3, snap)


def test_non_owner(lab, o3):
    snap = snapshot(lab, o3)
    per_host = dict((h, {"path": snap[h][0]}) for h in o3)
    res = run(lab, "openvpn3_session", {"state": "paused"}, per_host=per_host, become_user="o3user")
    for host in o3:
        r = res[host]
        assert r["failed"] is True and r["error_kind"] == "permission_denied" and r["changed"] is False, r
        assert "access denied" in r["msg"]
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "absent"}, become_user="o3user")
    for host in o3:
        # the session is invisible to this user: nothing to disconnect
        assert res[host]["changed"] is False and not res[host].get("failed"), res[host]
    res = run(lab, "openvpn3_session_info", {}, become_user="o3user")
    for host in o3:
        assert res[host]["sessions"] == []
    res = run(lab, "openvpn3_session_info", {}, per_host=per_host, become_user="o3user")
    for host in o3:
        assert res[host]["error_kind"] == "permission_denied"
    assert_unchanged(lab, o3, snap)


def test_bounded_wait_while_the_server_is_down(lab, o3):
    snap = snapshot(lab, o3)
    try:
        for host in o3:
            lab.run(host, "systemctl stop openvpn-server@o3lab")
        for host in o3:
            deadline = time.monotonic() + 30
            while dbus_status(lab, host, snap[host][0])[1] != 12 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert dbus_status(lab, host, snap[host][0])[1] == 12
        t0 = time.monotonic()
        res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected", "timeout": 3})
        assert time.monotonic() - t0 < 60
        for host in o3:
            r = res[host]
            assert r["failed"] is True and r["error_kind"] == "timeout" and r["changed"] is False, r
            assert "did not reach Client connected within 3 s (last status: Connection, Client reconnect)" in r["msg"]
        info = run(lab, "openvpn3_session_info", {"config_name": PROFILE})
        for host in o3:
            s = info[host]["sessions"][0]
            assert s["state"] == "reconnecting" and s["connected_to"]["server_ip"] is None
    finally:
        for host in o3:
            lab.run(host, "systemctl start openvpn-server@o3lab")
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected", "timeout": 90})
    for host in o3:
        assert res[host]["changed"] is False and res[host]["session"]["state"] == "connected", res[host]


def test_session_manager_stopped(lab, o3):
    """No activatable session manager: a clear error; restored afterwards."""
    snap = snapshot(lab, o3)
    try:
        for host in o3:
            pid = busctl(lab, host, "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                         "GetConnectionUnixProcessID", "s", SESSIONS)[0]
            lab.run(host, "mv %s /root/it-sessions.service && busctl --system call org.freedesktop.DBus "
                          "/org/freedesktop/DBus org.freedesktop.DBus ReloadConfig && kill %d" % (SERVICE_FILE, pid))
        time.sleep(1)
        res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "paused"})
        for host in o3:
            r = res[host]
            assert r["failed"] is True and r["error_kind"] == "unreachable" and r["changed"] is False, r
            assert "session manager (net.openvpn.v3.sessions) is not running" in r["msg"]
        res = run(lab, "openvpn3_session_info", {})
        for host in o3:
            assert res[host]["error_kind"] == "unreachable"
    finally:
        for host in o3:
            lab.run(host, "test -e %s || mv /root/it-sessions.service %s; busctl --system call "
                          "org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig"
                    % (SERVICE_FILE, SERVICE_FILE))
            # the old backend outlives its manager, unknown to the new one: end it
            lab.run(host, "kill %d" % snap[host][1], check=False)
    res = run(lab, "openvpn3_session", {"config_name": PROFILE, "state": "connected", "timeout": 60})
    for host in o3:
        r = res[host]
        assert r["changed"] is True and r["session"]["state"] == "connected", r


def test_no_system_bus(lab, o3):
    text = task("openvpn3_session_info", {}).replace(
        "  tasks:", "  environment:\n    DBUS_SYSTEM_BUS_ADDRESS: unix:path=/nonexistent/bus\n  tasks:")
    res = lab.playbook(text).results("Task")
    for host in o3:
        assert res[host]["error_kind"] == "unreachable"
        assert "cannot connect to the D-Bus system bus" in res[host]["msg"]
