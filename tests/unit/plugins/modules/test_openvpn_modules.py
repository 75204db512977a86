# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openvpn_info / openvpn_client / openvpn_server / openvpn_command as modules.

The management interface is played back from transcripts recorded on real OpenVPN 2.6.14 and 2.7.8
servers (tests/unit/fixtures/openvpn, tests/capture/capture_openvpn.py).
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_state as ost
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_state as ost
from ansible_collections.vpnfleet.control.plugins.modules import (
    openvpn_client,
    openvpn_command,
    openvpn_info,
    openvpn_server,
)
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, os.path.join(REPO, "tests", "unit", "fixtures", "openvpn"))
import replay  # noqa: E402  pylint: disable=wrong-import-position

VERSIONS = replay.VERSIONS


@pytest.fixture
def fake(monkeypatch):
    """Install a fake management socket: fake(sock) -> sock."""
    holder = {}

    def install(sock):
        holder["sock"] = sock
        monkeypatch.setattr(oc.ManagementClient, "_open", lambda self, deadline: sock)
        return sock

    monkeypatch.setattr(ost, "POLL_INTERVAL", 0.01)
    return install


def run_module(module, capsys, **args):
    check = args.pop("_check", False)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = args.pop("_diff", True)
    if "host" not in args:
        args.setdefault("socket", "/run/openvpn-server/test.sock")
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out
    return json.loads(out)


# ------------------------------------------------------------------ openvpn_info

@pytest.mark.parametrize("version", VERSIONS)
def test_info_all(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "basics")))
    res = run_module(openvpn_info, capsys)
    assert not res.get("failed"), res
    assert res["changed"] is False and res["held"] is False and res["hold_flag"] == 0
    assert res["version"]["openvpn"] == version
    assert res["management_version"] == res["version"]["management"]
    assert isinstance(res["pid"], int) and res["state"]["state"] == "CONNECTED"
    assert res["load_stats"]["nclients"] == 3 == len(res["clients"])
    names = sorted(c["common_name"] for c in res["clients"])
    assert names == ["client1", "client2", "client3"]
    assert [c["username"] for c in res["clients"] if c["common_name"] == "client3"] == ["alice"]
    assert all(isinstance(c["connected_since"], int) for c in res["clients"])
    assert len(res["routes"]) == 3 and "dco_enabled" in res["global_stats"]
    assert sock.commands[-1] == "quit"
    assert sock.commands.count("status 3") == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_info_gather_subset(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "basics")))
    res = run_module(openvpn_info, capsys, gather=["version"])
    assert "clients" not in res and "pid" not in res and res["version"]["openvpn"] == version
    assert sock.commands == ["version", "hold", "quit"]


@pytest.mark.parametrize("version", VERSIONS)
def test_info_held_daemon(version, fake, capsys):
    fake(replay.CommandSocket(replay.load(version, "hold")))
    res = run_module(openvpn_info, capsys, gather=["status", "pid", "state"])
    assert res["held"] is True and res["clients"] == [] and res["state"]["state"] == "CONNECTING"
    assert res["hold_flag"] == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_info_busy(version, fake, capsys):
    fake(replay.ReplaySocket(replay.load(version, "busy"), strict=False))
    res = run_module(openvpn_info, capsys, timeout=1)
    assert res["failed"] and res["error_kind"] == "busy"
    assert "another management client holds the interface" in res["msg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_info_wrong_password(version, fake, capsys):
    fake(replay.ReplaySocket(replay.load(version, "password_wrong")))
    res = run_module(openvpn_info, capsys, password="wrong0")
    assert res["failed"] and res["error_kind"] == "auth_failed" and "wrong password" in res["msg"]
    assert "wrong0" not in json.dumps(res)


@pytest.mark.parametrize("version", VERSIONS)
def test_info_password_file(version, fake, capsys, tmp_path):
    pw = tmp_path / "mgmt.pw"
    pw.write_text("capture-secret\nsecond line ignored\n")
    sock = fake(replay.CommandSocket(replay.load(version, "password_ok"), replay.load(version, "basics")))
    res = run_module(openvpn_info, capsys, password_file=str(pw), gather=["pid"])
    assert not res.get("failed"), res
    assert isinstance(res["pid"], int)
    assert sock.commands[0] == "capture-secret"


def test_info_missing_socket(capsys, tmp_path):
    res = run_module(openvpn_info, capsys, socket=str(tmp_path / "none.sock"))
    assert res["failed"] and res["error_kind"] == "not_found" and "none.sock" in res["msg"]


def test_info_argument_rules(capsys):
    res = run_module(openvpn_info, capsys, host="127.0.0.1")
    assert res["failed"] and "port" in res["msg"]
    res = run_module(openvpn_info, capsys, host="127.0.0.1", port=1, socket="/x")
    assert res["failed"] and "mutually exclusive" in res["msg"]
    res = run_module(openvpn_info, capsys, password="xyzzy-long", password_file="/b")
    assert res["failed"] and "mutually exclusive" in res["msg"]


# ---------------------------------------------------------------- openvpn_client

@pytest.mark.parametrize("version", VERSIONS)
def test_client_kill_halt_with_message_and_wait(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "kills")))
    res = run_module(openvpn_client, capsys, common_name=["client3"], kill_message="bye from admin")
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert [k["common_name"] for k in res["killed"]] == ["client3"]
    assert res["killed"][0]["client_id"] == 2 and res["killed"][0]["username"] == "alice"
    assert res["commands"] == ['client-kill 2 "HALT,bye from admin"']
    assert res["diff"]["before"]["clients"][0]["common_name"] == "client3"
    assert res["diff"]["after"] == {"clients": []}
    # waited: polled the status until client3 was gone
    assert sock.commands.count("status 3") >= 2 and sock.commands[-1] == "quit"


@pytest.mark.parametrize("version", VERSIONS)
def test_client_select_by_username_and_address(version, fake, capsys):
    t = replay.load(version, "kills")
    fake(replay.CommandSocket(t))
    res = run_module(openvpn_client, capsys, username=["alice"], _check=True)
    assert res["changed"] and [k["common_name"] for k in res["killed"]] == ["client3"]
    fake(replay.CommandSocket(t))
    res = run_module(openvpn_client, capsys, real_address=["127.0.0.12", "udp4:127.0.0.13"], _check=True)
    assert sorted(k["common_name"] for k in res["killed"]) == ["client2", "client3"]
    fake(replay.CommandSocket(t))
    res = run_module(openvpn_client, capsys, client_id=[0, 99], _check=True)
    assert [k["common_name"] for k in res["killed"]] == ["client1"]


@pytest.mark.parametrize("version", VERSIONS)
def test_client_check_mode_sends_no_kill(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "kills")))
    res = run_module(openvpn_client, capsys, common_name=["client1", "client2"], _check=True)
    assert res["changed"] and len(res["killed"]) == 2 and res["commands"] == []
    assert sock.commands == ["status 3", "quit"]


@pytest.mark.parametrize("version", VERSIONS)
def test_client_not_connected_is_unchanged(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "kills")))
    res = run_module(openvpn_client, capsys, common_name=["nobody"])
    assert res["changed"] is False and res["killed"] == []
    assert sock.commands == ["status 3", "quit"]


@pytest.mark.parametrize("version", VERSIONS)
def test_client_nobody_connected_is_unchanged(version, fake, capsys):
    fake(replay.CommandSocket(replay.load(version, "empty")))
    res = run_module(openvpn_client, capsys, common_name=["client1"])
    assert res["changed"] is False and res["killed"] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_client_address_kill_uses_the_version_syntax(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "kills")))
    res = run_module(openvpn_client, capsys, common_name=["client1"], method="address")
    assert not res.get("failed"), res
    cmd = res["commands"][0]
    if version == "2.7.8":
        assert cmd.startswith("kill udp:127.0.0.11:")
    else:
        assert cmd.startswith("kill 127.0.0.11:")
    assert res["changed"] and res["killed"][0]["common_name"] == "client1"
    assert cmd in sock.commands


@pytest.mark.parametrize("version", VERSIONS)
def test_client_duplicate_cn_all_killed(version, fake, capsys):
    t = replay.load(version, "dupcn")
    sock = fake(replay.CommandSocket(t))
    res = run_module(openvpn_client, capsys, common_name=["client1"])
    assert not res.get("failed"), res
    assert len(res["killed"]) == 2 and len(set(k["client_id"] for k in res["killed"])) == 2
    assert all(c.endswith(" HALT") for c in res["commands"])
    assert sock.commands[-1] == "quit"


# ---------------------------------------------------------------- openvpn_server

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("state,signal", [("reloaded", "SIGHUP"), ("restarted", "SIGUSR1")])
def test_server_reload_restart_wait(version, state, signal, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "signals")))
    res = run_module(openvpn_server, capsys, state=state)
    assert not res.get("failed"), res
    assert res["changed"] and res["signal"] == signal
    assert res["state"]["state"] == "CONNECTED" and res["held"] is False and res["hold_flag"] == 0
    assert sock.commands == ["pid", "hold", "state on", "signal %s" % signal, "state off", "state", "hold", "quit"]


@pytest.mark.parametrize("version", VERSIONS)
def test_server_stop(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "signals")))
    res = run_module(openvpn_server, capsys, state="stopped")
    assert not res.get("failed"), res
    assert res["changed"] and res["signal"] == "SIGTERM" and res["state"] == {}
    assert sock.commands == ["pid", "hold", "signal SIGTERM"]


def test_server_stop_when_not_running(capsys, tmp_path):
    res = run_module(openvpn_server, capsys, state="stopped", socket=str(tmp_path / "gone.sock"))
    assert not res.get("failed") and res["changed"] is False and "Not running" in res["msg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_server_check_mode(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "signals")))
    res = run_module(openvpn_server, capsys, state="reloaded", _check=True)
    assert res["changed"] and res["signal"] == "SIGHUP"
    assert not any(c.startswith("signal") for c in sock.commands)


@pytest.mark.parametrize("version", VERSIONS)
def test_server_hold_release(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "hold")))
    res = run_module(openvpn_server, capsys, hold="released")
    assert not res.get("failed"), res
    assert res["changed"] and res["hold_commands"] == ["hold release"]
    assert res["state"]["state"] == "CONNECTED" and res["held"] is False and res["hold_flag"] == 1
    assert sock.commands == ["pid", "hold", "state on", "hold release", "state off", "state", "hold", "quit"]


@pytest.mark.parametrize("version", VERSIONS)
def test_server_hold_release_not_held_is_unchanged(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "signals")))
    res = run_module(openvpn_server, capsys, hold="released")
    assert res["changed"] is False and res["hold_commands"] == []
    assert "hold release" not in sock.commands


@pytest.mark.parametrize("version", VERSIONS)
def test_server_signal_refused_while_held(version, fake, capsys):
    fake(replay.CommandSocket(replay.load(version, "hold")))
    res = run_module(openvpn_server, capsys, state="reloaded")
    assert res["failed"] and res["error_kind"] == "held" and "hold=released" in res["msg"]


# --------------------------------------------------------------- openvpn_command

@pytest.mark.parametrize("version", VERSIONS)
def test_command_read_only(version, fake, capsys):
    fake(replay.CommandSocket(replay.load(version, "basics")))
    res = run_module(openvpn_command, capsys, command="status 1")
    assert res["changed"] is False and res["read_only"] and res["reply"] == "lines"
    assert res["lines"][0] == "OpenVPN CLIENT LIST" and res["lines"][-1] != "END"


@pytest.mark.parametrize("version", VERSIONS)
def test_command_error(version, fake, capsys):
    fake(replay.CommandSocket(replay.load(version, "basics")))
    res = run_module(openvpn_command, capsys, command="kill nosuchcn")
    assert res["failed"] and res["error_kind"] == "command_error" and res["lines"] == ["ERROR: common name 'nosuchcn' not found"]
    fake(replay.CommandSocket(replay.load(version, "basics")))
    res = run_module(openvpn_command, capsys, command="kill nosuchcn", fail_on_error=False)
    assert not res.get("failed") and res["changed"] is False and res["reply"] == "error"


@pytest.mark.parametrize("version", VERSIONS)
def test_command_changing_with_notifications(version, fake, capsys):
    fake(replay.CommandSocket(replay.load(version, "kills")))
    res = run_module(openvpn_command, capsys, command="client-kill 1 RESTART")
    assert res["changed"] is True and res["lines"] == ["SUCCESS: client-kill command succeeded"]
    assert any(n["source"] == "LOG" for n in res["notifications"])


@pytest.mark.parametrize("version", VERSIONS)
def test_command_check_mode_skips_changes(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "kills")))
    res = run_module(openvpn_command, capsys, command="kill client2", _check=True)
    assert res["changed"] is True and res["lines"] == []
    assert "kill client2" not in sock.commands


def test_command_refuses_quit(capsys):
    res = run_module(openvpn_command, capsys, command="quit")
    assert res["failed"] and "not allowed" in res["msg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_server_hold_off_releases_and_clears_the_flag(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "hold")))
    res = run_module(openvpn_server, capsys, hold="off")
    assert not res.get("failed"), res
    assert res["changed"] and res["hold_commands"] == ["hold off", "hold release"]
    assert res["held"] is False and res["hold_flag"] == 0 and res["state"]["state"] == "CONNECTED"
    assert sock.commands == ["pid", "hold", "state on", "hold off", "hold release", "state off", "state", "hold",
                             "quit"]


# ------------------------------------------------------------- hostile input

@pytest.fixture
def no_connect(monkeypatch):
    """Record every connection attempt (there must be none)."""
    opened = []

    def refuse(self, deadline):
        opened.append(self.target)
        raise AssertionError("the module connected")

    monkeypatch.setattr(oc.ManagementClient, "_open", refuse)
    return opened


@pytest.mark.parametrize("module, args", [
    (openvpn_info, {"host": "127.0.0.1", "port": 7505, "password": "pw\nsignal SIGTERM"}),
    (openvpn_info, {"password": "pw\r"}),
    (openvpn_info, {"password": "pw\x00x"}),
    (openvpn_info, {"timeout": float("nan")}),
    (openvpn_info, {"timeout": float("inf")}),
    (openvpn_info, {"timeout": -1}),
    (openvpn_client, {"client_id": [4], "kill_message": "bye\nsignal SIGTERM"}),
    (openvpn_client, {"client_id": [4], "kill_message": "x" * 300}),
    (openvpn_client, {"common_name": ["alice\nsignal SIGTERM"]}),
    (openvpn_client, {"real_address": ["10.0.0.1:5\r\n"]}),
    (openvpn_client, {"username": ["dave\x00"]}),
    (openvpn_client, {"client_id": [-1]}),
    (openvpn_server, {"state": "reloaded", "password": "a\nsignal SIGTERM"}),
    (openvpn_command, {"command": "status\nsignal SIGTERM"}),
    (openvpn_command, {"command": "status\rsignal SIGTERM"}),
    (openvpn_command, {"command": "kill al\x00ice"}),
    (openvpn_command, {"command": "kill\talice"}),
    (openvpn_command, {"command": "kill 'alice"}),
    (openvpn_command, {"command": 'kill "alice'}),
    (openvpn_command, {"command": "kill al\\ice"}),
    (openvpn_command, {"command": "kill alice\\"}),
    (openvpn_command, {"command": "# kill alice"}),
    (openvpn_command, {"command": "   "}),
    (openvpn_command, {"command": "kill " + "a" * 257}),
    (openvpn_command, {"command": "client-auth 1 2"}),
    (openvpn_command, {"command": "'quit'"}),
    (openvpn_command, {"command": "pk-sig"}),
])
def test_hostile_input_fails_invalid_before_connecting(module, args, no_connect, capsys):
    res = run_module(module, capsys, **args)
    assert res.get("failed") and res["error_kind"] == "invalid", res
    assert no_connect == []
    assert "SIGTERM" not in res["msg"] or module is openvpn_command


@pytest.mark.parametrize("version", VERSIONS)
def test_command_check_mode_reads_openvpn_quoting(version, fake, capsys):
    """``state 'on'`` is ``state on`` for OpenVPN: a change, not sent in check mode."""
    for command in ("state 'on'", 'state "on"', "state all on", "'kill' client2", "version 4", "env-filter"):
        sock = fake(replay.CommandSocket(replay.load(version, "kills")))
        res = run_module(openvpn_command, capsys, command=command, _check=True)
        assert res["changed"] is True and res["read_only"] is False, command
        assert sock.commands == ["quit"], command


@pytest.mark.parametrize("version", VERSIONS)
def test_command_quoted_read_only_runs_in_check_mode(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "basics")))
    res = run_module(openvpn_command, capsys, command="status 1\n", _check=True)   # YAML block scalar
    assert res["changed"] is False and res["read_only"] and res["lines"][0] == "OpenVPN CLIENT LIST"
    assert sock.commands[0] == "status 1"


@pytest.mark.parametrize("version", VERSIONS)
def test_client_kill_message_sent_as_one_parameter(version, fake, capsys):
    sock = fake(replay.CommandSocket(replay.load(version, "kills")))
    res = run_module(openvpn_client, capsys, client_id=[2], kill_message="bye from admin", wait=False)
    assert not res.get("failed"), res
    kills = [c for c in sock.commands if c.startswith("client-kill")]
    assert kills and all(oc.split_command(c)[2] == "HALT,bye from admin" for c in kills)
