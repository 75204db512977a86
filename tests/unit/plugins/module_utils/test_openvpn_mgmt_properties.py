# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based tests (hypothesis) of every OpenVPN management parser and validator.

No input makes a parser or validator fail other than with the module's own error
(:class:`ManagementError`, ``kind='invalid'`` for a validator); nothing but whole
lines without control bytes ever reaches the socket; quoting round-trips.
"""

from __future__ import absolute_import, division, print_function

import os
import socket
import sys

from hypothesis import given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op, _openvpn_state as ost
except ImportError:  # plain pytest from the checkout: the collection is linked under .build
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op, _openvpn_state as ost

# Text weighted towards what matters to the parsers: quotes, backslashes,
# separators, control characters, digits, multibyte characters.
SPECIAL = st.sampled_from(list(" \t\n\r\x00\x7f\"'\\#;,:[]./-@C")
                          + [u"\u00e4", u"\u2028", u"\udcff", "udp4:", "tcp6-server:", "::", "END", "UNDEF"])
TEXT = st.one_of(st.text(), st.lists(st.one_of(SPECIAL, st.text(max_size=3)), max_size=30).map("".join))
SAFE_TEXT = TEXT.filter(lambda t: not oc._CONTROL_RE.search(t))

TAGS = st.sampled_from(["TITLE", "TIME", "HEADER", "CLIENT_LIST", "ROUTING_TABLE", "GLOBAL_STATS", "END",
                        "OpenVPN CLIENT LIST", "ROUTING TABLE", "GLOBAL STATS", "Updated", "OpenVPN STATISTICS",
                        "Common Name", "Virtual Address", "Real Address", "Last Ref", "Client ID",
                        "Connected Since (time_t)", "Bytes Sent", "Username", "Last Ref (time_t)"])
FIELD = st.one_of(TAGS, TEXT, st.integers().map(str))
STATUS_LINE = st.builds(lambda fields, sep: sep.join(fields), st.lists(FIELD, max_size=8),
                        st.sampled_from([",", "\t"]))
STATUS = st.lists(st.one_of(STATUS_LINE, TEXT), max_size=25)


def own_error_only(func, *args):
    try:
        return func(*args)
    except op.ManagementError as exc:
        assert exc.kind in ("invalid", "protocol"), exc.kind
        return exc


# ------------------------------------------------------------------ validators

@given(TEXT)
def test_check_line(text):
    result = own_error_only(oc.check_line, text)
    if isinstance(result, bytes):
        assert len(result) <= oc.MAX_LINE_BYTES
        assert not any(byte < 0x20 or byte == 0x7F for byte in bytearray(result))
        assert result.decode("utf-8") == text
    else:
        assert result.kind == "invalid"


@given(TEXT)
def test_split_command(text):
    result = own_error_only(oc.split_command, text)
    if isinstance(result, list):
        assert len(result) <= oc.MAX_PARAMS
        assert all(len(word.encode("utf-8")) <= oc.MAX_PARAM_BYTES for word in result)
        assert bool(oc.command_is_read_only(text)) in (True, False)
    else:
        assert result.kind == "invalid"


@given(TEXT)
def test_command_is_read_only(text):
    result = own_error_only(oc.command_is_read_only, text)
    assert result in (True, False) or result.kind == "invalid"


@given(TEXT)
def test_quote_argument_round_trips(text):
    quoted = own_error_only(oc.quote_argument, text)
    if isinstance(quoted, op.ManagementError):
        assert quoted.kind == "invalid"
        assert oc._CONTROL_RE.search(text) or len(text.encode("utf-8", "surrogatepass")) > oc.MAX_PARAM_BYTES \
            or any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    else:
        assert oc.split_command("client-kill 4 " + quoted) == ["client-kill", "4", text]


@given(st.integers(min_value=0, max_value=2 ** 32 - 1), st.sampled_from(["halt", "restart"]), st.one_of(st.none(), TEXT))
def test_client_kill_command(cid, kill, message):
    command = own_error_only(ost.client_kill_command, cid, kill, message)
    if isinstance(command, str):
        words = oc.split_command(command)
        assert words[:2] == ["client-kill", str(cid)]
        assert words[2].startswith(kill.upper()) and words[2].endswith(message or "")


@given(TEXT, st.one_of(st.none(), st.sampled_from(["udp4", "tcp6-server", "udp"])), st.sampled_from([5, 6]))
def test_address_kill_command(address, proto, version):
    command = own_error_only(ost.address_kill_command, {"real_address": address, "proto": proto}, version)
    if isinstance(command, str):
        words = oc.split_command(command)
        assert len(words) == 2 and words[0] == "kill" and words[1].endswith(address)


@given(TEXT)
def test_c_atoi(text):
    value = oc.c_atoi(text)
    assert -2 ** 31 <= value < 2 ** 31
    if text.isdigit() and text.isascii() and int(text) < 2 ** 31:
        assert value == int(text)


OPTION_VALUE = st.one_of(st.none(), TEXT, st.lists(TEXT, max_size=3), st.integers(), st.floats(),
                         st.lists(st.integers(), max_size=3))


@given(st.fixed_dictionaries({}, optional={
    "socket": st.one_of(st.none(), TEXT), "host": st.one_of(st.none(), TEXT),
    "port": st.one_of(st.none(), st.integers()), "password": st.one_of(st.none(), TEXT),
    "kill_message": st.one_of(st.none(), TEXT),
    "common_name": OPTION_VALUE.filter(lambda v: not isinstance(v, (int, float))),
    "real_address": st.lists(TEXT, max_size=3), "username": st.lists(TEXT, max_size=3),
    "client_id": st.lists(st.integers(), max_size=3),
    "timeout": st.one_of(st.none(), st.floats(), st.integers()),
}))
def test_client_from_params(params):
    params.setdefault("socket", "/run/x.sock")
    opened = []
    result = own_error_only(oc.client_from_params, params, lambda: opened.append(1))
    if isinstance(result, op.ManagementError):
        assert result.kind == "invalid"
    assert not opened


# --------------------------------------------------------------------- parsers

@given(STATUS)
def test_parse_status(lines):
    status = op.parse_status(lines)
    assert set(["clients", "routes", "global_stats", "rejected"]) <= set(status)
    for row in status["clients"] + status["routes"]:
        if "real_address" in row:
            assert row["real_port"] is None or isinstance(row["real_port"], int)
    for row in status["routes"]:
        assert row["cached"] in (True, False)


@given(st.lists(st.one_of(TEXT, st.builds(lambda v: "OpenVPN Version: OpenVPN " + v, TEXT),
                          st.builds(lambda v: "Management Version: " + v, TEXT)), max_size=5))
def test_parse_version(lines):
    version = op.parse_version(lines)
    assert version["openvpn"] is None or isinstance(version["openvpn"], str)
    assert version["management"] is None or isinstance(version["management"], int)


@given(TEXT)
def test_parse_title(title):
    parsed = op.parse_title(title)
    assert isinstance(parsed["features"], list)
    if parsed["openvpn"] is not None:
        assert title.split()[1] == parsed["openvpn"] or title.startswith("OpenVPN")


@given(TEXT)
def test_split_real_address(value):
    proto, address, host, port = op.split_real_address(value)
    assert op._split_real_address_fast(value) == (proto, address, host, port)
    assert value.endswith(address)
    assert host in address
    if port is not None:
        assert address.endswith(":" + str(port)) or address.endswith(":" + value.rsplit(":", 1)[1])


@given(st.ip_addresses(), st.one_of(st.none(), st.integers(min_value=0, max_value=65535)),
       st.one_of(st.none(), st.sampled_from(["udp4", "udp6", "tcp4-server", "tcp6-server", "tcp4-client"])))
def test_split_real_address_of_every_printed_form(ip, port, proto):
    """The forms OpenVPN prints (mroute_addr_print) split back to what was printed."""
    text = str(ip)
    if port is not None:
        text = ("[%s]:%d" if ip.version == 6 else "%s:%d") % (text, port)
    if proto:
        text = proto + ":" + text
    got_proto, _address, host, got_port = op.split_real_address(text)
    assert (got_proto, host, got_port) == (proto, str(ip), port)


@given(TEXT)
def test_parse_state_line(line):
    state = op.parse_state_line(line)
    assert state["time"] is None or isinstance(state["time"], int)


@given(st.lists(TEXT, max_size=6))
def test_parse_state_and_history(lines):
    assert isinstance(op.parse_state(lines), dict)


@given(TEXT)
def test_small_reply_parsers(text):
    for parser in (op.parse_load_stats, op.parse_pid, op.parse_hold):
        own_error_only(parser, text)


@given(st.lists(TEXT, min_size=1, max_size=6).map(lambda lines: [">" + line for line in lines]))
def test_parse_notification(lines):
    note = op.parse_notification(lines)
    assert note["raw"] == lines


# ------------------------------------------------- the client on hostile bytes

class ScriptSocket(object):
    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.sent = b""

    def settimeout(self, value):
        pass

    def sendall(self, data):
        self.sent += data

    def recv(self, size):
        if not self.chunks:
            raise socket.timeout()
        chunk = self.chunks.pop(0)
        if chunk is None:
            return b""
        return chunk


BYTES = st.one_of(st.binary(max_size=40), st.sampled_from([
    b"\r\n", b"END\r\n", b"SUCCESS: pid=1\r\n", b"ERROR: x\r\n", b">CLIENT:CONNECT,1,2\r\n", b">CLIENT:ENV,a=b\r\n",
    b">CLIENT:ENV,END\r\n", b">HOLD:Waiting for hold release:0\r\n", b"ENTER PASSWORD:", b"\xff\xfe",
    b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(BYTES, st.none()), max_size=8), st.sampled_from(["pid", "status 3", "state on all",
                                                                          "test 2", "log all on", "version"]),
       st.one_of(st.none(), SAFE_TEXT.filter(lambda t: len(t.encode("utf-8", "replace")) < 100)))
def test_client_on_arbitrary_server_bytes(chunks, command, password):
    banner = b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"
    sock = ScriptSocket([banner] + chunks)
    try:
        client = oc.ManagementClient(socket_path="/run/x.sock", timeout=0.05, password=password,
                                     connector=lambda: sock)
        client.connect()
        client.command(command, check=False)
        client.close()
    except op.ManagementError as exc:
        assert exc.kind in ("invalid", "protocol", "timeout", "busy", "connection_lost", "auth_failed",
                            "auth_required", "permission_denied"), exc.kind
    # whatever happened, only whole lines without control bytes were sent
    assert sock.sent == b"" or sock.sent.endswith(b"\n")
    for line in sock.sent.split(b"\n")[:-1]:
        assert not any(byte < 0x20 or byte == 0x7F for byte in bytearray(line))


@settings(max_examples=100, deadline=None)
@given(TEXT, st.one_of(st.none(), TEXT))
def test_nothing_but_clean_lines_reach_the_socket(command, password):
    banner = b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"
    sock = ScriptSocket([b"ENTER PASSWORD:", b"SUCCESS: password is correct\r\n", banner, b"ERROR: x\r\n"]
                        if password is not None else [banner, b"ERROR: x\r\n"])
    try:
        client = oc.ManagementClient(socket_path="/run/x.sock", timeout=0.05, password=password,
                                     connector=lambda: sock)
        client.connect()
        client.command(command, check=False)
    except op.ManagementError as exc:
        assert exc.kind in ("invalid", "timeout", "busy", "protocol"), exc.kind
    for line in sock.sent.split(b"\n")[:-1]:
        assert not any(byte < 0x20 or byte == 0x7F for byte in bytearray(line))
        assert len(line) <= oc.MAX_LINE_BYTES
    sent_lines = sock.sent.split(b"\n")[:-1]
    assert len(sent_lines) <= (2 if password is not None else 1)
