# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vpnfleet.control.openvpn_watch: an ansible-rulebook event source (see DOCUMENTATION)."""

DOCUMENTATION = r"""
---
short_description: Events of OpenVPN 2 servers - client connected and disconnected, server gone and back
description:
  - An ansible-rulebook event source plugin for OpenVPN 2.x servers, through their management interface,
    on the local machine or on several servers over SSH.
  - "The management interface serves one client at a time, so this source never stays on it: every
    O(interval) seconds it opens a session, sends C(status 3), reads the reply and quits (a few
    milliseconds), and compares the client list with the previous one. The modules of the collection are
    never locked out for longer than one such session."
  - "Latency: a connection is seen at the next poll, on average O(interval)/2 and at most O(interval)
    seconds after OpenVPN lists the client. A client that connects and leaves between two polls is not seen."
  - "Events: C(connect) and C(disconnect) with C(user) (= C(common_name)), C(username), C(real_address),
    C(real_ip), C(real_port), C(proto), C(virtual_address), C(virtual_ipv6_address), C(client_id),
    C(peer_id), C(connected_since), and C(management) (the instance's C(socket), or C(host), C(port) and
    C(password_file) when set: the connection options of M(vpnfleet.control.openvpn_client)). Rows whose
    common name is still C(UNDEF) (a TLS handshake in progress) are not connections yet. The clients
    present at the first poll come as C(connect) with C(initial=true). C(server_gone) when a management interface cannot be reached (instance stopped,
    socket missing or stale, host unreachable; C(cause) and C(error_kind) say which) and C(server_back)
    when it answers again. A busy interface (another client holds it) skips one poll and is not an outage."
  - "Every event has C(type), C(server=openvpn), C(host), C(instance) (the instance's O(instances[].name)),
    C(time), C(initial) and C(meta.hosts=host)."
  - "Over SSH one C(ssh -N -L) per host forwards a private local socket (in a 0700 temporary directory) to
    each management interface; it is restarted when it dies."
  - Tested with OpenVPN 2.6.14 and 2.7.8.
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
  instances:
    description:
      - The management interfaces to watch on every host.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The instance's name in events (and what rules pass to the modules).
        type: str
        required: true
      socket:
        description: The unix socket of the management interface (C(management PATH unix)).
        type: path
      host:
        description: The address of a TCP management interface, as seen from the server.
        type: str
        default: 127.0.0.1
      port:
        description: The port of a TCP management interface.
        type: int
      password_file:
        description: The file (on the server) whose first line is the management password.
        type: path
  interval:
    description:
      - Seconds between two polls of each instance.
    type: float
    default: 2
"""

EXAMPLES = r"""
- name: Two instances on every server of a fleet
  vpnfleet.control.openvpn_watch:
    hosts: [vpn1, vpn2]
    interval: 2
    instances:
      - name: server
        socket: /run/openvpn-server/server.sock
      - name: staff
        port: 7505
        password_file: /etc/openvpn/server/staff-mgmt.pw
"""

import os
import sys

try:
    from ansible_collections.vpnfleet.control.plugins.module_utils._vpn_watch import run_source
except ImportError:   # loaded by ansible-rulebook with runpy.run_path(): the collections root is not on sys.path
    sys.path.insert(0, os.path.abspath(os.path.join(__file__, *[os.pardir] * 8)))
    from ansible_collections.vpnfleet.control.plugins.module_utils._vpn_watch import run_source


async def main(queue, args):
    """Put the openvpn events on the queue until cancelled (the ansible-rulebook entry point)."""
    await run_source("openvpn", queue, args)
