# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenVPN parsers on outputs other projects captured from real servers.

Fixtures: tests/unit/fixtures/openvpn/peer/*.txt, each with its origin in
tests/unit/fixtures/openvpn/peer/SOURCES (OpenVPN 2.3 to 2.7, status versions 1, 2
and 3, client mode, IPv6 and v4-mapped real addresses, 2.7 protocol prefixes,
cached routes, version strings with build tags).  Replies are also played
through the client over a fake socket, with the CRLF line ends the server writes.
"""

from __future__ import absolute_import, division, print_function

import os
import socket
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op
except ImportError:  # plain pytest from the checkout: the collection is linked under .build
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op

PEER = os.path.join(REPO, "tests", "unit", "fixtures", "openvpn", "peer")
CAPTURES = sorted(name for name in os.listdir(PEER) if name.endswith(".txt"))
BANNER = b">INFO:OpenVPN Management Interface Version 1 -- type 'help' for more info\r\n"


def raw(name):
    with open(os.path.join(PEER, name), "rb") as handle:
        return handle.read()


def wire(name):
    """The capture as the server writes it: every line ended by CRLF."""
    return b"".join(line.rstrip(b"\r") + b"\r\n" for line in raw(name).split(b"\n") if line.rstrip(b"\r"))


def lines(name):
    return [line.rstrip("\r") for line in raw(name).decode("utf-8").split("\n") if line.rstrip("\r")]


class OneReplySocket(object):
    """Banner, then the capture as the reply to the first command."""

    def __init__(self, reply):
        self.chunks = [BANNER]
        self.reply = reply
        self.sent = b""

    def settimeout(self, value):
        pass

    def sendall(self, data):
        self.sent += data
        if data != b"quit\n":
            self.chunks.append(self.reply)

    def recv(self, size):
        if not self.chunks:
            raise socket.timeout()
        return self.chunks.pop(0)

    def close(self):
        pass


def through_client(name, command):
    sock = OneReplySocket(wire(name))
    with oc.ManagementClient(socket_path="/run/x.sock", timeout=2, connector=lambda: sock) as client:
        reply = client.command(command)
        return reply, client.pop_notifications()


def test_every_capture_has_its_source():
    with open(os.path.join(PEER, "SOURCES")) as handle:
        sources = handle.read()
    for name in CAPTURES:
        assert "\n%s\n  repo: " % name in sources, name


@pytest.mark.parametrize("name", CAPTURES)
def test_no_capture_breaks_a_parser(name):
    text = lines(name)
    op.parse_status(text)
    op.parse_version(text)
    op.parse_state(text)
    for line in text:
        op.parse_state_line(line)
        op.split_real_address(line)


# ---------------------------------------------------------------- status forms

def test_status3_ipv6_and_v4_mapped_real_addresses():
    reply, _notes = through_client("furlongm-openvpn-monitor__listen-status3-ipv6.txt", "status 3")
    status = op.parse_status(reply.lines)
    assert status["title"].startswith("OpenVPN 2.3.10")
    got = [(c["real_address"], c["real_ip"], c["real_port"], c["proto"]) for c in status["clients"]]
    assert got == [
        ("::ffff:59.167.120.210", "::ffff:59.167.120.210", None, None),
        ("59.167.120.211:12345", "59.167.120.211", 12345, None),
        ("2001:4860:4801:3::20", "2001:4860:4801:3::20", None, None),   # bare IPv6: no port
    ]
    assert [r["real_ip"] for r in status["routes"]] == [c[1] for c in got]
    assert status["clients"][0]["username"] == "furlongm" and status["clients"][0]["connected_since"] == 1458729615
    assert status["rejected"] == []


def test_status3_v23_without_client_id_columns():
    status = op.parse_status(lines("furlongm-openvpn-monitor__status3-v23-ipv6.txt"))
    assert [c["common_name"] for c in status["clients"]] == ["host1", "user2"]
    assert status["clients"][1]["real_ip"] == "2001:4860:4801:3::20" and status["clients"][1]["real_port"] is None
    assert "client_id" not in status["clients"][0]


def test_status3_v26():
    status = op.parse_status(lines("furlongm-openvpn-monitor__status3-v26.txt"))
    (client,) = status["clients"]
    assert client["real_address"] == "203.0.113.5:52137" and client["proto"] is None
    assert client["client_id"] == 0 and client["cipher"] == "AES-256-GCM" and client["username"] == "richard"


@pytest.mark.parametrize("name", ["furlongm-openvpn-monitor__status3-v27.txt",
                                  "furlongm-openvpn-monitor__status3-v27-dualstack.txt"])
def test_status3_v27_protocol_prefix(name):
    status = op.parse_status(lines(name))
    client = status["clients"][0]
    assert client["proto"] == "udp4" and client["real_port"] in (52137, 34908)
    assert client["real_address"] == "%s:%d" % (client["real_ip"], client["real_port"])
    assert all(r["proto"] == "udp4" and r["cached"] is False for r in status["routes"])
    assert status["global_stats"]["dco_enabled"] in (0, 1)


def test_status3_v27_dualstack_ipv6_route():
    status = op.parse_status(lines("furlongm-openvpn-monitor__status3-v27-dualstack.txt"))
    assert status["clients"][0]["virtual_ipv6_address"] == "2a00:dcc0:dead:a05b:8000::1001"
    assert [r["virtual_address"] for r in status["routes"]] == ["2a00:dcc0:dead:a05b:8000::1001", "10.29.12.2"]


def test_status3_empty_with_git_build_title():
    status = op.parse_status(lines("jkroepke-openvpn-auth-oauth2__status3-empty-2.6.9.txt"))
    assert status["clients"] == [] and status["routes"] == [] and status["rejected"] == []
    title = op.parse_title(status["title"])
    assert title["openvpn"] == "2.6.9" and title["git"] == "release/2.6/6640a10bf6d84eee"
    assert title["platform"] == "x86_64-pc-linux-gnu" and "DCO" in title["features"]


@pytest.mark.parametrize("name, sep", [("kumina-openvpn_exporter__server2-status2.txt", ","),
                                       ("kumina-openvpn_exporter__server3-status3.txt", "\t")])
def test_status_2_and_3_of_openvpn_23(name, sep):
    status = op.parse_status(lines(name))
    assert status["updated"] == 1490089154
    assert status["clients"][3]["bytes_sent"] == 70914674697
    assert all(c["username"] is None for c in status["clients"])    # UNDEF
    assert all(c["real_ip"] == "0.0.0.0" for c in status["clients"])
    assert status["rejected"] == []


@pytest.mark.parametrize("name", ["patrickjahns-openvpn_exporter__version2-status.txt",
                                  "patrickjahns-openvpn_exporter__version3-status.txt"])
def test_status_2_and_3_of_openvpn_24_without_cipher(name):
    status = op.parse_status(lines(name))
    assert [(c["common_name"], c["client_id"], c["real_port"]) for c in status["clients"]] == [
        ("test@localhost", 0, 54190), ("test1@localhost", 1, 51053)]
    assert "cipher" not in status["clients"][0]


# ------------------------------------------------------------------- status 1

def test_status1_cached_routes_and_edge_rows():
    status = op.parse_status(lines("kellyjonbrazil-jc__status-v1-edge-rows.txt"))
    assert len(status["clients"]) == 6
    assert status["clients"][5]["real_address"] == "10.10.10.10" and status["clients"][5]["real_port"] is None
    routes = dict(((r["virtual_address"], r["cached"]), r) for r in status["routes"])
    assert ("192.168.255.126", True) in routes and ("192.168.255.126", False) in routes
    assert ("192.168.255.16", True) in routes and ("192.168.255.1", True) in routes
    assert ("10.200.0.0/16", False) in routes and ("2001:db8::1000/124", False) in routes
    assert ("22:1d:63:bf:62:38", False) in routes   # a TAP (MAC) route
    assert routes[("192.168.255.1", False)]["real_port"] is None
    assert status["global_stats"] == {"max_bcast_mcast_queue_length": 0}


@pytest.mark.parametrize("name", ["tonyseek-openvpn-status__status-v1.txt", "Jamie--openvpn-api__status-v1.txt",
                                  "patrickjahns-openvpn_exporter__version1-status.txt"])
def test_status1(name):
    status = op.parse_status(lines(name))
    assert status["clients"] and status["routes"] and status["rejected"] == []
    assert all(c["real_port"] for c in status["clients"])
    assert "end" not in status["global_stats"]


def test_status1_through_the_client():
    reply, _notes = through_client("Jamie--openvpn-api__status-v1.txt", "status 1")
    status = op.parse_status(reply.lines)
    assert [(c["common_name"], c["real_ip"], c["real_port"]) for c in status["clients"]] == [
        ("testclient", "1.2.3.4", 12345)]


def test_status1_v4_mapped_without_routes():
    status = op.parse_status(lines("patrickjahns-openvpn_exporter__duplicate-v1-no-routes.txt"))
    assert [c["real_ip"] for c in status["clients"]] == [
        "::ffff:1.1.1.1", "::ffff:2.2.2.2", "::ffff:2.2.2.2", "::ffff:3.3.3.3", "::ffff:4.4.4.4"]
    assert status["routes"] == []


def test_client_mode_statistics():
    status = op.parse_status(lines("kumina-openvpn_exporter__client-mode-status.txt"))
    assert status["clients"] == [] and status["title"] == "OpenVPN STATISTICS"
    assert status["statistics"]["tun_tap_read_bytes"] == 153789941
    assert status["statistics"]["post_decompress_bytes"] == 216965355


# -------------------------------------------------------------------- version

@pytest.mark.parametrize("name, openvpn, platform, git, management", [
    ("Jamie--openvpn-api__version-2.4.4.txt", "2.4.4", "x86_64-pc-linux-gnu", None, 1),
    ("furlongm-openvpn-monitor__version-2.3.10.txt", "2.3.10", "x86_64-pc-linux-gnu", None, 1),
    ("furlongm-openvpn-monitor__version-2.7.0-git.txt", "2.7.0", "x86_64-pc-linux-gnu",
     "makepkg/ee1577744fb09af7+", 5),
])
def test_version(name, openvpn, platform, git, management):
    reply, _notes = through_client(name, "version")
    version = op.parse_version(reply.lines)
    assert version["openvpn"] == openvpn and version["platform"] == platform and version["git"] == git
    assert version["management"] == management
    assert version["openvpn_tuple"] == [int(x) for x in openvpn.split(".")]
    assert "SSL (OpenSSL)" in version["features"] and not any(f.startswith("git:") for f in version["features"])
    assert version["built_on"]


@pytest.mark.parametrize("title, openvpn, platform, features", [
    ("OpenVPN 2.6.8 Windows-MSVC [SSL (OpenSSL)] [LZO] [LZ4] [PKCS11] [AEAD] [DCO] built on Nov 17 2023",
     "2.6.8", "Windows-MSVC", ["SSL (OpenSSL)", "LZO", "LZ4", "PKCS11", "AEAD", "DCO"]),
    ("OpenVPN 2.6.12 amd64-portbld-freebsd14.1 [SSL (OpenSSL)] [LZO] [LZ4] [MH/RECVDA] [AEAD]",
     "2.6.12", "amd64-portbld-freebsd14.1", ["SSL (OpenSSL)", "LZO", "LZ4", "MH/RECVDA", "AEAD"]),
    ("OpenVPN 2.6.0 x86_64-apple-darwin22.3.0 [SSL (OpenSSL)] [LZO] [LZ4] [PKCS11] [MH/RECVDA] [AEAD]",
     "2.6.0", "x86_64-apple-darwin22.3.0", ["SSL (OpenSSL)", "LZO", "LZ4", "PKCS11", "MH/RECVDA", "AEAD"]),
    ("OpenVPN 2.7_rc2 [git:v2.7_rc2/1234abcd] aarch64-unknown-linux-gnu [SSL (mbed TLS)]",
     "2.7_rc2", "aarch64-unknown-linux-gnu", ["SSL (mbed TLS)"]),
    ("OpenVPN 2.3.10", "2.3.10", None, []),
    ("something else", None, None, []),
])
def test_title_forms(title, openvpn, platform, features):
    parsed = op.parse_title(title)
    assert parsed["openvpn"] == openvpn and parsed["platform"] == platform and parsed["features"] == features
    version = op.parse_version(["OpenVPN Version: " + title, "Management Version: 5"])
    assert version["openvpn"] == openvpn and version["platform"] == platform


# ---------------------------------------------------------- state, load-stats

def test_state_client_and_server_forms():
    assert op.parse_state(lines("Jamie--openvpn-api__state.txt"))["local_port"] == 1194
    client = op.parse_state(lines("furlongm-openvpn-monitor__state-client.txt"))
    assert client["state"] == "CONNECTED" and client["remote_ip"] == "192.168.1.1"
    server = op.parse_state(lines("furlongm-openvpn-monitor__state-server-v27-ipv6.txt"))
    assert server["local_ipv6"] == "2a00:dcc0:dead:a05b:8000::2" and server["local_port"] is None
    assert op.parse_state(lines("furlongm-openvpn-monitor__state-server.txt"))["local_ip"] == "10.10.10.1"


def test_load_stats_after_a_notification():
    reply, notes = through_client("Jamie--openvpn-api__load-stats-after-info.txt", "load-stats")
    assert op.parse_load_stats(reply.text) == {"nclients": 3, "bytesin": 129822996, "bytesout": 126946564}
    assert [n["source"] for n in notes] == ["INFO"]
    assert op.parse_load_stats(lines("furlongm-openvpn-monitor__load-stats.txt")[0][len("SUCCESS: "):])["nclients"] == 3


# ------------------------------------------------------------- notifications

def test_client_events_through_the_client():
    sock = OneReplySocket(wire("Jamie--openvpn-api__client-connect-event.txt")
                          + wire("Jamie--openvpn-api__client-address-event.txt") + b"SUCCESS: pid=7\r\n")
    with oc.ManagementClient(socket_path="/run/x.sock", timeout=2, connector=lambda: sock) as client:
        assert client.pid() == 7
        connect, address = client.pop_notifications()
    assert connect["event"] == "CONNECT" and connect["args"] == ["14", "43"]
    assert connect["env"] == {"common_name": "test_cn", "time_unix": "12343212343"}
    assert address["event"] == "ADDRESS" and address["args"] == ["14", "3", "1.1.1.1"]


def test_real_client_connect_block():
    text = lines("jkroepke-openvpn-auth-oauth2__client-connect-real.txt")
    note = op.parse_notification(text)
    assert note["event"] == "CONNECT" and note["args"] == ["0", "1"]
    assert note["env"]["common_name"] == "user@example.com"
    assert note["env"]["IV_SSO"] == "webauth,openurl,crtext"
    assert note["env"]["untrusted_ip"] == "192.168.65.1"


def test_state_notification_from_a_log():
    line = lines("pl48415-openvpn-install-advanced__state-wait-notification.txt")[0]
    note = op.parse_notification([line[line.index(">"):]])
    assert note["source"] == "STATE" and note["state"]["state"] == "WAIT" and note["state"]["time"] == 1452594039
