"""Candidate fast paths for the parsers, measured by bench/parser_scale.py next to the real ones.

NOT used by the collection: these show, with the same inputs, what a change in the owners' code
(plugins/module_utils/_ocserv.py, _openvpn_mgmt.py) would give. parser_scale.py checks that each
candidate returns exactly what the collection's parser returns on every benchmark input and on
every captured fixture before it reports a figure for it.

* ``occtl_records``: ``json.loads`` (C) first, with an ``object_pairs_hook`` that builds dicts and
  gives up on duplicate keys; occtl's trailing commas repaired by one regex and ``json.loads``
  again; anything else (``show iroutes`` <= 1.3.x, duplicate keys, control characters...) goes
  to the collection's tolerant reader as today.
* ``parse_status``: the same result as ``_openvpn_mgmt.parse_status`` with the per-column work
  (key name, int or not) decided once per HEADER instead of once per cell.
"""

import json
import re

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv as oc
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_mgmt as om


class _Duplicate(Exception):
    pass


def _pairs(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        raise _Duplicate()
    return d


_TRAILING = re.compile(r",(\s*[}\]])")


def occtl_records(text):
    if not text or not text.strip():
        return []
    for attempt in (text, None):
        if attempt is None:
            attempt = _TRAILING.sub(r"\1", text)
            if attempt == text:
                break
        try:
            doc = json.loads(attempt, object_pairs_hook=_pairs)
        except (ValueError, _Duplicate):
            continue
        if isinstance(doc, dict):
            return [doc] if doc else []
        if isinstance(doc, list) and all(isinstance(x, dict) for x in doc):
            return doc
        break
    return oc.records(text)


def _plan(columns, names):
    plan = []
    for column in columns:
        key = names.get(column) or om._snake(column)
        plan.append((key, key in om._INT_KEYS or column.endswith("(time_t)")))
    return [key for key, _is_int in plan], [i for i, (_key, is_int) in enumerate(plan) if is_int]


_PROTOS = frozenset(p + v + r for p in ("udp", "tcp") for v in ("", "4", "6") for r in ("", "-server", "-client"))


def _split_address(value):
    """``split_real_address`` with a fast path for ``[proto:]IPv4:port``; anything else goes to it."""
    proto, rest = None, value
    p = value.find(":")
    if p > 0 and value[:p] in _PROTOS:
        proto, rest = value[:p], value[p + 1:]
    if rest.count(":") == 1 and rest[:1].isdigit():
        host, port = rest.split(":")
        if port.isdigit():
            return proto, rest, host, int(port)
    return om.split_real_address(value)


def _row(keys, ints, values):
    row = dict(zip(keys, values))
    for i in ints:
        key = keys[i]
        value = row[key]
        if value == "":
            row[key] = None
        else:
            try:
                row[key] = int(value)
            except ValueError:
                row[key] = None
    if "real_address" in row:
        proto, address, host, port = _split_address(row["real_address"])
        row["real_address"] = address
        row["proto"] = proto
        row["real_ip"] = host
        row["real_port"] = port
    if row.get("username") == "UNDEF":
        row["username"] = None
    if "virtual_address" in row and "virtual_ipv6_address" in row:
        row["pending"] = not row["virtual_address"] and not row["virtual_ipv6_address"]
    return row


def parse_status(lines):
    if lines and lines[0].startswith("OpenVPN CLIENT LIST"):
        return om.parse_status(lines)
    result = {"title": None, "updated": None, "clients": [], "routes": [], "global_stats": {}, "rejected": []}
    plans = {}
    names = {"CLIENT_LIST": om._CLIENT_COLUMNS, "ROUTING_TABLE": om._ROUTE_COLUMNS}
    sep = None
    for line in lines:
        if not line:
            continue
        if sep is None or not line.startswith(("CLIENT_LIST" + sep, "ROUTING_TABLE" + sep)):
            match = om._TAG_RE.match(line)
            cur = match.group(2) if match else ","
        else:
            cur = sep
        fields = line.split(cur)
        tag = fields[0]
        if tag in ("CLIENT_LIST", "ROUTING_TABLE"):
            plan = plans.get(tag)
            values = fields[1:]
            if plan is None or len(values) != len(plan[0]):
                result["rejected"].append(line)
                continue
            (result["clients"] if tag == "CLIENT_LIST" else result["routes"]).append(_row(plan[0], plan[1], values))
        elif tag == "HEADER":
            sep = cur
            if len(fields) > 1:
                plans[fields[1]] = _plan(fields[2:], names.get(fields[1], {}))
        elif tag == "TITLE":
            result["title"] = cur.join(fields[1:])
        elif tag == "TIME":
            result["updated_text"] = fields[1] if len(fields) > 1 else None
            result["updated"] = om._int_or_none(fields[2]) if len(fields) > 2 else None
        elif tag == "GLOBAL_STATS":
            if len(fields) >= 3:
                value = cur.join(fields[2:])
                number = om._int_or_none(value)
                result["global_stats"][om._snake(fields[1])] = value if number is None else number
        elif tag == "END":
            break
        else:
            result.setdefault("other", []).append(line)
    return result
