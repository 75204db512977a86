#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ocserv_ban
short_description: Lift ocserv IP bans and reset ban points
version_added: 0.1.0
description:
  - Makes sure the given addresses are not banned by ocserv and have no ban points (score 0),
    with C(occtl unban ip).
  - Reads C(show ip bans) and C(show ip ban points) once, unbans only the addresses that are banned or
    have points, then checks the result. ocserv keeps an unbanned address in C(show ip ban points)
    with score 0; that counts as absent.
  - Addresses ocserv has never seen are left alone (no change, no error). Each address is validated
    (IPv4 or IPv6, no networks) before anything is done.
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
      - Per address, whether it is banned and its score, before and after.
  platform:
    platforms: posix
options:
  ip:
    description:
      - IPv4 or IPv6 addresses. A single string is accepted.
    type: list
    elements: str
    required: true
    aliases: [address]
  state:
    description:
      - V(absent) - not banned and score 0.
    type: str
    choices: [absent]
    default: absent
seealso:
  - module: vpnfleet.control.ocserv_info
"""

EXAMPLES = r"""
- name: Let the office in again
  become: true
  vpnfleet.control.ocserv_ban:
    ip: [198.51.100.7, "2001:db8::7"]

- name: Lift every ban
  become: true
  vpnfleet.control.ocserv_ban:
    ip: "{{ oc.bans | map(attribute='ip') | list }}"
  when: oc.bans | length > 0
"""

RETURN = r"""
unbanned:
  description: The addresses that were banned or had points (would be unbanned, in check mode).
  returned: always
  type: list
  elements: str
  sample: [198.51.100.7]
error_kind:
  description: On failure, the cause (C(invalid) for a malformed address, C(unreachable), ...).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, as_list
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import OcctlClient, connection_argument_spec
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_bans import ensure_unbanned


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            ip=dict(type="list", elements="str", required=True, aliases=["address"]),
            state=dict(type="str", default="absent", choices=["absent"]),
        ),
        supports_check_mode=True,
    )
    client = OcctlClient.from_module(module)
    try:
        result = ensure_unbanned(client, as_list(module.params["ip"]), module.check_mode)
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
