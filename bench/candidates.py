"""The parsers as they were before their fast paths, measured by bench/parser_scale.py next to the
collection's current ones (same inputs, same run) to show what the fast paths changed.

NOT used by the collection. parser_scale.py checks that each returns exactly what the collection's
parser returns on every benchmark input and on every captured fixture before it reports a figure.

* ``occtl_records``: occtl ``-j`` output read by the collection's tolerant reader alone
  (``_ocserv_parsers.tolerant_records``: ``parse_json``, a recursive-descent reader in Python) for every
  output, as ``_ocserv_parsers.records`` did before it tried ``json.loads`` first.
* ``parse_status``: ``status 2``/``3`` parsed with the column's key and int-ness looked up per
  cell and every real address split by the regex of ``split_real_address``, as
  ``_openvpn_parsers.parse_status`` did before it planned the columns once per HEADER.
"""

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_parsers as ocp
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_parsers as op
from ansible_collections.vpnfleet.control.plugins.module_utils._common import to_int


def occtl_records(text):
    return ocp.tolerant_records(text)


def parse_status(lines):
    if lines and lines[0].startswith("OpenVPN CLIENT LIST"):
        return op.parse_status(lines)
    result = {"title": None, "updated": None, "clients": [], "routes": [], "global_stats": {}, "rejected": []}
    headers = {}
    for line in lines:
        if not line:
            continue
        match = op._TAG_RE.match(line)
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
        elif tag == "GLOBAL_STATS":
            if len(fields) >= 3:
                value = sep.join(fields[2:])
                number = to_int(value)
                result["global_stats"][op._snake(fields[1])] = value if number is None else number
        elif tag in ("CLIENT_LIST", "ROUTING_TABLE"):
            columns = headers.get(tag)
            values = fields[1:]
            if columns is None or len(values) != len(columns):
                result["rejected"].append(line)
                continue
            if tag == "CLIENT_LIST":
                result["clients"].append(op._row_to_dict(columns, values, op._CLIENT_COLUMNS))
            else:
                result["routes"].append(op._row_to_dict(columns, values, op._ROUTE_COLUMNS))
        elif tag == "END":
            break
        else:
            result.setdefault("other", []).append(line)
    return result
