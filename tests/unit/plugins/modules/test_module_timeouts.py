# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module that takes a timeout refuses nan, inf, 0 and negative values before running anything."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client, _ocserv_state
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client, _ocserv_state
from ansible_collections.vpnfleet.control.plugins.module_utils import _common, _ocserv_events, _openvpn3_client as o3c
from ansible_collections.vpnfleet.control.plugins.modules import (
    ocserv_ban,
    ocserv_events,
    ocserv_info,
    ocserv_server,
    ocserv_session,
    ocserv_user,
    openvpn3_session,
    openvpn3_session_info,
    vpn_facts,
)
from ansible.module_utils.testing import patch_module_args

BAD = [float("nan"), float("inf"), float("-inf"), 0, -1, -0.5]

MODULES = [
    (ocserv_info, {}),
    (ocserv_user, {"name": ["alice"], "state": "disconnected"}),
    (ocserv_session, {"id": 7}),
    (ocserv_ban, {"ip": ["192.0.2.1"]}),
    (ocserv_server, {"state": "reloaded"}),
    (ocserv_events, {}),
    (openvpn3_session, {"config_name": "lab-vpn", "state": "absent"}),
    (openvpn3_session_info, {}),
    (vpn_facts, {"gather": ["ocserv", "openvpn3"]}),
]


@pytest.fixture
def nothing_runs(monkeypatch):
    """Every way out to a process records the attempt."""
    ran = []

    def refuse(*args, **kwargs):
        ran.append(args)
        raise AssertionError("a process was started: %r" % (args,))
    monkeypatch.setattr(_common, "spawn", refuse)
    monkeypatch.setattr(_ocserv_client, "run_command", refuse)
    monkeypatch.setattr(_ocserv_state, "run_command", refuse)
    monkeypatch.setattr(o3c, "subprocess_runner", refuse)
    monkeypatch.setattr(o3c, "find_busctl", lambda paths=None: "/usr/bin/busctl")
    monkeypatch.setattr(_ocserv_events, "spawn", refuse)
    monkeypatch.setattr(_ocserv_events, "other_listeners", lambda **kw: [])
    return ran


def run(module, capsys, **args):
    args["_ansible_check_mode"] = False
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("timeout", BAD)
@pytest.mark.parametrize("module,args", MODULES, ids=[m.__name__.rsplit(".", 1)[-1] for m, _a in MODULES])
def test_bad_timeout_is_refused(capsys, nothing_runs, module, args, timeout):
    res = run(module, capsys, timeout=timeout, **args)
    assert res["failed"] is True
    assert res["error_kind"] == "invalid"
    assert "timeout must be greater than 0" in res["msg"]
    assert nothing_runs == []


@pytest.mark.parametrize("duration", BAD)
def test_events_bad_duration_is_refused(capsys, nothing_runs, duration):
    res = run(ocserv_events, capsys, duration=duration)
    assert res["failed"] is True and res["error_kind"] == "invalid"
    assert res["msg"].startswith("duration must be greater than 0") and res["events"] == []
    assert nothing_runs == []
