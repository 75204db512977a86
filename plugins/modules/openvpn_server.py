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

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import client_from_params, module_kwargs
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import ManagementError
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_state import ensure_server


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
            ensure_server(client, module.params, module.check_mode, result, module.warn)
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
