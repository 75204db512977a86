# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``show events`` parser and the bounded listener, on real captures of ocserv 1.1.6/1.3.0/1.5.0.

Fixtures: tests/unit/fixtures/ocserv_events/<version>/ (tests/capture/capture_ocserv_events.py).
The listener tests run a replayer of those captures in place of occtl.
"""

from __future__ import absolute_import, division, print_function

import glob
import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_events as ev
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_events as ev
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError

FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocserv_events")
REPLAY = os.path.join(HERE, "ocserv_events_replay.py")
VERSIONS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, "[0-9]*")) if os.path.isdir(p))


def fixture(version, scenario):
    with open(os.path.join(FIXTURES, version, scenario + ".json")) as handle:
        return json.load(handle)


def after_marker(stdout):
    return stdout.split(ev.READY_MARKER, 1)[1].splitlines()


def test_every_version_captured_parses_into_events():
    """Every release's plain capture parses into the connect/disconnect sequence that was played."""
    parsed = {}
    for version in VERSIONS:
        fix = fixture(version, "plain")
        events = [e for e in (ev.parse_event(line, when=1.0) for line in after_marker(fix["stdout"])) if e]
        parsed[fix["version"]] = [(e["event"], e["username"]) for e in events]
    assert sorted(parsed) == ["1.1.6", "1.3.0", "1.5.0"]
    for version, events in parsed.items():
        assert events[:2] == [("connect", "bob"), ("disconnect", "bob")], version


@pytest.mark.parametrize("version", VERSIONS)
def test_plain_events_match_what_happened(version):
    fix = fixture(version, "plain")
    events = [e for e in (ev.parse_event(line, when=1.0) for line in after_marker(fix["stdout"])) if e]
    expected = fix["context"]["expected"]
    assert len(events) == len(expected)
    for got, want in zip(events, expected):
        for key, value in want.items():
            assert got[key] == value, (key, got, want)
        assert got["vhost"] == "default" and got["vpn_ipv4"].startswith("192.168.232.") and got["vpn_ipv6"] is None
        assert got["time"] == 1.0
        if got["event"] == "disconnect":
            assert isinstance(got["duration"], int) and got["duration_text"].endswith("s")
        else:
            assert "reason" not in got
    # the table printed before the marker is not an event
    assert not [line for line in fix["stdout"].split(ev.READY_MARKER)[0].splitlines() if ev.parse_event(line)]


@pytest.mark.parametrize("version", VERSIONS)
def test_users_at_start(version):
    fix = fixture(version, "plain")
    head = fix["stdout"].split(ev.READY_MARKER)[0].splitlines()
    rows = [r for r in (ev.parse_user_row(line) for line in head) if r]
    want = fix["context"]["users_at_start"]
    assert [(r["username"], r["id"]) for r in rows] == [(w["username"], w["id"]) for w in want]
    assert rows[0]["status"] == "connected" and rows[0]["device"].startswith("ocvf")
    assert isinstance(rows[0]["connected_for"], int)
    assert not [line for line in fixture(version, "empty_start")["stdout"].splitlines() if ev.parse_user_row(line)]


@pytest.mark.parametrize("version", VERSIONS)
def test_json_stream_has_no_event_type(version):
    """Why the plain format is used: -j records do not say connect or disconnect."""
    fix = fixture(version, "json")
    tail = fix["stdout"].split(ev.READY_MARKER, 1)[1]
    assert not [line for line in tail.splitlines() if ev.parse_event(line)]
    assert "connected user" not in tail and "disconnect user" not in tail
    assert tail.count('"Username"') == len(fix["context"]["expected"])


@pytest.mark.parametrize("version", VERSIONS)
def test_second_listener_gets_nothing(version):
    first = fixture(version, "second_listener_first")
    second = fixture(version, "second_listener_second")
    assert [e["username"] for e in (ev.parse_event(x) for x in after_marker(first["stdout"])) if e] == ["bob"]
    assert not [x for x in after_marker(second["stdout"]) if ev.parse_event(x)]


def test_parse_variants():
    line = ("default: disconnect user 'o'neil' (7) from 2001:db8::2 with IP fd00:232::5 "
            "(reason: server disconnected, time:  1h:02m)")
    event = ev.parse_event(line)
    assert event["username"] == "o'neil" and event["vpn_ipv6"] == "fd00:232::5" and event["vpn_ipv4"] is None
    assert event["duration"] == 3720 and event["reason"] == "server disconnected"
    assert ev.parse_event("default: disconnect user 'x' (1) from 1.2.3.4 with IP 5.6.7.8 "
                          "(reason: unknown, time:    ?   )")["duration"] is None
    assert ev.parse_event("Press 'q' or CTRL+C to quit") is None
    assert ev.parse_event("") is None


def test_user_row_without_vpn_address():
    # common_user_list's printf ("%8d %8s %8s %14s %14s %6s " ival7 " %14s %9s") with empty vpn-ip/device
    row = ev.parse_user_row("   31066     dave  default     10.232.4.2                       0s      (no-dtls)  pre-auth")
    assert row["id"] == 31066 and row["username"] == "dave" and row["status"] == "pre-auth"
    assert row["remote_ip"] == "10.232.4.2" and row["vpn_ipv4"] is None
    assert ev.parse_user_row("      id     user    vhost             ip         vpn-ip device   since") is None


def test_matches():
    event = {"event": "connect", "username": "bob", "id": 5, "remote_ip": "10.0.0.2", "vhost": "default"}
    assert ev.matches(event, {"event": "connect"})
    assert ev.matches(event, {"event": "connect", "username": "bob", "id": 5})
    assert not ev.matches(event, {"event": "disconnect", "username": "bob"})
    assert not ev.matches(event, {"username": "alice"})
    assert not ev.matches(event, None)


def test_other_listeners_from_proc(tmp_path):
    def proc(pid, argv):
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    proc(10, ["occtl", "-s", "/run/a.socket", "show", "events"])
    proc(11, ["stdbuf", "-oL", "/usr/bin/occtl", "show", "events"])
    proc(12, ["occtl", "-s", "/run/a.socket", "show", "users"])
    proc(13, ["vim", "events"])
    proc(14, ["occtl", "-s", "/run/b.socket", "show", "events"])
    (tmp_path / "self").mkdir()
    found = ev.other_listeners(proc=str(tmp_path))
    assert [f["pid"] for f in found] == [10, 11, 14]
    assert [f["pid"] for f in ev.other_listeners(proc=str(tmp_path), socket="/run/a.socket")] == [10]
    assert [f["pid"] for f in ev.other_listeners(proc=str(tmp_path), socket="/var/run/occtl.socket")] == [11]
    assert [f["pid"] for f in ev.other_listeners(own_pids=(10,), proc=str(tmp_path))] == [11, 14]


# ---- the listener, with captured outputs replayed in place of occtl


@pytest.fixture
def replay(tmp_path, monkeypatch):
    def setup(version, scenario, delay=0.05, ignore_q=False):
        monkeypatch.setenv("REPLAY_FIXTURE", os.path.join(FIXTURES, version, scenario + ".json"))
        monkeypatch.setenv("REPLAY_DELAY", str(delay))
        monkeypatch.setenv("REPLAY_PIDFILE", str(tmp_path / "pid"))
        monkeypatch.setenv("REPLAY_IGNORE_Q", "1" if ignore_q else "0")
        monkeypatch.setattr(ev, "other_listeners", lambda **kw: [])
        return ev.EventListener("/run/test/occtl.socket", wrapper, timeout=5)

    # occtl_path is run directly: a small executable that runs the replayer
    wrapper = str(tmp_path / "occtl")
    with open(wrapper, "w") as handle:
        handle.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, REPLAY))
    os.chmod(wrapper, 0o755)

    def gone():
        pid = int((tmp_path / "pid").read_text())
        try:
            with open("/proc/%d/stat" % pid) as handle:
                return handle.read().split()[2] == "Z"
        except IOError:
            return True
    setup.gone = gone
    return setup


@pytest.mark.parametrize("version", VERSIONS)
def test_listen_until(replay, version):
    listener = replay(version, "plain")
    started = time.time()
    result = listener.listen(duration=10, until={"event": "disconnect", "username": "carol"})
    assert time.time() - started < 5
    assert result["stopped_by"] == "until"
    assert result["matched"]["username"] == "carol" and result["matched"]["event"] == "disconnect"
    assert [e["username"] for e in result["events"]] == ["bob", "bob", "carol", "carol"]
    assert result["users_at_start"][0]["username"] == "alice"
    assert result["listening_since"] <= result["events"][0]["time"] <= result["listening_until"]
    assert replay.gone()


def test_listen_max_events_and_duration(replay):
    result = replay("1.3.0", "plain").listen(duration=10, max_events=3)
    assert result["stopped_by"] == "max_events" and len(result["events"]) == 3
    assert replay.gone()
    started = time.time()
    result = replay("1.1.6", "plain", delay=0.4).listen(duration=1.0)
    took = time.time() - started
    assert result["stopped_by"] == "duration" and 1.0 <= took < 3.5
    assert 1 <= len(result["events"]) <= 3
    assert replay.gone()


def test_listen_kills_an_occtl_that_ignores_q(replay):
    started = time.time()
    result = replay("1.1.6", "empty_start", ignore_q=True).listen(duration=0.3)
    assert result["events"] == [] and result["stopped_by"] == "duration"
    assert time.time() - started < 5
    assert replay.gone()


@pytest.mark.parametrize("version", VERSIONS)
def test_server_stopped_while_listening(replay, version):
    with pytest.raises(VpnControlError) as err:
        replay(version, "server_stopped").listen(duration=10)
    assert err.value.kind == "unreachable"
    assert "closed the event stream" in err.value.msg and "read1" in err.value.msg
    assert [e["username"] for e in err.value.details["events"]] == ["alice"]
    assert replay.gone()


@pytest.mark.parametrize("version", VERSIONS)
def test_no_server(replay, version):
    with pytest.raises(VpnControlError) as err:
        replay(version, "noserver").listen(duration=10)
    assert err.value.kind == "unreachable" and "does not exist" in err.value.msg
    assert replay.gone()


def test_missing_occtl():
    listener = ev.EventListener("/run/x.socket", "/nonexistent/occtl", timeout=1)
    with pytest.raises(VpnControlError) as err:
        listener.listen(duration=1, on_other_listener="ignore")
    assert err.value.kind == "missing_binary"


def test_startup_timeout(tmp_path, monkeypatch):
    script = tmp_path / "silent"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    monkeypatch.setattr(ev, "other_listeners", lambda **kw: [])
    started = time.time()
    with pytest.raises(VpnControlError) as err:
        ev.EventListener("/run/x.socket", str(script), timeout=0.5).listen(duration=10)
    assert err.value.kind == "timeout" and time.time() - started < 5


def test_other_listener_policy(replay, monkeypatch):
    listener = replay("1.1.6", "plain")
    others = [{"pid": 4242, "cmdline": "occtl show events"}]
    monkeypatch.setattr(ev, "other_listeners", lambda **kw: others)
    with pytest.raises(VpnControlError) as err:
        listener.listen(duration=1, on_other_listener="fail")
    assert err.value.kind == "busy" and err.value.details["other_listeners"] == others
    result = listener.listen(duration=0.2)
    assert result["other_listeners"] == others and "first listener" in result["warnings"][0]
    assert replay.gone()
    result = listener.listen(duration=0.2, on_other_listener="ignore")
    assert result["other_listeners"] == others and not result["warnings"]
