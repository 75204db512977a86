# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic behind the OpenVPN 2.x modules (private): ``gather_info`` (openvpn_info),
``ensure_clients`` (openvpn_client), ``ensure_server`` (openvpn_server).

Each works in an open :class:`~._openvpn_client.ManagementClient` session and returns the
module's result; a failure raises ``ManagementError`` (the module's ``msg`` and ``error_kind``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import quote_argument
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import (
    ManagementError,
    parse_hold,
    parse_status,
    split_real_address,
)

# ---------------------------------------------------------------------------- openvpn_info

GATHER = ["status", "version", "state", "load_stats", "pid"]


def gather_info(client, gather):
    """Read what ``gather`` asks for in the open session ``client``."""
    result = {}
    if "version" in gather:
        result["version"] = client.version()
    if "pid" in gather:
        result["pid"] = client.pid()
    if "state" in gather:
        result["state"] = client.state()
    if "load_stats" in gather:
        result["load_stats"] = client.load_stats()
    warnings = []
    held = client.is_held()
    if "status" in gather:
        reply = client.command("status 3", check=False)
        if reply.ok:
            status = parse_status(reply.lines)
            result["clients"] = status["clients"]
            result["routes"] = status["routes"]
            result["global_stats"] = status["global_stats"]
            result["status_updated"] = status["updated"]
            for row in status["rejected"]:
                warnings.append("Status row left out (its field count differs from its HEADER): %r" % row)
        elif held or "not supported by the current daemon mode" in reply.text:
            result["clients"] = []
            result["routes"] = []
            result["global_stats"] = {}
        else:
            raise ManagementError("OpenVPN management command 'status 3' failed: %s" % reply.text,
                                  kind="command_error")
    result["held"] = held
    result["hold_flag"] = client.hold_flag
    result["management_version"] = client.management_version
    return result, warnings


# ---------------------------------------------------------------------------- openvpn_client

POLL_INTERVAL = 0.5


def client_summary(client):
    """The short form of a client used in ``killed`` and diffs."""
    return {
        "client_id": client.get("client_id"),
        "common_name": client.get("common_name"),
        "real_address": client.get("real_address"),
        "proto": client.get("proto"),
        "username": client.get("username"),
    }


def address_kill_command(client, management_version):
    """``kill`` by address in the syntax the running version accepts.

    2.4-2.6 take ``kill IP:port``; 2.7 (management version 6+) takes
    ``kill proto:IP:port`` with ``udp`` / ``tcp`` (``udp4`` is refused and a
    bare ``IP:port`` is read as a common name).
    """
    address = client["real_address"]
    if management_version is not None and management_version >= 6:
        proto = (client.get("proto") or "udp").lower()
        proto = "tcp" if proto.startswith("tcp") else "udp"
        return "kill %s" % quote_argument("%s:%s" % (proto, address), "real address")
    return "kill %s" % quote_argument(address, "real address")


def client_kill_command(client_id, kill="halt", message=None):
    """``client-kill CID HALT|RESTART[,message]`` (works on 2.4 to 2.7)."""
    text = "HALT" if kill == "halt" else "RESTART"
    if message:
        text = "%s,%s" % (text, message)
    return "client-kill %d %s" % (int(client_id), quote_argument(text, "The kill message"))


def _address_matcher(value):
    """A predicate for one ``real_address`` value: ``IP:port``, ``[IPv6]:port``, ``IP`` or ``IPv6``."""
    _proto, address, host, port = split_real_address(value.strip())
    if address.count(":") > 1 and not address.startswith("["):
        # A bare IPv6 address: write [addr]:port to select one port.
        host, port = address, None
    elif port is None:
        host = address.strip("[]")
    if port is None:
        def match(client):
            return client.get("real_ip") == host
    else:
        def match(client):
            return client.get("real_ip") == host and client.get("real_port") == port
    return match


def select_clients(clients, params):
    """The clients matching any selector value, in status order, without repeats."""
    names = set(params.get("common_name") or [])
    ids = set(params.get("client_id") or [])
    users = set(params.get("username") or [])
    addresses = [_address_matcher(value) for value in params.get("real_address") or []]
    selected = []
    seen = set()
    for client in clients:
        hit = (
            client.get("common_name") in names
            or client.get("client_id") in ids
            or (client.get("username") is not None and client.get("username") in users)
            or any(match(client) for match in addresses)
        )
        key = client.get("client_id"), client.get("real_address")
        if hit and key not in seen:
            seen.add(key)
            selected.append(client)
    return selected


def _current_clients(client):
    """Clients in the status (empty while the daemon is held)."""
    reply = client.command("status 3", check=False)
    if not reply.ok:
        if "not supported by the current daemon mode" in reply.text:
            return []
        raise ManagementError("OpenVPN management command 'status 3' failed: %s" % reply.text,
                              kind="command_error")
    return parse_status(reply.lines)["clients"]


def ensure_clients(client, params, check_mode):
    """Kill the clients ``params`` select (openvpn_client); the module's result, ``diff`` included."""
    selected = select_clients(_current_clients(client), params)
    result = {"killed": [], "commands": [], "management_version": client.management_version}
    before = [client_summary(c) for c in selected]
    result["diff"] = {"before": {"clients": before}, "after": {"clients": []}}
    if not selected:
        result["changed"] = False
        return result
    if check_mode:
        result["killed"] = before
        result["changed"] = True
        return result
    killed = []
    for target in selected:
        if params["method"] == "address":
            command = address_kill_command(target, client.management_version)
        else:
            if target.get("client_id") is None:
                raise ManagementError(
                    "The status has no client id for %s (OpenVPN older than 2.4?); use method=address."
                    % target.get("common_name"), kind="invalid")
            command = client_kill_command(target["client_id"], params["kill"], params.get("kill_message"))
        result["commands"].append(command)
        reply = client.command(command, check=False)
        if reply.ok:
            killed.append(target)
        elif "not found" in reply.text or "client-kill command failed" in reply.text:
            # The client left between the status and the kill.
            continue
        else:
            raise ManagementError(
                "OpenVPN management command %r failed: %s" % (command, reply.text),
                kind="command_error",
                killed=[client_summary(c) for c in killed],
            )
    result["killed"] = [client_summary(c) for c in killed]
    result["changed"] = bool(killed)
    if killed and params["wait"]:
        deadline = time.time() + params["timeout"]
        ids = set((c.get("client_id"), c.get("real_address")) for c in killed)
        while True:
            present = [c for c in _current_clients(client) if (c.get("client_id"), c.get("real_address")) in ids]
            if not present:
                break
            if time.time() >= deadline:
                names = ", ".join("%s (id %s)" % (c.get("common_name"), c.get("client_id")) for c in present)
                raise ManagementError(
                    "The killed clients are still listed by the server after %ss: %s" % (params["timeout"], names),
                    kind="timeout",
                    killed=result["killed"],
                    changed=True,
                )
            time.sleep(POLL_INTERVAL)
    return result


# ---------------------------------------------------------------------------- openvpn_server

SIGNALS = {"reloaded": "SIGHUP", "restarted": "SIGUSR1", "stopped": "SIGTERM"}


def wait_connected(client, deadline, release, result, after_signal):
    """Read real-time notifications until the daemon is CONNECTED again.

    ``after_signal``: a RECONNECTING state must come first (a reload or
    restart), else the first CONNECTED counts (after a hold release).
    ``release``: release a new hold on the way.  Returns False when the
    daemon holds again and may not be released.
    """
    restarted = not after_signal
    while True:
        note = client.wait_notification(lambda n: n.get("source") in ("STATE", "HOLD"), deadline)
        if note is None:
            raise ManagementError(
                "The OpenVPN daemon was not CONNECTED again within %ss after the %s."
                % (client.timeout, result.get("signal") or "hold release"),
                kind="timeout", changed=True,
            )
        if note["source"] == "HOLD":
            if not release:
                return False
            client.command("hold release")
            result["hold_commands"].append("hold release")
            restarted = True
            continue
        state = note["state"]["state"]
        if state == "EXITING":
            raise ManagementError(
                "The OpenVPN daemon is exiting (%s) instead of coming back." % note["state"].get("description"),
                kind="connection_lost", changed=True,
            )
        if state == "RECONNECTING":
            restarted = True
        elif state == "CONNECTED" and restarted:
            return True


def ensure_server(client, params, check_mode, result, warn):
    """Signal and/or release the daemon as ``params`` say (openvpn_server), filling ``result``.

    ``warn(text)`` reports a warning (the module's ``warn``).
    """
    hold_option = params["hold"]
    desired = params["state"]
    release = hold_option in ("released", "off")
    result["pid"] = client.pid()
    flag = parse_hold(client.command("hold").text)
    held = client.hold_waiting
    changed = False
    plan = []
    if hold_option == "off" and flag:
        plan.append("hold off")
    if hold_option == "on" and not flag:
        plan.append("hold on")
    if release and held:
        plan.append("hold release")
    if desired is not None:
        changed = True
    changed = changed or bool(plan)
    if check_mode:
        result["hold_commands"] = plan
        result["signal"] = SIGNALS.get(desired)
        result["held"] = held and not release
        result["hold_flag"] = {"hold off": 0, "hold on": 1}.get(plan[0], flag) if plan else flag
        result["state"] = client.state()
        result["changed"] = changed
        return result
    if held and desired is not None and not release:
        raise ManagementError(
            "The OpenVPN daemon is waiting for 'hold release' and ignores signals while held; "
            "add hold=released (or off) to release it first.",
            kind="held",
        )
    started = time.time()
    deadline = started + params["timeout"]
    watch = params["wait"] and (release and held or desired in ("reloaded", "restarted"))
    if watch:
        client.command("state on")
    # Real-time lines seen so far (the >HOLD after the banner, ...) are history.
    client.pop_notifications()
    for command in plan:
        client.command(command)
        result["hold_commands"].append(command)
        if command == "hold release":
            client.hold_waiting = False
    if release and held and params["wait"]:
        wait_connected(client, deadline, release, result, after_signal=False)
    if desired is not None:
        signal = SIGNALS[desired]
        result["signal"] = signal
        client.command("signal %s" % signal)
        if desired == "stopped":
            if params["wait"]:
                try:
                    while client.wait_notification(lambda n: False, deadline) is None:
                        if time.time() >= deadline:
                            raise ManagementError(
                                "The OpenVPN daemon still answers %ss after SIGTERM." % params["timeout"],
                                kind="timeout", changed=True,
                            )
                except ManagementError as exc:
                    if exc.kind != "connection_lost":
                        raise
            result.update(held=False, hold_flag=None, state={}, changed=True)
            result["elapsed"] = round(time.time() - started, 3)
            return result
        if params["wait"]:
            deadline = time.time() + params["timeout"]
            if not wait_connected(client, deadline, release, result, after_signal=True):
                client.hold_waiting = True
                warn("The daemon holds again after the %s (hold flag set); it waits for 'hold release'. "
                     "Use hold=released to release it." % signal)
    result["elapsed"] = round(time.time() - started, 3)
    if watch:
        client.command("state off")
    result["state"] = client.state()
    result["hold_flag"] = parse_hold(client.command("hold").text)
    result["held"] = client.hold_waiting
    result["changed"] = changed
    return result
