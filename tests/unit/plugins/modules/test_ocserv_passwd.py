# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ocserv_passwd as a module: check mode, diff, idempotence, no secret in the output."""

from __future__ import absolute_import, division, print_function

import json
import os
import stat
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.modules import ocserv_passwd
except ImportError:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.modules import ocserv_passwd
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocpasswd

from ansible.module_utils.testing import patch_module_args

FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocpasswd")


def run_module(capsys, **args):
    check = args.pop("_check", False)
    diff = args.pop("_diff", True)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            ocserv_passwd.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def test_create_check_then_real_then_idempotent(tmp_path, capsys):
    path = str(tmp_path / "ocpasswd")
    res, out = run_module(capsys, name="alice", password="S3cret!", path=path, _check=True)
    assert res["changed"] and res["created"] and not os.path.exists(path)
    assert "S3cret" not in out
    res, out = run_module(capsys, name="alice", password="S3cret!", group="staff,ops", path=path)
    assert res["changed"] and res["password_changed"] and res["groups"] == ["staff", "ops"]
    assert res["diff"]["after"] == "alice:staff,ops:<new sha256 hash>\n"
    content = open(path).read()
    assert "S3cret" not in out and content.split(":")[2][:3] not in out.replace('"$', "")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert _ocpasswd.verify("S3cret!", content.strip().split(":", 2)[2])
    res, dummy = run_module(capsys, name="alice", password="S3cret!", path=path)
    assert not res["changed"] and "diff" not in res
    res, dummy = run_module(capsys, name="alice", password="S3cret!", path=path, state="locked", _check=True)
    assert res["changed"] and res["locked"]
    assert open(path).read() == content


def test_lock_unlock_absent_backup(tmp_path, capsys):
    path = str(tmp_path / "ocpasswd")
    run_module(capsys, name="bob", password="pw", path=path)
    res, dummy = run_module(capsys, name="bob", state="locked", path=path)
    assert res["changed"] and res["locked"] and ":!$5$" in open(path).read()
    res, dummy = run_module(capsys, name="bob", state="locked", path=path)
    assert not res["changed"]
    res, dummy = run_module(capsys, name="bob", state="unlocked", path=path, backup=True)
    assert res["changed"] and not res["locked"] and os.path.exists(res["backup_file"])
    res, dummy = run_module(capsys, name="bob", state="absent", path=path)
    assert res["changed"] and not res["exists"] and open(path).read() == ""
    res, dummy = run_module(capsys, name="bob", state="absent", path=path)
    assert not res["changed"]


def test_mode_and_failures(tmp_path, capsys):
    path = str(tmp_path / "ocpasswd")
    run_module(capsys, name="carol", password="pw", path=path)
    res, dummy = run_module(capsys, name="carol", password="pw", path=path, mode="0640", _check=True)
    assert res["changed"] and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    res, dummy = run_module(capsys, name="carol", password="pw", path=path, mode="0640")
    assert res["changed"] and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    res, dummy = run_module(capsys, name="carol", password="pw2", path=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640  # kept on rewrite
    res, dummy = run_module(capsys, name="dave", path=path)
    assert res["failed"] and "required to create" in res["msg"] and res["error_kind"] == "invalid"
    for check in (True, False):
        res, dummy = run_module(capsys, name="dave", password="pw", path=str(tmp_path / "nodir" / "f"), _check=check)
        assert res["failed"] and "does not exist" in res["msg"] and res["error_kind"] == "not_found"
    res, dummy = run_module(capsys, name="dave", state="absent", path=str(tmp_path / "nodir" / "f"))
    assert not res["changed"] and not res.get("failed")
    open(path + ".tmp", "w").close()
    res, dummy = run_module(capsys, name="dave", password="pw", path=path, lock_timeout=1)
    assert res["failed"] and res["error_kind"] == "busy" and "is locked" in res["msg"]
    assert os.path.exists(path + ".tmp")        # somebody else's lock: left alone


@pytest.mark.parametrize("value", [0, -1, 86401])
def test_lock_timeout_checked(tmp_path, capsys, value):
    path = str(tmp_path / "ocpasswd")
    res, dummy = run_module(capsys, name="dave", password="pw", path=path, lock_timeout=value)
    assert res["failed"] and res["error_kind"] == "invalid" and "lock_timeout" in res["msg"]
    assert os.listdir(str(tmp_path)) == []


def _file(tmp_path):
    path = tmp_path / "ocpasswd"
    path.write_bytes(b"bob:*:" + _ocpasswd.make_hash("pw").encode() + b"\n")
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize("name", [" alice", "alice ", "al\u0085ice", "al\u2028ice", "al:ice", ""], ids=ascii)
def test_bad_name_refused_file_untouched(tmp_path, capsys, name):
    path = _file(tmp_path)
    before = open(path, "rb").read()
    res, dummy = run_module(capsys, name=name, password="pw", path=path)
    assert res["failed"] and res["error_kind"] == "invalid"
    assert open(path, "rb").read() == before and os.listdir(str(tmp_path)) == ["ocpasswd"]


def test_empty_password_needs_allow_empty_password(tmp_path, capsys):
    path = _file(tmp_path)
    res, out = run_module(capsys, name="alice", password="", path=path)
    assert res["failed"] and res["error_kind"] == "invalid" and "allow_empty_password" in res["msg"]
    res, out = run_module(capsys, name="alice", password="", allow_empty_password=True, path=path)
    assert res["changed"] and res["created"]


def test_backup_failure_fails_cleanly(tmp_path, capsys, monkeypatch):
    """Disk full while the backup is written: the task fails, no partial backup, no lock left."""
    path = _file(tmp_path)
    before = open(path, "rb").read()

    def full(fd, data):
        os.write(fd, data[:3])
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(_ocpasswd, "_write_all", full)
    res, dummy = run_module(capsys, name="alice", password="pw", path=path, backup=True)
    assert res["failed"] and res["error_kind"] == "error" and "No space left" in res["msg"]
    assert os.listdir(str(tmp_path)) == ["ocpasswd"] and open(path, "rb").read() == before


def test_fail_json_during_backup_releases_the_lock(tmp_path, capsys, monkeypatch):
    """Whatever the backup step does on any ansible-core (fail_json = SystemExit), the lock goes."""
    path = _file(tmp_path)

    def fail_json_like():
        raise SystemExit(1)
    monkeypatch.setattr(_ocpasswd, "backup_copy", lambda p: fail_json_like())
    with patch_module_args(dict(name="alice", password="pw", path=path, backup=True)):
        with pytest.raises(SystemExit):
            ocserv_passwd.main()
    capsys.readouterr()
    assert os.listdir(str(tmp_path)) == ["ocpasswd"]
    res, dummy = run_module(capsys, name="alice", password="pw", path=path)     # not blocked
    assert res["changed"] and not res.get("failed")
