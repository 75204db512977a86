#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openvpn_info
short_description: Read the state of an OpenVPN 2.x server from its management interface
version_added: 0.1.0
description:
  - Connects to the management interface of an OpenVPN 2.x server (unix socket or TCP), sends
    C(version), C(pid), C(state), C(load-stats) and C(status 3) in one session and returns the
    parsed replies.
  - The client list is parsed by the C(HEADER) lines of the status, so the column sets of OpenVPN
    2.4 to 2.7 all work; a row whose field count differs from its header is left out with a warning.
  - Works with OpenVPN 2.4 to 2.7 (tested with 2.6.14 and 2.7.8).
options:
  gather:
    description:
      - What to read. V(status) returns RV(clients), RV(routes) and RV(global_stats).
    type: list
    elements: str
    choices: [status, version, state, load_stats, pid]
    default: [status, version, state, load_stats, pid]
extends_documentation_fragment:
  - vpnfleet.control.openvpn
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.INFO_MODULE
  - vpnfleet.control.attributes.ACTIONGROUP_OPENVPN
attributes:
  platform:
    platforms: posix
seealso:
  - module: vpnfleet.control.openvpn_client
  - module: vpnfleet.control.openvpn_server
  - module: vpnfleet.control.openvpn_command
author:
  - vpnfleet.control contributors (@vpnfleet)
"""

EXAMPLES = r"""
- name: Everything about the server behind a unix management socket
  vpnfleet.control.openvpn_info:
    socket: /run/openvpn-server/server.sock
  register: vpn

- name: Common names of the connected clients
  ansible.builtin.debug:
    msg: "{{ vpn.clients | map(attribute='common_name') | list }}"

- name: Only the client list, from a password-protected TCP management interface
  vpnfleet.control.openvpn_info:
    host: 127.0.0.1
    port: 7505
    password_file: /etc/openvpn/server/mgmt.pw
    gather: [status]
  register: vpn_tcp

- name: Settings shared by every openvpn_* task in a play
  module_defaults:
    group/vpnfleet.control.openvpn:
      socket: /run/openvpn-server/server.sock
      timeout: 20
  block:
    - name: Version only
      vpnfleet.control.openvpn_info:
        gather: [version]
"""

RETURN = r"""
management_version:
  description: Management interface version from the banner (5 on OpenVPN 2.6, 6 on 2.7).
  returned: always
  type: int
  sample: 5
held:
  description:
    - Whether the daemon is waiting for C(hold release) (started with C(management-hold), or restarted
      with the hold flag set). While held there is no client list.
  returned: always
  type: bool
  sample: false
hold_flag:
  description:
    - The hold flag (C(hold) reply) - 1 when the daemon was started with C(management-hold) or got C(hold on);
      every restart then waits for C(hold release).
  returned: always
  type: int
  sample: 0
version:
  description: The C(version) reply.
  returned: when V(version) is gathered
  type: dict
  contains:
    openvpn:
      description: OpenVPN release.
      type: str
      sample: 2.6.14
    management:
      description: Management interface version.
      type: int
      sample: 5
    title:
      description: The whole version line.
      type: str
      sample: OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO] [LZ4] [EPOLL] [PKCS11] [MH/PKTINFO] [AEAD] [DCO]
    platform:
      description: Build platform (V(x86_64-pc-linux-gnu), V(Windows-MSVC), V(amd64-portbld-freebsd14.1), ...); null when the title has none.
      type: str
      sample: x86_64-pc-linux-gnu
    git:
      description: The build tag of a build from git (C([git:release/2.6/6640a10bf6d84eee]) gives V(release/2.6/6640a10bf6d84eee)); null otherwise.
      type: str
    built_on:
      description: The build date as OpenVPN prints it after C(built on); null when absent.
      type: str
    features:
      description: Build features listed in brackets.
      type: list
      elements: str
      sample: [SSL (OpenSSL), LZO, LZ4, EPOLL, PKCS11, MH/PKTINFO, AEAD, DCO]
    openvpn_tuple:
      description: The release as a list of integers, for comparisons.
      type: list
      elements: int
      sample: [2, 6, 14]
pid:
  description: Process id of the OpenVPN daemon.
  returned: when V(pid) is gathered
  type: int
  sample: 21666
state:
  description: The current state (the C(state) reply).
  returned: when V(state) is gathered
  type: dict
  contains:
    time:
      description: Time the state was entered, seconds since the epoch.
      type: int
    state:
      description: State name (V(CONNECTED) once the server is up, V(CONNECTING) while held, ...).
      type: str
      sample: CONNECTED
    description:
      description: Extra text (V(SUCCESS), the signal name of a restart, ...).
      type: str
    local_ip:
      description: The tun device's IPv4 address.
      type: str
      sample: 10.88.0.1
    remote_ip:
      description: Remote address (clients only).
      type: str
    remote_port:
      description: Remote port (clients only).
      type: int
    local_address:
      description: Local address the server listens on.
      type: str
    local_port:
      description: Local port the server listens on.
      type: int
    local_ipv6:
      description: The tun device's IPv6 address.
      type: str
load_stats:
  description: The C(load-stats) reply (nclients counts established clients only).
  returned: when V(load_stats) is gathered
  type: dict
  sample: {nclients: 3, bytesin: 6110, bytesout: 6425}
clients:
  description: Connected clients from C(status 3), including clients still pending authentication.
  returned: when V(status) is gathered
  type: list
  elements: dict
  contains:
    common_name:
      description: Certificate common name (V(UNDEF) for a client without certificate).
      type: str
    real_address:
      description:
        - Client's address and port, without the protocol prefix that OpenVPN 2.7 adds.
        - IPv4 as V(1.2.3.4:5); IPv6 as OpenVPN prints it, with the port in brackets (V([2001:db8::1]:5)) or
          without port (V(2001:db8::1)).
      type: str
      sample: 127.0.0.1:59865
    proto:
      description: The protocol prefix of the real address (OpenVPN 2.7, for example V(udp4)); null on 2.6 and older.
      type: str
    real_ip:
      description: Address part of RV(clients[].real_address).
      type: str
    real_port:
      description: Port part of RV(clients[].real_address); null when OpenVPN printed no port.
      type: int
    virtual_address:
      description: Virtual IPv4 address; empty while the client is pending.
      type: str
    virtual_ipv6_address:
      description: Virtual IPv6 address, empty when none.
      type: str
    bytes_received:
      description: Bytes received from the client.
      type: int
    bytes_sent:
      description: Bytes sent to the client.
      type: int
    connected_since:
      description: Connection time, seconds since the epoch (the C(time_t) column).
      type: int
    connected_since_text:
      description: Connection time as OpenVPN prints it.
      type: str
    username:
      description: User name of an auth-user-pass login; null when OpenVPN says C(UNDEF).
      type: str
    client_id:
      description: Client id (CID) used by C(client-kill).
      type: int
    peer_id:
      description: Data channel peer id.
      type: int
    cipher:
      description: Data channel cipher (OpenVPN 2.5 and later).
      type: str
    pending:
      description: The client has no virtual address yet (pending authentication).
      type: bool
routes:
  description:
    - The routing table (C(virtual_address), C(common_name), C(real_address), C(proto), C(real_ip), C(real_port),
      C(last_ref) epoch).
    - C(cached) is true for a route OpenVPN learned from traffic and keeps in its cache (it appends C(C) to
      the virtual address; C(virtual_address) is returned without it).
  returned: when V(status) is gathered
  type: list
  elements: dict
global_stats:
  description: The C(GLOBAL_STATS) lines with snake_case names and integer values.
  returned: when V(status) is gathered
  type: dict
  sample: {max_bcast_mcast_queue_length: 3, dco_enabled: 0}
status_updated:
  description: Time of the status, seconds since the epoch.
  returned: when V(status) is gathered and the server is not held
  type: int
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import client_from_params, module_kwargs
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import ManagementError
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_state import GATHER, gather_info


def main():
    module = VpnModule(
        **module_kwargs(
            dict(gather=dict(type="list", elements="str", choices=GATHER, default=GATHER)),
            supports_check_mode=True,
        )
    )
    try:
        with client_from_params(module.params) as client:
            result, warnings = gather_info(client, module.params["gather"])
    except ManagementError as exc:
        module.fail_json(**exc.fail_kwargs())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
