#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ocserv_session
short_description: End ocserv connections and sessions by id
version_added: 0.1.0
description:
  - Ends single connections (by connection id) or sessions (by session id, short or full) of an
    ocserv server, leaving the user's other connections and sessions alone.
  - A session id is resolved through C(show sessions valid) (occtl's C(show session) matches only the
    6-character short id, by prefix). A short id that matches two sessions is an error.
  - On ocserv 1.5.0 and later a connection is ended with C(terminate id) (which invalidates that
    connection's session only) and a session no connection uses with C(terminate session).
  - Older servers have no C(terminate). A connection is closed with C(disconnect id) and the module checks
    that its session left C(show sessions valid) (it stays valid with C(persistent-cookies)); a session
    that no connection uses cannot be invalidated and the task fails with a message that says why.
  - Unknown ids are left alone (no change, no error); a malformed id is an error.
author:
  - vpnfleet.control contributors (@vpnfleet)
extends_documentation_fragment:
  - vpnfleet.control.ocserv
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.ACTIONGROUP_OCSERV
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The selected connection ids and valid session ids before and after.
  platform:
    platforms: posix
options:
  id:
    description:
      - Connection ids (occtl's C(ID), the worker's PID), as shown by M(vpnfleet.control.ocserv_info).
    type: list
    elements: str
  session:
    description:
      - Session ids, short (C(j/3tin)) or full (C(j/3tinxkcBmFUA3dItIq56uZ0E8=)).
    type: list
    elements: str
    aliases: [sid]
  state:
    description:
      - V(terminated) - the connection is closed and its session cookie is no longer valid.
      - V(disconnected) - the connection is closed; its cookie may stay valid. Only with O(id).
    type: str
    choices: [terminated, disconnected]
    default: terminated
seealso:
  - module: vpnfleet.control.ocserv_user
  - module: vpnfleet.control.ocserv_info
"""

EXAMPLES = r"""
- name: Read the sessions
  become: true
  vpnfleet.control.ocserv_info:
    gather: [users, sessions]
  register: oc

- name: End every session alice opened from 198.51.100.7
  become: true
  vpnfleet.control.ocserv_session:
    session: "{{ oc.sessions | selectattr('username', '==', 'alice') | selectattr('remote_ip', '==', '198.51.100.7')
                 | map(attribute='full_session') | list }}"

- name: Close one connection, the client may reconnect with its cookie
  become: true
  vpnfleet.control.ocserv_session:
    id: 2375
    state: disconnected
"""

RETURN = r"""
disconnected:
  description: Ids of the connections that were closed (would be, in check mode).
  returned: always
  type: list
  elements: int
  sample: [2375]
terminated:
  description: Short ids of the sessions that were invalidated (with O(state=terminated)).
  returned: always
  type: list
  elements: str
  sample: [XSfEDG]
error_kind:
  description: On failure, the cause (C(invalid), C(unsupported), C(unreachable), ...).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import OcctlClient, connection_argument_spec
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_users import ensure_sessions


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            id=dict(type="list", elements="str"),
            session=dict(type="list", elements="str", aliases=["sid"], no_log=False),
            state=dict(type="str", default="terminated", choices=["terminated", "disconnected"]),
        ),
        mutually_exclusive=[["id", "session"]],
        required_one_of=[["id", "session"]],
        supports_check_mode=True,
    )
    client = OcctlClient.from_module(module)
    try:
        result = ensure_sessions(client, ids=module.params["id"], sessions=module.params["session"],
                                 state=module.params["state"], check_mode=module.check_mode)
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
