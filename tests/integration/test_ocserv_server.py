# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_server on the lab's servers: validated reload, refused broken config, stop."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ocserv_support as oc  # noqa: E402


def reloads(lab, server):
    """How many times ocserv (re)read its configuration (journal of ocserv.service): sec-mod logs
    `reading supplemental config from files` at start and at every reload on 1.1.6 to 1.5.0
    (1.1.6 does not log `main: reloading configuration`)."""
    res = lab.run(server, ["journalctl", "-u", "ocserv", "--no-pager", "-o", "cat"], check=False)
    return sum(1 for line in res.stdout.splitlines() if "reading supplemental config from files" in line)


def server_play(server, state, config=None, check=False):
    return oc.one_task_play(server, "Server", "ocserv_server",
                            ["state: %s" % state] + (["config: %s" % config] if config else []), check, diff=False)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_reload_validated(lab, server):
    oc.restore(lab, server)
    pid = oc.server_pid(lab, server)
    lab.run(server, "sed 's/^auth = .*/auth = \"nosuchmethod\"/' /etc/ocserv/ocserv.conf > /tmp/vf-broken.conf")
    before = reloads(lab, server)
    for check in (True, False):
        res = lab.playbook(server_play(server, "reloaded", "/tmp/vf-broken.conf", check=check))
        got = res.result("Server", server)
        assert got["failed"] and got["error_kind"] == "invalid" and "nosuchmethod" in got["msg"], got
        assert "not touched" in got["msg"]
    assert reloads(lab, server) == before and oc.server_pid(lab, server) == pid
    res = lab.playbook(server_play(server, "reloaded", "/etc/ocserv/ocserv.conf", check=True))
    assert res.result("Server", server)["changed"] and reloads(lab, server) == before
    for _run in range(2):   # always changes
        res = lab.playbook(server_play(server, "reloaded", "/etc/ocserv/ocserv.conf"))
        got = res.result("Server", server)
        assert not got.get("failed") and got["changed"] and got["server_pid"] == pid, got
    assert oc.wait_until(lambda: reloads(lab, server) > before, 10)
    assert oc.server_pid(lab, server) == pid and oc.connections(lab, server, "alice")


@pytest.mark.parametrize("server", oc.SERVERS)
def test_stop(lab, server):
    oc.restore(lab, server)
    try:
        res = lab.playbook(server_play(server, "stopped", check=True))
        assert res.result("Server", server)["changed"] and oc.server_pid(lab, server)
        res = lab.playbook(server_play(server, "stopped"))
        got = res.result("Server", server)
        assert not got.get("failed") and got["changed"], got
        assert oc.server_pid(lab, server) is None
        assert lab.run(server, ["test", "-e", "/var/run/occtl.socket"], check=False).returncode == 1
        res = lab.playbook(server_play(server, "stopped"))
        assert res.result("Server", server)["changed"] is False
        res = lab.playbook(server_play(server, "reloaded"))
        got = res.result("Server", server)
        assert got["failed"] and got["error_kind"] == "unreachable"
    finally:
        lab.run(server, ["systemctl", "reset-failed", "ocserv"], check=False)
        oc.restore(lab, server)


def test_server_stopped_mid_play(lab):
    """A task after the server went away fails with a clear message, not a traceback or a hang."""
    server = "trixie"
    oc.restore(lab, server)
    try:
        res = lab.playbook("""
- hosts: trixie
  gather_facts: false
  tasks:
    - name: Before
      vpnfleet.control.ocserv_info:
        gather: [users]
    - name: Stop behind our back
      ansible.builtin.command: systemctl stop ocserv
      changed_when: true
    - name: After
      vpnfleet.control.ocserv_user:
        name: alice
      ignore_errors: true
""")
        assert res.result("Before", server)["users"]
        got = res.result("After", server)
        assert got["failed"] and got["error_kind"] == "unreachable" and "occtl.socket" in got["msg"]
        assert "Traceback" not in got["msg"]
    finally:
        oc.restore(lab, server)
