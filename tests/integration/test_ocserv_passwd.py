# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_passwd against the lab's real ocserv 1.1.6, 1.3.0 and 1.5.0: every step is checked by
logging in with openconnect from the lab's client host (and by the real ocpasswd on the server)."""

from __future__ import absolute_import, division, print_function

import base64
import os
import random
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ocserv_support as oc  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), ".build", "collections"))
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocpasswd  # noqa: E402

PLAYBOOK = os.path.join(HERE, "playbooks", "ocserv_passwd", "user.yml")
PASSWD = "/etc/ocserv/ocpasswd"


def login(lab, server, user, password):
    """True when openconnect authenticates (cookie only, no tunnel) as user/password."""
    res = oc.client(lab, ["timeout", "30", "vfl-oc", "cookie", server, user, password], timeout=60)
    return res.returncode == 0 and "COOKIE=" in res.stdout


def line_of(lab, server, user):
    lines = [x for x in lab.run(server, ["cat", PASSWD]).stdout.splitlines() if x.split(":", 1)[0] == user]
    return lines[0] if len(lines) == 1 else (None if not lines else lines)


def run(lab, check=False, **extra):
    res = lab.playbook(PLAYBOOK, extra_vars=extra, check=check, diff=True)
    secret = extra.get("pw_password")
    assert "$5$" not in res.stdout and "$6$" not in res.stdout, "a hash leaked into the output"
    if secret:
        assert secret not in res.stdout and secret not in res.stderr, "the password leaked into the output"
    assert res.rc == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.results("Passwd")


@pytest.fixture
def user(lab):
    name = "vfpw%04d" % random.randint(0, 9999)
    yield name
    lab.playbook(PLAYBOOK, extra_vars={"pw_user": name, "pw_state": "absent"})
    for server in oc.SERVERS:
        assert line_of(lab, server, name) is None


def test_lifecycle_with_real_logins(lab, user):
    pw1, pw2 = "First-%d!" % random.randint(0, 10 ** 6), "Second pw %d" % random.randint(0, 10 ** 6)
    before = dict((s, lab.run(s, ["cat", PASSWD]).stdout) for s in oc.SERVERS)

    # check mode predicts, changes nothing
    res = run(lab, check=True, pw_user=user, pw_password=pw1)
    for server in oc.SERVERS:
        assert res[server]["changed"] and res[server]["created"]
        assert lab.run(server, ["cat", PASSWD]).stdout == before[server]
        assert not login(lab, server, user, pw1)

    # create: the line is ocpasswd's format, the file keeps 0600 root, the user logs in
    res = run(lab, pw_user=user, pw_password=pw1)
    for server in oc.SERVERS:
        assert res[server]["changed"] and res[server]["password_changed"]
        assert res[server]["diff"]["after"] == "%s:*:<new sha256 hash>\n" % user
        line = line_of(lab, server, user)
        assert line.startswith(user + ":*:$5$") and len(line.split("$")[-1]) == 43
        assert lab.run(server, ["stat", "-c", "%a %U %G", PASSWD]).stdout.split() == ["600", "root", "root"]
        assert login(lab, server, user, pw1)
        assert not login(lab, server, user, pw2)
        assert login(lab, server, "alice", "alice-pw")   # the lab's own users untouched

    # second run: nothing to do (the password is checked against the stored hash)
    res = run(lab, pw_user=user, pw_password=pw1)
    assert not any(r["changed"] for r in res.values())

    # new password (SHA-512 this time): old refused, new accepted
    res = run(lab, pw_user=user, pw_password=pw2, pw_hash_scheme="sha512")
    for server in oc.SERVERS:
        assert res[server]["changed"] and res[server]["hash_scheme"] == "sha512"
        assert line_of(lab, server, user).startswith(user + ":*:$6$")
        assert login(lab, server, user, pw2)
        assert not login(lab, server, user, pw1)
    res = run(lab, pw_user=user, pw_password=pw2)   # sha256 asked, sha512 stored: matches, no change
    assert not any(r["changed"] for r in res.values())

    # lock: login refused; idempotent; unlocked by ocpasswd itself; relocked by ocpasswd
    res = run(lab, pw_user=user, pw_state="locked")
    for server in oc.SERVERS:
        assert res[server]["changed"] and res[server]["locked"]
        assert line_of(lab, server, user).startswith(user + ":*:!$6$")
        assert not login(lab, server, user, pw2)
    assert not any(r["changed"] for r in run(lab, pw_user=user, pw_state="locked").values())
    for server in oc.SERVERS:
        lab.run(server, ["ocpasswd", "-c", PASSWD, "-u", user])
    assert not any(r["changed"] for r in run(lab, pw_user=user, pw_state="unlocked").values())
    for server in oc.SERVERS:
        lab.run(server, ["ocpasswd", "-c", PASSWD, "-l", user])
    assert not any(r["changed"] for r in run(lab, pw_user=user, pw_state="locked", pw_password=pw2).values())

    # unlock: login works again with the same password
    res = run(lab, pw_user=user, pw_state="unlocked")
    for server in oc.SERVERS:
        assert res[server]["changed"] and not res[server]["locked"]
        assert login(lab, server, user, pw2)

    # groups, comma-separated like ocpasswd -g; the password stays
    res = run(lab, pw_user=user, pw_group="vfstaff,vfops")
    for server in oc.SERVERS:
        assert res[server]["changed"] and res[server]["groups"] == ["vfstaff", "vfops"]
        assert not res[server]["password_changed"]
        assert line_of(lab, server, user).startswith(user + ":vfstaff,vfops:$6$")
        assert login(lab, server, user, pw2)

    # absent: login refused, every other line as it was
    res = run(lab, pw_user=user, pw_state="absent")
    for server in oc.SERVERS:
        assert res[server]["changed"] and not res[server]["exists"]
        assert line_of(lab, server, user) is None
        assert not login(lab, server, user, pw2)
        assert lab.run(server, ["cat", PASSWD]).stdout == before[server]
    assert not any(r["changed"] for r in run(lab, pw_user=user, pw_state="absent").values())


def test_ocpasswd_made_user_is_idempotent(lab, user):
    """A user created by the real ocpasswd: the module recognises its password and lock."""
    for server in oc.SERVERS:
        lab.run(server, ["ocpasswd", "-c", PASSWD, "-g", "vfstaff", user], input="pw-%s\npw-%s\n" % (user, user))
    res = run(lab, pw_user=user, pw_password="pw-" + user, pw_group="vfstaff")
    assert not any(r["changed"] for r in res.values())
    for server in oc.SERVERS:
        lab.run(server, ["ocpasswd", "-c", PASSWD, "-l", user])
    res = run(lab, pw_user=user, pw_password="pw-" + user, pw_state="locked")
    assert not any(r["changed"] for r in res.values())
    res = run(lab, pw_user=user, pw_password="pw-" + user, pw_state="present", pw_update_password="on_create")
    assert not any(r["changed"] for r in res.values())
    for server in oc.SERVERS:
        assert not login(lab, server, user, "pw-" + user)


# ---------------------------------------------------------------- issue 12, item 2: the file as ocserv reads it

def file_bytes(lab, server):
    return base64.b64decode(lab.run(server, ["base64", "-w0", PASSWD]).stdout)


def put_bytes(lab, server, data):
    """Replace the content of the password file (same inode, mode and owner kept)."""
    lab.run(server, ["sh", "-c", "base64 -d > %s" % PASSWD], input=base64.b64encode(data).decode())


def one_task(args, hosts="ocserv_servers"):
    return oc.one_task_play(hosts, "Passwd", "ocserv_passwd", args)


def test_real_ocserv_reads_510_bytes_at_a_time(lab):
    """What the collection's reader model says, checked on ocserv 1.1.6, 1.3.0 and 1.5.0: a line is
    read in pieces of 510 bytes and the second piece is taken as a line of its own. So a line whose
    byte 511 starts 'vfinj:*:HASH' gives vfinj a login, and one byte less does not. With such a line
    in the file, the module refuses to claim a lock of vfinj (ocserv would still read the injected
    entry), and refuses the multibyte name that would write such a line."""
    pw = "inj-%d" % random.randint(0, 10 ** 6)
    hashed = _ocpasswd.make_hash(pw).encode()
    before = dict((s, file_bytes(lab, s)) for s in oc.SERVERS)
    try:
        for pad, reads in ((510, True), (509, False)):
            line = b"vfpad:*:" + b"x" * (pad - len(b"vfpad:*:")) + b"vfinj:*:" + hashed + b"\n"
            for server in oc.SERVERS:
                data = before[server] + line
                put_bytes(lab, server, data)
                assert (_ocpasswd.ocserv_entry(data, "vfinj") is not None) == reads
                assert login(lab, server, "vfinj", pw) == reads, (server, pad)
            if reads:
                res = lab.playbook(one_task(["name: vfinj", "state: locked"]))
                for server in oc.SERVERS:
                    got = res.result("Passwd", server)
                    assert got["failed"] and got["error_kind"] == "invalid" and "fix the file" in got["msg"], got
                    assert file_bytes(lab, server) == before[server] + line
        # the name that would write such a line: 255 two-byte characters, then the target
        for server in oc.SERVERS:
            put_bytes(lab, server, before[server])
        res = lab.playbook(one_task(["name: '{{ vf_name }}'", "password: '{{ vf_pw }}'"]),
                           extra_vars={"vf_name": u"\u00e9" * 255 + "vfinj", "vf_pw": pw})
        for server in oc.SERVERS:
            got = res.result("Passwd", server)
            assert got["failed"] and got["error_kind"] == "invalid" and "bytes" in got["msg"], got
            assert file_bytes(lab, server) == before[server]
            assert not login(lab, server, "vfinj", pw)
    finally:
        for server in oc.SERVERS:
            put_bytes(lab, server, before[server])


HOSTILE = [
    ({"vf_name": u"mallory\u0085bob", "vf_pw": "x-pw-1"}, "not allowed"),
    ({"vf_name": u"mallory\u2028bob", "vf_pw": "x-pw-1"}, "not allowed"),
    ({"vf_name": u"mallory\x0bbob", "vf_pw": "x-pw-1"}, "not allowed"),
    ({"vf_name": u" alice", "vf_pw": "x-pw-1"}, "white space"),
    ({"vf_name": u"alice ", "vf_pw": "x-pw-1"}, "white space"),
    ({"vf_name": u"vfnew", "vf_pw": "a\nb"}, "not allowed"),
    ({"vf_name": u"vfnew", "vf_pw": ""}, "allow_empty_password"),
]


def test_hostile_values_refused_file_byte_identical(lab):
    """Each value fails with error_kind invalid on every server and the file stays byte-identical
    (alice and bob still log in)."""
    before = dict((s, file_bytes(lab, s)) for s in oc.SERVERS)
    for extra, needle in HOSTILE:
        res = lab.playbook(one_task(["name: '{{ vf_name }}'", "password: '{{ vf_pw }}'", "group: [vfstaff]"]),
                           extra_vars=extra)
        assert extra["vf_pw"] not in res.stdout or not extra["vf_pw"]
        for server in oc.SERVERS:
            got = res.result("Passwd", server)
            assert got["failed"] and got["error_kind"] == "invalid" and needle in got["msg"], (extra, got)
    for server in oc.SERVERS:
        assert file_bytes(lab, server) == before[server]
        assert not lab.run(server, ["test", "-e", PASSWD + ".tmp"], check=False).returncode == 0
        assert login(lab, server, "alice", "alice-pw")
