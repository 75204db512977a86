# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_session with real openconnect clients on ocserv 1.1.6, 1.3.0 and 1.5.0."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ocserv_support as oc  # noqa: E402


def session_play(server, select, state="terminated", check=False):
    return oc.one_task_play(server, "Session", "ocserv_session", [select, "state: %s" % state], check)


def session_of(lab, server, conn_id):
    return [u for u in oc.users(lab, server) if u["ID"] == conn_id][0]


@pytest.mark.parametrize("server", oc.SERVERS)
def test_terminate_by_full_sid_keeps_other_connection(lab, server):
    """carol twice: ending one session by its full id leaves the other connection alone."""
    oc.restore(lab, server)
    value = oc.cookie(lab, server, "carol")
    name = "carol-" + server[:4]
    oc.connect_with_cookie_bg(lab, server, value, name)
    try:
        assert oc.wait_until(lambda: oc.connections(lab, server, "carol"), 30)
        target = oc.connections(lab, server, "carol")[0]
        other = oc.connect_unit(lab, server, "carol")[0]
        full = session_of(lab, server, target)["Full session"]
        short = session_of(lab, server, target)["Session"]
        res = lab.playbook(session_play(server, "session: '%s'" % full, check=True))
        got = res.result("Session", server)
        assert got["changed"] and got["disconnected"] == [target] and got["terminated"] == [short], got
        assert target in oc.connections(lab, server, "carol")
        res = lab.playbook(session_play(server, "session: '%s'" % full))
        got = res.result("Session", server)
        assert not got.get("failed") and got["changed"] and got["disconnected"] == [target], got
        assert oc.connections(lab, server, "carol") == [other]
        assert short not in [s for s, _u in oc.valid_sessions(lab, server)]
        assert oc.connect_cookie(lab, server, value) == 2
        res = lab.playbook(session_play(server, "session: '%s'" % full))
        assert res.result("Session", server)["changed"] is False
    finally:
        oc.stop_unit(lab, "vfl-octest-" + name)
        oc.stop_unit(lab, "oc-client@%s-carol" % server)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_disconnect_by_id(lab, server):
    oc.restore(lab, server)
    conn = oc.connect_unit(lab, server, "carol")[0]
    try:
        res = lab.playbook(session_play(server, "id: [%d, 999999]" % conn, state="disconnected"))
        got = res.result("Session", server)
        assert not got.get("failed") and got["changed"] and got["disconnected"] == [conn], got
        assert conn not in oc.connections(lab, server, "carol")
        res = lab.playbook(session_play(server, "id: %d" % conn, state="disconnected"))
        assert res.result("Session", server)["changed"] is False
    finally:
        oc.stop_unit(lab, "oc-client@%s-carol" % server)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_idle_short_sid(lab, server):
    oc.restore(lab, server)
    value = oc.cookie(lab, server, "erin")
    short = [s for s, u in oc.valid_sessions(lab, server) if u == "erin"][-1]
    res = lab.playbook(session_play(server, "session: '%s'" % short))
    got = res.result("Session", server)
    if server == "sid":
        assert not got.get("failed") and got["changed"] and got["terminated"] == [short], got
        assert oc.connect_cookie(lab, server, value) == 2
    else:
        assert got["failed"] and got["error_kind"] == "unsupported" and short in got["msg"], got
        assert short in [s for s, _u in oc.valid_sessions(lab, server)]


def test_bad_inputs(lab):
    res = lab.playbook("""
- hosts: bookworm
  gather_facts: false
  tasks:
    - name: Malformed SID
      vpnfleet.control.ocserv_session:
        session: "not a sid"
      ignore_errors: true
    - name: Malformed id
      vpnfleet.control.ocserv_session:
        id: abc
      ignore_errors: true
    - name: Unknown
      vpnfleet.control.ocserv_session:
        session: [AAAAAA, AAAAAAAAAAAAAAAAAAAAAAAAAAA=]
""")
    for task in ("Malformed SID", "Malformed id"):
        got = res.result(task, "bookworm")
        assert got["failed"] and got["error_kind"] == "invalid" and "expected" in got["msg"]
    assert res.result("Unknown", "bookworm")["changed"] is False
