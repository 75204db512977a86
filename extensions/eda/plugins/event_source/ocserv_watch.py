# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vpnfleet.control.ocserv_watch: an ansible-rulebook event source (see DOCUMENTATION)."""

DOCUMENTATION = r"""
---
short_description: Events of ocserv servers - connect, disconnect, ban, unban, failed logins, server gone and back
description:
  - An ansible-rulebook event source plugin for ocserv (OpenConnect VPN server), on the local machine or
    on several servers over SSH.
  - "Users: in O(mode=stream) (default) C(occtl show events) is held open on every server: each connect and
    disconnect arrives as it happens (user, connection id, client and VPN address, disconnect reason and
    duration). The users connected when the watch starts (or when a server comes back) are reported as
    C(connect) events with C(initial=true); users that left while nobody listened as C(disconnect)."
  - "ocserv sends its events to one listener only, the first one connected: while this source listens, the
    module M(vpnfleet.control.ocserv_events) (or a second watch) on that server receives no events. O(mode=poll)
    compares C(show users) snapshots every O(interval) seconds instead and keeps the listener free (the
    events then also carry the session id; latency up to O(interval))."
  - "Bans: C(show ip bans) and C(show ip ban points) are compared every O(ban_interval) seconds (occtl has no
    ban event): C(ban) and C(unban) per address, and C(ban_points) when an address's score rises (10 points
    per wrong password with the default C(ban-points-wrong-password), 1 per connection from outside the
    server's subnets) - the base of failed-login burst rules."
  - "Server: C(server_gone) when the event stream ends (ocserv stopped or restarted), occtl cannot reach it,
    or the host cannot be reached (C(cause): C(not_answering), C(unreachable_host)); C(server_back) when it
    answers again. It is retried every O(retry_interval) seconds."
  - "ocserv 1.1.6 (Debian 12) gives connect and disconnect like the later releases, but: no C(terminate)
    (so no event can tell a cookie-invalidating cut-off from a disconnect); C(show ip bans) keeps expired
    bans listed (1.1.6 and 1.3.0; this source reports C(unban) when their time is up, within
    O(ban_interval)); the event stream never carries the session (cookie) id on any release - use
    O(mode=poll) for it."
  - "Every event has C(type), C(server=ocserv), C(host), C(instance) (the control socket), C(time) (epoch),
    C(initial) and C(meta.hosts=host); user events add C(user), C(username), C(id), C(vhost), C(remote_ip),
    C(vpn_ipv4), C(vpn_ipv6) (+ C(reason), C(duration) on disconnect); ban events C(ip), C(score),
    C(expires) / C(previous_score), C(added)."
  - Needs root on the watched server (occtl accepts uid 0 only). Tested with ocserv 1.1.6, 1.3.0 and 1.5.0.
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
  socket:
    description:
      - occtl's control socket on the server(s); also the C(instance) of every event.
    type: path
    default: /var/run/occtl.socket
  occtl_path:
    description:
      - The occtl program on the server(s).
    type: str
    default: occtl
  mode:
    description:
      - V(stream) holds C(occtl show events) open (events at once); V(poll) compares C(show users) every
        O(interval) seconds (leaves the event listener to others).
    type: str
    choices: [stream, poll]
    default: stream
  interval:
    description:
      - Seconds between two C(show users) in O(mode=poll); default of O(ban_interval).
    type: float
    default: 5
  bans:
    description:
      - Also report C(ban), C(unban) and C(ban_points).
    type: bool
    default: true
  ban_interval:
    description:
      - Seconds between two looks at the bans and ban points. Defaults to O(interval).
    type: float
"""

EXAMPLES = r"""
- name: Local ocserv (ansible-rulebook runs on the server)
  vpnfleet.control.ocserv_watch: {}

- name: A fleet over SSH
  vpnfleet.control.ocserv_watch:
    hosts: [vpn1, vpn2, vpn3]
    ssh_args: [-F, /etc/eda/ssh_config]
    ban_interval: 3
"""

import os
import sys

try:
    from ansible_collections.vpnfleet.control.plugins.module_utils._vpn_watch import run_source
except ImportError:   # loaded by ansible-rulebook with runpy.run_path(): the collections root is not on sys.path
    sys.path.insert(0, os.path.abspath(os.path.join(__file__, *[os.pardir] * 8)))
    from ansible_collections.vpnfleet.control.plugins.module_utils._vpn_watch import run_source


async def main(queue, args):
    """Put the ocserv events on the queue until cancelled (the ansible-rulebook entry point)."""
    await run_source("ocserv", queue, args)
