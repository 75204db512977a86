# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic behind the ocserv modules (private to the collection): each module builds an
``OcctlClient`` (``_ocserv_client``) and calls one of these.

* ``gather_info`` - ``ocserv_info``; ``ensure_users`` - ``ocserv_user``; ``ensure_sessions`` -
  ``ocserv_session``; ``ensure_unbanned`` - ``ocserv_ban``; ``ensure_server`` - ``ocserv_server``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, unique
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import run_command
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_names import check_user_names
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_parsers import check_sid


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
    for part in GATHER_CHOICES:   # in this order: each is one or two occtl queries
        if part not in parts:
            continue
        if part == "sessions":
            result[part] = client.sessions_with_validity()[0]
        else:
            # client.status(), .users(), .bans(), .ban_points(), .iroutes()
            result[part] = getattr(client, part)()
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
        out.append(number)
    return unique(out)


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
        out.append((addr.compressed, addr))
    return unique(out)


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
