# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ocserv role's root-owned occtl wrapper (roles/ocserv/templates/vpnfleet-occtl.j2).

The template is rendered with a fake occtl that prints the argv it was given, then run
as a program: the argv occtl receives is compared byte for byte, and every bypass
attempt must end with exit status 2 before occtl runs. The same table runs through
real sudo on the lab hosts in the role's Molecule verify.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys

import jinja2
import pytest
from hypothesis import given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TEMPLATE = os.path.join(REPO, "roles", "ocserv", "templates", "vpnfleet-occtl.j2")
SOCKET = "/var/run/occtl.socket"


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wrapper")
    occtl = tmp / "occtl"
    occtl.write_text("#!%s\nimport json, os, sys\nprint(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}))\n"
                     % sys.executable)
    occtl.chmod(0o755)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = json.dumps
    with open(TEMPLATE) as handle:
        text = env.from_string(handle.read()).render(
            ocserv_occtl_path=str(occtl), ocserv_occtl_socket=SOCKET, ocserv_admin_group="ocserv-admin",
            ocserv_sudoers_file="/etc/sudoers.d/vpnfleet-ocserv", ocserv_occtl_wrapper="/usr/local/bin/occtl-sudo")
    assert text.startswith("#!/usr/bin/python3 -I\n")
    path = tmp / "vpnfleet-occtl"
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def call(wrapper, *args):
    """(rc, argv occtl got or None, env occtl got, stderr)."""
    proc = subprocess.run([sys.executable, "-I", wrapper] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env={"PAGER": "sh", "PATH": "/tmp"}, check=False)
    out = json.loads(proc.stdout) if proc.stdout else {}
    return proc.returncode, out.get("argv"), out.get("env"), proc.stderr.decode("utf-8", "replace")


S = ["-n", "-s", SOCKET]

ALLOWED = [
    # what the collection sends (build_argv: -j first, then -s)            what occtl gets
    (["-j", "-s", SOCKET, "show", "status"], ["-j"] + S + ["show", "status"]),
    (["-j", "-s", SOCKET, "show", "users"], ["-j"] + S + ["show", "users"]),
    (["-j", "-s", SOCKET, "show", "user", "alice"], ["-j"] + S + ["show", "user", "alice"]),
    (["-j", "-s", SOCKET, "show", "id", "4711"], ["-j"] + S + ["show", "id", "4711"]),
    (["-j", "-s", SOCKET, "show", "sessions", "all"], ["-j"] + S + ["show", "sessions", "all"]),
    (["-j", "-s", SOCKET, "show", "sessions", "valid"], ["-j"] + S + ["show", "sessions", "valid"]),
    (["-j", "-s", SOCKET, "show", "session", "j/3tin"], ["-j"] + S + ["show", "session", "j/3tin"]),
    (["-j", "-s", SOCKET, "show", "ip", "bans"], ["-j"] + S + ["show", "ip", "bans"]),
    (["-j", "-s", SOCKET, "show", "ip", "ban", "points"], ["-j"] + S + ["show", "ip", "ban", "points"]),
    (["-j", "-s", SOCKET, "show", "iroutes"], ["-j"] + S + ["show", "iroutes"]),
    (["-s", SOCKET, "show", "events"], S + ["show", "events"]),
    (["-s", SOCKET, "disconnect", "user", "alice"], S + ["disconnect", "user", "alice"]),
    (["-s", SOCKET, "disconnect", "id", "12"], S + ["disconnect", "id", "12"]),
    (["-s", SOCKET, "terminate", "user", "b\u00f6b@example.org"], S + ["terminate", "user", "b\u00f6b@example.org"]),
    (["-s", SOCKET, "terminate", "id", "12"], S + ["terminate", "id", "12"]),
    (["-s", SOCKET, "terminate", "session", "j/3tinxkcBmFUA3dItIq56uZ0E8="],
     S + ["terminate", "session", "j/3tinxkcBmFUA3dItIq56uZ0E8="]),
    (["-s", SOCKET, "unban", "ip", "192.0.2.7"], S + ["unban", "ip", "192.0.2.7"]),
    (["-s", SOCKET, "unban", "ip", "2001:db8::7"], S + ["unban", "ip", "2001:db8::7"]),
    (["-s", SOCKET, "reload"], S + ["reload"]),
    (["-s", SOCKET, "stop", "now"], S + ["stop", "now"]),
    (["--version"], ["--version"]),
    (["help"], ["help"]),
    # what an admin types
    (["show", "users"], S + ["show", "users"]),
    (["--json", "--no-pager", "--socket-file", SOCKET, "show", "status"], ["-j"] + S + ["show", "status"]),
    (["-n", "-j", "reload"], ["-j"] + S + ["reload"]),
]


@pytest.mark.parametrize("args,expected", ALLOWED, ids=[" ".join(a) for a, _e in ALLOWED])
def test_allowed(wrapper, args, expected):
    rc, argv, env, err = call(wrapper, *args)
    assert (rc, err) == (0, "")
    assert argv == expected
    assert env == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}   # no PAGER, nothing inherited


BYPASS = [
    # another socket
    ["-s /var/run/occtl.socket", "other.sock", "show", "status"],     # option and path in one argument
    ["-s", SOCKET, "-s", "/run/other.socket", "show", "status"],       # a second -s
    ["-s", SOCKET, "--socket-file", SOCKET, "show", "status"],         # a second one, even the same
    ["-s", "/run/other.socket", "show", "status"],
    ["-s", "var/run/occtl.socket", "show", "status"],                  # relative path
    ["-s", "occtl.socket", "show", "status"],
    ["-s", "/run/occtl.socket", "show", "status"],                     # /var/run is a symlink to /run
    ["-s", "/tmp/link-to-occtl.socket", "show", "status"],             # a symlink
    ["-s", "/var/run/../run/occtl.socket", "show", "status"],
    ["-s", SOCKET + "/", "show", "status"],
    ["--socket-file=/run/other.socket", "show", "status"],
    ["-s" + SOCKET, "show", "status"],
    ["-s"],
    # interactive occtl
    [],
    ["-s", SOCKET],
    ["-j", "-s", SOCKET],
    # other options (debug, help, anything occtl might read or write files with)
    ["-d", "show", "status"],
    ["--debug", "show", "status"],
    ["-h"],
    ["-v"],
    ["-x", "/etc/shadow", "show", "status"],
    ["--", "show", "status"],
    # options after the command, values that look like options
    ["show", "status", "-s", "/run/other.socket"],
    ["show", "user", "-s"],
    ["show", "user", "--socket-file=/run/other.socket"],
    ["disconnect", "user", "-alice"],
    # extra or missing words, other commands, other spellings
    ["show", "status", "extra"],
    ["show", "user"],
    ["show", "user", "alice", "bob"],
    ["show user alice"],
    ["SHOW", "STATUS"],
    ["sh", "st"],
    ["show", "ip", "bans", "points"],
    ["show", "cookies", "all"],
    ["stop"],
    ["stop", "later"],
    ["help", "me"],
    ["--version", "show", "status"],
    ["exit"],
    ["!sh"],
    # values
    ["show", "user", "alice bob"],
    ["show", "user", "alice\nshow status"],
    ["show", "user", "alice\tx"],
    ["show", "user", "alice\x85"],
    ["show", "user", "alice\u2028"],
    ["show", "user", ""],
    ["show", "user", "a" * 256],
    ["show", "id", "12a"],
    ["show", "id", "-1"],
    ["show", "id", "99999999999"],
    ["show", "id", "4294967296"],
    ["show", "session", "j/3t in"],
    ["show", "session", "-j/3tin"],
    ["unban", "ip", "192.0.2.300"],
    ["unban", "ip", "-192.0.2.1"],
    ["unban", "ip", " 192.0.2.1"],
    ["unban", "ip", "host.example"],
]


@pytest.mark.parametrize("args", BYPASS, ids=[repr(a) for a in BYPASS])
def test_refused(wrapper, args):
    rc, argv, _env, err = call(wrapper, *args)
    assert rc == 2 and argv is None, "occtl ran with %r" % (argv,)
    assert err.startswith("vpnfleet-occtl: refused: ")


def test_names_with_surrogates_are_refused(wrapper):
    proc = subprocess.run([sys.executable, "-I", wrapper, "show", "user", b"al\xffice"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert proc.returncode == 2 and proc.stdout == b""


def test_missing_occtl(tmp_path):
    env = jinja2.Environment()
    env.filters["to_json"] = json.dumps
    with open(TEMPLATE) as handle:
        text = env.from_string(handle.read()).render(ocserv_occtl_path=str(tmp_path / "nope"),
                                                     ocserv_occtl_socket=SOCKET)
    path = tmp_path / "w"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-I", str(path), "show", "status"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    assert proc.returncode == 127 and b"cannot run" in proc.stderr


def _load(wrapper):
    namespace = {"__name__": "wrapper_under_test"}
    with open(wrapper) as handle:
        exec(compile(handle.read(), wrapper, "exec"), namespace)   # pylint: disable=exec-used
    return namespace


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["-s", "-j", "-n", "--socket-file", SOCKET, "/run/x", "show", "user",
                                           "users", "status", "id", "disconnect", "terminate", "session",
                                           "unban", "ip", "reload", "stop", "now", "help", "--version", "-"]),
                          st.text(max_size=12)), max_size=7))
def test_property_occtl_argv(wrapper_ns, args):
    """Whatever the arguments: refused, or occtl's argv has exactly one -s, the configured socket, then an
    allowed command; no value starts with '-' or holds white space."""
    try:
        argv = wrapper_ns["build"](args)
    except wrapper_ns["Refused"]:
        return
    rest = argv[1:]
    if rest in (["--version"], ["help"]):
        return
    if rest[0] == "-j":
        rest = rest[1:]
    assert rest[:3] == ["-n", "-s", SOCKET]
    words = rest[3:]
    assert "-s" not in words and "--socket-file" not in words
    assert any(tuple(words[:len(c)]) == c for c in wrapper_ns["COMMANDS"])
    for word in words:
        assert word and not word.startswith("-") and not any(ch.isspace() for ch in word)


@pytest.fixture(scope="module")
def wrapper_ns(wrapper):
    return _load(wrapper)


# ---------------------------------------------------------------------------- through the collection

def _client(wrapper, socket):
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client
    return _ocserv_client, _ocserv_client.OcctlClient(socket=socket, occtl_path=wrapper, timeout=10)


def test_collection_with_the_wrapper(wrapper):
    client = _client(wrapper, SOCKET)[1]
    result = client.run(["show", "users"])
    assert result.rc == 0 and json.loads(result.stdout)["argv"] == ["-j"] + S + ["show", "users"]


def test_collection_other_socket_is_invalid(wrapper):
    from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
    client = _client(wrapper, "/run/other.socket")[1]
    with pytest.raises(VpnControlError) as err:
        client.users()
    assert err.value.kind == "invalid"
    assert err.value.msg.startswith("the occtl wrapper refused 'show users': the only socket allowed is ")


def test_collection_batch_falls_back_to_single_commands(wrapper):
    """The interactive batch (no command on the command line) is refused; each action then runs alone."""
    _ocserv_client, client = _client(wrapper, SOCKET)
    client.actions([["disconnect", "user", "alice"], ["disconnect", "user", "bob"]])
    assert client.calls[0].rc == 2 and client.calls[0].stderr.startswith(_ocserv_client.WRAPPER_REFUSED)
    assert [json.loads(c.stdout)["argv"][-3:] for c in client.calls[1:]] == [
        ["disconnect", "user", "alice"], ["disconnect", "user", "bob"]]
