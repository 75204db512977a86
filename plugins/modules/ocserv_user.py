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
  - With O(account=locked) or O(account=absent) the users' accounts in the ocpasswd file are locked or
    removed first, in the same task, so that nobody logs in again between the two steps (revocation in
    one task per server; the file is written the way M(vpnfleet.control.ocserv_passwd) writes it).
author:
  - vpnfleet.control contributors (@vpnfleet)
extends_documentation_fragment:
  - vpnfleet.control.ocserv
  - vpnfleet.control.ocserv.names
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
      - Per user, the connection ids and the valid session ids before and after, and with O(account)
        the state of the account in the password file.
  platform:
    platforms: posix
options:
  name:
    description:
      - User names. A single string is accepted.
      - Names are used exactly as given, for occtl and for the password file alike. A name that is empty,
        starts or ends with white space, or contains a control character or a line separator fails the task
        with C(error_kind=invalid) before anything is done (see the notes).
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
  account:
    description:
      - What to do with the users' entries in the ocpasswd file (O(passwd_file)) before their
        connections are ended.
      - V(keep) - leave the file alone (the user can log in again with the password).
      - V(locked) - lock the entries (C(ocpasswd -l)); users not in the file are left alone.
      - V(absent) - remove the entries.
      - The file is changed under ocpasswd's lock file. A missing file fails the task, since the server
        then does not use this password file; use V(keep) there and block the user where it authenticates.
    type: str
    choices: [keep, locked, absent]
    default: keep
  passwd_file:
    description:
      - The ocpasswd file of the server (C(auth = "plain[passwd=...]") in C(ocserv.conf)), used with
        O(account=locked) or O(account=absent).
    type: path
    default: /etc/ocserv/ocpasswd
notes:
  - Ending the connections alone does not keep a user out. Use O(account) (or
    M(vpnfleet.control.ocserv_passwd) O(vpnfleet.control.ocserv_passwd#module:state=locked)) when the server
    authenticates with a password file, or block the user where the server authenticates (RADIUS, PAM,
    certificates).
seealso:
  - module: vpnfleet.control.ocserv_session
  - module: vpnfleet.control.ocserv_info
"""

EXAMPLES = r"""
- name: Revoke alice and bob (no connection, no reusable cookie)
  become: true
  vpnfleet.control.ocserv_user:
    name: [alice, bob]

- name: Revoke dave in one task - lock the account in the password file, then end what he has
  become: true
  vpnfleet.control.ocserv_user:
    name: dave
    account: locked
    passwd_file: /etc/ocserv/ocpasswd

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
accounts:
  description:
    - With O(account=locked) or O(account=absent), the users whose entry in O(passwd_file) was locked or
      removed (would be, in check mode). Empty with O(account=keep).
  returned: always
  type: list
  elements: str
  sample: [dave]
error_kind:
  description: On failure, the cause (C(unsupported) for sessions this ocserv cannot invalidate, C(unreachable), ...).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, as_list
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import OcctlClient, connection_argument_spec
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_users import ensure_users
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_names import check_user_names


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            name=dict(type="list", elements="str", required=True, aliases=["user", "users"]),
            state=dict(type="str", default="terminated", choices=["terminated", "disconnected"]),
            account=dict(type="str", default="keep", choices=["keep", "locked", "absent"]),
            passwd_file=dict(type="path", default="/etc/ocserv/ocpasswd", no_log=False),
        ),
        supports_check_mode=True,
    )
    client = OcctlClient.from_module(module)
    accounts, account_diff = [], {}
    try:
        # every name is checked before anything is done (the same names for the file and for occtl)
        names = check_user_names(as_list(module.params["name"]))
        if module.params["account"] != "keep":
            # imported only when used: every module run compiles what it imports, and most runs keep the file
            from ansible_collections.vpnfleet.control.plugins.module_utils._ocpasswd import block_accounts
            accounts, account_diff = block_accounts(module.params["passwd_file"], names, module.params["account"],
                                                    check_mode=module.check_mode, selinux=module)
        result = ensure_users(client, names, module.params["state"], module.check_mode)
    except VpnControlError as exc:
        kwargs = exc.fail_kwargs()
        kwargs["accounts"] = accounts
        kwargs["changed"] = bool(accounts) or bool(kwargs.get("changed"))
        module.fail_json(**kwargs)
    for name, (before, after) in account_diff.items():
        result["diff"]["before"].setdefault(name, {})["account"] = before
        result["diff"]["after"].setdefault(name, {})["account"] = after
    result["accounts"] = accounts
    result["changed"] = result["changed"] or bool(accounts)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
