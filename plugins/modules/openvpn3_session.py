#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openvpn3_session
short_description: Connect, pause, restart or disconnect OpenVPN 3 Linux sessions
version_added: 0.1.0
description:
  - Drives OpenVPN 3 Linux client sessions through the session manager's D-Bus interface
    (C(net.openvpn.v3.sessions) on the system bus) - resume, pause, restart, disconnect, start a
    session from an imported configuration profile, and remove stale sessions.
  - Every wait (for a session to connect, pause or disappear) is bounded by O(timeout).
options:
  path:
    description:
      - D-Bus object path of the session (C(/net/openvpn/v3/sessions/...)).
      - Mutually exclusive with O(config_name) and O(interface).
    type: str
  config_name:
    description:
      - Name of the configuration profile the session was started from.
      - With O(state=connected) (or O(state=restarted)) and no session of that profile, a new
        session is started from the imported profile of that name.
      - When several sessions use the profile, the task fails unless O(multiple=true).
    type: str
  interface:
    description:
      - Tun device of the session, for example V(tun0).
    type: str
  state:
    description:
      - V(connected) - the session is connected. A paused session is resumed; a session that is
        connecting, resuming or reconnecting is waited for. With O(config_name) and no session, one is
        started from the imported profile. A session that failed must be restarted instead.
      - V(paused) - the session is paused (its tunnel is down, the session stays).
      - V(restarted) - the session reconnects; always reports a change.
      - V(absent) - the session is disconnected and gone. No matching session is not an error.
      - Defaults to V(connected) when a session is selected. Without O(path), O(config_name) or
        O(interface) only O(cleanup) is done.
    type: str
    choices: [connected, paused, restarted, absent]
  cleanup:
    description:
      - First remove stale sessions, those whose backend process is gone or that cannot be read any
        more (like C(openvpn3 session-manage --cleanup)). Applies to every visible session, also
        without a selector.
    type: bool
    default: false
  multiple:
    description:
      - Allow O(config_name) to select more than one session; O(state) is then applied to each.
    type: bool
    default: false
  reason:
    description:
      - Reason passed to OpenVPN 3 when pausing (shown in the session's status message and log).
    type: str
    default: paused by vpnfleet.control
extends_documentation_fragment:
  - vpnfleet.control.openvpn3
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.ACTIONGROUP_OPENVPN3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: vpnfleet.control.openvpn3_session_info
author:
  - vpnfleet.control contributors (@vpnfleet)
"""

EXAMPLES = r"""
- name: Make sure the corp VPN is up (resume it, or start it from the imported profile)
  vpnfleet.control.openvpn3_session:
    config_name: corp-vpn
    state: connected

- name: Pause the tunnel behind tun0 during maintenance
  vpnfleet.control.openvpn3_session:
    interface: tun0
    state: paused
    reason: maintenance window

- name: Reconnect one session
  vpnfleet.control.openvpn3_session:
    path: /net/openvpn/v3/sessions/d119d994s8ff7s40e2safe1s90a26eb373d5
    state: restarted
    timeout: 60

- name: Disconnect every session of a profile
  vpnfleet.control.openvpn3_session:
    config_name: corp-vpn
    multiple: true
    state: absent

- name: Remove stale sessions left by dead backends
  vpnfleet.control.openvpn3_session:
    cleanup: true
"""

RETURN = r"""
sessions:
  description:
    - The selected sessions after the change, in the format of M(vpnfleet.control.openvpn3_session_info).
    - In check mode, the sessions as they were before (nothing was changed).
    - Empty with O(state=absent).
  returned: success
  type: list
  elements: dict
  sample:
    - path: /net/openvpn/v3/sessions/d119d994s8ff7s40e2safe1s90a26eb373d5
      config_name: corp-vpn
      device: tun0
      state: connected
      status: {major: 2, minor: 7, message: "", text: "Connection, Client connected"}
session:
  description: The first of RV(sessions), or null when there is none.
  returned: success
  type: dict
actions:
  description: What was done (or, in check mode, would be done), one entry per session.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The session (null for a session yet to be started in check mode).
      type: str
    action:
      description: One of V(resume), V(pause), V(restart), V(disconnect), V(start), V(wait).
      type: str
  sample: [{path: /net/openvpn/v3/sessions/d119d994s8ff7s40e2safe1s90a26eb373d5, action: pause}]
cleaned_up:
  description: Stale sessions removed by O(cleanup) (or that would be removed in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The stale session's path.
      type: str
    reason:
      description: Why it was considered stale.
      type: str
error_kind:
  description:
    - On failure, a short cause - V(unreachable) (no system bus or no session manager), V(not_found)
      (no such session), V(ambiguous) (more than one session for O(config_name)),
      V(permission_denied) (the session belongs to another user), V(timeout), V(failed) (the
      session failed to connect), V(user_input_required), V(missing_binary), V(dbus).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn3_client import OpenVPN3Client, check_selectors, connection_argument_spec
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn3_state import ensure_sessions


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            path=dict(type="str"),
            config_name=dict(type="str"),
            interface=dict(type="str"),
            state=dict(type="str", choices=["connected", "paused", "restarted", "absent"]),
            cleanup=dict(type="bool", default=False),
            multiple=dict(type="bool", default=False),
            reason=dict(type="str", default="paused by vpnfleet.control"),
        ),
        mutually_exclusive=[["path", "config_name", "interface"]],
        supports_check_mode=True,
    )
    params = module.params
    selector = None
    for key in ("path", "config_name", "interface"):
        if params[key]:
            selector = (key, params[key])
    if selector is None and not params["cleanup"]:
        module.fail_json(msg="one of path, config_name or interface is required (or cleanup=true alone).",
                         error_kind="invalid")
    if selector is None and params["state"]:
        module.fail_json(msg="state=%s needs a session: give path, config_name or interface." % params["state"],
                         error_kind="invalid")
    state = params["state"] or "connected"

    try:
        check_selectors(path=params["path"], config_name=params["config_name"], interface=params["interface"],
                        reason=params["reason"])
        client = OpenVPN3Client(timeout=params["timeout"])
        result = ensure_sessions(client, params, module.check_mode, selector, state)
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
