# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record what the EDA sources read from real servers (tests/unit/fixtures/watch/).

Runs against a running lab (``lab/lab up --id ID``), over SSH exactly as the sources do:

* ``ocserv/<host>-<version>-stream.json``: the raw bytes of ``ssh -tt HOST occtl show events``
  while user carol connects (``oc-client@HOST-carol`` on the client host), is disconnected with
  ``occtl disconnect user carol``, and ocserv is restarted (``systemctl restart ocserv``): the
  server-gone end of a stream. ``context.expected`` lists what happened, in order.
* ``ocserv/<host>-<version>-bans.json``: ``occtl -j show ip bans`` / ``show ip ban points``
  (rc, stdout, stderr) before, after one and three failed logins from the lab's ban source (the
  third bans it), and after ``occtl unban ip``.
* ``openvpn/<host>-<version>.json``: the raw ``status 3`` replies of the instance ``lab``, read
  with the collection's ManagementClient through an ``ssh -L`` forward (as openvpn_watch does),
  before carol's client starts, while it is connected, and after it stopped.
* ``openvpn3/<host>-<version>.json``: every ``busctl`` call (argv tail, rc, stdout, stderr) of
  OpenVPN3Client.sessions() before, during and after a pause / resume of the lab's session.

Run as root from the checkout:  python3 tests/capture/capture_watch.py --lab eda
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import termios
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client as o3c  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import ManagementClient  # noqa: E402

FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "watch")
VERSIONS = {"bookworm": ("1.1.6", "2.6.14"), "trixie": ("1.3.0", "2.6.14"), "sid": ("1.5.0", "2.7.8"),
            "o3-trixie": "24.1", "o3-sid": "27.1"}


class Lab:
    def __init__(self, lab_id):
        self.id = lab_id
        self.ssh_config = os.path.join(REPO, ".lab", lab_id, "ssh_config")

    def ssh(self, host, cmd, timeout=60, check=True):
        proc = subprocess.run(["ssh", "-F", self.ssh_config, "-T", host, cmd], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("%s: %s: rc %s %s" % (host, cmd, proc.returncode, proc.stderr))
        return proc

    def wait(self, what, check, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if check():
                return
            time.sleep(0.3)
        raise RuntimeError("timed out waiting for " + what)


def save(family, name, data):
    os.makedirs(os.path.join(FIXTURES, family), exist_ok=True)
    path = os.path.join(FIXTURES, family, name + ".json")
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print("wrote", os.path.relpath(path, REPO))


# --------------------------------------------------------------------------- ocserv

class Stream:
    """``ssh -tt HOST occtl show events`` with a pty stdout and an open stdin pipe."""

    def __init__(self, lab, host):
        self.argv = ["ssh", "-F", lab.ssh_config, "-tt", "--", host, "occtl", "show", "events"]
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

    def pump(self, seconds, until=None):
        end = time.time() + seconds
        while time.time() < end:
            ready, _w, _x = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                self.out += chunk
            if until is not None and until in self.out:
                return True
        return until is None

    def close(self):
        try:
            os.write(self.stdin_w, b"q")
        except OSError:
            pass
        self.pump(2)
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        os.close(self.master)
        os.close(self.stdin_w)
        return self.proc.returncode, err


def capture_ocserv_stream(lab, host):
    unit = "oc-client@%s-carol" % host
    lab.ssh("client", "systemctl stop %s; true" % unit)
    stream = Stream(lab, host)
    if not stream.pump(20, b"Press 'q'"):
        raise RuntimeError("no ready marker from " + host)
    stream.pump(1)
    lab.ssh("client", "systemctl start %s" % unit)
    stream.pump(30, b"connected user 'carol'")
    stream.pump(1)
    lab.ssh(host, "occtl disconnect user carol")
    stream.pump(10, b"disconnect user 'carol'")
    stream.pump(1)
    lab.ssh(host, "systemctl restart ocserv")
    stream.pump(15)   # the stream ends when ocserv stops
    rc, err = stream.close()
    lab.wait("ocserv on " + host, lambda: lab.ssh(host, "occtl show status", check=False).returncode == 0)
    save("ocserv", "%s-%s-stream" % (host, VERSIONS[host][0]), {
        "host": host, "version": VERSIONS[host][0], "argv": stream.argv,
        "stdout": stream.out.decode("utf-8", "replace"), "stderr": err, "rc": rc,
        "context": {"expected": [
            {"type": "connect", "user": "carol"}, {"type": "disconnect", "user": "carol"}],
            "note": "alice and bob are connected by the lab before the stream starts; the stream ends with "
                    "systemctl restart ocserv (their disconnects may come first)"}})


def capture_ocserv_bans(lab, host):
    steps = []
    ban_ip = lab.ssh("client", "vfl-oc ban-source-ip").stdout.strip()
    lab.ssh(host, "occtl unban ip %s; true" % ban_ip, check=False)

    def look(label):
        rec = {"step": label}
        for key, cmd in (("bans", "occtl -j show ip bans"), ("points", "occtl -j show ip ban points")):
            proc = lab.ssh(host, cmd, check=False)
            rec[key] = {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
        rec["time"] = time.time()
        steps.append(rec)

    look("before")
    lab.ssh("client", "vfl-oc ban-attempt %s mallory wrong" % host, check=False)
    look("one failed login")
    for _attempt in range(2):
        lab.ssh("client", "vfl-oc ban-attempt %s mallory wrong" % host, check=False)
    look("three failed logins (banned)")
    lab.ssh(host, "occtl unban ip %s" % ban_ip)
    look("unbanned")
    save("ocserv", "%s-%s-bans" % (host, VERSIONS[host][0]), {
        "host": host, "version": VERSIONS[host][0], "ban_source_ip": ban_ip, "steps": steps})


# --------------------------------------------------------------------------- OpenVPN 2

def capture_openvpn(lab, host):
    tmp = tempfile.mkdtemp(prefix="vfl-capture-")
    local = os.path.join(tmp, "lab.sock")
    tunnel = subprocess.Popen(["ssh", "-F", lab.ssh_config, "-N", "-o", "ExitOnForwardFailure=yes",
                               "-L", "%s:/run/openvpn-server/lab.sock" % local, "--", host],
                              stdin=subprocess.DEVNULL)
    unit = "openvpn-client@%s-carol" % host
    steps = []
    try:
        lab.wait("forward", lambda: os.path.exists(local), 20)

        def status():
            with ManagementClient(socket_path=local, timeout=10) as client:
                return client.command("status 3").lines

        def has_carol():
            return any(line.split("\t")[1:2] == ["carol"] for line in status() if line.startswith("CLIENT_LIST"))

        lab.ssh("client", "systemctl stop %s; true" % unit)
        lab.wait("carol gone", lambda: not has_carol(), 30)
        steps.append({"step": "before", "lines": status(), "time": time.time()})
        lab.ssh("client", "systemctl start %s" % unit)
        lab.wait("carol connected", has_carol, 60)
        steps.append({"step": "carol connected", "lines": status(), "time": time.time()})
        lab.ssh("client", "systemctl stop %s" % unit)
        lab.wait("carol gone", lambda: not has_carol(), 30)
        steps.append({"step": "carol stopped", "lines": status(), "time": time.time()})
        lab.ssh("client", "systemctl start %s" % unit)
    finally:
        tunnel.terminate()
        tunnel.wait(10)
    save("openvpn", "%s-%s" % (host, VERSIONS[host][1]),
         {"host": host, "version": VERSIONS[host][1], "instance": "lab", "steps": steps})


# --------------------------------------------------------------------------- OpenVPN 3

def capture_openvpn3(lab, host):
    calls = []

    def runner(argv, timeout):
        proc = subprocess.run(["ssh", "-F", lab.ssh_config, "-T", "--", host] + argv, capture_output=True,
                              text=True, timeout=timeout + 10, check=False)
        calls[-1]["calls"].append({"argv": argv[4:], "rc": proc.returncode, "stdout": proc.stdout,
                                   "stderr": proc.stderr})
        return proc.returncode, proc.stdout, proc.stderr

    def look(label):
        calls.append({"step": label, "calls": [], "time": time.time()})
        client = o3c.OpenVPN3Client(timeout=30, runner=runner, busctl="busctl")
        sessions = client.sessions(statistics=False)
        return sessions

    sessions = look("before")
    path = [s["path"] for s in sessions if s["state"] == "connected"][0]
    lab.ssh(host, "openvpn3 session-manage --path %s --pause" % path)
    time.sleep(2)
    look("paused")
    lab.ssh(host, "openvpn3 session-manage --path %s --resume" % path)
    lab.wait("connected again", lambda: lab.ssh(host, "openvpn3 sessions-list").stdout.count("Client connected") > 0,
             60)
    look("resumed")
    save("openvpn3", "%s-%s" % (host, VERSIONS[host]), {"host": host, "version": VERSIONS[host], "steps": calls})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default=os.environ.get("VPNFLEET_LAB_ID", "dev"))
    parser.add_argument("--only", choices=["ocserv", "openvpn", "openvpn3"], action="append")
    args = parser.parse_args()
    lab = Lab(args.lab)
    only = args.only or ["ocserv", "openvpn", "openvpn3"]
    for host in ("bookworm", "trixie", "sid"):
        if "ocserv" in only:
            capture_ocserv_stream(lab, host)
            capture_ocserv_bans(lab, host)
        if "openvpn" in only:
            capture_openvpn(lab, host)
    if "openvpn3" in only:
        for host in ("o3-trixie", "o3-sid"):
            capture_openvpn3(lab, host)


if __name__ == "__main__":
    main()
