# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_common: check_timeout and the one process runner (timeouts end the whole process group)."""

from __future__ import absolute_import, division, print_function

import math
import os
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _common
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _common
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client, _openvpn3_client

VpnControlError = _common.VpnControlError


# ---------------------------------------------------------------------------- check_timeout

@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 0, 0.0, -0.0, -1, -1e-9,
                                   86400.001, 1e300, "nan", "inf", "-5", "", "ten", None, [], {}])
def test_check_timeout_refuses(value):
    with pytest.raises(VpnControlError) as err:
        _common.check_timeout(value)
    assert err.value.kind == "invalid"
    assert "timeout" in err.value.msg


@pytest.mark.parametrize("value,expected", [(0.001, 0.001), (1, 1.0), ("2.5", 2.5), (86400, 86400.0)])
def test_check_timeout_accepts(value, expected):
    assert _common.check_timeout(value) == expected


def test_check_timeout_names_the_option():
    with pytest.raises(VpnControlError) as err:
        _common.check_timeout(float("nan"), name="duration")
    assert err.value.msg.startswith("duration must")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_timeout_property(value):
    try:
        seconds = _common.check_timeout(value)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        assert not (0 < value <= _common.MAX_TIMEOUT)
    else:
        assert math.isfinite(seconds) and 0 < seconds <= _common.MAX_TIMEOUT and seconds == value


# ---------------------------------------------------------------------------- run

def _gone(pid, within=5.0):
    """The process ``pid`` no longer runs (gone, or a zombie awaiting its reaper)."""
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except (IOError, OSError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _read_pid(path, within=5.0):
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            with open(path) as handle:
                text = handle.read().strip()
            if text:
                return int(text)
        except (IOError, OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError("no pid in %s" % path)


def test_run_output_and_stdin():
    rc, out, err = _common.run(["sh", "-c", "cat; echo err >&2; exit 3"], 5, stdin=b"a\nb\n")
    assert (rc, out, err) == (3, b"a\nb\n", b"err\n")


def test_run_stdin_is_devnull_by_default():
    rc, out, _err = _common.run(["cat"], 5)
    assert (rc, out) == (0, b"")


def test_run_lc_all_c():
    _rc, out, _err = _common.run(["sh", "-c", "echo $LC_ALL"], 5)
    assert out == b"C\n"


@pytest.mark.parametrize("script", [
    "sleep 100 & echo $! > {pidfile}; wait",             # the shell waits for its background job
    "sleep 100 & echo $! > {pidfile}",                   # the shell is gone, the job holds stdout
    "trap '' TERM; sleep 100 & echo $! > {pidfile}; wait",  # the job ignores SIGTERM: SIGKILL after the grace
])
def test_run_timeout_kills_the_grandchild(tmp_path, script):
    pidfile = str(tmp_path / "pid")
    start = time.time()
    with pytest.raises(VpnControlError) as err:
        _common.run(["sh", "-c", script.format(pidfile=pidfile)], 0.5)
    elapsed = time.time() - start
    assert err.value.kind == "timeout"
    assert err.value.details["command"][0] == "sh"
    assert "did not end within 0.5 seconds" in err.value.msg
    assert _gone(_read_pid(pidfile)), "the grandchild survived the timeout"
    assert elapsed < 0.5 + _common.KILL_GRACE + 3


def test_run_timeout_message():
    with pytest.raises(VpnControlError) as err:
        _common.run(["sleep", "10"], 0.2, timeout_msg="%(command)s: no answer in %(timeout)s s (100%% sure)")
    assert err.value.msg == "sleep 10: no answer in 0.2 s (100% sure)"


def test_run_a_child_that_ends_in_time_is_not_signalled(tmp_path):
    rc, out, _err = _common.run(["sh", "-c", "echo ok"], 5)
    assert (rc, out) == (0, b"ok\n")


def test_run_takes_a_margin_over_the_module_maximum():
    rc, _out, _err = _common.run(["true"], _common.MAX_TIMEOUT + 2)
    assert rc == 0


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -1, "x"])
def test_run_refuses_bad_timeouts_before_starting(tmp_path, timeout):
    marker = tmp_path / "ran"
    with pytest.raises(VpnControlError) as err:
        _common.run(["touch", str(marker)], timeout)
    assert err.value.kind == "invalid"
    assert not marker.exists()


def test_run_missing_binary(tmp_path):
    with pytest.raises(VpnControlError) as err:
        _common.run([str(tmp_path / "nope")], 1, what="install it")
    assert err.value.kind == "missing_binary"
    assert err.value.msg.endswith("(install it)")


def test_run_not_executable(tmp_path):
    path = tmp_path / "script"
    path.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(VpnControlError) as err:
        _common.run([str(path)], 1)
    assert err.value.kind == "missing_binary"


def test_run_nul_byte_is_invalid():
    with pytest.raises(VpnControlError) as err:
        _common.run(["echo", "a\0b"], 1)
    assert err.value.kind == "invalid"


def test_spawn_starts_a_new_session():
    proc = _common.spawn(["sleep", "5"])
    try:
        assert os.getpgid(proc.pid) == proc.pid
        assert os.getsid(proc.pid) == proc.pid
    finally:
        _common.kill_group(proc)
    assert proc.returncode is not None


def test_kill_group_after_the_leader_ended(tmp_path):
    proc = _common.spawn(["sh", "-c", "true"])
    proc.wait()
    assert _common.kill_group(proc) == 0


# ---------------------------------------------------------------------------- the callers

def test_occtl_runner_timeout_kills_the_group(tmp_path):
    pidfile = str(tmp_path / "pid")
    with pytest.raises(VpnControlError) as err:
        _ocserv_client.run_command(["sh", "-c", "sleep 100 & echo $! > %s; wait" % pidfile], 0.3)
    assert err.value.kind == "timeout"
    assert err.value.msg.startswith("occtl did not answer within 0.3 seconds (sh -c ")
    assert _gone(_read_pid(pidfile))


def test_busctl_runner_timeout_kills_the_group(tmp_path):
    pidfile = str(tmp_path / "pid")
    with pytest.raises(VpnControlError) as err:
        _openvpn3_client.subprocess_runner(["sh", "-c", "sleep 100 & echo $! > %s; wait" % pidfile], 0.3)
    assert err.value.kind == "timeout"
    assert err.value.msg.startswith("D-Bus call ") and err.value.msg.endswith("timed out after 0.3 s")
    assert _gone(_read_pid(pidfile))


def test_busctl_runner_percent_in_argv():
    with pytest.raises(VpnControlError) as err:
        _openvpn3_client.subprocess_runner(["sh", "-c", "sleep 10", "100%"], 0.2)
    assert err.value.kind == "timeout" and "100%" in err.value.msg


def test_busctl_runner_text():
    rc, out, err = _openvpn3_client.subprocess_runner(["sh", "-c", "printf 'caf\\303\\251'; printf '\\377' >&2"], 5)
    assert (rc, out, err) == (0, u"caf\u00e9", u"\ufffd")


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -3])
def test_clients_refuse_bad_timeouts(timeout):
    with pytest.raises(VpnControlError) as err:
        _ocserv_client.OcctlClient(timeout=timeout)
    assert err.value.kind == "invalid"
    with pytest.raises(VpnControlError) as err:
        _openvpn3_client.OpenVPN3Client(timeout=timeout, busctl="/bin/false", runner=lambda argv, t: (0, "", ""))
    assert err.value.kind == "invalid"


def test_poll_returns_the_first_true_value_and_backs_off(monkeypatch):
    pauses, values = [], iter([None, 0, "", "done", "late"])
    monkeypatch.setattr(_common.time, "sleep", pauses.append)
    assert _common.poll(lambda: next(values), timeout=60, interval=0.1, first=0.02) == "done"
    assert pauses == [0.02, 0.04, 0.08]


def test_poll_never_waits_past_its_timeout():
    calls = []
    started = time.time()
    assert _common.poll(lambda: calls.append(1), timeout=0.3, interval=0.1) is None
    assert time.time() - started < 0.3 + 0.05 and len(calls) >= 3


@settings(max_examples=50, deadline=None)
@given(st.lists(st.booleans(), max_size=8))
def test_poll_property(answers):
    pauses = []
    values = iter(answers + [True])
    orig = _common.time.sleep
    _common.time.sleep = pauses.append
    try:
        got = _common.poll(lambda: next(values), timeout=3600, interval=0.1, first=0.02)
    finally:
        _common.time.sleep = orig
    assert got is True
    assert len(pauses) == (answers + [True]).index(True)
    assert all(0 < p <= 0.1 for p in pauses) and pauses == sorted(pauses)
