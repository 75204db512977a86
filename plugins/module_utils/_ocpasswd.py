# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ocpasswd file of ocserv's ``auth = "plain[passwd=...]"`` (private to the collection).

File format (what ``ocpasswd`` writes and ocserv's plain auth reads)::

    user:group[,group...]:hash

``*`` as group means "no group"; a hash prefixed with ``!`` is locked (``ocpasswd -l``).
ocserv uses the first entry whose user matches, reads the file in pieces of at most 510
bytes (a longer line becomes several "lines"), skips pieces of 4 bytes or less, and checks the
password with ``crypt(3)``; the section "The file, as ocserv reads it" below has the details.

``ocpasswd`` takes ``PATH.tmp`` (created exclusively) as its lock and renames it over
``PATH``; :func:`write_file` uses the same protocol, so the module and a concurrent
``ocpasswd`` never lose each other's changes.

Crypt: Python 3.13 dropped the ``crypt`` module, so SHA-256-crypt (``$5$``), SHA-512-crypt
(``$6$``) and MD5-crypt (``$1$``) are implemented here with ``hashlib`` (Ulrich Drepper's
specification, glibc/libxcrypt compatible, including ``rounds=``). Other schemes
(``$y$`` yescrypt, ``$2b$`` bcrypt, DES, ...) are verified through the system's
``libcrypt`` (the library ocserv itself uses) when it can be loaded, otherwise they are
reported as "cannot verify".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import hmac
import os
import random
import stat
import tempfile
import time

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, check_timeout
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_names import check_text, check_user_name, quote

ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The alphabet ocpasswd draws its 16 salt characters from (any crypt64 character is fine).
SALT_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./"
SALT_SIZE = 16

SCHEME_PREFIX = {"sha256": "$5$", "sha512": "$6$"}
PREFIX_SCHEME = {
    "$1$": "md5",
    "$5$": "sha256",
    "$6$": "sha512",
    "$y$": "yescrypt",
    "$gy$": "gost-yescrypt",
    "$7$": "scrypt",
    "$2a$": "bcrypt",
    "$2b$": "bcrypt",
    "$2y$": "bcrypt",
    "$sha1$": "sha1crypt",
    "$md5": "sunmd5",
}

ROUNDS_DEFAULT = 5000
ROUNDS_MIN = 1000
ROUNDS_MAX = 999999999

# read_auth_pass() in ocserv's src/auth/plain.c: char line[512]; fgets(line, sizeof(line)-1, fp).
LINE_BUFFER = 512
# One fgets(line, 511, fp) returns at most 510 bytes: a line, its newline included, must fit.
MAX_LINE_BYTES = LINE_BUFFER - 2
LOCK_SUFFIX = ".tmp"
NO_GROUP = "*"

_SHA256_ORDER = (
    (0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
    (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29),
)
_SHA512_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4),
    (47, 5, 26), (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51),
    (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13), (56, 14, 35),
    (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19),
    (62, 20, 41),
)
_MD5_ORDER = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))


class CannotVerify(Exception):
    """The stored hash uses a scheme this host cannot compute."""


def _b64_24(b2, b1, b0, n):
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for dummy in range(n):
        out.append(ITOA64[w & 0x3F])
        w >>= 6
    return "".join(out)


def _to_bytes(value):
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8")


def _repeat(digest, length):
    """``digest`` repeated and cut to ``length`` bytes (the P and S sequences)."""
    size = len(digest)
    return digest * (length // size) + digest[:length % size]


def _sha_crypt(password, setting, scheme):
    """SHA-crypt of ``password`` with ``setting`` (``$5$[rounds=N$]salt[$...]``)."""
    prefix = SCHEME_PREFIX[scheme]
    hfunc = hashlib.sha256 if scheme == "sha256" else hashlib.sha512
    rest = setting[len(prefix):]
    rounds = ROUNDS_DEFAULT
    custom_rounds = False
    if rest.startswith("rounds="):
        num, sep, tail = rest[len("rounds="):].partition("$")
        if not sep or not num.isdigit():
            raise CannotVerify("malformed rounds= in the %s hash" % scheme)
        rounds = int(num)
        if not ROUNDS_MIN <= rounds <= ROUNDS_MAX or num.startswith("0"):
            # glibc clamps, libxcrypt (Debian's crypt(3), used by ocserv) rejects: never a valid login.
            raise CannotVerify("rounds=%s is outside %d..%d" % (num, ROUNDS_MIN, ROUNDS_MAX))
        custom_rounds = True
        rest = tail
    salt_text = rest.split("$", 1)[0][:16]
    pw = _to_bytes(password)
    salt = salt_text.encode("ascii")
    plen = len(pw)

    digest_b = hfunc(pw + salt + pw).digest()
    ctx = hfunc(pw + salt)
    ctx.update(_repeat(digest_b, plen))
    n = plen
    while n > 0:
        ctx.update(digest_b if n & 1 else pw)
        n >>= 1
    digest_a = ctx.digest()

    p_seq = _repeat(hfunc(pw * plen).digest(), plen)
    s_seq = _repeat(hfunc(salt * (16 + digest_a[0])).digest(), len(salt))

    cur = digest_a
    for i in range(rounds):
        ctx = hfunc(p_seq if i & 1 else cur)
        if i % 3:
            ctx.update(s_seq)
        if i % 7:
            ctx.update(p_seq)
        ctx.update(cur if i & 1 else p_seq)
        cur = ctx.digest()

    if scheme == "sha256":
        enc = "".join(_b64_24(cur[a], cur[b], cur[c], 4) for a, b, c in _SHA256_ORDER)
        enc += _b64_24(0, cur[31], cur[30], 3)
    else:
        enc = "".join(_b64_24(cur[a], cur[b], cur[c], 4) for a, b, c in _SHA512_ORDER)
        enc += _b64_24(0, 0, cur[63], 2)
    head = prefix + ("rounds=%d$" % rounds if custom_rounds else "")
    return head + salt_text + "$" + enc


def _md5_crypt(password, setting):
    """MD5-crypt (``$1$salt$...``), what ocpasswd falls back to without SHA-crypt."""
    magic = b"$1$"
    salt_text = setting[3:].split("$", 1)[0][:8]
    salt = salt_text.encode("ascii")
    pw = _to_bytes(password)
    final = hashlib.md5(pw + salt + pw).digest()
    ctx = hashlib.md5(pw + magic + salt)
    ctx.update(_repeat(final, len(pw)))
    n = len(pw)
    while n:
        ctx.update(b"\0" if n & 1 else pw[:1])
        n >>= 1
    final = ctx.digest()
    for i in range(1000):
        ctx = hashlib.md5(pw if i & 1 else final)
        if i % 3:
            ctx.update(salt)
        if i % 7:
            ctx.update(pw)
        ctx.update(final if i & 1 else pw)
        final = ctx.digest()
    enc = "".join(_b64_24(final[a], final[b], final[c], 4) for a, b, c in _MD5_ORDER)
    enc += _b64_24(0, 0, final[11], 2)
    return "$1$" + salt_text + "$" + enc


_LIBCRYPT = []


def _system_crypt():
    """``crypt(3)`` of the system's libcrypt through ctypes, or None."""
    if _LIBCRYPT:
        return _LIBCRYPT[0]
    func = None
    try:
        import ctypes
    except ImportError:  # pragma: no cover - ctypes is part of CPython
        ctypes = None
    if ctypes is not None:
        for name in ("libcrypt.so.1", "libcrypt.so.2", "libcrypt.so"):
            try:
                lib = ctypes.CDLL(name)
                func = lib.crypt
            except (OSError, AttributeError):
                continue
            func.restype = ctypes.c_char_p
            func.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            break
    _LIBCRYPT.append(func)
    return func


def hash_scheme(hashed):
    """The scheme name of a stored hash (lock prefix ``!`` ignored)."""
    hashed = hashed.lstrip("!")
    if not hashed:
        return "empty"
    for prefix in sorted(PREFIX_SCHEME, key=len, reverse=True):
        if hashed.startswith(prefix):
            return PREFIX_SCHEME[prefix]
    if hashed.startswith("$"):
        return "unknown"
    if len(hashed) == 13:
        return "des"
    if hashed.startswith("_") and len(hashed) == 20:
        return "bsdi-des"
    return "unknown"


def crypt(password, setting, allow_system=True):
    """``crypt(password, setting)`` like crypt(3). Raises CannotVerify."""
    if "\0" in password:
        raise CannotVerify("password contains a NUL character")
    try:
        setting.encode("ascii")
    except UnicodeError:
        raise CannotVerify("the stored hash is not ASCII text")
    scheme = hash_scheme(setting)
    if scheme in ("sha256", "sha512"):
        return _sha_crypt(password, setting, scheme)
    if scheme == "md5":
        return _md5_crypt(password, setting)
    func = _system_crypt() if allow_system else None
    if func is not None and scheme != "empty":
        try:
            result = func(_to_bytes(password), setting.encode("ascii"))
        except (UnicodeError, ValueError):
            result = None
        if result and not result.startswith(b"*"):
            return result.decode("ascii", "replace")
    raise CannotVerify("hash scheme '%s' cannot be computed on this host" % scheme)


def make_hash(password, scheme="sha256", rounds=None, salt=None):
    """A new hash like ocpasswd's (16 random salt characters)."""
    if scheme not in SCHEME_PREFIX:
        raise VpnControlError("unsupported hash_scheme '%s'" % scheme, kind="invalid")
    if salt is None:
        rng = random.SystemRandom()
        salt = "".join(rng.choice(SALT_CHARS) for dummy in range(SALT_SIZE))
    setting = SCHEME_PREFIX[scheme]
    if rounds is not None:
        setting += "rounds=%d$" % rounds
    return _sha_crypt(password, setting + salt, scheme)


def verify(password, hashed, allow_system=True):
    """True/False whether ``password`` matches ``hashed`` (``!`` lock prefix ignored).

    Raises CannotVerify when the scheme cannot be computed here.
    """
    hashed = hashed.lstrip("!")
    if not hashed:
        return False
    computed = crypt(password, hashed, allow_system=allow_system)
    return hmac.compare_digest(computed.encode("utf-8"), hashed.encode("utf-8"))


# ---------------------------------------------------------------------------
# The file, as ocserv reads it
#
# ocserv's plain auth (src/auth/plain.c, read_auth_pass()) reads the file with
#     char line[512]; ... fgets(line, sizeof(line)-1, fp)
# so each read returns at most 510 bytes, up to and including a b"\n". A longer line is read
# in pieces, and every piece after the first is taken as a line of its own: the tail of a long
# line can be read as another user's entry. Each piece is cut at its first NUL (strlen), skipped
# when 4 bytes or shorter, loses one trailing "\n" then one "\r", and is split on ":" (strsep):
# user, group list, hash. The first piece whose user is the login name and that has the three
# fields is the user's entry. Only b"\n" ends a line: U+0085, U+2028, "\v", "\f", "\x1c" and the
# other separators Python's str.splitlines() honours are ordinary bytes to ocserv, so the file
# is handled as bytes here and never split with splitlines().


def split_lines(data):
    """``data`` (bytes) split after each b"\\n" only; the last line may lack its newline."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def ocserv_pieces(data):
    """What ocserv's successive ``fgets`` calls return for the file content ``data``."""
    size = MAX_LINE_BYTES
    pos, end = 0, len(data)
    while pos < end:
        newline = data.find(b"\n", pos, pos + size)
        stop = newline + 1 if newline >= 0 else min(pos + size, end)
        yield data[pos:stop]
        pos = stop


def ocserv_entry(data, name):
    """``(group field, hash field)`` (bytes) ocserv's plain auth takes for the user ``name``
    from the file content ``data``, or None when it finds no entry for it."""
    user = _to_bytes(name)
    for piece in ocserv_pieces(data):
        text = piece.split(b"\0", 1)[0]
        if len(text) <= 4:
            continue
        if text.endswith(b"\n"):
            text = text[:-1]
        if text.endswith(b"\r"):
            text = text[:-1]
        fields = text.split(b":")
        if fields[0] == user and len(fields) >= 3:
            return fields[1], fields[2]
    return None


def split_groups(field):
    """Group list from the file's group field (``*`` = none), white space around names dropped."""
    groups = []
    for part in field.split(","):
        part = part.strip()
        if part and part != NO_GROUP:
            groups.append(part)
    return groups


def join_groups(groups):
    return ",".join(groups) if groups else NO_GROUP


def validate_name(name):
    """A user name that the file can hold: the common name check (no surrounding white space,
    no control character or line separator) and no ``:`` (the field separator)."""
    check_user_name(name)
    check_text(name, "user name", extra=":")


def validate_password(password, allow_empty=False):
    """The password is hashed, never written: ``:`` and ``,`` are fine in it, control
    characters and line separators are not (no client sends them; a value with them is a
    mistake). An empty password is refused unless ``allow_empty``."""
    check_text(password, "password", secret=True)
    if password == "" and not allow_empty:
        raise VpnControlError("the password is empty: anybody who knows the user name could log in; set "
                              "allow_empty_password=true if that is really wanted", kind="invalid")


def normalise_groups(groups):
    """The ``group`` option as a list (None stays None: keep the current groups). An empty
    element or ``*`` means no group; a group name is taken exactly as given and must not
    contain ``:``, ``,``, white space, a control character or a line separator (ocserv cuts
    group names at white space)."""
    if groups is None:
        return None
    result = []
    for group in groups:
        group = "" if group is None else group
        if group in ("", NO_GROUP):
            continue
        check_text(group, "group name", extra=":,")
        if any(c.isspace() for c in group):
            raise VpnControlError("group name %s contains white space; ocserv cuts group names there"
                                  % quote(group), kind="invalid")
        if group not in result:
            result.append(group)
    return result


def _text(data):
    return data.decode("utf-8", "surrogateescape")


class Entry(object):
    """One user line. ``group_field`` and ``tail`` (what follows the hash, ocserv ignores it)
    are kept as bytes so that a line that is rewritten keeps what the task does not change."""

    def __init__(self, name, groups, hashed, locked, group_field=None, tail=b""):
        self.name = name
        self.groups = list(groups)
        self.hash = hashed
        self.locked = locked
        self.group_field = group_field
        self.tail = tail

    @classmethod
    def parse(cls, line):
        """Entry from a line (bytes), or None for lines ocserv does not read as a user."""
        text = line[:-1] if line.endswith(b"\n") else line
        if text.endswith(b"\r"):
            text = text[:-1]
        parts = text.split(b":", 3)
        if len(parts) < 3 or len(text) <= 3:
            return None
        hashed = _text(parts[2])
        locked = hashed.startswith("!")
        groups = split_groups(parts[1].decode("utf-8", "replace"))
        return cls(_text(parts[0]), groups, hashed[1:] if locked else hashed, locked,
                   group_field=parts[1], tail=b":" + parts[3] if len(parts) > 3 else b"")

    def fields(self):
        """``(group field, hash field)`` as the line holds them (what ocserv reads)."""
        group_field = self.group_field if self.group_field is not None else _to_bytes(join_groups(self.groups))
        return group_field, (b"!" if self.locked else b"") + self.hash.encode("utf-8", "surrogateescape")

    def line(self):
        group_field, hash_field = self.fields()
        return _to_bytes(self.name) + b":" + group_field + b":" + hash_field + self.tail + b"\n"

    def masked(self, new_hash=False):
        """The line with the hash hidden (for diff and messages)."""
        if not self.hash:
            hidden = "<empty hash>"
        else:
            hidden = "<%s%s hash>" % ("new " if new_hash else "", hash_scheme(self.hash))
        return "%s:%s:%s%s\n" % (self.name, join_groups(self.groups), "!" if self.locked else "", hidden)


def user_of(line):
    """The user name (bytes) a line belongs to as ocpasswd sees it (before the first ``:``)."""
    if b":" not in line:
        return None
    return line.split(b":", 1)[0]


def read_lines(path):
    """Lines (bytes, keeping their newlines, split on b"\\n" only); None when the file does not exist."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise VpnControlError("cannot read %s: %s" % (path, exc.strerror), kind="permission_denied"
                              if exc.errno == errno.EACCES else "error", path=path)
    return split_lines(data)


class Plan(object):
    """What a task does to the file: ``lines`` after, and the user's entries before/after."""

    def __init__(self, lines_before, lines_after, before, after, password_changed, warnings):
        self.lines_before = lines_before
        self.lines_after = lines_after
        self.before = before
        self.after = after
        self.password_changed = password_changed
        self.warnings = warnings

    @property
    def changed(self):
        return self.lines_before != self.lines_after

    def diff(self, path):
        return {
            "before_header": "%s (user %s)" % (path, self.before[0].name if self.before else "-"),
            "after_header": "%s (user %s)" % (path, self.after.name if self.after else "-"),
            "before": "".join(e.masked() for e in self.before),
            "after": self.after.masked(new_hash=self.password_changed) if self.after else "",
        }


def plan(lines, name, state="present", password=None, groups=None, update_password="always",
         scheme="sha256", rounds=None, allow_system_crypt=True, allow_empty_password=False):
    """Compute the new content of the file for one user. ``lines`` (bytes, from
    :func:`read_lines`) None = file absent. Only the user's own lines change."""
    validate_name(name)
    groups = normalise_groups(groups)
    if password is not None:
        validate_password(password, allow_empty_password)
    existed = lines is not None
    lines = list(lines or [])
    user = _to_bytes(name)
    warnings = []
    idx = [i for i, line in enumerate(lines) if user_of(line) == user]
    before = [e for e in (Entry.parse(lines[i]) for i in idx) if e is not None]
    current = before[0] if before else None

    def result(new_lines, after, password_changed):
        _check_ocserv_reads(new_lines, name, after)
        return Plan(lines if existed else None, new_lines if existed or new_lines != lines else None, before,
                    after, password_changed, warnings)

    if state == "absent":
        return result([line for i, line in enumerate(lines) if i not in set(idx)], None, False)

    if current is None:
        if password is None:
            if state == "locked":
                # Nothing to lock: a user that is not in the file cannot log in.
                return result(lines, None, False)
            raise VpnControlError(
                "user '%s' is not in the password file; 'password' is required to create it" % name,
                kind="invalid")
        entry = Entry(name, groups or [], make_hash(password, scheme, rounds), state == "locked")
        password_changed = True
    else:
        entry = Entry(name, current.groups, current.hash, current.locked, current.group_field, current.tail)
        if groups is not None and groups != current.groups:
            entry.groups, entry.group_field = groups, None
        password_changed = False
        if password is not None and update_password == "always":
            try:
                matches = verify(password, current.hash, allow_system=allow_system_crypt)
            except CannotVerify as exc:
                warnings.append(
                    "the stored hash of user '%s' cannot be verified (%s); it is rewritten with %s"
                    % (name, exc, scheme))
                matches = False
            if not matches:
                entry.hash = make_hash(password, scheme, rounds)
                password_changed = True
        if state == "locked":
            entry.locked = True
        elif state == "unlocked":
            entry.locked = False
        if not entry.hash and state != "locked" and password is None:
            warnings.append("user '%s' has an empty hash: ocserv refuses its login unless an OTP file is set" % name)

    if current is not None and len(idx) == 1 and entry.fields() == current.fields():
        return result(lines, current, False)
    new_line = entry.line()
    if len(new_line) > MAX_LINE_BYTES:
        raise VpnControlError(
            "the line of user %s would be %d bytes long (its newline included); ocserv reads at most %d "
            "bytes at a time and would take the rest for another line" % (quote(name), len(new_line), MAX_LINE_BYTES),
            kind="invalid")
    new_lines = list(lines)
    if idx:
        # Rewrite the first line of the user in place, drop duplicates (ocserv reads the first only).
        new_lines[idx[0]] = new_line
        for i in reversed(idx[1:]):
            del new_lines[i]
    else:
        if new_lines and not new_lines[-1].endswith(b"\n"):
            new_lines[-1] += b"\n"
        new_lines.append(new_line)
    return result(new_lines, entry, password_changed)


def _check_ocserv_reads(lines, name, after):
    """What ocserv would read for ``name`` from ``lines`` is ``after`` (None: no entry); else
    the file holds something that reads as another entry (a line longer than ocserv's buffer
    or with a NUL byte) and the task must not claim success."""
    expected = after.fields() if after is not None else None
    if ocserv_entry(b"".join(lines), name) != expected:
        raise VpnControlError(
            "ocserv would not read what this task writes for user %s: the file holds a line longer than %d bytes "
            "or with a NUL byte that ocserv reads as an entry of that user; fix the file by hand"
            % (quote(name), MAX_LINE_BYTES), kind="invalid")


class AccountsPlan(object):
    """Several users' plans applied one after the other to the same lines (one write)."""

    def __init__(self, lines_before, lines_after, plans):
        self.lines_before = lines_before
        self.lines_after = lines_after
        self.plans = plans      # [(name, Plan)] in the order given

    @property
    def changed(self):
        return self.lines_before != self.lines_after

    def changed_names(self):
        return [name for name, one in self.plans if one.changed]


def plan_accounts(lines, names, state):
    """Lock (``locked``) or remove (``absent``) every user of ``names``: one plan for the
    whole file. Users that are not in the file are left alone (they cannot log in)."""
    if state not in ("locked", "absent"):
        raise ValueError(state)
    plans = []
    current = lines
    for name in names:
        one = plan(current, name, state=state)
        plans.append((name, one))
        current = one.lines_after
    return AccountsPlan(lines, current, plans)


def entry_state(entry):
    """What a user's entry says: ``locked``, ``active``, or ``absent`` for None."""
    if entry is None:
        return "absent"
    return "locked" if entry.locked else "active"


def update_file(path, compute, check_mode=False, lock_timeout=10, selinux=None, before_write=None):
    """Apply ``compute(lines)`` (a plan with ``changed`` and ``lines_after``) to ``path`` with
    ocpasswd's lock; returns the plan that was applied (or would be, in check mode).

    The plan is computed again under the lock, since another writer may have changed the
    file meanwhile; ``before_write()`` runs under the lock just before the write (backups).
    The lock is released whatever happens under it (also ``SystemExit`` from ``fail_json``)."""
    lock_timeout = check_timeout(lock_timeout, "lock_timeout")
    current = compute(read_lines(path))
    if check_mode or not current.changed:
        return current
    lock, fd = acquire_lock(path, lock_timeout)
    handed_over = False
    try:
        current = compute(read_lines(path))
        if current.changed:
            if before_write is not None:
                before_write()
            handed_over = True      # write_locked releases the lock itself, whatever happens
            write_locked(path, lock, fd, current.lines_after, new_mode=0o600, selinux=selinux)
    finally:
        if not handed_over:
            release_lock(lock, fd)
    return current


def block_accounts(path, names, account, check_mode=False, lock_timeout=10, selinux=None):
    """Lock (``locked``) or remove (``absent``) the users in the password file:
    ``(names changed, {name: (state before, state after)})``, a state as ``entry_state`` says
    it. A missing file is an error (the server does not authenticate with it), not "nothing
    to lock"."""
    for name in names:
        validate_name(name)
    if not os.path.isfile(path):
        raise VpnControlError("the password file %s does not exist (account=%s needs the server's ocpasswd file; "
                              "use account=keep for servers that authenticate elsewhere)" % (path, account),
                              kind="not_found", path=path)
    applied = update_file(path, lambda lines: plan_accounts(lines, names, account), check_mode=check_mode,
                          lock_timeout=lock_timeout, selinux=selinux)
    states = {}
    for name, one in applied.plans:
        # ocserv reads a user's first line only
        states[name] = (entry_state(one.before[0] if one.before else None), entry_state(one.after))
    return applied.changed_names(), states


# ---------------------------------------------------------------------------
# Writing: ocpasswd's lock protocol + atomic replace keeping attributes


def acquire_lock(path, timeout):
    """Create ``PATH.tmp`` exclusively (ocpasswd's lock), waiting up to ``timeout`` seconds."""
    lock = path + LOCK_SUFFIX
    deadline = time.monotonic() + check_timeout(timeout, "lock_timeout")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        try:
            return lock, os.open(lock, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                if time.monotonic() >= deadline:
                    raise VpnControlError(
                        "%s is locked: %s exists (ocpasswd or another task is writing it; remove the file "
                        "if no such process runs)" % (path, lock), kind="busy", path=path)
                time.sleep(0.1)
                continue
            if exc.errno == errno.ENOENT:
                raise VpnControlError("the directory of %s does not exist" % path, kind="not_found", path=path)
            raise VpnControlError("cannot create %s: %s" % (lock, exc.strerror),
                                  kind="permission_denied" if exc.errno in (errno.EACCES, errno.EPERM) else "error",
                                  path=path)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _copy_owner_and_mode(fd, old):
    try:
        os.fchown(fd, old.st_uid, old.st_gid)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _finish(fd, tmp, dest, prepare):
    """Sync and close ``fd`` (open on the new file ``tmp``), call ``prepare()``, rename ``tmp``
    over ``dest`` and sync the directory. ``fd`` is closed whatever happens; on failure ``tmp``
    is the caller's to remove."""
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    prepare()
    os.rename(tmp, dest)
    _sync_dir(dest)


def _sync_dir(path):
    try:
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_locked(path, lock, fd, lines, new_mode=0o600, selinux=None):
    """Write ``lines`` (bytes) into the lock file, copy the old file's attributes, rename it
    over ``path``. The lock is released (renamed, or removed) whatever happens, also on
    ``SystemExit``.

    ``selinux`` is an optional ``(module)`` used to copy the SELinux context.
    """
    try:
        _write_all(fd, b"".join(lines))
        try:
            old = os.stat(path)
        except OSError:
            old = None
        if old is not None:
            _copy_owner_and_mode(fd, old)
        else:
            os.fchmod(fd, new_mode)

        def copy_context():
            if selinux is not None and selinux.selinux_enabled():
                context = selinux.selinux_context(path) if old is not None else selinux.selinux_default_context(path)
                selinux.set_context_if_different(lock, context, False)
        fd, handle = None, fd       # _finish closes it
        _finish(handle, lock, path, copy_context)
        lock = None
    except OSError as exc:
        raise VpnControlError("cannot write %s: %s" % (path, exc.strerror), kind="error", path=path)
    finally:
        _discard((fd,), lock)


def _discard(fds=(), path=None):
    """Close ``fds`` and remove ``path`` (None entries skipped), ignoring errors: the cleanup after
    a failure must not hide it."""
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


def release_lock(lock, fd):
    """Give up a lock taken with :func:`acquire_lock` without writing."""
    _discard((fd,), lock)


def backup_copy(path):
    """Copy ``path`` to ``PATH.PID.YYYY-MM-DD@HH:MM:SS~`` (the name ``AnsibleModule.backup_local``
    gives) and return that name. The copy is written to a new temporary file in the same
    directory (mode 0600 until the original's mode and owner are copied), synced, then renamed:
    a failure (disk full, file size limit, ...) leaves no partial backup behind."""
    directory = os.path.dirname(os.path.abspath(path))
    dest = "%s.%s.%s" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S~", time.localtime()))
    src = fd = tmp = None
    try:
        src = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        old = os.fstat(src)
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".backup", dir=directory)
        while True:
            chunk = os.read(src, 65536)
            if not chunk:
                break
            _write_all(fd, chunk)
        _copy_owner_and_mode(fd, old)
        fd, handle = None, fd       # _finish closes it
        _finish(handle, tmp, dest, lambda: os.utime(tmp, ns=(old.st_atime_ns, old.st_mtime_ns)))
        tmp = None
    except OSError as exc:
        raise VpnControlError("cannot back up %s: %s" % (path, exc.strerror), kind="error", path=path)
    finally:
        _discard((src, fd), tmp)
    return dest
