# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""occtl client and parser shared by the ocserv modules (private to the collection).

Public pieces (other modules import them, keep them stable):

* ``connection_argument_spec()`` - the ``socket``/``occtl_path``/``timeout`` options.
* ``build_argv(occtl_path, socket, command, json_output)`` - occtl's argv, options first.
* ``run_command(argv, timeout)`` - runs one occtl (no shell, bounded, child killed on timeout).
* ``classify_error(argv, rc, stdout, stderr, socket)`` - a failed run as a ``VpnControlError``.
* ``iter_json_values(text)`` / ``parse_json(text)`` - tolerant reader for occtl's hand-made JSON.
* ``records(text)`` - occtl ``-j`` output as a list of dicts (``json.loads`` first, the tolerant
  reader where it must); ``tolerant_records(text)`` - the same by the tolerant reader alone.
* ``normalize_user(record)``, ``normalize_session``, ``normalize_status``, ``normalize_ban``,
  ``normalize_ban_point``, ``normalize_iroute`` - one occtl JSON element to the collection's shape.
* ``OcctlClient`` - the queries and actions the modules use.

The occtl behaviour this relies on, checked on ocserv 1.1.6, 1.3.0 and 1.5.0, is described in the
collection's docs/ocserv.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os
import re
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, check_timeout, run
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_names import check_user_names

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


# ---------------------------------------------------------------------------- tolerant JSON

class JsonObject(list):
    """A JSON object as the ordered list of its ``(key, value)`` pairs (duplicates kept)."""


_WS = " \t\r\n"
_DECODER = json.JSONDecoder(strict=False)


class _Reader(object):
    """Recursive-descent reader for occtl's printf JSON.

    Tolerates what occtl prints wrong: commas are optional separators (trailing commas,
    and the missing commas between concatenated ``show iroutes`` records), raw control
    characters in strings, and duplicate keys (kept: objects are ``JsonObject`` lists).
    """

    def __init__(self, text):
        self.text = text
        self.pos = 0

    def skip(self, commas=False):
        text = self.text
        n = len(text)
        while self.pos < n and (text[self.pos] in _WS or (commas and text[self.pos] == ",")):
            self.pos += 1

    def value(self):
        self.skip()
        if self.pos >= len(self.text):
            raise ValueError("unexpected end of JSON")
        char = self.text[self.pos]
        if char == "{":
            self.pos += 1
            obj = JsonObject()
            while True:
                self.skip(commas=True)
                if self.pos >= len(self.text):
                    raise ValueError("unterminated object")
                if self.text[self.pos] == "}":
                    self.pos += 1
                    return obj
                key, self.pos = _DECODER.raw_decode(self.text, self.pos)
                if not isinstance(key, str):
                    raise ValueError("object key is not a string at %d" % self.pos)
                self.skip()
                if self.pos >= len(self.text) or self.text[self.pos] != ":":
                    raise ValueError("expected ':' at %d" % self.pos)
                self.pos += 1
                obj.append((key, self.value()))
        if char == "[":
            self.pos += 1
            arr = []
            while True:
                self.skip(commas=True)
                if self.pos >= len(self.text):
                    raise ValueError("unterminated array")
                if self.text[self.pos] == "]":
                    self.pos += 1
                    return arr
                arr.append(self.value())
        value, self.pos = _DECODER.raw_decode(self.text, self.pos)
        return value


def iter_json_values(text):
    """Every top-level JSON value in ``text`` (occtl may print several back to back,
    e.g. ``show events -j``). Objects come as ``JsonObject`` pair lists."""
    reader = _Reader(text or "")
    while True:
        reader.skip(commas=True)
        if reader.pos >= len(reader.text):
            return
        try:
            value = reader.value()
        except RecursionError:
            # "[[[[..." thousands deep: not occtl output, and not a traceback either
            raise ValueError("JSON nested too deeply")
        yield value


def parse_json(text):
    """The single JSON document occtl printed (``None`` for empty output), tolerant as above.

    Raises ``ValueError`` when the text is not JSON at all.
    """
    values = list(iter_json_values(text))
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return values


def to_dict(obj):
    """A ``JsonObject`` as a dict: duplicate keys are merged (lists concatenated, a string
    after a list appended to it, identical repeats dropped); nested objects converted too."""
    if isinstance(obj, JsonObject):
        out = {}
        for key, value in obj:
            value = to_dict(value)
            if key in out:
                old = out[key]
                if old == value:
                    continue
                if isinstance(old, list):
                    out[key] = old + (value if isinstance(value, list) else [value])
                elif isinstance(value, list):
                    out[key] = [old] + value
                else:
                    out[key] = [old, value]
            else:
                out[key] = value
        return out
    if isinstance(obj, list):
        return [to_dict(item) for item in obj]
    return obj


def split_records(obj, key="ID"):
    """Split one object holding several records' keys concatenated (``show iroutes`` up to
    ocserv 1.3.x) into one ``JsonObject`` per record, starting a new one at each ``key``."""
    records = []
    current = None
    for pair in obj:
        if pair[0] == key or current is None:
            current = JsonObject()
            records.append(current)
        current.append(pair)
    return [rec for rec in records if rec]


class _DuplicateKey(Exception):
    """A JSON object repeats a key: only the tolerant reader merges those."""


def _unique_pairs(pairs, _dict=dict, _len=len):
    obj = _dict(pairs)
    if _len(obj) != _len(pairs):
        raise _DuplicateKey()
    return obj


# occtl <= 1.3.x ends the last member of objects/arrays with a comma, always followed by a
# newline (captured: ",\n  }" after each record's last key, ",\n]" at the end of the array).
# Requiring that newline keeps the repair out of strings: a string holding a raw newline is
# refused by the strict ``json.loads`` below, which then leaves the text to the tolerant reader.
_TRAILING_COMMA_RE = re.compile(r",([ \t\r]*\n[ \t\r\n]*[}\]])")


def _repairs(text):
    """The texts to try with ``json.loads``: as printed, then with occtl's trailing commas
    removed (its usual forms by ``str.replace`` and at the array's end, then any whitespace
    by a regex)."""
    yield text
    # str.replace returns the text itself when there is nothing to replace; the end of the
    # array is looked at in a short tail (no copy of a large output just to strip it)
    quick = text.replace(",\n  }", "\n  }")
    tail = quick[-64:]
    end = len(quick) - len(tail) + len(tail.rstrip(" \t\r\n"))
    if quick.endswith(",\n]", 0, end):
        quick = quick[:end - 3] + "\n]" + quick[end:]
    if quick is not text:
        yield quick
    fixed = _TRAILING_COMMA_RE.sub(r"\1", quick)
    if fixed != quick:
        yield fixed


def _fast_records(text):
    """``records(text)`` through the C ``json`` module, or ``None`` when only the tolerant
    reader can tell (duplicate keys, missing commas, control characters, several documents,
    anything that is not an object or an array of objects)."""
    for attempt in _repairs(text):
        try:
            doc = json.loads(attempt, object_pairs_hook=_unique_pairs)
        except (ValueError, _DuplicateKey, RecursionError):
            continue
        if isinstance(doc, dict):
            return [doc] if doc else []
        if isinstance(doc, list):
            for item in doc:
                if not isinstance(item, dict):
                    return None
            return doc
        return None
    return None


def records(text):
    """occtl ``-j`` output as a list of dicts, whatever the version made of it:
    an array (normal), one object (``show status``), one object holding several
    concatenated records (``show iroutes`` <= 1.3.x), or nothing.

    Valid JSON (and occtl's trailing commas) is read by ``json.loads``; what only the
    tolerant reader understands (duplicate keys, ``show iroutes`` <= 1.3.x, control
    characters) goes to it. Both give the same dicts."""
    if not text or text.isspace():
        return []
    fast = _fast_records(text)
    if fast is not None:
        return fast
    try:
        return tolerant_records(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply")


def tolerant_records(text):
    """``records(text)`` read by the tolerant reader alone (``parse_json``), for every output."""
    doc = parse_json(text)
    if doc is None:
        return []
    if isinstance(doc, JsonObject):
        ids = sum(1 for pair in doc if pair[0] == "ID")
        if ids > 1:
            return [to_dict(rec) for rec in split_records(doc)]
        return [to_dict(doc)] if doc else []
    if isinstance(doc, list):
        out = []
        for item in doc:
            if isinstance(item, JsonObject):
                if sum(1 for pair in item if pair[0] == "ID") > 1:
                    out.extend(to_dict(rec) for rec in split_records(item))
                else:
                    out.append(to_dict(item))
        return out
    raise ValueError("unexpected JSON value %r" % (doc,))


# ---------------------------------------------------------------------------- value helpers

def snake(label):
    """occtl label to snake_case: ``Remote IP`` -> ``remote_ip``, ``Sec-mod PID`` -> ``sec_mod_pid``."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", label.strip()).strip("_")
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()


_INT_RE = re.compile(r"^\s*-?\d+\s*$")


def to_int(value):
    """int from an int or a numeric string; ``None`` otherwise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # json reads 1e999 as inf and NaN as nan: no int for those
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        if value.isdecimal():   # the common case, same digits as the regex's \d
            return int(value)
        if _INT_RE.match(value):
            return int(value)
    return None


def to_bool(value):
    """bool from 0/1 or ``"True"``/``"False"``; ``None`` when absent/unknown."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    return None


_IVAL_RE = re.compile(r"(\d+)\s*(days|d|h|m|s)")
_IVAL_UNITS = {"days": 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_interval(text):
    """occtl's short durations (``'    2s'``, ``' 1m:05s'``, ``' 2h:03m'``, ``' 3days'``) as
    ``(seconds, resolution)``: resolution is the unit of the last field (1, 60 or 86400).
    ``None`` when unparsable (occtl prints ``'   ?   '`` when the clock went back)."""
    if not isinstance(text, str):
        return None
    parts = _IVAL_RE.findall(text)
    if not parts:
        return None
    seconds = sum(int(num) * _IVAL_UNITS[unit] for num, unit in parts)
    return seconds, _IVAL_UNITS[parts[-1][1]]


_MINUTE_CACHE = {}


def parse_local_minute(text):
    """``'2026-11-22 07:22'`` (occtl prints local time, minute resolution) as epoch of that
    minute's start, read in this process's time zone (the one occtl used); ``None`` otherwise."""
    if not isinstance(text, str):
        return None
    return _local_minute(text, _zone())


def _zone():
    """What the local time depends on: TZ (mktime reads it) and what tzset() read."""
    return (os.environ.get("TZ"), time.timezone, time.altzone, time.tzname)


def _local_minute(text, zone):
    """``parse_local_minute`` with the time zone key computed by the caller (once per record)."""
    if not isinstance(text, str):
        return None
    # Thousands of records share a few minutes: strptime/mktime once per distinct text and
    # time zone (the cache starts again when TZ or the zone tzset() read changes).
    key = (text, zone)
    try:
        return _MINUTE_CACHE[key]
    except KeyError:
        pass
    try:
        epoch = int(time.mktime(time.strptime(text.strip(), "%Y-%m-%d %H:%M")))
    except (ValueError, OverflowError):
        epoch = None
    if len(_MINUTE_CACHE) >= 4096:
        _MINUTE_CACHE.clear()
    _MINUTE_CACHE[key] = epoch
    return epoch


def derive_epoch(minute_text, interval_text, now, future=False):
    """Epoch of an event occtl shows only as a local minute plus a short interval.

    ``now`` is when occtl ran. The interval (``ago``, or ``remaining`` with ``future``)
    gives ``now -/+ seconds`` within its resolution; the minute gives a 60 s window. The
    result is the interval's estimate clamped into that window (so it is exact to the
    second for intervals under an hour, to the minute otherwise), or the minute's start
    when the interval cannot be read. ``None`` when neither can be read.
    """
    minute = parse_local_minute(minute_text)
    ival = parse_interval(interval_text)
    if ival is None:
        return minute
    seconds, resolution = ival
    if future:
        estimate = int(round(now)) + seconds
    else:
        estimate = int(round(now)) - seconds
    if minute is None:
        return estimate
    if resolution > 1:
        # coarse interval: the event lies in [estimate - resolution, estimate] (ago)
        return minute
    return min(max(estimate, minute), minute + 59)


# ---------------------------------------------------------------------------- normalisers

USER_KEYS = {
    "ID": "id",
    "Username": "username",
    "Groupname": "groupname",
    "State": "state",
    "vhost": "vhost",
    "Device": "device",
    "MTU": "mtu",
    "Remote IP": "remote_ip",
    "Location": "location",
    "Local Device IP": "local_device_ip",
    "IPv4": "vpn_ipv4",
    "P-t-P IPv4": "vpn_ptp_ipv4",
    "IPv6": "vpn_ipv6",
    "P-t-P IPv6": "vpn_ptp_ipv6",
    "User-Agent": "user_agent",
    "RX": "rx",
    "TX": "tx",
    "_RX": "rx_human",
    "_TX": "tx_human",
    "Average RX": "average_rx",
    "Average TX": "average_tx",
    "DPD": "dpd",
    "KeepAlive": "keepalive",
    "Hostname": "hostname",
    "Full session": "full_session",
    "Session": "session",
    "TLS ciphersuite": "tls_ciphersuite",
    "DTLS cipher": "dtls_cipher",
    "DNS": "dns",
    "NBNS": "nbns",
    "Split-DNS-Domains": "split_dns_domains",
    "Routes": "routes",
    "No-routes": "no_routes",
    "iRoutes": "iroutes",
    "Restricted to routes": "restricted_to_routes",
    "Restricted to ports": "restricted_to_ports",
    "Limit RX": "limit_rx",
    "Limit TX": "limit_tx",
    "CSTP compression": "cstp_compression",
    "DTLS compression": "dtls_compression",
    # connect time: 1.1.6 `Connected at`; 1.3.0 + raw_connected_at; 1.5.0 `Last connected at`
    "Connected at": "connected_at_text",
    "_Connected at": "connected_for",
    "Last connected at": "connected_at_text",
    "_Last connected at": "connected_for",
    "raw_connected_at": "connected_at",
    "Session started at": "session_started_at_text",
    "_Session started at": "session_started_for",
    "raw_session_started_at": "session_started_at",
}
USER_INT_KEYS = ("id", "mtu", "rx", "tx", "dpd", "keepalive", "connected_at", "session_started_at")
USER_LIST_KEYS = ("dns", "nbns", "split_dns_domains", "routes", "no_routes", "iroutes", "restricted_to_ports")
# Every user record has these keys on every version (None when the version does not say).
USER_FIELDS = (
    "id", "username", "groupname", "state", "vhost", "device", "mtu", "remote_ip", "location",
    "local_device_ip", "vpn_ipv4", "vpn_ptp_ipv4", "vpn_ipv6", "vpn_ptp_ipv6", "user_agent",
    "rx", "tx", "rx_human", "tx_human", "average_rx", "average_tx", "dpd", "keepalive", "hostname",
    "connected_at", "connected_at_text", "connected_for", "session_started_at", "session", "full_session",
    "tls_ciphersuite", "dtls_cipher", "dns", "nbns", "split_dns_domains", "routes", "no_routes",
    "iroutes", "restricted_to_routes", "restricted_to_ports", "limit_rx", "limit_tx",
    "cstp_compression", "dtls_compression",
)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v not in ("", None)]
    return [value] if value != "" else []


_USER_LIST_SET = frozenset(USER_LIST_KEYS)
_USER_TEMPLATE = dict((field, None) for field in USER_FIELDS)
# occtl label -> (collection name, is a raw_* value). Labels are a small fixed set per
# version: each is worked out once (USER_KEYS, else snake_case) and then looked up.
_USER_NAMES = {}
_SECONDS_RE = re.compile(r"/sec$")


def _user_name(key):
    try:
        return _USER_NAMES[key]
    except KeyError:
        pass
    name = USER_KEYS.get(key)
    raw = False
    if name is None:
        name = snake(key[1:]) + "_human" if key.startswith("_") else snake(key)
        if name.startswith("raw_"):
            name = name[4:]
            raw = True
    if len(_USER_NAMES) < 4096:
        _USER_NAMES[key] = (name, raw)
    return name, raw


def normalize_user(record, now=None):
    """One element of ``show users``/``show user``/``show id`` (or a ``show events -j`` record)
    in the collection's shape (see the module docs of ``ocserv_info``):

    * snake_case keys, ``IPv4``/``IPv6`` as ``vpn_ipv4``/``vpn_ipv6``;
    * ints for ``id``, ``mtu``, ``rx``, ``tx``, ``dpd``, ``keepalive`` and the times; booleans for
      ``restricted_to_routes``; lists for DNS/routes/... (``Routes`` printed twice is merged);
    * ``connected_at`` is an int epoch on every version: ``raw_connected_at`` from 1.2.3 on;
      on older servers derived from the local ``Connected at`` minute and the ``_Connected at``
      interval measured at ``now`` (see ``derive_epoch``: exact to the second for connections
      younger than an hour, to the minute otherwise);
    * every key of ``USER_FIELDS`` is present (None / [] when the version or the state does not
      say, e.g. ``rx``/``tx`` when occtl runs outside the server's network namespace).

    ``record`` may be a dict or a ``JsonObject``. Unknown keys are kept in snake_case.
    """
    if isinstance(record, JsonObject):
        record = to_dict(record)
    if now is None:
        now = time.time()
    out = _USER_TEMPLATE.copy()
    for field in USER_LIST_KEYS:
        out[field] = []
    for key, value in record.items():
        name, raw = _user_name(key)
        if raw:
            number = to_int(value)
            if number is not None:
                value = number
        if name in _USER_LIST_SET:
            if value.__class__ is list:
                value = [v for v in value if v != "" and v is not None]
            else:
                value = _as_list(value)
        out[name] = value
    for field in USER_INT_KEYS:
        value = out.get(field)
        if value is not None and value.__class__ is not int:
            out[field] = to_int(value)
    out["restricted_to_routes"] = to_bool(out["restricted_to_routes"])
    for field in ("average_rx", "average_tx"):
        value = out[field]
        if isinstance(value, str) and "/sec" in value:
            out[field] = _SECONDS_RE.sub("/s", value)   # 1.1.6 "bytes/sec", later "bytes/s"
    if out["connected_at"] is None:
        out["connected_at"] = derive_epoch(out["connected_at_text"], out["connected_for"], now)
    if isinstance(out["connected_for"], str):
        out["connected_for"] = out["connected_for"].strip()
    out.pop("session_started_for", None)
    out.pop("session_started_at_text", None)
    return out


SESSION_FIELDS = (
    "session", "full_session", "username", "groupname", "state", "vhost", "user_agent", "remote_ip",
    "location", "created", "created_text", "expires", "expires_text", "session_is_open", "tls_auth_ok",
    "in_use", "valid",
)


_SESSION_TEMPLATE = dict((field, None) for field in SESSION_FIELDS)
_SESSION_NAMES = {}


def _session_name(key):
    try:
        return _SESSION_NAMES[key]
    except KeyError:
        pass
    name = snake(key[1:]) + "_human" if key.startswith("_") else snake(key)
    if len(_SESSION_NAMES) < 4096:
        _SESSION_NAMES[key] = name
    return name


def normalize_session(record, valid=None):
    """One element of ``show sessions all|valid`` / ``show session SID``.

    ``created``/``expires`` are epochs of the local minute occtl prints (``expires`` is
    None while the session is in use); ``session_is_open``, ``tls_auth_ok``, ``in_use`` are
    booleans; ``valid`` is what the caller knows from ``show sessions valid`` (None if not asked).
    """
    if isinstance(record, JsonObject):
        record = to_dict(record)
    out = _SESSION_TEMPLATE.copy()
    for key, value in record.items():
        out[_session_name(key)] = value
    out["created_text"] = record.get("Created")
    out["expires_text"] = record.get("Expires")
    zone = None if "raw_created" in record and "raw_expires" in record else _zone()
    out["created"] = to_int(record.get("raw_created")) if "raw_created" in record else \
        _local_minute(record.get("Created"), zone)
    out["expires"] = to_int(record.get("raw_expires")) if "raw_expires" in record else \
        _local_minute(record.get("Expires"), zone)
    out.pop("raw_created", None)
    out.pop("raw_expires", None)
    for field in ("session_is_open", "tls_auth_ok", "in_use"):
        out[field] = to_bool(out[field])
    out["valid"] = valid
    return out


# Keys some versions or states leave out of `show status` (Debian 1.5.0 has no latency;
# MTUs only when > 0): present as None so that every version gives the same shape.
STATUS_OPTIONAL = (
    "median_latency", "median_latency_text", "stdev_latency", "stdev_latency_text", "min_mtu", "max_mtu",
)


def normalize_status(record):
    """``show status`` as a dict: snake_case labels, ints for counters.

    A label that has a ``raw_*`` twin gets the raw int (``up_since`` epoch, ``rx`` bytes,
    ``average_auth_time`` seconds, ...) and keeps its text as ``<name>_text``; ``_Label``
    intervals become ``<name>_human``.
    """
    if isinstance(record, JsonObject):
        record = to_dict(record)
    raw = dict((k[4:], v) for k, v in record.items() if k.startswith("raw_"))
    out = {}
    for key, value in record.items():
        if key.startswith("raw_"):
            continue
        if key.startswith("_"):
            out[snake(key[1:]) + "_human"] = value.strip() if isinstance(value, str) else value
            continue
        name = snake(key)
        twin = None
        for candidate in (name, name.replace("average_", "avg_")):
            if candidate in raw:
                twin = candidate
        if twin is not None:
            out[name] = to_int(raw.pop(twin))
            out[name + "_text"] = value.strip() if isinstance(value, str) else value
            continue
        number = to_int(value)
        out[name] = number if number is not None else value
    for name, value in raw.items():   # raw_* without a label twin
        out.setdefault(name, to_int(value))
    for name in STATUS_OPTIONAL:
        out.setdefault(name, None)
    return out


def normalize_ban(record, now=None):
    """``show ip bans`` element: ``{ip, score, expires, expires_text, remaining}``.

    occtl's ``Since`` is the ban's expiry (local minute) and ``_Since`` the time left;
    ``expires`` is an epoch derived from both, ``remaining`` the seconds left (0 once expired,
    None when occtl prints no readable interval)."""
    if isinstance(record, JsonObject):
        record = to_dict(record)
    if now is None:
        now = time.time()
    ival = parse_interval(record.get("_Since"))
    out = {
        "ip": record.get("IP"),
        "score": to_int(record.get("Score")),
        "expires": to_int(record["raw_since"]) if "raw_since" in record else
        derive_epoch(record.get("Since"), record.get("_Since"), now, future=True),
        "expires_text": record.get("Since"),
        "remaining": ival[0] if ival else None,
    }
    return out


def normalize_ban_point(record):
    """``show ip ban points`` element: ``{ip, score}``."""
    if isinstance(record, JsonObject):
        record = to_dict(record)
    return {"ip": record.get("IP"), "score": to_int(record.get("Score")) or 0}


def normalize_iroute(record):
    """``show iroutes`` element: ``{id, username, vhost, device, ip, iroutes: [...]}``."""
    if isinstance(record, JsonObject):
        record = to_dict(record)
    ip = record.get("IP")
    if isinstance(ip, list):   # duplicate "IP" key with different values (never seen): first wins
        ip = ip[0] if ip else None
    return {
        "id": to_int(record.get("ID")),
        "username": record.get("Username"),
        "vhost": record.get("vhost"),
        "device": record.get("Device"),
        "ip": ip,
        "iroutes": _as_list(record.get("iRoutes")),
    }


_PLAIN_BAN_ROW = re.compile(r"^\s*([0-9A-Fa-f:.]+)\s+(\d+)(?:\s+(\d{4}-\d\d-\d\d \d\d:\d\d)\s*\((.*)\))?\s*$")


def parse_plain_bans(text):
    """Rows of the plain ``show ip bans`` / ``show ip ban points`` tables (header optional):
    a list of dicts with ``IP``, ``Score`` and for bans ``Since``/``_Since`` (occtl's keys)."""
    rows = []
    for line in (text or "").splitlines():
        match = _PLAIN_BAN_ROW.match(line)
        if not match:
            continue
        row = {"IP": match.group(1), "Score": int(match.group(2))}
        if match.group(3):
            row["Since"] = match.group(3)
            row["_Since"] = match.group(4)
        rows.append(row)
    return rows


def parse_version(text):
    """``OpenConnect server control (occtl) version 1.5.0`` -> ``'1.5.0'`` (None if absent)."""
    match = re.search(r"\(occtl\) version (\S+)", text or "") or re.search(r"version (\d+(?:\.\d+)+)", text or "")
    return match.group(1) if match else None


def version_tuple(version):
    """``'1.3.0'`` -> ``(1, 3, 0)``; unparsable parts stop the tuple."""
    parts = []
    for part in (version or "").split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        parts.append(int(match.group(0)))
    return tuple(parts)


SHORT_SID_RE = re.compile(r"^[A-Za-z0-9+/]{6}$")
FULL_SID_RE = re.compile(r"^[A-Za-z0-9+/]{27}=$")


def check_sid(sid):
    """A session id as the user gave it: ``('short'|'full', sid)``; raises ``invalid`` otherwise.

    Short ids are the 6 first characters of the 28-character base64 full id (``j/3tin`` /
    ``j/3tinxkcBmFUA3dItIq56uZ0E8=``)."""
    text = str(sid).strip()
    if SHORT_SID_RE.match(text):
        return "short", text
    if FULL_SID_RE.match(text):
        return "full", text
    raise VpnControlError(
        "invalid session id %r: expected the 6-character short id or the 28-character full id (base64) "
        "that occtl shows as Session / Full session" % (sid,), kind="invalid")


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

    def disconnect_user(self, name):
        return self.action(["disconnect", "user", name])

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


_BATCH_WORD_RE = re.compile(r"^[A-Za-z0-9._@+-]+$")


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


# ---------------------------------------------------------------------------- module logic
# The ocserv modules are thin: they build an OcctlClient and call one of these.

def _poll(check, timeout, interval=0.1):
    """Call ``check()`` until it returns a true value or ``timeout`` seconds pass; its last value."""
    deadline = time.time() + max(float(timeout), 0.0)
    value = check()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = check()
    return value


GATHER_CHOICES = ("status", "users", "sessions", "bans", "ban_points", "iroutes")


def gather_info(client, gather=None):
    """What ``ocserv_info`` returns: ``occtl_version``, ``capabilities`` and each gathered part."""
    parts = list(gather or GATHER_CHOICES)
    if "all" in parts:
        parts = list(GATHER_CHOICES)
    result = {"occtl_version": client.version(), "capabilities": client.capabilities(), "socket": client.socket}
    if "status" in parts:
        result["status"] = client.status()
    if "users" in parts:
        result["users"] = client.users()
    if "sessions" in parts:
        sessions = client.sessions_with_validity()[0]
        result["sessions"] = sessions
    if "bans" in parts:
        result["bans"] = client.bans()
    if "ban_points" in parts:
        result["ban_points"] = client.ban_points()
    if "iroutes" in parts:
        result["iroutes"] = client.iroutes()
    return result


def _user_view(users, valid, name):
    return {
        "connections": sorted(u["id"] for u in users if u["username"] == name),
        "sessions": sorted(s["session"] for s in valid if s["username"] == name),
    }


def _idle_sessions(sessions, users):
    """Valid sessions no connection uses (openconnect --authenticate, killed clients, ...)."""
    in_use = set(u["full_session"] for u in users if u.get("full_session"))
    return [s for s in sessions if s["full_session"] not in in_use]


def _describe_sessions(sessions):
    parts = []
    for sess in sessions:
        text = "%s (user %s" % (sess["session"], sess["username"])
        if sess.get("expires_text"):
            text += ", expires %s" % sess["expires_text"]
        parts.append(text + ")")
    return ", ".join(parts)


def _no_terminate_advice(version):
    return ("ocserv %s has no 'terminate' command (new in 1.5.0) and cannot invalidate a session that no "
            "connection uses; such a cookie stays valid for reconnection until cookie-timeout. To end it now: "
            "restart ocserv (drops every user's sessions) after blocking the account, or upgrade to ocserv "
            ">= 1.5.0; or use state=disconnected to close the connections only" % version)


def ensure_users(client, names, state="terminated", check_mode=False):
    """``ocserv_user``: no connection (``disconnected``) and, for ``terminated``, no session
    valid for reconnection for each user in ``names``.

    One query of the server state (``show users`` + ``show sessions valid``) for all names,
    one action per user (``terminate user`` on 1.5.0+, else ``disconnect user``; several piped
    into one interactive occtl, see ``OcctlClient.actions``), then a verification with the same two queries until the state holds or ``timeout`` passes.
    Before 1.5.0 ``disconnect`` invalidates the connection's cookie unless
    ``persistent-cookies`` is on; idle sessions cannot be invalidated: the connections are
    still closed, then the module fails and says which sessions stay valid and why.
    """
    names = check_user_names(names)
    terminate = state == "terminated"
    users = client.users()
    valid = client.sessions("valid") if terminate else []
    before = dict((n, _user_view(users, valid, n)) for n in names)
    todo = [n for n in names if before[n]["connections"] or (terminate and before[n]["sessions"])]
    # occtl's version decides how to terminate: asked only when there is something to do
    caps = client.capabilities() if terminate and todo else {"terminate": False}
    result = {"changed": bool(todo), "disconnected": [], "terminated": [],
              "diff": {"before": before, "after": {}}}
    blocked = []
    if terminate and not caps["terminate"]:
        mine = [s for s in valid if s["username"] in todo]
        blocked = _idle_sessions(mine, users)
    for name in names:
        result["diff"]["after"][name] = {"connections": [], "sessions": []} if name in todo else before[name]
    for name in todo:
        result["disconnected"].extend(before[name]["connections"])
    result["disconnected"].sort()
    if terminate:
        result["terminated"] = list(todo)
    if check_mode or not todo:
        if blocked:
            for sess in blocked:
                result["diff"]["after"][sess["username"]]["sessions"].append(sess["session"])
            raise VpnControlError(
                "cannot terminate %s: valid sessions without a connection: %s. %s"
                % (", ".join(sorted(set(s["username"] for s in blocked))), _describe_sessions(blocked),
                   _no_terminate_advice(client.version())),
                kind="unsupported", **result)
        return result
    actions = []
    for name in todo:
        if terminate and caps["terminate"]:
            actions.append(["terminate", "user", name])
        elif before[name]["connections"]:
            actions.append(["disconnect", "user", name])   # not found = left meanwhile: fine
    client.actions(actions)

    def current():
        now_users = client.users()
        now_valid = client.sessions("valid") if terminate else []
        return dict((n, _user_view(now_users, now_valid, n)) for n in todo), now_valid

    def settled():
        views, now_valid = current()
        state_now["views"], state_now["valid"] = views, now_valid
        left = [n for n in todo if views[n]["connections"]]
        if terminate:
            known_blocked = set(s["full_session"] for s in blocked)
            left += [n for n in todo if any(s["full_session"] not in known_blocked
                                            for s in now_valid if s["username"] == n)]
        return not left

    state_now = {}
    _poll(settled, client.timeout)
    views, now_valid = state_now["views"], state_now["valid"]
    result["diff"]["after"].update(views)
    still_connected = [n for n in todo if views[n]["connections"]]
    if still_connected:
        raise VpnControlError("users still connected after %s: %s" % (
            "terminate" if caps["terminate"] else "disconnect", ", ".join(still_connected)),
            kind="error", **result)
    if terminate:
        remaining = [s for s in now_valid if s["username"] in todo]
        if remaining:
            idle_before = set(s["full_session"] for s in blocked)
            kept = [s for s in remaining if s["full_session"] not in idle_before]
            reasons = []
            if kept:
                reasons.append("ocserv kept the sessions of the closed connections valid: %s (persistent-cookies "
                               "is on?)" % _describe_sessions(kept))
            idle = [s for s in remaining if s["full_session"] in idle_before]
            if idle:
                reasons.append("valid sessions without a connection: %s" % _describe_sessions(idle))
            if caps["terminate"]:
                msg = "sessions of %s are still valid after terminate: %s" % (
                    ", ".join(sorted(set(s["username"] for s in remaining))), "; ".join(reasons))
            else:
                msg = "connections of %s closed, but %s. %s" % (
                    ", ".join(sorted(set(s["username"] for s in remaining))), "; ".join(reasons),
                    _no_terminate_advice(client.version()))
            result["terminated"] = [n for n in todo if n not in set(s["username"] for s in remaining)]
            raise VpnControlError(msg, kind="unsupported", **result)
    return result


def parse_conn_ids(values):
    """Connection ids (ints > 0, from ints or digit strings); raises ``invalid`` otherwise."""
    out = []
    for value in values:
        number = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and re.match(r"^\s*\d+\s*$", value):
            number = int(value)
        if number is None or number <= 0:
            raise VpnControlError("invalid connection id %r: expected a positive integer (the ID occtl shows, "
                                  "which is the worker's PID)" % (value,), kind="invalid")
        if number not in out:
            out.append(number)
    return out


def ensure_sessions(client, ids=None, sessions=None, state="terminated", check_mode=False):
    """``ocserv_session``: connections by ``ids`` or sessions by SID (short or full) end up
    disconnected / terminated.

    SIDs are resolved through ``show sessions valid`` (``show session`` matches only the
    short id, by prefix). On 1.5.0+: a connection is ended with ``terminate id`` (invalidates
    that connection's session only), an idle session with ``terminate session``. Before
    1.5.0: ``disconnect id`` and verification that the session left ``show sessions valid``;
    idle sessions cannot be invalidated (the module fails and says why).
    """
    terminate = state == "terminated"
    if sessions and ids:
        raise VpnControlError("id and session are mutually exclusive", kind="invalid")
    if sessions and not terminate:
        raise VpnControlError("state=disconnected works on connections: use id (a session is ended with "
                              "state=terminated)", kind="invalid")
    conn_ids = parse_conn_ids(ids or [])
    sids = [check_sid(s) for s in (sessions or [])]
    caps = client.capabilities() if terminate else {"terminate": False}
    users = client.users()
    valid = client.sessions("valid") if terminate else []
    by_id = dict((u["id"], u) for u in users)
    # targets: list of (label, connection-or-None, session-or-None)
    conns, idle, resolved = [], [], []
    if conn_ids:
        for cid in conn_ids:
            if cid in by_id:
                conns.append(by_id[cid])
    else:
        for kind, sid in sids:
            key = "session" if kind == "short" else "full_session"
            matches = [s for s in valid if s[key] == sid]
            if len(matches) > 1:
                raise VpnControlError("short session id %s is ambiguous (%s): give the full session id"
                                      % (sid, ", ".join(s["full_session"] for s in matches)), kind="invalid")
            if not matches:
                continue
            sess = matches[0]
            if sess["full_session"] in set(s["full_session"] for s in resolved):
                continue
            resolved.append(sess)
            users_of = [u for u in users if u["full_session"] == sess["full_session"]]
            if users_of:
                conns.extend(u for u in users_of if u["id"] not in set(c["id"] for c in conns))
            else:
                idle.append(sess)
    conn_sessions = set(c["full_session"] for c in conns if c.get("full_session"))
    target_sessions = set(s["full_session"] for s in resolved) | (conn_sessions if terminate else set())
    before = {
        "connections": sorted(c["id"] for c in conns),
        "sessions": sorted(s["session"] for s in valid if s["full_session"] in target_sessions),
    }
    result = {
        "changed": bool(conns or idle or before["sessions"]),
        "disconnected": sorted(c["id"] for c in conns),
        "terminated": sorted(s["session"] for s in valid if s["full_session"] in target_sessions) if terminate else [],
        "diff": {"before": before, "after": {"connections": [], "sessions": []}},
    }
    blocked = idle if terminate and not caps["terminate"] else []
    if blocked:
        result["diff"]["after"]["sessions"] = sorted(s["session"] for s in blocked)
        if check_mode or not conns:
            raise VpnControlError("cannot terminate sessions without a connection: %s. %s" % (
                _describe_sessions(blocked), _no_terminate_advice(client.version())), kind="unsupported", **result)
    if check_mode or not result["changed"]:
        return result
    for conn in conns:
        if terminate and caps["terminate"]:
            client.terminate_id(conn["id"])
        else:
            client.disconnect_id(conn["id"])
    if terminate and caps["terminate"]:
        for sess in idle:
            client.terminate_session(sess["session"])
        # a session that is valid but whose connection is not (yet) listed: nothing else to do

    wanted_ids = set(c["id"] for c in conns)
    state_now = {}

    def settled():
        now_users = client.users()
        now_valid = client.sessions("valid") if terminate else []
        state_now["ids"] = sorted(u["id"] for u in now_users if u["id"] in wanted_ids)
        state_now["sessions"] = [s for s in now_valid if s["full_session"] in target_sessions]
        blocked_set = set(s["full_session"] for s in blocked)
        return not state_now["ids"] and not [s for s in state_now["sessions"]
                                             if s["full_session"] not in blocked_set]

    _poll(settled, client.timeout)
    result["diff"]["after"] = {"connections": state_now["ids"],
                               "sessions": sorted(s["session"] for s in state_now["sessions"])}
    if state_now["ids"]:
        raise VpnControlError("connections still open after %s: %s" % (
            "terminate" if caps["terminate"] else "disconnect", ", ".join(str(i) for i in state_now["ids"])),
            kind="error", **result)
    if state_now["sessions"]:
        remaining = state_now["sessions"]
        result["terminated"] = [s for s in result["terminated"] if s not in set(r["session"] for r in remaining)]
        blocked_set = set(s["full_session"] for s in blocked)
        kept = [s for s in remaining if s["full_session"] not in blocked_set]
        reasons = []
        if kept:
            reasons.append("ocserv kept the sessions of the closed connections valid: %s (persistent-cookies is on?)"
                           % _describe_sessions(kept))
        if blocked:
            reasons.append("sessions without a connection: %s" % _describe_sessions(blocked))
        advice = "" if caps["terminate"] else " " + _no_terminate_advice(client.version())
        raise VpnControlError("sessions still valid: %s.%s" % ("; ".join(reasons), advice),
                              kind="unsupported", **result)
    return result


def parse_ips(values):
    """Validated addresses (``ipaddress``): list of ``(text as given, ip_address)``."""
    import ipaddress
    out = []
    for value in values:
        text = "" if value is None else str(value).strip()
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise VpnControlError("invalid IP address %r: give single IPv4 or IPv6 addresses (no networks)"
                                  % (value,), kind="invalid")
        if addr not in [pair[1] for pair in out]:
            out.append((addr.compressed, addr))
    return out


def _ip_key(text):
    import ipaddress
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return text


def ensure_unbanned(client, ips, check_mode=False):
    """``ocserv_ban`` state=absent: each address neither banned nor holding ban points.

    One ``show ip bans`` + ``show ip ban points``, ``unban ip`` for the addresses that are
    banned or have a score > 0 (unban resets the score to 0; the entry may stay listed
    with score 0), then one verification round."""
    addrs = parse_ips(ips)

    def view():
        bans = dict((_ip_key(b["ip"]), b) for b in client.bans())
        points = dict((_ip_key(p["ip"]), p) for p in client.ban_points())
        out = {}
        for text, addr in addrs:
            ban = bans.get(addr)
            score = max((points.get(addr) or {}).get("score") or 0, (ban or {}).get("score") or 0)
            out[text] = {"banned": ban is not None, "score": score}
            if ban is not None:
                out[text]["expires"] = ban.get("expires")
        return out

    before = view()
    todo = [pair[0] for pair in addrs if before[pair[0]]["banned"] or before[pair[0]]["score"] > 0]
    after = dict(before)
    for text in todo:
        after[text] = {"banned": False, "score": 0}
    result = {"changed": bool(todo), "unbanned": todo, "diff": {"before": before, "after": after}}
    if check_mode or not todo:
        return result
    for text in todo:
        client.unban_ip(text)
    now = view()
    result["diff"]["after"] = now
    left = [t for t in todo if now[t]["banned"] or now[t]["score"] > 0]
    if left:
        raise VpnControlError("still banned or scored after unban: %s" % ", ".join(left), kind="error", **result)
    return result


def test_config(ocserv_path, config, timeout, runner=None):
    """``ocserv --test-config -c CONFIG``: ``(ok, messages)``; raises when ocserv cannot run."""
    argv = [ocserv_path or "ocserv", "--test-config", "-c", config]
    try:
        rc, stdout, stderr = (runner or run_command)(argv, timeout)
    except VpnControlError as exc:
        if exc.kind == "missing_binary":
            exc.msg = "cannot run %s to validate %s: %s" % (argv[0], config, exc.msg)
            exc.args = (exc.msg,)
        raise
    lines = [line for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    return rc == 0, lines


def ensure_server(client, state, config=None, ocserv_path="ocserv", check_mode=False, runner=None):
    """``ocserv_server``: ``reloaded`` (always changes) or ``stopped``; ``config`` validated first."""
    result = {"changed": False, "state": state}
    if config:
        ok, lines = test_config(ocserv_path, config, client.timeout, runner=runner or client._runner)
        result["config_messages"] = lines
        if not ok:
            errors = [line for line in lines if line.startswith("error")] or lines
            raise VpnControlError("ocserv configuration %s is invalid, the server was not touched: %s"
                                  % (config, "; ".join(errors)), kind="invalid", config_messages=lines)
    try:
        status = client.status()
    except VpnControlError as exc:
        if state == "stopped" and exc.kind == "unreachable" and (
                "does not exist" in exc.msg or "Connection refused" in exc.msg):
            result["diff"] = {"before": {"running": False}, "after": {"running": False}}
            return result
        raise
    result["server_pid"] = status.get("server_pid")
    result["changed"] = True
    if state == "reloaded":
        result["diff"] = {"before": {"reloaded": False}, "after": {"reloaded": True}}
        if not check_mode:
            client.reload()
        return result
    result["diff"] = {"before": {"running": True, "server_pid": status.get("server_pid")},
                      "after": {"running": False}}
    if check_mode:
        return result
    client.stop()

    def gone():
        try:
            client.status()
        except VpnControlError as exc:
            return exc.kind == "unreachable"
        return False

    if not _poll(gone, client.timeout, interval=0.2):
        raise VpnControlError("ocserv (pid %s) still answers on %s %s s after 'stop now'"
                              % (status.get("server_pid"), client.socket, client.timeout), kind="timeout", **result)
    return result
