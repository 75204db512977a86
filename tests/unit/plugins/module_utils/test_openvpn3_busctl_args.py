# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No user value reaches busctl as an option: "--" ends busctl's options, and paths, configuration
names, interface names and pause reasons are checked before anything runs (argv captured)."""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import sys

import pytest
from hypothesis import given, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.modules import openvpn3_session, openvpn3_session_info
from ansible.module_utils.testing import patch_module_args

PATH = "/net/openvpn/v3/sessions/a5b1c3d9e7f2s4d6bd9fe4ee4df3f51a"
OPTIONS = ["/usr/bin/busctl", "--system", "--json=short"]


class Recorder(object):
    """busctl that answers like an empty session manager and records every argv."""

    def __init__(self):
        self.argvs = []

    def __call__(self, argv, timeout):
        self.argvs.append(list(argv))
        if "get-property" in argv:
            return 0, json.dumps({"type": "s", "data": "v27"}), ""
        return 0, json.dumps({"type": "ao", "data": [[]]}), ""


def assert_options_end(argv):
    """busctl's own options, then "--", then the verb: every later word is positional."""
    assert argv[:3] == OPTIONS and re.match(r"^--timeout=[0-9.]+$", argv[3])
    assert argv[4] == "--" and argv[5] in ("call", "get-property")


def client(rec):
    return o3c.OpenVPN3Client(timeout=5, runner=rec, busctl="/usr/bin/busctl")


DASHED = ["-h", "--help", "--user", "--address=unix:path=/tmp/x", "-", "--", "-C", "--timeout=0"]


@pytest.mark.parametrize("value", DASHED)
def test_dashed_values_are_positional(value):
    rec = Recorder()
    c = client(rec)
    assert c.lookup_config_name(value) == []
    assert c.lookup_configuration(value) == []
    c.lookup_interface(value)
    c.pause(PATH, value)
    for argv in rec.argvs:
        assert_options_end(argv)
        assert argv[-1] == value
    assert rec.argvs[-1][5:] == ["call", o3c.SESSIONS_SERVICE, PATH, o3c.SESSIONS_IFACE, "Pause", "s", value]


def test_every_call_ends_the_options():
    rec = Recorder()
    c = client(rec)
    c.version()
    c.fetch_sessions()
    c.resume(PATH)
    c.disconnect(PATH)
    c.get_status(PATH)
    assert rec.argvs and all(argv[4] == "--" for argv in rec.argvs)


def run(module, capsys, **args):
    args["_ansible_check_mode"] = args.pop("_check", False)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def busctl(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(o3c, "subprocess_runner", rec)
    monkeypatch.setattr(o3c, "find_busctl", lambda paths=None: "/usr/bin/busctl")
    return rec


@pytest.mark.parametrize("value", DASHED)
def test_modules_pass_dashed_names_as_values(capsys, busctl, value):
    res = run(openvpn3_session_info, capsys, config_name=value)
    assert res["sessions"] == [] and not res.get("failed")
    res = run(openvpn3_session, capsys, config_name=value, state="absent")
    assert res["changed"] is False and not res.get("failed")
    lookups = [argv for argv in busctl.argvs if "LookupConfigName" in argv]
    assert len(lookups) == 2
    for argv in lookups:
        assert_options_end(argv)
        assert argv[-2:] == ["s", value]


INVALID = [
    ("path", "-h"),
    ("path", "--help"),
    ("path", "net/openvpn/v3/sessions/abc"),
    ("path", "/net/openvpn/v3/sessions/"),
    ("path", "/net/openvpn/v3/sessions"),
    ("path", "/net/openvpn/v3/sessions/a-b"),
    ("path", "/net/openvpn/v3/sessions/../configuration/x"),
    ("path", "/net/openvpn/v3/sessions//x"),
    ("path", "/net/openvpn/v3/sessions/x y"),
    ("path", "/net/openvpn/v3/configuration/abc"),
    ("path", "/net/openvpn/v3/sessionsX/abc"),
    ("path", PATH + "\n"),
    ("config_name", "lab\nvpn"),
    ("config_name", "lab\x00vpn"),
    ("config_name", "lab\u2028vpn"),
    ("config_name", "lab\x85vpn"),
    ("config_name", "\x1b[31mred"),
    ("config_name", "x" * 1025),
    ("interface", "tun0 x"),
    ("interface", "tun/0"),
    ("interface", "tun:0"),
    ("interface", ".."),
    ("interface", "x" * 16),
    ("interface", "tun\n"),
]


@pytest.mark.parametrize("module", [openvpn3_session, openvpn3_session_info])
@pytest.mark.parametrize("key,value", INVALID, ids=["%s=%r" % kv for kv in INVALID])
def test_invalid_values_fail_before_busctl(capsys, busctl, module, key, value):
    args = {key: value}
    if module is openvpn3_session:
        args["state"] = "absent"
        args["cleanup"] = True   # cleanup would run first: the check must come before it
    res = run(module, capsys, **args)
    assert res["failed"] is True and res["error_kind"] == "invalid", res
    assert key in res["msg"]
    assert busctl.argvs == []


@pytest.mark.parametrize("reason", ["stop\nnow", "", "\x00", "x" * 1025])
def test_invalid_pause_reason(capsys, busctl, reason):
    res = run(openvpn3_session, capsys, path=PATH, state="paused", reason=reason)
    assert res["failed"] is True and res["error_kind"] == "invalid" and "reason" in res["msg"]
    assert busctl.argvs == []


def test_client_refuses_a_bad_path_itself():
    rec = Recorder()
    with pytest.raises(VpnControlError) as err:
        client(rec).disconnect("--help")
    assert err.value.kind == "invalid" and rec.argvs == []


# ---- properties

_ELEMENT = st.text(alphabet="abcXYZ019_", min_size=1, max_size=8)


@given(st.lists(_ELEMENT, min_size=1, max_size=5))
def test_object_paths_accepted(elements):
    path = "/" + "/".join(elements)
    assert o3c.check_object_path(path) == path


@given(st.text(max_size=40))
def test_object_path_property(text):
    try:
        o3c.check_object_path(text)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        return
    assert text == "/" or (text.startswith("/") and all(
        part and re.match(r"^[A-Za-z0-9_]+$", part) for part in text[1:].split("/")))


@given(st.text(max_size=60))
def test_text_property(text):
    """Accepted text has no control or separator character; anything else is 'invalid'."""
    try:
        o3c.check_text(text, "config_name")
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        return
    assert text and all(c.isprintable() for c in text)
    assert not any(c in text for c in "\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


@given(st.text(max_size=20))
def test_interface_property(text):
    try:
        o3c.check_interface(text)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        return
    assert 0 < len(text) <= 15 and "/" not in text and ":" not in text and not any(c.isspace() for c in text)


@given(st.text(min_size=1, max_size=30).filter(lambda t: all(c.isprintable() for c in t)))
def test_accepted_config_names_are_positional(name):
    rec = Recorder()
    client(rec).lookup_config_name(name)
    (argv,) = rec.argvs
    assert_options_end(argv)
    assert argv[-2:] == ["s", name]
