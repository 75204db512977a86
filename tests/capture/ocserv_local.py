# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real ocserv with real openconnect clients in network namespaces (test helper).

Used by ``capture_ocserv.py`` to record occtl's outputs. Everything it creates carries
the ``tag`` (netns names, work directory) and is removed by PID / by name in ``close()``.

The server can run from the host's ocserv or from a Debian root file system (``root``)
holding another ocserv version (``chroot ROOT ocserv ...``): the clients are the host's
openconnect in their own namespaces, with /32 addresses outside the server's subnets so
that IP bans are enforced (see the reference notes on the local-subnet exemption).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

SERVER_IP = "10.232.0.1"
CLIENT_NET = "10.232.{n}.2"

CONF = """\
auth = "plain[passwd={w}/passwd]"
tcp-port = {port}
udp-port = {port}
run-as-user = nobody
run-as-group = nogroup
socket-file = {w}/run/ocserv-socket
occtl-socket-file = {w}/run/occtl.socket
use-occtl = true
pid-file = {w}/run/ocserv.pid
server-cert = {w}/server-cert.pem
server-key = {w}/server-key.pem
ca-cert = {w}/ca.pem
isolate-workers = true
max-clients = 16
max-same-clients = 4
rate-limit-ms = 0
keepalive = 32400
dpd = 90
mobile-dpd = 1800
try-mtu-discovery = false
max-ban-score = 30
ban-points-wrong-password = 10
ban-points-connection = 1
min-reauth-time = 120
ban-reset-time = 300
cookie-timeout = 300
device = ocvf
predictable-ips = true
ipv4-network = 192.168.232.0
ipv4-netmask = 255.255.255.0
ipv6-network = fd00:232::/64
route = 192.168.232.0/255.255.255.0
config-per-user = {w}/config-per-user/
{extra}
"""

TUN_SCRIPT = """#!/bin/sh
case "$reason" in connect)
  ip link set dev "$TUNDEV" up
  [ -n "$INTERNAL_IP4_ADDRESS" ] && ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV" ;;
esac
exit 0
"""

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "dave": "davepw", "mallory": "mallorypw"}


def run(argv, check=True, **kw):  # pylint: disable=subprocess-run-check
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("universal_newlines", True)
    kw.setdefault("timeout", 60)
    res = subprocess.run(argv, check=False, **kw)
    if check and res.returncode != 0:
        raise RuntimeError("%s: rc %s: %s %s" % (argv, res.returncode, res.stdout, res.stderr))
    return res


class LocalOcserv:
    def __init__(self, tag, port, root="/", extra_conf="", clients=4):
        self.tag = tag
        self.port = port
        self.root = os.path.abspath(root)
        self.inner = "/srv/vpnfleet-%s" % tag          # path seen by ocserv/occtl
        self.work = os.path.join(self.root, self.inner.lstrip("/")) if self.root != "/" else self.inner
        self.srv_ns = "vf%s-srv" % tag
        self.client_ns = ["vf%s-c%d" % (tag, n) for n in range(1, clients + 1)]
        self.extra_conf = extra_conf
        self.server_pid = None
        self.server_proc = None
        self.clients = {}       # key -> Popen
        self.mounts = []
        self.pin = None

    # ---- paths / commands
    @property
    def socket(self):
        return self.inner + "/run/occtl.socket"

    @property
    def conf(self):
        return self.inner + "/ocserv.conf"

    def _chroot(self):
        return [] if self.root == "/" else ["chroot", self.root]

    def server_cmd(self, argv):
        """argv run inside the server's netns and file system."""
        return ["ip", "netns", "exec", self.srv_ns] + self._chroot() + list(argv)

    def occtl(self, args, json=False, user=None, netns=True, socket=None):
        """occtl [-j] -s SOCKET ARGS (socket=False: no -s, as ``occtl --version`` needs)."""
        sock = [] if socket is False else ["-s", socket or self.socket]
        argv = ["occtl"] + (["-j"] if json else []) + sock + list(args)
        if user is not None:
            argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
        argv = self._chroot() + argv
        if netns:
            argv = ["ip", "netns", "exec", self.srv_ns] + argv
        start = time.time()
        res = run(argv, check=False, stdin=subprocess.DEVNULL)
        return res, time.time() - start

    # ---- set-up
    def setup(self):
        self.cleanup_stale()
        if self.root != "/":
            for sub, how in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"]), ("sys", ["--bind", "/sys"])):
                target = os.path.join(self.root, sub)
                run(["mount"] + how + [target])
                self.mounts.append(target)
        os.makedirs(self.work + "/run", exist_ok=True)
        os.makedirs(self.work + "/config-per-user", exist_ok=True)
        os.chmod(self.work, 0o755)
        self._certs()
        with open(self.work + "/config-per-user/alice", "w") as f:
            f.write("iroute = 10.99.0.0/255.255.0.0\n")
        for name, pw in USERS.items():
            run(self._chroot() + ["ocpasswd", "-c", self.inner + "/passwd", name], input="%s\n%s\n" % (pw, pw))
        with open(self.work + "/tun-up.sh", "w") as f:
            f.write(TUN_SCRIPT)
        os.chmod(self.work + "/tun-up.sh", 0o755)
        self.write_conf()
        # namespaces: server + one per client, /32 addressing
        run(["ip", "netns", "add", self.srv_ns])
        run(["ip", "-n", self.srv_ns, "link", "set", "lo", "up"])
        for n, ns in enumerate(self.client_ns, start=1):
            cip = CLIENT_NET.format(n=n)
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", self.srv_ns, "link", "add", "s%d" % n, "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "-n", self.srv_ns, "addr", "add", SERVER_IP + "/32", "dev", "s%d" % n])
            run(["ip", "-n", self.srv_ns, "link", "set", "s%d" % n, "up"])
            run(["ip", "-n", self.srv_ns, "route", "add", cip + "/32", "dev", "s%d" % n])
            run(["ip", "-n", ns, "addr", "add", cip + "/32", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "route", "add", SERVER_IP + "/32", "dev", "eth0"])

    def write_conf(self, extra=None):
        with open(self.work + "/ocserv.conf", "w") as f:
            f.write(CONF.format(w=self.inner, port=self.port, extra=self.extra_conf if extra is None else extra))

    def _certs(self):
        w = self.work
        with open(w + "/ca.tmpl", "w") as f:
            f.write('cn = "test CA"\norganization = "test"\nserial = 1\nexpiration_days = 3650\n'
                    'ca\nsigning_key\ncert_signing_key\ncrl_signing_key\n')
        with open(w + "/server.tmpl", "w") as f:
            f.write('cn = "test server"\norganization = "test"\nserial = 2\nexpiration_days = 3650\nsigning_key\n'
                    'encryption_key\ntls_www_server\ndns_name = "localhost"\nip_address = "%s"\n' % SERVER_IP)
        run(["certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile", w + "/ca-key.pem"])
        run(["certtool", "--generate-self-signed", "--load-privkey", w + "/ca-key.pem", "--template",
             w + "/ca.tmpl", "--outfile", w + "/ca.pem"])
        run(["certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile", w + "/server-key.pem"])
        run(["certtool", "--generate-certificate", "--load-privkey", w + "/server-key.pem", "--load-ca-certificate",
             w + "/ca.pem", "--load-ca-privkey", w + "/ca-key.pem", "--template", w + "/server.tmpl",
             "--outfile", w + "/server-cert.pem"])
        info = run(["certtool", "--certificate-info", "--infile", w + "/server-cert.pem"]).stdout
        self.pin = re.search(r"(pin-sha256:\S+)", info).group(1)

    def start(self, wait=10):
        log = open(self.work + "/ocserv.log", "a")
        self.server_proc = subprocess.Popen(self.server_cmd(["ocserv", "-f", "-d", "3", "-c", self.conf]),
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.server_pid = self.server_proc.pid
        deadline = time.time() + wait
        while time.time() < deadline:
            res = self.occtl(["show", "status"])[0]
            if res.returncode == 0:
                return
            if self.server_proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("ocserv did not start: see %s/ocserv.log" % self.work)

    def wait_server_exit(self, wait=10):
        if self.server_proc is None:
            return None
        try:
            return self.server_proc.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def kill_server(self, sig=signal.SIGTERM):
        if self.server_proc is not None and self.server_proc.poll() is None:
            os.kill(self.server_proc.pid, sig)
            try:
                self.server_proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.server_proc.pid, signal.SIGKILL)
                self.server_proc.wait(10)
        self.server_proc = None

    # ---- clients
    def url(self):
        return "https://%s:%d/" % (SERVER_IP, self.port)

    def connect(self, key, user, client=1, password=None, wait=10):
        """A connected openconnect client (process kept in self.clients[key])."""
        log_path = "%s/client-%s.log" % (self.work, key)
        log = open(log_path, "w")
        argv = ["ip", "netns", "exec", self.client_ns[client - 1], "openconnect", "--protocol=anyconnect",
                "--non-inter", "--passwd-on-stdin", "-u", user, "--servercert", self.pin, "-s",
                self.work + "/tun-up.sh", "--reconnect-timeout", "5", self.url()]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        proc.stdin.write((password or USERS[user]) + "\n")
        proc.stdin.flush()
        self.clients[key] = proc
        deadline = time.time() + wait
        while time.time() < deadline:
            with open(log_path) as f:
                if "Configured as" in f.read():
                    return proc
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("client %s did not connect: %s" % (key, open(log_path).read()))

    def authenticate(self, user, client=1, password=None):
        """openconnect --authenticate: (rc, {COOKIE:..., ...}, output). Leaves an idle session."""
        argv = ["ip", "netns", "exec", self.client_ns[client - 1], "openconnect", "--authenticate",
                "--protocol=anyconnect", "--non-inter", "--passwd-on-stdin", "-u", user, "--servercert", self.pin,
                self.url()]
        res = run(argv, check=False, input=(password or USERS[user]) + "\n")
        values = dict(re.findall(r"^(\w+)='(.*)'$", res.stdout, re.M))
        return res.returncode, values, res.stdout + res.stderr

    def reconnect_with_cookie(self, cookie, client=1, timeout=20):
        """rc of an openconnect started with a cookie; a process that connects is stopped at once (rc 0)."""
        log_path = "%s/client-cookie.log" % self.work
        argv = ["ip", "netns", "exec", self.client_ns[client - 1], "openconnect", "--protocol=anyconnect",
                "--non-inter", "--cookie-on-stdin", "--servercert", self.pin, "-s", "/bin/true",
                "--reconnect-timeout", "5", self.url()]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                    universal_newlines=True)
            proc.stdin.write(cookie + "\n")
            proc.stdin.close()
            deadline = time.time() + timeout
            while time.time() < deadline:
                if proc.poll() is not None:
                    return proc.returncode, open(log_path).read()
                if "Configured as" in open(log_path).read():
                    proc.terminate()
                    proc.wait(10)
                    return 0, open(log_path).read()
                time.sleep(0.05)
            proc.kill()
            proc.wait(10)
            return None, open(log_path).read()

    def stop_client(self, key, sig=signal.SIGTERM):
        proc = self.clients.pop(key, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    # ---- teardown
    def cleanup_stale(self):
        existing = run(["ip", "netns", "list"], check=False).stdout
        for ns in [self.srv_ns] + self.client_ns:
            if re.search(r"^%s\b" % re.escape(ns), existing, re.M):
                pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
                run(["ip", "netns", "del", ns], check=False)
        for sub in ("proc", "dev", "sys"):
            target = os.path.join(self.root, sub)
            if self.root != "/" and os.path.ismount(target):
                run(["umount", "-l", target], check=False)

    def close(self):
        for key in list(self.clients):
            self.stop_client(key)
        if self.server_proc is not None and self.server_proc.poll() is None:
            self.occtl(["stop", "now"])
            if self.wait_server_exit(5) is None:
                self.kill_server(signal.SIGKILL)
        for ns in self.client_ns + [self.srv_ns]:
            run(["ip", "netns", "del", ns], check=False)
        for target in reversed(self.mounts):
            run(["umount", "-l", target], check=False)
        self.mounts = []
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, *exc):
        self.close()
