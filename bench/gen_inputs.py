#!/usr/bin/env python
"""Large parser inputs made by scaling up outputs captured from real servers.

The captures are the unit-test fixtures (tests/unit/fixtures/, written by the capture scripts
in tests/capture/ against real ocserv and OpenVPN servers). Nothing here is invented: the
generator keeps the server's bytes (indentation, tabs, separators, trailing commas, CRLF, the
header lines) and repeats the captured records, cycling through them, changing only what must
differ between records: connection ID, user name, session ids, addresses, device, client id.

    bench/gen_inputs.py occtl-users 1.5.0 10000 > users.json
    bench/gen_inputs.py occtl-sessions 1.1.6 10000 > sessions.json
    bench/gen_inputs.py openvpn-status 2.6.14 10000 > status3.txt
"""

import base64
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "tests", "unit", "fixtures")

_RECORD_RE = re.compile(r"  \{\n.*?\n  \}", re.S)


def _fixture(*parts):
    with open(os.path.join(FIXTURES, *parts)) as f:
        return json.load(f)


def _sid(i):
    """A deterministic 28-character base64 session id (20 bytes), like occtl's."""
    return base64.b64encode(hashlib.sha1(b"vpnfleet-bench-%d" % i).digest()).decode()


def _ip(prefix, i):
    return "%s.%d.%d" % (prefix, (i // 250) % 250, i % 250 + 2)


def _split_occtl(stdout):
    """(head, [record texts], separators, tail) of an occtl ``-j`` array."""
    spans = [m.span() for m in _RECORD_RE.finditer(stdout)]
    if not spans:
        raise ValueError("no records in the capture")
    head = stdout[:spans[0][0]]
    tail = stdout[spans[-1][1]:]
    recs = [stdout[a:b] for a, b in spans]
    seps = [stdout[spans[k][1]:spans[k + 1][0]] for k in range(len(spans) - 1)] or [",\n"]
    return head, recs, seps, tail


def _sub_value(text, key, value, quoted=True):
    """Replace the value of ``key`` (first occurrence), keeping occtl's spacing."""
    pat = r'("%s":\s+)%s' % (re.escape(key), r'"[^"]*"' if quoted else r"-?\d+")
    val = '"%s"' % value if quoted else value
    return re.sub(pat, lambda m: m.group(1) + val, text, count=1)


def occtl_scaled(version, capture, n):
    """``capture`` (e.g. ``users_json``) of ocserv ``version`` with ``n`` records."""
    fx = _fixture("ocserv", version, "connected", capture + ".json")
    head, recs, seps, tail = _split_occtl(fx["stdout"])
    out = [head]
    for i in range(n):
        rec = recs[i % len(recs)]
        sid = _sid(i)
        rec = _sub_value(rec, "ID", str(100000 + i), quoted=False)
        rec = _sub_value(rec, "Username", "user%05d" % i)
        rec = _sub_value(rec, "Full session", sid)
        rec = _sub_value(rec, "Session", sid[:6])
        rec = _sub_value(rec, "Remote IP", _ip("10.200", i))
        rec = _sub_value(rec, "IPv4", _ip("10.100", i))
        rec = _sub_value(rec, "Device", "vpns%d" % i)
        out.append(rec)
        if i < n - 1:
            out.append(seps[i % len(seps)])
    out.append(tail)
    return "".join(out)


def openvpn_status_capture(version, status="3"):
    """The captured reply to ``status N`` (bytes as text, CRLF line ends)."""
    fx = _fixture("openvpn", version, "basics.json")
    events = fx["events"]
    for k, ev in enumerate(events):
        if ev.get("dir") == "send" and ev.get("data") == "status %s\n" % status:
            data = ""
            for nxt in events[k + 1:]:
                if nxt.get("dir") != "recv":
                    break
                data += nxt["data"]
            return data
    raise ValueError("no status %s in the %s capture" % (status, version))


def openvpn_status_scaled(version, n, status="3"):
    """``status 3`` (TAB) or ``status 2`` (comma) with ``n`` clients and ``n`` routes."""
    text = openvpn_status_capture(version, status)
    sep = "\t" if status == "3" else ","
    lines = text.split("\r\n")
    clients = [ln for ln in lines if ln.startswith("CLIENT_LIST" + sep)]
    routes = [ln for ln in lines if ln.startswith("ROUTING_TABLE" + sep)]
    if not clients or not routes:
        raise ValueError("capture has no CLIENT_LIST/ROUTING_TABLE rows")
    out = []
    for ln in lines:
        if ln.startswith("CLIENT_LIST" + sep) or ln.startswith("ROUTING_TABLE" + sep):
            continue
        out.append(ln)
        if ln.startswith("HEADER" + sep + "CLIENT_LIST"):
            for i in range(n):
                f = clients[i % len(clients)].split(sep)
                # CLIENT_LIST,CN,Real,Virtual,VirtualV6,rx,tx,since,since_t,user,cid,peer,cipher
                proto = ""
                if ":" in f[2] and not f[2].split(":")[0].replace(".", "").isdigit():
                    proto = f[2].split(":")[0] + ":"
                f[1] = "client%05d" % i
                f[2] = "%s%s:%d" % (proto, _ip("127.1", i), 40000 + i % 20000)
                f[3] = _ip("10.77", i)
                f[10] = str(i)
                f[11] = str(i)
                out.append(sep.join(f))
        if ln.startswith("HEADER" + sep + "ROUTING_TABLE"):
            for i in range(n):
                f = routes[i % len(routes)].split(sep)
                proto = ""
                if ":" in f[3] and not f[3].split(":")[0].replace(".", "").isdigit():
                    proto = f[3].split(":")[0] + ":"
                f[1] = _ip("10.77", i)
                f[2] = "client%05d" % i
                f[3] = "%s%s:%d" % (proto, _ip("127.1", i), 40000 + i % 20000)
                out.append(sep.join(f))
    return "\r\n".join(out)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    kind, version, n = argv[0], argv[1], int(argv[2])
    if kind == "occtl-users":
        sys.stdout.write(occtl_scaled(version, "users_json", n))
    elif kind == "occtl-sessions":
        sys.stdout.write(occtl_scaled(version, "sessions_all_json", n))
    elif kind == "openvpn-status":
        sys.stdout.write(openvpn_status_scaled(version, n))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
