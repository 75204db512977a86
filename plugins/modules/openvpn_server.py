#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openvpn_server
short_description: Reload, restart or stop an OpenVPN 2.x server, release its hold, through the management interface
version_added: 0.1.0
description:
  - Sends signals to an OpenVPN 2.x daemon with the management C(signal) command and manages the
    C(management-hold) state, in one management session.
  - V(reloaded) (C(SIGHUP)) closes and reopens the tunnel and re-reads the configuration file;
    V(restarted) (C(SIGUSR1)) does the same without re-reading the configuration. Both disconnect every
    client (clients are told only when the server has C(explicit-exit-notify); they reconnect within seconds),
    client ids restart at 0 and virtual addresses may change.
  - With O(wait=true) a reload or restart returns once the daemon is C(CONNECTED) again, and a stop once the
    daemon has closed the interface; every wait is bounded by O(timeout).
options:
  state:
    description:
      - V(reloaded) - C(signal SIGHUP). Always changes.
      - V(restarted) - C(signal SIGUSR1). Always changes.
      - V(stopped) - C(signal SIGTERM). A missing socket or a refused connection counts as already stopped.
    type: str
    choices: [reloaded, restarted, stopped]
  hold:
    description:
      - V(released) - a daemon waiting in C(management-hold) is released (C(hold release)); the hold flag
        stays, so the next reload or restart holds again (and is released again by this option).
      - V(off) - release a waiting daemon and clear the hold flag (C(hold off)), so later restarts do not hold.
      - V(on) - set the hold flag (C(hold on)), so the next reload or restart waits for C(hold release).
      - Applied before O(state); a held daemon ignores signals.
    type: str
    choices: [released, "off", "on"]
  wait:
    description:
      - Wait until a reloaded, restarted or released daemon is C(CONNECTED) again, or until a stopped daemon
        has closed the management interface, at most O(timeout) seconds.
    type: bool
    default: true
extends_documentation_fragment:
  - vpnfleet.control.openvpn
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.ACTIONGROUP_OPENVPN
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - One of O(state) or O(hold) is required.
  - The configuration path must be absolute (C(--config /etc/openvpn/server/x.conf)); a relative path with
    C(--daemon) makes a reload fatal (OpenVPN changes to V(/)). The systemd units of Debian use C(--cd), which is fine.
  - A reload that fails (for example a broken configuration file) makes the daemon exit; the module then fails
    with the interface lost, and systemd decides whether the unit restarts.
seealso:
  - module: vpnfleet.control.openvpn_info
author:
  - vpnfleet.control contributors (@vpnfleet)
"""

EXAMPLES = r"""
- name: Re-read the configuration and wait until the server is up again
  vpnfleet.control.openvpn_server:
    socket: /run/openvpn-server/server.sock
    state: reloaded
    timeout: 30

- name: Release a server started with management-hold
  vpnfleet.control.openvpn_server:
    socket: /run/openvpn-server/server.sock
    hold: released

- name: Restart a held server and release it again
  vpnfleet.control.openvpn_server:
    socket: /run/openvpn-server/server.sock
    state: restarted
    hold: released

- name: Stop an instance (idempotent)
  vpnfleet.control.openvpn_server:
    host: 127.0.0.1
    port: 7505
    password_file: /etc/openvpn/server/mgmt.pw
    state: stopped
"""

RETURN = r"""
signal:
  description: The signal sent (V(SIGHUP), V(SIGUSR1), V(SIGTERM)), or null.
  returned: always
  type: str
  sample: SIGHUP
hold_commands:
  description: The hold commands sent (V(hold release), V(hold off), V(hold on)).
  returned: always
  type: list
  elements: str
held:
  description: Whether the daemon waits for C(hold release) at the end.
  returned: always
  type: bool
hold_flag:
  description: The hold flag at the end (C(hold) reply); null once stopped.
  returned: always
  type: int
pid:
  description: Process id of the daemon (unchanged by reload and restart).
  returned: when the daemon was running
  type: int
state:
  description: The daemon's state at the end (see M(vpnfleet.control.openvpn_info)); empty once stopped.
  returned: always
  type: dict
  sample: {time: 1795331539, state: CONNECTED, description: SUCCESS, local_ip: 10.88.0.1}
elapsed:
  description: Seconds spent waiting for the daemon after the signal or release.
  returned: always
  type: float
"""

import time

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_mgmt import (
    ManagementError,
    client_from_params,
    module_kwargs,
    parse_hold,
)

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


def run(module, client, result):
    params = module.params
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
    if module.check_mode:
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
                module.warn("The daemon holds again after the %s (hold flag set); it waits for 'hold release'. "
                            "Use hold=released to release it." % signal)
    result["elapsed"] = round(time.time() - started, 3)
    if watch:
        client.command("state off")
    result["state"] = client.state()
    result["hold_flag"] = parse_hold(client.command("hold").text)
    result["held"] = client.hold_waiting
    result["changed"] = changed
    return result


def main():
    module = VpnModule(
        **module_kwargs(
            dict(
                state=dict(type="str", choices=["reloaded", "restarted", "stopped"]),
                hold=dict(type="str", choices=["released", "off", "on"]),
                wait=dict(type="bool", default=True),
            ),
            required_one_of=[["state", "hold"]],
            supports_check_mode=True,
        )
    )
    result = {"changed": False, "signal": None, "hold_commands": [], "held": False, "hold_flag": None,
              "state": {}, "elapsed": 0.0}
    try:
        client = client_from_params(module.params)
        try:
            client.connect()
        except ManagementError as exc:
            if module.params["state"] == "stopped" and module.params["hold"] is None and exc.kind in (
                    "not_found", "unreachable"):
                result["msg"] = "Not running: %s" % exc.msg
                module.exit_json(**result)
            raise
        try:
            run(module, client, result)
        finally:
            client.close()
    except ManagementError as exc:
        kwargs = exc.fail_kwargs()
        for key, value in result.items():
            kwargs.setdefault(key, value)
        module.fail_json(**kwargs)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
