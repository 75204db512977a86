# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the ocserv integration tests: occtl on the servers, openconnect on the client.

Everything here reads the servers' state with occtl itself (valid JSON where occtl prints it,
the plain tables otherwise), independent of the collection's parser.
"""

from __future__ import absolute_import, division, print_function

import json
import re
import shlex
import time

SERVERS = ("bookworm", "trixie", "sid")
VERSION = {"bookworm": "1.1.6", "trixie": "1.3.0", "sid": "1.5.0"}
CLIENT = "client"


def one_task_play(server, name, module, args, check=False, diff=True):
    """A play of one ``vpnfleet.control.MODULE`` task called ``name`` on ``server``, failures kept
    (``ignore_errors``) so that the test reads them; ``args``: the task's option lines as YAML
    (``"name: [bob, nosuch]"``)."""
    lines = ["- hosts: %s" % server, "  gather_facts: false", "  tasks:", "    - name: %s" % name,
             "      vpnfleet.control.%s:" % module]
    lines += ["        %s" % arg for arg in args]
    lines += ["      check_mode: %s" % ("true" if check else "false")]
    if diff:
        lines.append("      diff: true")
    lines.append("      ignore_errors: true")
    return "\n".join(lines) + "\n"


def occtl(lab, host, *args, **kw):
    return lab.run(host, ["occtl"] + list(args), check=False, timeout=kw.get("timeout", 30))


def users(lab, host):
    """`occtl -j show users` (valid JSON on every version) as a list of dicts."""
    res = occtl(lab, host, "-j", "show", "users")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout or "[]")


def connections(lab, host, user):
    return sorted(u["ID"] for u in users(lab, host) if u["Username"] == user)


def valid_sessions(lab, host):
    """`occtl show sessions valid` (plain): [(short sid, user)]."""
    res = occtl(lab, host, "show", "sessions", "valid")
    assert res.returncode == 0, res.stderr
    out = []
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] != "session" and line.rstrip().endswith("authenticated"):
            out.append((parts[0], parts[1]))
    return out


def bans(lab, host):
    """`occtl show ip bans` (plain): {ip: score}."""
    res = occtl(lab, host, "show", "ip", "bans")
    out = {}
    for line in res.stdout.splitlines():
        m = re.match(r"^\s*([0-9a-fA-F:.]+)\s+(\d+)\s", line)
        if m and m.group(1) != "IP":
            out[m.group(1)] = int(m.group(2))
    return out


def ban_points(lab, host):
    res = occtl(lab, host, "show", "ip", "ban", "points")
    out = {}
    for line in res.stdout.splitlines():
        m = re.match(r"^\s*([0-9a-fA-F:.]+)\s+(\d+)\s*$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def wait_until(check, timeout=30, interval=0.3):
    deadline = time.time() + timeout
    value = check()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = check()
    return value


def client(lab, cmd, timeout=60):
    return lab.run(CLIENT, cmd, check=False, timeout=timeout)


def connect_unit(lab, server, user):
    """(Re)start the lab's unit oc-client@SERVER-USER and wait until the user is connected.
    Restart, not start: after the server went away the unit may still be active, its client
    retrying with a cookie the restarted server no longer knows."""
    before = set(connections(lab, server, user))
    client(lab, ["systemctl", "restart", "oc-client@%s-%s" % (server, user)])
    assert wait_until(lambda: set(connections(lab, server, user)) - before, 30), \
        client(lab, ["journalctl", "-n", "30", "-u", "oc-client@%s-%s" % (server, user)]).stdout
    return sorted(set(connections(lab, server, user)) - before)


def unit_active(lab, server, user):
    res = client(lab, ["systemctl", "is-active", "oc-client@%s-%s" % (server, user)])
    return res.stdout.strip() == "active"


def cookie(lab, server, user, password=None):
    """`vfl-oc cookie`: the cookie of a new, unused (idle) session."""
    cmd = ["vfl-oc", "cookie", server, user] + ([password] if password else [])
    res = client(lab, cmd)
    m = re.search(r"^COOKIE='([^']*)'", res.stdout, re.M)
    assert res.returncode == 0 and m, res.stdout + res.stderr
    return m.group(1)


def connect_cookie(lab, server, value, timeout=20):
    """`vfl-oc connect-cookie`: 0 connected (session kept), 2 cookie refused."""
    return client(lab, ["vfl-oc", "connect-cookie", server, value, str(timeout)], timeout=timeout + 30).returncode


def connect_with_cookie_bg(lab, server, value, name):
    """A lasting connection that uses ``value`` (a transient unit vfl-octest-NAME on the client)."""
    script = (
        "read -r n ip port pin < <(awk -v n=%s '$1 == n' /etc/vfl-lab/oc-servers); "
        "exec openconnect --protocol=anyconnect --non-inter --cookie-on-stdin --servercert \"$pin\" "
        "-s /usr/local/lib/vfl-lab/oc-script -i oct-%s --reconnect-timeout 5 \"https://$ip:$port/\" <<<%s"
        % (shlex.quote(server), name[:10], shlex.quote(value)))
    client(lab, ["systemctl", "reset-failed", "vfl-octest-%s" % name])
    res = client(lab, ["systemd-run", "--unit", "vfl-octest-%s" % name, "--collect", "/bin/bash", "-c", script])
    assert res.returncode == 0, res.stderr


def stop_unit(lab, unit):
    client(lab, ["systemctl", "stop", unit])


def ban_attempt(lab, server, user, password=None):
    cmd = ["vfl-oc", "ban-attempt", server, user] + ([password] if password else [])
    return client(lab, cmd).returncode


def server_pid(lab, host):
    res = occtl(lab, host, "-j", "show", "status")
    if res.returncode != 0:
        return None
    return json.loads(res.stdout)["Server PID"]


def restore(lab, server):
    """ocserv running, alice and bob connected (the lab's normal state)."""
    lab.run(server, ["systemctl", "start", "ocserv"], check=False)
    assert wait_until(lambda: server_pid(lab, server), 30)
    for user in ("alice", "bob"):
        if not connections(lab, server, user):
            connect_unit(lab, server, user)


def fresh(lab, server):
    """Restart ocserv (forgets every session: idle cookies of earlier tests cannot be
    invalidated on servers before 1.5.0), then the lab's normal state."""
    lab.run(server, ["systemctl", "restart", "ocserv"], check=False)
    assert wait_until(lambda: server_pid(lab, server), 30)
    for user in ("alice", "bob"):
        client(lab, ["systemctl", "stop", "oc-client@%s-%s" % (server, user)])
    restore(lab, server)
