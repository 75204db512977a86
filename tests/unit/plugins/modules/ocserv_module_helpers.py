# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run an ocserv module's main() with occtl answered from the captures (shared helper)."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "module_utils"))

from ocserv_fixtures import VERSIONS, FakeOcctl, load  # noqa: E402

__all__ = ["VERSIONS", "FakeOcctl", "load", "Q", "A", "run", "actions"]

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client, _ocserv_state  # noqa: E402

Q = True    # a -j query
A = False   # a plain command (actions)


def run(module, capsys, monkeypatch, fake, **args):
    """main() of ``module`` with ``fake`` as occtl; returns the module's JSON result.

    ``fake`` replaces ``run_command`` where it is looked up: in ``_ocserv_client`` (every occtl
    run of ``OcctlClient``) and in ``_ocserv_state`` (``ocserv --test-config`` of ``ensure_server``)."""
    monkeypatch.setattr(_ocserv_client, "run_command", fake)
    monkeypatch.setattr(_ocserv_state, "run_command", fake)
    args["_ansible_check_mode"] = args.pop("_check", False)
    args["_ansible_diff"] = args.pop("_diff", True)
    args.setdefault("socket", "/run/test/occtl.socket")
    args.setdefault("timeout", 1)
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"   # the captures were made in UTC (occtl prints local times)
    time.tzset()
    try:
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
    finally:
        if old_tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old_tz
        time.tzset()
    return json.loads(capsys.readouterr().out)


def actions(fake):
    """The non-query commands the module ran (besides --version/help)."""
    return [c for c in fake.commands() if c[0] not in ("show", "--version", "help")]
