# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input and the OpenVPN management socket, at the byte level.

No value may bring a line feed (or any byte the server drops) onto the socket:
the client checks every line where it is sent, and the modules check their
options before connecting.  Commands are read with OpenVPN's own quoting
(``parse_line`` in OpenVPN's source).
"""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op, _openvpn_state as ost
except ImportError:  # plain pytest from the checkout: the collection is linked under .build
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op, _openvpn_state as ost

BANNER = b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"

# Every byte the server would not take as part of a value: LF ends the command,
# the other control bytes are dropped (manage.c command_line_add).
BAD_CHARS = ["\n", "\r", "\x00", "\t", "\x0b", "\x0c", "\x1b", "\x7f", "\x01"]


class RecordingSocket(object):
    """A management server that records every byte it receives.

    It asks for a password when given one, sends the banner, and answers
    each complete line it receives (``pid`` -> SUCCESS, anything else -> ERROR).
    """

    def __init__(self, password=None):
        self.sent = b""
        self.closed = False
        self.password = password
        self.pending = [b"ENTER PASSWORD:"] if password else [BANNER]
        self.lines = []

    def settimeout(self, value):
        pass

    def sendall(self, data):
        self.sent += data
        while b"\n" in self.sent[sum(len(x) + 1 for x in self.lines):]:
            rest = self.sent[sum(len(x) + 1 for x in self.lines):]
            line = rest[:rest.index(b"\n")]
            self.lines.append(line)
            if self.password is not None and len(self.lines) == 1:
                if line == self.password:
                    self.pending += [b"SUCCESS: password is correct\r\n", BANNER]
                else:
                    self.pending.append(b"ENTER PASSWORD:")
            elif line == b"pid":
                self.pending.append(b"SUCCESS: pid=42\r\n")
            elif line != b"quit":
                self.pending.append(b"ERROR: unknown command, enter 'help' for more options\r\n")

    def recv(self, size):
        import socket
        if not self.pending:
            raise socket.timeout()
        return self.pending.pop(0)

    def close(self):
        self.closed = True


def client_for(sock, **kwargs):
    kwargs.setdefault("socket_path", "/run/test.sock")
    kwargs.setdefault("timeout", 2)
    return oc.ManagementClient(connector=lambda: sock, **kwargs)


# ------------------------------------------------------------- the send method

@pytest.mark.parametrize("bad", BAD_CHARS)
def test_no_control_byte_reaches_the_socket_in_a_command(bad):
    sock = RecordingSocket()
    client = client_for(sock).connect()
    with pytest.raises(op.ManagementError) as exc:
        client.command("kill alice" + bad + "signal SIGTERM")
    assert exc.value.kind == "invalid"
    assert sock.sent == b""
    # the session is still usable: nothing was sent, nothing is pending
    assert client.pid() == 42
    client.close()
    assert sock.sent == b"pid\nquit\n"


@pytest.mark.parametrize("bad", BAD_CHARS)
def test_send_method_refuses_every_control_byte(bad):
    sock = RecordingSocket()
    client = client_for(sock).connect()
    with pytest.raises(op.ManagementError) as exc:
        client._send("pid" + bad)
    assert exc.value.kind == "invalid" and sock.sent == b""


@pytest.mark.parametrize("bad", BAD_CHARS)
def test_password_with_a_control_byte_is_refused_before_connecting(bad):
    opened = []
    with pytest.raises(op.ManagementError) as exc:
        oc.ManagementClient(socket_path="/run/x.sock", password="secret" + bad + "signal SIGTERM",
                            connector=lambda: opened.append(1))
    assert exc.value.kind == "invalid" and not opened
    assert "SIGTERM" not in exc.value.msg and "secret" not in exc.value.msg


def test_password_checked_at_send_too():
    """Even a client whose password was changed after construction sends no second line."""
    sock = RecordingSocket(password=b"pw")
    client = client_for(sock, password="pw")
    client.password = "pw\nsignal SIGTERM"
    with pytest.raises(op.ManagementError) as exc:
        client.connect()
    assert exc.value.kind == "invalid" and sock.sent == b""


def test_good_password_bytes():
    sock = RecordingSocket(password=u"p\u00e4ss w\"rd".encode("utf-8"))
    with client_for(sock, password=u"p\u00e4ss w\"rd") as client:
        assert client.pid() == 42
    assert sock.sent == u"p\u00e4ss w\"rd\npid\nquit\n".encode("utf-8")


def test_line_longer_than_the_server_buffer_is_refused():
    sock = RecordingSocket()
    client = client_for(sock).connect()
    with pytest.raises(op.ManagementError) as exc:
        client.command("kill " + "a" * 1015 + " pid")   # 1024 bytes before the LF
    assert exc.value.kind == "invalid" and sock.sent == b""
    # multibyte text counts in bytes
    with pytest.raises(op.ManagementError):
        oc.check_line(u"\u00e4" * 512)
    assert oc.check_line(u"\u00e4" * 511) == u"\u00e4".encode("utf-8") * 511


def test_lone_surrogate_is_invalid():
    with pytest.raises(op.ManagementError) as exc:
        oc.check_line(u"kill \udcff")
    assert exc.value.kind == "invalid"


@pytest.mark.parametrize("line", ["", "   ", "# kill alice", "; kill alice", "\\ "])
def test_line_without_parameters_is_refused(line):
    """The server does not answer a line without parameters: waiting for a reply would hang."""
    sock = RecordingSocket()
    client = client_for(sock).connect()
    with pytest.raises(op.ManagementError) as exc:
        client.command(line)
    assert exc.value.kind == "invalid" and sock.sent == b""


# ------------------------------------------------------------ command builders

@pytest.mark.parametrize("message", ["bye\nsignal SIGTERM", "bye\r", "a\x00b", "tab\there"])
def test_kill_message_with_control_characters_is_refused(message):
    with pytest.raises(op.ManagementError) as exc:
        ost.client_kill_command(4, "halt", message)
    assert exc.value.kind == "invalid"


@pytest.mark.parametrize("message", [
    "bye from admin", 'say "hi"', "back\\slash", "it's", "# not a comment", "; nor this", "",
    u"gr\u00fc\u00dfe", "trailing\\",
])
def test_kill_message_reaches_the_server_as_one_parameter(message):
    command = ost.client_kill_command(4, "halt", message)
    expected = "HALT,%s" % message if message else "HALT"
    assert oc.split_command(command) == ["client-kill", "4", expected]


def test_kill_message_longer_than_a_parameter_is_refused():
    ost.client_kill_command(4, "restart", "x" * (256 - len("RESTART,")))
    with pytest.raises(op.ManagementError) as exc:
        ost.client_kill_command(4, "restart", "x" * (257 - len("RESTART,")))
    assert exc.value.kind == "invalid"


def test_address_kill_command_is_one_parameter():
    client = {"real_address": "[2001:db8::1]:1194", "proto": "udp6"}
    assert oc.split_command(ost.address_kill_command(client, 6)) == ["kill", "udp:[2001:db8::1]:1194"]
    client = {"real_address": "10.0.0.1:5 signal SIGTERM", "proto": None}
    assert oc.split_command(ost.address_kill_command(client, 5)) == ["kill", "10.0.0.1:5 signal SIGTERM"]


# ------------------------------------------------------- validation of options

def base(**params):
    result = {"socket": "/run/x.sock", "host": None, "port": None, "password": None, "password_file": None,
              "timeout": 10}
    result.update(params)
    return result


@pytest.mark.parametrize("params", [
    {"password": "pw\nsignal SIGTERM"},
    {"password": "pw\r"},
    {"password": "pw\x00"},
    {"kill_message": "bye\nsignal SIGTERM"},
    {"kill_message": "x" * 300},
    {"common_name": ["alice", "bob\nsignal SIGTERM"]},
    {"common_name": "al\x01ice"},
    {"real_address": ["10.0.0.1:5\r"]},
    {"username": ["dave\x00"]},
    {"client_id": [-1]},
    {"client_id": [2 ** 32]},
    {"socket": "/run/x\x00.sock"},
    {"socket": None, "host": "127.0.0.1\n", "port": 7505},
    {"socket": None, "host": "127.0.0.1", "port": 70000},
    {"socket": None, "host": "127.0.0.1", "port": 0},
    {"timeout": float("nan")},
    {"timeout": float("inf")},
    {"timeout": 0},
    {"timeout": -1},
])
def test_client_from_params_refuses_before_connecting(params):
    opened = []
    with pytest.raises(op.ManagementError) as exc:
        oc.client_from_params(base(**params), connector=lambda: opened.append(1))
    assert exc.value.kind == "invalid" and not opened
    assert "SIGTERM" not in exc.value.msg


def test_client_from_params_accepts_ordinary_values():
    client = oc.client_from_params(base(password=u"p\u00e4ss w\"rd", kill_message="bye from admin",
                                        common_name=["alice", "UNDEF"], real_address=["[::1]:5", "udp4:1.2.3.4:5"],
                                        username=["dave"], client_id=[0, 4294967295], timeout=2.5))
    assert client.timeout == 2.5 and client.password == u"p\u00e4ss w\"rd"


def test_password_file_not_utf8_is_invalid(tmp_path):
    path = tmp_path / "pw"
    path.write_bytes(b"\xff\xfe\n")
    with pytest.raises(op.ManagementError) as exc:
        oc.client_from_params(base(password_file=str(path)))
    assert exc.value.kind == "invalid"


def test_password_file_first_line_only(tmp_path):
    path = tmp_path / "pw"
    path.write_bytes(b"secret\r\nsignal SIGTERM\n")
    assert oc.client_from_params(base(password_file=str(path))).password == "secret"


# --------------------------------------------------- OpenVPN's quoting rules

@pytest.mark.parametrize("line, words", [
    ("status 2", ["status", "2"]),
    ("  status   2  ", ["status", "2"]),
    ('client-kill 5 "HALT,bye from admin"', ["client-kill", "5", "HALT,bye from admin"]),
    ("client-kill 5 'HALT,bye from admin'", ["client-kill", "5", "HALT,bye from admin"]),
    ("'st'\"ate\" on", ["st", "ate", "on"]),          # a closing quote ends the parameter
    ('state "on"', ["state", "on"]),
    ("state 'on'", ["state", "on"]),
    ("state \\on", None),                               # \o: refused
    ("kill a\\ b", ["kill", "a b"]),
    ('kill a\\"b', ["kill", 'a"b']),
    ("kill a\\\\b", ["kill", "a\\b"]),
    ('kill "a\\\\b\\"c d"', ["kill", 'a\\b"c d']),
    ("kill 'a\\b'", ["kill", "a\\b"]),                  # no escapes inside single quotes
    ("kill 'a\"b'", ["kill", 'a"b']),
    ('kill "it\'s"', ["kill", "it's"]),
    ("kill ''", ["kill", ""]),
    ('kill ""', ["kill", ""]),
    ("kill a#b", ["kill", "a#b"]),                      # # inside a parameter is a character
    ("kill #b", ["kill"]),                              # # where a parameter starts: comment
    ("kill ;b", ["kill"]),
    ("kill \\#b", ["kill"]),                            # even escaped
    ('kill "#b"', ["kill", "#b"]),
    ("# kill alice", []),
    ("", []),
    ("\\ ", []),
    ("\\\"status\\\"", ['"status"']),
    ("kill \"abc", None),                               # unterminated quotes
    ("kill 'abc", None),
    ("kill abc\\", None),                               # trailing backslash
    ('kill "abc\\', None),
    ("kill \\'a", None),                                # \' outside quotes: refused
    ("kill a\\tb", None),
    ("kill " + "x" * 256, ["kill", "x" * 256]),
    ("kill " + "x" * 257, None),                        # parameter too long
    ("kill " + u"\u00e4" * 128, ["kill", u"\u00e4" * 128]),
    ("kill " + u"\u00e4" * 129, None),                  # bytes, not characters
    (" ".join(str(i) for i in range(20)), [str(i) for i in range(16)]),   # at most 16 parameters
    (" ".join(str(i) for i in range(16)) + " 'unterminated", [str(i) for i in range(16)]),
])
def test_split_command_follows_parse_line(line, words):
    if words is None:
        with pytest.raises(op.ManagementError) as exc:
            oc.split_command(line)
        assert exc.value.kind == "invalid"
    else:
        assert oc.split_command(line) == words


@pytest.mark.parametrize("command", [
    "status", "status 3", '"status" 2', "'status'", "version", "state", "state all", "state 5", "state all 3",
    "log 20", "log all", "echo all", "pid", "load-stats", "hold", "verb", "mute", "auth-retry", "help",
    "test 3", "nclients", "status #kill alice", "bytecount",
])
def test_read_only_commands(command):
    assert oc.command_is_read_only(command), command


@pytest.mark.parametrize("command", [
    "kill x", "client-kill 1", "signal SIGHUP", "hold release", "hold off", "hold 'on'", "verb 4", "mute 2",
    "state on", "state 'on'", 'state "on"', "state all on", "state 3 off", "log on all", "log all on",
    "echo on", "bytecount 5", "foo", "Status", "env-filter", "env-filter 2", "version 4", "auth-retry none",
    "'kill' alice", '"kill" alice', "k'ill' alice", "forget-passwords",
])
def test_changing_commands(command):
    assert not oc.command_is_read_only(command), command


@pytest.mark.parametrize("text", ["12", " 12", "+12", "-3", "12abc", "abc", "", "99999999999999999999",
                                  "4294967297", "-4294967297", "2147483648"])
def test_c_atoi(text):
    expected = {"12": 12, " 12": 12, "+12": 12, "-3": -3, "12abc": 12, "abc": 0, "": 0,
                "99999999999999999999": -1, "4294967297": 1, "-4294967297": -1, "2147483648": -2147483648}
    assert oc.c_atoi(text) == expected[text]


# ------------------------------------------------- server fault: 2.7.8 stall

class StalledServer(object):
    """OpenVPN 2.7.8 after a queued client gave up: the session is accepted but
    served only once ``wake_after`` more connections have arrived (None: never, busy)."""

    def __init__(self, wake_after=1):
        self.wake_after = wake_after
        self.probes = 0
        self.main = RecordingSocket()
        self.main.pending = []
        self.probe_socks = []

    def probe(self):
        self.probes += 1
        if self.wake_after is not None and self.probes == self.wake_after:
            self.main.pending.append(BANNER)
        sock = RecordingSocket()    # served (banner) once the session has quit
        self.probe_socks.append(sock)
        return sock


def test_stalled_server_is_woken_by_a_probe(monkeypatch):
    monkeypatch.setattr(oc, "STALL_PROBE_FIRST", 0.05)
    server = StalledServer(wake_after=1)
    client = oc.ManagementClient(socket_path="/run/x.sock", timeout=2, connector=lambda: server.main,
                                 probe_connector=server.probe)
    with client:
        assert client.pid() == 42
        # the probe stays queued behind the session while it runs
        assert not server.probe_socks[0].closed
    assert server.probes == 1 and client.probes == 1
    assert server.main.sent == b"pid\nquit\n"
    # then it is served and quits at once: no gone client is left for the server to find
    assert server.probe_socks[0].sent == b"quit\n" and server.probe_socks[0].closed


def test_probes_back_off_and_stop_at_the_timeout(monkeypatch):
    monkeypatch.setattr(oc, "STALL_PROBE_FIRST", 0.1)
    server = StalledServer(wake_after=None)   # really busy: nobody ever answers
    client = oc.ManagementClient(socket_path="/run/x.sock", timeout=1.0, connector=lambda: server.main,
                                 probe_connector=server.probe)
    with pytest.raises(op.ManagementError) as exc:
        client.connect()
    assert exc.value.kind == "busy"
    # probes after 0.1, 0.3, 0.7 s (delays 0.1, 0.2, 0.4; the next would be at 1.5 s)
    assert server.probes == 3
    assert server.main.sent == b""
    assert all(p.closed and p.sent == b"" for p in server.probe_socks)


def test_no_probe_once_the_server_answered(monkeypatch):
    """A password prompt proves the session is served: a slow answer after it is no stall."""
    monkeypatch.setattr(oc, "STALL_PROBE_FIRST", 0.05)
    server = StalledServer(wake_after=None)
    server.main.pending = [b"ENTER PASSWORD:"]
    server.main.sendall = lambda data: None     # and then nothing
    client = oc.ManagementClient(socket_path="/run/x.sock", timeout=0.5, password="pw",
                                 connector=lambda: server.main, probe_connector=server.probe)
    with pytest.raises(op.ManagementError) as exc:
        client.connect()
    assert exc.value.kind == "timeout" and server.probes == 0


def test_probe_failure_does_not_fail_the_session(monkeypatch):
    monkeypatch.setattr(oc, "STALL_PROBE_FIRST", 0.05)
    server = StalledServer(wake_after=None)

    def refused():
        server.probes += 1
        if server.probes == 2:
            server.main.pending.append(BANNER)
        raise OSError(111, "Connection refused")

    client = oc.ManagementClient(socket_path="/run/x.sock", timeout=2, connector=lambda: server.main,
                                 probe_connector=refused)
    with client:
        assert client.pid() == 42
    assert client.probes == 2


def test_probe_answered_with_a_password_prompt_is_closed_without_a_guess(monkeypatch):
    monkeypatch.setattr(oc, "STALL_PROBE_FIRST", 0.05)
    server = StalledServer(wake_after=1)
    original = server.probe

    def probe():
        sock = original()
        sock.pending = [b"ENTER PASSWORD:"]
        return sock

    client = oc.ManagementClient(socket_path="/run/x.sock", timeout=2, connector=lambda: server.main,
                                 probe_connector=probe)
    with client:
        assert client.pid() == 42
    assert server.probe_socks[0].sent == b"" and server.probe_socks[0].closed


def test_real_unix_socket_probe(tmp_path):
    """Without a connector the probe is a real connection to the same socket."""
    import socket
    import threading
    path = str(tmp_path / "mgmt.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(5)
    accepted = []

    def serve():
        first, _addr = listener.accept()        # the session: no banner yet (stalled)
        second, _addr = listener.accept()       # the probe wakes the server
        accepted.append(second)
        first.sendall(BANNER)
        accepted.append(first.recv(100))        # quit
        first.close()
        second.sendall(BANNER)                  # then the probe is served
        accepted.append(second.recv(100))

    thread = threading.Thread(target=serve)
    thread.daemon = True
    thread.start()
    old = oc.STALL_PROBE_FIRST
    oc.STALL_PROBE_FIRST = 0.1
    try:
        client = oc.ManagementClient(socket_path=path, timeout=3)
        client.connect()
        assert client.probes == 1 and client.management_version == 5
        client.close()
        thread.join(3)
        assert accepted[1:] == [b"quit\n", b"quit\n"]
    finally:
        oc.STALL_PROBE_FIRST = old
        thread.join(3)
        listener.close()
        if accepted:
            accepted[0].close()
