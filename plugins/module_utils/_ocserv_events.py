# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded listening to ``occtl show events`` (private to the collection).

Facts this is built on (checked on ocserv 1.1.6, 1.3.0 and 1.5.0 with real openconnect clients;
described in the collection's docs/ocserv-passwd-events.md):

* ``show events`` never ends by itself. It prints the current ``show users`` table, then
  ``Press 'q' or CTRL+C to quit``, then one line per event; it quits on ``q`` on stdin.
* Only the plain format says what happened (``connected`` / ``disconnect``, with the reason
  and the connection time); ``-j`` prints the user record only. The plain format is used.
* stdout is block-buffered when it is not a tty: occtl's stdout is a pty here, so every event
  arrives when it happens (without relying on ``stdbuf``).
* stdin at EOF makes occtl spin at ~95 % CPU: its stdin is a pipe kept open until the end.
* ocserv sends events to one listener only: the first one connected. A listener started while
  another one runs gets the initial table and then nothing, even after the other one quits.
  Other ``occtl ... show events`` processes visible in /proc are reported.
* When ocserv stops, occtl prints ``events: read1: ...`` (or ``events: server closed the
  connection``) and exits.

occtl runs in its own process group with ``PR_SET_PDEATHSIG`` = SIGKILL (Linux), so it dies with
the module even when the module is killed (async timeout, SIGKILL); on every other exit path the
group is asked to quit (``q``), then SIGTERM, then SIGKILL, and reaped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import select
import signal
import subprocess
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import (
    VpnControlError,
    check_timeout,
    kill_group,
    spawn,
    socket_key,
)
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import DEFAULT_SOCKET, build_argv, classify_error
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_parsers import parse_interval

READY_MARKER = "Press 'q' or CTRL+C to quit"
EVENT_TYPES = ("connect", "disconnect")

# <vhost>: connected user '<user>' (<id>) from <ip> with IP <vpn ip>
# <vhost>: disconnect user '<user>' (<id>) from <ip> with IP <vpn ip> (reason: <text>, time: <ival7>)
_EVENT_RE = re.compile(
    r"^(?P<vhost>.*?): (?P<kind>connected|disconnect) user '(?P<username>.*)' \((?P<id>\d+)\) "
    r"from (?P<remote_ip>\S*) with IP (?P<vpn_ip>\S*)"
    r"(?: \(reason: (?P<reason>.*), time: (?P<time>[^)]*)\))?$")

# "%8d %8s %8s %14s %14s %6s " + 7-char interval + " %14s %9s" (common_user_list)
_USER_ROW_RE = re.compile(
    r"^\s*(?P<id>\d+)\s+(?P<username>\S+)\s+(?P<vhost>\S+)\s+(?P<remote_ip>\S+)\s+(?P<vpn_ip>\S+)\s+"
    r"(?P<device>\S+)\s+(?P<since>\d+days|\d+h:\d+m|\d+m:\d+s|\d+s|\?)\s+(?P<dtls_cipher>\S+)\s+(?P<status>\S+)\s*$")
# Rows with empty columns (a user still authenticating has no VPN address or device yet):
# id, user, vhost, address and status are still certain.
_USER_ROW_LOOSE_RE = re.compile(
    r"^\s*(?P<id>\d+)\s+(?P<username>\S+)\s+(?P<vhost>\S+)\s+(?P<remote_ip>\S+)\s.*\s(?P<status>\S+)\s*$")

PR_SET_PDEATHSIG = 1


def _split_vpn_ip(text):
    if not text:
        return None, None
    if ":" in text:
        return None, text
    return text, None


def parse_event(line, when=None):
    """One plain event line as a dict, or None when the line is not an event."""
    match = _EVENT_RE.match(line.rstrip("\r\n"))
    if not match:
        return None
    ipv4, ipv6 = _split_vpn_ip(match.group("vpn_ip"))
    event = {
        "event": "connect" if match.group("kind") == "connected" else "disconnect",
        "id": int(match.group("id")),
        "username": match.group("username"),
        "vhost": match.group("vhost"),
        "remote_ip": match.group("remote_ip") or None,
        "vpn_ipv4": ipv4,
        "vpn_ipv6": ipv6,
        "time": round(when, 3) if when is not None else None,
        "line": line.rstrip("\r\n"),
    }
    if event["event"] == "disconnect":
        ival = parse_interval(match.group("time"))
        event["reason"] = match.group("reason")
        event["duration"] = ival[0] if ival else None
        event["duration_text"] = (match.group("time") or "").strip() or None
    return event


def parse_user_row(line):
    """A row of the initial users table (as ``show users`` prints it), or None."""
    match = _USER_ROW_RE.match(line)
    if not match:
        loose = _USER_ROW_LOOSE_RE.match(line)
        if not loose:
            return None
        row = dict((key, None) for key in ("device", "since", "dtls_cipher", "vpn_ipv4", "vpn_ipv6",
                                           "connected_for"))
        row.update(loose.groupdict())
        row["id"] = int(row["id"])
        return row
    row = match.groupdict()
    ipv4, ipv6 = _split_vpn_ip(row.pop("vpn_ip"))
    row["id"] = int(row["id"])
    row["vpn_ipv4"] = ipv4
    row["vpn_ipv6"] = ipv6
    ival = parse_interval(row["since"])
    row["connected_for"] = ival[0] if ival else None
    return row


def matches(event, until):
    """Whether ``event`` satisfies every condition given in ``until``."""
    if not until:
        return False
    for key in ("event", "username", "id", "remote_ip", "vhost"):
        wanted = until.get(key)
        if wanted is None:
            continue
        if key == "id":
            if event.get("id") != int(wanted):
                return False
        elif event.get(key) != wanted:
            return False
    return True


def _socket_of(args):
    """The socket an occtl argv (after ``occtl``) uses; None for the default."""
    for i, arg in enumerate(args):
        if arg in ("-s", "--socket-file") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--socket-file="):
            return arg.split("=", 1)[1]
    return None


def _same_socket(a, b):
    a = a or DEFAULT_SOCKET
    b = b or DEFAULT_SOCKET
    return a == b or socket_key(a) == socket_key(b)


def other_listeners(own_pids=(), proc="/proc", socket=None):
    """Other ``occtl ... show events`` processes visible here: ``[{pid, cmdline}]``.

    With ``socket``, only those using the same control socket (``-s``; occtl's default when none).

    ocserv sends events to the first listener only; a listener started while one of these runs
    receives none. Processes of other PID namespaces are not visible.
    """
    found = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) in own_pids:
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                raw = handle.read()
        except (IOError, OSError):
            continue
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        if not argv:
            continue
        # occtl itself, or a wrapper (stdbuf, timeout, ip netns exec, chroot) running it
        occtl_at = [i for i, a in enumerate(argv) if os.path.basename(a) == "occtl"]
        if not occtl_at:
            continue
        args = argv[occtl_at[0] + 1:]
        text = " ".join(a.lower() for a in args)
        if socket is not None and not _same_socket(_socket_of(args), socket):
            continue
        if re.search(r"(^|\s)(show\s+)?events(\s|$)", text) and "show" in text:
            found.append({"pid": int(entry), "cmdline": " ".join(argv)})
    return sorted(found, key=lambda item: item["pid"])


def _libc_prctl():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except Exception:  # pylint: disable=broad-except
        return None


def _child_setup(prctl, parent_pid):
    """preexec_fn: die with the parent (Linux), even when it is SIGKILLed."""

    def setup():
        if prctl is not None:
            try:
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            except Exception:  # pylint: disable=broad-except
                pass
            if os.getppid() != parent_pid:   # the parent died before prctl
                os._exit(1)
    return setup


class _Interrupted(Exception):
    """SIGTERM/SIGHUP/SIGINT arrived while listening."""

    def __init__(self, signum):
        super(_Interrupted, self).__init__("signal %d" % signum)
        self.signum = signum


class EventListener(object):
    """One bounded ``occtl show events``.

    ``listen()`` returns a dict: ``events``, ``stopped_by`` (``until``, ``max_events``,
    ``duration``), ``matched`` (the event that met ``until``), ``users_at_start``,
    ``listening_since``/``listening_until`` (epochs), ``other_listeners``. Raises
    ``VpnControlError`` (with the events collected so far in ``events``) when occtl fails.
    """

    def __init__(self, socket, occtl_path="occtl", timeout=10, clock=time.time):
        self.socket = socket
        self.occtl_path = occtl_path
        self.timeout = check_timeout(timeout)
        self.clock = clock
        self.argv = build_argv(occtl_path, socket, ["show", "events"], json_output=False)
        self.proc = None
        self.master = None
        self.stdin_w = None
        self.stderr_fd = None
        self.stderr = b""

    # ---- process handling
    def start(self):
        import pty
        import termios
        master, slave = pty.openpty()
        try:
            attrs = termios.tcgetattr(slave)
            attrs[1] &= ~termios.OPOST          # no \n -> \r\n on the pty
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
        except termios.error:
            pass
        stdin_r, stdin_w = os.pipe()
        env = dict(os.environ)
        env["LC_ALL"] = "C"
        env.pop("PAGER", None)
        try:
            self.proc = spawn(
                self.argv, what="install ocserv, which provides occtl, or set occtl_path",
                stdin=stdin_r, stdout=slave, stderr=subprocess.PIPE, env=env,
                preexec_fn=_child_setup(_libc_prctl(), os.getpid()))
        except VpnControlError:
            for fd in (master, slave, stdin_r, stdin_w):
                os.close(fd)
            raise
        os.close(slave)
        os.close(stdin_r)
        self.master = master
        self.stdin_w = stdin_w
        self.stderr_fd = self.proc.stderr.fileno()

    def stop(self):
        """Quit occtl and its process group; always reaps. Safe to call twice."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None and self.stdin_w is not None:
                try:
                    os.write(self.stdin_w, b"q")
                except OSError:
                    pass
                self._wait(proc, 1.0)
            kill_group(proc)   # the group: occtl and anything it started (sudo, a wrapper)
        finally:
            for fd in (self.master, self.stdin_w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            if proc.stderr is not None:
                try:
                    self.stderr += self._drain(self.stderr_fd)
                except Exception:  # pylint: disable=broad-except
                    pass
                proc.stderr.close()
            self.master = self.stdin_w = None
            self.proc = None
        return proc.returncode

    @staticmethod
    def _wait(proc, seconds):
        deadline = time.time() + seconds
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)

    @staticmethod
    def _drain(fd):
        data = b""
        while True:
            ready, _w, _x = select.select([fd], [], [], 0)
            if not ready:
                return data
            chunk = os.read(fd, 65536)
            if not chunk:
                return data
            data += chunk

    def _read(self, deadline):
        """(stdout chunk or b'' on EOF or None on timeout). stderr is collected on the side."""
        while True:
            left = deadline - self.clock()
            if left <= 0:
                return None
            fds = [self.master] + ([self.stderr_fd] if self.stderr_fd is not None else [])
            try:
                ready, _w, _x = select.select(fds, [], [], min(left, 0.5))
            except (OSError, select.error) as exc:
                if getattr(exc, "errno", None) == errno.EINTR or (exc.args and exc.args[0] == errno.EINTR):
                    continue
                raise
            if self.stderr_fd in ready:
                chunk = os.read(self.stderr_fd, 65536)
                if chunk:
                    self.stderr += chunk
                else:
                    self.stderr_fd = None
            if self.master in ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError as exc:
                    if exc.errno == errno.EIO:   # the pty's other side is closed: occtl exited
                        return b""
                    raise
                return chunk
            if not ready and self.proc.poll() is not None:
                return b""

    # ---- the listening
    def listen(self, duration=10, until=None, max_events=None, on_other_listener="warn", on_ready=None):
        result = {
            "events": [], "stopped_by": None, "matched": None, "users_at_start": [],
            "listening_since": None, "listening_until": None, "other_listeners": [], "warnings": [],
        }
        others = other_listeners(socket=self.socket)
        result["other_listeners"] = others
        if others:
            text = ("another occtl show events is running (%s): ocserv sends events to the first listener only, "
                    "so this task may receive none" % ", ".join("pid %d" % o["pid"] for o in others))
            if on_other_listener == "fail":
                raise VpnControlError(text, kind="busy", other_listeners=others, events=[])
            if on_other_listener == "warn":
                result["warnings"].append(text)

        handlers = {}

        def interrupted(signum, frame):
            raise _Interrupted(signum)

        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                handlers[signum] = signal.signal(signum, interrupted)
            except (ValueError, OSError):  # not the main thread
                pass
        try:
            self.start()
            self._listen(result, duration, until, max_events, on_ready)
        except _Interrupted as exc:
            raise VpnControlError("interrupted by signal %d while listening to ocserv events" % exc.signum,
                                  kind="interrupted", events=result["events"])
        finally:
            self.stop()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        return result

    def _fail_exit(self, result, started):
        """occtl ended by itself: a classified error, with what was collected."""
        rc = self.stop()
        stderr = self.stderr.decode("utf-8", "replace")
        error = classify_error(self.argv, rc, "", stderr, self.socket)
        if error is not None and error.kind in ("unreachable", "permission_denied", "missing_binary") \
                and result["listening_since"] is None:
            error.details["events"] = result["events"]
            return error
        if result["listening_since"] is None:
            msg = "occtl show events ended before listening (rc %s): %s" % (rc, stderr.strip() or "no output")
        else:
            msg = ("ocserv closed the event stream after %.1f s (rc %s: %s): the server stopped or restarted"
                   % (self.clock() - result["listening_since"], rc, stderr.strip() or "no output"))
        return VpnControlError(msg, kind="unreachable" if result["listening_since"] is not None else "error",
                               command=self.argv, rc=rc, stderr=stderr, events=result["events"],
                               socket=self.socket)

    def _listen(self, result, duration, until, max_events, on_ready=None):
        started = self.clock()
        buf = b""
        ready = False
        # start-up (initial table + marker) is bounded by timeout, listening by duration
        deadline = started + self.timeout
        while True:
            chunk = self._read(deadline)
            if chunk is None:
                if not ready:
                    raise VpnControlError(
                        "occtl show events did not start listening within %s seconds on %s: the ocserv server "
                        "is not responding" % (self.timeout, self.socket), kind="timeout", command=self.argv,
                        events=[])
                result["stopped_by"] = "duration"
                break
            if chunk == b"":
                raise self._fail_exit(result, started)
            buf += chunk
            now = self.clock()
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if not ready:
                    if line.strip() == READY_MARKER:
                        ready = True
                        result["listening_since"] = round(now, 3)
                        deadline = now + duration
                        if on_ready is not None:
                            on_ready(result)
                        continue
                    row = parse_user_row(line)
                    if row is not None:
                        result["users_at_start"].append(row)
                    continue
                event = parse_event(line, when=now)
                if event is None:
                    continue
                result["events"].append(event)
                if until and matches(event, until):
                    result["stopped_by"] = "until"
                    result["matched"] = event
                    break
                if max_events and len(result["events"]) >= max_events:
                    result["stopped_by"] = "max_events"
                    break
            if result["stopped_by"]:
                break
        result["listening_until"] = round(self.clock(), 3)
        return result
