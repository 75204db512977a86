# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark inputs and candidates stay valid (bench/README.md). No timing here: the figures
live in bench/ and docs/performance.md only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                     "bench")
sys.path.insert(0, BENCH)

import benchlib  # noqa: E402  pylint: disable=wrong-import-position

benchlib.ensure_import_path()

import candidates  # noqa: E402  pylint: disable=wrong-import-position
import gen_inputs  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_parsers as oc_parsers  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_parsers as op  # noqa: E402


@pytest.mark.parametrize("version", ["1.1.6", "1.3.0", "1.5.0"])
@pytest.mark.parametrize("capture", ["users_json", "sessions_all_json"])
def test_occtl_scaled_inputs(version, capture):
    text = gen_inputs.occtl_scaled(version, capture, 57)
    recs = oc_parsers.records(text)
    assert len(recs) == 57
    key = "ID" if capture == "users_json" else "Session"
    assert len(set(r[key] for r in recs)) == 57
    assert candidates.occtl_records(text) == recs


def test_occtl_scaled_keeps_the_servers_format():
    # ocserv 1.1.6 prints a trailing comma in every session record: the scaled input keeps it
    text = gen_inputs.occtl_scaled("1.1.6", "sessions_all_json", 3)
    with pytest.raises(ValueError):
        json.loads(text)
    assert '"in_use":  1,\n  }' in text or '"in_use":  0,\n  }' in text


@pytest.mark.parametrize("version", ["2.6.14", "2.7.8"])
def test_openvpn_scaled_status(version):
    text = gen_inputs.openvpn_status_scaled(version, 41)
    assert text.endswith("END\r\n")
    lines = text.split("\r\n")
    status = op.parse_status(lines)
    assert len(status["clients"]) == 41 and len(status["routes"]) == 41 and not status["rejected"]
    assert len(set(c["client_id"] for c in status["clients"])) == 41
    assert candidates.parse_status(lines) == status
