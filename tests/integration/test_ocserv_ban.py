# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_ban: a real ban from the lab's ban source, lifted, the client logs in again."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ocserv_support as oc  # noqa: E402


def ban_play(server, ips, check=False):
    return oc.one_task_play(server, "Ban", "ocserv_ban", ["ip: %s" % ips], check)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_real_ban_lifted(lab, server):
    src = lab.ban_source_ip
    oc.restore(lab, server)
    for _attempt in range(3):
        oc.ban_attempt(lab, server, "mallory", "wrong-password")
    assert oc.wait_until(lambda: oc.bans(lab, server).get(src, 0) >= 30, 10), oc.bans(lab, server)
    assert oc.ban_attempt(lab, server, "mallory") != 0          # banned: even the right password fails
    res = lab.playbook(ban_play(server, "['%s', 192.0.2.99]" % src, check=True))
    got = res.result("Ban", server)
    assert got["changed"] and got["unbanned"] == [src], got
    assert src in oc.bans(lab, server)                          # check mode: still banned
    res = lab.playbook(ban_play(server, "['%s', 192.0.2.99]" % src))
    got = res.result("Ban", server)
    assert not got.get("failed") and got["changed"] and got["unbanned"] == [src], got
    assert got["diff"]["before"][src]["banned"] and got["diff"]["after"][src] == {"banned": False, "score": 0}
    assert src not in oc.bans(lab, server)
    assert oc.ban_points(lab, server).get(src, 0) == 0
    res = lab.playbook(ban_play(server, "['%s', 192.0.2.99]" % src))
    assert res.result("Ban", server)["changed"] is False
    assert oc.ban_attempt(lab, server, "mallory") == 0           # logs in again
    # that login added a connection point: absent (score 0) again
    lab.playbook(ban_play(server, "['%s']" % src))


def test_bad_address(lab):
    res = lab.playbook("""
- hosts: trixie
  gather_facts: false
  tasks:
    - name: Bad
      vpnfleet.control.ocserv_ban:
        ip: [192.0.2.1, 10.0.0.0/8]
      ignore_errors: true
""")
    got = res.result("Bad", "trixie")
    assert got["failed"] and got["error_kind"] == "invalid" and "10.0.0.0/8" in got["msg"]
