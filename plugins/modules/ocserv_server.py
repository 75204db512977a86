#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ocserv_server
short_description: Reload or stop an ocserv server through occtl
version_added: 0.1.0
description:
  - Reloads the configuration of a running ocserv (C(occtl reload)) or stops it (C(occtl stop now)).
  - With O(config), the configuration file is first checked with C(ocserv --test-config -c CONFIG); an
    invalid one fails the task and the server is not touched.
  - A reload always reports a change. Stopping a server that is not running (no socket, or a stale
    socket nobody listens on) changes nothing; otherwise the module waits until the server no longer
    answers (bounded by O(timeout)).
  - ocserv accepts unknown directives and most bad values at reload without complaint, and settings
    such as C(tcp-port) need a restart; a reload is not a full validation of the running state.
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
      - The configuration is validated in check mode too (C(ocserv --test-config) changes nothing).
  diff_mode:
    support: partial
    details:
      - Shows whether the server runs before and after.
  platform:
    platforms: posix
options:
  state:
    description:
      - V(reloaded) - the server re-reads its configuration (always a change).
      - V(stopped) - the server is not running.
    type: str
    choices: [reloaded, stopped]
    required: true
  config:
    description:
      - Path of the configuration to validate first (normally the one the server runs with,
        C(/etc/ocserv/ocserv.conf)).
    type: path
  ocserv_path:
    description:
      - The ocserv program used to validate O(config).
    type: str
    default: ocserv
notes:
  - Under systemd, a stopped ocserv may be started again by its unit; use M(ansible.builtin.service)
    to stop it for good.
seealso:
  - module: vpnfleet.control.ocserv_info
"""

EXAMPLES = r"""
- name: Reload after changing the configuration, only when it is valid
  become: true
  vpnfleet.control.ocserv_server:
    state: reloaded
    config: /etc/ocserv/ocserv.conf

- name: Stop the server
  become: true
  vpnfleet.control.ocserv_server:
    state: stopped
"""

RETURN = r"""
state:
  description: The requested state.
  returned: always
  type: str
  sample: reloaded
server_pid:
  description: PID of ocserv's main process before the action (absent when it was not running).
  returned: when the server was running
  type: int
  sample: 2222
config_messages:
  description: What C(ocserv --test-config) printed (warnings such as unknown options, notes).
  returned: when O(config) is given
  type: list
  elements: str
  sample: ["warning: skipping unknown option 'no-such-directive'"]
error_kind:
  description: On failure, the cause (C(invalid) for a configuration that does not pass the test, C(unreachable), ...).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import OcctlClient, connection_argument_spec
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_state import ensure_server


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            state=dict(type="str", required=True, choices=["reloaded", "stopped"]),
            config=dict(type="path"),
            ocserv_path=dict(type="str", default="ocserv"),
        ),
        supports_check_mode=True,
    )
    client = OcctlClient.from_module(module)
    try:
        result = ensure_server(client, module.params["state"], config=module.params["config"],
                               ocserv_path=module.params["ocserv_path"], check_mode=module.check_mode)
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
