# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record real OpenVPN management-interface transcripts for the unit tests.

Starts a real OpenVPN server and real clients in a private network namespace
(one per OpenVPN version), talks to the management interface with plain
sockets and writes every byte in both directions, in order, to
``tests/unit/fixtures/openvpn/<version>/<scenario>.json``.  The unit tests
replay the server side of these transcripts through the collection's client.

Versions:

* the host's ``openvpn`` (Debian bookworm/trixie: 2.6.14);
* ``--root DIR``: an OpenVPN installed in a Debian root filesystem, run with
  ``chroot`` (sid: 2.7.8), e.g. one made with
  ``debootstrap --variant=minbase --include=openvpn,openssl sid DIR``
  (``DIR/dev/net/tun`` must exist: ``mknod -m 666 DIR/dev/net/tun c 10 200``).

Run as root (network namespaces, tun):

    python3 tests/capture/capture_openvpn.py                 # host openvpn
    python3 tests/capture/capture_openvpn.py --root /srv/sid  # 2.7.8

Everything started is stopped by PID and the namespace is deleted at the end.
"""

from __future__ import print_function

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "openvpn")
OUT = {"dir": FIXTURES}

# The test PKI is the lab's (one script for the lab, the captures and the benchmarks).
MKPKI = os.path.join(REPO, "lab", "provision", "openvpn", "mkpki.sh")

# username/password check for auth-user-pass-verify (via-file): alice/alicepw;
# with auth-user-pass-optional, certificate-only clients come with no username.
VERIFY_SCRIPT = """#!/bin/sh
user=$(sed -n 1p "$1")
pass=$(sed -n 2p "$1")
[ -z "$user" ] && [ -z "$pass" ] && exit 0
[ "$user" = alice ] && [ "$pass" = alicepw ]
"""

MGMT_PASSWORD = "capture-secret"
CLIENTS = [
    # name, common name, source address, auth-user-pass
    ("c1", "client1", "127.0.0.11", False),
    ("c2", "client2", "127.0.0.12", False),
    ("c3", "client3", "127.0.0.13", True),
]


def log(msg):
    print("[capture] %s" % msg, file=sys.stderr)


class Env(object):
    """Where the OpenVPN binaries run: the host or a chroot."""

    def __init__(self, root, netns, work):
        self.root = root.rstrip("/") if root else ""
        self.netns = netns
        self.inner = work  # path as the daemon sees it
        self.outer = self.root + work  # path as we see it

    def path(self, name):
        return os.path.join(self.inner, name)

    def host_path(self, name):
        return os.path.join(self.outer, name)

    def command(self, argv):
        prefix = ["ip", "netns", "exec", self.netns]
        if self.root:
            prefix += ["chroot", self.root]
        return prefix + argv

    def version(self):
        argv = ["openvpn", "--version"]
        if self.root:
            argv = ["chroot", self.root] + argv
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False).stdout
        return out.decode().split()[1]


def run(argv, cwd=None):
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_pki(d):
    """CA, server and client certificates (files named by common name) and a CRL revoking
    ``revoked1``, made by the lab's lab/provision/openvpn/mkpki.sh."""
    run(["sh", MKPKI, d, "server", " ".join(cn for _n, cn, _a, _p in CLIENTS), "revoked1"])


def write(path, text, mode=0o600):
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


class Lab(object):
    """One server (+ clients) in a network namespace."""

    def __init__(self, env, port):
        self.env = env
        self.port = port
        self.pids = []

    def server_conf(self, name, extra, offset):
        e = self.env
        lines = [
            "mode server", "tls-server", "proto udp4", "local 127.0.0.1", "lport %d" % (self.port + offset),
            "dev tun-%s" % name[:8], "dev-type tun", "topology subnet", "server 10.%d.0.0 255.255.255.0" % (77 + offset),
            "ca %s" % e.path("ca.crt"), "cert %s" % e.path("server.crt"), "key %s" % e.path("server.key"),
            "crl-verify %s" % e.path("crl.pem"),
            "dh none", "keepalive 10 60", "explicit-exit-notify 1", "verb 3",
            "tmp-dir %s" % e.path("tmp"), "writepid %s" % e.path(name + ".pid"), "log %s" % e.path(name + ".log"),
            "script-security 2", "auth-user-pass-verify %s via-file" % e.path("verify.sh"),
            "auth-user-pass-optional",
        ]
        return "\n".join(lines + extra) + "\n"

    def start_server(self, name, extra, offset=0):
        e = self.env
        write(e.host_path(name + ".conf"), self.server_conf(name, extra, offset))
        subprocess.run(e.command(["openvpn", "--config", e.path(name + ".conf"), "--daemon", "ovcap-" + name]),
                       check=True)
        pid = self.read_pid(name)
        self.pids.append(pid)
        return pid

    def wait_log(self, name, text, timeout=20):
        deadline = time.time() + timeout
        path = self.env.host_path(name + ".log")
        while time.time() < deadline:
            try:
                with open(path) as handle:
                    if text in handle.read():
                        return True
            except IOError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s: %r not in %s" % (name, text, path))

    def read_pid(self, name, timeout=10):
        deadline = time.time() + timeout
        path = self.env.host_path(name + ".pid")
        while time.time() < deadline:
            try:
                with open(path) as handle:
                    return int(handle.read().strip())
            except (IOError, ValueError):
                time.sleep(0.05)
        raise RuntimeError("no pid file %s" % path)

    def start_client(self, name, cn_file, source, userpass):
        e = self.env
        lines = [
            "client", "dev null", "ifconfig-noexec", "route-noexec", "proto udp4",
            "local %s" % source, "lport 0", "remote 127.0.0.1 %d" % self.port,
            "ca %s" % e.path("ca.crt"), "cert %s" % e.path(cn_file + ".crt"), "key %s" % e.path(cn_file + ".key"),
            "remote-cert-tls server", "connect-retry 1 1", "explicit-exit-notify 1", "verb 3",
            "writepid %s" % e.path(name + ".pid"), "log %s" % e.path(name + ".log"),
        ]
        if userpass:
            write(e.host_path(name + ".up"), "alice\nalicepw\n")
            lines.append("auth-user-pass %s" % e.path(name + ".up"))
        write(e.host_path(name + ".conf"), "\n".join(lines) + "\n")
        subprocess.run(e.command(["openvpn", "--config", e.path(name + ".conf"), "--daemon", "ovcap-" + name]),
                       check=True)
        pid = self.read_pid(name)
        self.pids.append(pid)
        return pid

    def stop(self):
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Recorder(object):
    """A management session that records every byte, in order."""

    def __init__(self, path, scenario, description, connect=True):
        self.path = path
        self.scenario = scenario
        self.description = description
        self.events = []
        self.start = time.time()
        self.buf = b""
        self.sock = None
        if connect:
            self.connect()

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
        self.events.append({"t": self._t(), "dir": "connect"})

    def _t(self):
        return round(time.time() - self.start, 4)

    def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        self.events.append({"t": self._t(), "dir": "send", "data": data.decode("latin-1")})
        self.sock.sendall(data)

    def read(self, until=None, timeout=5.0):
        """Read until ``until`` (regex on bytes read by this call) or timeout/EOF."""
        got = b""
        deadline = time.time() + timeout
        while True:
            if until is not None and re.search(until, got):
                return got
            remaining = deadline - time.time()
            if remaining <= 0:
                return got
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return got
            except ConnectionResetError:
                data = b""
            if not data:
                self.events.append({"t": self._t(), "dir": "eof"})
                return got
            self.events.append({"t": self._t(), "dir": "recv", "data": data.decode("latin-1")})
            got += data

    def cmd(self, text, multi=False, settle=0.3, timeout=8.0):
        self.send(text + "\n")
        if multi:
            got = self.read(rb"(^|\n)(END|ERROR:[^\n]*)\r\n", timeout)
        else:
            got = self.read(rb"(^|\n)(SUCCESS|ERROR):[^\n]*\r\n", timeout)
        if settle:
            got += self.read(None, settle)
        return got

    def quit(self):
        self.send("quit\n")
        self.read(None, 1.0)
        self.sock.close()

    def save(self, version):
        directory = os.path.join(OUT["dir"], version)
        if not os.path.isdir(directory):
            os.makedirs(directory)
        data = {
            "openvpn": version,
            "scenario": self.scenario,
            "description": self.description,
            "captured_by": "tests/capture/capture_openvpn.py",
            "events": self.events,
        }
        with open(os.path.join(directory, self.scenario + ".json"), "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
        log("wrote %s/%s" % (version, self.scenario))


def status_rows(rec):
    got = rec.cmd("status 3", multi=True).decode("latin-1")
    rows = []
    header = None
    for line in got.split("\r\n"):
        fields = line.split("\t")
        if fields[:2] == ["HEADER", "CLIENT_LIST"]:
            header = fields[2:]
        elif fields[0] == "CLIENT_LIST" and header:
            rows.append(dict(zip(header, fields[1:])))
    return rows


def wait_clients(sock, count, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.settimeout(3)
        buf = b""
        while b"\n" not in buf:
            buf += s.recv(4096)
        s.sendall(b"load-stats\n")
        while b"SUCCESS" not in buf:
            buf += s.recv(4096)
        while not buf.endswith(b"\r\n"):
            buf += s.recv(4096)
        s.sendall(b"quit\n")
        s.close()
        match = re.search(rb"nclients=(\d+)", buf)
        if match and int(match.group(1)) >= count:
            return
        time.sleep(0.3)
    raise RuntimeError("clients did not connect")


def capture(env, version, port):
    lab = Lab(env, port)
    os.makedirs(env.host_path("tmp"))
    make_pki(env.outer)
    write(env.host_path("verify.sh"), VERIFY_SCRIPT, 0o755)
    write(env.host_path("mgmt.pw"), MGMT_PASSWORD + "\nsecond line ignored\n")
    sock = env.host_path("mgmt.sock")
    try:
        lab.start_server("srv", ["management %s unix" % env.path("mgmt.sock")])
        lab.wait_log("srv", "Initialization Sequence Completed")

        # --- no clients yet
        rec = Recorder(sock, "empty", "banner, status 2/3 and load-stats with no client connected")
        rec.read(rb"\r\n", 3)
        rec.cmd("status 2", multi=True)
        rec.cmd("status 3", multi=True)
        rec.cmd("load-stats")
        rec.quit()
        rec.save(version)

        # --- clients (the revoked one must fail)
        for name, cn, source, userpass in CLIENTS:
            lab.start_client(name, cn, source, userpass)
        lab.start_client("rv", "revoked1", "127.0.0.14", False)
        wait_clients(sock, len(CLIENTS))
        lab.wait_log("srv", "certificate revoked")

        rec = Recorder(sock, "basics", "read-only commands and their replies, errors, test N, quit")
        rec.read(rb"\r\n", 3)
        rec.cmd("pid")
        rec.cmd("version", multi=True)
        rec.cmd("state", multi=True)
        rec.cmd("state all", multi=True)
        rec.cmd("load-stats")
        rec.cmd("hold")
        rec.cmd("status", multi=True)
        rec.cmd("status 1", multi=True)
        rec.cmd("status 2", multi=True)
        rec.cmd("status 3", multi=True)
        rec.cmd("status 4")
        rec.cmd("help", multi=True)
        rec.cmd("foo")
        rec.cmd("kill")
        rec.cmd("kill nosuchcn")
        rec.cmd("kill 127.0.0.1:1")
        rec.cmd("client-kill 9999")
        rec.cmd("client-kill abc")
        rec.cmd("signal SIGFOO")
        rec.cmd("verb")
        rec.cmd("echo all", multi=True)
        rec.send("test 3\n")
        rec.read(rb"(\[2\][^\n]*\r\n)", 3)
        rec.cmd("log 3", multi=True)
        rec.quit()
        rec.save(version)

        # --- quit in the same write as a command: its output is dropped
        rec = Recorder(sock, "quit_same_write", "'pid\\nquit\\n' in one write: the reply is discarded")
        rec.read(rb"\r\n", 3)
        rec.send("pid\nquit\n")
        rec.read(None, 1.5)
        rec.save(version)

        # --- kills, with real-time >CLIENT blocks interleaved (log on too)
        rec = Recorder(sock, "kills", "address kill in both syntaxes, kill by CN, client-kill RESTART and HALT "
                                      "with real-time notifications interleaved")
        rec.read(rb"\r\n", 3)
        rows = status_rows(rec)
        by_cn = dict((r["Common Name"], r) for r in rows)
        c1, c2, c3 = by_cn["client1"], by_cn["client2"], by_cn["client3"]
        addr = c1["Real Address"]
        bare = addr.split(":", 1)[1] if addr.startswith(("udp", "tcp")) else addr
        rec.cmd("kill udp:%s" % bare)  # 2.7 syntax
        rec.cmd("kill %s" % bare)  # 2.6 syntax
        rec.cmd("log on")
        # client1 was dropped silently (UDP): it comes back only after ping-restart.
        rec.cmd("client-kill %s RESTART" % c2["Client ID"])
        rec.read(rb">CLIENT:ESTABLISHED[^\n]*\r\n(>CLIENT:ENV,[^\n]*\r\n)*>CLIENT:ENV,END\r\n", 15)
        rec.cmd("status 3", multi=True)
        rec.cmd("client-kill %s \"HALT,bye from admin\"" % c3["Client ID"])
        rec.read(None, 6.5)
        rec.cmd("status 3", multi=True)
        rec.cmd("log off")
        rec.cmd("kill client2")
        rec.cmd("status 2", multi=True)
        rec.quit()
        rec.save(version)

        # --- busy: one session holds the interface
        holder = Recorder(sock, "busy_holder", "the session that holds the interface")
        holder.read(rb"\r\n", 3)
        waiter = Recorder(sock, "busy", "a second client: connect() succeeds, no banner until the holder quits; "
                                        "its buffered command then runs")
        waiter.read(None, 1.0)
        waiter.send("pid\n")
        waiter.read(None, 1.0)
        holder.quit()
        waiter.read(rb"SUCCESS: pid=\d+\r\n", 5)
        waiter.quit()
        waiter.save(version)

        # --- access refused by management-client-user
        lab.start_server("usr", ["management %s unix" % env.path("usr.sock"), "management-client-user root"], 1)
        lab.wait_log("usr", "Initialization Sequence Completed")
        capture_refused(env.host_path("usr.sock"), version)

        # --- password
        lab.start_server("pw", ["management %s unix %s" % (env.path("pw.sock"), env.path("mgmt.pw"))], 2)
        lab.wait_log("pw", "Initialization Sequence Completed")
        rec = Recorder(env.host_path("pw.sock"), "password_ok", "right management password")
        rec.read(rb"ENTER PASSWORD:", 3)
        rec.send(MGMT_PASSWORD + "\n")
        rec.read(rb">INFO:[^\n]*\r\n", 3)
        rec.cmd("pid")
        rec.quit()
        rec.save(version)
        rec = Recorder(env.host_path("pw.sock"), "password_wrong", "three wrong passwords: prompts, then close")
        rec.read(rb"ENTER PASSWORD:", 3)
        for attempt in range(3):
            rec.send("wrong%d\n" % attempt)
            rec.read(rb"ENTER PASSWORD:", 3)
        rec.read(None, 1.0)
        rec.save(version)

        # --- hold (the order of commands follows openvpn_server's)
        lab.start_server("hold", ["management %s unix" % env.path("hold.sock"), "management-hold"], 3)
        time.sleep(1.0)
        rec = Recorder(env.host_path("hold.sock"), "hold", "a held daemon: banner + >HOLD, commands refused "
                                                           "while held, hold release, restart holds again")
        rec.read(rb">HOLD:[^\n]*\r\n", 3)
        rec.cmd("pid")
        rec.cmd("hold")
        rec.cmd("state", multi=True)
        rec.cmd("status 3", multi=True)
        rec.cmd("signal SIGHUP")
        rec.cmd("state on")
        rec.cmd("hold release", settle=0)
        rec.read(rb">STATE:[^\n]*CONNECTED[^\n]*\r\n", 10)
        rec.cmd("state off")
        rec.cmd("state", multi=True)
        rec.cmd("hold")
        rec.cmd("status 3", multi=True)
        rec.cmd("state on")
        rec.cmd("signal SIGUSR1", settle=0)
        rec.read(rb">HOLD:[^\n]*\r\n", 10)
        rec.cmd("hold off")
        rec.cmd("hold release", settle=0)
        rec.read(rb">STATE:[^\n]*CONNECTED[^\n]*\r\n", 10)
        rec.cmd("state off")
        rec.cmd("state", multi=True)
        rec.cmd("hold")
        rec.quit()
        rec.save(version)

        # --- duplicate-cn: two connections with one certificate, kept apart by client id
        lab.start_server("dup", ["management %s unix" % env.path("dup.sock"), "duplicate-cn"], 4)
        lab.wait_log("dup", "Initialization Sequence Completed")
        saved_port, lab.port = lab.port, port + 4
        lab.start_client("d1", "client1", "127.0.0.21", False)
        lab.start_client("d2", "client1", "127.0.0.22", False)
        lab.port = saved_port
        wait_clients(env.host_path("dup.sock"), 2)
        rec = Recorder(env.host_path("dup.sock"), "dupcn",
                       "duplicate-cn: one common name, two client ids; both killed with client-kill")
        rec.read(rb"\r\n", 3)
        rows = status_rows(rec)
        rec.cmd("status 2", multi=True)
        for row in rows:
            rec.cmd("client-kill %s HALT" % row["Client ID"])
        time.sleep(6.5)
        rec.read(None, 0.3)
        rec.cmd("status 3", multi=True)
        rec.quit()
        rec.save(version)

        # --- signals on the main server: reload, restart, then stop (openvpn_server's command order)
        rec = Recorder(sock, "signals", "state on; SIGHUP and SIGUSR1 with the session kept; SIGTERM closes it")
        rec.read(rb"\r\n", 3)
        for signame in ("SIGHUP", "SIGUSR1"):
            rec.cmd("pid")
            rec.cmd("hold")
            rec.cmd("state on")
            rec.cmd("signal %s" % signame, settle=0)
            rec.read(rb">STATE:[^\n]*,CONNECTED,[^\n]*\r\n", 15)
            rec.cmd("state off")
            rec.cmd("state", multi=True)
            rec.cmd("hold")
        time.sleep(4)
        rec.read(None, 0.5)
        rec.cmd("status 3", multi=True)
        rec.cmd("pid")
        rec.cmd("hold")
        rec.send("signal SIGTERM\n")
        rec.read(None, 8)
        rec.save(version)
    finally:
        lab.stop()


def capture_refused(path, version):
    """Connect as 'nobody' to a socket limited to root: accepted, then closed."""
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - child process
        os.close(read_fd)
        try:
            os.setgid(65534)
            os.setuid(65534)
            rec = Recorder(path, "refused", "management-client-user root, client runs as uid 65534: connect() "
                                            "succeeds, then the server closes without a banner")
            rec.read(None, 3)
            os.write(write_fd, json.dumps(rec.events).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    data = b""
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(child, 0)
    rec = Recorder(path, "refused", "management-client-user root, client runs as uid 65534: connect() "
                                    "succeeds, then the server closes without a banner", connect=False)
    rec.events = json.loads(data.decode())
    rec.save(version)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--root", help="root filesystem with the OpenVPN to use (run with chroot)")
    parser.add_argument("--port", type=int, default=41194)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) for debugging")
    parser.add_argument("--out", help="write the fixtures below this directory instead of tests/unit/fixtures/openvpn")
    args = parser.parse_args()
    if args.out:
        OUT["dir"] = os.path.abspath(args.out)
    if os.geteuid() != 0:
        sys.exit("run as root (network namespaces, tun devices)")
    netns = "ovcap-%d" % os.getpid()
    root = args.root or ""
    work = tempfile.mkdtemp(prefix="ovcap-", dir=(root + "/tmp") if root else None)
    inner = work[len(root):] if root else work
    os.chmod(work, 0o755)
    env = Env(root, netns, inner)
    version = env.version()
    log("OpenVPN %s, netns %s, work %s" % (version, netns, work))
    run(["ip", "netns", "add", netns])
    try:
        run(["ip", "-n", netns, "link", "set", "lo", "up"])
        capture(env, version, args.port)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
        if args.keep:
            log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
