# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ocpasswd file at the byte level (issue 12, items 2 and 4).

``ocserv_reads`` below is a model of how ocserv itself reads the file, written from
read_auth_pass() in ocserv's src/auth/plain.c independently of the code under test:

    char line[512];
    while ((p = fgets(line, sizeof(line)-1, fp)) != NULL) {
        ll = strlen(p);
        if (ll <= 4) continue;
        if (line[ll-1] == '\\n') { ll--; line[ll] = 0; }
        if (line[ll-1] == '\\r') { ll--; line[ll] = 0; }
        p = strsep(&sp, ":");  if (p && strcmp(username, p) == 0) {
            group = strsep(..);  if (group) { hash = strsep(..); if (hash) -> the entry } } }

Every test checks what ocserv would read, not only what the module says it wrote.
"""

from __future__ import absolute_import, division, print_function

import errno
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocpasswd as o
except ImportError:  # plain pytest from the checkout: the collection is linked under .build
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocpasswd as o
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_names as names
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError

FGETS_SIZE = 512 - 1      # fgets(line, sizeof(line)-1, fp) with char line[512]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fgets(data, pos, size=FGETS_SIZE):
    """C fgets: at most size-1 bytes, stops after a newline; (piece, new position) or (None, pos) at EOF."""
    if pos >= len(data):
        return None, pos
    out = bytearray()
    while len(out) < size - 1 and pos < len(data):
        byte = data[pos:pos + 1]
        pos += 1
        out += byte
        if byte == b"\n":
            break
    return bytes(out), pos


def strsep(text):
    """(token, rest) like strsep(&rest, ":"); rest None after the last token."""
    if text is None:
        return None, None
    head, sep, tail = text.partition(b":")
    return head, (tail if sep else None)


def ocserv_reads(data, username):
    """(groups field, hash field) ocserv takes for ``username`` (bytes), or None."""
    pos = 0
    while True:
        line, pos = fgets(data, pos)
        if line is None:
            return None
        line = line.split(b"\0", 1)[0]           # strlen()
        if len(line) <= 4:
            continue
        if line[-1:] == b"\n":
            line = line[:-1]
        if line[-1:] == b"\r":
            line = line[:-1]
        user, rest = strsep(line)
        if user == username:
            group, rest = strsep(rest)
            if group is not None:
                hashed, rest = strsep(rest)
                if hashed is not None:
                    return group, hashed


def users_in(data):
    """Every user name ocserv could find in ``data`` (by the model)."""
    found = set()
    pos = 0
    while True:
        line, pos = fgets(data, pos)
        if line is None:
            return found
        found.add(line.split(b":", 1)[0])


# Lines of other users and other content that must never change: other encodings, CRLF,
# separators str.splitlines() would split on, NUL, a line longer than ocserv's buffer, no final newline.
H = o.make_hash("pw", salt="abcdefghijklmnop").encode()
OTHERS = [
    b"# comment with a NUL \x00 byte\n",
    b"j\xf6rg:*:" + H + b"\n",
    b"bob:staff:" + H + b"\r\n",
    b"carol\xc2\x85x:*:" + H + b"\n",                    # U+0085 inside another user's line
    b"dave:g1,g2:" + H + b"\x0bjunk\x1c\x1d\x1e\x0c\n",    # \v \x1c-\x1e \f
    b"erin\xe2\x80\xa8:*:" + H + b"\n",                  # U+2028
    b"x" * 700 + b"\n",                                    # longer than ocserv reads, no user in it
    b"frank:*:!" + H + b"\n",
    b"last:*:" + H,                                       # no final newline
]
OTHER_DATA = b"".join(OTHERS)


def reads_of_others(data):
    return dict((u, ocserv_reads(data, u)) for u in users_in(OTHER_DATA))


def assert_others_kept(before, after, name):
    """Every line that is not the user's is byte-identical, in order; ocserv reads the same for
    every other user."""
    user = name.encode("utf-8")
    keep_b = [line.rstrip(b"\n") for line in o.split_lines(before) if line.split(b":", 1)[0] != user]
    keep_a = [line.rstrip(b"\n") for line in o.split_lines(after) if line.split(b":", 1)[0] != user]
    assert keep_b == keep_a
    for other in users_in(before):
        if other != user:
            assert ocserv_reads(after, other) == ocserv_reads(before, other), other


def apply(data, name, **kwargs):
    plan = o.plan(o.split_lines(data) if data is not None else None, name, **kwargs)
    return b"".join(plan.lines_after or []), plan


# ---------------------------------------------------------------- the model itself


def test_model_reads_like_ocserv():
    assert ocserv_reads(b"alice:*:h1\nalice:*:h2\n", b"alice") == (b"*", b"h1")
    assert ocserv_reads(b"alice:g\nalice:*:h2\n", b"alice") == (b"*", b"h2")      # 2 fields: skipped
    assert ocserv_reads(b"alice:*:h1\r\n", b"alice") == (b"*", b"h1")
    assert ocserv_reads(b"alice:*:h1:extra\n", b"alice") == (b"*", b"h1")
    assert ocserv_reads(b"a:*:\n", b"a") == (b"*", b"")
    assert ocserv_reads(b"a::\n", b"a") is None                                    # 4 bytes: skipped
    assert ocserv_reads(b"alice\x00:*:h\n", b"alice") is None
    # a line of 510 bytes (newline included) is one read; the 511th byte starts a new "line"
    line = b"u:*:" + b"h" * 505 + b"\n"
    assert len(line) == 510 and ocserv_reads(line, b"u") == (b"*", b"h" * 505)
    tail = b"bob:*:injected"
    line = b"u:*:" + b"h" * (510 - 4) + tail + b"\n"
    assert ocserv_reads(line, b"bob") == (b"*", b"injected")
    assert o.ocserv_entry(line, "bob") == (b"*", b"injected")
    assert list(o.ocserv_pieces(line)) == [line[:510], line[510:]]


# ---------------------------------------------------------------- item 2: separators and the buffer

SEPARATORS = ["\n", "\r", "\x00", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x7f", "\x85",
              "\u2028", "\u2029", "\ud800", "\udfff"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=ascii)
@pytest.mark.parametrize("where", ["name", "group", "password"])
def test_separator_refused_and_file_unchanged(sep, where):
    args = dict(name="alice", password="pw", groups=["staff"])
    if where == "name":
        args["name"] = "al" + sep + "ice"
    elif where == "group":
        args["groups"] = ["st" + sep + "aff"]
    else:
        args["password"] = "p" + sep + "w"
    lines = o.split_lines(OTHER_DATA)
    with pytest.raises(VpnControlError) as err:
        o.plan(lines, **args)
    assert err.value.kind == "invalid"
    if where == "password":
        assert "p" + sep + "w" not in err.value.msg and ascii("p" + sep + "w") not in err.value.msg


def test_u0085_in_a_name_does_not_corrupt_another_user():
    """Today's main: a name with U+0085 was written, and str.splitlines() on the next read
    split bob's line, so the next task rewrote it."""
    data = b"bob:*:" + H + b"\n"
    with pytest.raises(VpnControlError):
        apply(data, "mallory\x85bob")
    # a U+0085 already in the file (in bytes) is an ordinary byte: bob's line is not split
    data = b"mallory\xc2\x85bob:*:" + H + b"\nbob:*:" + H + b"\n"
    after, plan = apply(data, "bob", state="locked")
    assert after == b"mallory\xc2\x85bob:*:" + H + b"\nbob:*:!" + H + b"\n"
    assert ocserv_reads(after, b"bob") == (b"*", b"!" + H)


def test_long_multibyte_name_cannot_inject_an_entry():
    """258 characters but 513 bytes: the old character count let it through and ocserv read
    'bob' with the attacker's password from the second half of the line."""
    name = "\u00e9" * 255 + "bob"
    assert len(name) + len(":*:") + 63 + 1 < 510 < len(name.encode("utf-8"))
    crafted = name.encode("utf-8") + b":*:" + H + b"\n"
    assert ocserv_reads(crafted, b"bob") == (b"*", H)       # the attack, on the model
    with pytest.raises(VpnControlError) as err:
        apply(OTHER_DATA, name, password="attacker")
    assert err.value.kind == "invalid" and "bytes" in err.value.msg


def test_line_limit_is_in_bytes_at_the_boundary():
    hashed_len = len(o.make_hash("pw"))
    room = 510 - len(":*:") - hashed_len - 1
    ok, plan = apply(None, "a" * room, password="pw")
    assert len(ok) == 510 and ocserv_reads(ok, b"a" * room)[0] == b"*"
    with pytest.raises(VpnControlError):
        apply(None, "a" * (room + 1), password="pw")
    # the same in two-byte characters: half as many fit
    with pytest.raises(VpnControlError):
        apply(None, "\u00e9" * (room // 2 + 1), password="pw")
    # groups count too
    with pytest.raises(VpnControlError):
        apply(None, "alice", password="pw", groups=["g%d" % i + "x" * 40 for i in range(12)])


@pytest.mark.parametrize("group", [" staff", "staff ", "st aff", "a\u00a0b", "a,b", "a:b"], ids=ascii)
def test_group_white_space_and_separators_refused(group):
    with pytest.raises(VpnControlError) as err:
        o.plan([], "alice", password="pw", groups=[group])
    assert err.value.kind == "invalid"


def test_password_may_hold_field_separators():
    """The password is hashed, never written: ':' and ',' are fine."""
    after, plan = apply(None, "alice", password="a:b,c d")
    assert o.verify("a:b,c d", ocserv_reads(after, b"alice")[1].decode())


def test_empty_password_needs_the_option():
    with pytest.raises(VpnControlError) as err:
        o.plan(None, "alice", password="")
    assert err.value.kind == "invalid" and "allow_empty_password" in err.value.msg
    lines = o.split_lines(b"alice:*:" + H + b"\n")
    with pytest.raises(VpnControlError):
        o.plan(lines, "alice", password="")
    after, plan = apply(None, "alice", password="", allow_empty_password=True)
    assert o.verify("", ocserv_reads(after, b"alice")[1].decode())


@pytest.mark.parametrize("op", [
    dict(password="pw"), dict(password="new"), dict(groups=["a1", "b2"]), dict(state="locked"),
    dict(state="unlocked"), dict(state="absent"), dict(password="new", state="locked"),
], ids=repr)
@pytest.mark.parametrize("name", ["alice", "bob", "frank", "last", "z\u00e9\u4e2d"])
def test_other_users_byte_identical_after_every_operation(op, name):
    data = b"".join(OTHERS[:-1]) + "z\u00e9\u4e2d:*:".encode("utf-8") + H + b"\n" + OTHERS[-1]
    if name == "alice" and "password" not in op and op.get("state") not in ("locked", "absent"):
        with pytest.raises(VpnControlError, match="required to create"):
            apply(data, name, **op)
        return
    after, plan = apply(data, name, **op)
    assert_others_kept(data, after, name)
    expected = plan.after.fields() if plan.after is not None else None
    assert ocserv_reads(after, name.encode("utf-8")) == expected
    if op.get("state") == "locked" and plan.after is not None:
        assert ocserv_reads(after, name.encode("utf-8"))[1].startswith(b"!")
    again, plan2 = apply(after, name, **op)
    assert not plan2.changed and again == after                  # the second run changes nothing


def test_lock_refused_when_an_overlong_line_reads_as_the_user():
    """A line of someone else, longer than ocserv's buffer, whose tail reads as 'bob': locking
    bob's own line would not lock him; the task must fail, not claim success."""
    evil = o.make_hash("evil").encode()
    injected = b"m" + b":*:" + b"h" * (510 - 4) + b"bob:*:" + evil + b"\n"
    data = injected + b"bob:*:" + H + b"\n"
    assert ocserv_reads(data, b"bob") == (b"*", evil)
    for op in (dict(state="locked"), dict(state="absent"), dict(password="pw", state="present")):
        with pytest.raises(VpnControlError) as err:
            apply(data, "bob", **op)
        assert err.value.kind == "invalid" and "fix the file" in err.value.msg
    with pytest.raises(VpnControlError):
        o.plan_accounts(o.split_lines(data), ["bob"], "locked")


def test_appending_after_a_last_line_without_newline():
    after, plan = apply(b"bob:*:" + H, "alice", password="pw")
    assert after.startswith(b"bob:*:" + H + b"\nalice:*:$5$") and after.endswith(b"\n")
    assert ocserv_reads(after, b"bob") == (b"*", H)


def test_non_ascii_stored_hash_cannot_be_verified():
    after, plan = apply(b"alice:*:$5$\xc3\xa9\xff$x\n", "alice", password="pw")
    assert plan.password_changed and plan.warnings


# ---------------------------------------------------------------- item 4: the lock is released whatever fails


class Fault(Exception):
    pass


def _content(tmp_path):
    path = tmp_path / "ocpasswd"
    path.write_bytes(OTHER_DATA)
    path.chmod(0o640)
    return str(path)


def _faulty_write_all(monkeypatch, fail_at, exc):
    calls = []
    real = o._write_all

    def fake(fd, data):
        calls.append(len(data))
        if len(calls) == fail_at:
            if len(data) > 1:
                real(fd, data[:len(data) // 2])      # a partial write first, as a full disk does
            raise exc
        return real(fd, data)
    monkeypatch.setattr(o, "_write_all", fake)


def _run_update(path, backup=True):
    def before_write():
        if backup:
            o.backup_copy(path)
    return o.update_file(path, lambda lines: o.plan(lines, "alice", password="pw"), lock_timeout=1,
                         before_write=before_write)


FAULTS = [
    ("backup ENOSPC", 1, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
    ("backup EFBIG", 1, OSError(errno.EFBIG, os.strerror(errno.EFBIG))),
    ("backup SystemExit", 1, SystemExit(1)),
    ("write ENOSPC", 2, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
    ("write EFBIG", 2, OSError(errno.EFBIG, os.strerror(errno.EFBIG))),
    ("write SystemExit", 2, SystemExit(1)),
    ("write KeyboardInterrupt", 2, KeyboardInterrupt()),
]


@pytest.mark.parametrize("label,fail_at,exc", FAULTS, ids=[f[0] for f in FAULTS])
def test_lock_released_and_nothing_partial_left(tmp_path, monkeypatch, label, fail_at, exc):
    path = _content(tmp_path)
    _faulty_write_all(monkeypatch, fail_at, exc)
    expected = VpnControlError if isinstance(exc, OSError) else type(exc)
    with pytest.raises(expected) as err:
        _run_update(path)
    if isinstance(exc, OSError):
        assert err.value.kind == "error" and os.strerror(exc.errno) in err.value.msg
    left = sorted(os.listdir(str(tmp_path)))
    if fail_at == 1:
        assert left == ["ocpasswd"]                    # no lock, no partial backup, no temp file
    else:
        # no lock, no temp file; the backup taken before the write failed is complete
        assert len(left) == 2 and left[0] == "ocpasswd" and left[1].startswith("ocpasswd.")
        assert (tmp_path / left[1]).read_bytes() == OTHER_DATA
        os.unlink(str(tmp_path / left[1]))
    assert open(path, "rb").read() == OTHER_DATA
    # the next run (and ocpasswd) can take the lock
    monkeypatch.undo()
    _run_update(path, backup=False)
    assert ocserv_reads(open(path, "rb").read(), b"alice") is not None


@pytest.mark.parametrize("exc", [SystemExit(1), Fault("boom"), OSError(errno.EIO, "I/O error")], ids=repr)
def test_lock_released_when_before_write_or_selinux_fails(tmp_path, exc):
    path = _content(tmp_path)

    def fail():
        raise exc
    with pytest.raises((type(exc), VpnControlError)):
        o.update_file(path, lambda lines: o.plan(lines, "alice", password="pw"), lock_timeout=1, before_write=fail)
    assert os.listdir(str(tmp_path)) == ["ocpasswd"] and open(path, "rb").read() == OTHER_DATA

    class SELinux(object):
        def selinux_enabled(self):
            return True

        def selinux_context(self, path):
            return ["u", "r", "t", "s0"]

        def set_context_if_different(self, path, context, changed):
            raise exc       # AnsibleModule calls fail_json here: SystemExit
    with pytest.raises((type(exc), VpnControlError)):
        o.update_file(path, lambda lines: o.plan(lines, "alice", password="pw"), lock_timeout=1, selinux=SELinux())
    assert os.listdir(str(tmp_path)) == ["ocpasswd"] and open(path, "rb").read() == OTHER_DATA


def test_lock_released_when_the_plan_fails_under_the_lock(tmp_path):
    path = _content(tmp_path)
    calls = []

    def compute(lines):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit(1)
        return o.plan(lines, "alice", password="pw")
    with pytest.raises(SystemExit):
        o.update_file(path, compute, lock_timeout=1)
    assert os.listdir(str(tmp_path)) == ["ocpasswd"]


def test_backup_copy_keeps_content_mode_and_time(tmp_path):
    path = _content(tmp_path)
    os.utime(path, (1000000000, 1000000000))
    dest = o.backup_copy(path)
    assert open(dest, "rb").read() == OTHER_DATA
    assert os.stat(dest).st_mode & 0o777 == 0o640 and int(os.stat(dest).st_mtime) == 1000000000
    assert sorted(os.listdir(str(tmp_path))) == sorted(["ocpasswd", os.path.basename(dest)])


def test_someone_elses_lock_is_never_removed(tmp_path):
    path = _content(tmp_path)
    open(path + ".tmp", "w").close()
    with pytest.raises(VpnControlError) as err:
        _run_update(path)
    assert err.value.kind == "busy" and os.path.exists(path + ".tmp")


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "x", None])
def test_lock_timeout_checked_before_anything(tmp_path, value):
    path = _content(tmp_path)
    with pytest.raises(VpnControlError) as err:
        o.update_file(path, lambda lines: o.plan(lines, "alice", password="pw"), lock_timeout=value)
    assert err.value.kind == "invalid" and "lock_timeout" in err.value.msg
    assert os.listdir(str(tmp_path)) == ["ocpasswd"]


# ---------------------------------------------------------------- properties

byte_lines = st.lists(st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")).map(lambda b: b + b"\n"),
                      max_size=8)
any_text = st.text(max_size=40)
name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters=":")
valid_names = st.text(name_chars, min_size=1, max_size=30).filter(
    lambda s: s == s.strip() and not names.forbidden_characters(s))


@SETTINGS
@given(st.binary(max_size=2000))
def test_split_lines_round_trips_byte_identical(data):
    lines = o.split_lines(data)
    assert b"".join(lines) == data
    assert all(line.endswith(b"\n") for line in lines[:-1])
    assert all(b"\n" not in line[:-1] for line in lines)


@SETTINGS
@given(st.binary(max_size=3000), st.binary(max_size=40))
def test_reader_matches_the_model(data, user):
    user = user.split(b"\0")[0]
    assert o.ocserv_entry(data, user) == ocserv_reads(data, user)


@SETTINGS
@given(byte_lines)
def test_unchanged_plan_round_trips_and_writes_byte_identical(lines):
    data = b"".join(lines)
    for name in ("alice", "bob"):
        try:
            plan = o.plan(o.split_lines(data), name, state="locked")
        except VpnControlError as exc:
            assert exc.kind == "invalid"
            continue
        if plan.after is None:
            assert not plan.changed and b"".join(plan.lines_after) == data


def test_unchanged_file_is_written_back_byte_identical(tmp_path):
    path = str(tmp_path / "ocpasswd")
    with open(path, "wb") as handle:
        handle.write(OTHER_DATA)
    lock, fd = o.acquire_lock(path, 1)
    o.write_locked(path, lock, fd, o.read_lines(path))
    assert open(path, "rb").read() == OTHER_DATA


@SETTINGS
@given(byte_lines, any_text, any_text, st.lists(any_text, max_size=3),
       st.sampled_from(["present", "absent", "locked", "unlocked"]))
def test_any_input_refused_or_written_as_ocserv_reads_it(lines, name, password, groups, state):
    data = b"".join(lines)
    try:
        after, plan = apply(data, name, password=password, groups=groups, state=state)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        return
    user = name.encode("utf-8")
    assert_others_kept(data, after, name)
    expected = plan.after.fields() if plan.after is not None else None
    assert ocserv_reads(after, user) == expected
    if plan.after is not None and plan.password_changed:
        assert o.verify(password, ocserv_reads(after, user)[1].decode("ascii"))
    assert len(name.encode("utf-8")) < 510


@SETTINGS
@given(st.text(max_size=60))
def test_name_check_refuses_or_keeps_exactly(text):
    try:
        got = names.check_user_name(text)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        assert text == "" or text != text.strip() or names.forbidden_characters(text)
        return
    assert got == text and text == text.strip() and text.encode("utf-8")
    assert len(text.splitlines()) == 1 and "\x00" not in text


@SETTINGS
@given(any_text, st.booleans())
def test_password_check(text, allow_empty):
    try:
        o.validate_password(text, allow_empty)
    except VpnControlError as exc:
        assert exc.kind == "invalid" and (text not in exc.msg or text == "")
        return
    text.encode("utf-8")
    assert len(text.splitlines()) <= 1 and "\x00" not in text


@SETTINGS
@given(st.lists(any_text, max_size=5))
def test_group_check(groups):
    try:
        got = o.normalise_groups(groups)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        return
    for group in got:
        assert group and ":" not in group and "," not in group and not any(c.isspace() for c in group)
        assert not names.forbidden_characters(group)


@SETTINGS
@given(st.binary(max_size=200))
def test_entry_parse_never_fails(line):
    entry = o.Entry.parse(line)
    if entry is not None:
        entry.masked()
        o.hash_scheme(entry.hash)


@SETTINGS
@given(any_text, st.text(max_size=80))
def test_verify_fails_only_with_cannot_verify(password, hashed):
    try:
        assert o.verify(password, hashed, allow_system=False) in (True, False)
    except o.CannotVerify:
        pass


@SETTINGS
@given(st.text(max_size=60))
def test_hash_scheme_and_groups_of_any_field(text):
    assert isinstance(o.hash_scheme(text), str)
    groups = o.split_groups(text)
    assert all(g and g == g.strip() and "," not in g and g != "*" for g in groups)
