# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record the busctl replies that plugins/module_utils/_openvpn3_client.py reads, from a real host.

The collection's own client drives a real OpenVPN 3 host (provisioned by lab/provision/openvpn3.yml:
profile ``lab-vpn``, OpenVPN 2 server ``openvpn-server@o3lab``, user ``o3user``) through every state
the modules meet, and each busctl exchange (argv without the binary and ``--timeout``, rc, stdout,
stderr) is written to ``tests/unit/fixtures/openvpn3/<version>/<scenario>.json``. The unit tests
replay them.

    python3 tests/capture/capture_openvpn3.py --exec "lab/lab exec --id ID o3-trixie --"
    python3 tests/capture/capture_openvpn3.py --exec "podman exec -i o3-trixie"
    python3 tests/capture/capture_openvpn3.py --exec "ssh root@o3-sid" --out tests/unit/fixtures/openvpn3

Scenarios: connected, paused, resumed, restarted, reconnecting (server stopped), disconnected,
started (NewTunnel from the profile), same_profile_twice, two_sessions (two profiles imported under
one name), non_owner, dying (backend killed -9), frozen (backend SIGSTOPped), no_bus,
manager_stopped (activation file removed and manager killed; restored after).
The host is left with one connected session of ``lab-vpn``.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# The checkout is the collection root: make it importable as ansible_collections.vpnfleet.control.
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c, _openvpn3_parsers as o3p  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError  # noqa: E402

PROFILE = "lab-vpn"
SERVER_UNIT = "openvpn-server@o3lab"
USER = "o3user"
DUP_PROFILE = "capture-dup"
VICTIM_PROFILE = "capture-victim"
PROFILE_FILE = "/etc/openvpn/server/o3lab/lab-vpn.ovpn"
SERVICE_FILE = "/usr/share/dbus-1/system-services/net.openvpn.v3.sessions.service"


class Target(object):
    def __init__(self, prefix):
        self.prefix = prefix

    def sh(self, script, check=True):
        proc = subprocess.run(self.prefix + ["sh", "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("%s: rc %d: %s" % (script, proc.returncode, proc.stderr.decode()))
        return proc.stdout.decode()


class Recorder(object):
    """A runner for OpenVPN3Client that runs busctl on the target and records every exchange."""

    def __init__(self, target):
        self.target = target
        self.records = []
        self.user = None
        self.env = None

    def __call__(self, argv, timeout):
        cmd = ["busctl"] + argv[1:]
        wrapped = list(cmd)
        if self.env:
            wrapped = ["env"] + ["%s=%s" % kv for kv in sorted(self.env.items())] + wrapped
        if self.user:
            wrapped = ["runuser", "-u", self.user, "--"] + wrapped
        wrapped = ["env", "LC_ALL=C", "SYSTEMD_COLORS=0"] + wrapped
        try:
            proc = subprocess.run(self.target.prefix + wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise VpnControlError("capture: %s timed out" % cmd, kind="timeout")
        rc, out, err = proc.returncode, proc.stdout.decode(), proc.stderr.decode()
        self.records.append({
            "user": self.user,
            "env": self.env,
            "argv": [a for a in cmd[1:] if not a.startswith("--timeout=")],
            "rc": rc,
            "stdout": out,
            "stderr": err,
            "t": round(time.time(), 3),
        })
        return rc, out, err

    def take(self):
        records, self.records = self.records, []
        return records


def notes_device(c, path):
    """The session's device, read without recording."""
    rec = c.runner
    saved = list(rec.records)
    device = c.session(path)["device"]
    rec.records[:] = saved
    return device


def client(recorder, target, timeout=30):
    def pid_alive(pid):
        return target.sh("test -d /proc/%d && echo yes || echo no" % pid).strip() == "yes"
    return o3c.OpenVPN3Client(timeout=timeout, runner=recorder, busctl="busctl", pid_alive=pid_alive)


def temp_profiles(target, c, name, count):
    """Import the lab profile ``count`` times under ``name`` (non-persistent); their paths."""
    remove_profiles(c, c.lookup_configuration(name))
    for _i in range(count):
        target.sh("openvpn3 config-import --config %s --name %s" % (PROFILE_FILE, name))
    return c.lookup_configuration(name)


def remove_profiles(c, paths):
    for path in paths:
        c.call(o3c.CONFIG_SERVICE, path, o3c.CONFIG_IFACE, "Remove")


def baseline(c, device=None):
    """The reads every module starts with, recorded at the start of each scenario."""
    errors = {}
    for name, call in (("version", c.version), ("fetch", c.fetch_sessions),
                       ("lookup_config_name", lambda: c.lookup_config_name(PROFILE)),
                       ("lookup_interface", lambda: c.lookup_interface(device) if device else None)):
        try:
            call()
        except VpnControlError as exc:
            errors[name] = {"kind": exc.kind, "msg": exc.msg}
    return errors


def expect_error(func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except VpnControlError as exc:
        return {"kind": exc.kind, "msg": exc.msg}
    raise RuntimeError("expected an error from %s%r" % (func.__name__, args))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exec", required=True, help="command prefix that runs a command on the host")
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "unit", "fixtures", "openvpn3"))
    parser.add_argument("--only", action="append", help="only these scenarios (debugging)")
    args = parser.parse_args()

    target = Target(shlex.split(args.exec))
    rec = Recorder(target)
    version = client(rec, target).version()
    rec.take()
    outdir = os.path.join(args.out, version.lstrip("v"))
    os.makedirs(outdir, exist_ok=True)
    print("capturing OpenVPN 3 %s into %s" % (version, outdir))

    def save(name, notes):
        path = os.path.join(outdir, name + ".json")
        data = {"version": version, "scenario": name, "notes": notes, "exchanges": rec.take()}
        with open(path, "w") as handle:
            json.dump(data, handle, indent=1, ensure_ascii=True, sort_keys=True)
            handle.write("\n")
        print("  %-16s %3d exchanges" % (name, len(data["exchanges"])))

    # Start from one connected session of the profile and nothing else.
    c = client(rec, target, 60)
    target.sh("systemctl start %s" % SERVER_UNIT)
    for path in c.fetch_sessions():
        c.disconnect(path)
        c.wait_gone(path)
    for name in (DUP_PROFILE, VICTIM_PROFILE):
        remove_profiles(c, c.lookup_configuration(name))
    main_path = c.start(PROFILE)
    rec.take()

    # connected
    c = client(rec, target)
    notes = {"path": main_path}
    c.version()
    c.fetch_sessions()
    session = c.session(main_path)
    notes["device"] = session["device"]
    c.sessions()
    c.lookup_config_name(PROFILE)
    c.lookup_config_name("nosuch-profile")
    c.lookup_interface(session["device"])
    c.lookup_interface("tun9")
    c.lookup_configuration(PROFILE)
    c.lookup_configuration("nosuch-profile")
    c.get_status(main_path)
    notes["unknown_path_error"] = expect_error(c.get_all, "/net/openvpn/v3/sessions/deadbeef")
    notes["unknown_path_pause"] = expect_error(c.pause, "/net/openvpn/v3/sessions/deadbeef")
    c.stale_sessions()
    save("connected", notes)

    # paused, then pausing again
    c = client(rec, target)
    baseline(c, notes["device"])
    c.pause(main_path, "capture")
    c.wait_status(main_path, (o3p.PAUSED,))
    c.session(main_path)
    c.sessions()
    save("paused", {"path": main_path, "again": expect_error(c.pause, main_path, "capture")})
    rec.take()

    # resumed, then resuming a connected session
    c = client(rec, target)
    baseline(c, notes_device(c, main_path))
    c.session(main_path)
    c.resume(main_path)
    c.wait_status(main_path, (o3p.CONNECTED,))
    c.session(main_path)
    save("resumed", {"path": main_path, "again": expect_error(c.resume, main_path)})
    rec.take()

    # restarted
    c = client(rec, target)
    baseline(c, notes_device(c, main_path))
    c.session(main_path)
    c.restart_and_wait(main_path)
    c.session(main_path)
    save("restarted", {"path": main_path})

    # reconnecting: the server goes away (explicit-exit-notify) and comes back
    c = client(rec, target, 120)
    target.sh("systemctl stop %s" % SERVER_UNIT)
    c.wait_status(main_path, (12,), failed=())
    baseline(c, notes_device(c, main_path))
    c.session(main_path)
    c.sessions()
    notes = {"path": main_path}
    wait = client(rec, target, 5)
    notes["wait_connected"] = expect_error(wait.wait_status, main_path, (o3p.CONNECTED,))
    target.sh("systemctl start %s" % SERVER_UNIT)
    c.wait_status(main_path, (o3p.CONNECTED,))
    c.session(main_path)
    save("reconnecting", notes)

    # disconnected, then disconnecting again
    c = client(rec, target)
    baseline(c, notes_device(c, main_path))
    c.disconnect(main_path)
    c.wait_gone(main_path)
    notes = {"path": main_path, "again": expect_error(c.disconnect, main_path),
             "get_all": expect_error(c.get_all, main_path)}
    baseline(c)
    save("disconnected", notes)

    # started from the imported profile
    c = client(rec, target, 60)
    main_path = c.start(PROFILE)
    c.session(main_path)
    c.lookup_config_name(PROFILE)
    save("started", {"path": main_path})

    # 27.1 refuses a second session of one profile (NewTunnel: "A session with this configuration
    # profile is already running"); 24.1 allows it.
    c = client(rec, target, 60)
    configs = c.lookup_configuration(PROFILE)
    try:
        extra = c.start_config(configs[0])
        notes = {"second_session": extra}
        c.disconnect(extra)
        c.wait_gone(extra)
    except VpnControlError as exc:
        notes = {"second_session_error": {"kind": exc.kind, "msg": exc.msg}}
    save("same_profile_twice", notes)

    # two sessions under one configuration name: two profiles imported with the same name
    dup = temp_profiles(target, c, DUP_PROFILE, 2)
    rec.take()
    c = client(rec, target, 60)
    dup_sessions = sorted(c.start_config(cfg) for cfg in dup)
    baseline(c)
    c.lookup_config_name(DUP_PROFILE)
    c.lookup_configuration(DUP_PROFILE)
    c.sessions()
    notes = {"paths": dup_sessions, "configs": dup,
             "start": expect_error(c.start, DUP_PROFILE)}
    save("two_sessions", notes)
    for path in dup_sessions:
        c.disconnect(path)
        c.wait_gone(path)
    remove_profiles(c, dup)
    rec.take()

    # a user who does not own the session
    device = client(rec, target).session(main_path)["device"]
    rec.take()
    rec.user = USER
    c = client(rec, target)
    notes = {"path": main_path, "user": USER, "baseline": baseline(c, device)}
    c.fetch_sessions()
    c.lookup_config_name(PROFILE)
    c.lookup_configuration(PROFILE)
    notes["get_all"] = expect_error(c.get_all, main_path)
    notes["get_status"] = expect_error(c.get_status, main_path)
    notes["resume"] = expect_error(c.resume, main_path)
    notes["pause"] = expect_error(c.pause, main_path, "capture")
    notes["disconnect"] = expect_error(c.disconnect, main_path)
    notes["select_path"] = expect_error(c.select, path=main_path)
    c.lookup_interface(device)
    rec.user = None
    save("non_owner", notes)

    # dying: the backend of a session is killed -9
    c = client(rec, target, 60)
    victim_cfg = temp_profiles(target, c, VICTIM_PROFILE, 1)
    victim = c.start_config(victim_cfg[0])
    pid = c.session(victim)["backend_pid"]
    rec.take()
    c = client(rec, target, 30)
    target.sh("kill -9 %d" % pid)
    seen = []
    while victim in c.fetch_sessions() and not c.deadline.expired():
        seen.append(c.sessions(statistics=True))
        time.sleep(0.3)
    save("dying", {"path": victim, "backend_pid": pid, "observed": seen})

    # frozen: the backend of a session is stopped (SIGSTOP) - D-Bus calls to it time out
    c = client(rec, target, 60)
    victim = c.start_config(victim_cfg[0])
    pid = c.session(victim)["backend_pid"]
    rec.take()
    c = client(rec, target, 40)
    target.sh("kill -STOP %d" % pid)
    notes = {"path": victim, "backend_pid": pid}
    try:
        notes["sessions"] = c.sessions()
        notes["stale"] = c.stale_sessions()
    finally:
        target.sh("kill -CONT %d" % pid)
    save("frozen", notes)
    c = client(rec, target, 30)
    if victim in c.fetch_sessions():
        c.disconnect(victim)
        c.wait_gone(victim)
    remove_profiles(c, victim_cfg)
    rec.take()

    # no system bus
    rec.env = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/system_bus_socket"}
    c = client(rec, target)
    notes = {"baseline": baseline(c, "tun1")}
    rec.env = None
    save("no_bus", notes)

    # session manager stopped and not activatable
    c = client(rec, target)
    orphans = [s["backend_pid"] for s in c.sessions() if s.get("backend_pid")]
    rec.take()
    manager_pid = target.sh(
        "busctl --system --json=short call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus "
        "GetConnectionUnixProcessID s net.openvpn.v3.sessions")
    manager_pid = json.loads(manager_pid)["data"][0]
    target.sh("mv %s /root/sessions.service.capture && busctl --system call org.freedesktop.DBus "
              "/org/freedesktop/DBus org.freedesktop.DBus ReloadConfig && kill %d" % (SERVICE_FILE, manager_pid))
    try:
        time.sleep(1)
        c = client(rec, target)
        notes = {"baseline": baseline(c, "tun1")}
    finally:
        target.sh("mv /root/sessions.service.capture %s && busctl --system call org.freedesktop.DBus "
                  "/org/freedesktop/DBus org.freedesktop.DBus ReloadConfig" % SERVICE_FILE)
    # Re-activated: the first call may meet the manager before its root object exists.
    c = client(rec, target)
    notes["after_restore"] = c.fetch_sessions()
    save("manager_stopped", notes)
    # The old sessions' backends survive their manager, unknown to the new one: end them.
    for pid in orphans:
        target.sh("kill %d" % pid, check=False)
    c = client(rec, target, 60)
    c.start(PROFILE)
    rec.take()
    print("done; left one connected session of %s" % PROFILE)


if __name__ == "__main__":
    main()
