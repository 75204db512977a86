# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers of occtl's output for the ocserv modules (private to the collection): pure functions,
no process is run here.

Public pieces (other modules import them, keep them stable):

* ``iter_json_values(text)`` / ``parse_json(text)`` - tolerant reader for occtl's hand-made JSON.
* ``records(text)`` - occtl ``-j`` output as a list of dicts (``json.loads`` first, the tolerant
  reader where it must); ``tolerant_records(text)`` - the same by the tolerant reader alone.
* ``normalize_user(record)``, ``normalize_session``, ``normalize_status``, ``normalize_ban``,
  ``normalize_ban_point``, ``normalize_iroute`` - one occtl JSON element to the collection's shape.
* ``parse_interval``, ``derive_epoch``, ``to_bool``, ``parse_version``, ``version_tuple``,
  ``check_sid`` - occtl's values read.

The occtl behaviour this relies on, checked on ocserv 1.1.6, 1.3.0 and 1.5.0, is described in the
collection's docs/ocserv.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, as_list, to_int


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
    """``as_list`` without occtl's empty entries (``""``, null)."""
    return [v for v in as_list(value) if v not in ("", None)]


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


SHORT_SID_RE = re.compile(r"^[A-Za-z0-9+/]{6}\Z")
FULL_SID_RE = re.compile(r"^[A-Za-z0-9+/]{27}=\Z")


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
