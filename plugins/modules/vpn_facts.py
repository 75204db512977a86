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
"""

import glob
import os
import re
import shlex
import stat
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, check_timeout, unique
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_parsers
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client

# Replaceable in unit tests: occtl runner (argv, timeout) -> (rc, out, err); management
# connector factory (instance dict) -> socket-like object or None; busctl runner.
OCCTL_RUNNER = None
MGMT_CONNECTOR = None
BUSCTL_RUNNER = None
BUSCTL_PATH = None
OPENVPN3_MARKERS = (
    "/usr/bin/openvpn3",
    "/usr/share/dbus-1/system-services/net.openvpn.v3.sessions.service",
)

OCSERV_USER_FIELDS = (
    "id", "username", "groupname", "state", "remote_ip", "vpn_ipv4", "vpn_ipv6", "device",
    "user_agent", "rx", "tx", "connected_at", "session", "vhost", "hostname", "iroutes",
)
OCSERV_STATUS_FIELDS = (
    "status", "server_pid", "sec_mod_pid", "up_since", "uptime", "active_sessions", "total_sessions",
    "total_authentication_failures", "ips_in_ban_list", "sessions_handled", "timed_out_sessions",
    "authentication_failures",
)
OPENVPN_CLIENT_FIELDS = (
    "common_name", "real_address", "proto", "virtual_address", "virtual_ipv6_address", "username",
    "client_id", "peer_id", "bytes_received", "bytes_sent", "connected_since", "cipher",
)


# ---------------------------------------------------------------------------- configuration files

def read_text(path, limit=1024 * 1024):
    """A file's text, or None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def config_lines(text):
    """Directive lines of an ocserv or OpenVPN configuration: ``(name, [args])`` pairs.

    Comments (``#``, ``;``) and blank lines are skipped; OpenVPN's quoting is honoured;
    ocserv's ``name = value`` form gives one argument (the value, unquoted).
    """
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("<"):
            continue   # inline blocks (<ca> ... </ca>) carry no directives we read
        match = re.match(r"^([A-Za-z0-9_-]+)\s*=\s*(.*)$", line)
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            yield match.group(1).lower(), [value]
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if words:
            yield words[0].lower(), words[1:]


def parse_ocserv_config(text):
    """What an ocserv.conf says about its control socket and its authentication.

    ``{occtl_socket, use_occtl, pid_file, tcp_port, is_ocserv, passwd_file, auth_methods, crl}``;
    ``auth_methods`` are the method names of the ``auth`` and ``enable-auth`` lines in order
    (``plain``, ``certificate``, ``radius``, ...), each once.
    """
    info = {"occtl_socket": None, "use_occtl": True, "pid_file": None, "tcp_port": None, "is_ocserv": False,
            "passwd_file": None, "auth_methods": [], "crl": None}
    for name, args in config_lines(text):
        value = args[0] if args else ""
        if name == "occtl-socket-file":
            info["occtl_socket"] = value
        elif name == "use-occtl":
            info["use_occtl"] = value.strip().lower() not in ("false", "no", "0")
        elif name == "pid-file":
            info["pid_file"] = value
        elif name == "tcp-port":
            info["tcp_port"] = _ocserv_parsers.to_int(value)
        elif name == "crl":
            info["crl"] = value or None
        if name in ("auth", "enable-auth"):
            method = re.match(r"^\s*([A-Za-z0-9_-]*)", value).group(1).lower()
            if method and method not in info["auth_methods"]:
                info["auth_methods"].append(method)
            match = re.match(r"^plain\[(?:.*,)?passwd=([^,\]]+)", value.strip())
            if match and info["passwd_file"] is None:
                info["passwd_file"] = match.group(1)
        if name in ("auth", "tcp-port", "udp-port", "socket-file", "occtl-socket-file", "server-cert",
                    "run-as-user", "ipv4-network"):
            info["is_ocserv"] = True
    return info


def parse_openvpn_config(text, base_dir):
    """What an OpenVPN configuration says about its management interface and role.

    Returns ``{management: {socket | host, port, password_file} or None, role, client_user, client_group}``.
    Relative paths are taken from ``cd`` or else ``base_dir`` (Debian's units run in the configuration's
    directory).
    """
    info = {"management": None, "role": None, "management_client_user": None,
            "management_client_group": None, "dev": None, "port": None, "proto": None, "files": {},
            "run_as": {}, "persist_key": False, "client_config_dir": None}
    cwd = base_dir
    file_options = ("ca", "cert", "key", "dh", "tls-crypt", "tls-auth", "tls-crypt-v2", "crl-verify", "secret")
    server_words = ("server", "server-bridge", "tls-server")
    for name, args in config_lines(text):
        if name == "cd" and args:
            cwd = os.path.join(cwd, args[0])
        elif name == "management" and len(args) >= 2:
            pw = args[2] if len(args) >= 3 else None
            if pw and pw != "stdin" and not os.path.isabs(pw):
                pw = os.path.normpath(os.path.join(cwd, pw))
            if args[1] == "unix":
                sock = args[0] if os.path.isabs(args[0]) else os.path.normpath(os.path.join(cwd, args[0]))
                info["management"] = {"socket": sock, "password_file": pw}
            else:
                info["management"] = {"host": args[0], "port": _ocserv_parsers.to_int(args[1]), "password_file": pw}
        elif name == "mode" and args:
            info["role"] = "server" if args[0] == "server" else "client" if args[0] == "p2p" else info["role"]
        elif name in server_words:
            info["role"] = "server"
        elif name in ("client", "tls-client") and info["role"] is None:
            info["role"] = "client"
        elif name == "management-client-user" and args:
            info["management_client_user"] = args[0]
        elif name == "management-client-group" and args:
            info["management_client_group"] = args[0]
        elif name == "dev" and args:
            info["dev"] = args[0]
        elif name in ("port", "lport") and args:
            info["port"] = _ocserv_parsers.to_int(args[0])
        elif name == "proto" and args:
            info["proto"] = args[0]
        elif name in ("user", "group") and args:
            info["run_as"][name] = args[0]
        elif name == "persist-key":
            info["persist_key"] = True
        elif name == "client-config-dir" and args:
            info["client_config_dir"] = args[0] if os.path.isabs(args[0]) else os.path.normpath(
                os.path.join(cwd, args[0]))
        elif name in file_options and args and args[0] not in ("none", "[inline]"):
            path = args[0] if os.path.isabs(args[0]) else os.path.normpath(os.path.join(cwd, args[0]))
            info["files"][name.replace("-", "_")] = path
            if name == "crl-verify" and len(args) > 1 and args[1] == "dir":
                info["files"]["crl_verify_dir"] = True
    return info


def reread_files(cand):
    """What OpenVPN opens again on SIGHUP, with the privileges it dropped to: the configuration and the
    files it names (the key only without persist-key)."""
    if not cand.get("config"):
        return []
    files = [cand["config"]]
    for name, path in sorted((cand.get("files") or {}).items()):
        if name == "crl_verify_dir" or (name == "key" and cand.get("persist_key")):
            continue
        files.append(path)
    return unique(files)


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except (IOError, OSError):
        return False


def expand(patterns):
    """Existing files matching the patterns, in the given order (each pattern's matches sorted)."""
    found = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found.extend(sorted(glob.glob(pattern)))
        elif os.path.isfile(pattern):
            found.append(pattern)
    return unique(os.path.normpath(p) for p in found)


def unit_for(config_path):
    """The Debian systemd unit of an OpenVPN configuration file."""
    directory, filename = os.path.split(config_path)
    name = filename[:-5] if filename.endswith(".conf") else filename
    template = {
        "/etc/openvpn/server": "openvpn-server@",
        "/etc/openvpn/client": "openvpn-client@",
        "/etc/openvpn": "openvpn@",
    }.get(os.path.normpath(directory))
    return "%s%s.service" % (template, name) if template else None


# ---------------------------------------------------------------------------- discovery

def ocserv_candidates(config_patterns, explicit_sockets, discover=True):
    """Servers to query: ``[{config, socket, source, use_occtl}]``, one per socket."""
    found = []
    if discover:
        for path in expand(config_patterns):
            info = parse_ocserv_config(read_text(path))
            if not info["is_ocserv"]:
                continue
            found.append({
                "config": path,
                "socket": os.path.normpath(info["occtl_socket"] or _ocserv_client.DEFAULT_SOCKET),
                "source": "config",
                "use_occtl": info["use_occtl"],
                "passwd_file": info["passwd_file"],
                "auth_methods": info["auth_methods"],
                "crl": info["crl"],
            })
        if is_socket(_ocserv_client.DEFAULT_SOCKET):
            found.append({"config": None, "socket": _ocserv_client.DEFAULT_SOCKET, "source": "default_socket",
                          "use_occtl": True})
    for sock in explicit_sockets:
        found.append({"config": None, "socket": os.path.normpath(sock), "source": "explicit", "use_occtl": True})
    result, seen = [], set()
    for cand in found:
        # /var/run is a link to /run on every current distribution: one socket, two names
        key = _same_file_key(cand["socket"])
        if key in seen:
            continue
        seen.add(key)
        result.append(cand)
    return result


def _same_file_key(path):
    real = os.path.realpath(path)
    if real.startswith("/var/run/"):
        real = "/run/" + real[len("/var/run/"):]
    return real


def openvpn_candidates(config_dirs, socket_dirs, explicit, discover=True):
    """Instances to query: ``[{name, config, unit, role, management, source}]``."""
    found = []
    if discover:
        for directory in config_dirs:
            for path in sorted(glob.glob(os.path.join(directory, "*.conf"))):
                if not os.path.isfile(path):
                    continue
                info = parse_openvpn_config(read_text(path), os.path.dirname(path))
                if info["management"] is None:
                    continue
                found.append({
                    "name": os.path.basename(path)[:-5],
                    "config": path,
                    "unit": unit_for(path),
                    "role": info["role"],
                    "management": info["management"],
                    "management_client_user": info["management_client_user"],
                    "management_client_group": info["management_client_group"],
                    "files": info["files"],
                    "run_as": info["run_as"],
                    "persist_key": info["persist_key"],
                    "client_config_dir": info["client_config_dir"],
                    "source": "config",
                })
        for directory in socket_dirs:
            try:
                names = sorted(os.listdir(directory))
            except (IOError, OSError):
                continue
            for name in names:
                path = os.path.join(directory, name)
                if not is_socket(path):
                    continue
                found.append({
                    "name": name[:-5] if name.endswith(".sock") else name,
                    "config": None, "unit": None, "role": None,
                    "management": {"socket": path, "password_file": None},
                    "source": "socket",
                })
    for entry in explicit:
        if entry.get("socket"):
            mgmt = {"socket": entry["socket"]}
            default_name = os.path.basename(entry["socket"])
            if default_name.endswith(".sock"):
                default_name = default_name[:-5]
        elif entry.get("host") and entry.get("port"):
            mgmt = {"host": entry["host"], "port": entry["port"]}
            default_name = "%s:%s" % (entry["host"], entry["port"])
        else:
            raise VpnControlError("openvpn_management entries need socket, or host and port: %r"
                                  % dict((k, v) for k, v in entry.items() if k != "password"), kind="invalid")
        mgmt["password_file"] = entry.get("password_file")
        mgmt["password"] = entry.get("password")
        found.append({"name": entry.get("name") or default_name, "config": None, "unit": None, "role": None,
                      "management": mgmt, "source": "explicit"})
    result, seen = [], set()
    for cand in found:
        mgmt = cand["management"]
        key = _same_file_key(mgmt["socket"]) if mgmt.get("socket") else (mgmt.get("host"), mgmt.get("port"))
        if key in seen:
            continue
        seen.add(key)
        result.append(cand)
    return result


# ---------------------------------------------------------------------------- querying

def _pick(record, fields):
    return dict((field, record.get(field)) for field in fields)


def gather_ocserv(cand, occtl_path, timeout, details, runner=None):
    """Query one ocserv server; never raises for server-side problems (they go in ``error``)."""
    out = {
        "present": True,
        "config": cand["config"],
        "socket": cand["socket"],
        "source": cand["source"],
        "passwd_file": cand.get("passwd_file"),
        "auth_methods": cand.get("auth_methods"),
        "crl": cand.get("crl"),
        "running": is_socket(cand["socket"]),
        "reachable": False,
        "version": None,
        "counts": {"users": 0, "connected": 0, "usernames": 0, "bans": 0},
        "error": None,
        "error_kind": None,
    }
    if not cand.get("use_occtl", True):
        out.update(error="%s has use-occtl = false: ocserv has no control socket to query" % cand["config"],
                   error_kind="disabled")
        return out
    client = _ocserv_client.OcctlClient(socket=cand["socket"], occtl_path=occtl_path, timeout=timeout, runner=runner)
    try:
        try:
            out["version"] = client.version()
            out["capabilities"] = client.capabilities()
        except VpnControlError as exc:
            if exc.kind == "missing_binary":
                raise
            out["version"] = None   # an unreadable version does not stop the queries
        if not out["running"]:
            out.update(error="ocserv is not running: its control socket %s does not exist" % cand["socket"],
                       error_kind="not_running")
            return out
        status = client.status()
        users = client.users()
        bans = client.bans()
    except VpnControlError as exc:
        out.update(error=exc.msg, error_kind=exc.kind)
        return out
    out["reachable"] = True
    out["running"] = True
    out["status"] = _pick(status, OCSERV_STATUS_FIELDS)
    connected = [u for u in users if u.get("state") == "connected"]
    out["counts"] = {
        "users": len(users),
        "connected": len(connected),
        "usernames": len(set(u.get("username") for u in connected)),
        "bans": len(bans),
    }
    out["_names"] = sorted(set(u["username"] for u in connected if u.get("username")))
    if details:
        out["users"] = [_pick(u, OCSERV_USER_FIELDS) for u in users]
        out["bans"] = [_pick(b, ("ip", "score", "expires", "remaining")) for b in bans]
    return out


def gather_openvpn(cand, timeout, details, connector=None):
    """Query one OpenVPN management interface (one session, every command in it)."""
    mgmt = cand["management"]
    out = {
        "name": cand["name"],
        "config": cand["config"],
        "unit": cand["unit"],
        "role": cand["role"],
        "source": cand["source"],
        "management": dict((k, mgmt.get(k)) for k in ("socket", "host", "port") if mgmt.get(k) is not None),
        "files": cand.get("files", {}),
        "run_as": cand.get("run_as", {}),
        "persist_key": cand.get("persist_key", False),
        "client_config_dir": cand.get("client_config_dir"),
        "reread_files": reread_files(cand),
        "reachable": False,
        "version": None,
        "counts": {"clients": 0},
        "error": None,
        "error_kind": None,
    }
    out["management"]["password"] = bool(mgmt.get("password") or mgmt.get("password_file"))
    if mgmt.get("password_file"):
        out["management"]["password_file"] = mgmt["password_file"]
    if mgmt.get("socket") and not os.path.exists(mgmt["socket"]):
        out.update(error="the instance is not running: its management socket %s does not exist" % mgmt["socket"],
                   error_kind="not_running")
        return out
    try:
        password = mgmt.get("password")
        if mgmt.get("password_file") == "stdin":
            raise VpnControlError("the management password of %s is read from stdin by OpenVPN; give it as "
                                  "openvpn_management[].password" % cand["name"], kind="auth_required")
        if mgmt.get("password_file") and password is None:
            password = _openvpn_client.read_password_file(mgmt["password_file"])
        client = _openvpn_client.ManagementClient(
            socket_path=mgmt.get("socket"), host=mgmt.get("host"), port=mgmt.get("port"), password=password,
            timeout=timeout, connector=(lambda: connector(cand)) if connector else None)
        with client:
            version = client.version()
            out["version"] = version.get("openvpn")
            out["management_version"] = client.management_version or version.get("management")
            out["pid"] = client.pid()
            out["held"] = bool(client.hold_waiting)
            out["state"] = client.state()
            if not out["held"]:
                try:
                    status = client.status(3)
                except _openvpn_client.CommandError:
                    status = None   # client mode or held: no client list
                if status is not None and (status.get("clients") or status.get("title")):
                    clients = status.get("clients", [])
                    out["counts"] = {"clients": len(clients)}
                    # established clients: a client still in its handshake has no address and CN UNDEF
                    out["_names"] = sorted(set(c["common_name"] for c in clients
                                               if c.get("common_name") and c["common_name"] != "UNDEF"
                                               and c.get("virtual_address")))
                    if out["role"] is None:
                        out["role"] = "server"
                    if details:
                        out["clients"] = [_pick(c, OPENVPN_CLIENT_FIELDS) for c in clients]
                elif out["role"] is None and status is not None:
                    out["role"] = "client"
    except VpnControlError as exc:
        out.update(error=exc.msg, error_kind=exc.kind)
        return out
    out["reachable"] = True
    return out


def openvpn3_installed():
    return any(os.path.exists(path) for path in OPENVPN3_MARKERS)


def gather_openvpn3(timeout, details, runner=None, busctl=None, installed=None):
    out = {"present": openvpn3_installed() if installed is None else installed, "reachable": False,
           "version": None, "counts": {"sessions": 0, "connected": 0}, "sessions": [], "error": None,
           "error_kind": None}
    if not out["present"]:
        return out
    try:
        client = _openvpn3_client.OpenVPN3Client(timeout=timeout, runner=runner, busctl=busctl)
        out["version"] = client.version()
        sessions = client.sessions(statistics=details)
    except VpnControlError as exc:
        out.update(error=exc.msg, error_kind=exc.kind)
        return out
    out["reachable"] = True
    out["sessions"] = sessions
    out["counts"] = {
        "sessions": len(sessions),
        "connected": len([s for s in sessions if s.get("state") == "connected"]),
    }
    return out


def summarize(ocserv_instances, openvpn, openvpn3):
    names = set()
    connected = 0
    unreachable = []
    stopped = []
    sessions = set()
    for inst in ocserv_instances:
        connected += inst["counts"]["connected"]
        inst_names = inst.pop("_names", [])
        names.update(inst_names)
        sessions.update("ocserv %s %s" % (inst["socket"], name) for name in inst_names)
        if not inst["reachable"]:
            (stopped if inst.get("error_kind") == "not_running" else unreachable).append("ocserv:%s" % inst["socket"])
    servers = 0
    for inst in openvpn:
        if inst["role"] != "client":
            servers += 1
            connected += inst["counts"]["clients"]
            names.update(inst.get("_names", []))
            sessions.update("openvpn %s %s" % (inst["name"], cn) for cn in inst.get("_names", []))
        inst.pop("_names", None)
        if not inst["reachable"]:
            (stopped if inst.get("error_kind") == "not_running" else unreachable).append("openvpn:%s" % inst["name"])
    if openvpn3["present"] and not openvpn3["reachable"]:
        unreachable.append("openvpn3")
    return {
        "ocserv_servers": len(ocserv_instances),
        "openvpn_servers": servers,
        "openvpn3_sessions": openvpn3["counts"]["sessions"],
        "connected": connected,
        "usernames": sorted(names),
        "unreachable": unreachable,
        "stopped": stopped,
        "sessions": sorted(sessions),
    }


def gather(params):
    families = set(params["gather"])
    if "all" in families:
        families = set(["ocserv", "openvpn", "openvpn3"])
    timeout = check_timeout(params["timeout"])
    details = params["details"]
    facts = {"gathered_at": int(time.time()), "gathered": sorted(families)}

    ocserv_instances = []
    if "ocserv" in families:
        for cand in ocserv_candidates(params["ocserv_config"], params["ocserv_socket"], params["discover"]):
            ocserv_instances.append(gather_ocserv(cand, params["occtl_path"], timeout, details,
                                                  runner=OCCTL_RUNNER))
    facts["ocserv_instances"] = ocserv_instances
    facts["ocserv"] = ocserv_instances[0] if ocserv_instances else {"present": False}

    openvpn = []
    if "openvpn" in families:
        for cand in openvpn_candidates(params["openvpn_config_dirs"], params["openvpn_socket_dirs"],
                                       params["openvpn_management"], params["discover"]):
            openvpn.append(gather_openvpn(cand, timeout, details, connector=MGMT_CONNECTOR))
    facts["openvpn"] = openvpn

    if "openvpn3" in families:
        facts["openvpn3"] = gather_openvpn3(timeout, details, runner=BUSCTL_RUNNER, busctl=BUSCTL_PATH)
    else:
        facts["openvpn3"] = {"present": False, "reachable": False, "version": None,
                             "counts": {"sessions": 0, "connected": 0}, "sessions": [], "error": None,
                             "error_kind": None}
    facts["summary"] = summarize(ocserv_instances, openvpn, facts["openvpn3"])
    return facts


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
            openvpn_management=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str"),
                socket=dict(type="path"),
                host=dict(type="str"),
                port=dict(type="int"),
                password=dict(type="str", no_log=True),
                password_file=dict(type="path"),
            )),
            timeout=dict(type="float", default=10),
            fail_on_unreachable=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        facts = gather(module.params)
    except VpnControlError as exc:
        module.fail_json(**exc.fail_kwargs())
    result = dict(changed=False, ansible_facts={"vpn": facts})
    unreachable = facts["summary"]["unreachable"] + facts["summary"]["stopped"]
    if module.params["fail_on_unreachable"] and unreachable:
        errors = [i["error"] for i in facts["ocserv_instances"] + facts["openvpn"] if i.get("error")]
        if facts["openvpn3"]["error"]:
            errors.append(facts["openvpn3"]["error"])
        module.fail_json(msg="VPN servers found but not answering: %s (%s)" % (
            ", ".join(unreachable), "; ".join(errors)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
