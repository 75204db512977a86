# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_server on captured occtl and `ocserv --test-config` output."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_module_helpers import VERSIONS, A, FakeOcctl, Q, actions, load, run  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.modules import ocserv_server  # noqa: E402

CONF = "/etc/ocserv/ocserv.conf"


def fake_for(version, config="good"):
    fake = FakeOcctl(version, {
        (Q, ("show", "status")): [load(version, "connected", "status_json"), load(version, "stop", "status_after_stop")],
        (A, ("reload",)): load(version, "actions", "reload"),
        (A, ("stop", "now")): load(version, "stop", "stop_now"),
        (A, ("--test-config", "-c", CONF)): load(version, "noserver", "test_config_" + config),
    })
    return fake


@pytest.mark.parametrize("version", VERSIONS)
def test_reload_with_valid_config(version, capsys, monkeypatch):
    fake = fake_for(version, "bad")   # unknown directives only warn: ocserv accepts them
    res = run(ocserv_server, capsys, monkeypatch, fake, state="reloaded", config=CONF)
    assert not res.get("failed"), res
    assert res["changed"] and any("skipping unknown option" in m for m in res["config_messages"])
    assert actions(fake) == [("--test-config", "-c", CONF), ("reload",)]
    assert fake.calls[0][0] == "ocserv"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("check", [True, False])
def test_invalid_config_touches_nothing(version, check, capsys, monkeypatch):
    fake = fake_for(version, "broken")
    res = run(ocserv_server, capsys, monkeypatch, fake, state="reloaded", config=CONF, _check=check)
    assert res["failed"] and res["error_kind"] == "invalid" and "nosuchmethod" in res["msg"]
    assert fake.commands() == [("--test-config", "-c", CONF)]


@pytest.mark.parametrize("version", VERSIONS)
def test_reload_check_mode(version, capsys, monkeypatch):
    fake = fake_for(version)
    res = run(ocserv_server, capsys, monkeypatch, fake, state="reloaded", _check=True)
    assert res["changed"] and actions(fake) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_stop_then_stopped(version, capsys, monkeypatch):
    fake = fake_for(version)
    res = run(ocserv_server, capsys, monkeypatch, fake, state="stopped")
    assert not res.get("failed"), res
    assert res["changed"] and actions(fake) == [("stop", "now")] and isinstance(res["server_pid"], int)
    for scenario, name in (("stop", "status_after_stop"), ("stale", "status_stale_socket_json")):
        fake = FakeOcctl(version, {(Q, ("show", "status")): load(version, scenario, name)})
        res = run(ocserv_server, capsys, monkeypatch, fake, state="stopped")
        assert not res["changed"] and not res.get("failed") and actions(fake) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_reload_unreachable(version, capsys, monkeypatch):
    fake = FakeOcctl(version, {(Q, ("show", "status")): load(version, "stop", "status_after_stop")})
    res = run(ocserv_server, capsys, monkeypatch, fake, state="reloaded")
    assert res["failed"] and res["error_kind"] == "unreachable" and actions(fake) == []


def test_missing_ocserv(capsys, monkeypatch, tmp_path):
    from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import run_command as real_run
    fake = fake_for("1.5.0")

    def runner(argv, timeout):
        if argv[0] != "occtl":
            return real_run(argv, timeout)
        return fake(argv, timeout)

    res = run(ocserv_server, capsys, monkeypatch, runner, state="reloaded", config=CONF,
              ocserv_path=str(tmp_path / "ocserv"))
    assert res["failed"] and res["error_kind"] == "missing_binary" and actions(fake) == []
