# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""

    # Read-only modules: they change nothing, so check mode and diff are trivially supported.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""

    FACTS = r"""
options: {}
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
"""

    ACTIONGROUP_OCSERV = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/vpnfleet.control.ocserv) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - vpnfleet.control.ocserv
"""

    ACTIONGROUP_OPENVPN = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/vpnfleet.control.openvpn) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - vpnfleet.control.openvpn
"""

    ACTIONGROUP_OPENVPN3 = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/vpnfleet.control.openvpn3) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - vpnfleet.control.openvpn3
"""
