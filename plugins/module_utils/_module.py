# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AnsibleModule every module of the collection is built on."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule


class VpnModule(AnsibleModule):
    """AnsibleModule with the rules every module of the collection follows.

    - ``diff`` is returned in diff mode only (``--diff`` or ``diff: true``), by every family: the
      state logic always computes it, the module drops it here when diff mode is off.
    - The invocation log survives a NUL inside a value. syslog(3) takes C strings: ansible-core 2.19
      and later fail the task on a value with NUL while logging the invocation, before the module can
      refuse the value with ``error_kind: invalid``. The log line gets the NUL written as ``\\x00``;
      the value itself is left alone, and refused."""

    def _log_to_syslog(self, msg):
        super(VpnModule, self)._log_to_syslog(msg.replace("\x00", "\\x00"))

    def exit_json(self, **kwargs):
        if not self._diff:
            kwargs.pop("diff", None)
        super(VpnModule, self).exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        if not self._diff:
            kwargs.pop("diff", None)
        super(VpnModule, self).fail_json(msg, **kwargs)
