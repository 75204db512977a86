#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ocserv_events
short_description: Listen to ocserv's connect and disconnect events for a bounded time
version_added: 0.1.0
description:
  - Runs C(occtl show events) and collects the users' connect and disconnect events for at most
    O(duration) seconds; stops earlier when an event matching O(until) is seen or O(max_events) events
    are collected. Use it to wait until a user has connected or has gone, or to record what happens
    while another task acts (run it with C(async) or in a parallel play).
  - occtl's plain event lines are read (its JSON output does not say whether a record is a connect or a
    disconnect); occtl runs on a pseudo-terminal so each event arrives when it happens, its stdin stays
    open (at EOF occtl spins at full CPU), and it is always stopped and reaped when the task ends -
    also on errors, signals and when the module is killed (it dies with the module through
    C(PR_SET_PDEATHSIG) on Linux).
  - The time limit counts from the moment occtl listens; starting up is bounded by O(timeout).
  - ocserv sends events to one listener only, the first one that connected. A listener started while
    another C(occtl show events) runs receives no event at all, even after the other one quits. Such
    listeners, when visible in C(/proc), are returned in RV(other_listeners) and handled as
    O(on_other_listener) says.
  - Read-only; tested with ocserv 1.1.6, 1.3.0 and 1.5.0.
author:
  - vpnfleet.control contributors (@vpnfleet)
extends_documentation_fragment:
  - vpnfleet.control.ocserv
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.INFO_MODULE
  - vpnfleet.control.attributes.ACTIONGROUP_OCSERV
attributes:
  platform:
    platforms: posix
options:
  duration:
    description:
      - The longest time to listen, in seconds.
    type: float
    default: 10
  until:
    description:
      - Stop as soon as an event matches all the keys given here.
    type: dict
    suboptions:
      event:
        description: The kind of event.
        type: str
        choices: [connect, disconnect]
      username:
        description:
          - The user name, exactly as ocserv reports it; a name with white space at either end or a control
            character fails the task with C(error_kind=invalid) (a user of that name cannot exist).
        type: str
      id:
        description: The connection id (occtl's C(ID), the worker's PID).
        type: int
      remote_ip:
        description: The client's address.
        type: str
  max_events:
    description:
      - Stop once this many events are collected.
    type: int
  on_other_listener:
    description:
      - What to do when another C(occtl show events) process is seen (ocserv would not send events to
        this task then). V(warn) lists it in a warning and listens anyway, V(fail) fails the task before
        listening, V(ignore) only returns it in RV(other_listeners).
    type: str
    choices: [warn, fail, ignore]
    default: warn
  ready_file:
    description:
      - A file written (with the time, as epoch) once occtl listens, so that a parallel task or a test can
        wait for it (M(ansible.builtin.wait_for) with O(ansible.builtin.wait_for#module:path)) before it makes
        the events happen. Removed when the task ends.
    type: path
notes:
  - An event that happens before occtl listens is not reported; RV(users_at_start) lists who was connected
    at that moment.
  - The reason of a disconnect is ocserv's text (C(user disconnected), C(server disconnected), ...), its
    duration the time the connection lasted as occtl prints it (to the minute when an hour or more).
seealso:
  - module: vpnfleet.control.ocserv_info
  - module: vpnfleet.control.ocserv_user
"""

EXAMPLES = r"""
- name: Wait up to two minutes for bob to connect
  vpnfleet.control.ocserv_events:
    duration: 120
    until:
      event: connect
      username: bob
  register: bob_connect
  failed_when: bob_connect.stopped_by != 'until'

- name: Record every event for 30 seconds while another play works
  vpnfleet.control.ocserv_events:
    duration: 30
    socket: /run/ocserv/occtl.socket
  async: 60
  poll: 0
  register: recorder

- name: Collect the recording
  ansible.builtin.async_status:
    jid: "{{ recorder.ansible_job_id }}"
  register: recording
  until: recording.finished
  retries: 40
  delay: 1
"""

RETURN = r"""
events:
  description: The events in the order they arrived.
  returned: always
  type: list
  elements: dict
  contains:
    event:
      description: V(connect) or V(disconnect).
      type: str
      sample: disconnect
    id:
      description: The connection id.
      type: int
      sample: 18376
    username:
      description: The user name.
      type: str
      sample: bob
    vhost:
      description: The virtual host (V(default) without vhosts).
      type: str
      sample: default
    remote_ip:
      description: The client's address.
      type: str
      sample: 10.231.2.2
    vpn_ipv4:
      description: The client's IPv4 address in the VPN (null when it has only IPv6).
      type: str
      sample: 192.168.231.106
    vpn_ipv6:
      description: The client's IPv6 address in the VPN when it has no IPv4 address.
      type: str
      sample: null
    time:
      description: When the event was read (epoch seconds, milliseconds resolution).
      type: float
      sample: 1795763532.125
    reason:
      description: Why the connection ended (disconnect only).
      type: str
      sample: user disconnected
    duration:
      description: How long the connection lasted in seconds (disconnect only; null if occtl printed none).
      type: int
      sample: 12
    duration_text:
      description: The duration as occtl printed it (disconnect only).
      type: str
      sample: 12s
    line:
      description: occtl's line.
      type: str
      sample: "default: connected user 'bob' (18376) from 10.231.2.2 with IP 192.168.231.106"
stopped_by:
  description: Why listening ended - V(until), V(max_events) or V(duration).
  returned: always
  type: str
  sample: until
matched:
  description: The event that matched O(until) (null otherwise).
  returned: always
  type: dict
  sample: {event: connect, username: bob, id: 18376}
until_matched:
  description: Whether an event matched O(until).
  returned: always
  type: bool
  sample: true
users_at_start:
  description: The connections occtl listed when it started (C(show users) table as printed).
  returned: always
  type: list
  elements: dict
  sample: [{id: 22591, username: alice, vhost: default, remote_ip: 10.232.1.2, vpn_ipv4: 192.168.232.50,
            vpn_ipv6: null, device: ocvf0, since: 0s, connected_for: 0, dtls_cipher: (AES-256-GCM),
            status: connected}]
listening_since:
  description: When occtl started listening (epoch seconds).
  returned: always
  type: float
  sample: 1795763520.004
listening_until:
  description: When listening ended (epoch seconds).
  returned: always
  type: float
  sample: 1795763532.125
other_listeners:
  description: Other C(occtl show events) processes seen when the task started (they get the events first).
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4242, cmdline: "occtl -s /var/run/occtl.socket show events"}]
"""

import os
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, check_timeout
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import connection_argument_spec
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_events import EVENT_TYPES, EventListener
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_names import check_user_name


def main():
    module = VpnModule(
        argument_spec=connection_argument_spec(
            duration=dict(type="float", default=10),
            until=dict(type="dict", options=dict(
                event=dict(type="str", choices=list(EVENT_TYPES)),
                username=dict(type="str"),
                id=dict(type="int"),
                remote_ip=dict(type="str"),
            )),
            max_events=dict(type="int"),
            on_other_listener=dict(type="str", default="warn", choices=["warn", "fail", "ignore"]),
            ready_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        duration = check_timeout(params["duration"], name="duration")
        listener = EventListener(params["socket"], params["occtl_path"], params["timeout"])
    except VpnControlError as exc:
        module.fail_json(events=[], **exc.fail_kwargs())
    if params["max_events"] is not None and params["max_events"] < 1:
        module.fail_json(msg="max_events must be at least 1.", error_kind="invalid")
    until = dict((k, v) for k, v in (params["until"] or {}).items() if v is not None)
    if params["until"] is not None and not until:
        module.fail_json(msg="until needs at least one of event, username, id, remote_ip.", error_kind="invalid")
    if "username" in until:
        try:
            check_user_name(until["username"], "until.username")
        except VpnControlError as exc:
            module.fail_json(**exc.fail_kwargs())

    ready_file = params["ready_file"]

    def on_ready(partial):
        if ready_file:
            with open(ready_file, "w") as handle:
                handle.write("%.3f\n" % time.time())

    try:
        try:
            result = listener.listen(duration=duration, until=until or None,
                                     max_events=params["max_events"],
                                     on_other_listener=params["on_other_listener"], on_ready=on_ready)
        finally:
            if ready_file:
                try:
                    os.unlink(ready_file)
                except OSError:
                    pass
    except VpnControlError as exc:
        kwargs = exc.fail_kwargs()
        kwargs.setdefault("events", [])
        kwargs["socket"] = params["socket"]
        module.fail_json(**kwargs)
    except (IOError, OSError) as exc:
        module.fail_json(msg="listening to ocserv events failed: %s." % exc, error_kind="error", events=[])

    for warning in result.pop("warnings"):
        module.warn(warning)
    result["until_matched"] = result["matched"] is not None
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
