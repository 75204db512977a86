# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Connection options of the OpenVPN 3 Linux modules (D-Bus on the system bus).
    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Time budget in seconds for the whole task, shared by every D-Bus call and every wait
        (for a session to connect, pause or disappear).
      - When it runs out the task fails with O(timeout) in its message; it never hangs.
      - More than 0 and at most 86400; V(nan), V(inf), 0 and negative values fail with C(error_kind=invalid).
    type: float
    default: 30
requirements:
  - OpenVPN 3 Linux (C(openvpn3-client)) on the managed host; tested with 24.1 and 27.1.
  - C(busctl) from systemd 240 or later on the managed host (every packaged OpenVPN 3 host has it).
notes:
  - The modules talk to the OpenVPN 3 services over the D-Bus system bus with C(busctl --json);
    they do not parse the C(openvpn3) command's text, which differs between versions.
  - OpenVPN 3 shows a session only to its owner, to users on its access list and, when
    C(public_access) is set, to everyone. Run the task as the user who started the sessions
    (usually root) or grant access with C(openvpn3 session-acl).
  - Values given to the modules reach busctl after C(--), never as options; O(path), O(config_name),
    O(interface) and a pause reason are checked first (C(error_kind=invalid)), see
    docs/input-validation.md in the collection.
"""
