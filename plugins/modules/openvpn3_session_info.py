#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openvpn3_session_info
short_description: List OpenVPN 3 Linux client sessions
version_added: 0.1.0
description:
  - Reads the VPN sessions of OpenVPN 3 Linux from its session manager over D-Bus
    (C(net.openvpn.v3.sessions) on the system bus) and returns them with typed values.
  - Only sessions visible to the user the task runs as are returned (see notes).
options:
  path:
    description:
      - Only the session with this D-Bus object path (C(/net/openvpn/v3/sessions/...)).
      - A path that does not exist gives an empty list; one owned by another user fails with an access error.
    type: str
  config_name:
    description:
      - Only sessions started from the configuration profile with this name.
    type: str
  interface:
    description:
      - Only the session owning this tun device (for example V(tun0)).
    type: str
  statistics:
    description:
      - Include the connection counters of each session.
    type: bool
    default: true
extends_documentation_fragment:
  - vpnfleet.control.openvpn3
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.INFO_MODULE
  - vpnfleet.control.attributes.ACTIONGROUP_OPENVPN3
attributes:
  platform:
    platforms: posix
seealso:
  - module: vpnfleet.control.openvpn3_session
author:
  - vpnfleet.control contributors (@vpnfleet)
"""

EXAMPLES = r"""
- name: All sessions on the host
  vpnfleet.control.openvpn3_session_info:
  register: o3

- name: Sessions of one profile, without counters
  vpnfleet.control.openvpn3_session_info:
    config_name: corp-vpn
    statistics: false
  register: corp

- name: Fail unless the corp VPN is connected
  ansible.builtin.assert:
    that:
      - corp.sessions | selectattr('state', 'equalto', 'connected') | list | length > 0

- name: The session behind tun0
  vpnfleet.control.openvpn3_session_info:
    interface: tun0
"""

RETURN = r"""
version:
  description: Version of the session manager (its C(version) property).
  returned: success
  type: str
  sample: v27.1
sessions:
  description: The sessions, sorted by object path.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: D-Bus object path of the session.
      type: str
      sample: /net/openvpn/v3/sessions/d119d994s8ff7s40e2safe1s90a26eb373d5
    config_name:
      description: Name of the configuration profile the session was started from.
      type: str
      sample: corp-vpn
    config_path:
      description: D-Bus path of that configuration profile.
      type: str
    session_name:
      description: Name the backend gave the session (the server it connected to).
      type: str
    device:
      description: Tun device of the session; null before the device exists.
      type: str
      sample: tun0
    device_path:
      description: D-Bus path of the network configuration object of the device.
      type: str
    owner:
      description: UID of the session's owner.
      type: int
      sample: 0
    owner_name:
      description: User name of the owner, when the host knows the UID.
      type: str
      sample: root
    created:
      description: Time the session was created, seconds since the epoch.
      type: int
      sample: 1795334938
    backend_pid:
      description: PID of the session's backend process (C(openvpn3-service-client)).
      type: int
    status:
      description: Last status of the session.
      type: dict
      contains:
        major:
          description: Status group code (2 = Connection).
          type: int
        minor:
          description: Status code (7 = connected, 14 = paused, 12 = reconnecting).
          type: int
        message:
          description: Free text that came with the status (often empty).
          type: str
        major_name:
          description: Readable name of RV(sessions[].status.major).
          type: str
        minor_name:
          description: Readable name of RV(sessions[].status.minor).
          type: str
        text:
          description: The status as C(openvpn3 sessions-list) shows it.
          type: str
          sample: Connection, Client connected
    state:
      description:
        - Short name of the status code, for conditions in playbooks.
        - One of V(connected), V(paused), V(connecting), V(reconnecting), V(pausing), V(resuming),
          V(disconnecting), V(disconnected), V(failed), V(auth_failed), V(auth_required),
          V(initialized), V(exited), V(other), V(unknown), or V(unavailable) when the session manager
          lists the session but cannot read it (its backend is dying).
      type: str
      sample: connected
    connected_to:
      description: Server the session is connected to; all values null while not connected.
      type: dict
      contains:
        protocol:
          description: Transport, for example V(udpv4).
          type: str
        server_ip:
          description: Server address.
          type: str
        server_port:
          description: Server port.
          type: int
    statistics:
      description:
        - Connection counters with lower-case names (V(bytes_in), V(bytes_out), V(packets_in),
          V(packets_out), V(tun_bytes_in), ...). OpenVPN 3 only reports counters that are not zero.
        - Only when O(statistics=true).
      type: dict
      sample: {bytes_in: 3505, bytes_out: 3709, packets_in: 8, packets_out: 12}
    public_access:
      description: Whether every user may see and manage the session.
      type: bool
    acl:
      description: UIDs granted access to the session.
      type: list
      elements: int
    available:
      description: False when the session is listed but its properties cannot be read.
      type: bool
    error:
      description: Why the session could not be read (only when RV(sessions[].available=false)).
      type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn3_client import OpenVPN3Client, check_selectors, connection_argument_spec


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            path=dict(type="str"),
            config_name=dict(type="str"),
            interface=dict(type="str"),
            statistics=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        check_selectors(path=params["path"], config_name=params["config_name"], interface=params["interface"])
        client = OpenVPN3Client(timeout=params["timeout"])
        version = client.version()
        paths = None
        if params["path"] or params["config_name"] or params["interface"]:
            sets = []
            if params["path"]:
                sets.append(set(client.select(path=params["path"])))
            if params["config_name"]:
                sets.append(set(client.lookup_config_name(params["config_name"])))
            if params["interface"]:
                sets.append(set(client.select(interface=params["interface"])))
            paths = sorted(set.intersection(*sets))
        sessions = client.sessions(paths, statistics=params["statistics"])
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(changed=False, version=version, sessions=sessions)


if __name__ == "__main__":
    main()
