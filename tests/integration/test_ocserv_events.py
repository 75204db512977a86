# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_events against the lab's real ocserv 1.1.6, 1.3.0 and 1.5.0: a playbook listens (async)
while the lab's client host connects and disconnects a real openconnect client; afterwards no
occtl may be left on the server."""

from __future__ import absolute_import, division, print_function

import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ocserv_support as oc  # noqa: E402

LISTEN = os.path.join(HERE, "playbooks", "ocserv_events", "listen.yml")
QUIET = os.path.join(HERE, "playbooks", "ocserv_events", "quiet.yml")
USER = "carol"   # a lab user that the lab does not keep connected


def occtl_processes(lab, server):
    res = lab.run(server, ["pgrep", "-a", "-x", "occtl"], check=False)
    return [line for line in res.stdout.splitlines() if line.strip()]


def stop_client(lab, server):
    oc.client(lab, ["systemctl", "stop", "oc-client@%s-%s.service" % (server, USER)])
    assert oc.wait_until(lambda: not oc.connections(lab, server, USER), timeout=20)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_until_connect_then_disconnect(lab, server):
    stop_client(lab, server)
    try:
        started = time.time()
        res = lab.playbook(LISTEN, extra_vars={"ev_server": server, "ev_user": USER, "ev_action": "connect",
                                               "ev_until_event": "connect"})
        assert res.rc == 0, res.stdout[-3000:] + res.stderr[-3000:]
        out = res.result("Collect the events", server)
        assert out["stopped_by"] == "until" and out["until_matched"], out
        assert time.time() - started < 60     # ended on the event, not on the 60 s limit
        ids = oc.connections(lab, server, USER)
        assert len(ids) == 1
        match = out["matched"]
        assert match["event"] == "connect" and match["username"] == USER and match["id"] == ids[0]
        assert match["remote_ip"] == lab.hosts["client"]["ip"]
        assert match["vpn_ipv4"].startswith("192.168.")
        assert out["events"][-1] == match
        assert out["listening_since"] <= match["time"] <= out["listening_until"]
        # the lab keeps alice and bob connected: they were there when listening started
        assert {"alice", "bob"} <= set(u["username"] for u in out["users_at_start"])
        assert USER not in set(u["username"] for u in out["users_at_start"])
        assert occtl_processes(lab, server) == []

        res = lab.playbook(LISTEN, extra_vars={"ev_server": server, "ev_user": USER, "ev_action": "disconnect",
                                               "ev_until_event": "disconnect"})
        assert res.rc == 0, res.stdout[-3000:] + res.stderr[-3000:]
        out = res.result("Collect the events", server)
        assert out["stopped_by"] == "until"
        match = out["matched"]
        assert match["event"] == "disconnect" and match["id"] == ids[0]
        assert match["reason"] == "user disconnected" and isinstance(match["duration"], int)
        assert USER in set(u["username"] for u in out["users_at_start"])
        assert occtl_processes(lab, server) == []
    finally:
        stop_client(lab, server)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_bounded_quiet_other_listener_and_async_kill(lab, server):
    # a quiet server: the time limit ends it (check mode: read-only)
    started = time.time()
    res = lab.playbook(QUIET, extra_vars={"ev_server": server, "ev_async_kill": True})
    assert res.rc == 0, res.stdout[-3000:] + res.stderr[-3000:]
    quiet = res.result("Quiet", server)
    assert quiet["stopped_by"] == "duration" and quiet["events"] == [] and not quiet["changed"]
    assert 1.9 <= quiet["listening_until"] - quiet["listening_since"] < 5
    # async timeout: Ansible kills the module; occtl must die with it
    killed = res.result("Killed by the async timeout", server)
    assert killed.get("failed"), killed
    if not oc.wait_until(lambda: occtl_processes(lab, server) == [], timeout=10):
        # Ansible's async_wrapper puts the module's process group in place after it forks; on a loaded
        # machine the module can start first and escape the kill (it then runs until its duration).
        # Its occtl is then no orphan: its parent is that module, alive, and both end at the duration.
        for line in occtl_processes(lab, server):
            parent = lab.run(server, "ps -o args= -p $(ps -o ppid= -p %s)" % line.split()[0], check=False).stdout
            assert "ocserv_events" in parent, (line, parent)
        assert oc.wait_until(lambda: occtl_processes(lab, server) == [], timeout=90), occtl_processes(lab, server)
    assert time.time() - started < 210

    # another listener holds the events: detected, fail on request
    # (its own session, so that the whole pipeline is killed by its process group id)
    pgid = lab.run(server, "setsid sh -c 'sleep 300 | occtl show events' >/dev/null 2>&1 </dev/null & echo $!")
    pgid = int(pgid.stdout.strip())
    try:
        assert oc.wait_until(lambda: occtl_processes(lab, server), timeout=10)
        res = lab.playbook(QUIET, extra_vars={"ev_server": server, "ev_on_other": "fail"})
        other = res.result("Other listener", server)
        assert other["failed"] and other["error_kind"] == "busy" and "first listener" in other["msg"]
        res = lab.playbook(QUIET, extra_vars={"ev_server": server, "ev_on_other": "warn"})
        other = res.result("Other listener", server)
        assert not other.get("failed") and other["other_listeners"]
        assert any("first listener" in w for w in other.get("warnings", []))
    finally:
        lab.run(server, "kill -TERM -%d" % pgid, check=False)   # sh builtin: a process group
    assert oc.wait_until(lambda: occtl_processes(lab, server) == [], timeout=10)
