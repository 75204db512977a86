#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ocserv_info
short_description: Read the state of an ocserv server through occtl
version_added: 0.1.0
description:
  - Returns the server status, the connected users, the sessions (cookies) with their validity for
    reconnection, the banned addresses, the ban points and the users' iroutes, as occtl reports them.
  - Works with ocserv 1.1.6 to 1.5.x and gives the same shape on every version. occtl's JSON is
    invalid on several versions (trailing commas, concatenated C(show iroutes) records, duplicate keys,
    numbers as strings); the module reads it with a tolerant parser
    and normalises keys to snake_case and values to ints and booleans.
  - Runs C(occtl -j -s SOCKET ...) on the managed host, one call per gathered part (C(sessions) takes two).
author:
  - vpnfleet.control contributors (@vpnfleet)
extends_documentation_fragment:
  - vpnfleet.control.ocserv
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.INFO_MODULE
  - vpnfleet.control.attributes.ACTIONGROUP_OCSERV
attributes:
  platform:
    platforms: posix
options:
  gather:
    description:
      - The parts to read. V(all) means every part.
    type: list
    elements: str
    choices: [all, status, users, sessions, bans, ban_points, iroutes]
    default: [all]
seealso:
  - module: vpnfleet.control.ocserv_user
  - module: vpnfleet.control.ocserv_session
  - module: vpnfleet.control.ocserv_ban
"""

EXAMPLES = r"""
- name: Read everything
  become: true
  vpnfleet.control.ocserv_info:
  register: oc

- name: Who is connected, from where
  ansible.builtin.debug:
    msg: "{{ oc.users | map(attribute='username') | list }}"

- name: Users and bans only, on a server with its own socket path
  become: true
  vpnfleet.control.ocserv_info:
    socket: /run/ocserv/occtl.socket
    gather: [users, bans]
  register: oc

- name: Fail when sessions would survive a revocation on this server
  ansible.builtin.assert:
    that: oc.capabilities.terminate
"""

RETURN = r"""
occtl_version:
  description: Version of occtl (the same package as the server).
  returned: always
  type: str
  sample: 1.5.0
socket:
  description: The control socket that was queried.
  returned: always
  type: str
  sample: /var/run/occtl.socket
capabilities:
  description: What this ocserv can do.
  returned: always
  type: dict
  contains:
    terminate:
      description: C(terminate user|id|session) exists (ocserv 1.5.0 and later), so sessions can be invalidated.
      type: bool
    raw_connected_at:
      description: occtl reports connection times as epochs (1.2.3 and later); before, they are derived.
      type: bool
    session_started_at:
      description: occtl reports when a session started apart from its last connection (1.4.1 and later).
      type: bool
  sample: {terminate: true, raw_connected_at: true, session_started_at: true}
status:
  description:
    - C(show status) with snake_case keys. Counters are ints. A label that occtl also prints as a raw
      number (C(up_since), C(last_stats_reset), C(average_auth_time), C(rx), ...) holds the int (epoch,
      seconds or bytes) and its text is in C(<key>_text); C(<key>_human) holds intervals such as C(2m:03s).
    - C(median_latency), C(stdev_latency), C(min_mtu), C(max_mtu) are null where the version or the
      state does not print them.
  returned: when gathered
  type: dict
  sample:
    status: online
    server_pid: 2222
    sec_mod_pid: 2234
    up_since: 1795790083
    uptime: 2
    active_sessions: 4
    ips_in_ban_list: 1
    rx: 0
users:
  description:
    - One entry per connection (C(show users)); a user connected twice has two entries.
    - Every entry has every key below on every version; a key the version or the state does not
      report is null (lists are empty).
  returned: when gathered
  type: list
  elements: dict
  contains:
    id:
      description: Connection id (the worker's PID), for O(vpnfleet.control.ocserv_session#module:id).
      type: int
    username:
      description: User name.
      type: str
    groupname:
      description: Group, C((none)) when the user has none (as occtl prints it).
      type: str
    state:
      description: C(connected), C(pre-auth), C(authenticating), C(auth failed) or C(unknown).
      type: str
    remote_ip:
      description: The client's address.
      type: str
    vpn_ipv4:
      description: The address the client got in the VPN (occtl's C(IPv4)).
      type: str
    vpn_ipv6:
      description: The IPv6 address the client got in the VPN, null without one.
      type: str
    device:
      description: The server's tun device of this connection.
      type: str
    user_agent:
      description: The client's user agent.
      type: str
    rx:
      description: Bytes received from the client; null when occtl runs outside the server's network namespace.
      type: int
    tx:
      description: Bytes sent to the client; null as for RV(users[].rx).
      type: int
    connected_at:
      description:
        - When this connection was established, as an epoch.
        - From occtl's C(raw_connected_at) on ocserv 1.2.3 and later. ocserv 1.1.6 prints only the local
          minute (C(Connected at)) and the time since (C(_Connected at)); the epoch is the time of the query
          minus that interval, kept inside the printed minute, so it is exact to the second for connections
          younger than an hour and the start of the minute otherwise.
      type: int
    connected_at_text:
      description: occtl's text of the connection time (local time, minute resolution).
      type: str
    connected_for:
      description: occtl's text of the time since the connection (C(2m:03s)).
      type: str
    session_started_at:
      description: When the session (cookie) was created, as an epoch; ocserv 1.4.1 and later, else null.
      type: int
    session:
      description: Short session id (6 characters).
      type: str
    full_session:
      description: Full session id (28 characters, base64).
      type: str
    vhost:
      description: Virtual host.
      type: str
    mtu:
      description: MTU of the tunnel.
      type: int
    dpd:
      description: Dead peer detection interval (s).
      type: int
    keepalive:
      description: Keepalive interval (s).
      type: int
    routes:
      description: Routes pushed to the client (C(defaultroute) when occtl says so).
      type: list
      elements: str
    iroutes:
      description: Routes behind the client (C(iroute)).
      type: list
      elements: str
    restricted_to_routes:
      description: The user may only reach its routes.
      type: bool
  sample:
    - id: 2375
      username: alice
      groupname: (none)
      state: connected
      remote_ip: 10.232.1.2
      vpn_ipv4: 192.168.232.50
      vpn_ipv6: fd00:232::9a7c:c09f:b76e:58ef
      device: ocvf0
      user_agent: Open AnyConnect VPN Agent v9.01-3
      rx: 48
      tx: 468
      connected_at: 1795790084
      session: XSfEDG
      full_session: XSfEDGbIaZSo/R5Kg5RDzRWuwQo=
sessions:
  description:
    - Every session ocserv knows (C(show sessions all)), also those left by C(openconnect --authenticate)
      or failed logins.
  returned: when gathered
  type: list
  elements: dict
  contains:
    session:
      description: Short session id.
      type: str
    full_session:
      description: Full session id.
      type: str
    username:
      description: User name.
      type: str
    state:
      description: C(authenticated), C(authenticating) or C(auth failed).
      type: str
    remote_ip:
      description: Address the session was created from.
      type: str
    in_use:
      description: A connection uses the session now.
      type: bool
    valid:
      description: The cookie can be used to reconnect (listed by C(show sessions valid)).
      type: bool
    created:
      description: Creation time (epoch of the local minute occtl prints).
      type: int
    expires:
      description: Expiry of an unused session (epoch of the local minute), null while in use.
      type: int
    session_is_open:
      description: occtl's C(session_is_open).
      type: bool
    tls_auth_ok:
      description: occtl's C(tls_auth_ok) (certificate authentication).
      type: bool
  sample:
    - session: wAkQRe
      full_session: wAkQRe5ucJIsCKaTHBQWSoTlfFE=
      username: dave
      state: authenticated
      remote_ip: 10.232.3.2
      in_use: false
      valid: true
      expires: 1795790400
bans:
  description:
    - Banned addresses (C(show ip bans)). ocserv before 1.4.0 also lists bans that have expired.
  returned: when gathered
  type: list
  elements: dict
  contains:
    ip:
      description: The address.
      type: str
    score:
      description: Its ban score.
      type: int
    expires:
      description: When the ban ends (epoch; occtl's C(Since) is the expiry, not the start).
      type: int
    remaining:
      description: Seconds until the ban ends, as occtl printed them.
      type: int
  sample: [{ip: 10.232.4.2, score: 34, expires: 1795790219, expires_text: "2026-11-27 14:36", remaining: 119}]
ban_points:
  description:
    - Every address with ban points (C(show ip ban points)). Unbanned addresses stay listed with score 0.
  returned: when gathered
  type: list
  elements: dict
  sample: [{ip: 10.232.1.2, score: 1}]
iroutes:
  description: One entry per connection with the routes behind the client (empty list without).
  returned: when gathered
  type: list
  elements: dict
  sample: [{id: 2375, username: alice, vhost: default, device: ocvf0, ip: 192.168.232.50, iroutes: [10.99.0.0/255.255.0.0]}]
error_kind:
  description: On failure, the cause (C(unreachable), C(permission_denied), C(missing_binary), C(timeout), ...).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import OcctlClient, connection_argument_spec
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_state import GATHER_CHOICES, gather_info


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            gather=dict(type="list", elements="str", default=["all"], choices=["all"] + list(GATHER_CHOICES)),
        ),
        supports_check_mode=True,
    )
    client = OcctlClient.from_module(module)
    try:
        result = gather_info(client, module.params["gather"])
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
