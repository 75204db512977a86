# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_ban on captured occtl output: a real ban (33+ points from wrong passwords)."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_module_helpers import VERSIONS, A, FakeOcctl, Q, actions, load, run  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.modules import ocserv_ban  # noqa: E402

BANNED = "10.232.4.2"


def banned(version):
    return FakeOcctl(version, {
        (Q, ("show", "ip", "bans")): [load(version, "connected", "ip_bans_json"),
                                      load(version, "actions", "ip_bans_after_unban_json")],
        (Q, ("show", "ip", "ban", "points")): [load(version, "connected", "ip_ban_points_json"),
                                               load(version, "actions", "ip_ban_points_after_unban_json")],
        (A, ("unban", "ip", BANNED)): load(version, "actions", "unban_banned"),
    })


@pytest.mark.parametrize("version", VERSIONS)
def test_unban(version, capsys, monkeypatch):
    fake = banned(version)
    res = run(ocserv_ban, capsys, monkeypatch, fake, ip=[BANNED, "10.9.9.9"])
    assert not res.get("failed"), res
    assert res["changed"] and res["unbanned"] == [BANNED]
    assert actions(fake) == [("unban", "ip", BANNED)]
    assert res["diff"]["before"][BANNED]["banned"] and res["diff"]["before"][BANNED]["score"] >= 30
    assert res["diff"]["after"][BANNED] == {"banned": False, "score": 0}
    assert res["diff"]["before"]["10.9.9.9"] == {"banned": False, "score": 0}


@pytest.mark.parametrize("version", VERSIONS)
def test_check_mode_and_second_run(version, capsys, monkeypatch):
    fake = banned(version)
    res = run(ocserv_ban, capsys, monkeypatch, fake, ip=BANNED, _check=True)
    assert res["changed"] and res["unbanned"] == [BANNED] and actions(fake) == []
    fake = FakeOcctl(version, {
        (Q, ("show", "ip", "bans")): load(version, "actions", "ip_bans_after_unban_json"),
        (Q, ("show", "ip", "ban", "points")): load(version, "actions", "ip_ban_points_after_unban_json"),
    })
    res = run(ocserv_ban, capsys, monkeypatch, fake, ip=[BANNED, "10.9.9.9"])
    assert not res["changed"] and res["unbanned"] == [] and actions(fake) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_points_only_are_reset(version, capsys, monkeypatch):
    fake = banned(version)
    fake.set((A, ("unban", "ip", "10.232.3.2")), load(version, "actions", "unban_points_only"))
    res = run(ocserv_ban, capsys, monkeypatch, fake, ip="10.232.3.2")
    assert res["changed"] and res["unbanned"] == ["10.232.3.2"]
    assert res["diff"]["before"]["10.232.3.2"]["banned"] is False


@pytest.mark.parametrize("bad", ["notanip", "10.0.0.0/8", "10.1.1.300", ""])
def test_invalid_address(bad, capsys, monkeypatch):
    fake = FakeOcctl("1.3.0")
    res = run(ocserv_ban, capsys, monkeypatch, fake, ip=["10.1.1.1", bad])
    assert res["failed"] and res["error_kind"] == "invalid" and fake.commands() == []


def test_ipv6_matches_any_spelling(capsys, monkeypatch):
    bans = dict(load("1.5.0", "connected", "ip_bans_json"))
    bans["stdout"] = bans["stdout"].replace(BANNED, "2001:db8:0:0::7")
    fake = FakeOcctl("1.5.0", {
        (Q, ("show", "ip", "bans")): bans,
        (Q, ("show", "ip", "ban", "points")): load("1.5.0", "empty", "ip_ban_points_json"),
    })
    res = run(ocserv_ban, capsys, monkeypatch, fake, ip="2001:DB8::7", _check=True)
    assert res["changed"] and res["unbanned"] == ["2001:db8::7"]


@pytest.mark.parametrize("version", VERSIONS)
def test_diff_only_in_diff_mode(version, capsys, monkeypatch):
    """The same rule in every family: ``diff`` only with --diff; the change itself is the same."""
    fake = banned(version)
    res = run(ocserv_ban, capsys, monkeypatch, fake, ip=[BANNED], _diff=False)
    assert not res.get("failed"), res
    assert res["changed"] and res["unbanned"] == [BANNED] and "diff" not in res
    assert actions(fake) == [("unban", "ip", BANNED)]
