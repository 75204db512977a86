#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openvpn_client
short_description: Disconnect clients of an OpenVPN 2.x server through its management interface
version_added: 0.1.0
description:
  - Selects connected clients of an OpenVPN 2.x server by common name, client id, real address or user
    name and disconnects all of them in one management session.
  - By default each client gets C(client-kill CID HALT) (or C(RESTART)), which works on OpenVPN 2.4 to 2.7
    and tells the client whether to reconnect. O(method=address) uses the address form of C(kill) in the
    syntax the running version accepts (C(kill IP:port) up to 2.6, C(kill proto:IP:port) on 2.7).
  - With O(wait=true) the module returns once the killed clients are gone from the status (OpenVPN keeps a
    client-killed instance about 5 seconds), bounded by O(timeout).
options:
  common_name:
    description: Select clients with these certificate common names.
    type: list
    elements: str
  client_id:
    description: Select clients with these client ids (the C(Client ID) column, see M(vpnfleet.control.openvpn_info)).
    type: list
    elements: int
  real_address:
    description:
      - Select clients connecting from these addresses. V(IP:port) selects one connection, a bare V(IP)
        every connection from that address. A protocol prefix as OpenVPN 2.7 prints it (V(udp4:IP:port)) is accepted.
    type: list
    elements: str
  username:
    description:
      - Select clients that logged in with these user names (C(auth-user-pass)). OpenVPN's C(kill) cannot do this;
        the module finds their client ids in the status.
    type: list
    elements: str
  state:
    description:
      - V(absent) - none of the selected clients is connected.
    type: str
    choices: [absent]
    default: absent
  kill:
    description:
      - V(halt) - the client is told to exit and not reconnect (C(HALT)).
      - V(restart) - the client is told to reconnect (C(RESTART)); it comes back with a new client id, so a
        second run selects and kills it again.
      - Ignored with O(method=address).
    type: str
    choices: [halt, restart]
    default: halt
  kill_message:
    description:
      - Text sent to the client with the C(HALT) / C(RESTART) command; the client logs it.
      - Called C(message) before; renamed because ansible-core reserves that name.
      - May start with C([P]) (keep cached passwords) or C([N]) (try the next remote).
    type: str
  method:
    description:
      - V(client_kill) - C(client-kill CID HALT|RESTART[,message]) per client (all versions; the client is told).
      - V(address) - C(kill) by the client's real address, in the running version's syntax. With UDP the client
        is not told and only notices at its ping-restart timeout; with TCP it reconnects at once.
    type: str
    choices: [client_kill, address]
    default: client_kill
  wait:
    description:
      - Return only once the killed clients are gone from the server's status (within O(timeout) seconds,
        counted from the kill; otherwise the task fails).
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
    support: full
  platform:
    platforms: posix
notes:
  - A selector that matches nobody, or a server without connected clients, gives C(changed=false).
  - Clients are selected if they match any of the given values of any selector.
  - A client whose certificate was revoked is only refused when it reconnects; revoke, update the CRL, then
    disconnect it with this module.
seealso:
  - module: vpnfleet.control.openvpn_info
author:
  - vpnfleet.control contributors (@vpnfleet)
"""

EXAMPLES = r"""
- name: Disconnect alice's certificate for good
  vpnfleet.control.openvpn_client:
    socket: /run/openvpn-server/server.sock
    common_name: alice
    kill_message: your access was revoked

- name: Make two clients reconnect (for example after a CCD change)
  vpnfleet.control.openvpn_client:
    socket: /run/openvpn-server/server.sock
    client_id: [4, 7]
    kill: restart

- name: Drop every connection from one address, through a TCP management interface
  vpnfleet.control.openvpn_client:
    host: 127.0.0.1
    port: 7505
    password_file: /etc/openvpn/server/mgmt.pw
    real_address: 198.51.100.23

- name: Disconnect a user (auth-user-pass) without waiting
  vpnfleet.control.openvpn_client:
    socket: /run/openvpn-server/server.sock
    username: bob
    wait: false
"""

RETURN = r"""
killed:
  description: The clients that were (in check mode, would be) disconnected.
  returned: always
  type: list
  elements: dict
  contains:
    client_id:
      description: Client id.
      type: int
    common_name:
      description: Common name.
      type: str
    real_address:
      description: Address and port, without protocol prefix.
      type: str
    proto:
      description: Protocol prefix of the address (OpenVPN 2.7), else null.
      type: str
    username:
      description: User name, null when none.
      type: str
  sample: [{client_id: 4, common_name: alice, real_address: "198.51.100.23:41194", proto: null, username: null}]
commands:
  description: The management commands sent to disconnect the clients.
  returned: always
  type: list
  elements: str
  sample: ['client-kill 4 "HALT,your access was revoked"']
management_version:
  description: Management interface version of the server (5 on OpenVPN 2.6, 6 on 2.7).
  returned: always
  type: int
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import client_from_params, module_kwargs
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import ManagementError
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_state import ensure_clients


def main():
    module = VpnModule(
        **module_kwargs(
            dict(
                common_name=dict(type="list", elements="str"),
                client_id=dict(type="list", elements="int"),
                real_address=dict(type="list", elements="str"),
                username=dict(type="list", elements="str"),
                state=dict(type="str", choices=["absent"], default="absent"),
                kill=dict(type="str", choices=["halt", "restart"], default="halt"),
                kill_message=dict(type="str"),
                method=dict(type="str", choices=["client_kill", "address"], default="client_kill"),
                wait=dict(type="bool", default=True),
            ),
            supports_check_mode=True,
        )
    )
    try:
        with client_from_params(module.params) as client:
            result = ensure_clients(client, module.params, module.check_mode)
    except ManagementError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
