# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openvpn3_session_info / openvpn3_session as modules, busctl answered from the 24.1/27.1 captures."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c
from ansible_collections.vpnfleet.control.plugins.modules import openvpn3_session, openvpn3_session_info
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, os.path.join(REPO, "tests", "unit", "fixtures", "openvpn3"))
import replay_openvpn3 as replay  # noqa: E402  pylint: disable=wrong-import-position

VERSIONS = replay.VERSIONS


@pytest.fixture
def host(monkeypatch):
    """Install a Replay as the host's busctl; call it with (version, scenario)."""
    state = {"alive": True}

    def make(version, scenario, **kwargs):
        rep = replay.Replay(version, scenario, **kwargs)
        clock = replay.FakeClock()
        monkeypatch.setattr(o3c, "subprocess_runner", rep)
        monkeypatch.setattr(o3c, "find_busctl", lambda paths=None: "/usr/bin/busctl")
        monkeypatch.setattr(o3c, "_monotonic", clock)
        monkeypatch.setattr(o3c, "_sleep", clock.sleep)
        monkeypatch.setattr(o3c, "local_pid_alive", lambda pid: state["alive"])
        rep.state = state
        return rep
    return make


def run(module, capsys, **args):
    args["_ansible_check_mode"] = args.pop("_check", False)
    args["_ansible_diff"] = args.pop("_diff", True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


# -- openvpn3_session_info ------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_info_all(host, capsys, version):
    rep = host(version, "connected")
    res = run(openvpn3_session_info, capsys)
    assert res["changed"] is False
    assert res["version"] == "v" + version
    assert [s["path"] for s in res["sessions"]] == [rep.notes()["path"]]
    s = res["sessions"][0]
    assert s["state"] == "connected" and s["config_name"] == "lab-vpn"
    assert s["status"]["minor"] == 7 and isinstance(s["created"], int)
    assert s["statistics"]["bytes_in"] > 0
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_info_filters(host, capsys, version):
    rep = host(version, "connected")
    path, device = rep.notes()["path"], rep.notes()["device"]
    assert [s["path"] for s in run(openvpn3_session_info, capsys, config_name="lab-vpn")["sessions"]] == [path]
    assert run(openvpn3_session_info, capsys, config_name="nosuch-profile")["sessions"] == []
    assert [s["path"] for s in run(openvpn3_session_info, capsys, interface=device)["sessions"]] == [path]
    assert run(openvpn3_session_info, capsys, interface="tun9")["sessions"] == []
    assert run(openvpn3_session_info, capsys, path="/net/openvpn/v3/sessions/deadbeef")["sessions"] == []
    res = run(openvpn3_session_info, capsys, path=path, config_name="lab-vpn", statistics=False)
    assert [s["path"] for s in res["sessions"]] == [path]
    assert "statistics" not in res["sessions"][0]


@pytest.mark.parametrize("version", VERSIONS)
def test_info_paused_and_reconnecting(host, capsys, version):
    host(version, "paused")
    assert run(openvpn3_session_info, capsys)["sessions"][0]["state"] == "paused"


@pytest.mark.parametrize("version", VERSIONS)
def test_info_non_owner(host, capsys, version):
    rep = host(version, "non_owner")
    assert run(openvpn3_session_info, capsys)["sessions"] == []
    res = run(openvpn3_session_info, capsys, path=rep.notes()["path"])
    assert res["failed"] is True
    assert res["error_kind"] == "permission_denied"
    assert "access denied" in res["msg"]


@pytest.mark.parametrize("scenario,kind,text", [
    ("no_bus", "unreachable", "cannot connect to the D-Bus system bus"),
    ("manager_stopped", "unreachable", "session manager (net.openvpn.v3.sessions) is not running"),
])
@pytest.mark.parametrize("version", VERSIONS)
def test_info_unreachable(host, capsys, version, scenario, kind, text):
    host(version, scenario)
    res = run(openvpn3_session_info, capsys)
    assert res["failed"] is True and res["error_kind"] == kind and text in res["msg"]


# -- openvpn3_session -----------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_pause_connected(host, capsys, version):
    rep = host(version, "connected")
    path = rep.notes()["path"]
    res = run(openvpn3_session, capsys, path=path, state="paused")
    assert res["changed"] is True
    assert res["actions"] == [{"path": path, "action": "pause"}]
    assert res["session"]["state"] == "paused"
    assert res["diff"] == {"before": {path: "connected"}, "after": {path: "paused"}}
    assert rep.actions() == ["Pause"]


@pytest.mark.parametrize("version", VERSIONS)
def test_pause_check_mode(host, capsys, version):
    rep = host(version, "connected")
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="paused", _check=True)
    assert res["changed"] is True
    assert res["session"]["state"] == "connected"
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_paused_stays_paused(host, capsys, version):
    rep = host(version, "paused")
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="paused")
    assert res["changed"] is False and res["actions"] == []
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_resume_paused(host, capsys, version):
    rep = host(version, "paused")
    device = replay.load(version, "connected")["notes"]["device"]
    res = run(openvpn3_session, capsys, interface=device, state="connected")
    assert res["changed"] is True
    assert res["session"]["state"] == "connected"
    assert rep.actions() == ["Resume"]


@pytest.mark.parametrize("version", VERSIONS)
def test_connected_stays_connected(host, capsys, version):
    rep = host(version, "connected")
    res = run(openvpn3_session, capsys, config_name="lab-vpn")
    assert res["changed"] is False
    assert res["session"]["state"] == "connected"
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_restart_always_changes(host, capsys, version):
    rep = host(version, "connected")
    path = rep.notes()["path"]
    res = run(openvpn3_session, capsys, path=path, state="restarted")
    assert res["changed"] is True and res["session"]["state"] == "connected"
    assert rep.actions() == ["Restart"]
    rep = host(version, "connected")
    res = run(openvpn3_session, capsys, path=path, state="restarted", _check=True)
    assert res["changed"] is True and rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_absent(host, capsys, version):
    rep = host(version, "connected")
    path = rep.notes()["path"]
    res = run(openvpn3_session, capsys, path=path, state="absent")
    assert res["changed"] is True and res["sessions"] == [] and res["session"] is None
    assert res["diff"]["after"] == {path: "absent"}
    assert rep.actions() == ["Disconnect"]
    # second run: nothing left
    rep = host(version, "disconnected")
    res = run(openvpn3_session, capsys, path=path, state="absent")
    assert res["changed"] is False and rep.actions() == []
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="absent")
    assert res["changed"] is False


@pytest.mark.parametrize("version", VERSIONS)
def test_start_from_profile(host, capsys, version):
    rep = host(version, "disconnected")
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="connected", _check=True)
    assert res["changed"] is True and res["actions"] == [{"path": None, "action": "start"}]
    assert rep.actions() == []
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="connected", timeout=60)
    new = replay.load(version, "started")["notes"]["path"]
    assert res["changed"] is True
    assert res["actions"] == [{"path": new, "action": "start"}]
    assert res["session"]["path"] == new and res["session"]["state"] == "connected"
    assert rep.actions() == ["NewTunnel", "Connect"]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_such_session(host, capsys, version):
    rep = host(version, "connected")
    for args in ({"path": "/net/openvpn/v3/sessions/deadbeef", "state": "paused"},
                 {"interface": "tun9", "state": "connected"},
                 {"config_name": "nosuch-profile", "state": "paused"}):
        res = run(openvpn3_session, capsys, **args)
        assert res["failed"] is True and res["error_kind"] == "not_found", args
        assert "no OpenVPN 3 session with" in res["msg"]
        assert res["changed"] is False
    res = run(openvpn3_session, capsys, config_name="nosuch-profile", state="connected")
    assert res["error_kind"] == "not_found"
    assert "no imported configuration profile named 'nosuch-profile'" in res["msg"]
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_two_sessions_for_one_name(host, capsys, version):
    rep = host(version, "two_sessions")
    res = run(openvpn3_session, capsys, config_name="capture-dup", state="paused")
    assert res["failed"] is True and res["error_kind"] == "ambiguous"
    assert "more than one session (2)" in res["msg"] and "multiple=true" in res["msg"]
    assert res["changed"] is False
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_two_sessions_check_mode_with_multiple(host, capsys, version):
    rep = host(version, "two_sessions")
    res = run(openvpn3_session, capsys, config_name="capture-dup", state="absent", multiple=True, _check=True)
    assert res["changed"] is True
    assert sorted(a["path"] for a in res["actions"]) == rep.notes()["paths"]
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_non_owner(host, capsys, version):
    rep = host(version, "non_owner")
    res = run(openvpn3_session, capsys, path=rep.notes()["path"], state="paused")
    assert res["failed"] is True and res["error_kind"] == "permission_denied"
    assert "access denied" in res["msg"] and res["changed"] is False
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="connected")
    assert res["failed"] is True and res["error_kind"] == "not_found"
    assert "visible to this user" in res["msg"]
    assert rep.actions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_manager_stopped(host, capsys, version):
    host(version, "manager_stopped")
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="paused")
    assert res["failed"] is True and res["error_kind"] == "unreachable"
    assert "session manager (net.openvpn.v3.sessions) is not running" in res["msg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_reconnecting_waits_bounded(host, capsys, version):
    rep = host(version, "reconnecting")
    # skip to the part of the timeline where the server was gone
    o3c.OpenVPN3Client(timeout=60).wait_status(rep.notes()["path"], (12,), failed=())
    budget = replay.reconnect_budget(version)
    res = run(openvpn3_session, capsys, config_name="lab-vpn", state="connected", timeout=budget)
    assert res["failed"] is True and res["error_kind"] == "timeout"
    assert "did not reach Client connected within %g s" % budget in res["msg"]
    assert res["changed"] is False


@pytest.mark.parametrize("version", VERSIONS)
def test_cleanup(host, capsys, version):
    rep = host(version, "connected")
    path = rep.notes()["path"]
    res = run(openvpn3_session, capsys, cleanup=True)
    assert res["changed"] is False and res["cleaned_up"] == []
    rep.state["alive"] = False
    res = run(openvpn3_session, capsys, cleanup=True, _check=True)
    assert res["changed"] is True and [c["path"] for c in res["cleaned_up"]] == [path]
    assert rep.actions() == []
    res = run(openvpn3_session, capsys, cleanup=True)
    assert res["changed"] is True and rep.actions() == ["Disconnect"]


def test_arguments(capsys):
    res = run(openvpn3_session, capsys)
    assert res["failed"] is True and "one of path, config_name or interface" in res["msg"]
    res = run(openvpn3_session, capsys, state="paused", cleanup=True)
    assert res["failed"] is True and "needs a session" in res["msg"]
    res = run(openvpn3_session, capsys, path="/x", interface="tun0")
    assert res["failed"] is True and "mutually exclusive" in res["msg"]
