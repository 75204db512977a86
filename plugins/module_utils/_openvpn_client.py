# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport for the OpenVPN 2.x management interface (private): the session, what may be sent
to the server, and the connection options of the openvpn_* modules.

The replies are read by ``_openvpn_parsers``, the modules' logic is in ``_openvpn_state``.

Protocol facts this code relies on (checked on OpenVPN 2.6.14 and 2.7.8):

* The server serves **one** management client at a time.  A second client's
  ``connect()`` succeeds (kernel backlog) but it gets no banner and no replies
  until the first one leaves; whatever it sends is buffered and run later.  So
  nothing is sent before the banner, and "no banner within the timeout" means
  *busy*.
* With a password, the server first writes ``ENTER PASSWORD:`` without a line
  end.  A wrong password gets no error text, just another prompt.
* Every server line ends with ``\\r\\n``.  Replies are ``SUCCESS: ...`` /
  ``ERROR: ...`` (one line) or blocks ended by a line ``END``.  Real-time
  lines start with ``>`` and are written between whole lines, never inside a
  block, but may come before the reply of the command that caused them.
  ``>CLIENT:`` events continue with ``>CLIENT:ENV,...`` lines up to
  ``>CLIENT:ENV,END``.
* ``quit`` that arrives in the same read as earlier commands makes the server
  drop their pending output, so every reply is read before the next command
  and ``quit`` is only sent once the last reply is in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import socket as _socket
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import (
    VpnControlError,
    as_list,
    check_timeout,
)
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import (
    ManagementError,
    parse_hold,
    parse_load_stats,
    parse_notification,
    parse_pid,
    parse_state,
    parse_status,
    parse_version,
)

DEFAULT_TIMEOUT = 10

PASSWORD_PROMPT = b"ENTER PASSWORD:"

# OpenVPN 2.7.8 (not 2.6): when the server comes to a queued management client
# that has already gone (it gave up while another client held the interface),
# a client queued behind it is accepted by the kernel but gets no banner until
# yet another connection arrives, although nobody holds the interface (seen in
# the lab: holder, then a client that gives up, then ours).  So while nothing
# at all has come, the client opens an extra connection (a probe) after this
# many seconds, then after twice as long, and so on within its timeout; its
# arrival wakes the server, which serves the oldest queued client first.  A
# probe is kept open: once the session has quit the server serves the probe,
# which quits at once (STALL_PROBE_RELEASE seconds at most), because a probe
# that had gone when its turn came would stall the next client again.
STALL_PROBE_FIRST = 1.0
STALL_PROBE_RELEASE = 2.0
BANNER_PREFIX = ">INFO:OpenVPN Management Interface Version"


class CommandError(ManagementError):
    """The server answered ``ERROR: ...``."""

    def __init__(self, command, text, **details):
        msg = "OpenVPN management command %r failed: %s" % (command, text)
        super(CommandError, self).__init__(msg, kind="command_error", **details)
        self.command = command
        self.text = text


# ---------------------------------------------------------------------------
# Command lines: what the server reads, and what may be sent to it
# ---------------------------------------------------------------------------
#
# How the server reads a command line (OpenVPN's manage.c ``command_line_add``
# and ``parse_line``, the same from 2.4 to 2.7):
#
# * It keeps LF and the bytes from 0x20 up, except DEL; every other control
#   byte (NUL, TAB, CR, ...) is dropped without a word, so ``ali\x01ce`` would
#   arrive as ``alice``.  LF ends the command: a value with an LF in it would
#   run its rest as a second command.
# * The line, LF included, goes into a 1024-byte buffer; a longer line empties
#   the buffer and what follows is read as a command of its own.
# * parse_line splits the line into at most 16 parameters: blanks separate,
#   ``"..."`` groups (``\\`` and ``\"`` escapes inside), ``'...'`` groups
#   (no escapes inside); outside quotes a backslash escapes a blank, ``\\`` or
#   ``"``.  Any other backslash use, an unterminated quote, a trailing
#   backslash or a parameter longer than 256 bytes makes the server refuse the
#   whole line.  A ``#`` or ``;`` where a parameter would start ends the line
#   (a comment: no parameters, no reply at all).  Command words are compared
#   case-sensitively.
#
# So every line is checked where it is sent (:meth:`ManagementClient._send`),
# and the modules check their options before connecting (:func:`validate_params`).

MAX_LINE_BYTES = 1023
MAX_PARAM_BYTES = 256
MAX_PARAMS = 16

_CONTROL_RE = re.compile(u"[\x00-\x1f\x7f]")


def check_line(text, what="A management command"):
    """``text`` as the bytes of one management line (LF not included).

    Raises :class:`ManagementError` (``invalid``) for text the server would not
    read as written: control characters (LF, CR, NUL, TAB, ...), text that is
    not encodable as UTF-8, or a line longer than the server's line buffer.
    The message never repeats the text (it may be a password).
    """
    if not isinstance(text, str):
        raise ManagementError("%s must be a string." % what, kind="invalid")
    match = _CONTROL_RE.search(text)
    if match:
        raise ManagementError(
            "%s must not contain control characters (found %r at position %d): OpenVPN ends a management "
            "command at a line feed and silently drops the other control characters, so the server would "
            "receive something else." % (what, match.group(0), match.start()),
            kind="invalid",
        )
    try:
        data = text.encode("utf-8")
    except UnicodeError:
        raise ManagementError("%s is not valid text (it cannot be encoded as UTF-8)." % what, kind="invalid")
    if len(data) > MAX_LINE_BYTES:
        raise ManagementError(
            "%s is %d bytes long: the OpenVPN management interface reads at most %d bytes per line (a longer "
            "line is cut and its rest read as another command)." % (what, len(data), MAX_LINE_BYTES),
            kind="invalid",
        )
    return data


_INITIAL, _UNQUOTED, _DQUOTED, _SQUOTED = range(4)


def split_command(command):
    """The parameters the server reads from ``command`` (OpenVPN's ``parse_line``).

    Returns a list of str (empty for a blank line or a comment); raises
    :class:`ManagementError` (``invalid``) for a line the server would not
    read as written or would refuse (see the notes above).
    """
    check_line(command)
    words = []
    current = []
    size = 0
    state = _INITIAL
    backslash = False
    # parse_line also looks at the terminating NUL (a blank for it).
    for char in command + "\0":
        if not backslash and char == "\\" and state != _SQUOTED:
            backslash = True
            continue
        out = None
        blank = char in (" ", "\0")
        done = False
        if state == _INITIAL:
            if not blank:
                if char in "#;":
                    break
                if not backslash and char == '"':
                    state = _DQUOTED
                elif not backslash and char == "'":
                    state = _SQUOTED
                else:
                    out = char
                    state = _UNQUOTED
        elif state == _UNQUOTED:
            if not backslash and blank:
                done = True
            else:
                out = char
        elif state == _DQUOTED:
            if not backslash and char == '"':
                done = True
            else:
                out = char
        elif char == "'":
            done = True
        else:
            out = char
        if done:
            words.append("".join(current))
            current = []
            size = 0
            state = _INITIAL
        if out == "\0":
            out = None
        if backslash and out is not None and out not in ('\\', '"', " "):
            raise ManagementError(
                "The management command %r uses a backslash OpenVPN refuses: outside single quotes a backslash "
                "may only precede a blank, a backslash or a double quote." % command,
                kind="invalid",
            )
        backslash = False
        if out is not None:
            size += len(out.encode("utf-8"))
            if size > MAX_PARAM_BYTES:
                raise ManagementError(
                    "A parameter of the management command is longer than %d bytes (OpenVPN refuses it)."
                    % MAX_PARAM_BYTES,
                    kind="invalid",
                )
            current.append(out)
        if len(words) >= MAX_PARAMS:
            break
    if state == _DQUOTED:
        raise ManagementError("The management command %r has no closing double quote." % command, kind="invalid")
    if state == _SQUOTED:
        raise ManagementError("The management command %r has no closing single quote." % command, kind="invalid")
    if state != _INITIAL:
        raise ManagementError("The management command %r ends with a backslash." % command, kind="invalid")
    return words


_SAFE_ARGUMENT_RE = re.compile(r"[A-Za-z0-9_.,:@/+=%-]+\Z")


def quote_argument(text, what="A management command argument"):
    """One management-command parameter, quoted when needed; the server reads back exactly ``text``.

    Raises :class:`ManagementError` (``invalid``) for text no command line can
    carry (control characters, more than 256 bytes).
    """
    check_line(text, what)
    if len(text.encode("utf-8")) > MAX_PARAM_BYTES:
        raise ManagementError(
            "%s is longer than %d bytes, the most OpenVPN reads as one parameter." % (what, MAX_PARAM_BYTES),
            kind="invalid",
        )
    if _SAFE_ARGUMENT_RE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_atoi(text):
    """C ``atoi`` as glibc computes it (``(int) strtol(text, NULL, 10)``)."""
    match = re.match(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", text)
    if not match:
        return 0
    value = max(min(int(match.group(1)), 2 ** 63 - 1), -(2 ** 63))
    value &= 0xFFFFFFFF
    return value - 2 ** 32 if value >= 2 ** 31 else value


# Commands that only read state (``openvpn_command`` reports ``changed: false``
# and runs them in check mode), by exact command word.
_READ_ONLY_ALWAYS = frozenset(
    ["help", "pid", "load-stats", "nclients", "status", "test", "net", "remote-entry-count", "remote-entry-get",
     "pkcs11-id-count", "pkcs11-id-get"]
)
# Read-only without a parameter (with one they set something, even ``version N``,
# the client version of the session).  Bare ``env-filter`` is not here: it sets
# the level to 0.  Bare ``bytecount`` is refused by the server.
_READ_ONLY_BARE = frozenset(["version", "hold", "verb", "mute", "auth-retry", "bytecount"])
# History commands run their first two parameters: ``N`` / ``all`` read,
# ``on`` / ``off`` switch real-time notification (a session setting, still a change).
_HISTORY = frozenset(["state", "log", "echo"])


def command_is_read_only(command):
    """Whether a raw management command only reads state (as the server parses it)."""
    words = split_command(command)
    if not words:
        return True
    verb, args = words[0], words[1:]
    if verb in _READ_ONLY_ALWAYS:
        return True
    if verb in _READ_ONLY_BARE:
        return not args
    if verb in _HISTORY:
        return not any(arg in ("on", "off") for arg in args[:2])
    return False


class Reply(object):
    """One command's reply.

    ``kind`` is ``success``, ``error`` or ``lines`` (a block ended by END);
    ``text`` is what follows ``SUCCESS:`` / ``ERROR:``; ``lines`` the block's
    lines (END excluded; for ``X on all`` the history after the SUCCESS line).
    """

    def __init__(self, command, kind, text="", lines=None):
        self.command = command
        self.kind = kind
        self.text = text
        self.lines = lines if lines is not None else []

    @property
    def ok(self):
        return self.kind != "error"

    def raw_lines(self):
        """The reply as the server wrote it (without END)."""
        if self.kind == "success":
            return ["SUCCESS: " + self.text] + self.lines
        if self.kind == "error":
            return ["ERROR: " + self.text]
        return list(self.lines)

    def __repr__(self):  # pragma: no cover - debugging aid
        return "Reply(%r, %r, %r, %d lines)" % (self.command, self.kind, self.text, len(self.lines))


class ManagementClient(object):
    """One session with an OpenVPN management interface.

    Use as a context manager, or call :meth:`connect` and :meth:`close`.
    ``timeout`` bounds the connection (including the wait while another client
    holds the interface) and, separately, each command's reply.
    ``connector`` (tests) returns a connected socket-like object.
    """

    def __init__(self, socket_path=None, host=None, port=None, password=None,
                 timeout=DEFAULT_TIMEOUT, connector=None, probe_connector=None):
        if not socket_path and not host:
            raise ManagementError("Either socket or host and port are required.", kind="invalid")
        if password is not None:
            check_line(password, "The management password")
        self.socket_path = socket_path
        self.host = host
        self.port = port
        self.password = password
        try:
            self.timeout = check_timeout(timeout)
        except VpnControlError as exc:
            raise ManagementError(exc.msg, kind=exc.kind)
        self.connector = connector
        # Opens the short extra connections that wake a stalled 2.7.8 server
        # (tests; by default the same target as the session, none with a connector).
        self.probe_connector = probe_connector
        self.probes = 0
        self._probe_socks = []
        self.sock = None
        self.buffer = b""
        self.notifications = []
        self.management_version = None
        self.banner = None
        self.hold_waiting = False
        self.hold_flag = None
        self.closed_by_server = False
        self._client_block = None
        self._usable = False

    # ------------------------------------------------------------------ helpers
    @property
    def target(self):
        if self.socket_path:
            return "management socket %s" % self.socket_path
        return "management interface %s:%s" % (self.host, self.port)

    def _fail(self, msg, kind, **details):
        details.setdefault("target", self.socket_path or "%s:%s" % (self.host, self.port))
        raise ManagementError(msg, kind=kind, **details)

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, exc_type, exc, tb):
        # quit unless the session broke (a timeout or EOF already closed it).
        self.close()
        return False

    # --------------------------------------------------------------- transport
    def _open(self, deadline):
        if self.connector is not None:
            return self.connector()
        remaining = max(deadline - time.time(), 0.01)
        if self.socket_path:
            try:
                os.stat(self.socket_path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    # EACCES: this user may not enter the socket's directory.
                    self._connect_error(exc)
                self._fail(
                    "The %s does not exist: the OpenVPN instance is not running or its configuration has no "
                    "'management %s unix' line." % (self.target, self.socket_path),
                    "not_found",
                )
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            sock.settimeout(remaining)
            try:
                sock.connect(self.socket_path)
            except Exception as exc:
                sock.close()
                self._connect_error(exc)
            return sock
        try:
            return _socket.create_connection((self.host, int(self.port)), timeout=remaining)
        except Exception as exc:
            self._connect_error(exc)

    def _connect_error(self, exc):
        code = getattr(exc, "errno", None)
        if isinstance(exc, _socket.timeout):
            self._fail("Connecting to the %s timed out after %ss." % (self.target, self.timeout), "timeout")
        if code in (errno.EACCES, errno.EPERM):
            self._fail(
                "Permission denied connecting to the %s: this user may not open the socket "
                "(check the socket's directory and file permissions, or become root)." % self.target,
                "permission_denied",
            )
        if code == errno.ENOENT:
            self._fail("The %s does not exist: the OpenVPN instance is not running." % self.target, "not_found")
        if code == errno.ECONNREFUSED:
            if self.socket_path:
                self._fail(
                    "Connection refused by the %s: the socket file is stale (no OpenVPN process listens on it; "
                    "the server probably died)." % self.target,
                    "unreachable",
                )
            self._fail(
                "Connection refused by the %s: no OpenVPN management interface listens there." % self.target,
                "unreachable",
            )
        self._fail("Cannot connect to the %s: %s" % (self.target, exc), "unreachable")

    def _recv(self, deadline, what):
        remaining = deadline - time.time()
        if remaining <= 0:
            raise _Timeout()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except _socket.timeout:
            raise _Timeout()
        except (OSError, IOError) as exc:
            if getattr(exc, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
                data = b""
            else:
                self._usable = False
                self._fail("Reading from the %s failed while waiting for %s: %s" % (self.target, what, exc),
                           "protocol")
        if not data:
            self.closed_by_server = True
            self._usable = False
            raise _Eof()
        self.buffer += data
        return data

    def _next_line(self, deadline, what):
        """The next complete line (str, without CRLF)."""
        while True:
            pos = self.buffer.find(b"\n")
            if pos >= 0:
                raw = self.buffer[:pos]
                self.buffer = self.buffer[pos + 1:]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                return raw.decode("utf-8", "replace")
            self._recv(deadline, what)

    def _send(self, text, what="A management command"):
        """Send ``text`` as one line: every byte that goes to the server passes here."""
        data = check_line(text, what)
        try:
            self.sock.sendall(data + b"\n")
        except (OSError, IOError) as exc:
            self._usable = False
            self.closed_by_server = True
            self._fail("Writing to the %s failed: %s (the server closed the connection)." % (self.target, exc),
                       "protocol")

    # -------------------------------------------------------------- real-time
    def _route_notification(self, line):
        """Keep a ``>`` line aside; ``>CLIENT:`` blocks are kept together."""
        if self._client_block is not None:
            if line.startswith(">CLIENT:ENV,"):
                self._client_block.append(line)
                if line == ">CLIENT:ENV,END":
                    self.notifications.append(parse_notification(self._client_block))
                    self._client_block = None
                return
            # A block cut short (should not happen): keep what came.
            self.notifications.append(parse_notification(self._client_block))
            self._client_block = None
        if line.startswith(">CLIENT:") and not line.startswith(">CLIENT:ENV,"):
            event = line[len(">CLIENT:"):].split(",", 1)[0]
            # ADDRESS is one line; CONNECT, REAUTH, ESTABLISHED, DISCONNECT,
            # CR_RESPONSE carry an ENV block.
            if event != "ADDRESS":
                self._client_block = [line]
                return
        note = parse_notification([line])
        if note["source"] == "HOLD":
            self.hold_waiting = True
        self.notifications.append(note)

    def pop_notifications(self):
        notes, self.notifications = self.notifications, []
        return notes

    # ----------------------------------------------------------------- session
    def connect(self):
        """Open the session: password exchange, banner.  Bounded by ``timeout``."""
        start = time.time()
        deadline = start + self.timeout
        self.sock = self._open(deadline)
        self.buffer = b""
        password_sent = False
        heard = False
        can_probe = self.connector is None or self.probe_connector is not None
        probe_delay = STALL_PROBE_FIRST
        probe_at = start + probe_delay
        try:
            while True:
                # The prompt has no line end: look at the raw buffer.
                if self.buffer.startswith(PASSWORD_PROMPT):
                    self.buffer = self.buffer[len(PASSWORD_PROMPT):]
                    if password_sent:
                        self._abort()
                        self._fail(
                            "The %s rejected the password (wrong password: the server asked for it again)."
                            % self.target,
                            "auth_failed",
                        )
                    if self.password is None:
                        self._abort()
                        self._fail(
                            "The %s asks for a password: set password or password_file." % self.target,
                            "auth_required",
                        )
                    self._send(self.password, "The management password")
                    password_sent = True
                    continue
                if b"\n" not in self.buffer:
                    if PASSWORD_PROMPT.startswith(self.buffer) or not self.buffer:
                        if heard or not can_probe:
                            self._recv(deadline, "the banner")
                            heard = True
                            continue
                        # Nothing yet from the server: busy, or the 2.7.8 stall.
                        try:
                            self._recv(min(deadline, probe_at), "the banner")
                            heard = True
                        except _Timeout:
                            now = time.time()
                            if now >= deadline:
                                raise
                            if now >= probe_at:
                                self._probe(deadline)
                                probe_delay *= 2
                                probe_at = time.time() + probe_delay
                        continue
                line = self._next_line(deadline, "the banner")
                if line.startswith("SUCCESS: password is correct"):
                    continue
                if line.startswith(BANNER_PREFIX):
                    self.banner = line
                    match = re.search(r"Version (\d+)", line)
                    if match:
                        self.management_version = int(match.group(1))
                    break
                if line.startswith(">"):
                    self._route_notification(line)
                    continue
                if not line:
                    continue
                self._abort()
                self._fail("Unexpected data from the %s instead of the banner: %r" % (self.target, line),
                           "protocol")
        except _Timeout:
            self._abort()
            if password_sent:
                self._fail(
                    "The %s did not answer after the password within %ss." % (self.target, self.timeout),
                    "timeout",
                )
            self._fail(
                "The %s is busy: the connection was accepted but no banner came within %ss. OpenVPN serves one "
                "management client at a time and another management client holds the interface (a session left "
                "open blocks everyone else)." % (self.target, self.timeout),
                "busy",
            )
        except _Eof:
            self._abort()
            if password_sent:
                self._fail(
                    "The %s closed the connection after the password was sent (wrong password)." % self.target,
                    "auth_failed",
                )
            self._fail(
                "The %s closed the connection without a banner: the server refused this client. OpenVPN does this "
                "when management-client-user / management-client-group do not allow the connecting user (or the "
                "server is shutting down)." % self.target,
                "permission_denied",
            )
        except ManagementError:
            # e.g. a password the send method refused: nothing was sent, close.
            self._abort()
            raise
        self._usable = True
        return self

    def _probe(self, deadline):
        """One short extra connection: it wakes an OpenVPN 2.7.8 server that accepted this
        session but does not serve it (see STALL_PROBE_FIRST).  Never fails the session."""
        self.probes += 1
        try:
            if self.probe_connector is not None:
                probe = self.probe_connector()
            else:
                probe = self._open(min(deadline, time.time() + 1.0))
        except (ManagementError, OSError, IOError):
            return
        self._probe_socks.append(probe)

    def _release_probes(self, wait):
        """Let each probe be served and quit (they are queued behind this session, which
        has quit); within ``wait`` seconds in all, then close whatever is left."""
        probes, self._probe_socks = self._probe_socks, []
        end = time.time() + wait
        for probe in probes:
            try:
                remaining = end - time.time()
                if remaining > 0:
                    probe.settimeout(remaining)
                    data = probe.recv(4096)
                    # Served (banner): quit.  A password prompt or EOF: just close.
                    if data and not PASSWORD_PROMPT.startswith(data[:len(PASSWORD_PROMPT)]):
                        probe.sendall(b"quit\n")
            except Exception:
                pass
            try:
                probe.close()
            except Exception:
                pass

    def _abort(self, release_wait=0):
        self._usable = False
        if self.sock is not None:
            try:
                self.sock.close()
            except Exception:
                pass
            self.sock = None
        if self._probe_socks:
            self._release_probes(release_wait)

    def close(self, quit_cleanly=True):
        """``quit`` (only after every reply is in) and close."""
        if self.sock is None:
            return
        release_wait = 0
        if quit_cleanly and self._usable and not self.closed_by_server:
            try:
                self.sock.sendall(b"quit\n")
                release_wait = STALL_PROBE_RELEASE
            except Exception:
                pass
        self._abort(release_wait)

    def command(self, command, check=True, timeout=None):
        """Send one command and read its whole reply.

        Returns a :class:`Reply`; with ``check`` an ``ERROR:`` reply raises
        :class:`CommandError`.
        """
        if self.sock is None or not self._usable:
            self._fail("The session with the %s is not usable any more." % self.target, "protocol")
        words = split_command(command)
        if not words:
            raise ManagementError(
                "The management command %r is empty or a comment: the server would not answer it." % command,
                kind="invalid",
            )
        verb = words[0]
        deadline = time.time() + (self.timeout if timeout is None else float(timeout))
        self._send(command)
        try:
            reply = self._read_reply(command, verb, words, deadline)
        except _Timeout:
            self._abort()
            self._fail(
                "No complete reply to %r from the %s within %ss." % (command, self.target, self.timeout),
                "timeout",
            )
        except _Eof:
            self._abort()
            self._fail(
                "The %s closed the connection while waiting for the reply to %r (did the OpenVPN server exit?)."
                % (self.target, command),
                "connection_lost",
            )
        if check and reply.kind == "error":
            raise CommandError(command, reply.text)
        return reply

    def _read_reply(self, command, verb, words, deadline):
        what = "the reply to %r" % command
        # ``test N`` prints N lines and no END.
        if verb == "test":
            # ``test`` alone gets one ERROR line; ``test N`` prints atoi(N) lines (none for N <= 0).
            count = c_atoi(words[1]) if len(words) > 1 else 1
            lines = []
            while len(lines) < count:
                line = self._next_line(deadline, what)
                if line.startswith(">") and not lines:
                    self._route_notification(line)
                    continue
                if line.startswith("ERROR:"):
                    return Reply(command, "error", line[6:].strip())
                lines.append(line)
            return Reply(command, "lines", lines=lines)
        # ``state`` / ``log`` / ``echo`` run each of their first two parameters
        # and answer each: ``on``/``off`` a SUCCESS line, ``N``/``all`` a block
        # ended by END, anything else an ERROR line (``log on all``: SUCCESS, history, END).
        count = min(len(words) - 1, 2) if verb in _HISTORY else 1
        replies = [self._read_one(command, deadline, what) for _index in range(max(count, 1))]
        if len(replies) == 1:
            return replies[0]
        first, second = replies
        kind = "error" if "error" in (first.kind, second.kind) else first.kind
        if kind == "error":
            bad = first if first.kind == "error" else second
            return Reply(command, "error", bad.text)
        if first.kind == "success":
            return Reply(command, "success", first.text, second.raw_lines())
        return Reply(command, "lines", lines=first.raw_lines() + second.raw_lines())

    def _read_one(self, command, deadline, what):
        """One SUCCESS / ERROR line or one block ended by END."""
        while True:
            line = self._next_line(deadline, what)
            if line.startswith(">"):
                self._route_notification(line)
                continue
            if self._client_block is not None:
                self.notifications.append(parse_notification(self._client_block))
                self._client_block = None
            if line.startswith("SUCCESS:"):
                return Reply(command, "success", line[8:].strip())
            if line.startswith("ERROR:"):
                return Reply(command, "error", line[6:].strip())
            return Reply(command, "lines", lines=self._read_block(deadline, what, [line]))

    def _read_block(self, deadline, what, lines):
        if lines and lines[-1] == "END":
            return lines[:-1]
        while True:
            line = self._next_line(deadline, what)
            if line == "END":
                return lines
            lines.append(line)

    def wait_notification(self, predicate, deadline):
        """Read real-time lines until one matches ``predicate`` (a dict -> bool).

        Returns the notification, or None when ``deadline`` passes.  Raises
        :class:`ManagementError` (``connection_lost``) when the server closes.
        """
        while True:
            for index, note in enumerate(self.notifications):
                if predicate(note):
                    del self.notifications[: index + 1]
                    return note
            try:
                line = self._next_line(deadline, "a notification")
            except _Timeout:
                return None
            except _Eof:
                self._abort()
                raise ManagementError(
                    "The %s closed the connection." % self.target, kind="connection_lost",
                )
            if line.startswith(">"):
                self._route_notification(line)
            # Anything else between replies would be a protocol error; ignore.

    # ------------------------------------------------------------ conveniences
    def version(self):
        return parse_version(self.command("version").lines)

    def pid(self):
        return parse_pid(self.command("pid").text)

    def load_stats(self):
        return parse_load_stats(self.command("load-stats").text)

    def state(self):
        return parse_state(self.command("state").lines)

    def hold(self):
        return parse_hold(self.command("hold").text)

    def status(self, version=3):
        return parse_status(self.command("status %d" % version).lines)

    def is_held(self):
        """Whether the daemon waits for ``hold release`` (seen at connect)."""
        if self.sock is not None and self._usable:
            # The >HOLD line comes right after the banner; any reply after it
            # proves it was (or was not) sent.
            self.hold_flag = parse_hold(self.command("hold").text)
        return self.hold_waiting


class _Timeout(Exception):
    pass


class _Eof(Exception):
    pass


# ---------------------------------------------------------------------------
# Module glue
# ---------------------------------------------------------------------------

def connection_argument_spec():
    """Options of the ``vpnfleet.control.openvpn`` doc fragment."""
    return dict(
        socket=dict(type="path"),
        host=dict(type="str"),
        port=dict(type="int"),
        password=dict(type="str", no_log=True),
        password_file=dict(type="path", no_log=False),
        timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    )


CONNECTION_MUTUALLY_EXCLUSIVE = [["socket", "host"], ["password", "password_file"]]
CONNECTION_REQUIRED_TOGETHER = [["host", "port"]]
CONNECTION_REQUIRED_ONE_OF = [["socket", "host"]]


def module_kwargs(argument_spec, **kwargs):
    """AnsibleModule keyword arguments with the connection rules merged in."""
    spec = connection_argument_spec()
    spec.update(argument_spec)
    result = dict(kwargs)
    result["argument_spec"] = spec
    for key, rules in (
        ("mutually_exclusive", CONNECTION_MUTUALLY_EXCLUSIVE),
        ("required_together", CONNECTION_REQUIRED_TOGETHER),
        ("required_one_of", CONNECTION_REQUIRED_ONE_OF),
    ):
        result[key] = list(rules) + list(kwargs.get(key, []))
    return result


def read_password_file(path):
    """The first line of a management password file (as OpenVPN reads it)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
    except (IOError, OSError) as exc:
        raise ManagementError("Cannot read password_file %s: %s" % (path, exc), kind="invalid")
    try:
        return first.rstrip(b"\r\n").decode("utf-8")
    except UnicodeDecodeError:
        raise ManagementError("The first line of password_file %s is not UTF-8 text." % path, kind="invalid")


# Options whose values reach the management socket (or are compared with what
# the server prints, which never holds a control character).
_LINE_OPTIONS = ("common_name", "real_address", "username")


def validate_params(params):
    """Refuse, before connecting, every option value the server would not read as written.

    Raises :class:`ManagementError` (``invalid``); nothing has been sent then.
    """
    socket_path = params.get("socket")
    if socket_path is not None and "\0" in socket_path:
        raise ManagementError("socket must not contain a NUL character.", kind="invalid")
    host = params.get("host")
    if host is not None and (not host or _CONTROL_RE.search(host)):
        raise ManagementError("host must be a host name or address without control characters.", kind="invalid")
    port = params.get("port")
    if port is not None and not 0 < port < 65536:
        raise ManagementError("port must be between 1 and 65535, got %r." % port, kind="invalid")
    if params.get("password") is not None:
        check_line(params["password"], "password")
    for name in _LINE_OPTIONS:
        for value in as_list(params.get(name)):
            if isinstance(value, str):
                check_line(value, name)
    for value in as_list(params.get("client_id")):
        if isinstance(value, int) and not 0 <= value < 2 ** 32:
            raise ManagementError("client_id must be between 0 and 4294967295, got %r." % value, kind="invalid")
    name = "kill_message"
    value = params.get(name)
    if isinstance(value, str):
        check_line(value, name)
        # client-kill sends RESTART,<message> (or HALT,...) as one parameter.
        limit = MAX_PARAM_BYTES - len("RESTART,")
        if len(value.encode("utf-8")) > limit:
            raise ManagementError(
                "%s is longer than %d bytes: OpenVPN reads RESTART,<message> as one parameter of at most %d "
                "bytes." % (name, limit, MAX_PARAM_BYTES),
                kind="invalid",
            )


def client_from_params(params, connector=None):
    """A :class:`ManagementClient` from the module's parameters (validated first)."""
    validate_params(params)
    password = params.get("password")
    if params.get("password_file"):
        password = read_password_file(params["password_file"])
    timeout = params.get("timeout")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    try:
        timeout = check_timeout(timeout)
    except VpnControlError as exc:
        raise ManagementError(exc.msg, kind=exc.kind)
    return ManagementClient(
        socket_path=params.get("socket"),
        host=params.get("host"),
        port=params.get("port"),
        password=password,
        timeout=timeout,
        connector=connector,
    )
