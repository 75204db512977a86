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

import time

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_mgmt import (
    ManagementError,
    address_kill_command,
    client_from_params,
    client_kill_command,
    client_summary,
    module_kwargs,
    parse_status,
    split_real_address,
)

POLL_INTERVAL = 0.5


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


def run(module, client):
    params = module.params
    selected = select_clients(_current_clients(client), params)
    result = {"killed": [], "commands": [], "management_version": client.management_version}
    before = [client_summary(c) for c in selected]
    result["diff"] = {"before": {"clients": before}, "after": {"clients": []}}
    if not selected:
        result["changed"] = False
        return result
    if module.check_mode:
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
            result = run(module, client)
    except ManagementError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
