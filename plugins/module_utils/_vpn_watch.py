# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one core of the Event-Driven Ansible sources (private to the collection).

``extensions/eda/plugins/event_source/{ocserv,openvpn,openvpn3}_watch.py`` are thin: they hand
their arguments to :func:`run_source` with the family's name. Everything they share is here:

* argument checks (hostile values are refused with ``VpnControlError(kind='invalid')``);
* where a server is reached: locally, or over SSH (``ssh ... -- HOST`` + each remote word quoted);
* the event record (``type``, ``server``, ``host``, ``instance``, ``time``, ``meta.hosts``), the
  server gone / back bookkeeping, and the diffing of snapshots (OpenVPN clients, OpenVPN 3
  sessions, ocserv users, bans and ban points).

Reading and parsing the servers is not done here: it is the collection's own code, used as is
(``_ocserv_events`` for ``occtl show events``, ``_ocserv_client.OcctlClient`` for users and bans,
``_openvpn_client.ManagementClient`` + ``_openvpn_parsers.parse_status`` for OpenVPN 2,
``_openvpn3_client.OpenVPN3Client`` for OpenVPN 3).

Needs Python 3.9+ (asyncio); runs where ansible-rulebook runs, never on a managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import errno
import logging
import os
import re
import shlex
import shutil
import socket as _socket
import subprocess
import tempfile
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import (
    VpnControlError,
    as_list,
    check_timeout,
)
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import (
    DEFAULT_SOCKET,
    OcctlClient,
    classify_error,
    run_command,
)
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_events import (
    READY_MARKER,
    EventListener,
    other_listeners,
    parse_event,
    parse_user_row,
)
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import ManagementClient, read_password_file
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import parse_status
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn3_client import (
    OpenVPN3Client,
    subprocess_runner,
)

LOG = logging.getLogger("vpnfleet.control.watch")

FAMILIES = ("ocserv", "openvpn", "openvpn3")
MAX_INTERVAL = 3600.0
DEFAULTS = {
    "interval": {"ocserv": 5.0, "openvpn": 2.0, "openvpn3": 2.0},
    "timeout": 5.0,
    "retry_interval": 5.0,
    "ssh_connect_timeout": 5.0,
}
# An SSH destination: a host name, an address, user@host. Never an option (no leading "-"),
# never a space, quote or shell metacharacter.
_HOST_RE = re.compile(r"^(?!-)[A-Za-z0-9_.@%:\[\]-]{1,255}\Z")
# A name for an instance (OpenVPN): what events carry and rules match on.
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@:-]{1,64}\Z")
# ssh's own failures (rc 255 is also what some remote commands exit with).
_SSH_FAILURE_RE = re.compile(
    r"(^|\n)(ssh: |kex_exchange_identification|Connection (closed|reset|timed out|refused)|"
    r"Host key verification failed|ssh_exchange_identification|"
    r"Could not resolve hostname|Timeout, server .* not responding|client_loop: )|"
    r": Permission denied \((publickey|password|keyboard-interactive|gssapi)")


# ----------------------------------------------------------------------------- arguments

def _invalid(msg):
    return VpnControlError(msg, kind="invalid")


def check_host(value, what="hosts"):
    if not isinstance(value, str) or not _HOST_RE.match(value):
        raise _invalid("%s: %r is not a host name or address SSH can be given (letters, digits, '.', '-', "
                       "'_', '@', ':', '[', ']'; not starting with '-')." % (what, value))
    return value


def check_name(value, what):
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise _invalid("%s: %r is not a valid name (letters, digits, '.', '_', '@', ':', '-'; at most 64)."
                       % (what, value))
    return value


def check_path(value, what):
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value or "\n" in value \
            or len(value) > 4096:
        raise _invalid("%s must be an absolute path, got %r." % (what, value))
    return value


def check_bool(value, what):
    if isinstance(value, bool):
        return value
    raise _invalid("%s must be true or false, got %r." % (what, value))


def _check_args_words(value, what):
    words = as_list(value)
    for word in words:
        if not isinstance(word, str) or "\0" in word or "\n" in word:
            raise _invalid("%s must be a list of strings, got %r." % (what, value))
    return words


def _seconds(args, key, default, maximum=MAX_INTERVAL):
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        raise _invalid("%s must be a number of seconds, got %r." % (key, value))
    return check_timeout(value, key, maximum=maximum)


_COMMON_KEYS = frozenset(["hosts", "host", "ssh_args", "ssh_connect_timeout", "interval", "timeout",
                          "retry_interval", "eda_feedback_queue"])
_FAMILY_KEYS = {
    "ocserv": frozenset(["socket", "occtl_path", "mode", "bans", "ban_interval"]),
    "openvpn": frozenset(["instances"]),
    "openvpn3": frozenset(["busctl_path"]),
}


def check_args(family, args):
    """The source's arguments as a checked dict (``VpnControlError(kind='invalid')`` otherwise)."""
    if family not in FAMILIES:
        raise _invalid("unknown server family %r" % (family,))
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise _invalid("the source's arguments must be a mapping, got %r." % (args,))
    unknown = sorted(str(k) for k in args if k not in _COMMON_KEYS and k not in _FAMILY_KEYS[family])
    if unknown:
        raise _invalid("unknown argument(s) for vpnfleet.control.%s_watch: %s." % (family, ", ".join(unknown)))
    hosts = as_list(args.get("hosts"))
    cfg = {
        "family": family,
        "hosts": [check_host(h) for h in hosts],
        "host": args.get("host"),
        "ssh_args": _check_args_words(args.get("ssh_args"), "ssh_args"),
        "ssh_connect_timeout": _seconds(args, "ssh_connect_timeout", DEFAULTS["ssh_connect_timeout"], 300),
        "interval": _seconds(args, "interval", DEFAULTS["interval"][family]),
        "timeout": _seconds(args, "timeout", DEFAULTS["timeout"], 300),
        "retry_interval": _seconds(args, "retry_interval", DEFAULTS["retry_interval"]),
    }
    if len(set(cfg["hosts"])) != len(cfg["hosts"]):
        raise _invalid("hosts: each host may be named once.")
    if cfg["host"] is not None:
        check_name(cfg["host"], "host")
        if cfg["hosts"]:
            raise _invalid("host names the local machine in events; it cannot be used with hosts (SSH).")
    else:
        cfg["host"] = _socket.gethostname()
    if family == "ocserv":
        cfg["socket"] = check_path(args.get("socket") or DEFAULT_SOCKET, "socket")
        occtl = args.get("occtl_path") or "occtl"
        if occtl != "occtl":
            check_path(occtl, "occtl_path")
        cfg["occtl_path"] = occtl
        cfg["mode"] = args.get("mode") or "stream"
        if cfg["mode"] not in ("stream", "poll"):
            raise _invalid("mode must be stream or poll, got %r." % (cfg["mode"],))
        cfg["bans"] = check_bool(args.get("bans", True), "bans")
        cfg["ban_interval"] = _seconds(args, "ban_interval", cfg["interval"])
    elif family == "openvpn":
        cfg["instances"] = check_instances(args.get("instances"), remote=bool(cfg["hosts"]))
    else:
        busctl = args.get("busctl_path") or "busctl"
        if busctl != "busctl":
            check_path(busctl, "busctl_path")
        cfg["busctl_path"] = busctl
    return cfg


def check_instances(value, remote=False):
    """OpenVPN instances: ``[{name, socket}]`` or ``[{name, host, port, password_file}]``."""
    if value is None:
        raise _invalid("instances is required: the OpenVPN management interfaces to watch, for example "
                       "[{name: server, socket: /run/openvpn-server/server.sock}].")
    items = as_list(value)
    if not items:
        raise _invalid("instances must name at least one management interface.")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise _invalid("each instance must be a mapping with name and socket (or port), got %r." % (item,))
        unknown = sorted(str(k) for k in item if k not in ("name", "socket", "host", "port", "password_file"))
        if unknown:
            raise _invalid("unknown instance key(s): %s." % ", ".join(unknown))
        inst = {"name": check_name(item.get("name"), "instances.name"), "socket": None, "host": None,
                "port": None, "password_file": None}
        if item.get("socket") is not None:
            if item.get("port") is not None or item.get("host") is not None:
                raise _invalid("instance %s: socket and host/port are mutually exclusive." % inst["name"])
            inst["socket"] = check_path(item["socket"], "instances.socket")
        else:
            port = item.get("port")
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise _invalid("instance %s: give socket, or port (1-65535), got %r." % (inst["name"], port))
            inst["port"] = port
            inst["host"] = item.get("host") or "127.0.0.1"
            check_host(inst["host"], "instances.host")
        if item.get("password_file") is not None:
            inst["password_file"] = check_path(item["password_file"], "instances.password_file")
        out.append(inst)
    names = [i["name"] for i in out]
    if len(set(names)) != len(names):
        raise _invalid("instances: each name may be used once.")
    return out


# ----------------------------------------------------------------------------- transport

def ssh_argv(cfg, host, argv, tty=False, keepalive=False):
    """``ssh [options] -- HOST 'word' 'word' ...``: ssh joins the remote words into one shell
    command line, so each one is quoted."""
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % max(1, int(cfg["ssh_connect_timeout"]))]
    if keepalive:
        # a silent network is noticed in ~15 s instead of never
        cmd += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
    cmd += list(cfg["ssh_args"])
    cmd.append("-tt" if tty else "-T")
    cmd += ["--", host]
    cmd += [shlex.quote(word) for word in argv]
    return cmd


def ssh_failed(rc, stderr):
    """Whether an rc/stderr is ssh's own failure (host unreachable) rather than the remote command's."""
    return rc == 255 and bool(_SSH_FAILURE_RE.search(stderr or ""))


def unreachable(host, stderr):
    text = (stderr or "").strip().splitlines()
    return VpnControlError("host %s cannot be reached over SSH: %s" % (host, text[-1] if text else "ssh failed"),
                           kind="unreachable_host")


def make_runner(cfg, host, base):
    """A runner ``(argv, timeout) -> (rc, out, err)``: ``base`` itself locally; over SSH the same
    ``base`` runs ``ssh ... HOST argv`` and ssh's own failures raise ``kind='unreachable_host'``."""
    if host is None:
        return base

    def remote(argv, timeout):
        rc, out, err = base(ssh_argv(cfg, host, argv), timeout + cfg["ssh_connect_timeout"])
        if ssh_failed(rc, err):
            raise unreachable(host, err)
        return rc, out, err
    return remote


# ----------------------------------------------------------------------------- events

def make_event(cfg, etype, host, instance, **fields):
    """One event: what happened (``type``), where (``server``, ``host``, ``instance``), when.

    ``meta.hosts`` is the inventory host, so that ansible-rulebook's ``run_module`` /
    ``run_playbook`` actions run against exactly that host."""
    event = {"type": etype, "server": cfg["family"], "host": host, "instance": instance,
             "time": round(time.time(), 3)}
    event.update(fields)
    event["meta"] = {"hosts": host}
    return event


class Presence(object):
    """Server up (first look), gone, back: one event per change, none while nothing changes."""

    def __init__(self):
        self.up = None

    def seen_up(self):
        """``'server_up'`` at the first look (the watch is ready), ``'server_back'`` after a gone
        server answers again, else None."""
        was, self.up = self.up, True
        if was is None:
            return "server_up"
        return "server_back" if was is False else None

    def seen_down(self):
        """``'server_gone'`` once per outage (also when the first look finds it down)."""
        was, self.up = self.up, False
        return "server_gone" if was is not False else None


def diff_keyed(old, new):
    """Keys added to and removed from a snapshot (``{key: record}``), each sorted by str()."""
    added = sorted((k for k in new if k not in old), key=str)
    removed = sorted((k for k in old if k not in new), key=str)
    return added, removed


# -- OpenVPN 2

OPENVPN_FIELDS = ("common_name", "username", "real_address", "real_ip", "real_port", "proto",
                  "virtual_address", "virtual_ipv6_address", "client_id", "peer_id", "connected_since")


def openvpn_key(client):
    """A connection's identity: client id (2.4+) and common name; else CN, address and connect time."""
    if client.get("client_id") is not None:
        return ("cid", client["client_id"], client.get("common_name"))
    return ("row", client.get("common_name"), client.get("real_address"), client.get("connected_since"))


def openvpn_snapshot(status):
    """``parse_status()`` output -> ``{key: client}``.

    A row whose common name is still ``UNDEF`` is a TLS handshake in progress (a client with a revoked
    certificate stays there until it is refused): not a connection yet. When it completes, the row
    gets the certificate's name (same client id): a new key, so a ``connect``."""
    return dict((openvpn_key(c), c) for c in status.get("clients", []) if c.get("common_name") not in (None, "UNDEF"))


def openvpn_management(inst):
    """The instance's connection options for ``openvpn_client`` / ``openvpn_command``, without the
    unset ones (a rule passes them on as they are: ``dict(event.management, common_name=...)``)."""
    keys = ("socket",) if inst["socket"] else ("host", "port", "password_file")
    return dict((k, inst[k]) for k in keys if inst[k] is not None)


def openvpn_changes(old, new):
    """``[(type, client)]``: connect for each new connection, disconnect for each one gone."""
    added, removed = diff_keyed(old, new)
    return [("disconnect", old[k]) for k in removed] + [("connect", new[k]) for k in added]


def openvpn_fields(client):
    fields = dict((k, client.get(k)) for k in OPENVPN_FIELDS)
    fields["user"] = client.get("common_name")
    return fields


# -- OpenVPN 3

OPENVPN3_FIELDS = ("path", "config_name", "session_name", "device", "owner", "backend_pid", "created")
_STATE_TYPES = {"connected": "connect", "paused": "pause", "disconnected": "disconnect", "exited": "disconnect"}


def openvpn3_snapshot(sessions):
    return dict((s["path"], s) for s in sessions if s.get("path"))


def openvpn3_changes(old, new):
    """``[(type, session, state, previous_state)]`` for every session that came, went or changed state.

    A new session is reported with its state (``previous_state`` None); a session gone from the
    manager is a ``disconnect`` with state ``gone``."""
    changes = []
    added, removed = diff_keyed(old, new)
    for path in removed:
        changes.append(("disconnect", old[path], "gone", old[path].get("state")))
    for path in sorted(new, key=str):
        state = new[path].get("state")
        before = old[path].get("state") if path in old else None
        if path in old and before == state:
            continue
        changes.append((_STATE_TYPES.get(state, "state"), new[path], state, before))
    return changes


def openvpn3_fields(session, state, previous):
    fields = dict((k, session.get(k)) for k in OPENVPN3_FIELDS)
    status = session.get("status") or {}
    fields.update({
        "user": session.get("config_name"),
        "state": state,
        "previous_state": previous,
        "status": status.get("text"),
        "connected_to": session.get("connected_to"),
    })
    return fields


# -- ocserv

OCSERV_USER_FIELDS = ("id", "username", "vhost", "remote_ip", "vpn_ipv4", "vpn_ipv6")


def ocserv_fields(record):
    fields = dict((k, record.get(k)) for k in OCSERV_USER_FIELDS)
    fields["user"] = record.get("username")
    for extra in ("session", "reason", "duration"):
        if record.get(extra) is not None:
            fields[extra] = record[extra]
    return fields


def ocserv_user_changes(old, new):
    """Poll mode / a restarted stream: ``[(type, user)]`` from two ``{id: user}`` snapshots."""
    added, removed = diff_keyed(old, new)
    return [("disconnect", old[k]) for k in removed] + [("connect", new[k]) for k in added]


def ban_active(ban):
    """1.1.6 and 1.3.0 keep expired bans in ``show ip bans`` (1.4.0 hides them): 0 s left = not banned."""
    return ban.get("remaining") is None or ban["remaining"] > 0


def ban_changes(old, new):
    """``[(type, ban)]`` from two ``{ip: ban}`` snapshots of active bans."""
    added, removed = diff_keyed(old, new)
    return [("unban", old[k]) for k in removed] + [("ban", new[k]) for k in added]


def ban_point_changes(old, new):
    """``[(ip, score, previous_score)]`` for each address whose score rose (failed logins, connections).

    A score that fell (reset, unban) is not reported; an address seen for the first time counts from 0."""
    out = []
    for ip in sorted(new, key=str):
        before = old.get(ip, 0)
        if new[ip] > before:
            out.append((ip, new[ip], before))
    return out


class OcctlEventStream(object):
    """Incremental reader of ``occtl show events``: bytes in, ``('user', row)``, ``('ready', None)``
    and ``('event', event)`` out, using ``_ocserv_events``'s parsers."""

    def __init__(self):
        self.buffer = b""
        self.ready = False

    def feed(self, data, when=None):
        self.buffer += data
        out = []
        while b"\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n", 1)
            line = raw.decode("utf-8", "replace").rstrip("\r")
            if not self.ready:
                if line.strip() == READY_MARKER:
                    self.ready = True
                    out.append(("ready", None))
                    continue
                row = parse_user_row(line)
                if row is not None:
                    out.append(("user", row))
                continue
            event = parse_event(line, when=when)
            if event is not None:
                out.append(("event", event))
        return out


# ----------------------------------------------------------------------------- the watchers

class Watcher(object):
    """One host's watch of one family; ``run()`` never returns until cancelled."""

    def __init__(self, cfg, host, emit, remote):
        self.cfg = cfg
        self.host = host          # the inventory name in events
        self.remote = remote      # reach it over SSH
        self._emit = emit

    async def emit(self, etype, instance, **fields):
        await self._emit(make_event(self.cfg, etype, self.host, instance, **fields))

    async def presence(self, presence, instance, error=None):
        """Report a change of up/down; ``error`` None means up."""
        if error is None:
            etype = presence.seen_up()
            if etype:
                await self.emit(etype, instance, initial=etype == "server_up")
            return
        first = presence.up is None
        etype = presence.seen_down()
        if etype:
            kind = getattr(error, "kind", "error")
            await self.emit(etype, instance, initial=first, cause="unreachable_host" if kind == "unreachable_host" else
                            ("busy" if kind == "busy" else "not_answering"),
                            error_kind=kind, message=getattr(error, "msg", str(error)))
        LOG.debug("%s %s: %s", self.host, instance, error)

    async def blocking(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)


class OpenVPNWatcher(Watcher):
    """Polls each instance's ``status 3`` in short sessions (connect, one command, quit).

    Over SSH, one ``ssh -N -L`` per host forwards a local socket to each management interface, so
    the collection's ``ManagementClient`` speaks to it as to a local one."""

    def __init__(self, cfg, host, emit, remote):
        super(OpenVPNWatcher, self).__init__(cfg, host, emit, remote)
        self.tmpdir = None
        self.tunnel = None
        self.passwords = {}

    def _local_target(self, inst):
        if not self.remote:
            return inst["socket"], inst["host"], inst["port"]
        return os.path.join(self.tmpdir, inst["name"] + ".sock"), None, None

    def _start_tunnel(self):
        if self.tmpdir is None:
            self.tmpdir = tempfile.mkdtemp(prefix="vpnfleet-watch-")   # 0700
        forwards = []
        for inst in self.cfg["instances"]:
            local = os.path.join(self.tmpdir, inst["name"] + ".sock")
            if os.path.exists(local):
                os.unlink(local)
            remote = inst["socket"] or "%s:%d" % (inst["host"], inst["port"])
            forwards += ["-L", "%s:%s" % (local, remote)]
        argv = ssh_argv(self.cfg, self.host, [], keepalive=True)
        at = argv.index("--")
        # a connection of its own (a ControlMaster from the user's ssh_config would take the forwards
        # over and let this process exit), that ends when a forward cannot be set up
        argv = argv[:at] + ["-N", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ExitOnForwardFailure=yes",
                            "-o", "StreamLocalBindUnlink=yes"] + forwards + argv[at:]
        # a long-lived ssh in its own session, watched while events stream (no AnsibleModule here:
        # the event source runs in ansible-rulebook, so run_command is no choice)
        self.tunnel = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, close_fds=True,
            start_new_session=True)

    def _tunnel_ready(self):
        """None when every forward listens; an error when ssh has exited."""
        deadline = time.time() + self.cfg["ssh_connect_timeout"] + 5
        while time.time() < deadline:
            if self.tunnel.poll() is not None:
                err = self.tunnel.stderr.read().decode("utf-8", "replace")
                return unreachable(self.host, err) if ssh_failed(self.tunnel.returncode, err) else \
                    VpnControlError("ssh forwarding to %s ended (rc %s): %s"
                                    % (self.host, self.tunnel.returncode, err.strip() or "no message"), kind="error")
            if all(os.path.exists(self._local_target(i)[0]) for i in self.cfg["instances"]):
                return None
            time.sleep(0.05)
        return VpnControlError("ssh to %s did not set up its forwards in time" % self.host, kind="unreachable_host")

    def _stop_tunnel(self):
        if self.tunnel is not None:
            if self.tunnel.poll() is None:
                self.tunnel.terminate()
                try:
                    self.tunnel.wait(5)
                except subprocess.TimeoutExpired:
                    self.tunnel.kill()
                    self.tunnel.wait()
            self.tunnel.stderr.close()
            self.tunnel = None

    def poll_instance(self, inst):
        """One short management session: the parsed ``status 3``."""
        sock, host, port = self._local_target(inst)
        password = None
        if inst["password_file"]:
            if inst["password_file"] not in self.passwords:
                self.passwords[inst["password_file"]] = self._read_password(inst["password_file"])
            password = self.passwords[inst["password_file"]]
        try:
            with ManagementClient(socket_path=sock, host=host, port=port, password=password,
                                  timeout=self.cfg["timeout"]) as client:
                reply = client.command("status 3")
        except VpnControlError as exc:
            if self.remote and exc.kind in ("permission_denied", "not_found", "unreachable"):
                # through the forward, a stopped instance (socket missing, nothing listening) and a
                # refusal both look like a connection closed without a banner
                raise VpnControlError(
                    "the management interface %s on %s closed the connection through the SSH forward without "
                    "a banner: the instance is stopped, its socket is missing, or management-client-user "
                    "refuses the SSH user" % (inst["socket"] or "%s:%s" % (inst["host"], inst["port"]), self.host),
                    kind="not_answering")
            raise
        return parse_status(reply.lines)

    def _read_password(self, path):
        if not self.remote:
            return read_password_file(path)
        rc, out, err = make_runner(self.cfg, self.host, run_command)(["cat", "--", path], self.cfg["timeout"])
        if rc != 0:
            raise VpnControlError("cannot read the password file %s on %s: %s" % (path, self.host, err.strip()),
                                  kind="permission_denied")
        return out.splitlines()[0] if out else ""

    async def run(self):
        snapshots = dict((i["name"], None) for i in self.cfg["instances"])
        presence = dict((i["name"], Presence()) for i in self.cfg["instances"])
        host_presence = Presence()
        try:
            while True:
                started = time.monotonic()
                if self.remote and (self.tunnel is None or self.tunnel.poll() is not None):
                    self._stop_tunnel()
                    self._start_tunnel()
                    error = await self.blocking(self._tunnel_ready)
                    if error is not None:
                        self._stop_tunnel()
                        for inst in self.cfg["instances"]:
                            await self.presence(presence[inst["name"]], inst["name"], error)
                        await asyncio.sleep(self.cfg["retry_interval"])
                        continue
                    host_presence.seen_up()
                for inst in self.cfg["instances"]:
                    await self.poll_once(inst, snapshots, presence[inst["name"]])
                await asyncio.sleep(max(0.0, self.cfg["interval"] - (time.monotonic() - started)))
        finally:
            self._stop_tunnel()
            if self.tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    async def poll_once(self, inst, snapshots, presence):
        name = inst["name"]
        try:
            status = await self.blocking(self.poll_instance, inst)
        except VpnControlError as exc:
            if exc.kind == "busy":
                # another management client holds the interface: the server is up, try next round
                LOG.warning("%s %s: %s", self.host, name, exc.msg)
                return
            # the clients left with the server, or cannot be seen: the next snapshot tells
            await self.presence(presence, name, exc)
            return
        await self.presence(presence, name)
        new = openvpn_snapshot(status)
        old = snapshots[name]
        initial = old is None
        management = openvpn_management(inst)
        for etype, client in openvpn_changes(old or {}, new):
            await self.emit(etype, name, initial=initial, management=management, **openvpn_fields(client))
        snapshots[name] = new


class OpenVPN3Watcher(Watcher):
    """Polls the OpenVPN 3 session manager (``busctl``) and reports each session's state changes."""

    def poll(self):
        runner = make_runner(self.cfg, self.host if self.remote else None, subprocess_runner)
        client = OpenVPN3Client(timeout=self.cfg["timeout"], runner=runner, busctl=self.cfg["busctl_path"])
        return client.sessions(statistics=False)

    async def run(self):
        presence = Presence()
        old = None
        while True:
            started = time.monotonic()
            try:
                sessions = await self.blocking(self.poll)
            except VpnControlError as exc:
                await self.presence(presence, "sessions", exc)
                await asyncio.sleep(self.cfg["retry_interval"])
                continue
            await self.presence(presence, "sessions")
            new = openvpn3_snapshot(sessions)
            for etype, session, state, before in openvpn3_changes(old or {}, new):
                await self.emit(etype, "sessions", initial=old is None, **openvpn3_fields(session, state, before))
            old = new
            await asyncio.sleep(max(0.0, self.cfg["interval"] - (time.monotonic() - started)))


async def read_fd(fd, timeout):
    """One chunk from ``fd`` (b'' at EOF / EIO), or None after ``timeout`` seconds (None: no limit)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def readable():
        if future.done():
            return
        try:
            future.set_result(os.read(fd, 65536))
        except OSError as exc:
            if exc.errno == errno.EIO:     # the pty's other side is closed: the process ended
                future.set_result(b"")
            elif exc.errno not in (errno.EAGAIN, errno.EINTR):
                future.set_exception(exc)
    loop.add_reader(fd, readable)
    try:
        return await asyncio.wait_for(future, timeout)
    except asyncio.TimeoutError:
        return None
    finally:
        loop.remove_reader(fd)


class OcservWatcher(Watcher):
    """``occtl show events`` held open (stream mode) or ``show users`` polled (poll mode), and
    ``show ip bans`` / ``show ip ban points`` polled, for one ocserv server."""

    def __init__(self, cfg, host, emit, remote):
        super(OcservWatcher, self).__init__(cfg, host, emit, remote)
        self.instance = cfg["socket"]
        self.presence_state = Presence()
        self.users = None            # {id: user} as last known

    def client(self):
        return OcctlClient(socket=self.cfg["socket"], occtl_path=self.cfg["occtl_path"], timeout=self.cfg["timeout"],
                           runner=make_runner(self.cfg, self.host if self.remote else None, run_command))

    async def run(self):
        tasks = [asyncio.ensure_future(self.run_stream() if self.cfg["mode"] == "stream" else self.run_poll())]
        if self.cfg["bans"]:
            tasks.append(asyncio.ensure_future(self.run_bans()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def users_seen(self, users):
        """A full list of the connected users (start of a stream, a poll): report the difference."""
        new = dict((u["id"], u) for u in users)
        initial = self.users is None
        for etype, user in ocserv_user_changes(self.users or {}, new):
            fields = ocserv_fields(user)
            if etype == "disconnect":
                fields.setdefault("reason", "not seen while the watch was not listening")
            await self.emit(etype, self.instance, initial=initial, **fields)
        self.users = new

    async def run_poll(self):
        while True:
            started = time.monotonic()
            try:
                users = await self.blocking(lambda: self.client().users())
            except VpnControlError as exc:
                await self.presence(self.presence_state, self.instance, exc)
                await asyncio.sleep(self.cfg["retry_interval"])
                continue
            await self.presence(self.presence_state, self.instance)
            await self.users_seen(users)
            await asyncio.sleep(max(0.0, self.cfg["interval"] - (time.monotonic() - started)))

    def _listener(self):
        listener = EventListener(self.cfg["socket"], self.cfg["occtl_path"], timeout=self.cfg["timeout"])
        if self.remote:
            # a pty on the far side too: occtl's output then arrives line by line, and 'q' reaches it
            listener.argv = ssh_argv(self.cfg, self.host, listener.argv, tty=True, keepalive=True)
        return listener

    async def run_stream(self):
        while True:
            error = await self.stream_once()
            await self.presence(self.presence_state, self.instance, error)
            await asyncio.sleep(self.cfg["retry_interval"])

    async def stream_once(self):
        """One ``occtl show events`` until it ends: the error that ended it."""
        listener = self._listener()
        if not self.remote:
            others = other_listeners(socket=self.cfg["socket"])
            if others:
                LOG.warning("another occtl show events runs (%s): ocserv sends events to the first listener only, "
                            "so this watch may receive none (use mode: poll beside it)",
                            ", ".join("pid %d" % o["pid"] for o in others))
        stream = OcctlEventStream()
        at_start = []
        try:
            listener.start()
        except VpnControlError as exc:
            return exc
        try:
            deadline = time.monotonic() + self.cfg["timeout"] + (self.cfg["ssh_connect_timeout"] if self.remote else 0)
            while True:
                timeout = None if stream.ready else max(0.01, deadline - time.monotonic())
                chunk = await read_fd(listener.master, timeout)
                if chunk is None:
                    return VpnControlError("occtl show events did not start listening within %s s"
                                           % self.cfg["timeout"], kind="timeout")
                if chunk == b"":
                    break
                for kind, item in stream.feed(chunk, when=time.time()):
                    if kind == "user":
                        at_start.append(item)
                    elif kind == "ready":
                        await self.presence(self.presence_state, self.instance)
                        await self.users_seen(at_start)
                    else:
                        await self.event(item)
        finally:
            rc = await self.blocking(listener.stop)
        stderr = listener.stderr.decode("utf-8", "replace")
        if self.remote and ssh_failed(rc, stderr):
            return unreachable(self.host, stderr)
        if stream.ready:
            return VpnControlError("ocserv closed the event stream (rc %s: %s): the server stopped or restarted"
                                   % (rc, stderr.strip() or "no output"), kind="unreachable")
        return classify_error(listener.argv, rc, "", stderr, self.cfg["socket"]) or VpnControlError(
            "occtl show events ended before listening (rc %s): %s" % (rc, stderr.strip() or "no output"),
            kind="error")

    async def event(self, item):
        users = self.users if self.users is not None else {}
        if item["event"] == "connect":
            users[item["id"]] = item
        else:
            users.pop(item["id"], None)
        self.users = users
        fields = ocserv_fields(item)
        await self.emit(item["event"], self.instance, initial=False, **fields)

    def read_bans(self):
        client = self.client()
        bans = dict((b["ip"], b) for b in client.bans() if b.get("ip") and ban_active(b))
        points = dict((p["ip"], p["score"]) for p in client.ban_points() if p.get("ip"))
        return bans, points

    async def run_bans(self):
        old_bans = old_points = None
        while True:
            started = time.monotonic()
            try:
                bans, points = await self.blocking(self.read_bans)
            except VpnControlError as exc:
                # the users' watch reports the server's presence
                LOG.debug("%s: bans: %s", self.host, exc.msg)
                await asyncio.sleep(self.cfg["retry_interval"])
                continue
            initial = old_bans is None
            for etype, ban in ban_changes(old_bans or {}, bans):
                await self.emit(etype, self.instance, initial=initial, ip=ban["ip"], score=ban.get("score"),
                                expires=ban.get("expires"))
            if old_points is not None:
                for ip, score, before in ban_point_changes(old_points, points):
                    await self.emit("ban_points", self.instance, initial=False, ip=ip, score=score,
                                    previous_score=before, added=score - before)
            old_bans, old_points = bans, points
            await asyncio.sleep(max(0.0, self.cfg["ban_interval"] - (time.monotonic() - started)))


WATCHERS = {"ocserv": OcservWatcher, "openvpn": OpenVPNWatcher, "openvpn3": OpenVPN3Watcher}


async def _guarded(watcher):
    """A watcher that fails unexpectedly is logged and started again: one host's trouble never
    ends the watch of the others."""
    while True:
        try:
            await watcher.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # pylint: disable=broad-except
            LOG.exception("vpnfleet.control.%s_watch: watching %s failed; starting again in %s s",
                          watcher.cfg["family"], watcher.host, watcher.cfg["retry_interval"])
        await asyncio.sleep(watcher.cfg["retry_interval"])


async def run_source(family, queue, args):
    """The body of every ``*_watch`` source: one watcher per host, all in this event loop."""
    if isinstance(args, dict) and isinstance(args.get("hosts"), list) and not args["hosts"]:
        # hosts: [] - nothing of this family to watch (one rulebook serves fleets without it)
        LOG.info("vpnfleet.control.%s_watch: hosts is empty, nothing to watch", family)
        await asyncio.Event().wait()
    try:
        cfg = check_args(family, args)
    except VpnControlError as exc:
        raise ValueError("vpnfleet.control.%s_watch: %s" % (family, exc.msg))

    async def emit(event):
        await queue.put(event)

    cls = WATCHERS[family]
    if cfg["hosts"]:
        watchers = [cls(cfg, host, emit, remote=True) for host in cfg["hosts"]]
    else:
        watchers = [cls(cfg, cfg["host"], emit, remote=False)]
    tasks = [asyncio.ensure_future(_guarded(w)) for w in watchers]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
