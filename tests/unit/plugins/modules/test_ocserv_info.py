# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_info on captured occtl output of every version."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_module_helpers import VERSIONS, FakeOcctl, Q, load, run  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.modules import ocserv_info  # noqa: E402


def connected(version):
    return FakeOcctl(version, {
        (Q, ("show", "status")): load(version, "connected", "status_json"),
        (Q, ("show", "users")): load(version, "connected", "users_json"),
        (Q, ("show", "sessions", "all")): load(version, "connected", "sessions_all_json"),
        (Q, ("show", "sessions", "valid")): load(version, "connected", "sessions_valid_json"),
        (Q, ("show", "ip", "bans")): load(version, "connected", "ip_bans_json"),
        (Q, ("show", "ip", "ban", "points")): load(version, "connected", "ip_ban_points_json"),
        (Q, ("show", "iroutes")): load(version, "connected", "iroutes_json"),
    })


def shape(value):
    """Keys and the types of their non-null values (merged over list elements)."""
    if isinstance(value, dict):
        return dict((k, shape(v)) for k, v in value.items())
    if isinstance(value, list):
        merged = {}
        for item in value:
            if isinstance(item, dict):
                for key, sub in shape(item).items():
                    merged.setdefault(key, set()).update(sub if isinstance(sub, set) else {repr(sub)})
            else:
                merged.setdefault("[]", set()).add(type(item).__name__)
        return merged
    return set() if value is None else {type(value).__name__}


def test_same_shape_on_every_version(capsys, monkeypatch):
    shapes = {}
    for version in VERSIONS:
        res = run(ocserv_info, capsys, monkeypatch, connected(version))
        for part in ("users", "sessions", "bans", "ban_points", "iroutes", "status"):
            shapes.setdefault(part, {})[version] = shape(res[part])
    for part, per_version in shapes.items():
        values = list(per_version.values())
        for value in values:
            assert set(value) == set(values[0]), part
            for key in value:   # a type where a version says something; null where it does not
                assert not value[key] or not values[0][key] or value[key] == values[0][key], (part, key)


@pytest.mark.parametrize("version", VERSIONS)
def test_gather_subset(version, capsys, monkeypatch):
    fake = connected(version)
    res = run(ocserv_info, capsys, monkeypatch, fake, gather=["bans", "ban_points"])
    assert "users" not in res and "status" not in res and res["ban_points"]
    assert ("show", "users") not in fake.commands()


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_server(version, capsys, monkeypatch):
    fake = FakeOcctl(version, dict(((Q, args), load(version, "empty", name)) for name, args in (
        ("status_json", ("show", "status")), ("users_json", ("show", "users")),
        ("sessions_all_json", ("show", "sessions", "all")), ("sessions_valid_json", ("show", "sessions", "valid")),
        ("ip_bans_json", ("show", "ip", "bans")), ("ip_ban_points_json", ("show", "ip", "ban", "points")),
        ("iroutes_json", ("show", "iroutes")))))
    res = run(ocserv_info, capsys, monkeypatch, fake)
    assert res["users"] == [] and res["sessions"] == [] and res["iroutes"] == [] and res["bans"] == []


@pytest.mark.parametrize("scenario,name,kind", [
    ("noserver", "status_json", "unreachable"),
    ("stale", "status_stale_socket_json", "unreachable"),
])
@pytest.mark.parametrize("version", VERSIONS)
def test_unreachable(version, scenario, name, kind, capsys, monkeypatch):
    fake = FakeOcctl(version, {(Q, ("show", "status")): load(version, scenario, name)})
    res = run(ocserv_info, capsys, monkeypatch, fake, gather=["status"])
    assert res["failed"] and res["error_kind"] == kind and "occtl.socket" in res["msg"]
    assert "Traceback" not in res["msg"]


def test_missing_occtl(capsys, monkeypatch, tmp_path):
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client
    res = run(ocserv_info, capsys, monkeypatch, _ocserv_client.run_command, occtl_path=str(tmp_path / "occtl"))
    assert res["failed"] and res["error_kind"] == "missing_binary"
