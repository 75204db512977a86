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

from ocserv_fixtures import VERSIONS, FakeOcctl, load  # noqa: E402,F401

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv as oc  # noqa: E402

Q = True    # a -j query
A = False   # a plain command (actions)


@pytest.fixture(autouse=True)
def utc_and_fast(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def run(module, capsys, monkeypatch, fake, **args):
    """main() of ``module`` with ``fake`` as occtl; returns the module's JSON result."""
    monkeypatch.setattr(oc, "run_command", fake)
    args["_ansible_check_mode"] = args.pop("_check", False)
    args["_ansible_diff"] = args.pop("_diff", True)
    args.setdefault("socket", "/run/test/occtl.socket")
    args.setdefault("timeout", 1)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def actions(fake):
    """The non-query commands the module ran (besides --version/help)."""
    return [c for c in fake.commands() if c[0] not in ("show", "--version", "help")]
