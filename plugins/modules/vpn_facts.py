#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vpn_facts
short_description: Find the VPN servers and sessions of a host and report them as facts
version_added: 0.1.0
description:
  - Finds, on the managed host and without being told, the ocserv servers (through the C(occtl-socket-file)
    of their configuration files and the standard control socket), the OpenVPN 2 instances (through the
    C(management) lines of their configuration files and the management sockets in the standard run
    directories) and the OpenVPN 3 Linux client sessions (through the session manager on the system D-Bus).
  - Queries each server it found through its control socket and sets C(ansible_facts.vpn) with what it saw.
  - A server that cannot be queried (stopped, socket permission, busy management interface, timeout) does
    not fail the task. It is reported with C(reachable=false) and an C(error) text, so that a fleet's facts
    can always be gathered and cached. Set O(fail_on_unreachable=true) to fail instead (health checks).
  - Usable as a facts module of C(gather_facts) (the C(facts_modules) setting), so the VPN state of a fleet
    goes into the fact cache with the other facts.
options:
  gather:
    description:
      - Server families to look for.
    type: list
    elements: str
    choices: [all, ocserv, openvpn, openvpn3]
    default: [all]
  details:
    description:
      - Include the per-user and per-client lists (ocserv users and bans, OpenVPN clients, OpenVPN 3
        session statistics). With V(false) only versions, states and counts are reported.
    type: bool
    default: true
  discover:
    description:
      - Look for servers in the standard places (configuration files, default socket, run directories).
      - With V(false) only the sockets named in O(ocserv_socket) and O(openvpn_management) are queried
        (OpenVPN 3 is looked for in either case when O(gather) asks for it).
    type: bool
    default: true
  ocserv_config:
    description:
      - ocserv configuration files to read (shell patterns allowed). The C(occtl-socket-file) and
        C(use-occtl) lines give each server's control socket; a file without C(occtl-socket-file)
        means the default socket C(/var/run/occtl.socket).
      - Files that do not exist are ignored.
    type: list
    elements: path
    default: [/etc/ocserv/ocserv.conf, /etc/ocserv/*.conf]
  ocserv_socket:
    description:
      - occtl control sockets to query in addition to the discovered ones.
    type: list
    elements: path
    default: []
  occtl_path:
    description:
      - The occtl program (a name looked up in C(PATH) or an absolute path), for example the
        C(occtl-sudo) wrapper of the C(vpnfleet.control.ocserv) role when the task does not run as root.
    type: str
    default: occtl
  openvpn_config_dirs:
    description:
      - Directories whose C(*.conf) files are read as OpenVPN configurations; each C(management) line
        gives an instance's management interface (unix socket, or address and port with an optional
        password file).
    type: list
    elements: path
    default: [/etc/openvpn/server, /etc/openvpn, /etc/openvpn/client]
  openvpn_socket_dirs:
    description:
      - Directories searched for management sockets of instances whose configuration was not found
        (every unix socket in them is tried).
    type: list
    elements: path
    default: [/run/openvpn-server, /run/openvpn, /run/openvpn-client, /run/openvpn-mgmt]
  openvpn_management:
    description:
      - OpenVPN management interfaces to query in addition to the discovered ones.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name reported for the instance (default the socket's file name or C(host:port)).
        type: str
      socket:
        description: Path of the management unix socket.
        type: path
      host:
        description: Address of a TCP management interface (with O(openvpn_management[].port)).
        type: str
      port:
        description: Port of a TCP management interface.
        type: int
      password:
        description: Management password.
        type: str
      password_file:
        description: File whose first line is the management password.
        type: path
  timeout:
    description:
      - Seconds each server may take to answer (each occtl call, each management session, the D-Bus
        calls of OpenVPN 3). A server that does not answer in time is reported as unreachable.
    type: float
    default: 10
  fail_on_unreachable:
    description:
      - Fail the task when a server was found but is not running or could not be queried (the facts are
        still returned with the failure).
    type: bool
    default: false
extends_documentation_fragment:
  - vpnfleet.control.attributes
  - vpnfleet.control.attributes.INFO_MODULE
  - vpnfleet.control.attributes.FACTS
attributes:
  platform:
    platforms: posix
notes:
  - ocserv answers control requests from root only, OpenVPN management sockets are usually restricted to
    root or an admin group, and OpenVPN 3 shows each user only the sessions they own. Run the module with
    C(become=true), or give O(occtl_path) the admin-group wrapper of the ocserv role.
  - An OpenVPN management interface serves one client at a time; while another client holds it, the
    instance is reported with C(error_kind=busy) after O(timeout) seconds.
  - Run the module where the servers run (their container or network namespace); occtl reports no traffic
    counters from another network namespace.
seealso:
  - module: vpnfleet.control.ocserv_info
  - module: vpnfleet.control.openvpn_info
  - module: vpnfleet.control.openvpn3_session_info
author:
  - vpnfleet.control contributors (@vpnfleet)
"""

EXAMPLES = r"""
# As a facts module: in ansible.cfg ([defaults] facts_modules = ansible.builtin.setup,
# vpnfleet.control.vpn_facts) or per play (vars: ansible_facts_modules: [...]); with a fact
# cache (fact_caching = jsonfile) the VPN state of the fleet is cached with the other facts.

- name: Gather the VPN facts of the host
  vpnfleet.control.vpn_facts:
  become: true

- name: Show who is connected where
  ansible.builtin.debug:
    msg: "{{ ansible_facts.vpn.summary }}"

- name: Only counts, no user lists
  vpnfleet.control.vpn_facts:
    details: false

- name: A management interface on TCP with a password, besides the discovered ones
  vpnfleet.control.vpn_facts:
    gather: [openvpn]
    openvpn_management:
      - name: legacy
        host: 127.0.0.1
        port: 7505
        password_file: /etc/openvpn/legacy-mgmt.pw

- name: Health check before a rollout - fail when a server does not answer
  vpnfleet.control.vpn_facts:
    details: false
    fail_on_unreachable: true

- name: Hosts of the fleet where alice is connected (from the facts or the fact cache)
  ansible.builtin.debug:
    msg: >-
      {{ groups['vpn'] | map('extract', hostvars) | selectattr('ansible_facts.vpn', 'defined')
         | selectattr('ansible_facts.vpn.summary.usernames', 'contains', 'alice')
         | map(attribute='inventory_hostname') | list }}
  run_once: true
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    vpn:
      description: The VPN servers and sessions of the host.
      returned: always
      type: dict
      contains:
        ocserv:
          description:
            - The ocserv server of the host (the first one found when there are several; every one is in
              RV(ansible_facts.vpn.ocserv_instances)).
            - C(present=false) and nothing else when no ocserv configuration or socket was found.
          type: dict
          contains:
            present:
              description: Whether an ocserv configuration or control socket was found.
              type: bool
              sample: true
            config:
              description: Configuration file the server was found through (null when found by its socket only).
              type: str
              sample: /etc/ocserv/ocserv.conf
            socket:
              description: occtl control socket of the server.
              type: str
              sample: /var/run/occtl.socket
            source:
              description: How the server was found, V(config), V(default_socket) or V(explicit).
              type: str
            passwd_file:
              description: The C(ocpasswd) file of C(auth = "plain[passwd=...]"), null for other authentication.
              type: str
              sample: /etc/ocserv/ocpasswd
            auth_methods:
              description:
                - The authentication methods of the C(auth) and C(enable-auth) lines, in order (V(plain),
                  V(certificate), V(pam), V(radius), V(gssapi), ...).
                - Null when the server was found by its socket only (no configuration read).
              type: list
              elements: str
              sample: [plain, certificate]
            crl:
              description: The certificate revocation list the server reads (C(crl)), null when none is set.
              type: str
              sample: /etc/ocserv/pki/crl.pem
            running:
              description: Whether the control socket exists.
              type: bool
            reachable:
              description: Whether occtl answered through the socket.
              type: bool
            version:
              description: occtl version (the same as the ocserv package's).
              type: str
              sample: 1.3.0
            capabilities:
              description: What this version can do (C(terminate), ...), as in M(vpnfleet.control.ocserv_info).
              type: dict
            status:
              description:
                - Summary of C(show status) (C(server_pid), C(up_since), C(uptime), C(active_sessions),
                  C(ips_in_ban_list), ...).
              type: dict
            counts:
              description: Numbers for reports and conditions.
              type: dict
              contains:
                users:
                  description: Entries in C(show users) (every state).
                  type: int
                connected:
                  description: Entries in the C(connected) state.
                  type: int
                usernames:
                  description: Distinct user names connected.
                  type: int
                bans:
                  description: Addresses banned.
                  type: int
            users:
              description:
                - Connected users (only with O(details=true)), each with C(id), C(username), C(groupname),
                  C(state), C(remote_ip), C(vpn_ipv4), C(vpn_ipv6), C(device), C(user_agent), C(rx), C(tx),
                  C(connected_at) (epoch) and C(session) (short session id).
              type: list
              elements: dict
            bans:
              description: Banned addresses C({ip, score, expires, remaining}) (only with O(details=true)).
              type: list
              elements: dict
            error:
              description: Why the server could not be queried (null when it answered).
              type: str
            error_kind:
              description: Short cause (V(not_running), V(permission_denied), V(timeout), V(disabled), ...), or null.
              type: str
        ocserv_instances:
          description: Every ocserv server found, each shaped like RV(ansible_facts.vpn.ocserv).
          type: list
          elements: dict
        openvpn:
          description: The OpenVPN 2 instances found (servers and clients that have a management interface).
          type: list
          elements: dict
          contains:
            name:
              description: Instance name (configuration file name without C(.conf), or the socket's name).
              type: str
              sample: server
            config:
              description: Configuration file (null when found by its socket only).
              type: str
              sample: /etc/openvpn/server/server.conf
            unit:
              description: The systemd unit Debian uses for this configuration (C(openvpn-server@NAME.service), ...).
              type: str
            role:
              description: V(server), V(client) or null when the configuration does not say.
              type: str
            management:
              description:
                - C({socket}) or C({host, port}) of the management interface, C(password) (bool) and
                  C(password_file) (its path, when the configuration names one; never the password).
              type: dict
            files:
              description:
                - Files the configuration names, by option (C(ca), C(cert), C(key), C(dh), C(tls_crypt),
                  C(tls_auth), C(crl_verify), ...), as absolute paths; C(crl_verify_dir=true) for
                  C(crl-verify DIR dir). Inline material is not listed.
              type: dict
              sample: {ca: /etc/openvpn/server/server/pki/ca.crt, crl_verify: /etc/openvpn/server/server/crl.pem}
            client_config_dir:
              description:
                - The C(client-config-dir) of the configuration as an absolute path (OpenVPN reads the file named
                  after a client's common name there at each connection), null when it has none.
              type: str
              sample: /etc/openvpn/server/server/ccd
            run_as:
              description:
                - C(user) and C(group) the instance drops its privileges to (empty when it keeps root). After a
                  SIGHUP the instance re-reads its configuration and files as this user.
              type: dict
              sample: {user: nobody, group: nogroup}
            persist_key:
              description: Whether the configuration has C(persist-key) (the key is not re-read on SIGHUP).
              type: bool
            reread_files:
              description:
                - Files the instance opens again on SIGHUP (its configuration and the files it names; the key only
                  without C(persist-key)), as RV(ansible_facts.vpn.openvpn[].run_as) when it drops privileges.
              type: list
              elements: str
            source:
              description: How the instance was found, V(config), V(socket) or V(explicit).
              type: str
            reachable:
              description: Whether the management interface answered.
              type: bool
            version:
              description: OpenVPN version.
              type: str
              sample: 2.6.14
            management_version:
              description: Management interface version (5 for 2.6, 6 for 2.7).
              type: int
            pid:
              description: Process id of the instance.
              type: int
            state:
              description: Current state (C(state), C(description), C(local_ip), ... as in M(vpnfleet.control.openvpn_info)).
              type: dict
            held:
              description: Whether the daemon waits for C(hold release).
              type: bool
            counts:
              description: C({clients}) - established clients.
              type: dict
            clients:
              description:
                - Connected clients (only with O(details=true)) with C(common_name), C(real_address),
                  C(virtual_address), C(virtual_ipv6_address), C(username), C(client_id), C(bytes_received),
                  C(bytes_sent), C(connected_since) (epoch).
              type: list
              elements: dict
            error:
              description: Why the instance could not be queried (null when it answered).
              type: str
            error_kind:
              description: Short cause (V(not_running), V(busy), V(permission_denied), V(timeout), V(auth_failed), ...), or null.
              type: str
        openvpn3:
          description: OpenVPN 3 Linux client sessions.
          type: dict
          contains:
            present:
              description: Whether OpenVPN 3 Linux is installed.
              type: bool
            reachable:
              description: Whether the session manager answered.
              type: bool
            version:
              description: Session manager version.
              type: str
              sample: v24.1
            counts:
              description: C({sessions, connected}).
              type: dict
            sessions:
              description:
                - Sessions visible to the task's user, as M(vpnfleet.control.openvpn3_session_info) returns them
                  (statistics only with O(details=true)).
              type: list
              elements: dict
            error:
              description: Why the session manager could not be queried (null when it answered).
              type: str
            error_kind:
              description: Short cause (V(unreachable), V(permission_denied), V(timeout), ...), or null.
              type: str
        summary:
          description: Totals over the host, for reports.
          type: dict
          contains:
            ocserv_servers:
              description: ocserv servers found.
              type: int
            openvpn_servers:
              description: OpenVPN instances in server role (or of unknown role) found.
              type: int
            openvpn3_sessions:
              description: OpenVPN 3 sessions.
              type: int
            connected:
              description: ocserv users plus OpenVPN clients connected.
              type: int
            usernames:
              description: Sorted distinct ocserv user names and OpenVPN common names connected.
              type: list
              elements: str
            unreachable:
              description:
                - Servers that run (their socket exists) but did not answer (C(ocserv:SOCKET), C(openvpn:NAME),
                  C(openvpn3)).
              type: list
              elements: str
            sessions:
              description:
                - Who is connected to which server, one string per server and user - V(ocserv SOCKET USER) or
                  V(openvpn INSTANCE COMMON_NAME) - for comparisons before and after a change.
              type: list
              elements: str
              sample: [ocserv /var/run/occtl.socket alice, openvpn server alice]
            stopped:
              description:
                - Servers that are configured but not running (no control socket), for example the disabled
                  ocserv of a host that only has the package installed.
              type: list
              elements: str
        gathered_at:
          description: When the facts were gathered (epoch seconds, for cached facts).
          type: int
        gathered:
          description:
            - The server families these facts cover (the I(gather) option, C(all) spelled out), sorted.
            - A family not listed was not looked at, so its empty lists say nothing. Cached facts with
              C(ocserv) and C(openvpn) here are a complete picture of the host's servers (C(vpnfleet.control.revoke)
              relies on that).
          type: list
          elements: str
          sample: [ocserv, openvpn, openvpn3]
error_kind:
  description:
    - On failure, the cause (V(invalid) for invalid options, V(unreachable) when O(fail_on_unreachable=true)
      and a server found did not answer).
  returned: failure
  type: str
"""

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils import _vpn_facts
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_client import connection_argument_spec

# Replaceable in unit tests: occtl runner (argv, timeout) -> (rc, out, err); management
# connector factory (instance dict) -> socket-like object or None; busctl runner and path;
# the files whose presence means OpenVPN 3 Linux is installed.
OCCTL_RUNNER = None
MGMT_CONNECTOR = None
BUSCTL_RUNNER = None
BUSCTL_PATH = None
OPENVPN3_MARKERS = _vpn_facts.OPENVPN3_MARKERS

# An openvpn_management entry: the connection options of the openvpn_* modules (one timeout for
# the whole task instead of one per entry) and the name reported for the instance.
MANAGEMENT_OPTIONS = dict([(key, value) for key, value in connection_argument_spec().items() if key != "timeout"]
                          + [("name", dict(type="str"))])


def main():
    module = VpnModule(
        argument_spec=dict(
            gather=dict(type="list", elements="str", default=["all"],
                        choices=["all", "ocserv", "openvpn", "openvpn3"]),
            details=dict(type="bool", default=True),
            discover=dict(type="bool", default=True),
            ocserv_config=dict(type="list", elements="path",
                               default=["/etc/ocserv/ocserv.conf", "/etc/ocserv/*.conf"]),
            ocserv_socket=dict(type="list", elements="path", default=[]),
            occtl_path=dict(type="str", default="occtl"),
            openvpn_config_dirs=dict(type="list", elements="path",
                                     default=["/etc/openvpn/server", "/etc/openvpn", "/etc/openvpn/client"]),
            openvpn_socket_dirs=dict(type="list", elements="path",
                                     default=["/run/openvpn-server", "/run/openvpn", "/run/openvpn-client",
                                              "/run/openvpn-mgmt"]),
            openvpn_management=dict(type="list", elements="dict", default=[], options=MANAGEMENT_OPTIONS),
            timeout=dict(type="float", default=10),
            fail_on_unreachable=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        facts = _vpn_facts.gather(module.params, occtl_runner=OCCTL_RUNNER, mgmt_connector=MGMT_CONNECTOR,
                                  busctl_runner=BUSCTL_RUNNER, busctl=BUSCTL_PATH, openvpn3_markers=OPENVPN3_MARKERS)
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    result = dict(changed=False, ansible_facts={"vpn": facts})
    unreachable = facts["summary"]["unreachable"] + facts["summary"]["stopped"]
    if module.params["fail_on_unreachable"] and unreachable:
        errors = [i["error"] for i in facts["ocserv_instances"] + facts["openvpn"] if i.get("error")]
        if facts["openvpn3"]["error"]:
            errors.append(facts["openvpn3"]["error"])
        module.fail_json(msg="VPN servers found but not answering: %s (%s)" % (
            ", ".join(unreachable), "; ".join(errors)), error_kind="unreachable", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
