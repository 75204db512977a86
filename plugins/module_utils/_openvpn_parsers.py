# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers of the OpenVPN 2.x management interface's replies (private): ``status`` 1/2/3 and a
client's statistics, ``version``, ``state``, ``load-stats``, ``pid``, ``hold`` and real-time
notifications.  No I/O here; ``_openvpn_client`` reads the replies, these turn them into dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, to_int


class ManagementError(VpnControlError):
    """A failure talking to the management interface or reading its replies (message fit for ``msg``)."""


def _snake(name):
    name = re.sub(r"\(time_t\)", "time_t", name)
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


_PROTO_RE = re.compile(r"^(udp|tcp)[46]?(-server|-client)?:", re.IGNORECASE)


def split_real_address(value):
    """A status ``Real Address`` as ``(proto, address, host, port)``.

    The forms OpenVPN prints (``mroute_addr_print``): ``1.2.3.4:5``; IPv6
    without a port (``2001:db8::1``: OpenVPN finds ``addr:port`` too ambiguous),
    IPv6 with a port in brackets (``[2001:db8::1]:5``), a v4-mapped IPv6 address
    as IPv4 (``1.2.3.4:5``); 2.7 prefixes the protocol (``udp4:``,
    ``tcp6-server:``...).  ``udp4:1.2.3.4:5`` -> (``udp4``, ``1.2.3.4:5``,
    ``1.2.3.4``, 5); ``2001:db8::1`` -> (None, ``2001:db8::1``, ``2001:db8::1``, None).
    """
    proto = None
    address = value or ""
    match = _PROTO_RE.match(address)
    if match:
        proto = match.group(0)[:-1]
        address = address[match.end():]
    host, port = address, None
    if address.startswith("["):
        head, sep, tail = address.partition("]")
        if sep and (not tail or (tail[:1] == ":" and tail[1:].isdigit())):
            host = head[1:]
            port = int(tail[1:]) if tail else None
    elif address.count(":") == 1:
        head, _sep, tail = address.partition(":")
        if tail.isdigit():
            host, port = head, int(tail)
    return proto, address, host, port


_PROTOS = frozenset(p + v + r for p in ("udp", "tcp") for v in ("", "4", "6") for r in ("", "-server", "-client"))


def _split_real_address_fast(value):
    """``split_real_address`` with a fast path for ``[proto:]IPv4:port``; anything else goes to it."""
    proto, rest = None, value
    colon = value.find(":")
    if colon > 0 and value[:colon] in _PROTOS:
        proto, rest = value[:colon], value[colon + 1:]
    if rest.count(":") == 1 and rest[:1].isdigit():
        host, port = rest.split(":")
        if port.isdigit():
            return proto, rest, host, int(port)
    return split_real_address(value)


_CLIENT_COLUMNS = {
    "Common Name": "common_name",
    "Real Address": "real_address",
    "Virtual Address": "virtual_address",
    "Virtual IPv6 Address": "virtual_ipv6_address",
    "Bytes Received": "bytes_received",
    "Bytes Sent": "bytes_sent",
    "Connected Since": "connected_since_text",
    "Connected Since (time_t)": "connected_since",
    "Username": "username",
    "Client ID": "client_id",
    "Peer ID": "peer_id",
    "Data Channel Cipher": "cipher",
}
_ROUTE_COLUMNS = {
    "Virtual Address": "virtual_address",
    "Common Name": "common_name",
    "Real Address": "real_address",
    "Last Ref": "last_ref_text",
    "Last Ref (time_t)": "last_ref",
}
_INT_KEYS = frozenset(["bytes_received", "bytes_sent", "connected_since", "client_id", "peer_id", "last_ref"])


def _row_to_dict(columns, fields, names):
    row = {}
    for column, value in zip(columns, fields):
        key = names.get(column) or _snake(column)
        if key in _INT_KEYS or column.endswith("(time_t)"):
            row[key] = to_int(value)
        else:
            row[key] = value
    return _finish_row(row, split_real_address)


def _finish_row(row, split_address):
    """What every status row gets after its columns: the real address split (``proto``,
    ``real_ip``, ``real_port``), ``UNDEF`` user names as None, ``pending`` for clients,
    ``cached`` for routes (OpenVPN appends ``C`` to the virtual address of a route it
    learned from traffic and keeps in its cache: ``10.8.0.6C``)."""
    if "real_address" in row:
        proto, address, host, port = split_address(row["real_address"])
        row["real_address"] = address
        row["proto"] = proto
        row["real_ip"] = host
        row["real_port"] = port
    if row.get("username") == "UNDEF":
        row["username"] = None
    if "last_ref_text" in row or "last_ref" in row:
        virtual = row.get("virtual_address") or ""
        row["cached"] = len(virtual) > 1 and virtual.endswith("C")
        if row["cached"]:
            row["virtual_address"] = virtual[:-1]
    if "virtual_address" in row and "virtual_ipv6_address" in row:
        # Clients pending management-client-auth have no virtual address yet.
        row["pending"] = not row["virtual_address"] and not row["virtual_ipv6_address"]
    return row


def _column_plan(columns, names):
    """What a HEADER's columns become, decided once per HEADER: ``(keys, int_indexes)``,
    or ``None`` when two columns give the same key (then ``_row_to_dict`` does it per row)."""
    keys = []
    ints = []
    for index, column in enumerate(columns):
        key = names.get(column) or _snake(column)
        keys.append(key)
        if key in _INT_KEYS or column.endswith("(time_t)"):
            ints.append(index)
    if len(set(keys)) != len(keys):
        return None
    return keys, ints


def _planned_row(keys, ints, values):
    """``_row_to_dict`` for a row whose HEADER has a plan (same result)."""
    row = dict(zip(keys, values))
    for index in ints:
        key = keys[index]
        value = row[key]
        if value == "":
            row[key] = None
        else:
            try:
                row[key] = int(value)
            except ValueError:
                row[key] = None
    return _finish_row(row, _split_real_address_fast)


def _add_row(result, client, columns, values, line):
    """A status row into ``clients`` (``client``) or ``routes``; into ``rejected`` when its
    field count differs from its header's (or there is no header)."""
    if columns is None or len(values) != len(columns):
        result["rejected"].append(line)
    elif client:
        result["clients"].append(_row_to_dict(columns, values, _CLIENT_COLUMNS))
    else:
        result["routes"].append(_row_to_dict(columns, values, _ROUTE_COLUMNS))


_TAG_RE = re.compile(r"^([A-Z_]+)([,\t])")
_ROW_NAMES = {"CLIENT_LIST": _CLIENT_COLUMNS, "ROUTING_TABLE": _ROUTE_COLUMNS}


def parse_status(lines):
    """``status 2`` / ``status 3`` (and best effort ``status 1``) as a dict.

    Returns ``{title, updated, clients, routes, global_stats, rejected}``;
    ``rejected`` lists rows whose field count differs from their HEADER.
    """
    if lines and lines[0].startswith("OpenVPN CLIENT LIST"):
        return _parse_status_v1(lines)
    if lines and lines[0].startswith("OpenVPN STATISTICS"):
        return _parse_statistics(lines)
    result = {"title": None, "updated": None, "clients": [], "routes": [], "global_stats": {}, "rejected": []}
    headers = {}
    plans = {}
    clients = result["clients"]
    routes = result["routes"]
    row_prefixes = row_sep = None
    for line in lines:
        if not line:
            continue
        # status 2 separates with commas, status 3 with TABs (a comma in a
        # value then does not split it). Rows (the bulk) are recognised by their tag and
        # the separator of the last HEADER without the regex, and built by the HEADER's plan.
        if row_prefixes is not None and line.startswith(row_prefixes):
            fields = line.split(row_sep)
            tag = fields[0]
            plan = plans.get(tag)
            if plan is not None:
                values = fields[1:]
                if len(values) != len(plan[0]):
                    result["rejected"].append(line)
                elif tag == "CLIENT_LIST":
                    clients.append(_planned_row(plan[0], plan[1], values))
                else:
                    routes.append(_planned_row(plan[0], plan[1], values))
                continue
        match = _TAG_RE.match(line)
        sep = match.group(2) if match else ","
        fields = line.split(sep)
        tag = fields[0]
        if tag == "TITLE":
            result["title"] = sep.join(fields[1:])
        elif tag == "TIME":
            result["updated_text"] = fields[1] if len(fields) > 1 else None
            result["updated"] = to_int(fields[2]) if len(fields) > 2 else None
        elif tag == "HEADER":
            if len(fields) > 1:
                headers[fields[1]] = fields[2:]
                if fields[1] in _ROW_NAMES:
                    plans[fields[1]] = _column_plan(fields[2:], _ROW_NAMES[fields[1]])
                    row_prefixes, row_sep = ("CLIENT_LIST" + sep, "ROUTING_TABLE" + sep), sep
        elif tag == "GLOBAL_STATS":
            if len(fields) >= 3:
                value = sep.join(fields[2:])
                number = to_int(value)
                result["global_stats"][_snake(fields[1])] = value if number is None else number
        elif tag in ("CLIENT_LIST", "ROUTING_TABLE"):
            _add_row(result, tag == "CLIENT_LIST", headers.get(tag), fields[1:], line)
        elif tag == "END":
            break
        else:
            result.setdefault("other", []).append(line)
    return result


def _parse_statistics(lines):
    """The status of an OpenVPN client (``OpenVPN STATISTICS``, ``name,value`` lines)."""
    result = {"title": lines[0], "updated": None, "clients": [], "routes": [], "global_stats": {}, "rejected": [],
              "statistics": {}}
    for line in lines[1:]:
        if line == "END":
            break
        name, sep, value = line.partition(",")
        if not sep:
            result["rejected"].append(line)
        elif name == "Updated":
            result["updated_text"] = value
        else:
            number = to_int(value)
            result["statistics"][_snake(name)] = value if number is None else number
    return result


def _parse_status_v1(lines):
    result = {"title": None, "updated": None, "clients": [], "routes": [], "global_stats": {}, "rejected": []}
    section = None
    columns = None
    for line in lines[1:]:
        if line.startswith("Updated,"):
            result["updated_text"] = line.split(",", 1)[1]
            continue
        if line == "END":
            break
        if line in ("ROUTING TABLE", "GLOBAL STATS"):
            section = line
            columns = None
            continue
        if section is None:
            section = "CLIENT LIST"
        if section == "GLOBAL STATS":
            name, _sep, value = line.partition(",")
            number = to_int(value)
            result["global_stats"][_snake(name)] = value if number is None else number
            continue
        fields = line.split(",")
        if columns is None:
            columns = fields
            continue
        _add_row(result, section == "CLIENT LIST", columns, fields, line)
    return result


def parse_version(lines):
    """``version``: ``{openvpn, management, title, platform, features, ...}``."""
    result = {"openvpn": None, "management": None, "title": None, "platform": None, "features": []}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if name == "OpenVPN Version":
            result.update(parse_title(value))
        elif name == "Management Version":
            result["management"] = to_int(value)
        else:
            result[_snake(name)] = value
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", result["openvpn"] or "")
    if match:
        result["openvpn_tuple"] = [int(part or 0) for part in match.groups()]
    return result


_TITLE_TOKEN_RE = re.compile(r"\s*(\[[^\]]*\]|built on .*|\S+)")


def parse_title(title):
    """OpenVPN's title string (``version`` and the status TITLE).

    ``OpenVPN 2.7.0 [git:makepkg/ee1577744fb09af7+] x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO] built on Feb 11 2026``
    -> ``openvpn`` 2.7.0, ``git`` makepkg/ee1577744fb09af7+, ``platform`` x86_64-pc-linux-gnu,
    ``features`` [SSL (OpenSSL), LZO], ``built_on`` Feb 11 2026.  Any platform
    (``Windows-MSVC``, ``amd64-portbld-freebsd14.1``, ...); missing parts are None.
    """
    result = {"title": title, "openvpn": None, "platform": None, "features": [], "git": None, "built_on": None}
    tokens = _TITLE_TOKEN_RE.findall(title or "")
    if len(tokens) < 2 or tokens[0] != "OpenVPN" or tokens[1].startswith("["):
        return result
    result["openvpn"] = tokens[1]
    for token in tokens[2:]:
        if token.startswith("["):
            inner = token[1:-1]
            if inner.startswith("git:"):
                result["git"] = inner[len("git:"):]
            else:
                result["features"].append(inner)
        elif token.startswith("built on "):
            result["built_on"] = token[len("built on "):].strip()
        elif result["platform"] is None and not result["features"]:
            result["platform"] = token
    return result


_STATE_FIELDS = [
    "time", "state", "description", "local_ip", "remote_ip", "remote_port",
    "local_address", "local_port", "local_ipv6",
]


def parse_state_line(line):
    fields = line.split(",")
    state = {}
    for index, name in enumerate(_STATE_FIELDS):
        value = fields[index] if index < len(fields) else ""
        if name in ("time", "remote_port", "local_port"):
            state[name] = to_int(value)
        else:
            state[name] = value
    return state


def parse_state(lines):
    """Bare ``state``: the current state as a dict (``state all``: the last line)."""
    lines = [line for line in lines if line and line != "END" and not line.startswith(">")]
    if not lines:
        return {}
    return parse_state_line(lines[-1])


def _parse_key_values(text, what):
    result = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise ManagementError("Cannot parse the %s reply: %r" % (what, text), kind="protocol")
        number = to_int(value.strip())
        result[name.strip()] = value.strip() if number is None else number
    return result


def parse_load_stats(text):
    """``nclients=3,bytesin=6110,bytesout=6425`` -> ints."""
    return _parse_key_values(text, "load-stats")


def parse_pid(text):
    values = _parse_key_values(text, "pid")
    if not isinstance(values.get("pid"), int):
        raise ManagementError("Cannot parse the pid reply: %r" % text, kind="protocol")
    return values["pid"]


def parse_hold(text):
    values = _parse_key_values(text, "hold")
    return values.get("hold")


def parse_notification(lines):
    """A real-time message (one line, or a ``>CLIENT:`` block) as a dict."""
    first = lines[0][1:]
    source, _sep, body = first.partition(":")
    note = {"source": source, "text": body, "raw": list(lines)}
    if source == "CLIENT":
        event, _sep, rest = body.partition(",")
        note["event"] = event
        note["args"] = rest.split(",") if rest else []
        env = {}
        for line in lines[1:]:
            item = line[len(">CLIENT:ENV,"):]
            if item == "END":
                continue
            name, _sep, value = item.partition("=")
            env[name] = value
        note["env"] = env
    elif source == "STATE":
        note["state"] = parse_state_line(body)
    elif source in ("HOLD", "INFO", "FATAL", "PASSWORD", "NEED-OK", "NEED-STR", "INFOMSG"):
        pass
    elif source in ("BYTECOUNT", "BYTECOUNT_CLI", "LOG", "NOTIFY", "ECHO"):
        note["args"] = body.split(",")
    return note
