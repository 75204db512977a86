# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record occtl's real outputs for the unit tests (tests/unit/fixtures/ocserv/<version>/).

Starts a real ocserv in network namespaces (the host's, or the one in a Debian root file
system given with ``--root``), connects real openconnect clients, makes sessions, idle
sessions (``--authenticate``), iroutes, failed logins and an enforced IP ban happen, and
records every occtl command (plain and ``-j``) with its argv, rc, stdout and stderr:
also the broken JSON, the "not found" and the error cases (socket missing, stale socket,
refused uid, unknown command, timeout-free ``--version``/``help``).

Run as root:  python3 tests/capture/capture_ocserv.py [--root ROOTFS] [--tag cap]

The fixtures of 1.3.0 and 1.5.0 come from Debian root file systems made with
``debootstrap --variant=minbase --include=ocserv,iproute2,procps trixie|sid DIR
http://deb.debian.org/debian`` (kept in /var/cache/vpnfleet/ocserv-rootfs/; the same packages as the lab's trixie/sid hosts); the
server runs there under ``chroot`` (with /proc, /dev, /sys mounted for the run) and occtl
of the same version is used, clients are the host's openconnect 9.01. 1.1.6 is the host's
own ocserv (bookworm). A run takes 5-10 s per version:

    R=/var/cache/vpnfleet/ocserv-rootfs
    for v in "cap116 /" "cap130 $R/trixie" "cap150 $R/sid"; do
        set -- $v; python3 tests/capture/capture_ocserv.py --tag $1 --root $2; done

Each fixture is ``<scenario>/<name>.json``:
``{"version", "scenario", "name", "args", "json", "rc", "stdout", "stderr", "context",
"started", "finished", "tz"}`` (epochs of the run and the UTC offset occtl printed local times in)
where ``args`` is occtl's command (without the options) and ``context`` holds what the
scenario knows to be true (who is connected, which session is idle, ...) so that unit
tests can assert the parse against it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ocserv_local import LocalOcserv, CLIENT_NET, run  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocserv")

SHOWS = [
    ("status", ["show", "status"]),
    ("users", ["show", "users"]),
    ("iroutes", ["show", "iroutes"]),
    ("sessions_all", ["show", "sessions", "all"]),
    ("sessions_valid", ["show", "sessions", "valid"]),
    ("ip_bans", ["show", "ip", "bans"]),
    ("ip_ban_points", ["show", "ip", "ban", "points"]),
]


class Recorder:
    def __init__(self, srv, outdir, version):
        self.srv = srv
        self.outdir = outdir
        self.version = version
        self.scenario = None
        self.context = {}

    def begin(self, scenario, **context):
        self.scenario = scenario
        self.context = context
        shutil.rmtree(os.path.join(self.outdir, scenario), ignore_errors=True)
        os.makedirs(os.path.join(self.outdir, scenario))

    def record(self, name, args, json_out=False, both=False, **kw):
        results = []
        for js in ([False, True] if both else [json_out]):
            started = time.time()
            res, took = self.srv.occtl(args, json=js, **kw)
            fname = name + ("_json" if js else "")
            data = {
                "version": self.version,
                "scenario": self.scenario,
                "name": fname,
                "args": list(args),
                "json": js,
                "rc": res.returncode,
                "stdout": res.stdout,
                "stderr": res.stderr,
                "context": self.context,
                "started": round(started, 3),
                "finished": round(started + took, 3),
                "tz": time.strftime("%z"),
            }
            if kw.get("user") is not None:
                data["uid"] = kw["user"]
            with open(os.path.join(self.outdir, self.scenario, fname + ".json"), "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.write("\n")
            results.append(res)
        return results[-1]

    def shows(self):
        for name, args in SHOWS:
            self.record(name, args, both=True)


def users_json(srv):
    res = srv.occtl(["show", "users"], json=True)[0]
    return json.loads(res.stdout or "[]")


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def capture(args):
    tag = args.tag
    srv = LocalOcserv(tag, args.port, root=args.root)
    srv.setup()
    try:
        ver_line = srv.occtl(["--version"], netns=False, socket=False)[0]
        m = re.search(r"version (\S+)", ver_line.stdout + ver_line.stderr)
        version = m.group(1)
        outdir = os.path.join(args.out or FIXTURES, version)
        # scenario directories are replaced one by one
        os.makedirs(outdir, exist_ok=True)
        rec = Recorder(srv, outdir, version)

        # ---------------------------------------------------------- no server at all
        rec.begin("noserver", socket=srv.socket)
        rec.record("version", ["--version"], socket=False)
        rec.record("version_after_socket", ["--version"])  # prints nothing, rc 0
        rec.record("help", ["help"])
        rec.record("status", ["show", "status"], both=True)
        rec.record("disconnect_user", ["disconnect", "user", "alice"])
        # ocserv --test-config on a good and a bad configuration (ocserv_server validates first)
        for label, extra in (("good", ""), ("bad", "max-clients = notanumber\nno-such-directive = 1\n"),
                             ("broken", "auth = \"nosuchmethod\"\n")):
            srv.write_conf(extra)
            res = run(srv._chroot() + ["ocserv", "--test-config", "-c", srv.conf], check=False)
            with open(os.path.join(outdir, "noserver", "test_config_%s.json" % label), "w") as f:
                json.dump({"version": version, "scenario": "noserver", "name": "test_config_" + label,
                           "argv": ["ocserv", "--test-config", "-c", "CONF"], "config_extra": extra,
                           "rc": res.returncode, "stdout": res.stdout, "stderr": res.stderr}, f, indent=1,
                          sort_keys=True)
                f.write("\n")
        res = run(srv._chroot() + ["ocserv", "--test-config", "-c", srv.inner + "/missing.conf"], check=False)
        with open(os.path.join(outdir, "noserver", "test_config_missing.json"), "w") as f:
            json.dump({"version": version, "scenario": "noserver", "name": "test_config_missing",
                       "argv": ["ocserv", "--test-config", "-c", "MISSING"], "rc": res.returncode,
                       "stdout": res.stdout, "stderr": res.stderr}, f, indent=1, sort_keys=True)
            f.write("\n")
        srv.write_conf()

        srv.start()
        server_pid = srv.server_pid

        # ---------------------------------------------------------- empty server
        rec.begin("empty")
        rec.shows()
        rec.record("help", ["help"])
        rec.record("show_user_nosuch", ["show", "user", "nosuch"], both=True)
        rec.record("show_id_nosuch", ["show", "id", "999999"], both=True)
        rec.record("show_id_bad", ["show", "id", "abc"], both=True)
        rec.record("show_session_nosuch", ["show", "session", "AAAAAA"], both=True)
        rec.record("disconnect_user_nosuch", ["disconnect", "user", "nosuch"])
        rec.record("disconnect_id_nosuch", ["disconnect", "id", "999999"])
        rec.record("terminate_user_nosuch", ["terminate", "user", "nosuch"])
        rec.record("terminate_id_nosuch", ["terminate", "id", "999999"])
        rec.record("terminate_session_nosuch", ["terminate", "session", "AAAAAA"])
        rec.record("unban_never_seen", ["unban", "ip", "10.9.9.9"])
        rec.record("unban_notanip", ["unban", "ip", "notanip"])
        rec.record("unknown_command", ["frobnicate"])
        rec.record("status_other_netns", ["show", "status"], json_out=True, netns=False)
        # uid checks: nobody (= run-as-user, can connect) and daemon (cannot connect)
        rec.record("status_uid_runasuser", ["show", "status"], user=65534)
        rec.record("status_uid_other", ["show", "status"], user=1)
        rec.record("socket_missing", ["show", "status"], socket=srv.inner + "/run/nosuch.socket")

        # ---------------------------------------------------------- clients
        srv.connect("alice", "alice", client=1)
        srv.connect("bob1", "bob", client=2)
        srv.connect("bob2", "bob", client=2)
        srv.connect("carol", "carol", client=3)
        rc, dave, out = srv.authenticate("dave", client=3)
        assert rc == 0, out
        # three wrong passwords from client 4 -> banned (33 points), plus one more try while banned
        for dummy in range(3):
            srv.authenticate("mallory", client=4, password="wrong")
        srv.authenticate("mallory", client=4)
        users = users_json(srv)
        ctx = {
            "connected": sorted({(u["Username"]) for u in users}),
            "connections": {str(u["ID"]): u["Username"] for u in users},
            "idle_session_user": "dave",
            "banned_ip": CLIENT_NET.format(n=4),
            "iroute_user": "alice",
        }
        rec.begin("connected", **ctx)
        rec.shows()
        alice = [u for u in users if u["Username"] == "alice"][0]
        bob = [u for u in users if u["Username"] == "bob"]
        rec.record("show_user_alice", ["show", "user", "alice"], both=True)
        rec.record("show_user_bob", ["show", "user", "bob"], both=True)
        rec.record("show_id_alice", ["show", "id", str(alice["ID"])], both=True)
        rec.record("show_session_short", ["show", "session", alice["Session"]], both=True)
        rec.record("show_session_prefix", ["show", "session", alice["Session"][:3]], both=True)
        rec.record("show_session_full", ["show", "session", alice["Full session"]], both=True)
        rec.record("status_other_netns", ["show", "users"], json_out=True, netns=False)
        rec.record("show_cookies_valid", ["show", "cookies", "valid"], json_out=True)

        # ---------------------------------------------------------- actions
        rec.begin("actions", **ctx)
        rec.record("disconnect_id_bob", ["disconnect", "id", str(bob[0]["ID"])])
        wait_for(lambda: str(bob[0]["ID"]) not in {str(u["ID"]) for u in users_json(srv)})
        rec.record("users_after_disconnect_id", ["show", "users"], json_out=True)
        rec.record("disconnect_user_carol", ["disconnect", "user", "carol"])
        rec.record("disconnect_user_dave_idle", ["disconnect", "user", "dave"])
        rec.record("sessions_valid_after", ["show", "sessions", "valid"], json_out=True)
        rec.record("unban_banned", ["unban", "ip", CLIENT_NET.format(n=4)])
        rec.record("unban_again", ["unban", "ip", CLIENT_NET.format(n=4)])
        rec.record("ip_bans_after_unban", ["show", "ip", "bans"], both=True)
        rec.record("ip_ban_points_after_unban", ["show", "ip", "ban", "points"], both=True)
        rec.record("unban_points_only", ["unban", "ip", CLIENT_NET.format(n=3)])
        rec.record("terminate_user_alice", ["terminate", "user", "alice"])
        rec.record("sessions_valid_after_terminate_user", ["show", "sessions", "valid"], json_out=True)
        rec.record("users_after_terminate_user", ["show", "users"], json_out=True)
        rec.record("terminate_session_dave", ["terminate", "session", dave_session(srv, "dave")])
        rec.record("sessions_valid_after_terminate_session", ["show", "sessions", "valid"], json_out=True)
        rec.record("sessions_all_after", ["show", "sessions", "all"], json_out=True)
        rec.record("users_after", ["show", "users"], json_out=True)
        rec.record("reload", ["reload"])
        rec.record("status_after_reload", ["show", "status"], json_out=True)

        # ---------------------------------------------------------- terminate id / session scope
        # bob: two connections + one idle session. Which of bob's sessions does `terminate id`
        # invalidate, and what does `terminate session` do to a session in use?
        for key in list(srv.clients):
            srv.stop_client(key)
        assert wait_for(lambda: not users_json(srv)), users_json(srv)
        srv.connect("bobA", "bob", client=2)
        srv.connect("bobB", "bob", client=2)
        srv.authenticate("bob", client=2)
        bobs = [u for u in users_json(srv) if u["Username"] == "bob"]
        rec.begin("terminate_scope", connections={str(u["ID"]): u["Session"] for u in bobs})
        rec.record("sessions_valid_before", ["show", "sessions", "valid"], json_out=True)
        rec.record("users_before", ["show", "users"], json_out=True)
        rec.record("terminate_id_first", ["terminate", "id", str(bobs[0]["ID"])])
        time.sleep(0.5)
        rec.record("sessions_valid_after_terminate_id", ["show", "sessions", "valid"], json_out=True)
        rec.record("users_after_terminate_id", ["show", "users"], json_out=True)
        rec.record("terminate_session_in_use", ["terminate", "session", bobs[1]["Session"]])
        time.sleep(0.5)
        rec.record("sessions_valid_after_terminate_session", ["show", "sessions", "valid"], json_out=True)
        rec.record("users_after_terminate_session", ["show", "users"], json_out=True)
        rec.record("disconnect_id_second", ["disconnect", "id", str(bobs[1]["ID"])])
        time.sleep(0.5)
        rec.record("sessions_valid_after_disconnect_id", ["show", "sessions", "valid"], json_out=True)
        rec.record("users_after_disconnect_id", ["show", "users"], json_out=True)
        for key in list(srv.clients):
            srv.stop_client(key)

        # ---------------------------------------------------------- stop / stale socket
        rec.begin("stop")
        rec.record("stop_now", ["stop", "now"])
        rc = srv.wait_server_exit(15)
        rec.context = {"server_exit": rc}
        rec.record("status_after_stop", ["show", "status"])
        srv.server_proc = None
        srv.start()
        srv.kill_server(signal.SIGKILL)
        # workers and sec-mod die with main? wait for the socket to go stale
        time.sleep(0.5)
        rec.begin("stale")
        rec.record("status_stale_socket", ["show", "status"], both=True)
        del server_pid
        print(version, outdir)
    finally:
        srv.close()


def dave_session(srv, user):
    res = srv.occtl(["show", "sessions", "valid"])[0]
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[1] == user:
            return parts[0]
    return "AAAAAA"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/", help="Debian root file system with ocserv (default: the host)")
    p.add_argument("--tag", default="cap", help="unique tag for netns and paths")
    p.add_argument("--port", type=int, default=14643)
    p.add_argument("--out", help="fixtures directory (default tests/unit/fixtures/ocserv)")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    capture(args)


if __name__ == "__main__":
    main()
