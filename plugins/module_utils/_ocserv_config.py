# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv configuration files (private to the collection): what an ``ocserv.conf`` says about its
control socket, its authentication and its CRL, and the ocserv servers of a host found through
them. Pure reading: nothing here runs occtl (``_ocserv_client`` does)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.vpnfleet.control.plugins.module_utils._common import is_socket, socket_key, to_int
from ansible_collections.vpnfleet.control.plugins.module_utils._config_files import config_lines, expand, read_text

# Directives only an ocserv.conf has (a file without any of them is not ocserv's).
_OCSERV_DIRECTIVES = frozenset(["auth", "tcp-port", "udp-port", "socket-file", "occtl-socket-file", "server-cert",
                                "run-as-user", "ipv4-network"])
_METHOD_RE = re.compile(r"^\s*([A-Za-z0-9_-]*)")
_PASSWD_RE = re.compile(r"^plain\[(?:.*,)?passwd=([^,\]]+)")


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
            info["tcp_port"] = to_int(value)
        elif name == "crl":
            info["crl"] = value or None
        if name in ("auth", "enable-auth"):
            method = _METHOD_RE.match(value).group(1).lower()
            if method and method not in info["auth_methods"]:
                info["auth_methods"].append(method)
            match = _PASSWD_RE.match(value.strip())
            if match and info["passwd_file"] is None:
                info["passwd_file"] = match.group(1)
        if name in _OCSERV_DIRECTIVES:
            info["is_ocserv"] = True
    return info


def ocserv_candidates(config_patterns, explicit_sockets, default_socket, discover=True):
    """ocserv servers to query: ``[{config, socket, source, use_occtl, ...}]``, one per socket.

    With ``discover``, the ocserv configurations among ``config_patterns`` (their
    ``occtl-socket-file``, else ``default_socket``) and ``default_socket`` when it exists;
    then ``explicit_sockets``. A socket found twice (also under another name) is listed once,
    first found first.
    """
    found = []
    if discover:
        for path in expand(config_patterns):
            info = parse_ocserv_config(read_text(path))
            if not info["is_ocserv"]:
                continue
            found.append({
                "config": path,
                "socket": os.path.normpath(info["occtl_socket"] or default_socket),
                "source": "config",
                "use_occtl": info["use_occtl"],
                "passwd_file": info["passwd_file"],
                "auth_methods": info["auth_methods"],
                "crl": info["crl"],
            })
        if is_socket(default_socket):
            found.append({"config": None, "socket": default_socket, "source": "default_socket", "use_occtl": True})
    for sock in explicit_sockets:
        found.append({"config": None, "socket": os.path.normpath(sock), "source": "explicit", "use_occtl": True})
    result, seen = [], set()
    for cand in found:
        key = socket_key(cand["socket"])
        if key in seen:
            continue
        seen.add(key)
        result.append(cand)
    return result
