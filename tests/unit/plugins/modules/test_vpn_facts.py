# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vpn_facts: discovery from configuration files and sockets, and the facts it builds.

Server replies are replayed from the captures of the real servers in tests/unit/fixtures
(ocserv 1.1.6/1.3.0/1.5.0 via tests/capture/capture_ocserv.py, OpenVPN 2.6.14/2.7.8 via
tests/capture/capture_openvpn.py, OpenVPN 3 24.1 busctl exchanges); only configuration files
(inputs, not outputs) are written by the tests.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import socket
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.modules import vpn_facts
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.modules import vpn_facts
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client

from ansible.module_utils.testing import patch_module_args

FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures")


def load(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return json.load(handle)


# ---------------------------------------------------------------------------- replays

def occtl_replay(version, scenario="connected"):
    """An occtl runner answering from the captures of one ocserv version and scenario."""
    base = os.path.join(FIXTURES, "ocserv", version)
    answers = {}
    for directory in (os.path.join(base, "noserver"), os.path.join(base, scenario)):
        for name in sorted(os.listdir(directory)):
            cap = load("ocserv", version, os.path.basename(directory), name)
            if "args" not in cap:
                continue   # ocserv --test-config captures
            key = (bool(cap.get("json")), tuple(cap["args"]))
            if directory.endswith("noserver") and key[1] != ("--version",):
                continue
            answers.setdefault(key, cap)

    def runner(argv, timeout):
        json_output = "-j" in argv
        rest = list(argv[1:])
        if "-j" in rest:
            rest.remove("-j")
        if "-s" in rest:
            i = rest.index("-s")
            del rest[i:i + 2]
        cap = answers.get((json_output, tuple(rest))) or answers.get((not json_output, tuple(rest)))
        if cap is None:
            raise AssertionError("no capture for occtl %s (%s %s)" % (rest, version, scenario))
        return cap["rc"], cap["stdout"], cap["stderr"]
    return runner


class ReplaySocket(object):
    """A management-interface peer replaying captures: the first capture's banner, then for
    each command the bytes the real server sent after it (the first capture that has the
    command wins)."""

    def __init__(self, *captures):
        self.replies = {}
        self.banner = b""
        self.closed = False
        self.sent = []
        for index, cap in enumerate(captures):
            own = {}
            current = None
            for event in cap["events"]:
                if event["dir"] == "send":
                    current = event["data"].strip()
                    own.setdefault(current, b"")
                elif event["dir"] == "recv":
                    data = event["data"].encode("utf-8")
                    if current is None:
                        if index == 0:
                            self.banner += data
                    elif not own[current] or own[current] is not None:
                        own[current] += data
            for command, data in own.items():
                self.replies.setdefault(command, data)
        self.queue = self.banner

    def settimeout(self, value):
        pass

    def recv(self, size):
        if self.closed:
            return b""
        if not self.queue:
            raise socket.timeout()
        data, self.queue = self.queue[:size], self.queue[size:]
        return data

    def sendall(self, data):
        command = data.decode("utf-8").strip()
        self.sent.append(command)
        if command == "quit":
            self.closed = True
            return
        if command not in self.replies:
            raise AssertionError("no capture for management command %r" % command)
        self.queue += self.replies[command]

    def close(self):
        self.closed = True


def make_socket_file(path):
    """A real unix socket file (so the module sees the instance as running)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No real server of this machine is ever asked: every family points into tmp_path."""
    monkeypatch.setattr(vpn_facts, "OPENVPN3_MARKERS", (str(tmp_path / "no-openvpn3"),))
    monkeypatch.setattr(_ocserv_client, "DEFAULT_SOCKET", str(tmp_path / "default-occtl.socket"))
    return tmp_path


def base_args(tmp_path, **kwargs):
    args = dict(
        ocserv_config=[str(tmp_path / "ocserv" / "*.conf")],
        openvpn_config_dirs=[str(tmp_path / "openvpn" / "server"), str(tmp_path / "openvpn")],
        openvpn_socket_dirs=[str(tmp_path / "run")],
    )
    args.update(kwargs)
    return args


def run_module(capsys, **args):
    args.setdefault("_ansible_check_mode", False)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            vpn_facts.main()
    return json.loads(capsys.readouterr().out)


# ---------------------------------------------------------------------------- ocserv

@pytest.mark.parametrize("version", ["1.1.6", "1.3.0", "1.5.0"])
def test_ocserv_connected_users_and_bans(isolated, capsys, monkeypatch, version):
    tmp_path = isolated
    (tmp_path / "ocserv").mkdir()
    sock_path = tmp_path / "occtl.socket"
    holder = make_socket_file(sock_path)
    (tmp_path / "ocserv" / "ocserv.conf").write_text("auth = plain\nocctl-socket-file = %s\n" % sock_path)
    monkeypatch.setattr(vpn_facts, "OCCTL_RUNNER", occtl_replay(version))
    try:
        res = run_module(capsys, gather=["ocserv"], **base_args(tmp_path))
    finally:
        holder.close()
    vpn = res["ansible_facts"]["vpn"]
    oc = vpn["ocserv"]
    assert not res["changed"]
    assert oc["reachable"] and oc["present"] and oc["version"] == version and oc["socket"] == str(sock_path)
    context = load("ocserv", version, "connected", "users_json.json")["context"]
    assert sorted(set(u["username"] for u in oc["users"])) == sorted(context["connected"])
    assert oc["counts"]["connected"] == len(context["connections"])
    assert oc["counts"]["usernames"] == len(context["connected"])
    assert context["banned_ip"] in [b["ip"] for b in oc["bans"]]
    assert oc["status"]["status"] == "online" and isinstance(oc["status"]["server_pid"], int)
    assert all(isinstance(u["connected_at"], int) for u in oc["users"])
    assert "full_session" not in oc["users"][0]
    assert vpn["summary"]["usernames"] == sorted(context["connected"])
    assert vpn["summary"]["sessions"] == ["ocserv %s %s" % (sock_path, name) for name in sorted(context["connected"])]
    assert vpn["summary"]["connected"] == len(context["connections"])
    assert oc["capabilities"]["terminate"] is (version == "1.5.0")
    assert vpn["openvpn"] == [] and vpn["openvpn3"]["present"] is False


def test_ocserv_details_false_keeps_counts(isolated, capsys, monkeypatch):
    tmp_path = isolated
    holder = make_socket_file(tmp_path / "s")
    monkeypatch.setattr(vpn_facts, "OCCTL_RUNNER", occtl_replay("1.3.0"))
    try:
        res = run_module(capsys, gather=["ocserv"], details=False, discover=False,
                         ocserv_socket=[str(tmp_path / "s")])
    finally:
        holder.close()
    oc = res["ansible_facts"]["vpn"]["ocserv"]
    assert oc["source"] == "explicit" and "users" not in oc and "bans" not in oc
    assert oc["counts"]["connected"] > 0
    assert res["ansible_facts"]["vpn"]["summary"]["usernames"]


def test_ocserv_stopped_and_stale(isolated, capsys, monkeypatch):
    tmp_path = isolated
    (tmp_path / "ocserv").mkdir()
    (tmp_path / "ocserv" / "ocserv.conf").write_text("auth = plain\nocctl-socket-file = %s\n"
                                                     % (tmp_path / "gone.socket"))
    monkeypatch.setattr(vpn_facts, "OCCTL_RUNNER", occtl_replay("1.3.0", "stale"))
    res = run_module(capsys, gather=["ocserv"], **base_args(tmp_path))
    oc = res["ansible_facts"]["vpn"]["ocserv"]
    assert not oc["running"] and not oc["reachable"] and oc["error_kind"] == "not_running"
    assert oc["version"] == "1.3.0"
    assert res["ansible_facts"]["vpn"]["summary"]["stopped"] == ["ocserv:%s" % (tmp_path / "gone.socket")]
    assert res["ansible_facts"]["vpn"]["summary"]["unreachable"] == []

    # a stale socket (file left, nobody listening): occtl says Connection refused
    holder = make_socket_file(tmp_path / "stale.socket")
    holder.close()
    cap = load("ocserv", "1.3.0", "stale", "status_stale_socket_json.json")
    runner = occtl_replay("1.3.0", "stale")

    def stale_runner(argv, timeout):
        if "--version" in argv:
            return runner(argv, timeout)
        return cap["rc"], cap["stdout"], cap["stderr"]
    monkeypatch.setattr(vpn_facts, "OCCTL_RUNNER", stale_runner)
    res = run_module(capsys, gather=["ocserv"], discover=False, ocserv_socket=[str(tmp_path / "stale.socket")],
                     fail_on_unreachable=True)
    assert res["failed"] and res["error_kind"] == "unreachable" and "not answering" in res["msg"]
    oc = res["ansible_facts"]["vpn"]["ocserv"]
    assert oc["running"] and not oc["reachable"] and oc["error_kind"] == "unreachable"
    assert "Connection refused" in oc["error"] or "refused" in oc["error"].lower()


def test_ocserv_use_occtl_false(isolated, capsys):
    tmp_path = isolated
    (tmp_path / "ocserv").mkdir()
    (tmp_path / "ocserv" / "ocserv.conf").write_text("auth = plain\nuse-occtl = false\n")
    res = run_module(capsys, gather=["ocserv"], **base_args(tmp_path))
    oc = res["ansible_facts"]["vpn"]["ocserv"]
    assert oc["error_kind"] == "disabled" and "use-occtl" in oc["error"]


def test_nothing_found(isolated, capsys):
    res = run_module(capsys, **base_args(isolated))
    vpn = res["ansible_facts"]["vpn"]
    assert vpn["ocserv"] == {"present": False} and vpn["ocserv_instances"] == [] and vpn["openvpn"] == []
    assert vpn["summary"]["ocserv_servers"] == 0 and vpn["summary"]["unreachable"] == []
    assert isinstance(vpn["gathered_at"], int)
    assert vpn["gathered"] == ["ocserv", "openvpn", "openvpn3"]


def test_gathered_names_the_families_looked_at(isolated, capsys):
    # an empty list of a family that was not looked at must not read as "no server"
    res = run_module(capsys, gather=["openvpn3", "ocserv"], **base_args(isolated))
    assert res["ansible_facts"]["vpn"]["gathered"] == ["ocserv", "openvpn3"]


# ---------------------------------------------------------------------------- OpenVPN

def _openvpn_layout(tmp_path, conf_text, name="server"):
    (tmp_path / "openvpn" / "server").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "openvpn" / "server" / ("%s.conf" % name)).write_text(conf_text)


@pytest.mark.parametrize("version", ["2.6.14", "2.7.8"])
def test_openvpn_from_config(isolated, capsys, monkeypatch, version):
    tmp_path = isolated
    sock_path = tmp_path / "run" / "server.sock"
    _openvpn_layout(tmp_path, "port 1194\nserver 10.8.0.0 255.255.255.0\nmanagement %s unix\n" % sock_path)
    holder = make_socket_file(sock_path)
    # a second socket in the run directory, without a configuration: found by the socket scan
    other = make_socket_file(tmp_path / "run" / "other.sock")
    (tmp_path / "run" / "status-server.log").write_text("not a socket\n")
    peers = {}

    def connector(cand):
        peers[cand["name"]] = ReplaySocket(load("openvpn", version, "basics.json"))
        return peers[cand["name"]]
    monkeypatch.setattr(vpn_facts, "MGMT_CONNECTOR", connector)
    try:
        res = run_module(capsys, gather=["openvpn"], **base_args(tmp_path))
    finally:
        holder.close()
        other.close()
    instances = res["ansible_facts"]["vpn"]["openvpn"]
    assert [i["name"] for i in instances] == ["server", "other"]
    srv = instances[0]
    assert srv["reachable"] and srv["source"] == "config" and srv["role"] == "server"
    assert srv["version"] == version and srv["management_version"] == (5 if version == "2.6.14" else 6)
    assert srv["management"] == {"socket": str(sock_path), "password": False}
    assert srv["unit"] is None   # not under /etc/openvpn
    assert isinstance(srv["pid"], int) and srv["state"]["state"] == "CONNECTED"
    assert srv["counts"]["clients"] == len(srv["clients"]) == 3
    assert sorted(c["common_name"] for c in srv["clients"]) == ["client1", "client2", "client3"]
    assert all(isinstance(c["connected_since"], int) for c in srv["clients"])
    assert instances[1]["source"] == "socket" and instances[1]["role"] == "server"
    assert res["ansible_facts"]["vpn"]["summary"]["usernames"] == ["client1", "client2", "client3"]
    assert res["ansible_facts"]["vpn"]["summary"]["openvpn_servers"] == 2
    assert "openvpn server client1" in res["ansible_facts"]["vpn"]["summary"]["sessions"]
    # one management session per instance, every command in it, quit last
    assert peers["server"].sent[-1] == "quit" and peers["server"].sent.count("quit") == 1


def test_openvpn_held_daemon(isolated, capsys, monkeypatch):
    tmp_path = isolated
    sock_path = tmp_path / "run" / "server.sock"
    _openvpn_layout(tmp_path, "server 10.8.0.0 255.255.255.0\nmanagement %s unix\n" % sock_path)
    holder = make_socket_file(sock_path)
    # the hold capture has no pid/version exchange: those come from the same server version's basics
    monkeypatch.setattr(vpn_facts, "MGMT_CONNECTOR", lambda cand: ReplaySocket(
        load("openvpn", "2.6.14", "hold.json"), load("openvpn", "2.6.14", "basics.json")))
    try:
        res = run_module(capsys, gather=["openvpn"], **base_args(tmp_path))
    finally:
        holder.close()
    srv = res["ansible_facts"]["vpn"]["openvpn"][0]
    assert srv["reachable"] and srv["held"] is True
    assert srv["state"]["state"] == "CONNECTING" and srv["counts"] == {"clients": 0}


def test_openvpn_refused_busy_and_missing(isolated, capsys, monkeypatch):
    tmp_path = isolated
    _openvpn_layout(tmp_path, "server 10.8.0.0 255.255.255.0\nmanagement %s unix\n" % (tmp_path / "run" / "a.sock"))
    (tmp_path / "openvpn" / "server" / "b.conf").write_text("server 10.9.0.0 255.255.255.0\nmanagement %s unix\n"
                                                            % (tmp_path / "run" / "b.sock"))
    (tmp_path / "openvpn" / "server" / "c.conf").write_text("management %s unix\n" % (tmp_path / "run" / "c.sock"))
    holders = [make_socket_file(tmp_path / "run" / "a.sock"), make_socket_file(tmp_path / "run" / "b.sock")]
    refused = load("openvpn", "2.6.14", "refused.json")
    assert [e["dir"] for e in refused["events"]] == ["connect", "eof"]

    class Closed(ReplaySocket):
        def recv(self, size):
            return b""   # the server closed without a banner (management-client-user mismatch)

    class Busy(ReplaySocket):
        def recv(self, size):
            raise socket.timeout()   # connect() succeeded, no banner: another client holds the interface

    def connector(cand):
        return Closed(refused) if cand["name"] == "server" else Busy(load("openvpn", "2.6.14", "busy.json"))
    monkeypatch.setattr(vpn_facts, "MGMT_CONNECTOR", connector)
    try:
        res = run_module(capsys, gather=["openvpn"], timeout=0.2, **base_args(tmp_path))
    finally:
        for h in holders:
            h.close()
    by_name = dict((i["name"], i) for i in res["ansible_facts"]["vpn"]["openvpn"])
    assert by_name["server"]["error_kind"] == "permission_denied"
    assert by_name["b"]["error_kind"] == "busy" and "one management client at a time" in by_name["b"]["error"]
    assert by_name["c"]["error_kind"] == "not_running" and not by_name["c"]["reachable"]
    summary = res["ansible_facts"]["vpn"]["summary"]
    assert sorted(summary["unreachable"]) == ["openvpn:b", "openvpn:server"] and summary["stopped"] == ["openvpn:c"]


def test_openvpn_explicit_tcp_with_password(isolated, capsys, monkeypatch):
    tmp_path = isolated
    seen = {}

    def connector(cand):
        seen.update(cand["management"])
        return ReplaySocket(load("openvpn", "2.6.14", "basics.json"))
    monkeypatch.setattr(vpn_facts, "MGMT_CONNECTOR", connector)
    res = run_module(capsys, gather=["openvpn"], discover=False,
                     openvpn_management=[{"host": "127.0.0.1", "port": 47505, "password": "s3cret"}])
    out = json.dumps(res)
    assert "s3cret" not in out
    inst = res["ansible_facts"]["vpn"]["openvpn"][0]
    assert inst["name"] == "127.0.0.1:47505"
    assert inst["management"] == {"host": "127.0.0.1", "port": 47505, "password": True}
    assert inst["reachable"] and seen["password"] == "s3cret"


def test_openvpn_explicit_entry_needs_target(isolated, capsys):
    res = run_module(capsys, gather=["openvpn"], discover=False, openvpn_management=[{"name": "x"}])
    assert res["failed"] and "socket, or host and port" in res["msg"]


# ---------------------------------------------------------------------------- OpenVPN 3

def busctl_replay(capture):
    exchanges = capture["exchanges"]

    def runner(argv, timeout):
        args = [a for a in argv[1:] if not a.startswith("--timeout=") and a != "--"]
        for ex in exchanges:
            if ex["argv"] == args and ex.get("user") is None:
                return ex["rc"], ex["stdout"], ex["stderr"]
        raise AssertionError("no capture for busctl %s" % args)
    return runner


def test_openvpn3_sessions(isolated, capsys, monkeypatch):
    tmp_path = isolated
    marker = tmp_path / "openvpn3"
    marker.write_text("")
    cap = load("openvpn3", "24.1", "connected.json")
    monkeypatch.setattr(vpn_facts, "OPENVPN3_MARKERS", (str(marker),))
    monkeypatch.setattr(vpn_facts, "BUSCTL_RUNNER", busctl_replay(cap))
    monkeypatch.setattr(vpn_facts, "BUSCTL_PATH", "/usr/bin/busctl")
    res = run_module(capsys, gather=["openvpn3"])
    o3 = res["ansible_facts"]["vpn"]["openvpn3"]
    assert o3["present"] and o3["reachable"] and o3["version"] == "v24.1"
    assert [s["path"] for s in o3["sessions"]] == [cap["notes"]["path"]]
    assert o3["sessions"][0]["device"] == cap["notes"]["device"]
    assert o3["counts"] == {"sessions": 1, "connected": 1}
    assert res["ansible_facts"]["vpn"]["summary"]["openvpn3_sessions"] == 1


def test_openvpn3_not_installed_is_not_queried(isolated, capsys, monkeypatch):
    def runner(argv, timeout):
        raise AssertionError("busctl must not run when OpenVPN 3 is not installed")
    monkeypatch.setattr(vpn_facts, "BUSCTL_RUNNER", runner)
    res = run_module(capsys, gather=["openvpn3"])
    assert res["ansible_facts"]["vpn"]["openvpn3"]["present"] is False


def test_openvpn3_bus_unreachable(isolated, capsys, monkeypatch):
    marker = isolated / "openvpn3"
    marker.write_text("")
    monkeypatch.setattr(vpn_facts, "OPENVPN3_MARKERS", (str(marker),))
    # busctl's own message when no system bus runs (reference: openvpn3.md, systemd 257 wording)
    monkeypatch.setattr(vpn_facts, "BUSCTL_RUNNER",
                        lambda argv, timeout: (1, "", "Failed to connect to bus: No such file or directory\n"))
    monkeypatch.setattr(vpn_facts, "BUSCTL_PATH", "/usr/bin/busctl")
    res = run_module(capsys, gather=["openvpn3"])
    o3 = res["ansible_facts"]["vpn"]["openvpn3"]
    assert o3["present"] and not o3["reachable"] and o3["error_kind"] == "unreachable"
    assert res["ansible_facts"]["vpn"]["summary"]["unreachable"] == ["openvpn3"]


def test_invalid_timeout(isolated, capsys):
    res = run_module(capsys, timeout=0)
    assert res["failed"] and "timeout" in res["msg"]


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1, 86401])
def test_invalid_timeout_values(isolated, capsys, timeout):
    res = run_module(capsys, timeout=timeout)
    assert res["failed"] and res["error_kind"] == "invalid" and "timeout" in res["msg"]
