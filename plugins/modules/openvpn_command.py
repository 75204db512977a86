#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openvpn_command
short_description: Send one raw command to an OpenVPN 2.x management interface
version_added: 0.1.0
description:
  - Sends one management command, reads its whole reply (a C(SUCCESS:) / C(ERROR:) line or a block ended by
    C(END)) and returns its lines. Real-time messages (C(>LOG:), C(>CLIENT:), ...) that arrive meanwhile
    are returned apart in RV(notifications).
  - Read-only commands (C(status), C(version), C(state), C(state all), C(log N), C(pid), C(load-stats),
    C(hold), C(verb), C(help), ...) report C(changed=false); every other command reports C(changed=true),
    including ones that set a value of the management session only (C(state on), C(version 4), C(env-filter)).
  - Use the dedicated modules where one exists (M(vpnfleet.control.openvpn_info),
    M(vpnfleet.control.openvpn_client), M(vpnfleet.control.openvpn_server)); they parse and are idempotent.
options:
  command:
    description:
      - The command line, for example V(status 2), V(kill client1), V(client-kill 5 "HALT,bye").
      - It is read the way OpenVPN reads it (its C(parse_line)) to find the command word (case-sensitive) and
        decide whether it only reads state - C("..."), C('...') and backslash escapes included, so
        C(state 'on') and C(state all on) are changes. A line OpenVPN would refuse (unterminated quote, a
        backslash before anything but a blank, a backslash or a double quote, a parameter over 256 bytes), a
        line it would not answer (empty, or a comment starting with C(#) or C(;)), a control character (line
        feed, carriage return, NUL, TAB, ...) or more than 1023 bytes fail with C(error_kind=invalid) before
        connecting. Blanks and a final newline around the line are ignored.
      - C(quit) and C(exit) are refused (the module ends the session itself), and so are commands that
        expect more input lines (C(client-auth), C(client-pf), C(rsa-sig), C(pk-sig), C(certificate)).
    type: str
    required: true
  fail_on_error:
    description: Fail the task when the server answers C(ERROR:).
    type: bool
    default: true
extends_documentation_fragment:
  - vpnfleet.control.openvpn
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.ACTIONGROUP_OPENVPN
attributes:
  check_mode:
    support: partial
    details:
      - Read-only commands run in check mode; any other command is not sent and C(changed=true) is predicted.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: vpnfleet.control.openvpn_info
author:
  - vpnfleet.control contributors (@vpnfleet)
"""

EXAMPLES = r"""
- name: Status in the version-1 format
  vpnfleet.control.openvpn_command:
    socket: /run/openvpn-server/server.sock
    command: status 1
  register: status1

- name: Last 20 log lines
  vpnfleet.control.openvpn_command:
    socket: /run/openvpn-server/server.sock
    command: log 20
  register: log20

- name: Raise the verbosity (changes the server)
  vpnfleet.control.openvpn_command:
    socket: /run/openvpn-server/server.sock
    command: verb 4

- name: Try a command that may fail
  vpnfleet.control.openvpn_command:
    socket: /run/openvpn-server/server.sock
    command: kill client9
    fail_on_error: false
  register: kill9
"""

RETURN = r"""
lines:
  description: The reply as the server wrote it, line by line, without the closing C(END).
  returned: always
  type: list
  elements: str
  sample: ["SUCCESS: pid=21666"]
reply:
  description: V(success), V(error) (a C(SUCCESS:) / C(ERROR:) line) or V(lines) (a block ended by C(END)).
  returned: unless check mode skipped the command
  type: str
  sample: success
text:
  description: The text after C(SUCCESS:) or C(ERROR:); empty for a block.
  returned: unless check mode skipped the command
  type: str
  sample: pid=21666
read_only:
  description: Whether the command only reads state (then C(changed=false)).
  returned: always
  type: bool
notifications:
  description:
    - Real-time messages that arrived with the reply, each with C(source) (V(LOG), V(CLIENT), V(STATE), ...),
      C(text) and C(raw) (the lines); C(>CLIENT:) blocks also have C(event), C(args) and C(env).
  returned: always
  type: list
  elements: dict
management_version:
  description: Management interface version of the server.
  returned: always
  type: int
error_kind:
  description:
    - On failure, the cause (V(invalid) for a command refused before connecting, V(command_error) when the
      server answered C(ERROR:) and O(fail_on_error=true), V(busy), V(timeout), V(unreachable), ...).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import (
    CommandError,
    client_from_params,
    command_is_read_only,
    module_kwargs,
    split_command,
)
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import ManagementError

REFUSED = {
    "quit": "the module ends the session itself",
    "exit": "the module ends the session itself",
    "client-auth": "it expects configuration lines and END after it; use client-auth-nt",
    "client-pf": "it expects a packet filter block after it",
    "rsa-sig": "it expects a signature block after it",
    "pk-sig": "it expects a signature block after it",
    "certificate": "it expects a certificate block after it",
}


def main():
    module = VpnModule(
        **module_kwargs(
            dict(
                command=dict(type="str", required=True),
                fail_on_error=dict(type="bool", default=True),
            ),
            supports_check_mode=True,
        )
    )
    # ASCII blanks around the line (a YAML block scalar's final newline) are not part of it.
    command = module.params["command"].strip(" \t\r\n\v\f")
    try:
        # The words as the server will read them (OpenVPN's quoting); a line it
        # would refuse or read differently fails here, before connecting.
        words = split_command(command)
    except ManagementError as exc:
        module.fail_json(**exc.fail_kwargs())
    if not words:
        module.fail_json(msg="command is empty (or a comment, which the server does not answer).",
                         error_kind="invalid")
    verb = words[0]
    if verb in REFUSED:
        module.fail_json(msg="command %r is not allowed here: %s." % (words[0], REFUSED[verb]),
                         error_kind="invalid")
    read_only = command_is_read_only(command)
    result = {"changed": not read_only, "read_only": read_only, "lines": [], "notifications": []}
    try:
        with client_from_params(module.params) as client:
            result["management_version"] = client.management_version
            if module.check_mode and not read_only:
                module.exit_json(**result)
            reply = client.command(command, check=False)
            result["notifications"] = client.pop_notifications()
    except ManagementError as exc:
        module.fail_json(**exc.fail_kwargs())
    result["lines"] = reply.raw_lines()
    result["reply"] = reply.kind
    result["text"] = reply.text
    if reply.kind == "error" and module.params["fail_on_error"]:
        result["changed"] = False
        result.update(CommandError(command, reply.text).fail_kwargs())   # msg and error_kind=command_error
        module.fail_json(**result)
    if reply.kind == "error":
        result["changed"] = False
    module.exit_json(**result)


if __name__ == "__main__":
    main()
