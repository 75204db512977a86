# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic behind ``ocserv_user`` (``ensure_users``) and ``ocserv_session`` (``ensure_sessions``),
private to the collection: users, their connections and their sessions, through an ``OcctlClient``
(``_ocserv_client``). Kept apart from the other ocserv state logic because every module run compiles
what it imports (docs/performance.md, cost per task).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, poll, unique
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_names import check_user_names
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_parsers import check_sid


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
    poll(settled, client.timeout)
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

    poll(settled, client.timeout)
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
