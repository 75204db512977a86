# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the OpenVPN 3 Linux session manager answers over D-Bus, as the modules return it
(private): status codes and their names, sessions and their statistics.  No I/O here;
``_openvpn3_client`` makes the calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pwd

STATUS_MAJOR = {
    0: "",
    1: "Configuration",
    2: "Connection",
    3: "Session",
    4: "PKCS#11",
    5: "Process",
}

STATUS_MINOR = {
    0: "",
    1: "Configuration error",
    2: "Configuration OK",
    3: "Configuration missing inline data",
    4: "Configuration requires user input",
    5: "Client initialized",
    6: "Client connecting",
    7: "Client connected",
    8: "Client disconnecting",
    9: "Client disconnected",
    10: "Client connection failed",
    11: "Client authentication failed",
    12: "Client reconnect",
    13: "Client pausing connection",
    14: "Client connection paused",
    15: "Client connection resuming",
    16: "Client process exited",
    17: "New session created",
    18: "Backend Session Object completed",
    19: "Session deleted",
    20: "User/password authentication",
    21: "Challenge/response authentication",
    22: "URL authentication",
    23: "PKCS#11 Sign",
    24: "PKCS#11 Encrypt",
    25: "PKCS#11 Decrypt",
    26: "PKCS#11 Verify",
    27: "Process started",
    28: "Process stopped",
    29: "Process killed",
}

# Short machine-friendly names of the minor codes a session moves through.
MINOR_STATE = {
    5: "initialized",
    6: "connecting",
    7: "connected",
    8: "disconnecting",
    9: "disconnected",
    10: "failed",
    11: "auth_failed",
    12: "reconnecting",
    13: "pausing",
    14: "paused",
    15: "resuming",
    16: "exited",
    20: "auth_required",
    21: "auth_required",
    22: "auth_required",
}

CONNECTED = 7
PAUSED = 14
# Minor codes after which waiting for "connected" is pointless.
FAILED_MINORS = frozenset([1, 3, 4, 9, 10, 11, 16, 19, 20, 21, 22])


def status_text(major, minor, message):
    """The CLI's rendering of a status triple (``sessions-list``'s ``Status:``)."""
    if not major and not minor and not message:
        return "(No status)"
    text = "%s, %s" % (STATUS_MAJOR.get(major, str(major)), STATUS_MINOR.get(minor, str(minor)))
    if message:
        text += ": " + message
    return text


def normalize_status(value):
    """``(uus)`` -> ``{major, minor, message, major_name, minor_name, text}``."""
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return None
    major, minor, message = int(value[0]), int(value[1]), value[2] or ""
    return {
        "major": major,
        "minor": minor,
        "message": message,
        "major_name": STATUS_MAJOR.get(major, str(major)),
        "minor_name": STATUS_MINOR.get(minor, str(minor)),
        "text": status_text(major, minor, message),
    }


def session_state(status):
    """A short state name for a normalised status (``connected``, ``paused``, ...)."""
    if not status:
        return "unknown"
    if not status["major"] and not status["minor"]:
        return "unknown"
    return MINOR_STATE.get(status["minor"], "other")


def unwrap_variants(data):
    """busctl JSON ``a{sv}``: ``{"key": {"type": T, "data": V}}`` -> ``{"key": V}``."""
    result = {}
    for key, variant in (data or {}).items():
        if isinstance(variant, dict) and "data" in variant and "type" in variant:
            result[key] = variant["data"]
        else:
            result[key] = variant
    return result


def owner_name(uid):
    if uid is None:
        return None
    try:
        return pwd.getpwuid(int(uid)).pw_name
    except (KeyError, ValueError, OverflowError):
        return None


def normalize_session(path, props, statistics=True):
    """Session properties (``Properties.GetAll`` unwrapped) -> the modules' session dict."""
    status = normalize_status(props.get("status"))
    conn = props.get("connected_to")
    if isinstance(conn, (list, tuple)) and len(conn) == 3 and conn[0]:
        connected_to = {"protocol": conn[0], "server_ip": conn[1], "server_port": int(conn[2])}
    else:
        connected_to = {"protocol": None, "server_ip": None, "server_port": None}
    created = props.get("session_created")
    owner = props.get("owner")
    session = {
        "path": path,
        "config_name": props.get("config_name") or None,
        "config_path": props.get("config_path") or None,
        "session_name": props.get("session_name") or None,
        "device": props.get("device_name") or None,
        "device_path": props.get("device_path") or None,
        "owner": int(owner) if owner is not None else None,
        "owner_name": owner_name(owner),
        "created": int(created) if created else None,
        "backend_pid": int(props["backend_pid"]) if props.get("backend_pid") else None,
        "status": status,
        "state": session_state(status),
        "connected_to": connected_to,
        "public_access": props.get("public_access"),
        "acl": [int(u) for u in (props.get("acl") or [])],
        "dco": props.get("dco"),
        "log_verbosity": props.get("log_verbosity"),
        "restrict_log_access": props.get("restrict_log_access"),
        "available": True,
    }
    last_log = props.get("last_log")
    if isinstance(last_log, dict) and last_log:
        session["last_log"] = unwrap_variants(last_log)
    if statistics:
        session["statistics"] = normalize_statistics(props.get("statistics"))
    return session


def normalize_statistics(stats):
    """``a{sx}`` -> dict with lower-case keys (``bytes_in``, ``tun_packets_out``, ...)."""
    result = {}
    for key, value in (stats or {}).items():
        try:
            result[key.lower()] = int(value)
        except (TypeError, ValueError):
            result[key.lower()] = value
    return result


def unavailable_session(path, error):
    """A session the manager lists but whose properties cannot be read (dying backend)."""
    return {
        "path": path,
        "config_name": None,
        "config_path": None,
        "session_name": None,
        "device": None,
        "device_path": None,
        "owner": None,
        "owner_name": None,
        "created": None,
        "backend_pid": None,
        "status": None,
        "state": "unavailable",
        "connected_to": {"protocol": None, "server_ip": None, "server_port": None},
        "available": False,
        "error": error,
    }
