# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record what ``occtl show events`` really prints (tests/unit/fixtures/ocserv_events/<version>/).

Starts a real ocserv in network namespaces (the host's, or the one in a Debian root file
system given with ``--root``, see ocserv_local.py), runs ``occtl show events`` the way
``_ocserv_events`` does (stdout on a pty without output post-processing, stdin a pipe kept
open) and makes real openconnect clients connect and disconnect, ocserv disconnect them
(``disconnect user``, ``disconnect id``, ``terminate`` on 1.5.0) and the server stop.

Each fixture ``<scenario>.json`` holds ``{version, scenario, argv, json, stdout, stderr, rc,
context}``: the raw stdout/stderr of the listener and, in ``context.expected``, the events
the scenario made happen (kind, user, connection id from ``show users -j``, reason) so the
unit tests can check the parser against the truth.

Run as root:  python3 tests/capture/capture_ocserv_events.py [--root /srv/rootfs/trixie] [--tag evcap]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import termios
import time
import pty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ocserv_local import LocalOcserv, CLIENT_NET  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocserv_events")


class RawListener:
    """``occtl [-j] -s SOCK show events`` with a pty stdout and an open stdin pipe."""

    def __init__(self, srv, json_output=False):
        self.argv = srv.server_cmd(["occtl"] + (["-j"] if json_output else []) + ["-s", srv.socket, "show", "events"])
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        stdin_r, self.stdin_w = os.pipe()
        self.proc = subprocess.Popen(self.argv, stdin=stdin_r, stdout=slave, stderr=subprocess.PIPE,
                                     start_new_session=True)
        os.close(slave)
        os.close(stdin_r)
        self.master = master
        self.out = b""
        self.err = b""

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            ready, _w, _x = select.select([self.master, self.proc.stderr], [], [], 0.05)
            if self.master in ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                self.out += chunk
            if self.proc.stderr in ready:
                self.err += os.read(self.proc.stderr.fileno(), 65536)
        return self.out

    def wait_ready(self, seconds=5):
        end = time.time() + seconds
        while time.time() < end and b"Press 'q'" not in self.out:
            self.pump(0.05)
        self.pump(0.2)

    def quit(self):
        try:
            os.write(self.stdin_w, b"q")
        except OSError:
            pass
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(3)
        self.pump(0.1)
        self.err += self.proc.stderr.read() or b""
        os.close(self.master)
        os.close(self.stdin_w)
        return self.proc.returncode


class Capture:
    def __init__(self, srv, outdir, version):
        self.srv = srv
        self.outdir = outdir
        self.version = version

    def ids(self, user):
        res, dummy = self.srv.occtl(["show", "user", user], json=True)
        try:
            return [rec["ID"] for rec in json.loads(res.stdout or "[]")]
        except ValueError:
            return []

    def save(self, scenario, listener, rc, **context):
        data = {
            "version": self.version, "scenario": scenario, "argv": listener.argv[listener.argv.index("occtl"):],
            "json": "-j" in listener.argv, "stdout": listener.out.decode("utf-8", "replace"),
            "stderr": listener.err.decode("utf-8", "replace"), "rc": rc, "context": context,
        }
        with open(os.path.join(self.outdir, scenario + ".json"), "w") as handle:
            json.dump(data, handle, indent=1)
            handle.write("\n")
        print("  %s: %d bytes, rc %s" % (scenario, len(data["stdout"]), rc))


def capture(srv, cap, json_output, name):
    """connect/disconnect by the client, by occtl disconnect user/id, terminate (1.5.0)."""
    expected = []
    lst = RawListener(srv, json_output)
    lst.wait_ready()
    srv.connect("b", "bob", client=2)
    bob = cap.ids("bob")[0]
    expected.append({"event": "connect", "username": "bob", "id": bob, "remote_ip": CLIENT_NET.format(n=2)})
    lst.pump(0.3)
    srv.stop_client("b")                      # SIGTERM: openconnect sends BYE
    expected.append({"event": "disconnect", "username": "bob", "id": bob, "reason": "user disconnected"})
    lst.pump(0.3)
    srv.connect("c", "carol", client=3)
    carol = cap.ids("carol")[0]
    expected.append({"event": "connect", "username": "carol", "id": carol, "remote_ip": CLIENT_NET.format(n=3)})
    lst.pump(1.2)                             # so that the disconnect shows a non-zero time
    srv.occtl(["disconnect", "user", "carol"])
    expected.append({"event": "disconnect", "username": "carol", "id": carol, "reason": "server disconnected"})
    lst.pump(0.3)
    srv.stop_client("c")
    srv.connect("d", "dave", client=4)
    dave = cap.ids("dave")[0]
    expected.append({"event": "connect", "username": "dave", "id": dave, "remote_ip": CLIENT_NET.format(n=4)})
    lst.pump(0.3)
    srv.occtl(["disconnect", "id", str(dave)])
    expected.append({"event": "disconnect", "username": "dave", "id": dave, "reason": "server disconnected"})
    lst.pump(0.3)
    srv.stop_client("d")
    res, dummy = srv.occtl(["help"], netns=True)
    if "terminate user" in res.stdout:
        srv.connect("b2", "bob", client=2)
        bob2 = cap.ids("bob")[0]
        expected.append({"event": "connect", "username": "bob", "id": bob2, "remote_ip": CLIENT_NET.format(n=2)})
        lst.pump(0.3)
        srv.occtl(["terminate", "user", "bob"])
        # ocserv 1.5.0 reports no reason for a terminate: occtl prints "unknown"
        expected.append({"event": "disconnect", "username": "bob", "id": bob2, "reason": "unknown"})
        lst.pump(0.3)
        srv.stop_client("b2")
    lst.pump(0.5)
    rc = lst.quit()
    cap.save(name, lst, rc, expected=expected, users_at_start=[{"username": "alice", "id": cap.ids("alice")[0]}],
             note="alice is connected before the listener starts; events as made by the scenario, in order "
                  "(the disconnect reason of occtl disconnect / terminate is what this version printed)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/", help="Debian root file system with ocserv (default: the host)")
    parser.add_argument("--tag", default="evcap", help="unique tag for netns and paths")
    parser.add_argument("--port", type=int, default=14875)
    parser.add_argument("--out", default=FIXTURES)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    srv = LocalOcserv(args.tag, args.port, root=args.root)
    with srv:
        srv.start()
        res, dummy = srv.occtl(["--version"], socket=False)
        version = (res.stdout + res.stderr).split("version", 1)[1].split()[0]
        outdir = os.path.join(args.out, version)
        os.makedirs(outdir, exist_ok=True)
        print("ocserv %s -> %s" % (version, outdir))
        cap = Capture(srv, outdir, version)

        # nobody connected: no table, just the marker
        lst = RawListener(srv)
        lst.wait_ready()
        cap.save("empty_start", lst, lst.quit(), users_at_start=[])

        srv.connect("a", "alice", client=1)
        capture(srv, cap, False, "plain")
        capture(srv, cap, True, "json")

        # two listeners: the second one gets nothing, even after the first quits
        first = RawListener(srv)
        first.wait_ready()
        second = RawListener(srv)
        second.wait_ready()
        srv.connect("b", "bob", client=2)
        bob = cap.ids("bob")[0]
        first.pump(0.3)
        second.pump(0.3)
        rc1 = first.quit()
        srv.stop_client("b")
        second.pump(0.5)
        cap.save("second_listener_first", first, rc1, expected=[
            {"event": "connect", "username": "bob", "id": bob}])
        cap.save("second_listener_second", second, second.quit(), expected=[],
                 note="started while another listener ran: no events, also not after the first one quit")

        # server stops while listening
        lst = RawListener(srv)
        lst.wait_ready()
        srv.stop_client("a")
        lst.pump(0.3)
        srv.occtl(["stop", "now"])
        srv.wait_server_exit(10)
        lst.pump(1.0)
        rc = lst.proc.wait(5)
        cap.save("server_stopped", lst, rc, expected=[
            {"event": "disconnect", "username": "alice", "reason": "user disconnected"}],
            note="occtl exits by itself when ocserv goes away")

        # no server at all: occtl fails at once
        lst = RawListener(srv)
        lst.pump(0.5)
        rc = lst.proc.wait(5)
        cap.save("noserver", lst, rc, expected=[], note="socket missing (server stopped)")


if __name__ == "__main__":
    main()
