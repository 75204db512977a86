# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What vpn_facts gathers (private to the collection): each server found by ``_ocserv_config`` and
``_openvpn_config`` queried through its family's client, and the host's summary. A server that
cannot be queried is reported with ``reachable=false`` and ``error``/``error_kind``, never raised."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, check_timeout, is_socket
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn3_client
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_config import ocserv_candidates
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_config import openvpn_candidates, reread_files

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
        if mgmt.get("password_file") == "stdin":
            raise VpnControlError("the management password of %s is read from stdin by OpenVPN; give it as "
                                  "openvpn_management[].password" % cand["name"], kind="auth_required")
        # the connection options as the openvpn_* modules take them (a given password wins over the file)
        params = dict(socket=mgmt.get("socket"), host=mgmt.get("host"), port=mgmt.get("port"),
                      password=mgmt.get("password"), timeout=timeout,
                      password_file=mgmt.get("password_file") if mgmt.get("password") is None else None)
        client = _openvpn_client.client_from_params(params, connector=(lambda: connector(cand)) if connector else None)
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


def openvpn3_installed(markers=OPENVPN3_MARKERS):
    return any(os.path.exists(path) for path in markers)


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


def gather(params, occtl_runner=None, mgmt_connector=None, busctl_runner=None, busctl=None,
           openvpn3_markers=OPENVPN3_MARKERS):
    """``ansible_facts.vpn`` for the options of vpn_facts (the keyword arguments replace the
    programs and sockets in unit tests). Raises ``VpnControlError`` only for invalid options."""
    families = set(params["gather"])
    if "all" in families:
        families = set(["ocserv", "openvpn", "openvpn3"])
    timeout = check_timeout(params["timeout"])
    details = params["details"]
    facts = {"gathered_at": int(time.time()), "gathered": sorted(families)}

    ocserv_instances = []
    if "ocserv" in families:
        for cand in ocserv_candidates(params["ocserv_config"], params["ocserv_socket"], _ocserv_client.DEFAULT_SOCKET,
                                      params["discover"]):
            ocserv_instances.append(gather_ocserv(cand, params["occtl_path"], timeout, details, runner=occtl_runner))
    facts["ocserv_instances"] = ocserv_instances
    facts["ocserv"] = ocserv_instances[0] if ocserv_instances else {"present": False}

    openvpn = []
    if "openvpn" in families:
        for cand in openvpn_candidates(params["openvpn_config_dirs"], params["openvpn_socket_dirs"],
                                       params["openvpn_management"], params["discover"]):
            openvpn.append(gather_openvpn(cand, timeout, details, connector=mgmt_connector))
    facts["openvpn"] = openvpn

    if "openvpn3" in families:
        facts["openvpn3"] = gather_openvpn3(timeout, details, runner=busctl_runner, busctl=busctl,
                                            installed=openvpn3_installed(openvpn3_markers))
    else:
        facts["openvpn3"] = {"present": False, "reachable": False, "version": None,
                             "counts": {"sessions": 0, "connected": 0}, "sessions": [], "error": None,
                             "error_kind": None}
    facts["summary"] = summarize(ocserv_instances, openvpn, facts["openvpn3"])
    return facts
