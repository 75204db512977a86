# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_info on the lab's real servers (1.1.6, 1.3.0, 1.5.0), checked against occtl itself."""

from __future__ import absolute_import, division, print_function

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ocserv_support as oc  # noqa: E402

PLAY = """
- hosts: ocserv_servers
  gather_facts: false
  tasks:
    - name: Info
      vpnfleet.control.ocserv_info:
"""


@pytest.fixture(scope="module")
def info(lab):
    for server in oc.SERVERS:
        oc.restore(lab, server)
    res = lab.playbook(PLAY)
    assert res.rc == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.parametrize("server", oc.SERVERS)
def test_matches_occtl(lab, info, server):
    got = info.result("Info", server)
    assert got["changed"] is False
    assert got["occtl_version"] == oc.VERSION[server]
    assert got["capabilities"]["terminate"] is (server == "sid")
    # users: the same connections occtl lists now (the lab keeps alice and bob connected)
    occtl_users = dict((u["ID"], u) for u in oc.users(lab, server))
    users = dict((u["id"], u) for u in got["users"])
    assert set(users) == set(occtl_users)
    assert {"alice", "bob"} <= set(u["username"] for u in users.values())
    for conn_id, user in users.items():
        ref = occtl_users[conn_id]
        assert user["username"] == ref["Username"] and user["remote_ip"] == ref["Remote IP"]
        assert user["vpn_ipv4"] == ref["IPv4"] and user["vpn_ipv6"] == ref.get("IPv6")
        assert user["session"] == ref["Session"] and user["full_session"] == ref["Full session"]
        assert user["device"] == ref["Device"] and user["user_agent"] == ref["User-Agent"]
        assert isinstance(user["rx"], int) and isinstance(user["tx"], int)   # same netns as ocserv
        assert user["rx"] <= int(ref["RX"]) and user["tx"] <= int(ref["TX"])
        assert isinstance(user["connected_at"], int) and user["connected_at"] <= time.time() + 1
        if "raw_connected_at" in ref:
            assert user["connected_at"] == ref["raw_connected_at"]
        else:   # 1.1.6: derived; within the minute occtl prints
            minute = time.mktime(time.strptime(ref["Connected at"], "%Y-%m-%d %H:%M"))
            assert minute <= user["connected_at"] < minute + 60
    # sessions: `valid` is exactly what `occtl show sessions valid` lists
    valid = sorted(s["session"] for s in got["sessions"] if s["valid"])
    assert valid == sorted(pair[0] for pair in oc.valid_sessions(lab, server))
    for user in users.values():
        assert any(s["full_session"] == user["full_session"] and s["in_use"] for s in got["sessions"])
    # iroutes: alice has 10.99.0.0/16 on every server
    alice = [r for r in got["iroutes"] if r["username"] == "alice"]
    assert alice and all(r["iroutes"] == ["10.99.0.0/255.255.0.0"] for r in alice)
    assert sorted(r["id"] for r in got["iroutes"]) == sorted(users)
    # status
    status = got["status"]
    assert status["status"] == "online" and status["server_pid"] == oc.server_pid(lab, server)
    assert status["active_sessions"] >= len(users) - 1
    assert isinstance(status["up_since"], int)
    # bans / points as occtl's tables say
    assert dict((b["ip"], b["score"]) for b in got["bans"]) == oc.bans(lab, server)
    assert dict((p["ip"], p["score"]) for p in got["ban_points"]) == oc.ban_points(lab, server)


def test_same_keys_on_every_version(info):
    keys = {}
    for server in oc.SERVERS:
        got = info.result("Info", server)
        keys[server] = dict((part, sorted(set(k for item in got[part] for k in item)) if isinstance(
            got[part], list) else sorted(got[part])) for part in ("users", "sessions", "iroutes", "status"))
    for part in ("users", "sessions", "iroutes", "status"):
        assert keys["bookworm"][part] == keys["trixie"][part] == keys["sid"][part], part


def test_gather_subset_and_missing_socket(lab):
    res = lab.playbook("""
- hosts: sid
  gather_facts: false
  tasks:
    - name: Subset
      vpnfleet.control.ocserv_info:
        gather: [users]
    - name: Missing socket
      vpnfleet.control.ocserv_info:
        socket: /run/no-such-dir/occtl.socket
      ignore_errors: true
    - name: Missing occtl
      vpnfleet.control.ocserv_info:
        occtl_path: /usr/local/bin/no-occtl
      ignore_errors: true
""")
    sub = res.result("Subset", "sid")
    assert "users" in sub and "status" not in sub and "sessions" not in sub
    missing = res.result("Missing socket", "sid")
    assert missing["failed"] and missing["error_kind"] == "unreachable"
    assert "/run/no-such-dir/occtl.socket" in missing["msg"] and "does not exist" in missing["msg"]
    nobin = res.result("Missing occtl", "sid")
    assert nobin["failed"] and nobin["error_kind"] == "missing_binary"


def test_permission_denied(lab):
    """occtl as another uid (daemon, via setpriv in a wrapper): ocserv's socket refuses it."""
    lab.run("sid", ["sh", "-c", "printf '%s\\n' '#!/bin/sh' "
                    "'exec setpriv --reuid=1 --regid=1 --clear-groups occtl \"$@\"' > /usr/local/bin/vf-occtl-daemon "
                    "&& chmod 755 /usr/local/bin/vf-occtl-daemon"])
    res = lab.playbook("""
- hosts: sid
  gather_facts: false
  tasks:
    - name: As daemon
      vpnfleet.control.ocserv_info:
        occtl_path: /usr/local/bin/vf-occtl-daemon
      ignore_errors: true
""")
    got = res.result("As daemon", "sid")
    assert got["failed"] and got["error_kind"] == "permission_denied", got
    assert "only from root" in got["msg"] and "/var/run/occtl.socket" in got["msg"]


def test_server_not_answering_times_out(lab):
    """ocserv's main process stopped (SIGSTOP): occtl would wait forever; the task fails after
    `timeout` with error_kind timeout."""
    server = "trixie"
    oc.restore(lab, server)
    pid = oc.server_pid(lab, server)
    lab.run(server, ["kill", "-STOP", str(pid)])
    try:
        res = lab.playbook("""
- hosts: trixie
  gather_facts: false
  tasks:
    - name: Hung
      vpnfleet.control.ocserv_info:
        gather: [users]
        timeout: 2
      ignore_errors: true
""")
        got = res.result("Hung", server)
        assert got["failed"] and got["error_kind"] == "timeout" and "2" in got["msg"], got
        left = lab.run(server, ["pgrep", "-x", "occtl"], check=False)
        assert left.returncode == 1, left.stdout                    # occtl was killed
    finally:
        lab.run(server, ["kill", "-CONT", str(pid)], check=False)
    assert oc.wait_until(lambda: oc.server_pid(lab, server) == pid, 10)
