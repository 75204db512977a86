# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""occtl transport for the ocserv modules (private to the collection): how occtl is run and
what its failures mean.

Public pieces (other modules import them, keep them stable):

* ``connection_argument_spec()`` - the ``socket``/``occtl_path``/``timeout`` options.
* ``build_argv(occtl_path, socket, command, json_output)`` - occtl's argv, options first.
* ``run_command(argv, timeout)`` - runs one occtl (no shell, bounded, child killed on timeout).
* ``classify_error(argv, rc, stdout, stderr, socket)`` - a failed run as a ``VpnControlError``.
* ``OcctlClient`` - the queries and actions the modules use (parsed by ``_ocserv_parsers``).

The occtl behaviour this relies on, checked on ocserv 1.1.6, 1.3.0 and 1.5.0, is described in the
collection's docs/ocserv.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, check_timeout, run
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_parsers import (
    normalize_ban,
    normalize_ban_point,
    normalize_iroute,
    normalize_session,
    normalize_status,
    normalize_user,
    parse_version,
    records,
    version_tuple,
)

DEFAULT_SOCKET = "/var/run/occtl.socket"
DEFAULT_OCCTL = "occtl"
DEFAULT_TIMEOUT = 10

# First ocserv release with `terminate user|id|session` (reference: 1.5.0).
TERMINATE_VERSION = (1, 5, 0)


def connection_argument_spec(**extra):
    """The connection options every ocserv module takes (doc fragment ``vpnfleet.control.ocserv``)."""
    spec = dict(
        socket=dict(type="path", default=DEFAULT_SOCKET),
        occtl_path=dict(type="str", default=DEFAULT_OCCTL),
        timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    )
    spec.update(extra)
    return spec


# ---------------------------------------------------------------------------- running occtl

def build_argv(occtl_path, socket, command, json_output=True):
    """occtl's argument list: ``[occtl, -j, -s, SOCKET, cmd...]``.

    Options must come before the command (occtl silently ignores ``-j`` after it) and
    ``-s PATH`` is used rather than ``--socket-file=PATH`` (which occtl misreads).
    ``socket=None`` leaves ``-s`` out (``occtl --version`` prints nothing after ``-s``).
    """
    argv = [occtl_path or DEFAULT_OCCTL]
    if json_output:
        argv.append("-j")
    if socket is not None:
        argv.extend(["-s", socket])
    argv.extend(str(part) for part in command)
    return argv


class OcctlResult(object):
    """What one occtl run gave: argv, rc, stdout, stderr, and when it ran (epoch)."""

    def __init__(self, argv, rc, stdout, stderr, started=None, finished=None):
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout or ""
        self.stderr = stderr or ""
        self.started = started if started is not None else time.time()
        self.finished = finished if finished is not None else self.started

    def __repr__(self):
        return "OcctlResult(%r, rc=%r)" % (self.argv, self.rc)


def _to_text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def run_command(argv, timeout, stdin_text=None):
    """Run ``argv`` (no shell) and return ``(rc, stdout, stderr)`` as text.

    ``_common.run``: bounded by ``timeout`` seconds, on expiry occtl's whole process
    group (sudo, a wrapper and occtl) is ended and a ``VpnControlError(kind="timeout")``
    is raised. A missing or non-executable binary raises ``kind="missing_binary"``.
    stdin is /dev/null, or ``stdin_text`` when given (occtl's interactive mode reads
    its commands from there).
    """
    rc, stdout, stderr = run(
        argv, timeout, stdin=None if stdin_text is None else stdin_text.encode("utf-8"),
        what="install ocserv, which provides occtl, or set occtl_path",
        timeout_msg="occtl did not answer within %(timeout)s seconds (%(command)s): "
                    "the ocserv server is not responding")
    return rc, _to_text(stdout), _to_text(stderr)


# Runners that take ``stdin_text`` (occtl's interactive mode) say so with this attribute.
run_command.interactive = True

# ---------------------------------------------------------------------------- errors

_HELP_MARKERS = ("Available Commands", " disconnect user [NAME]\t")
_NOT_FOUND_RES = (
    re.compile(r"^could not (?:disconnect|terminate) (?:user|ID) '.*'$", re.M),
    re.compile(r"^no session matching '.*' was found$", re.M),
    re.compile(r"^could not unban IP '.*'$", re.M),
    re.compile(r"^user or ID not found$", re.M),
)
# The uid that may connect (run-as-user) is refused after connecting: occtl then prints
# "could not send message; ..." or a broken read/write and a "Status: offline" table.
_REFUSED_AFTER_CONNECT = (
    "could not send message",
    "recvmsg: Connection reset by peer",
    "writev: Broken pipe",
    "Status: offline",
)


# How the ocserv role's wrapper (roles/ocserv/templates/vpnfleet-occtl.j2) starts a refusal.
WRAPPER_REFUSED = "vpnfleet-occtl: refused: "


def _command_text(argv):
    """The occtl command part of argv (after the options), for messages."""
    parts = list(argv[1:])
    out = []
    i = 0
    while i < len(parts):
        if parts[i] in ("-s", "--socket-file"):
            i += 2
            continue
        if parts[i] in ("-j", "--json", "-n", "--no-pager", "-d", "--debug"):
            i += 1
            continue
        out.append(parts[i])
        i += 1
    return " ".join(out)


def classify_error(argv, rc, stdout, stderr, socket=None, euid=None):
    """Classify a finished occtl run; ``None`` when it succeeded.

    Returns a ``VpnControlError`` whose ``kind`` is one of:

    * ``unreachable`` - the socket does not exist, nobody listens (stale socket) or the
      server did not answer;
    * ``permission_denied`` - the caller's uid may not use the socket (ocserv accepts
      control requests only from root);
    * ``unsupported`` - occtl does not know the command (``terminate`` before 1.5.0);
    * ``not_found`` - the user, connection id, session or IP is not known to the server
      (``could not disconnect user 'x'``, ``show user`` rc 2, ...);
    * ``invalid`` - occtl rejected the arguments (help table on stdout, ``Cannot parse IP``), or
      the ocserv role's occtl wrapper refused them;
    * ``error`` - anything else (rc, stdout and stderr are in the details).
    """
    stdout = stdout or ""
    stderr = stderr or ""
    command = _command_text(argv)
    details = dict(command=list(argv), rc=rc, stdout=stdout, stderr=stderr)
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else 0
    conn = re.search(r"error connecting to ocserv socket '([^']*)': (.*)", stderr)
    if conn:
        path, reason = conn.group(1), conn.group(2).strip()
        if "No such file" in reason:
            msg = ("ocserv control socket %s does not exist: ocserv is not running, or its occtl-socket-file "
                   "is another path (set the socket option), or use-occtl is false" % path)
            return VpnControlError(msg, kind="unreachable", socket=path, **details)
        if "Connection refused" in reason:
            msg = ("nothing listens on ocserv control socket %s (Connection refused): the socket is stale, "
                   "ocserv is not running" % path)
            return VpnControlError(msg, kind="unreachable", socket=path, **details)
        if "Permission denied" in reason:
            msg = ("permission denied on ocserv control socket %s: ocserv accepts control requests only from "
                   "root (uid 0) and makes its socket accessible to root and its run-as-user only; run the task "
                   "as root (become: true)" % path)
            return VpnControlError(msg, kind="permission_denied", socket=path, **details)
        return VpnControlError("cannot connect to ocserv control socket %s: %s" % (path, reason),
                               kind="unreachable", socket=path, **details)
    if rc == 0:
        return None
    if stderr.startswith(WRAPPER_REFUSED):
        # the ocserv role's root-owned wrapper (occtl_path occtl-sudo) did not run occtl
        return VpnControlError("the occtl wrapper refused '%s': %s" % (command, stderr.splitlines()[0][len(WRAPPER_REFUSED):]),
                               kind="invalid", **details)
    both = stdout + "\n" + stderr
    if any(marker in both for marker in _REFUSED_AFTER_CONNECT):
        if euid != 0:
            msg = ("ocserv refused the control request from uid %s on %s: ocserv accepts control requests only "
                   "from root (uid 0), even when the socket's permissions let others connect; run the task as "
                   "root (become: true)" % (euid, socket or "its socket"))
            return VpnControlError(msg, kind="permission_denied", socket=socket, **details)
        msg = ("ocserv did not answer the control request on %s (%s): the server is stopping or not working"
               % (socket or "its socket", (stderr.strip() or stdout.strip()).splitlines()[-1]))
        return VpnControlError(msg, kind="unreachable", socket=socket, **details)
    if stderr.startswith("unknown command"):
        return VpnControlError("occtl does not know the command '%s' (this ocserv version does not support it)"
                               % command, kind="unsupported", **details)
    for regex in _NOT_FOUND_RES:
        match = regex.search(stdout)
        if match:
            return VpnControlError("occtl %s: %s" % (command, match.group(0)), kind="not_found", **details)
    if rc == 2 and re.match(r"^\[\s*\]$", stdout.strip()):
        return VpnControlError("occtl %s: user or ID not found" % command, kind="not_found", **details)
    if "Cannot parse IP" in stderr:
        return VpnControlError("occtl %s: %s" % (command, stderr.strip()), kind="invalid", **details)
    if any(marker in stdout for marker in _HELP_MARKERS):
        return VpnControlError("occtl rejected the arguments of '%s' (it printed its help)" % command,
                               kind="invalid", **details)
    text = (stderr.strip() or stdout.strip() or "no output")
    return VpnControlError("occtl %s failed (rc %s): %s" % (command, rc, text), kind="error", **details)


# ---------------------------------------------------------------------------- client

class OcctlClient(object):
    """occtl for one ocserv server.

    Every call is one occtl run bounded by ``timeout``; connection-level failures
    (socket missing, refused, permission, timeout, missing occtl) raise ``VpnControlError``.
    ``runner(argv, timeout) -> (rc, stdout, stderr)`` can be replaced (tests).
    """

    def __init__(self, socket=DEFAULT_SOCKET, occtl_path=DEFAULT_OCCTL, timeout=DEFAULT_TIMEOUT, runner=None):
        self.socket = socket or DEFAULT_SOCKET
        self.occtl_path = occtl_path or DEFAULT_OCCTL
        self.timeout = check_timeout(timeout if timeout is not None else DEFAULT_TIMEOUT)
        self._runner = runner
        self._version = None
        self._help = None
        self.calls = []   # every OcctlResult, in order (for debugging and tests)

    @classmethod
    def from_module(cls, module):
        """The client of a module's connection options; an invalid ``timeout`` fails the module."""
        params = module.params
        try:
            return cls(socket=params.get("socket"), occtl_path=params.get("occtl_path"),
                       timeout=params.get("timeout"))
        except VpnControlError as exc:
            module.fail_json(**exc.fail_kwargs())

    # ---- low level
    def argv(self, command, json_output=True, with_socket=True):
        return build_argv(self.occtl_path, self.socket if with_socket else None, command, json_output)

    def run(self, command, json_output=True, with_socket=True):
        """Run occtl and return the ``OcctlResult`` (no classification)."""
        argv = self.argv(command, json_output, with_socket)
        runner = self._runner or run_command
        started = time.time()
        rc, stdout, stderr = runner(argv, self.timeout)
        result = OcctlResult(argv, rc, stdout, stderr, started, time.time())
        self.calls.append(result)
        return result

    def check(self, result, allow_not_found=False):
        """Raise the classified error of a failed run; return the error instead for
        ``not_found`` when ``allow_not_found``; ``None`` on success."""
        error = classify_error(result.argv, result.rc, result.stdout, result.stderr, self.socket)
        if error is None:
            return None
        if allow_not_found and error.kind == "not_found":
            return error
        raise error

    def query(self, command, allow_not_found=False):
        """A ``show`` command's ``-j`` output as a list of dicts (``[]`` for not found
        when ``allow_not_found``), plus the ``OcctlResult``."""
        result = self.run(command, json_output=True)
        if self.check(result, allow_not_found) is not None:
            return [], result
        try:
            return records(result.stdout), result
        except ValueError as exc:
            raise VpnControlError("cannot read the JSON of occtl %s: %s" % (" ".join(command), exc),
                                  kind="protocol", command=result.argv, stdout=result.stdout, stderr=result.stderr)

    # ---- facts about occtl
    def version(self):
        """occtl's version string (``occtl --version``, which prints on stderr; no socket needed)."""
        if self._version is None:
            result = self.run(["--version"], json_output=False, with_socket=False)
            self._version = parse_version(result.stdout + "\n" + result.stderr)
            if self._version is None:
                raise VpnControlError("cannot read the version of %s from: %s"
                                      % (self.occtl_path, (result.stdout + result.stderr).strip()[:200]),
                                      kind="protocol", command=result.argv)
        return self._version

    def help_text(self):
        if self._help is None:
            self._help = self.run(["help"], json_output=False, with_socket=False).stdout
        return self._help

    def capabilities(self):
        """What this occtl/ocserv can do: ``terminate`` (terminate user|id|session, 1.5.0+),
        decided by the version, or by ``occtl help`` when the version is unreadable."""
        try:
            vt = version_tuple(self.version())
        except VpnControlError as exc:
            if exc.kind != "protocol":
                raise
            vt = ()
        if vt:
            terminate = vt >= TERMINATE_VERSION
        else:
            terminate = "terminate user" in self.help_text()
        return {
            "terminate": terminate,
            "raw_connected_at": vt >= (1, 2, 3) if vt else None,
            "session_started_at": vt >= (1, 4, 1) if vt else None,
        }

    # ---- queries
    def status(self):
        recs = self.query(["show", "status"])[0]
        return normalize_status(recs[0]) if recs else {}

    def users(self):
        recs, result = self.query(["show", "users"])
        return [normalize_user(rec, now=result.finished) for rec in recs]

    def user(self, name):
        """Connections of one user (``[]`` when not connected)."""
        recs, result = self.query(["show", "user", name], allow_not_found=True)
        return [normalize_user(rec, now=result.finished) for rec in recs]

    def connection(self, conn_id):
        """One connection by id as a list (``[]`` when unknown)."""
        recs, result = self.query(["show", "id", str(conn_id)], allow_not_found=True)
        return [normalize_user(rec, now=result.finished) for rec in recs]

    def sessions(self, which="all"):
        """``show sessions all|valid``; ``valid`` is set for ``which='valid'`` (True) only."""
        recs = self.query(["show", "sessions", which])[0]
        return [normalize_session(rec, valid=True if which == "valid" else None) for rec in recs]

    def sessions_with_validity(self):
        """``show sessions all`` with ``valid`` from ``show sessions valid`` (two queries)."""
        valid = set(s["full_session"] for s in self.sessions("valid"))
        out = []
        for sess in self.sessions("all"):
            sess["valid"] = sess["full_session"] in valid
            out.append(sess)
        # a session that became valid between the two queries is in `valid` only
        known = set(s["full_session"] for s in out)
        return out, valid - known

    def session(self, sid):
        """``show session SID`` (prefix of the short id) as a list of sessions."""
        recs = self.query(["show", "session", sid], allow_not_found=True)[0]
        return [normalize_session(rec) for rec in recs]

    def bans(self):
        recs, result = self.query(["show", "ip", "bans"])
        return [normalize_ban(rec, now=result.finished) for rec in recs]

    def ban_points(self):
        recs = self.query(["show", "ip", "ban", "points"])[0]
        return [normalize_ban_point(rec) for rec in recs]

    def iroutes(self):
        recs = self.query(["show", "iroutes"])[0]
        return [normalize_iroute(rec) for rec in recs if rec.get("ID") is not None]

    # ---- actions (text output; rc 1 + "could not ..." = not found)
    def action(self, command, allow_not_found=True):
        """Run an action; returns ``(True, stdout)`` on success, ``(False, error)`` when the
        target was not found (and ``allow_not_found``); raises other errors."""
        result = self.run(command, json_output=False)
        error = self.check(result, allow_not_found)
        if error is not None:
            return False, error
        return True, result.stdout.strip()

    def actions(self, commands, allow_not_found=True):
        """Several actions: ``[action(command) for command in commands]``, the same results and
        the same errors, with the commands piped into one interactive occtl when there are
        several (one process and one control-socket connection instead of one each).

        occtl's interactive mode echoes each command as ``> COMMAND`` before its answer on
        stdout, prints its errors on stderr (not attributable to a command) and exits 0. A
        command counts as done only when its answer is the success line or the not-found line
        of that command and stderr holds nothing but occtl's banner; every other command
        (and all of them when the run fails) is run again alone by ``action``, which gives
        today's result or error.
        """
        commands = [[str(part) for part in command] for command in commands]
        runner = self._runner or run_command
        batch = [command for command in commands if _batchable(command)]
        outcomes = {}
        if len(batch) > 1 and getattr(runner, "interactive", False):
            outcomes = self._interactive(runner, batch, allow_not_found)
        results = []
        for command in commands:
            key = tuple(command)
            if key in outcomes:
                results.append(outcomes.pop(key))
            else:
                results.append(self.action(command, allow_not_found))
        return results

    def _interactive(self, runner, commands, allow_not_found):
        """``{command tuple: action result}`` for the commands one interactive occtl did."""
        argv = self.argv([], json_output=False)
        lines = [" ".join(command) for command in commands]
        started = time.time()
        try:
            rc, stdout, stderr = runner(argv, self.timeout, stdin_text="".join(line + "\n" for line in lines))
        except VpnControlError:
            return {}   # timeout, missing binary: each command alone says it as before
        result = OcctlResult(argv + ["batch:", "%d commands" % len(lines)], rc, stdout, stderr, started, time.time())
        result.stdin = lines
        self.calls.append(result)
        answers = _interactive_answers(stdout, lines)
        if rc != 0 or answers is None or _interactive_errors(stderr):
            return {}
        outcomes = {}
        for command, answer in zip(commands, answers):
            verb, target = command[0], command[-1]
            if len(answer) != 1:
                continue
            if re.match(r"^user '%s' was (?:disconnected|terminated\b.*)$" % re.escape(target), answer[0]):
                outcomes[tuple(command)] = (True, answer[0])
            elif allow_not_found and answer[0] == "could not %s user '%s'" % (verb, target):
                error = classify_error(self.argv(command, json_output=False), 1, answer[0] + "\n", "", self.socket)
                if error is not None and error.kind == "not_found":
                    outcomes[tuple(command)] = (False, error)
        return outcomes

    def disconnect_id(self, conn_id):
        return self.action(["disconnect", "id", str(conn_id)])

    def terminate_id(self, conn_id):
        return self.action(["terminate", "id", str(conn_id)])

    def terminate_session(self, short_sid):
        return self.action(["terminate", "session", short_sid])

    def unban_ip(self, ip):
        return self.action(["unban", "ip", ip])

    def reload(self):
        return self.action(["reload"], allow_not_found=False)

    def stop(self):
        return self.action(["stop", "now"], allow_not_found=False)


_BATCH_WORD_RE = re.compile(r"^[A-Za-z0-9._@+-]+\Z")


def _batchable(command):
    """``disconnect|terminate user NAME`` with a plain name: safe to pipe as one line."""
    return (len(command) == 3 and command[0] in ("disconnect", "terminate") and command[1] == "user"
            and bool(_BATCH_WORD_RE.match(command[2])))


def _interactive_answers(stdout, lines):
    """occtl's interactive stdout split into each command's answer lines (its ``> COMMAND``
    echo starts it, a bare ``> `` prompt ends the output); ``None`` unless every command's
    echo is there, in order."""
    answers = []
    rows = stdout.split("\n")
    if not rows or rows[-1] != "> ":
        return None
    for row in rows[:-1]:
        if len(answers) < len(lines) and row == "> " + lines[len(answers)]:
            answers.append([])
        elif answers:
            if row.strip():
                answers[-1].append(row)
        else:
            return None
    return answers if len(answers) == len(lines) else None


def _interactive_errors(stderr):
    """What occtl's interactive mode printed on stderr after its banner (which ends with a
    line of ``=``): errors of some command (connection, permission, unknown command)."""
    text = stderr or ""
    marker = re.search(r"^=+\n", text, re.M)
    if marker is None:
        return text.strip()
    return text[marker.end():].strip()
