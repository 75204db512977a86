# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_user with real openconnect clients on ocserv 1.1.6, 1.3.0 and 1.5.0."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ocserv_support as oc  # noqa: E402


def user_play(server, name, state="terminated", check=False):
    return oc.one_task_play(server, "User", "ocserv_user", ["name: %s" % name, "state: %s" % state], check)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_terminated_connected_user_cookie_dead(lab, server):
    """erin connected with a cookie: check mode changes nothing, the real run ends the
    connection and the cookie, the second run changes nothing."""
    if server == "sid":
        oc.restore(lab, server)
    else:
        oc.fresh(lab, server)
    value = oc.cookie(lab, server, "erin")
    name = "erin-" + server[:4]
    oc.connect_with_cookie_bg(lab, server, value, name)
    try:
        assert oc.wait_until(lambda: oc.connections(lab, server, "erin"), 30)
        ids = oc.connections(lab, server, "erin")
        res = lab.playbook(user_play(server, "[erin, nosuch-user]", check=True))
        got = res.result("User", server)
        assert not got.get("failed"), got
        assert got["changed"] and got["disconnected"] == ids and got["terminated"] == ["erin"]
        assert oc.connections(lab, server, "erin") == ids           # check mode: untouched
        res = lab.playbook(user_play(server, "[erin, nosuch-user]"))
        got = res.result("User", server)
        assert not got.get("failed"), got
        assert got["changed"] and got["disconnected"] == ids and got["terminated"] == ["erin"]
        assert got["diff"]["before"]["erin"]["connections"] == ids
        assert got["diff"]["after"]["erin"] == {"connections": [], "sessions": []}
        assert oc.connections(lab, server, "erin") == []
        assert "erin" not in [u for _s, u in oc.valid_sessions(lab, server)]
        assert oc.connect_cookie(lab, server, value) == 2            # 401 Cookie is not acceptable
        res = lab.playbook(user_play(server, "erin"))
        got = res.result("User", server)
        assert got["changed"] is False and got["disconnected"] == [] and got["terminated"] == []
    finally:
        oc.stop_unit(lab, "vfl-octest-" + name)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_idle_session(lab, server):
    """dave has only an idle session (openconnect --authenticate): terminated on 1.5.0;
    refused with an explanation before (check mode too), nothing changed."""
    if server == "sid":
        oc.restore(lab, server)
    else:
        oc.fresh(lab, server)
    value = oc.cookie(lab, server, "dave")
    sid = [s for s, u in oc.valid_sessions(lab, server) if u == "dave"]
    assert sid
    for check in (True, False):
        res = lab.playbook(user_play(server, "dave", check=check))
        got = res.result("User", server)
        if server == "sid":
            assert not got.get("failed") and got["changed"] and got["terminated"] == ["dave"], got
            assert got["disconnected"] == []
        else:
            assert got["failed"] and got["error_kind"] == "unsupported", got
            assert "1.5.0" in got["msg"] and "cookie-timeout" in got["msg"] and sid[0] in got["msg"]
            assert oc.VERSION[server] in got["msg"]
    if server == "sid":
        assert "dave" not in [u for _s, u in oc.valid_sessions(lab, server)]
        assert oc.connect_cookie(lab, server, value) == 2
    else:
        assert [s for s, u in oc.valid_sessions(lab, server) if u == "dave"] == sid
        assert oc.connect_cookie(lab, server, value) == 0            # really still valid
        # use it up: connect and terminate it for the next tests
        oc.connect_with_cookie_bg(lab, server, value, "dave-" + server[:4])
        assert oc.wait_until(lambda: oc.connections(lab, server, "dave"), 30)
        res = lab.playbook(user_play(server, "dave"))
        got = res.result("User", server)
        assert not got.get("failed") and got["changed"], got
        oc.stop_unit(lab, "vfl-octest-dave-" + server[:4])


@pytest.mark.parametrize("server", oc.SERVERS)
def test_disconnected(lab, server):
    oc.restore(lab, server)
    ids = oc.connections(lab, server, "bob")
    assert ids
    res = lab.playbook(user_play(server, "bob", state="disconnected"))
    got = res.result("User", server)
    assert not got.get("failed") and got["changed"] and got["disconnected"] == ids and got["terminated"] == []
    assert oc.connections(lab, server, "bob") == []
    assert oc.wait_until(lambda: not oc.unit_active(lab, server, "bob"), 20)
    res = lab.playbook(user_play(server, "bob", state="disconnected"))
    assert res.result("User", server)["changed"] is False
    oc.restore(lab, server)


def test_persistent_cookies_detected(lab):
    """1.1.6 with persistent-cookies: disconnect leaves the cookie valid; terminated must fail
    and say why (the connection is still closed), and the cookie really still works."""
    server = "bookworm"
    conf = "/etc/ocserv/ocserv.conf"
    lab.run(server, ["cp", "-p", conf, "/root/ocserv.conf.vf-orig"])
    try:
        lab.run(server, ["sh", "-c", "echo 'persistent-cookies = true' >> %s" % conf])
        oc.fresh(lab, server)
        value = oc.cookie(lab, server, "erin")
        oc.connect_with_cookie_bg(lab, server, value, "erin-pc")
        assert oc.wait_until(lambda: oc.connections(lab, server, "erin"), 30)
        ids = oc.connections(lab, server, "erin")
        res = lab.playbook(user_play(server, "erin"))
        got = res.result("User", server)
        assert got["failed"] and got["error_kind"] == "unsupported" and got["changed"], got
        assert "persistent-cookies" in got["msg"] and got["disconnected"] == ids and got["terminated"] == []
        assert oc.connections(lab, server, "erin") == []
        oc.stop_unit(lab, "vfl-octest-erin-pc")
        assert oc.connect_cookie(lab, server, value) == 0            # the module was right
    finally:
        oc.stop_unit(lab, "vfl-octest-erin-pc")
        lab.run(server, ["mv", "/root/ocserv.conf.vf-orig", conf])
        oc.fresh(lab, server)


def account_play(server, account, passwd_file="/etc/ocserv/ocpasswd", check=False):
    return oc.one_task_play(server, "Revoke", "ocserv_user", [
        "name: [bob, nosuch-user]", "account: %s" % account, "passwd_file: %s" % passwd_file], check)


def passwd_line(lab, server, user):
    out = lab.run(server, ["sh", "-c", "grep '^%s:' /etc/ocserv/ocpasswd || true" % user]).stdout
    return out.strip()


@pytest.mark.parametrize("server", oc.SERVERS)
def test_account_locked_then_terminated_in_one_task(lab, server):
    """bob connected: account=locked locks him in the ocpasswd file and ends his connection in
    one task; his password no longer logs in; check mode and the second run change nothing; a
    missing password file fails before anything is done."""
    oc.restore(lab, server)
    ids = oc.connections(lab, server, "bob")
    line = passwd_line(lab, server, "bob")
    assert ids and line and ":!" not in line
    try:
        res = lab.playbook(account_play(server, "locked", passwd_file="/etc/ocserv/nosuch"))
        got = res.result("Revoke", server)
        assert got["failed"] and got["error_kind"] == "not_found" and not got["changed"], got
        assert oc.connections(lab, server, "bob") == ids
        res = lab.playbook(account_play(server, "locked", check=True))
        got = res.result("Revoke", server)
        assert not got.get("failed") and got["changed"] and got["accounts"] == ["bob"], got
        assert passwd_line(lab, server, "bob") == line and oc.connections(lab, server, "bob") == ids
        res = lab.playbook(account_play(server, "locked"))
        got = res.result("Revoke", server)
        assert not got.get("failed"), got
        assert got["changed"] and got["accounts"] == ["bob"] and got["disconnected"] == ids
        assert got["diff"]["before"]["bob"]["account"] == "active" and got["diff"]["after"]["bob"]["account"] == "locked"
        assert passwd_line(lab, server, "bob").startswith("bob:") and ":!" in passwd_line(lab, server, "bob")
        assert oc.connections(lab, server, "bob") == []
        # the password is refused now: no new session for bob
        assert oc.client(lab, ["vfl-oc", "cookie", server, "bob"]).returncode != 0
        res = lab.playbook(account_play(server, "locked"))
        got = res.result("Revoke", server)
        assert got["changed"] is False and got["accounts"] == [] and got["terminated"] == [], got
    finally:
        lab.run(server, ["ocpasswd", "-c", "/etc/ocserv/ocpasswd", "-u", "bob"])
        oc.restore(lab, server)


@pytest.mark.parametrize("server", oc.SERVERS)
def test_name_with_surrounding_white_space_refused(lab, server):
    """Issue 12, item 3: `name=" bob" account=locked` used to end bob's connections, leave his
    account open and report success. Now it fails invalid before anything: bob stays connected,
    the password file is byte-identical."""
    oc.restore(lab, server)
    ids = oc.connections(lab, server, "bob")
    before = lab.run(server, ["sha256sum", "/etc/ocserv/ocpasswd"]).stdout
    assert ids
    for bad in (" bob", "bob ", "bob\\u0085", "\\u00a0bob"):
        for account in ("locked", "keep"):
            play = oc.one_task_play(server, "Revoke", "ocserv_user", [
                'name: ["%s"]' % bad, "account: %s" % account])
            got = lab.playbook(play).result("Revoke", server)
            assert got["failed"] and got["error_kind"] == "invalid", got
            assert not got["changed"] and got["accounts"] == [] and "disconnected" not in got
            assert oc.connections(lab, server, "bob") == ids
            assert lab.run(server, ["sha256sum", "/etc/ocserv/ocpasswd"]).stdout == before
