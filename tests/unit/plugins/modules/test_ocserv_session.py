# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_session on captured occtl output (scenario terminate_scope: bob with two connections
and an idle session; scenario connected/actions: dave's idle session)."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_module_helpers import VERSIONS, A, FakeOcctl, Q, actions, load, run  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_parsers as oc_parsers  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.modules import ocserv_session  # noqa: E402


def scope(version):
    """(fake, target connection id, its short session) for the terminate_scope captures."""
    if version == "1.5.0":
        action = load(version, "terminate_scope", "terminate_id_first")
        after = "terminate_id"
    else:
        action = load(version, "terminate_scope", "disconnect_id_second")
        after = "disconnect_id"
    conn_id = int(action["args"][2])
    short = action["context"]["connections"][str(conn_id)]
    fake = FakeOcctl(version, {
        (Q, ("show", "users")): [load(version, "terminate_scope", "users_before_json"),
                                 load(version, "terminate_scope", "users_after_%s_json" % after)],
        (Q, ("show", "sessions", "valid")): [load(version, "terminate_scope", "sessions_valid_before_json"),
                                             load(version, "terminate_scope", "sessions_valid_after_%s_json" % after)],
        (A, tuple(action["args"])): action,
    })
    return fake, conn_id, short, tuple(action["args"])


@pytest.mark.parametrize("version", VERSIONS)
def test_terminate_by_id(version, capsys, monkeypatch):
    fake, conn_id, short, action = scope(version)
    res = run(ocserv_session, capsys, monkeypatch, fake, id=[str(conn_id), "999999"])
    assert not res.get("failed"), res
    assert res["changed"] and res["disconnected"] == [conn_id] and res["terminated"] == [short]
    assert actions(fake) == [action]
    assert action[0] == ("terminate" if version == "1.5.0" else "disconnect")
    assert res["diff"]["after"] == {"connections": [], "sessions": []}


@pytest.mark.parametrize("version", VERSIONS)
def test_terminate_by_session_in_use(version, capsys, monkeypatch):
    """A session a connection uses: the connection is ended (terminate id / disconnect id)."""
    fake, conn_id, short, action = scope(version)
    full = [s for s in oc_parsers.records(load(version, "terminate_scope", "sessions_valid_before_json")["stdout"])
            if s["Session"] == short][0]["Full session"]
    for sid in (short, full):
        fake, conn_id, short, action = scope(version)
        res = run(ocserv_session, capsys, monkeypatch, fake, session=sid)
        assert not res.get("failed"), res
        assert res["changed"] and res["terminated"] == [short] and res["disconnected"] == [conn_id]
        assert actions(fake) == [action]


@pytest.mark.parametrize("version", VERSIONS)
def test_check_mode(version, capsys, monkeypatch):
    fake, conn_id, short, action = scope(version)
    res = run(ocserv_session, capsys, monkeypatch, fake, id=conn_id, _check=True)
    assert res["changed"] and res["disconnected"] == [conn_id] and actions(fake) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnected_by_id_second_run(version, capsys, monkeypatch):
    bob = load(version, "actions", "disconnect_id_bob")
    conn_id = int(bob["args"][2])
    fake = FakeOcctl(version, {
        (Q, ("show", "users")): [load(version, "connected", "users_json"),
                                 load(version, "actions", "users_after_disconnect_id_json")],
        (A, ("disconnect", "id", str(conn_id))): bob,
    })
    res = run(ocserv_session, capsys, monkeypatch, fake, id=conn_id, state="disconnected")
    assert res["changed"] and res["disconnected"] == [conn_id] and res["terminated"] == []
    assert actions(fake) == [("disconnect", "id", str(conn_id))]
    fake = FakeOcctl(version, {(Q, ("show", "users")): load(version, "actions", "users_after_disconnect_id_json")})
    res = run(ocserv_session, capsys, monkeypatch, fake, id=conn_id, state="disconnected")
    assert not res["changed"] and res["disconnected"] == [] and actions(fake) == []


def dave(version):
    sessions = oc_parsers.records(load(version, "connected", "sessions_valid_json")["stdout"])
    return [s for s in sessions if s["Username"] == "dave"][0]


def test_idle_session_terminated_on_1_5(capsys, monkeypatch):
    version = "1.5.0"
    sess = dave(version)
    action = load(version, "actions", "terminate_session_dave")
    assert action["args"][2] == sess["Session"]
    fake = FakeOcctl(version, {
        (Q, ("show", "users")): [load(version, "connected", "users_json"),
                                 load(version, "actions", "users_after_terminate_user_json")],
        (Q, ("show", "sessions", "valid")): [load(version, "connected", "sessions_valid_json"),
                                             load(version, "actions", "sessions_valid_after_terminate_session_json")],
        (A, tuple(action["args"])): action,
    })
    res = run(ocserv_session, capsys, monkeypatch, fake, session=sess["Full session"])
    assert not res.get("failed"), res
    assert res["changed"] and res["terminated"] == [sess["Session"]] and res["disconnected"] == []
    # occtl matches `terminate session` by the short id: the full one is never passed
    assert actions(fake) == [("terminate", "session", sess["Session"])]


@pytest.mark.parametrize("version", ["1.1.6", "1.3.0"])
@pytest.mark.parametrize("check", [True, False])
def test_idle_session_refused_before_1_5(version, check, capsys, monkeypatch):
    sess = dave(version)
    fake = FakeOcctl(version, {
        (Q, ("show", "users")): load(version, "connected", "users_json"),
        (Q, ("show", "sessions", "valid")): load(version, "connected", "sessions_valid_json"),
    })
    res = run(ocserv_session, capsys, monkeypatch, fake, session=sess["Session"], _check=check)
    assert res["failed"] and res["error_kind"] == "unsupported"
    assert sess["Session"] in res["msg"] and "1.5.0" in res["msg"] and actions(fake) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_session_and_bad_input(version, capsys, monkeypatch):
    fake = FakeOcctl(version, {
        (Q, ("show", "users")): load(version, "connected", "users_json"),
        (Q, ("show", "sessions", "valid")): load(version, "connected", "sessions_valid_json"),
    })
    res = run(ocserv_session, capsys, monkeypatch, fake, session=["AAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="])
    assert not res["changed"] and not res.get("failed") and actions(fake) == []
    for bad in (dict(session="abc"), dict(session="j/3tin; x"), dict(id="abc"), dict(id="-3"),
                dict(session="AAAAAA", state="disconnected")):
        fake = FakeOcctl(version)
        res = run(ocserv_session, capsys, monkeypatch, fake, **bad)
        assert res["failed"] and res["error_kind"] == "invalid", bad
        assert [c for c in fake.commands() if c[0] == "show"] == []


def test_id_and_session_exclusive(capsys, monkeypatch):
    res = run(ocserv_session, capsys, monkeypatch, FakeOcctl("1.5.0"), id=1, session="AAAAAA")
    assert res["failed"] and "mutually exclusive" in res["msg"]
