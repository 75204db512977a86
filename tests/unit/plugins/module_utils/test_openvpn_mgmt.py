# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenVPN management client and parsers, on transcripts recorded from real servers.

Fixtures: tests/unit/fixtures/openvpn/<version>/*.json (tests/capture/capture_openvpn.py),
OpenVPN 2.6.14 (management version 5) and 2.7.8 (management version 6).
"""

from __future__ import absolute_import, division, print_function

import os
import socket
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op, _openvpn_state as ost
except ImportError:  # plain pytest from the checkout: the collection is linked under .build
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op, _openvpn_state as ost
sys.path.insert(0, os.path.join(REPO, "tests", "unit", "fixtures", "openvpn"))
import replay  # noqa: E402  pylint: disable=wrong-import-position

VERSIONS = replay.VERSIONS
MGMT = {"2.6.14": 5, "2.7.8": 6}


def test_both_versions_recorded():
    """Each release's transcripts report the release their folder is named after."""
    found = {}
    for version in VERSIONS:
        with client_for(replay.CommandSocket(replay.load(version, "basics"))) as c:
            found[version] = (c.version()["openvpn"], c.management_version)
    assert found == {"2.6.14": ("2.6.14", 5), "2.7.8": ("2.7.8", 6)}


def client_for(sock, **kwargs):
    kwargs.setdefault("socket_path", "/run/test.sock")
    kwargs.setdefault("timeout", 2)
    return oc.ManagementClient(connector=lambda: sock, **kwargs)


def block(transcript, command):
    """The lines of the reply to ``command`` in a transcript (for the parsers)."""
    sock = replay.CommandSocket(transcript)
    client = client_for(sock).connect()
    return client.command(command).lines


def _keys(status):
    return sorted((x["client_id"], x["common_name"], x["real_address"]) for x in status["clients"])


# ----------------------------------------------------------------- session flow

@pytest.mark.parametrize("version", VERSIONS)
def test_basics_replayed_in_order(version):
    t = replay.load(version, "basics")
    sock = replay.ReplaySocket(t)
    with client_for(sock) as c:
        assert c.management_version == MGMT[version]
        assert c.banner.startswith(">INFO:OpenVPN Management Interface Version %d" % MGMT[version])
        pid = c.pid()
        assert isinstance(pid, int) and pid > 1
        v = c.version()
        assert v["openvpn"] == version and v["management"] == MGMT[version]
        assert v["platform"] == "x86_64-pc-linux-gnu" and "DCO" in v["features"]
        assert v["openvpn_tuple"][:2] == [2, int(version.split(".")[1])]
        st = c.state()
        assert st["state"] == "CONNECTED" and st["description"] == "SUCCESS"
        assert isinstance(st["time"], int) and st["local_port"] == st["local_port"] and st["local_address"] == "127.0.0.1"
        hist = [op.parse_state_line(line) for line in c.command("state all").lines]
        assert [h["state"] for h in hist][-1] == "CONNECTED" and hist[0]["state"] == "CONNECTING"
        ls = c.load_stats()
        assert ls["nclients"] == 3 and ls["bytesin"] > 0 and ls["bytesout"] > 0
        assert c.hold() == 0
        s0 = op.parse_status(c.command("status").lines)
        s1 = op.parse_status(c.command("status 1").lines)
        assert s0["clients"] == s1["clients"] and len(s1["clients"]) == 3
        s2 = c.status(2)
        s3 = c.status(3)
        for s in (s2, s3):
            assert len(s["clients"]) == 3 and len(s["routes"]) == 3 and not s["rejected"]
        # status 2 and 3 carry the same data (taken a moment apart: counters may move)
        assert _keys(s2) == _keys(s3)
        err = c.command("status 4", check=False)
        assert err.kind == "error" and err.text == "bad status format version number"
        assert c.command("help").kind == "lines"
        with pytest.raises(oc.CommandError) as exc:
            c.command("foo")
        assert exc.value.kind == "command_error" and "unknown command" in exc.value.msg
        assert "'foo'" in exc.value.msg


@pytest.mark.parametrize("version", VERSIONS)
def test_every_reply_consumed_before_next_command(version):
    """Strict replay: the client sends each command only after the previous reply, quit last."""
    t = replay.load(version, "basics")
    sock = replay.ReplaySocket(t)
    commands = [e["data"].rstrip("\n") for e in t["events"] if e["dir"] == "send"]
    c = client_for(sock).connect()
    replies = {}
    for cmd in commands:
        if cmd == "quit":
            break
        replies[cmd] = c.command(cmd, check=False)
    c.close()
    assert sock.sent.decode() == "".join(e["data"] for e in t["events"] if e["dir"] == "send")
    assert sock.sent.endswith(b"log 3\nquit\n")
    assert replies["help"].kind == "lines" and replies["help"].lines[-1].startswith(("push-update", "version", "verb"))
    assert replies["foo"].kind == "error" and "unknown command" in replies["foo"].text
    assert replies["kill"].text == "the 'kill' command requires 1 parameter"
    assert replies["kill nosuchcn"].text == "common name 'nosuchcn' not found"
    assert replies["client-kill 9999"].text == "client-kill command failed"
    assert replies["client-kill abc"].text == "cannot parse CID"
    assert replies["signal SIGFOO"].text == "signal 'SIGFOO' is not a known signal type"
    assert replies["verb"].kind == "success" and replies["verb"].text == "verb=3"
    assert replies["echo all"].kind == "lines" and replies["echo all"].lines == []
    assert len(replies["test 3"].lines) == 3 and replies["test 3"].lines[2].startswith("[2] The purpose")
    assert all(line.split(",")[0].isdigit() for line in replies["log 3"].lines)
    if version == "2.7.8":
        # 2.7 reads a bare IP:port as a common name
        assert replies["kill 127.0.0.1:1"].text == "common name '127.0.0.1' not found"
    else:
        assert replies["kill 127.0.0.1:1"].text == "client at address 127.0.0.1:1 not found"


@pytest.mark.parametrize("version", VERSIONS)
def test_quit_in_same_write_discards_output(version):
    """Why the client never sends quit together with a command: the reply is lost."""
    t = replay.load(version, "quit_same_write")
    received = "".join(e.get("data", "") for e in t["events"] if e["dir"] == "recv")
    assert "SUCCESS: pid" not in received and received.startswith(">INFO:")
    assert any(e["dir"] == "eof" for e in t["events"])


@pytest.mark.parametrize("version", VERSIONS)
def test_password_right(version):
    t = replay.load(version, "password_ok")
    sock = replay.ReplaySocket(t)
    with client_for(sock, password="capture-secret") as c:
        assert c.management_version == MGMT[version]
        assert isinstance(c.pid(), int)
    assert sock.sent.startswith(b"capture-secret\n")


@pytest.mark.parametrize("version", VERSIONS)
def test_password_wrong_is_reported(version):
    t = replay.load(version, "password_wrong")
    sock = replay.ReplaySocket(t)
    with pytest.raises(op.ManagementError) as exc:
        client_for(sock, password="wrong0").connect()
    assert exc.value.kind == "auth_failed" and "wrong password" in exc.value.msg
    assert sock.sent == b"wrong0\n" and sock.closed


@pytest.mark.parametrize("version", VERSIONS)
def test_password_required_but_not_given(version):
    t = replay.load(version, "password_wrong")
    with pytest.raises(op.ManagementError) as exc:
        client_for(replay.ReplaySocket(t)).connect()
    assert exc.value.kind == "auth_required" and "password_file" in exc.value.msg


@pytest.mark.parametrize("version", VERSIONS)
def test_busy_interface(version):
    """connect() succeeds, no banner: busy, and nothing was sent that would run later."""
    t = replay.load(version, "busy")
    sock = replay.ReplaySocket(t, strict=False)
    with pytest.raises(op.ManagementError) as exc:
        client_for(sock).connect()
    assert exc.value.kind == "busy"
    assert "another management client holds the interface" in exc.value.msg
    assert sock.sent == b"" and sock.closed
    # the recording shows what a sender would have risked: its command ran once the holder quit
    recv = [e["data"] for e in t["events"] if e["dir"] == "recv"]
    assert recv[0].startswith(">INFO:") and "SUCCESS: pid=" in recv[0]


def test_busy_real_socket_waits_then_succeeds(tmp_path):
    """A listener that accepts but answers only after a delay: the client waits within its timeout."""
    import threading

    t = replay.load("2.6.14", "basics")
    banner = [e for e in t["events"] if e["dir"] == "recv"][0]["data"].encode("latin-1")
    pid_reply = b"SUCCESS: pid=4242\r\n"
    path = str(tmp_path / "mgmt.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve(delay):
        conn = server.accept()[0]
        time.sleep(delay)
        try:
            conn.sendall(banner)
        except OSError:  # the client gave up (busy): expected in the second half
            conn.close()
            return
        data = b""
        while b"\n" not in data:
            data += conn.recv(100)
        conn.sendall(pid_reply)
        while True:
            chunk = conn.recv(100)
            if not chunk:
                break
            data += chunk
        conn.close()
        received.append(data)

    received = []
    thread = threading.Thread(target=serve, args=(0.6,))
    thread.start()
    start = time.time()
    with oc.ManagementClient(socket_path=path, timeout=3) as c:
        assert c.pid() == 4242
    thread.join(5)
    assert 0.5 < time.time() - start < 3
    assert received == [b"pid\nquit\n"]

    # and the same with a holder that stays too long: busy after the timeout, not a hang
    thread = threading.Thread(target=serve, args=(1.5,))
    thread.start()
    start = time.time()
    with pytest.raises(op.ManagementError) as exc:
        oc.ManagementClient(socket_path=path, timeout=0.5).connect()
    assert exc.value.kind == "busy" and 0.4 < time.time() - start < 1.4
    thread.join(5)
    server.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_refused_by_management_client_user(version):
    t = replay.load(version, "refused")
    with pytest.raises(op.ManagementError) as exc:
        client_for(replay.ReplaySocket(t)).connect()
    assert exc.value.kind == "permission_denied"
    assert "management-client-user" in exc.value.msg


def test_missing_socket(tmp_path):
    path = str(tmp_path / "nope.sock")
    with pytest.raises(op.ManagementError) as exc:
        oc.ManagementClient(socket_path=path, timeout=1).connect()
    assert exc.value.kind == "not_found" and path in exc.value.msg


def test_stale_socket(tmp_path):
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # file stays, nobody listens
    with pytest.raises(op.ManagementError) as exc:
        oc.ManagementClient(socket_path=path, timeout=1).connect()
    assert exc.value.kind == "unreachable" and "stale" in exc.value.msg


def test_tcp_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(op.ManagementError) as exc:
        oc.ManagementClient(host="127.0.0.1", port=port, timeout=1).connect()
    assert exc.value.kind == "unreachable" and str(port) in exc.value.msg


@pytest.mark.parametrize("version", VERSIONS)
def test_eof_mid_reply(version):
    """The server dies while answering: a clear error, no hang."""
    t = replay.load(version, "basics")
    events = []
    for e in t["events"]:
        events.append(e)
        if e["dir"] == "send" and e["data"] == "status 2\n":
            break
    reply = [e for e in t["events"] if e["dir"] == "recv" and e["data"].startswith("TITLE,")][0]["data"]
    events.append({"dir": "recv", "data": reply[: len(reply) // 2]})
    events.append({"dir": "eof"})
    sock = replay.ReplaySocket({"events": events}, strict=False)
    c = client_for(sock).connect()
    for e in t["events"]:
        if e["dir"] == "send" and e["data"] != "status 2\n":
            c.command(e["data"].rstrip("\n"), check=False)
        elif e["dir"] == "send":
            break
    with pytest.raises(op.ManagementError) as exc:
        c.command("status 2")
    assert exc.value.kind == "connection_lost" and "status 2" in exc.value.msg
    c.close()


# ------------------------------------------------------- real-time notifications

@pytest.mark.parametrize("version", VERSIONS)
def test_kills_with_interleaved_notifications(version):
    t = replay.load(version, "kills")
    sock = replay.ReplaySocket(t)
    commands = [e["data"].rstrip("\n") for e in t["events"] if e["dir"] == "send"]
    c = client_for(sock).connect()
    replies = []
    for cmd in commands[:-1]:
        replies.append((cmd, c.command(cmd, check=False)))
    c.close()
    by_cmd = dict(replies)
    first = op.parse_status(replies[0][1].lines)
    assert sorted(x["common_name"] for x in first["clients"]) == ["client1", "client2", "client3"]
    udp_kill = [r for cmd, r in replies if cmd.startswith("kill udp:")][0]
    bare_kill = [r for cmd, r in replies if cmd.startswith("kill 127.")][0]
    if version == "2.7.8":
        assert udp_kill.kind == "success" and "1 client(s) at address udp:" in udp_kill.text
        assert bare_kill.kind == "error" and "common name '127.0.0.11' not found" == bare_kill.text
    else:
        assert udp_kill.kind == "error" and udp_kill.text == "error parsing IP address: udp"
        assert bare_kill.kind == "success" and "1 client(s) at address 127.0.0.11:" in bare_kill.text
    assert by_cmd["client-kill 1 RESTART"].text == "client-kill command succeeded"
    assert by_cmd['client-kill 2 "HALT,bye from admin"'].kind == "success"
    assert by_cmd["kill client2"].text == "common name 'client2' found, 1 client(s) killed"
    # the >CLIENT:ESTABLISHED block of the reconnecting client came as one notification
    notes = c.pop_notifications()
    est = [n for n in notes if n["source"] == "CLIENT"]
    assert len(est) == 1 and est[0]["event"] == "ESTABLISHED"
    assert est[0]["env"]["common_name"] == "client2" and est[0]["env"]["trusted_ip"] == "127.0.0.12"
    assert est[0]["raw"][-1] == ">CLIENT:ENV,END" and "END" not in est[0]["env"]
    new_cid = int(est[0]["args"][0])
    logs = [n for n in notes if n["source"] == "LOG"]
    assert any("MANAGEMENT: CMD 'client-kill 1 RESTART'" in n["text"] for n in logs)
    # after the RESTART the client is back with the CID announced in the block
    statuses = [op.parse_status(r.lines) for cmd, r in replies if cmd == "status 3"]
    assert [x["client_id"] for x in statuses[1]["clients"] if x["common_name"] == "client2"] == [new_cid]
    assert "client3" in [x["common_name"] for x in statuses[1]["clients"]]
    assert "client3" not in [x["common_name"] for x in statuses[2]["clients"]]
    final = op.parse_status(by_cmd["status 2"].lines)
    assert final["clients"] == [] and final["routes"] == [] and final["global_stats"]["dco_enabled"] == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_hold(version):
    t = replay.load(version, "hold")
    sock = replay.CommandSocket(t)
    c = client_for(sock).connect()
    assert isinstance(c.pid(), int)
    assert c.hold() == 1
    assert c.hold_waiting is True  # >HOLD came right after the banner
    assert c.state()["state"] == "CONNECTING"
    err = c.command("status 3", check=False)
    assert err.kind == "error" and "not supported by the current daemon mode" in err.text
    assert c.command("signal SIGHUP", check=False).text == "signal 'SIGHUP' is currently ignored"
    c.command("state on")
    c.command("hold release")
    note = c.wait_notification(lambda n: n["source"] == "STATE" and n["state"]["state"] == "CONNECTED",
                               time.time() + 1)
    assert note is not None and note["state"]["local_ip"]
    c.command("state off")
    assert c.state()["state"] == "CONNECTED"
    assert c.hold() == 1  # hold release does not clear the flag
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_signals_state_notifications_and_sigterm(version):
    t = replay.load(version, "signals")
    sock = replay.ReplaySocket(t)
    c = client_for(sock).connect()
    seen = []
    for e in t["events"]:
        if e["dir"] != "send":
            continue
        cmd = e["data"].rstrip("\n")
        if cmd == "signal SIGTERM":
            c.command(cmd)
            with pytest.raises(op.ManagementError) as exc:
                c.wait_notification(lambda n: False, time.time() + 1)
            assert exc.value.kind == "connection_lost"
            break
        c.command(cmd, check=False)
        if cmd.startswith("signal "):
            note = c.wait_notification(lambda n: n["source"] == "STATE" and n["state"]["state"] == "CONNECTED",
                                       time.time() + 1)
            assert note is not None
            seen.append(note)
    assert [n["state"]["description"] for n in seen] == ["SUCCESS", "SUCCESS"]
    assert len(seen) == 2
    assert c.sock is None  # closed; no quit sent after the server left
    assert not sock.sent.endswith(b"quit\n")


# -------------------------------------------------------------------- parsers

@pytest.mark.parametrize("version", VERSIONS)
def test_status_parsed_by_header(version):
    t = replay.load(version, "basics")
    s = op.parse_status(block(t, "status 3"))
    assert s["title"].startswith("OpenVPN %s " % version)
    assert isinstance(s["updated"], int)
    clients = dict((x["common_name"], x) for x in s["clients"])
    alice = clients["client3"]
    assert alice["username"] == "alice" and clients["client1"]["username"] is None
    for x in s["clients"]:
        assert isinstance(x["client_id"], int) and isinstance(x["peer_id"], int)
        assert isinstance(x["connected_since"], int) and isinstance(x["bytes_received"], int)
        assert x["cipher"] == "AES-256-GCM" and x["pending"] is False
        assert x["virtual_address"].startswith("10.77.0.") and x["virtual_ipv6_address"] == ""
        assert x["real_ip"].startswith("127.0.0.1") and isinstance(x["real_port"], int)
        assert x["real_address"] == "%s:%d" % (x["real_ip"], x["real_port"])
        assert x["proto"] == ("udp4" if version == "2.7.8" else None)
    for r in s["routes"]:
        assert isinstance(r["last_ref"], int) and r["common_name"] in clients
        assert r["proto"] == ("udp4" if version == "2.7.8" else None)
    assert s["global_stats"] == {"max_bcast_mcast_queue_length": s["global_stats"]["max_bcast_mcast_queue_length"],
                                 "dco_enabled": 0}


@pytest.mark.parametrize("version", VERSIONS)
def test_status_empty(version):
    t = replay.load(version, "empty")
    for cmd in ("status 2", "status 3"):
        s = op.parse_status(block(t, cmd))
        assert s["clients"] == [] and s["routes"] == [] and s["rejected"] == []
        assert "dco_enabled" in s["global_stats"]


@pytest.mark.parametrize("version", VERSIONS)
def test_status_rejects_rows_that_do_not_fit_their_header(version):
    lines = block(replay.load(version, "basics"), "status 2")
    bad = [line + ",extra" if line.startswith("CLIENT_LIST,") and "client2" in line else line for line in lines]
    s = op.parse_status(bad)
    assert len(s["clients"]) == 2 and len(s["rejected"]) == 1 and "client2" in s["rejected"][0]


@pytest.mark.parametrize("version", VERSIONS)
def test_status_older_column_set(version):
    """2.4 has no Data Channel Cipher column: parsing goes by the HEADER, so it still works."""
    lines = block(replay.load(version, "basics"), "status 2")
    old = []
    for line in lines:
        if line.startswith(("HEADER,CLIENT_LIST", "CLIENT_LIST,")):
            line = line.rsplit(",", 1)[0]
        old.append(line)
    s = op.parse_status(old)
    assert len(s["clients"]) == 3 and not s["rejected"]
    assert "cipher" not in s["clients"][0] and isinstance(s["clients"][0]["client_id"], int)


@pytest.mark.parametrize("version", VERSIONS)
def test_status_duplicate_cn_kept_apart(version):
    t = replay.load(version, "dupcn")
    s = op.parse_status(block(t, "status 3"))
    assert [x["common_name"] for x in s["clients"]] == ["client1", "client1"]
    assert len(set(x["client_id"] for x in s["clients"])) == 2
    assert len(set(x["real_address"] for x in s["clients"])) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_status_v1(version):
    s = op.parse_status(block(replay.load(version, "basics"), "status 1"))
    assert len(s["clients"]) == 3 and len(s["routes"]) == 3
    assert all(x["proto"] == ("udp4" if version == "2.7.8" else None) for x in s["clients"])


def test_small_parsers():
    assert op.parse_load_stats("nclients=3,bytesin=6110,bytesout=6425") == {
        "nclients": 3, "bytesin": 6110, "bytesout": 6425}
    assert op.parse_pid("pid=21666") == 21666
    assert op.parse_hold("hold=1") == 1
    with pytest.raises(op.ManagementError):
        op.parse_pid("nothing here")
    st = op.parse_state_line("1795331539,CONNECTED,SUCCESS,10.88.0.1,,,127.0.0.1,41194")
    assert st["time"] == 1795331539 and st["local_port"] == 41194 and st["remote_port"] is None


def test_split_real_address():
    assert op.split_real_address("udp4:127.0.0.1:55736") == ("udp4", "127.0.0.1:55736", "127.0.0.1", 55736)
    assert op.split_real_address("127.0.0.1:59865") == (None, "127.0.0.1:59865", "127.0.0.1", 59865)
    assert op.split_real_address("tcp6-server:[::1]:443") == ("tcp6-server", "[::1]:443", "::1", 443)


def test_kill_syntax_per_version():
    client = {"real_address": "127.0.0.11:41516", "proto": None}
    assert ost.address_kill_command(client, 5) == "kill 127.0.0.11:41516"
    client = {"real_address": "127.0.0.11:60530", "proto": "udp4"}
    assert ost.address_kill_command(client, 6) == "kill udp:127.0.0.11:60530"
    client = {"real_address": "127.0.0.11:60530", "proto": "tcp4-server"}
    assert ost.address_kill_command(client, 6) == "kill tcp:127.0.0.11:60530"
    assert ost.client_kill_command(4, "halt") == "client-kill 4 HALT"
    assert ost.client_kill_command(4, "restart", "bye from admin") == 'client-kill 4 "RESTART,bye from admin"'
    assert ost.client_kill_command(4, "halt", 'say "hi"') == 'client-kill 4 "HALT,say \\"hi\\""'


def test_split_and_read_only():
    assert oc.split_command('client-kill 5 "HALT,bye from admin"') == ["client-kill", "5", "HALT,bye from admin"]
    for cmd in ("status", "status 3", "version", "state", "state all", "state 5", "log 20", "pid",
                "load-stats", "hold", "verb", "help", "echo all", "test 3"):
        assert oc.command_is_read_only(cmd), cmd
    for cmd in ("kill x", "client-kill 1", "signal SIGHUP", "hold release", "hold off", "verb 4", "state on",
                "log on all", "bytecount 5", "foo"):
        assert not oc.command_is_read_only(cmd), cmd


def test_multiline_command_refused():
    sock = replay.CommandSocket(replay.load("2.6.14", "basics"))
    c = client_for(sock).connect()
    with pytest.raises(op.ManagementError) as exc:
        c.command("pid\nquit")
    assert exc.value.kind == "invalid"


def test_password_file(tmp_path):
    path = tmp_path / "pw"
    path.write_text("secret\nsecond line ignored\n")
    assert oc.read_password_file(str(path)) == "secret"
    with pytest.raises(op.ManagementError):
        oc.read_password_file(str(tmp_path / "missing"))


@pytest.mark.parametrize("value", [
    "udp4:1.2.3.4:5", "1.2.3.4:5", "tcp6-server:[::1]:80", "UDP4:1.2.3.4:5", "udp:1.2.3.4", "[::1]:5", "",
    "x:y:z", "tcp4-client:10.0.0.1:1194", "udp4:1.2.3.4:05", "1.2.3.4:", "udp4:a:1", "tcp:2001:db8::1:443",
])
def test_split_real_address_fast_path(value):
    assert op._split_real_address_fast(value) == op.split_real_address(value)


@pytest.mark.parametrize("version", VERSIONS)
def test_status_planned_rows_equal_per_cell_rows(version):
    """parse_status builds rows from a plan made once per HEADER: same rows as _row_to_dict."""
    for cmd in ("status 2", "status 3"):
        lines = block(replay.load(version, "basics"), cmd)
        s = op.parse_status(lines)
        sep = "\t" if cmd == "status 3" else ","
        headers = dict((line.split(sep)[1], line.split(sep)[2:]) for line in lines if line.startswith("HEADER" + sep))
        want = {"CLIENT_LIST": [], "ROUTING_TABLE": []}
        names = {"CLIENT_LIST": op._CLIENT_COLUMNS, "ROUTING_TABLE": op._ROUTE_COLUMNS}
        for line in lines:
            tag = line.split(sep)[0]
            if tag in want:
                want[tag].append(op._row_to_dict(headers[tag], line.split(sep)[1:], names[tag]))
        assert s["clients"] == want["CLIENT_LIST"] and s["routes"] == want["ROUTING_TABLE"]
        assert s["clients"]


def test_status_duplicate_column_keys_fall_back_per_row():
    lines = ["HEADER\tCLIENT_LIST\tCommon Name\tCommon Name\tBytes Sent",
             "CLIENT_LIST\ta\tb\t12", "HEADER,ROUTING_TABLE,Virtual Address,Common Name",
             "CLIENT_LIST\tc\td\t", "ROUTING_TABLE,10.0.0.2,c", "ROUTING_TABLE,10.0.0.3"]
    s = op.parse_status(lines)
    assert s["clients"] == [{"common_name": "b", "bytes_sent": 12}, {"common_name": "d", "bytes_sent": None}]
    assert s["routes"] == [{"virtual_address": "10.0.0.2", "common_name": "c"}]
    assert s["rejected"] == ["ROUTING_TABLE,10.0.0.3"]
