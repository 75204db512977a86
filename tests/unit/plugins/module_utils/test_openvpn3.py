# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenVPN 3 D-Bus client on busctl replies captured from 24.1 and 27.1 (tests/capture/capture_openvpn3.py)."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c, _openvpn3_parsers as o3p
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c, _openvpn3_parsers as o3p
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError

sys.path.insert(0, os.path.join(REPO, "tests", "unit", "fixtures", "openvpn3"))
import replay_openvpn3 as replay  # noqa: E402  pylint: disable=wrong-import-position

VERSIONS = replay.VERSIONS


def client(rep, timeout=30, pid_alive=None):
    clock = replay.FakeClock()
    return o3c.OpenVPN3Client(timeout=timeout, runner=rep, busctl="/usr/bin/busctl", clock=clock,
                              sleep=clock.sleep, pid_alive=pid_alive or (lambda pid: True))


def raw_props(rep, path):
    """The GetAll reply for ``path`` as recorded, decoded by json only (the reference)."""
    for exchange in rep.scenarios[rep.current]["exchanges"]:
        if "GetAll" in exchange["argv"] and path in exchange["argv"] and exchange["rc"] == 0:
            return json.loads(exchange["stdout"])["data"][0]
    raise AssertionError("no GetAll of %s" % path)


def test_every_version_captured_reports_its_version():
    """The session manager of each capture reports the release its fixture folder is named after."""
    assert [client(replay.Replay(v, "connected")).version() for v in VERSIONS] == ["v24.1", "v27.1"]


@pytest.mark.parametrize("version", VERSIONS)
def test_connected_session_matches_its_dbus_properties(version):
    rep = replay.Replay(version, "connected")
    path = rep.notes()["path"]
    c = client(rep)
    assert c.version() == "v" + version
    assert c.fetch_sessions() == [path]
    s = c.session(path)
    raw = raw_props(rep, path)
    assert s["path"] == path
    assert s["config_name"] == raw["config_name"]["data"] == "lab-vpn"
    assert s["config_path"] == raw["config_path"]["data"]
    assert s["device"] == raw["device_name"]["data"] == rep.notes()["device"]
    assert s["device"].startswith("tun")
    assert s["device_path"].startswith("/net/openvpn/v3/netcfg/%d_" % s["backend_pid"])
    assert s["owner"] == 0 and s["owner_name"] == "root"
    assert isinstance(s["created"], int) and s["created"] == raw["session_created"]["data"]
    assert s["backend_pid"] == raw["backend_pid"]["data"]
    assert s["status"] == {"major": 2, "minor": 7, "message": "", "major_name": "Connection",
                           "minor_name": "Client connected", "text": "Connection, Client connected"}
    assert s["state"] == "connected"
    assert s["connected_to"] == {"protocol": "udpv4", "server_ip": "127.0.0.1", "server_port": 1194}
    assert s["session_name"] == "127.0.0.1"
    assert s["public_access"] is False and s["acl"] == [] and s["available"] is True
    stats = raw["statistics"]["data"]
    assert s["statistics"] == dict((k.lower(), v) for k, v in stats.items())
    assert s["statistics"]["bytes_in"] > 0 and s["statistics"]["packets_out"] > 0
    assert "statistics" not in c.session(path, statistics=False)


@pytest.mark.parametrize("version", VERSIONS)
def test_lookups(version):
    rep = replay.Replay(version, "connected")
    path, device = rep.notes()["path"], rep.notes()["device"]
    c = client(rep)
    assert c.lookup_config_name("lab-vpn") == [path]
    assert c.lookup_config_name("nosuch-profile") == []
    assert c.lookup_interface(device) == path
    assert c.lookup_interface("tun9") is None
    assert len(c.lookup_configuration("lab-vpn")) == 1
    assert c.lookup_configuration("lab-vpn")[0].startswith("/net/openvpn/v3/configuration/")
    assert c.lookup_configuration("nosuch-profile") == []
    assert c.select(path=path) == [path]
    assert c.select(config_name="lab-vpn") == [path]
    assert c.select(interface=device) == [path]
    assert c.select(interface="tun9") == []
    assert c.stale_sessions() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_path_is_not_found(version):
    rep = replay.Replay(version, "connected")
    c = client(rep)
    with pytest.raises(VpnControlError) as err:
        c.get_all("/net/openvpn/v3/sessions/deadbeef")
    assert err.value.kind == "not_found"
    assert "no such session" in err.value.msg
    assert err.value.msg == rep.notes()["unknown_path_error"]["msg"]
    assert c.select(path="/net/openvpn/v3/sessions/deadbeef") == []


@pytest.mark.parametrize("version", VERSIONS)
def test_paused_session(version):
    rep = replay.Replay(version, "paused")
    path = rep.notes()["path"]
    c = client(rep)
    s = c.session(path)
    assert s["state"] == "paused"
    assert s["status"]["minor"] == 14
    assert s["status"]["text"] == "Connection, Client connection paused"
    assert s["statistics"]["n_pause"] >= 1
    # Pausing a paused session is an error of the service, not of the client.
    with pytest.raises(VpnControlError) as err:
        c.pause(path)
    assert err.value.kind == "dbus"
    assert err.value.dbus_name == "net.openvpn.gdbuspp.request"
    assert err.value.dbus_message == "Connection is already paused"


@pytest.mark.parametrize("version", VERSIONS)
def test_pause_then_wait(version):
    rep = replay.Replay(version, "connected")
    path = rep.notes()["path"]
    c = client(rep)
    c.pause(path, "capture")
    assert c.wait_status(path, (o3p.PAUSED,))["minor"] == 14
    assert rep.current == "paused"


@pytest.mark.parametrize("version", VERSIONS)
def test_resume(version):
    rep = replay.Replay(version, "paused")
    path = rep.notes()["path"]
    c = client(rep)
    c.resume(path)
    assert c.wait_status(path, (o3p.CONNECTED,))["text"] == "Connection, Client connected"
    assert c.session(path)["state"] == "connected"
    with pytest.raises(VpnControlError) as err:
        c.resume(path)
    assert err.value.dbus_message == "Connection is not paused"


@pytest.mark.parametrize("version", VERSIONS)
def test_restart_detected_by_reconnect_counter(version):
    rep = replay.Replay(version, "connected", also=("restarted",))
    rep.switch("restarted")
    path = rep.notes()["path"]
    c = client(rep)
    status = c.restart_and_wait(path)
    assert status["minor"] == 7
    assert rep.methods() == ["GetAll", "Restart", "GetAll"]
    # The restart was over before the first poll: the counter told, not the grace time.
    assert c.clock() < 1000.0 + 1


@pytest.mark.parametrize("version", VERSIONS)
def test_reconnecting_session(version):
    rep = replay.Replay(version, "reconnecting")
    path = rep.notes()["path"]
    c = client(rep)
    c.wait_status(path, (12,), failed=())
    s = c.session(path)
    assert s["state"] == "reconnecting"
    assert s["status"]["text"] == "Connection, Client reconnect"
    assert s["connected_to"] == {"protocol": None, "server_ip": None, "server_port": None}
    assert s["device"]


@pytest.mark.parametrize("version", VERSIONS)
def test_wait_for_connected_is_bounded(version):
    rep = replay.Replay(version, "reconnecting")
    path = rep.notes()["path"]
    budget = replay.reconnect_budget(version)
    c = client(rep, timeout=budget)
    c.wait_status(path, (12,), failed=())  # the server is gone: the client reconnects
    with pytest.raises(VpnControlError) as err:
        c.wait_status(path, (o3p.CONNECTED,))
    assert err.value.kind == "timeout"
    assert "did not reach Client connected within %g s (last status: Connection, Client reconnect)" % budget \
        in err.value.msg


@pytest.mark.parametrize("version", VERSIONS)
def test_reconnecting_session_connects_again(version):
    rep = replay.Replay(version, "reconnecting")
    path = rep.notes()["path"]
    c = client(rep, timeout=60)
    assert c.wait_status(path, (o3p.CONNECTED,))["minor"] == 7


@pytest.mark.parametrize("version", VERSIONS)
def test_start_from_profile(version):
    rep = replay.Replay(version, "disconnected")
    c = client(rep, timeout=60)
    assert c.lookup_config_name("lab-vpn") == []
    path = c.start("lab-vpn")
    assert path == rep.notes("started")["path"]
    assert rep.actions() == ["NewTunnel", "Connect"]
    assert "Ready" in rep.methods()
    assert c.session(path)["state"] == "connected"


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnect_and_wait_gone(version):
    rep = replay.Replay(version, "connected")
    path = rep.notes()["path"]
    c = client(rep)
    c.disconnect(path)
    c.wait_gone(path)
    with pytest.raises(VpnControlError) as err:
        c.disconnect(path)
    assert err.value.kind == "not_found"


def test_same_profile_twice_differs_between_versions():
    assert "second_session" in replay.load("24.1", "same_profile_twice")["notes"]
    err = replay.load("27.1", "same_profile_twice")["notes"]["second_session_error"]
    assert err["msg"].endswith("A session with this configuration profile is already running")


@pytest.mark.parametrize("version", VERSIONS)
def test_two_sessions_for_one_name(version):
    rep = replay.Replay(version, "two_sessions")
    c = client(rep)
    paths = c.lookup_config_name("capture-dup")
    assert paths == rep.notes()["paths"] and len(paths) == 2
    with pytest.raises(VpnControlError) as err:
        c.start("capture-dup")
    assert err.value.kind == "ambiguous"
    assert len(c.sessions()) == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_non_owner(version):
    rep = replay.Replay(version, "non_owner")
    path = rep.notes()["path"]
    c = client(rep)
    assert c.fetch_sessions() == []
    assert c.lookup_config_name("lab-vpn") == []
    assert c.lookup_configuration("lab-vpn") == []
    for call in (lambda: c.get_all(path), lambda: c.get_status(path), lambda: c.resume(path),
                 lambda: c.pause(path), lambda: c.disconnect(path), lambda: c.select(path=path),
                 lambda: c.session(path)):
        with pytest.raises(VpnControlError) as err:
            call()
        assert err.value.kind == "permission_denied"
        assert "access denied" in err.value.msg


@pytest.mark.parametrize("version", VERSIONS)
def test_dying_session_is_skipped(version):
    rep = replay.Replay(version, "dying")
    victim = rep.notes()["path"]
    c = client(rep)
    assert victim in c.fetch_sessions()
    sessions = c.sessions()
    assert victim not in [s["path"] for s in sessions]
    assert [s["state"] for s in sessions] == ["connected"]


@pytest.mark.parametrize("version", VERSIONS)
def test_frozen_backend(version):
    rep = replay.Replay(version, "frozen")
    victim = rep.notes()["path"]
    c = client(rep)
    assert victim not in [s["path"] for s in c.sessions()]


@pytest.mark.parametrize("version", VERSIONS)
def test_stale_session_detected_by_pid(version):
    rep = replay.Replay(version, "connected")
    path = rep.notes()["path"]
    c = client(rep, pid_alive=lambda pid: False)
    stale = c.stale_sessions()
    assert [s["path"] for s in stale] == [path]
    assert "is gone" in stale[0]["reason"]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_bus(version):
    rep = replay.Replay(version, "no_bus")
    with pytest.raises(VpnControlError) as err:
        client(rep).fetch_sessions()
    assert err.value.kind == "unreachable"
    assert "cannot connect to the D-Bus system bus" in err.value.msg


@pytest.mark.parametrize("version", VERSIONS)
def test_manager_stopped_and_restarting(version):
    rep = replay.Replay(version, "manager_stopped")
    c = client(rep)
    with pytest.raises(VpnControlError) as err:
        c.fetch_sessions()
    assert err.value.kind == "unreachable"
    assert "session manager (net.openvpn.v3.sessions) is not running" in err.value.msg
    with pytest.raises(VpnControlError) as err:
        c.version()
    assert err.value.kind == "unreachable"
    # Re-activated: "Object does not exist at path /net/openvpn/v3/sessions" is retried.
    assert c.fetch_sessions() == []
    assert rep.methods().count("FetchAvailableSessions") == 3


def test_budget_is_passed_to_busctl():
    rep = replay.Replay("27.1", "connected")
    c = client(rep, timeout=7)
    c.fetch_sessions()
    assert rep.timeouts[-1] <= 7 + 2
    clock = c.clock
    clock.sleep(8)
    with pytest.raises(VpnControlError) as err:
        c.fetch_sessions()
    assert err.value.kind == "timeout"


def test_status_text_rendering():
    assert o3p.status_text(0, 0, "") == "(No status)"
    assert o3p.status_text(2, 13, "Reason: Front-end request") == \
        "Connection, Client pausing connection: Reason: Front-end request"
    assert o3p.session_state(o3p.normalize_status([2, 12, ""])) == "reconnecting"
    assert o3p.session_state(o3p.normalize_status([0, 0, ""])) == "unknown"
    assert o3p.normalize_status(None) is None


def test_missing_busctl(monkeypatch):
    monkeypatch.setattr(o3c, "find_busctl", lambda paths=None: None)
    with pytest.raises(VpnControlError) as err:
        o3c.OpenVPN3Client(timeout=1)
    assert err.value.kind == "missing_binary"
