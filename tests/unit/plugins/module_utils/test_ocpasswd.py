# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ocpasswd file and crypt code, on hashes and files made by the real tools.

Fixtures: tests/unit/fixtures/ocpasswd/ (tests/capture/capture_ocpasswd.py).
"""

from __future__ import absolute_import, division, print_function

import glob
import json
import os
import re
import stat
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocpasswd as o
except ImportError:  # plain pytest from the checkout: the collection is linked under .build
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocpasswd as o
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError

FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocpasswd")
with open(os.path.join(FIXTURES, "hashes.json")) as _f:
    HASHES = json.load(_f)
SESSIONS = []
for _path in sorted(glob.glob(os.path.join(FIXTURES, "ocpasswd_*.json"))):
    with open(_path) as _f:
        SESSIONS.append(json.load(_f))

PURE = ("md5", "sha256", "sha512")
HASH_RE = re.compile(r"^\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$")


def _id(item):
    return "%s|%s|%s" % (item["source"], item["password"][:12], item["hash"][:12])


@pytest.mark.parametrize("item", HASHES, ids=_id)
def test_verify_real_hashes(item):
    scheme = o.hash_scheme(item["hash"])
    pure = scheme in PURE
    # SHA/MD5 crypt must work without the system library (Python 3.13+ hosts without crypt)
    assert o.verify(item["password"], item["hash"], allow_system=not pure) is True
    assert o.verify(item["password"] + "x", item["hash"], allow_system=not pure) is False
    assert o.verify(item["password"], "!" + item["hash"], allow_system=not pure) is True
    if pure:
        assert o.crypt(item["password"], item["hash"], allow_system=False) == item["hash"]


def test_fixture_covers_every_source():
    sources = " ".join(sorted(set(i["source"] for i in HASHES)))
    for needle in ("ocpasswd", "openssl", "passwd -1", "passwd -5", "passwd -6", "crypt", "$y$", "$2b$"):
        assert needle in sources


def test_schemes():
    assert o.hash_scheme("$5$abc$def") == "sha256"
    assert o.hash_scheme("!$6$abc$def") == "sha512"
    assert o.hash_scheme("$1$abc$def") == "md5"
    assert o.hash_scheme("$y$j9T$abc$def") == "yescrypt"
    assert o.hash_scheme("$2b$05$xyz") == "bcrypt"
    assert o.hash_scheme("") == "empty"
    assert o.hash_scheme("CL.RpDpANjndw") == "des"
    assert o.hash_scheme("$9$what") == "unknown"


def test_cannot_verify_without_library():
    yes = [i for i in HASHES if o.hash_scheme(i["hash"]) == "yescrypt"][0]
    with pytest.raises(o.CannotVerify):
        o.verify(yes["password"], yes["hash"], allow_system=False)


def test_rounds_out_of_range_is_never_valid():
    # libxcrypt (Debian's crypt, used by ocserv) returns "*0" for these: no login can match
    for setting in ("$5$rounds=10$abc", "$6$rounds=01000$abc", "$5$rounds=1000000000$abc", "$5$rounds=$abc"):
        with pytest.raises(o.CannotVerify):
            o.crypt("pw", setting, allow_system=False)


def test_make_hash_like_ocpasswd():
    hashed = o.make_hash("secret")
    assert HASH_RE.match(hashed)
    assert o.verify("secret", hashed)
    assert o.make_hash("secret") != hashed  # fresh salt
    h512 = o.make_hash("secret", "sha512", rounds=6000)
    assert h512.startswith("$6$rounds=6000$")
    assert o.verify("secret", h512)
    assert o.make_hash("pw", salt="abcdefghijklmnop") == o.crypt("pw", "$5$abcdefghijklmnop")


def test_make_hash_accepted_by_system_crypt():
    func = o._system_crypt()
    if func is None:
        pytest.skip("no libcrypt on this host")
    for scheme in ("sha256", "sha512"):
        for pw in ("pw", u"ünïcødé-€", "x" * 100):
            hashed = o.make_hash(pw, scheme)
            assert func(pw.encode("utf-8"), hashed.encode()).decode() == hashed


# ---- the file, replaying real ocpasswd sessions


def _steps(session):
    return dict((s["step"], s) for s in session["steps"])


def _lines(text):
    return o.split_lines(text.encode("utf-8"))


def _text(lines):
    return b"".join(lines).decode("utf-8")


def _mask(text):
    return re.sub(r"\$5\$[^\n]*", "HASH", text)


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: s["version"])
def test_lock_unlock_delete_identical_to_ocpasswd(session):
    steps = _steps(session)
    cases = [
        ("create_carol_group", "lock_alice", dict(name="alice", state="locked")),
        ("lock_alice", "lock_alice_again", dict(name="alice", state="locked")),
        ("lock_alice_again", "unlock_alice", dict(name="alice", state="unlocked")),
        ("unlock_alice", "lock_nosuch", dict(name="nosuch", state="locked")),
        ("change_bob", "delete_carol", dict(name="carol", state="absent")),
    ]
    for before, after, kwargs in cases:
        plan = o.plan(_lines(steps[before]["content"]), **kwargs)
        assert _text(plan.lines_after) == steps[after]["content"], (before, after)
        assert plan.changed == (steps[before]["content"] != steps[after]["content"])


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: s["version"])
def test_create_and_change_like_ocpasswd(session):
    steps = _steps(session)
    plan = o.plan(None, "alice", password="alicepw")
    assert _mask(_text(plan.lines_after)) == _mask(steps["create_alice"]["content"])
    plan = o.plan(_lines(steps["create_alice"]["content"]), "bob", password="bobpw", groups=["staff", "admins"])
    assert _mask(_text(plan.lines_after)) == _mask(steps["create_bob_groups"]["content"])
    # ocpasswd resets the group when it changes a password; the module keeps it unless given
    plan = o.plan(_lines(steps["unlock_alice"]["content"]), "bob", password="newbobpw", groups=[])
    assert _mask(_text(plan.lines_after)) == _mask(steps["change_bob"]["content"])
    assert plan.password_changed


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: s["version"])
def test_idempotent_on_ocpasswd_files(session):
    steps = _steps(session)
    last = steps["delete_carol"]
    lines = _lines(last["content"])
    for name, password in last["passwords"].items():
        if name == "carol":
            continue
        plan = o.plan(lines, name, password=password)
        assert not plan.changed, name
        assert not plan.password_changed
        plan = o.plan(lines, name, password=password + "!")
        assert plan.changed and plan.password_changed
        plan = o.plan(lines, name, password=password + "!", update_password="on_create")
        assert not plan.changed
    plan = o.plan(_lines(steps["lock_alice"]["content"]), "alice", password="alicepw", state="locked")
    assert not plan.changed


def test_ocpasswd_lock_file_is_respected(tmp_path):
    for session in SESSIONS:
        step = _steps(session)["locked_by_tmp"]
        assert step["rc"] == 1 and "is locked" in step["stderr"]
    path = str(tmp_path / "ocpasswd")
    open(path + ".tmp", "w").close()
    with pytest.raises(VpnControlError) as err:
        o.acquire_lock(path, 0.3)
    assert err.value.kind == "busy" and ".tmp" in err.value.msg


def test_present_keeps_lock_and_groups():
    lines = [b"alice:staff,ops:!%s\n" % o.make_hash("old").encode()]
    plan = o.plan(lines, "alice", password="new")
    assert plan.after.locked and plan.after.groups == ["staff", "ops"] and plan.password_changed
    plan = o.plan(lines, "alice", groups="ops,staff".split(","))
    assert plan.after.groups == ["ops", "staff"] and not plan.password_changed
    plan = o.plan(lines, "alice", groups=["*"])
    assert plan.lines_after[0].startswith(b"alice:*:!$5$")


def test_other_lines_kept_duplicates_removed():
    h = o.make_hash("pw").encode()
    lines = [b"# comment\n", b"bob:*:%s\r\n" % h, b"alice:*:%s\n" % h, b"junk\n", b"alice:g:%s\n" % h, b"carol:*:x"]
    plan = o.plan(lines, "alice", password="pw")
    assert plan.changed  # the duplicate goes
    assert plan.lines_after == lines[:4] + [b"carol:*:x"]
    plan = o.plan(lines, "dave", password="pw")
    assert plan.lines_after[:5] == lines[:5]
    assert plan.lines_after[5] == b"carol:*:x\n" and plan.lines_after[6].startswith(b"dave:*:$5$")
    plan = o.plan(lines, "bob", password="pw")
    assert not plan.changed  # CRLF line kept as it is


def test_group_whitespace_like_ocserv():
    h = o.make_hash("pw")
    plan = o.plan([b"alice: staff , ops :%s\n" % h.encode()], "alice", password="pw", groups=["staff", "ops"])
    assert not plan.changed


def test_errors():
    with pytest.raises(VpnControlError, match="required to create"):
        o.plan([], "alice")
    with pytest.raises(VpnControlError, match="not allowed"):
        o.plan([], "al:ice", password="x")
    with pytest.raises(VpnControlError, match="not allowed"):
        o.plan([], "alice", password="x", groups=["a,b:c"])
    with pytest.raises(VpnControlError, match="not allowed"):
        o.plan([], "alice", password="x\ny")
    with pytest.raises(VpnControlError, match="at most"):
        o.plan([], "a" * 500, password="x")
    plan = o.plan([], "alice", state="locked")
    assert not plan.changed and plan.after is None
    plan = o.plan(None, "alice", state="absent")
    assert not plan.changed and plan.lines_after is None


def test_cannot_verify_rewrites_with_warning():
    yes = [i for i in HASHES if o.hash_scheme(i["hash"]) == "yescrypt"][0]
    lines = [b"alice:*:%s\n" % yes["hash"].encode()]
    plan = o.plan(lines, "alice", password=yes["password"], allow_system_crypt=False)
    assert plan.changed and plan.warnings and "cannot be verified" in plan.warnings[0]
    assert yes["password"] not in " ".join(plan.warnings)
    plan = o.plan(lines, "alice", password=yes["password"], allow_system_crypt=False, update_password="on_create")
    assert not plan.changed
    if o._system_crypt() is not None:
        assert not o.plan(lines, "alice", password=yes["password"]).changed


def test_diff_has_no_hash():
    h = o.make_hash("pw")
    plan = o.plan([b"alice:*:%s\n" % h.encode()], "alice", password="new", state="locked")
    diff = plan.diff("/x")
    text = json.dumps(diff)
    assert "$5$" not in text and "new" in diff["after"]
    assert diff["before"] == "alice:*:<sha256 hash>\n"
    assert diff["after"] == "alice:*:!<new sha256 hash>\n"


def test_other_encodings_kept_byte_for_byte(tmp_path):
    path = str(tmp_path / "ocpasswd")
    raw = b"j\xf6rg:*:" + o.make_hash("pw").encode() + b"\n# caf\xe9\r\n"
    with open(path, "wb") as handle:
        handle.write(raw)
    plan = o.plan(o.read_lines(path), "alice", password="pw")
    lock, fd = o.acquire_lock(path, 1)
    o.write_locked(path, lock, fd, plan.lines_after)
    with open(path, "rb") as handle:
        data = handle.read()
    assert data.startswith(raw) and data[len(raw):].startswith(b"alice:*:$5$")
    assert o.read_lines(str(tmp_path / "missing")) is None


def test_write_keeps_mode_and_removes_lock(tmp_path):
    path = str(tmp_path / "ocpasswd")
    lock, fd = o.acquire_lock(path, 1)
    o.write_locked(path, lock, fd, [b"alice:*:x\n"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not os.path.exists(lock)
    os.chmod(path, 0o640)
    lock, fd = o.acquire_lock(path, 1)
    o.write_locked(path, lock, fd, [b"bob:*:y\n"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert open(path).read() == "bob:*:y\n"
    assert not os.path.exists(lock)
    lock, fd = o.acquire_lock(path, 1)
    o.release_lock(lock, fd)
    assert not os.path.exists(lock)
