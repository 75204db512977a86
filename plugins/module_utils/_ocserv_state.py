# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server-level logic behind the ocserv modules (private to the collection): ``gather_info`` -
``ocserv_info``; ``ensure_server`` - ``ocserv_server``. Users and sessions: ``_ocserv_users``; bans:
``_ocserv_bans``. Each module builds an ``OcctlClient`` (``_ocserv_client``) and calls one of these.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, poll
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import run_command


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

    if not poll(gone, client.timeout, interval=0.2):
        raise VpnControlError("ocserv (pid %s) still answers on %s %s s after 'stop now'"
                              % (status.get("server_pid"), client.socket, client.timeout), kind="timeout", **result)
    return result
