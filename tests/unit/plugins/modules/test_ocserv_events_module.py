# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_events as a module, with a captured ``show events`` replayed in place of occtl."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.modules import ocserv_events
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.modules import ocserv_events
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_events

from ansible.module_utils.testing import patch_module_args

FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocserv_events")
REPLAY = os.path.join(REPO, "tests", "unit", "plugins", "module_utils", "ocserv_events_replay.py")


@pytest.fixture
def occtl(tmp_path, monkeypatch):
    wrapper = str(tmp_path / "occtl")
    with open(wrapper, "w") as handle:
        handle.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, REPLAY))
    os.chmod(wrapper, 0o755)
    monkeypatch.setattr(_ocserv_events, "other_listeners", lambda **kw: [])

    def use(version, scenario):
        monkeypatch.setenv("REPLAY_FIXTURE", os.path.join(FIXTURES, version, scenario + ".json"))
        monkeypatch.setenv("REPLAY_DELAY", "0.05")
        return wrapper
    return use


def run_module(capsys, **args):
    args.setdefault("_ansible_check_mode", False)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            ocserv_events.main()
    return json.loads(capsys.readouterr().out)


def test_until_in_check_mode(capsys, occtl, tmp_path):
    ready = str(tmp_path / "ready")
    res = run_module(capsys, occtl_path=occtl("1.5.0", "plain"), socket="/run/x.socket", duration=10,
                     until={"event": "disconnect", "username": "dave"}, ready_file=ready,
                     _ansible_check_mode=True)
    assert not res.get("failed") and not res["changed"]
    assert res["stopped_by"] == "until" and res["until_matched"]
    assert res["matched"]["reason"] == "server disconnected"
    assert [e["event"] for e in res["events"]] == ["connect", "disconnect"] * 3
    assert res["users_at_start"][0]["username"] == "alice"
    assert not os.path.exists(ready)


def test_failures(capsys, occtl):
    res = run_module(capsys, duration=0)
    assert res["failed"] and "duration" in res["msg"]
    res = run_module(capsys, until={"username": None})
    assert res["failed"] and "until needs" in res["msg"]
    for bad in (" bob", "bob\n", "bob\u2028"):
        res = run_module(capsys, until={"username": bad})
        assert res["failed"] and res["error_kind"] == "invalid" and "until.username" in res["msg"]
    res = run_module(capsys, occtl_path=occtl("1.1.6", "noserver"), socket="/run/x.socket", duration=5)
    assert res["failed"] and res["error_kind"] == "unreachable" and res["events"] == []
    res = run_module(capsys, occtl_path=occtl("1.3.0", "server_stopped"), socket="/run/x.socket", duration=5)
    assert res["failed"] and "closed the event stream" in res["msg"] and len(res["events"]) == 1
