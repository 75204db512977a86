# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_user on captured occtl output: terminate (1.5.0) / disconnect + verification (older)."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_module_helpers import VERSIONS, A, FakeOcctl, Q, actions, load, run  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.modules import ocserv_user  # noqa: E402


def ids_of(version, user):
    ctx = load(version, "connected", "users_json")["context"]
    return sorted(int(i) for i, name in ctx["connections"].items() if name == user)


def server(version, after=True):
    """State `connected`; the action and the state after it as captured (alice terminated on
    1.5.0, carol disconnected on every version)."""
    responses = {
        (Q, ("show", "users")): [load(version, "connected", "users_json")],
        (Q, ("show", "sessions", "valid")): [load(version, "connected", "sessions_valid_json")],
        (A, ("disconnect", "user", "carol")): load(version, "actions", "disconnect_user_carol"),
        (A, ("terminate", "user", "alice")): load(version, "actions", "terminate_user_alice"),
        (A, ("disconnect", "user", "dave")): load(version, "actions", "disconnect_user_dave_idle"),
    }
    if after:
        responses[(Q, ("show", "users"))].append(load(version, "actions", "users_after_terminate_user_json"))
        responses[(Q, ("show", "sessions", "valid"))].append(
            load(version, "actions", "sessions_valid_after_terminate_user_json"))
    return FakeOcctl(version, responses)


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnected(version, capsys, monkeypatch):
    fake = server(version)
    res = run(ocserv_user, capsys, monkeypatch, fake, name="carol", state="disconnected")
    assert res["changed"] and res["disconnected"] == ids_of(version, "carol") and res["terminated"] == []
    assert actions(fake) == [("disconnect", "user", "carol")]
    assert res["diff"]["before"]["carol"]["connections"] == ids_of(version, "carol")
    assert res["diff"]["after"]["carol"]["connections"] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_check_mode_changes_nothing(version, capsys, monkeypatch):
    fake = server(version)
    res = run(ocserv_user, capsys, monkeypatch, fake, name=["carol", "nosuch"], _check=True)
    assert res["changed"] and res["disconnected"] == ids_of(version, "carol") and res["terminated"] == ["carol"]
    assert actions(fake) == []
    # one query of each kind for all names
    assert fake.commands().count(("show", "users")) == 1
    assert fake.commands().count(("show", "sessions", "valid")) == 1


@pytest.mark.parametrize("version", ["1.1.6", "1.3.0"])
def test_terminated_without_terminate_command(version, capsys, monkeypatch):
    """disconnect, then the session must be gone from `show sessions valid`."""
    fake = server(version)
    res = run(ocserv_user, capsys, monkeypatch, fake, name=["carol", "nosuch"])
    assert not res.get("failed"), res
    assert res["changed"] and res["terminated"] == ["carol"] and res["disconnected"] == ids_of(version, "carol")
    assert actions(fake) == [("disconnect", "user", "carol")]
    assert res["diff"]["after"]["carol"] == {"connections": [], "sessions": []}


def test_terminated_with_terminate_command(capsys, monkeypatch):
    fake = server("1.5.0")
    res = run(ocserv_user, capsys, monkeypatch, fake, name="alice")
    assert not res.get("failed"), res
    assert res["changed"] and res["terminated"] == ["alice"] and res["disconnected"] == ids_of("1.5.0", "alice")
    assert actions(fake) == [("terminate", "user", "alice")]


@pytest.mark.parametrize("version", VERSIONS)
def test_second_run_unchanged(version, capsys, monkeypatch):
    fake = FakeOcctl(version, {
        (Q, ("show", "users")): load(version, "actions", "users_after_terminate_user_json"),
        (Q, ("show", "sessions", "valid")): load(version, "actions", "sessions_valid_after_terminate_user_json"),
    })
    name = "alice" if version == "1.5.0" else "carol"
    res = run(ocserv_user, capsys, monkeypatch, fake, name=[name, "nosuch"])
    assert not res["changed"] and res["disconnected"] == [] and res["terminated"] == []
    assert actions(fake) == []


@pytest.mark.parametrize("version", ["1.1.6", "1.3.0"])
@pytest.mark.parametrize("check", [True, False])
def test_idle_session_refused_before_1_5(version, check, capsys, monkeypatch):
    """dave has only an idle session (openconnect --authenticate): it cannot be invalidated."""
    fake = server(version, after=False)
    res = run(ocserv_user, capsys, monkeypatch, fake, name="dave", _check=check)
    assert res["failed"] and res["error_kind"] == "unsupported"
    assert "dave" in res["msg"] and "1.5.0" in res["msg"] and "cookie-timeout" in res["msg"]
    assert "state=disconnected" in res["msg"]
    assert actions(fake) == []
    assert res["terminated"] == ["dave"] or res["terminated"] == []


@pytest.mark.parametrize("version", ["1.1.6", "1.3.0"])
def test_idle_plus_connected_closes_connections_then_fails(version, capsys, monkeypatch):
    fake = server(version)
    res = run(ocserv_user, capsys, monkeypatch, fake, name=["carol", "dave"])
    assert res["failed"] and res["error_kind"] == "unsupported" and res["changed"]
    assert actions(fake) == [("disconnect", "user", "carol")]
    assert res["terminated"] == ["carol"] and res["disconnected"] == ids_of(version, "carol")
    assert "dave" in res["msg"]


def test_persistent_cookies_detected(capsys, monkeypatch):
    """1.1.6: after disconnect the session stays valid (persistent-cookies): fail and say so."""
    version = "1.1.6"
    fake = server(version)
    fake.set((Q, ("show", "sessions", "valid")), load(version, "connected", "sessions_valid_json"))
    res = run(ocserv_user, capsys, monkeypatch, fake, name="carol", timeout=0.3)
    assert res["failed"] and res["error_kind"] == "unsupported" and res["changed"]
    assert "persistent-cookies" in res["msg"] and res["terminated"] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_unreachable(version, capsys, monkeypatch):
    fake = FakeOcctl(version, {(Q, ("show", "users")): load(version, "empty", "socket_missing")})
    res = run(ocserv_user, capsys, monkeypatch, fake, name="alice", state="disconnected")
    assert res["failed"] and res["error_kind"] == "unreachable" and "does not exist" in res["msg"]


def test_empty_name_is_an_error(capsys, monkeypatch):
    res = run(ocserv_user, capsys, monkeypatch, FakeOcctl("1.5.0"), name=["alice", " "])
    assert res["failed"] and res["error_kind"] == "invalid"


# erin: an account without a connection in the captured state
PASSWD = "alice:users:$5$salt$hash\ncarol:users:!$5$salt$hash2\nerin:users:$5$salt$hash3\n"


def passwd_file(tmp_path, text=PASSWD):
    path = tmp_path / "ocpasswd"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_account_locked_first_then_terminated(tmp_path, capsys, monkeypatch):
    path = passwd_file(tmp_path)
    fake = server("1.5.0")
    res = run(ocserv_user, capsys, monkeypatch, fake, name=["alice", "erin", "nosuch"], account="locked",
              passwd_file=str(path))
    assert not res.get("failed"), res
    assert res["changed"] and res["accounts"] == ["alice", "erin"] and res["terminated"] == ["alice"]
    assert path.read_text() == PASSWD.replace("alice:users:$5", "alice:users:!$5").replace("erin:users:$5", "erin:users:!$5")
    assert oct(path.stat().st_mode & 0o777) == "0o600" and not os.path.exists(str(path) + ".tmp")
    assert res["diff"]["before"]["alice"]["account"] == "active" and res["diff"]["after"]["alice"]["account"] == "locked"
    assert res["diff"]["after"]["nosuch"]["account"] == "absent"


def test_account_absent_removes_the_entries(tmp_path, capsys, monkeypatch):
    path = passwd_file(tmp_path)
    res = run(ocserv_user, capsys, monkeypatch, server("1.5.0"), name=["erin", "nosuch"], account="absent",
              passwd_file=str(path))
    assert not res.get("failed"), res
    assert res["changed"] and res["accounts"] == ["erin"] and res["terminated"] == []
    assert "erin:" not in path.read_text() and path.read_text().count("\n") == 2


def test_account_check_mode_and_second_run(tmp_path, capsys, monkeypatch):
    path = passwd_file(tmp_path)
    res = run(ocserv_user, capsys, monkeypatch, server("1.5.0"), name="erin", account="locked",
              passwd_file=str(path), _check=True)
    assert res["changed"] and res["accounts"] == ["erin"] and path.read_text() == PASSWD
    res = run(ocserv_user, capsys, monkeypatch, server("1.5.0"), name="erin", account="locked", passwd_file=str(path))
    assert res["changed"] and res["accounts"] == ["erin"] and "erin:users:!$5" in path.read_text()
    res = run(ocserv_user, capsys, monkeypatch, server("1.5.0"), name="erin", account="locked", passwd_file=str(path))
    assert not res["changed"] and res["accounts"] == [] and res["terminated"] == []


def test_account_missing_file_fails_and_touches_nothing(tmp_path, capsys, monkeypatch):
    fake = server("1.5.0")
    res = run(ocserv_user, capsys, monkeypatch, fake, name="alice", account="locked",
              passwd_file=str(tmp_path / "nosuch"))
    assert res["failed"] and res["error_kind"] == "not_found" and "does not exist" in res["msg"]
    assert not res["changed"] and actions(fake) == [] and fake.commands() == []


def test_account_busy_file_fails_after_the_lock_timeout(tmp_path, capsys, monkeypatch):
    path = passwd_file(tmp_path)
    (tmp_path / "ocpasswd.tmp").write_text("")
    fake = server("1.5.0")
    monkeypatch.setattr("ansible_collections.vpnfleet.control.plugins.module_utils._ocpasswd.time.sleep",
                        lambda s: None)
    clock = iter(range(0, 1000))
    monkeypatch.setattr("ansible_collections.vpnfleet.control.plugins.module_utils._ocpasswd.time.monotonic",
                        lambda: next(clock))
    res = run(ocserv_user, capsys, monkeypatch, fake, name="alice", account="locked", passwd_file=str(path))
    assert res["failed"] and res["error_kind"] == "busy" and path.read_text() == PASSWD and actions(fake) == []


def test_account_kept_when_terminate_fails(tmp_path, capsys, monkeypatch):
    """The lock stays (it is what keeps the user out) and the failure says so."""
    path = passwd_file(tmp_path)
    fake = FakeOcctl("1.5.0", {(Q, ("show", "users")): load("1.5.0", "empty", "socket_missing")})
    res = run(ocserv_user, capsys, monkeypatch, fake, name="alice", account="locked", passwd_file=str(path))
    assert res["failed"] and res["error_kind"] == "unreachable" and res["changed"] and res["accounts"] == ["alice"]
    assert "alice:users:!$5" in path.read_text()


# issue 12 item 3: a name is used exactly as given by every step, or refused before any step.
# (A lone surrogate cannot travel in Ansible's UTF-8 module arguments; the name check's own tests cover it.)
BAD_NAMES = [" alice", "alice ", "\talice", "alice\n", "alice\u0085", "alice\u2028", "al\x1eice", "\u00a0alice",
             "alice\u3000", "", "al\x00ice"]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=ascii)
@pytest.mark.parametrize("account", ["keep", "locked", "absent"])
def test_name_with_surrounding_white_space_or_separator_refused(tmp_path, capsys, monkeypatch, bad, account):
    """`name=" alice" account=locked` used to end alice's sessions, leave her account open and
    report success: now it fails invalid, and neither occtl nor the file is touched."""
    path = passwd_file(tmp_path)
    fake = server("1.5.0")
    res = run(ocserv_user, capsys, monkeypatch, fake, name=["carol", bad], account=account, passwd_file=str(path))
    assert res["failed"] and res["error_kind"] == "invalid", res
    assert not res["changed"] and res["accounts"] == []
    assert fake.commands() == []                                   # no occtl call at all
    assert path.read_bytes() == PASSWD.encode() and sorted(os.listdir(str(tmp_path))) == ["ocpasswd"]


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnected_without_diff_mode(version, capsys, monkeypatch):
    """``diff`` only in diff mode, as in the OpenVPN modules; the change is the same."""
    fake = server(version)
    res = run(ocserv_user, capsys, monkeypatch, fake, name="carol", state="disconnected", _diff=False)
    assert res["changed"] and res["disconnected"] == ids_of(version, "carol") and "diff" not in res
    assert actions(fake) == [("disconnect", "user", "carol")]
