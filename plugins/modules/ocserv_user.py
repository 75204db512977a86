#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ocserv_user
short_description: Disconnect ocserv users and invalidate their sessions
version_added: 0.1.0
description:
  - Makes sure the given users have no connection to the ocserv server and, with
    O(state=terminated), no session cookie that would let a client reconnect.
  - Reads the server state once for all names (C(show users) and C(show sessions valid)), acts once per
    user, then checks the result with the same two queries (bounded by O(timeout)).
  - On ocserv 1.5.0 and later, C(terminate user) closes the connections and invalidates every session
    of the user, also sessions no connection uses.
  - Older servers have no C(terminate). There C(disconnect user) closes the connections, and ocserv
    invalidates their cookies unless C(persistent-cookies) is on; the module checks that the sessions
    left C(show sessions valid). A session that no connection uses (left by C(openconnect --authenticate)
    or a killed client) cannot be invalidated before 1.5.0 and lives until C(cookie-timeout). In those
    cases the connections are still closed, and the task fails with a message that names the sessions
    that stay valid, why, and what the operator can do.
  - Users that are not connected and have no valid session are left alone (no change, no error).
author:
  - vpnfleet.control contributors (@vpnfleet)
extends_documentation_fragment:
  - vpnfleet.control.ocserv
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.ACTIONGROUP_OCSERV
attributes:
  check_mode:
    support: full
    details:
      - Predicts the change from the server state; on a server without C(terminate) it also predicts the
        failure for sessions that cannot be invalidated (it cannot know C(persistent-cookies)).
  diff_mode:
    support: full
    details:
      - Per user, the connection ids and the valid session ids before and after.
  platform:
    platforms: posix
options:
  name:
    description:
      - User names. A single string is accepted.
    type: list
    elements: str
    required: true
    aliases: [user, users]
  state:
    description:
      - V(terminated) - no connection and no session cookie valid for reconnection.
      - V(disconnected) - no active connection; the cookie may stay valid (with C(persistent-cookies))
        so the client can reconnect.
    type: str
    choices: [terminated, disconnected]
    default: terminated
notes:
  - To keep a user out, also block the account (for example with M(vpnfleet.control.ocserv_passwd)
    O(vpnfleet.control.ocserv_passwd#module:state=locked)); this module ends what exists now.
seealso:
  - module: vpnfleet.control.ocserv_session
  - module: vpnfleet.control.ocserv_info
"""

EXAMPLES = r"""
- name: Revoke alice and bob (no connection, no reusable cookie)
  become: true
  vpnfleet.control.ocserv_user:
    name: [alice, bob]

- name: Only kick carol; her client may reconnect with its cookie (persistent-cookies)
  become: true
  vpnfleet.control.ocserv_user:
    name: carol
    state: disconnected
"""

RETURN = r"""
disconnected:
  description: Ids of the connections that were closed (would be, in check mode).
  returned: always
  type: list
  elements: int
  sample: [2375, 2399]
terminated:
  description: Users whose connections and sessions were ended (with O(state=terminated)).
  returned: always
  type: list
  elements: str
  sample: [alice]
error_kind:
  description: On failure, the cause (C(unsupported) for sessions this ocserv cannot invalidate, C(unreachable), ...).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, as_list
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv import (
    OcctlClient,
    connection_argument_spec,
    ensure_users,
)


def main():
    module = AnsibleModule(
        argument_spec=connection_argument_spec(
            name=dict(type="list", elements="str", required=True, aliases=["user", "users"]),
            state=dict(type="str", default="terminated", choices=["terminated", "disconnected"]),
        ),
        supports_check_mode=True,
    )
    client = OcctlClient.from_module(module)
    try:
        result = ensure_users(client, as_list(module.params["name"]), module.params["state"], module.check_mode)
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
