# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vpnfleet.control.openvpn3_watch: an ansible-rulebook event source (see DOCUMENTATION)."""

DOCUMENTATION = r"""
---
short_description: Events of OpenVPN 3 Linux sessions - connected, paused, disconnected, state changes
description:
  - An ansible-rulebook event source plugin for the OpenVPN 3 Linux session manager
    (C(net.openvpn.v3.sessions) on the system D-Bus, spoken to with C(busctl)), on the local machine or
    on several hosts over SSH.
  - "Every O(interval) seconds the sessions are read and compared with the previous read: C(connect)
    (state C(connected)), C(pause) (C(paused)), C(disconnect) (state C(disconnected) or C(exited), or the
    session is gone: C(state=gone)), C(state) for any other change (C(connecting), C(reconnecting),
    C(auth_failed), ...), each with C(state) and C(previous_state). Sessions present at the first read
    come with C(initial=true)."
  - "Fields: C(path) (the session's D-Bus path, which M(vpnfleet.control.openvpn3_session) takes),
    C(config_name) (also in C(user)), C(session_name), C(device), C(owner), C(backend_pid), C(created),
    C(status) (the manager's text), C(connected_to)."
  - "C(server_gone) when the session manager cannot be reached (C(busctl) fails, host unreachable) and
    C(server_back) when it answers again; C(instance) is C(sessions)."
  - Sessions of other users are visible to root only. Tested with openvpn3-linux 24.1 and 27.1.
author:
  - vpnfleet.control contributors (@vpnfleet)
version_added: 0.2.0
options:
  hosts:
    description:
      - Servers to watch over SSH, by the names the rules act on (inventory host names). One SSH
        connection (or one per poll) per host, all from this source; events carry the name in O(host)
        and in C(meta.hosts), so that C(run_module) and C(run_playbook) actions run on exactly that host.
      - SSH runs as the user of ansible-rulebook with C(BatchMode=yes) (keys or an agent; never a
        password prompt) and the options of O(ssh_args). Each remote word is quoted.
      - Omit it to watch the local machine (the source then runs on the server itself).
      - A host that cannot be reached gives one C(server_gone) event with C(cause=unreachable_host) and is
        tried again every O(retry_interval) seconds; the other hosts are not held up.
    type: list
    elements: str
  host:
    description:
      - The name put in events when the local machine is watched (no O(hosts)). Defaults to the host name.
    type: str
  ssh_args:
    description:
      - Extra C(ssh) options placed before the destination, for example C([-F, /etc/eda/ssh_config]) or
        C([-i, /keys/eda, -l, eda]).
    type: list
    elements: str
  ssh_connect_timeout:
    description:
      - SSH's C(ConnectTimeout), in seconds.
    type: float
    default: 5
  timeout:
    description:
      - Bound of one look at a server (one occtl run, one management session, one D-Bus call), in seconds.
    type: float
    default: 5
  retry_interval:
    description:
      - Seconds between two attempts to reach a server that is gone or a host that cannot be reached.
    type: float
    default: 5
  interval:
    description:
      - Seconds between two reads of the sessions.
    type: float
    default: 2
  busctl_path:
    description:
      - The busctl program on the host(s).
    type: str
    default: busctl
"""

EXAMPLES = r"""
- name: OpenVPN 3 clients of a fleet
  vpnfleet.control.openvpn3_watch:
    hosts: [laptop-ci1, laptop-ci2]
    interval: 2
"""

import os
import sys

try:
    from ansible_collections.vpnfleet.control.plugins.module_utils._vpn_watch import run_source
except ImportError:   # loaded by ansible-rulebook with runpy.run_path(): the collections root is not on sys.path
    sys.path.insert(0, os.path.abspath(os.path.join(__file__, *[os.pardir] * 8)))
    from ansible_collections.vpnfleet.control.plugins.module_utils._vpn_watch import run_source


async def main(queue, args):
    """Put the openvpn3 events on the queue until cancelled (the ansible-rulebook entry point)."""
    await run_source("openvpn3", queue, args)
