# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record real ocpasswd files and crypt hashes for the unit tests (tests/unit/fixtures/ocpasswd/).

- ``hashes.json``: ``[{"source", "password", "hash"}]`` made by ``ocpasswd`` (host and, with
  ``--root``, Debian root file systems holding other ocserv versions), ``openssl passwd -1/-5/-6``
  (with and without ``-salt``/rounds), the host Python's ``crypt`` module (3.11, SHA with
  ``rounds=``) and libxcrypt's yescrypt/bcrypt (through ``crypt_gensalt``).
- ``ocpasswd_<version>.json``: the file after each step of a real ``ocpasswd`` session
  (create, group, second user, lock, lock again, unlock, password change, delete).

Run:  python3 tests/capture/capture_ocpasswd.py [--root /srv/rootfs/trixie ...]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocpasswd")

PASSWORDS = ["pw", "alicepw", "correct horse battery staple", "ünïcødé-€", "x" * 80, "a:b$c!d*e", " lead trail "]


def run(argv, stdin=None, root=None):
    if root and root != "/":
        argv = ["chroot", root] + argv
    res = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                         universal_newlines=True, timeout=30)
    return res


def ocserv_version(root):
    res = run(["ocserv", "--version"], root=root)
    m = re.search(r"ocserv (\d+\.\d+\.\d+)", res.stdout + res.stderr)
    return m.group(1) if m else "unknown"


def ocpasswd_session(root):
    """Steps of a real ocpasswd session, with the file after each step."""
    workdir = tempfile.mkdtemp(prefix="vf-ocpasswd-", dir=os.path.join(root, "tmp") if root != "/" else None)
    inner = workdir[len(root.rstrip("/")):] if root != "/" else workdir
    path_in = inner + "/ocpasswd"
    path_out = workdir + "/ocpasswd"
    steps = [
        ("create_alice", ["ocpasswd", "-c", path_in, "alice"], "alicepw\nalicepw\n", {"alice": "alicepw"}),
        ("create_bob_groups", ["ocpasswd", "-c", path_in, "-g", "staff,admins", "bob"], "bobpw\nbobpw\n",
         {"bob": "bobpw"}),
        ("create_carol_group", ["ocpasswd", "-c", path_in, "-g", "staff", "carol"], "carolpw\ncarolpw\n",
         {"carol": "carolpw"}),
        ("lock_alice", ["ocpasswd", "-c", path_in, "-l", "alice"], None, {}),
        ("lock_alice_again", ["ocpasswd", "-c", path_in, "-l", "alice"], None, {}),
        ("unlock_alice", ["ocpasswd", "-c", path_in, "-u", "alice"], None, {}),
        ("lock_nosuch", ["ocpasswd", "-c", path_in, "-l", "nosuch"], None, {}),
        ("change_bob", ["ocpasswd", "-c", path_in, "bob"], "newbobpw\nnewbobpw\n", {"bob": "newbobpw"}),
        ("delete_carol", ["ocpasswd", "-c", path_in, "-d", "carol"], None, {}),
    ]
    out = []
    passwords = {}
    for name, argv, stdin, pw in steps:
        res = run(argv, stdin=stdin, root=root)
        passwords.update(pw)
        st = os.stat(path_out)
        with open(path_out) as handle:
            content = handle.read()
        out.append({"step": name, "argv": argv[3:] if argv[1] == "-c" else argv, "rc": res.returncode,
                    "stdout": res.stdout, "stderr": res.stderr, "content": content,
                    "mode": "%04o" % (st.st_mode & 0o7777), "passwords": dict(passwords)})
    # the lock file: ocpasswd refuses to run while PATH.tmp exists
    open(path_out + ".tmp", "w").close()
    res = run(["ocpasswd", "-c", path_in, "-l", "bob"], root=root)
    out.append({"step": "locked_by_tmp", "argv": ["-l", "bob"], "rc": res.returncode, "stdout": res.stdout,
                "stderr": res.stderr.replace(path_in, "PATH"), "content": open(path_out).read(),
                "mode": None, "passwords": dict(passwords)})
    for entry in out:
        entry["stderr"] = entry["stderr"].replace(path_in, "PATH")
    for name in os.listdir(workdir):
        os.unlink(os.path.join(workdir, name))
    os.rmdir(workdir)
    return out


def hashes_from_ocpasswd(root, version):
    result = []
    with tempfile.TemporaryDirectory(dir=os.path.join(root, "tmp") if root != "/" else None) as workdir:
        inner = workdir[len(root.rstrip("/")):] if root != "/" else workdir
        for n, pw in enumerate(PASSWORDS):
            res = run(["ocpasswd", "-c", inner + "/f", "u%d" % n], stdin="%s\n%s\n" % (pw, pw), root=root)
            if res.returncode != 0:
                raise RuntimeError(res.stderr)
        for line in open(workdir + "/f"):
            user, _group, hashed = line.rstrip("\n").split(":", 2)
            result.append({"source": "ocpasswd %s" % version, "password": PASSWORDS[int(user[1:])], "hash": hashed})
    return result


def hashes_from_openssl():
    result = []
    ver = run(["openssl", "version"]).stdout.split()[1]
    for pw in PASSWORDS:
        for opt in ("-1", "-5", "-6"):
            res = run(["openssl", "passwd", opt, "-stdin"], stdin=pw + "\n")
            result.append({"source": "openssl %s passwd %s" % (ver, opt), "password": pw, "hash": res.stdout.strip()})
        for opt in ("-5", "-6"):
            res = run(["openssl", "passwd", opt, "-salt", "shortsalt", "-stdin"], stdin=pw + "\n")
            result.append({"source": "openssl %s passwd %s -salt" % (ver, opt), "password": pw,
                           "hash": res.stdout.strip()})
    return result


def hashes_from_python():
    result = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt  # Python <= 3.12 only
    tag = "python %d.%d crypt" % sys.version_info[:2]
    for pw in PASSWORDS:
        for setting in ("$5$rounds=1000$abcdefghijklmnop", "$6$rounds=12345$xyz", "$5$rounds=5000$s",
                        "$6$0123456789abcdefXYZ", "$1$12345678"):
            result.append({"source": tag, "password": pw, "hash": crypt.crypt(pw, setting)})
    return result


def hashes_from_libxcrypt():
    lib = ctypes.CDLL("libcrypt.so.1")
    gensalt = lib.crypt_gensalt
    gensalt.restype = ctypes.c_char_p
    gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    crypt = lib.crypt
    crypt.restype = ctypes.c_char_p
    crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    result = []
    for prefix in (b"$y$", b"$2b$", b"$6$"):
        for pw in PASSWORDS[:3]:
            setting = gensalt(prefix, 0, None, 0)
            result.append({"source": "libxcrypt crypt_gensalt %s" % prefix.decode(), "password": pw,
                           "hash": crypt(pw.encode(), setting).decode()})
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", action="append", default=[],
                        help="Debian root file system with another ocserv (repeatable); the host's is always used")
    parser.add_argument("--out", default=FIXTURES)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    hashes = []
    for root in ["/"] + args.root:
        version = ocserv_version(root)
        hashes += hashes_from_ocpasswd(root, version)
        with open(os.path.join(args.out, "ocpasswd_%s.json" % version), "w") as handle:
            json.dump({"version": version, "steps": ocpasswd_session(root)}, handle, indent=1, ensure_ascii=False)
            handle.write("\n")
    hashes += hashes_from_openssl() + hashes_from_python() + hashes_from_libxcrypt()
    with open(os.path.join(args.out, "hashes.json"), "w") as handle:
        json.dump(hashes, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    print("%d hashes, %d ocpasswd version(s) -> %s" % (len(hashes), 1 + len(args.root), args.out))


if __name__ == "__main__":
    main()
