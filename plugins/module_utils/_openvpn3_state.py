# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic behind openvpn3_session (private): ``ensure_sessions`` brings the selected OpenVPN 3
sessions to the wanted state through an ``_openvpn3_client.OpenVPN3Client``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn3_parsers import CONNECTED, PAUSED

# States from which "connected" is reached by waiting, without any call.
ON_THE_WAY = ("connecting", "resuming", "reconnecting", "initialized")


def describe(selector):
    key, value = selector
    return "%s %r" % (key.replace("_", " "), value)


class Runner(object):
    """Brings selected sessions to a state, recording the actions and the diff."""

    def __init__(self, client, check_mode, reason):
        self.client = client
        self.check = check_mode
        self.reason = reason
        self.actions = []
        self.changed = False
        self.before = {}
        self.after = {}

    def act(self, path, action, changes=True):
        self.actions.append({"path": path, "action": action})
        if changes:
            self.changed = True

    def cleanup(self):
        stale = self.client.stale_sessions()
        for item in stale:
            self.before[item["path"]] = "stale"
            self.after[item["path"]] = "absent"
            self.act(item["path"], "disconnect")
            if not self.check:
                try:
                    self.client.disconnect(item["path"])
                except VpnControlError as exc:
                    if exc.kind != "not_found":
                        raise
                self.client.wait_gone(item["path"])
        return stale

    def connected(self, session):
        path, state = session["path"], session["state"]
        if state == "connected":
            return
        if state == "paused":
            self.act(path, "resume")
            if not self.check:
                self.client.resume(path)
                self.client.wait_status(path, (CONNECTED,))
        elif state == "pausing":
            self.act(path, "resume")
            if not self.check:
                self.client.wait_status(path, (PAUSED, CONNECTED))
                if self.client.get_status(path)["minor"] == PAUSED:
                    self.client.resume(path)
                self.client.wait_status(path, (CONNECTED,))
        elif state in ON_THE_WAY:
            # Not changed by this task: the session is getting there by itself.
            self.act(path, "wait", changes=False)
            if not self.check:
                self.client.wait_status(path, (CONNECTED,))
        else:
            raise VpnControlError(
                "session %s is %s (%s) and cannot be resumed; use state=restarted or state=absent"
                % (path, state, (session.get("status") or {}).get("text") or session.get("error")),
                kind="invalid_state")
        self.after[path] = "connected"

    def paused(self, session):
        path, state = session["path"], session["state"]
        if state == "paused":
            return
        if state == "unavailable":
            raise VpnControlError("session %s cannot be read (%s); it cannot be paused"
                                  % (path, session.get("error")), kind="invalid_state")
        self.act(path, "pause")
        if not self.check:
            if state != "pausing":
                self.client.pause(path, self.reason)
            self.client.wait_status(path, (PAUSED,))
        self.after[path] = "paused"

    def restarted(self, session):
        path = session["path"]
        self.act(path, "restart")
        if not self.check:
            self.client.restart_and_wait(path)
        self.after[path] = "connected"

    def absent(self, session):
        path = session["path"]
        self.act(path, "disconnect")
        if not self.check:
            try:
                self.client.disconnect(path)
            except VpnControlError as exc:
                if exc.kind != "not_found":
                    raise
            self.client.wait_gone(path)
        self.after[path] = "absent"

    def start(self, config_name):
        self.act(None, "start")
        if self.check:
            self.after["(new session of %s)" % config_name] = "connected"
            return None
        path = self.client.start(config_name)
        self.actions[-1]["path"] = path
        self.before[path] = "absent"
        self.after[path] = "connected"
        return path


def ensure_sessions(client, params, check_mode, selector, state):
    """Clean up and/or bring the sessions ``selector`` (``(option, value)`` or None) picks to
    ``state``; the module's result (``diff`` included).  A failure raises ``VpnControlError``
    whose details carry ``changed`` and ``actions`` so far."""
    runner = Runner(client, check_mode, params["reason"])
    cleaned = []
    try:
        if params["cleanup"]:
            cleaned = runner.cleanup()
        sessions = []
        if selector:
            gone = set(item["path"] for item in cleaned)
            paths = [p for p in client.select(**dict([selector])) if p not in gone]
            if len(paths) > 1 and not params["multiple"]:
                raise VpnControlError(
                    "more than one session (%d) was started from the configuration profile %r: %s; "
                    "select one by path or interface, or set multiple=true"
                    % (len(paths), params["config_name"], ", ".join(paths)),
                    kind="ambiguous", paths=paths)
            sessions = client.sessions(paths, statistics=False)
            for session in sessions:
                runner.before[session["path"]] = session["state"]
                runner.after[session["path"]] = session["state"]
            if not sessions:
                if state == "absent":
                    pass
                elif params["config_name"] and state in ("connected", "restarted"):
                    new = runner.start(params["config_name"])
                    if new:
                        paths = [new]
                else:
                    raise VpnControlError("no OpenVPN 3 session with %s is visible to this user"
                                          % describe(selector), kind="not_found")
            for session in sessions:
                getattr(runner, state)(session)
            if state == "absent" or check_mode:
                final = [] if state == "absent" else sessions
            else:
                final = client.sessions(paths)
        else:
            final = []
    except VpnControlError as exc:
        exc.details.setdefault("changed", runner.changed)
        exc.details.setdefault("actions", runner.actions)
        raise
    return dict(
        changed=runner.changed,
        sessions=final,
        session=final[0] if final else None,
        actions=runner.actions,
        cleaned_up=cleaned,
        diff=dict(before=runner.before, after=runner.after),
    )
