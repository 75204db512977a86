# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenVPN 2 configuration files (private to the collection): what a configuration says about its
management interface, role, files and privileges, the files an instance re-reads on SIGHUP, its
Debian systemd unit, and the instances of a host found through their configurations and run
directories. Pure reading: nothing here connects to a management interface (``_openvpn_client`` does)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

from ansible_collections.vpnfleet.control.plugins.module_utils._common import (
    VpnControlError,
    is_socket,
    socket_key,
    to_int,
    unique,
)
from ansible_collections.vpnfleet.control.plugins.module_utils._config_files import config_lines, read_text

# Options naming a file OpenVPN opens (again at each SIGHUP), reported under ``files``.
FILE_OPTIONS = ("ca", "cert", "key", "dh", "tls-crypt", "tls-auth", "tls-crypt-v2", "crl-verify", "secret")
_SERVER_WORDS = ("server", "server-bridge", "tls-server")
# Debian's systemd unit templates, by configuration directory.
_UNIT_TEMPLATES = {
    "/etc/openvpn/server": "openvpn-server@",
    "/etc/openvpn/client": "openvpn-client@",
    "/etc/openvpn": "openvpn@",
}


def _absolute(path, cwd):
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(cwd, path))


def parse_openvpn_config(text, base_dir):
    """What an OpenVPN configuration says about its management interface and role.

    Returns ``{management: {socket | host, port, password_file} or None, role, management_client_user,
    management_client_group, dev, port, proto, files, run_as, persist_key, client_config_dir}``.
    Relative paths are taken from ``cd`` or else ``base_dir`` (Debian's units run in the configuration's
    directory).
    """
    info = {"management": None, "role": None, "management_client_user": None,
            "management_client_group": None, "dev": None, "port": None, "proto": None, "files": {},
            "run_as": {}, "persist_key": False, "client_config_dir": None}
    cwd = base_dir
    for name, args in config_lines(text):
        if name == "cd" and args:
            cwd = os.path.join(cwd, args[0])
        elif name == "management" and len(args) >= 2:
            pw = args[2] if len(args) >= 3 else None
            if pw and pw != "stdin":
                pw = _absolute(pw, cwd)
            if args[1] == "unix":
                info["management"] = {"socket": _absolute(args[0], cwd), "password_file": pw}
            else:
                info["management"] = {"host": args[0], "port": to_int(args[1]), "password_file": pw}
        elif name == "mode" and args:
            info["role"] = "server" if args[0] == "server" else "client" if args[0] == "p2p" else info["role"]
        elif name in _SERVER_WORDS:
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
            info["port"] = to_int(args[0])
        elif name == "proto" and args:
            info["proto"] = args[0]
        elif name in ("user", "group") and args:
            info["run_as"][name] = args[0]
        elif name == "persist-key":
            info["persist_key"] = True
        elif name == "client-config-dir" and args:
            info["client_config_dir"] = _absolute(args[0], cwd)
        elif name in FILE_OPTIONS and args and args[0] not in ("none", "[inline]"):
            info["files"][name.replace("-", "_")] = _absolute(args[0], cwd)
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


def unit_for(config_path):
    """The Debian systemd unit of an OpenVPN configuration file (None outside Debian's directories)."""
    directory, filename = os.path.split(config_path)
    name = filename[:-5] if filename.endswith(".conf") else filename
    template = _UNIT_TEMPLATES.get(os.path.normpath(directory))
    return "%s%s.service" % (template, name) if template else None


def _explicit_candidate(entry):
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
    return {"name": entry.get("name") or default_name, "config": None, "unit": None, "role": None,
            "management": mgmt, "source": "explicit"}


def openvpn_candidates(config_dirs, socket_dirs, explicit, discover=True):
    """Instances to query: ``[{name, config, unit, role, management, source, ...}]``.

    With ``discover``, the configurations (``*.conf``) of ``config_dirs`` that have a ``management``
    line, then every unix socket of ``socket_dirs``; then the ``explicit`` entries (``{name, socket}``
    or ``{name, host, port}``, with ``password`` or ``password_file``; an entry with neither socket nor
    host and port raises ``VpnControlError(kind='invalid')``). An interface found twice is listed once,
    first found first.
    """
    found = []
    if discover:
        for directory in config_dirs:
            for path in sorted(glob.glob(os.path.join(glob.escape(directory), "*.conf"))):
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
            except (IOError, OSError, ValueError):
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
        found.append(_explicit_candidate(entry))
    result, seen = [], set()
    for cand in found:
        mgmt = cand["management"]
        key = socket_key(mgmt["socket"]) if mgmt.get("socket") else (mgmt.get("host"), mgmt.get("port"))
        if key in seen:
            continue
        seen.add(key)
        result.append(cand)
    return result
