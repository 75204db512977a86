# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenVPN 3 Linux session manager client over D-Bus (private to the collection).

Transport: ``busctl --system --json=short`` (systemd >= 240).  Every host that runs the
packaged ``openvpn3-client`` runs systemd (the packages need it for their units), so
busctl is always there, whereas ``dbus-python`` is only a Recommends of the package and
``gdbus`` lives in ``libglib2.0-bin``.  busctl does the SASL handshake, marshalling and
error mapping, and its JSON keeps the D-Bus types, which is what the OpenVPN 3 CLI's
text output does not (its wording changed between 24.1 and 27.1; the D-Bus API did not).

What the replies mean is in ``_openvpn3_parsers``.  The client is independent of
AnsibleModule: it takes a ``runner`` callable ``runner(argv, timeout) -> (rc, stdout, stderr)``
so that captured replies can be replayed in unit tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, check_timeout, run
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn3_parsers import (
    CONNECTED,
    FAILED_MINORS,
    STATUS_MINOR,
    normalize_session,
    normalize_status,
    unavailable_session,
    unwrap_variants,
)

SESSIONS_SERVICE = "net.openvpn.v3.sessions"
SESSIONS_ROOT = "/net/openvpn/v3/sessions"
SESSIONS_IFACE = "net.openvpn.v3.sessions"
CONFIG_SERVICE = "net.openvpn.v3.configuration"
CONFIG_ROOT = "/net/openvpn/v3/configuration"
CONFIG_IFACE = "net.openvpn.v3.configuration"
PROPS_IFACE = "org.freedesktop.DBus.Properties"

POLL_INTERVAL = 0.2
DEFAULT_TIMEOUT = 30


def connection_argument_spec(**extra):
    """The connection options every OpenVPN 3 module takes (doc fragment ``vpnfleet.control.openvpn3``)."""
    spec = dict(
        timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    )
    spec.update(extra)
    return spec


_monotonic = time.monotonic
_sleep = time.sleep


class Deadline(object):
    """The module's ``timeout`` as one budget shared by every call and wait."""

    def __init__(self, seconds, clock=time.monotonic, sleep=time.sleep):
        self.seconds = float(seconds)
        self.clock = clock
        self.sleep = sleep
        self.end = clock() + self.seconds

    def remaining(self):
        return max(0.0, self.end - self.clock())

    def expired(self):
        return self.remaining() <= 0


def subprocess_runner(argv, timeout):
    """Run ``argv`` (a list) with a hard timeout (``_common.run``: the process group is
    ended when it passes); returns ``(rc, stdout, stderr)`` as text."""
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    env["SYSTEMD_COLORS"] = "0"
    env["SYSTEMD_PAGER"] = "cat"
    rc, out, err = run(argv, timeout, env=env,
                       timeout_msg="D-Bus call %s timed out after %%(timeout).1f s"
                       % " ".join(argv[-3:]).replace("%", "%%"))
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


# ---- user values that reach busctl
# Every busctl command line ends its options with "--" before the verb, so no value
# that follows (service, path, interface, method, signature, arguments) is read as an
# option, whatever it starts with. The values a user gives are checked too:
# what D-Bus itself would refuse, or what cannot be a real session, fails as
# ``invalid`` before anything runs.

_OBJECT_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*)?\Z")
MAX_TEXT = 1024   # characters of a configuration name or pause reason
MAX_IFNAME = 15   # Linux IFNAMSIZ - 1


def check_object_path(value, name="path", under=None):
    """A D-Bus object path (``/`` and elements of ``[A-Za-z0-9_]``), below ``under`` when given."""
    text = value if isinstance(value, str) else None
    if text is None or not _OBJECT_PATH_RE.match(text):
        raise VpnControlError("%s must be a D-Bus object path (/ and elements of letters, digits and _), got %r"
                              % (name, value), kind="invalid")
    if under and not text.startswith(under.rstrip("/") + "/"):
        raise VpnControlError("%s must be an OpenVPN 3 session path below %s/, got %r" % (name, under, value),
                              kind="invalid")
    return text


def check_text(value, name, maximum=MAX_TEXT):
    """A D-Bus string a user gives (configuration name, pause reason): not empty, at most
    ``maximum`` characters, valid UTF-8, no control characters (NUL, line and paragraph
    separators included)."""
    if not isinstance(value, str) or not value:
        raise VpnControlError("%s must be a non-empty string, got %r" % (name, value), kind="invalid")
    if len(value) > maximum:
        raise VpnControlError("%s is longer than %d characters" % (name, maximum), kind="invalid")
    for char in value:
        if not char.isprintable():
            raise VpnControlError("%s must not contain control or separator characters (%r in %r)"
                                  % (name, char, value), kind="invalid")
    return value


def check_interface(value, name="interface"):
    """A Linux network interface name: 1 to 15 characters, no white space, '/' or ':', not . or .."""
    if (not isinstance(value, str) or not 0 < len(value) <= MAX_IFNAME or value in (".", "..")
            or any(c in "/:" or c.isspace() or not c.isprintable() for c in value)):
        raise VpnControlError("%s must be a network interface name (1 to %d characters, no white space, / or :), "
                              "got %r" % (name, MAX_IFNAME, value), kind="invalid")
    return value


def check_selectors(path=None, config_name=None, interface=None, reason=None):
    """Check the values a module gives before anything runs (``invalid`` otherwise)."""
    if path is not None:
        check_object_path(path, "path", under=SESSIONS_ROOT)
    if config_name is not None:
        check_text(config_name, "config_name")
    if interface is not None:
        check_interface(interface)
    if reason is not None:
        check_text(reason, "reason")


def local_pid_alive(pid):
    """Whether a process exists (``/proc``: works for other users' processes too, unlike kill(0))."""
    return os.path.isdir("/proc/%d" % int(pid))


def find_busctl(paths=None):
    for directory in (paths or os.environ.get("PATH", "").split(os.pathsep)) + ["/usr/bin", "/bin"]:
        candidate = os.path.join(directory, "busctl")
        if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class DBusError(VpnControlError):
    """A failed busctl call; ``dbus_message`` is the remote error's text, ``dbus_name`` its name."""

    def __init__(self, msg, kind, dbus_message, dbus_name=""):
        super(DBusError, self).__init__(msg, kind=kind)
        self.dbus_message = dbus_message
        self.dbus_name = dbus_name


MANAGER_ROOTS = (SESSIONS_ROOT, CONFIG_ROOT)


def _quoted_path(detail):
    """The object path in 'Object does not exist at path <P>' (P in Unicode or ASCII double quotes)."""
    tail = detail.rsplit(" ", 1)[-1]
    return tail.strip("\u201c\u201d\"'")


def classify_error(stderr, what):
    """Map busctl's stderr to a DBusError (kind, message, remote error name)."""
    error, name = _classify(stderr, what)
    error.dbus_name = name
    return error


def _classify(stderr, what):
    text = (stderr or "").strip()
    line = text.splitlines()[-1] if text else ""
    if line.startswith("Call failed: "):
        detail = line[len("Call failed: "):]
    elif line.startswith("Failed to get property"):
        detail = line.split(": ", 1)[-1]
    else:
        detail = line
    # busctl shows errors of the GDBus++ services as "GDBus.Error:<error name>:  <message>".
    name = ""
    if detail.startswith("GDBus.Error:"):
        name, _sep, detail = detail[len("GDBus.Error:"):].partition(":")
        detail = detail.strip()
    low = detail.lower()
    # systemd 257: "Failed to connect to bus: ...", 262: "Failed to connect to system scope bus via local transport: ..."
    if line.startswith("Failed to connect to") and "bus" in line:
        detail = line
        return DBusError("cannot connect to the D-Bus system bus (%s): is dbus running on this host?" % detail,
                         "unreachable", detail), name
    if ("was not provided by any .service files" in low or "is not activatable" in low
            or "name has no owner" in low or ("the name" in low and "does not exist" in low)
            or "no such unit" in low or "failed to activate service" in low or "launch helper" in low):
        return DBusError("the OpenVPN 3 session manager (%s) is not running and could not be started over D-Bus: %s"
                         % (SESSIONS_SERVICE, detail), "unreachable", detail), name
    if "object does not exist at path" in low and (_quoted_path(detail) in MANAGER_ROOTS):
        # Right after D-Bus activation the service owns its name before its root object exists.
        return DBusError("%s: the OpenVPN 3 service is still starting (%s)" % (what, detail), "starting", detail), name
    if "object does not exist at path" in low or "unknown object" in low:
        return DBusError("%s: no such session (%s)" % (what, detail), "not_found", detail), name
    if "access denied" in low or "permission denied" in low or "not authorized" in low or "rejected send message" in low:
        return DBusError("%s: access denied (%s); OpenVPN 3 sessions are accessible only to their owner, "
                         "users granted access or when public_access is set" % (what, detail),
                         "permission_denied", detail), name
    if "timed out" in low or "timeout" in low or "noreply" in low or "did not receive a reply" in low:
        return DBusError("%s: the OpenVPN 3 service did not answer in time (%s)" % (what, detail), "timeout", detail), name
    return DBusError("%s failed: %s" % (what, detail or "busctl exited with an error"), "dbus", detail), name


class OpenVPN3Client(object):
    """The OpenVPN 3 session manager, spoken to through ``busctl``."""

    def __init__(self, timeout=DEFAULT_TIMEOUT, runner=None, busctl=None, clock=None, sleep=None, pid_alive=None):
        timeout = check_timeout(timeout)
        # Defaults resolved at call time (module globals), so tests can replace them.
        clock = clock or _monotonic
        sleep = sleep or _sleep
        self.pid_alive = pid_alive or local_pid_alive
        self.deadline = Deadline(timeout, clock=clock, sleep=sleep)
        self.timeout = float(timeout)
        self.runner = runner or subprocess_runner
        self.busctl = busctl if busctl is not None else find_busctl()
        self.clock = clock
        self.sleep = sleep
        if not self.busctl:
            raise VpnControlError("busctl (systemd) not found on this host; it is needed to talk to the "
                                  "OpenVPN 3 services over D-Bus", kind="missing_binary")

    # -- transport ---------------------------------------------------------------

    def _budget(self):
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise VpnControlError("timeout of %g s reached while talking to the OpenVPN 3 services" % self.timeout,
                                  kind="timeout")
        return remaining

    def _busctl(self, args, what):
        budget = self._budget()
        # busctl takes whole or fractional seconds; keep a margin for the process itself.
        # "--": nothing after the options is an option, whatever it starts with.
        argv = [self.busctl, "--system", "--json=short", "--timeout=%.3f" % max(0.1, budget), "--"] + list(args)
        while True:
            rc, out, err = self.runner(argv, budget + 2.0)
            if rc == 0:
                break
            error = classify_error(err or out, what)
            if error.kind != "starting" or self.deadline.expired():
                raise error
            self._sleep()
            budget = self._budget()
            argv[3] = "--timeout=%.3f" % max(0.1, budget)
        out = (out or "").strip()
        if not out:
            return None
        try:
            return json.loads(out.splitlines()[0])
        except ValueError:
            raise VpnControlError("%s: cannot parse busctl output %r" % (what, out[:200]), kind="protocol")

    def call(self, service, path, iface, method, signature=None, args=(), what=None):
        check_object_path(path)
        cmd = ["call", service, path, iface, method]
        if signature:
            cmd.append(signature)
            cmd.extend(str(a) for a in args)
        reply = self._busctl(cmd, what or "%s.%s on %s" % (iface, method, path))
        if not reply:
            return []
        return reply.get("data", [])

    # -- session manager ---------------------------------------------------------

    def version(self):
        reply = self._busctl(["get-property", SESSIONS_SERVICE, SESSIONS_ROOT, SESSIONS_IFACE, "version"],
                             "reading the session manager version")
        return reply.get("data") if reply else None

    def fetch_sessions(self):
        data = self.call(SESSIONS_SERVICE, SESSIONS_ROOT, SESSIONS_IFACE, "FetchAvailableSessions",
                         what="listing OpenVPN 3 sessions")
        return sorted(data[0]) if data else []

    def lookup_config_name(self, name):
        data = self.call(SESSIONS_SERVICE, SESSIONS_ROOT, SESSIONS_IFACE, "LookupConfigName", "s", [name],
                         what="looking up sessions of configuration %r" % name)
        return sorted(data[0]) if data else []

    def lookup_interface(self, device):
        """Session path for a tun device; None when no session owns it."""
        try:
            data = self.call(SESSIONS_SERVICE, SESSIONS_ROOT, SESSIONS_IFACE, "LookupInterface", "s", [device],
                             what="looking up the session of interface %r" % device)
        except DBusError as exc:
            if "interface not found" in exc.dbus_message.lower():
                return None
            raise
        return data[0] if data else None

    def lookup_configuration(self, name):
        """Paths of imported configuration profiles named ``name``."""
        data = self.call(CONFIG_SERVICE, CONFIG_ROOT, CONFIG_IFACE, "LookupConfigName", "s", [name],
                         what="looking up the configuration profile %r" % name)
        return sorted(data[0]) if data else []

    def get_all(self, path):
        data = self.call(SESSIONS_SERVICE, path, PROPS_IFACE, "GetAll", "s", [SESSIONS_IFACE],
                         what="reading session %s" % path)
        props = unwrap_variants(data[0] if data else {})
        if not props:
            # GetAll by a user without access to the session answers an empty a{sv} instead
            # of an error (24.1 and 27.1); reading one property gives the real error.
            self.get_status(path)
            raise DBusError("reading session %s: access denied (no properties readable)" % path,
                            "permission_denied", "Access denied")
        return props

    def get_status(self, path):
        check_object_path(path)
        reply = self._busctl(["get-property", SESSIONS_SERVICE, path, SESSIONS_IFACE, "status"],
                             "reading the status of session %s" % path)
        return normalize_status(reply.get("data") if reply else None)

    def session(self, path, statistics=True):
        """The normalised session; VpnControlError(kind=not_found) when it does not exist."""
        return normalize_session(path, self.get_all(path), statistics=statistics)

    def sessions(self, paths=None, statistics=True):
        """Normalised sessions for ``paths`` (default: all visible); unreadable ones are marked."""
        result = []
        for path in (self.fetch_sessions() if paths is None else paths):
            try:
                result.append(self.session(path, statistics=statistics))
            except DBusError as exc:
                if exc.kind == "not_found":
                    continue  # vanished between listing and reading
                if exc.kind in ("unreachable", "permission_denied"):
                    raise
                result.append(unavailable_session(path, exc.msg))
        return result

    def exists(self, path):
        return path in self.fetch_sessions()

    def select(self, path=None, config_name=None, interface=None):
        """Session paths matching one selector (visible to the caller)."""
        if path:
            # A path that is not listed may still exist but belong to someone else:
            # reading it tells "no such session" from "access denied".
            if path in self.fetch_sessions():
                return [path]
            try:
                self.get_all(path)
            except DBusError as exc:
                if exc.kind == "not_found":
                    return []
                raise
            return [path]
        if config_name:
            return self.lookup_config_name(config_name)
        if interface:
            found = self.lookup_interface(interface)
            return [found] if found else []
        return []

    # -- actions -----------------------------------------------------------------

    def pause(self, path, reason="vpnfleet.control"):
        self.call(SESSIONS_SERVICE, path, SESSIONS_IFACE, "Pause", "s", [reason], what="pausing session %s" % path)

    def resume(self, path):
        self.call(SESSIONS_SERVICE, path, SESSIONS_IFACE, "Resume", what="resuming session %s" % path)

    def restart(self, path):
        self.call(SESSIONS_SERVICE, path, SESSIONS_IFACE, "Restart", what="restarting session %s" % path)

    def disconnect(self, path):
        self.call(SESSIONS_SERVICE, path, SESSIONS_IFACE, "Disconnect", what="disconnecting session %s" % path)

    def new_tunnel(self, config_path):
        data = self.call(SESSIONS_SERVICE, SESSIONS_ROOT, SESSIONS_IFACE, "NewTunnel", "o", [config_path],
                         what="creating a session from %s" % config_path)
        if not data:
            raise VpnControlError("NewTunnel returned no session path", kind="protocol")
        return data[0]

    def ready(self, path):
        self.call(SESSIONS_SERVICE, path, SESSIONS_IFACE, "Ready", what="checking session %s is ready" % path)

    def connect(self, path):
        self.call(SESSIONS_SERVICE, path, SESSIONS_IFACE, "Connect", what="connecting session %s" % path)

    # -- waits -------------------------------------------------------------------

    def _sleep(self):
        self.sleep(min(POLL_INTERVAL, max(0.0, self.deadline.remaining())))

    def _timeout_error(self, path, minors, last):
        return VpnControlError(
            "session %s did not reach %s within %g s (last status: %s)"
            % (path, " or ".join(STATUS_MINOR.get(m, str(m)) for m in minors), self.timeout,
               last["text"] if last else "none"), kind="timeout", status=last)

    def wait_status(self, path, minors, failed=FAILED_MINORS):
        """Poll the status until its minor is in ``minors``; fail on ``failed`` or the deadline."""
        last = None
        while True:
            if self.deadline.expired():
                raise self._timeout_error(path, minors, last)
            try:
                last = self.get_status(path)
            except DBusError as exc:
                if exc.kind == "timeout":
                    continue
                raise
            except VpnControlError as exc:
                if exc.kind == "timeout":
                    raise self._timeout_error(path, minors, last)
                raise
            minor = last["minor"] if last else None
            if minor in minors:
                return last
            if minor in failed:
                raise VpnControlError("session %s failed: %s" % (path, last["text"]), kind="failed", status=last)
            self._sleep()

    def restart_and_wait(self, path, grace=5.0):
        """``Restart()`` and wait until the session has reconnected.

        A restart of a connected session is often over between two polls (the status reads
        "connected" before and after), so a restart counts as done once the status left
        "connected" or the reconnect counters (``N_RECONNECT``, ``CLIENT_RESTART``) grew, and the
        status is "connected" again; after ``grace`` seconds a connected status is accepted.
        """
        def counters(props):
            stats = props.get("statistics") or {}
            return (int(stats.get("N_RECONNECT", 0)), int(stats.get("CLIENT_RESTART", 0)))

        before = counters(self.get_all(path))
        self.restart(path)
        started = self.clock()
        seen_restart = False
        last = None
        while True:
            if self.deadline.expired():
                raise self._timeout_error(path, (CONNECTED,), last)
            try:
                props = self.get_all(path)
            except VpnControlError as exc:
                if exc.kind == "timeout":
                    raise self._timeout_error(path, (CONNECTED,), last)
                raise
            last = normalize_status(props.get("status"))
            minor = last["minor"] if last else None
            if minor != CONNECTED or counters(props) != before:
                seen_restart = True
            if minor == CONNECTED and (seen_restart or self.clock() - started >= grace):
                return last
            if minor in FAILED_MINORS:
                raise VpnControlError("session %s failed: %s" % (path, last["text"]), kind="failed", status=last)
            self._sleep()

    def wait_gone(self, path):
        """Poll until ``path`` is no longer listed by the session manager."""
        while True:
            gone_error = VpnControlError("session %s still exists %g s after it was told to disconnect"
                                         % (path, self.timeout), kind="timeout")
            if self.deadline.expired():
                raise gone_error
            try:
                if path not in self.fetch_sessions():
                    return
            except VpnControlError as exc:
                if exc.kind == "timeout":
                    raise gone_error
                raise
            self._sleep()

    def wait_ready(self, path):
        """Call ``Ready()`` until the new backend answers; fail if it needs user input."""
        last = None
        while True:
            try:
                self.ready(path)
                return
            except DBusError as exc:
                low = exc.dbus_message.lower()
                if "user input" in low or "credentials" in low or "requires" in low:
                    raise VpnControlError("session %s needs user input before it can connect (%s); "
                                          "this module cannot provide it" % (path, exc.dbus_message),
                                          kind="user_input_required")
                if exc.kind in ("unreachable", "permission_denied", "not_found"):
                    raise
                last = exc.dbus_message
            if self.deadline.expired():
                raise VpnControlError("session %s was not ready within %g s (%s)" % (path, self.timeout, last),
                                      kind="timeout")
            self._sleep()

    # -- compound operations -----------------------------------------------------

    def start(self, config_name):
        """Start a session from an imported profile and wait until it is connected."""
        configs = self.lookup_configuration(config_name)
        if not configs:
            raise VpnControlError("no session and no imported configuration profile named %r visible to this "
                                  "user (import it with 'openvpn3 config-import --persistent')" % config_name,
                                  kind="not_found")
        if len(configs) > 1:
            raise VpnControlError("more than one imported configuration profile is named %r: %s"
                                  % (config_name, ", ".join(configs)), kind="ambiguous")
        return self.start_config(configs[0])

    def start_config(self, config_path):
        """Start a session from the configuration profile at ``config_path``; wait until connected."""
        path = self.new_tunnel(config_path)
        try:
            self.wait_ready(path)
            self.connect(path)
            self.wait_status(path, (CONNECTED,))
        except VpnControlError as exc:
            self._abandon(path)
            exc.details.setdefault("path", path)
            exc.msg += " (the new session was disconnected again)"
            exc.args = (exc.msg,)
            raise
        return path

    def _abandon(self, path):
        saved = self.deadline
        self.deadline = Deadline(5, clock=self.clock, sleep=self.sleep)
        try:
            self.disconnect(path)
        except VpnControlError:
            pass
        finally:
            self.deadline = saved

    def stale_sessions(self):
        """Sessions whose backend process is gone or which cannot be read any more."""
        stale = []
        for path in self.fetch_sessions():
            try:
                props = self.get_all(path)
            except DBusError as exc:
                if exc.kind == "not_found":
                    continue
                if exc.kind in ("unreachable", "permission_denied"):
                    raise
                stale.append({"path": path, "reason": exc.dbus_message or exc.msg})
                continue
            pid = props.get("backend_pid")
            if not pid:
                stale.append({"path": path, "reason": "no backend process", "config_name": props.get("config_name")})
            elif not self.pid_alive(int(pid)):
                stale.append({"path": path, "reason": "backend process %s is gone" % pid,
                              "config_name": props.get("config_name")})
        return stale
