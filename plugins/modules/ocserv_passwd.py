#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ocserv_passwd
short_description: Manage users in the ocpasswd file of ocserv
version_added: 0.1.0
description:
  - Adds, removes, locks and unlocks users, and sets their password and groups, in the password file
    of ocserv's C(auth = "plain[passwd=...]"), the file that C(ocpasswd) manages.
  - Writes the file itself (no TTY and no C(ocpasswd) binary needed) in the same format as C(ocpasswd)
    (C(user:group:hash), C(*) for no group, a C(!) before the hash for a locked user) and with the same
    lock protocol (the file C(PATH.tmp) created exclusively, then renamed over C(PATH)), so it can be
    used next to C(ocpasswd). The replacement is atomic and keeps the file's mode, ownership and SELinux
    context; a new file is created with mode C(0600).
  - An unchanged password is detected by checking it against the stored hash, so a second run reports
    no change. SHA-256-crypt (C($5$), what C(ocpasswd) writes), SHA-512-crypt (C($6$)) and MD5-crypt
    (C($1$)) are computed in pure Python (any Python 3.9+, also without the C(crypt) module that Python
    3.13 removed). Other schemes (C($y$) yescrypt, C($2b$) bcrypt, DES) are checked with the host's
    C(libcrypt) - the library ocserv itself uses - when it can be loaded; when a stored hash cannot be
    checked at all, O(update_password=always) rewrites it (with a warning) and O(update_password=on_create)
    leaves it alone.
  - ocserv reads the file at every login, so changes take effect without a reload.
  - Passwords and hashes never appear in the output, the diff or the logs.
author:
  - vpnfleet.control contributors (@vpnfleet)
extends_documentation_fragment:
  - vpnfleet.control.attributes
  - vpnfleet.control.ocserv.names
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the user's line before and after with the hash replaced by its scheme
        (for example C(alice:*:<sha256 hash>)); a password change alone is reported by RV(password_changed).
  platform:
    platforms: posix
options:
  name:
    description:
      - The user name, used exactly as given. It must not be empty, start or end with white space, or
        contain C(:), a control character or a line separator (see the notes); such a name fails the task
        with C(error_kind=invalid) and the file is not changed.
      - The whole line of the user, its newline included, must fit in the 510 bytes ocserv reads at a time
        (counted in bytes of UTF-8, not characters).
    type: str
    required: true
    aliases: [user]
  password:
    description:
      - The password (clear text). Required to create a user.
      - Not used with O(state=absent).
      - It must not contain a control character or a line separator. An empty password is refused unless
        O(allow_empty_password=true).
    type: str
  allow_empty_password:
    description:
      - Accept an empty O(password) (anybody who knows the user name can then log in).
    type: bool
    default: false
  group:
    description:
      - The user's groups (C(ocpasswd -g)); a comma-separated string is split like C(ocpasswd) does. The
        first group is the one ocserv assigns when the client does not choose one.
      - An empty list or C(*) means no group.
      - A group name must not contain C(:), C(,), white space, a control character or a line separator.
      - When not given, an existing user keeps its groups and a new user gets none.
    type: list
    elements: str
    aliases: [groups]
  state:
    description:
      - V(present) - the user exists with the given password and groups; a locked user stays locked.
      - V(absent) - no line of the user is in the file.
      - V(locked) - the user exists and is locked (C(ocpasswd -l)); ocserv refuses its login. A user that is
        not in the file is created locked when O(password) is given, otherwise nothing is done (a user
        missing from the file cannot log in either).
      - V(unlocked) - the user exists and is not locked (C(ocpasswd -u)).
    type: str
    choices: [present, absent, locked, unlocked]
    default: present
  update_password:
    description:
      - V(always) - set the password when it does not match the stored hash.
      - V(on_create) - set the password only when the user is created.
    type: str
    choices: [always, on_create]
    default: always
  path:
    description:
      - The password file (C(passwd=) of ocserv's C(auth = "plain[...]")).
    type: path
    default: /etc/ocserv/ocpasswd
  hash_scheme:
    description:
      - The crypt scheme of hashes written by this task. V(sha256) is what C(ocpasswd) writes.
      - A stored hash of another scheme is not rewritten while the password matches it.
    type: str
    choices: [sha256, sha512]
    default: sha256
  hash_rounds:
    description:
      - C(rounds=) of new hashes (1000 to 999999999). When not given, the scheme's default (5000) is used and
        not written into the hash, like C(ocpasswd) does.
    type: int
  mode:
    description:
      - The file's permissions (like M(ansible.builtin.file)). When not given, an existing file keeps its mode
        and a new file gets C(0600) (ocserv's sec-mod reads it as root).
    type: raw
  owner:
    description:
      - The file's owner. When not given an existing file keeps its owner.
    type: str
  file_group:
    description:
      - The file's group (named so because O(group) is the ocserv group of the user).
    type: str
  backup:
    description:
      - Keep a copy of the file, with a timestamp in its name, before changing it.
      - The copy is written to a temporary file and renamed, under the lock; when it fails (disk full, ...) the
        task fails, the file is not changed, no partial copy is left and the lock is released.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait while C(PATH.tmp) exists (C(ocpasswd) or another task is writing the file). A lock
        file left behind by a crashed writer must be removed by hand; the error says so.
      - Must be greater than 0 and at most one day.
    type: int
    default: 10
notes:
  - Every line of the user is rewritten; duplicate lines of the same user (ocserv reads only the first)
    are removed. Other lines, including comments and malformed ones, are kept byte for byte.
  - Users logged in when they are locked or removed stay connected; end their sessions with
    M(vpnfleet.control.ocserv_user).
seealso:
  - module: vpnfleet.control.ocserv_user
  - name: ocpasswd(8)
    description: The ocserv password file utility.
    link: https://ocserv.openconnect-vpn.net/ocpasswd.8.html
"""

EXAMPLES = r"""
- name: Alice can log in with this password, in group "staff"
  vpnfleet.control.ocserv_passwd:
    name: alice
    password: "{{ vault_alice_password }}"
    group: staff

- name: Bob is in two groups (the first is his default)
  vpnfleet.control.ocserv_passwd:
    name: bob
    password: "{{ vault_bob_password }}"
    group: [engineering, admins]
    update_password: on_create

- name: Lock Mallory out without forgetting her password
  vpnfleet.control.ocserv_passwd:
    name: mallory
    state: locked

- name: Remove Eve from a password file in another place, keep a backup
  vpnfleet.control.ocserv_passwd:
    name: eve
    state: absent
    path: /etc/ocserv/users.passwd
    backup: true
"""

RETURN = r"""
name:
  description: The user name.
  returned: always
  type: str
  sample: alice
path:
  description: The password file.
  returned: always
  type: str
  sample: /etc/ocserv/ocpasswd
exists:
  description: Whether the user is in the file after the task.
  returned: always
  type: bool
  sample: true
created:
  description: Whether the user was added.
  returned: always
  type: bool
  sample: false
locked:
  description: Whether the user is locked after the task (false when it does not exist).
  returned: always
  type: bool
  sample: false
groups:
  description: The user's groups after the task (empty for none or when the user does not exist).
  returned: always
  type: list
  elements: str
  sample: [staff]
password_changed:
  description: Whether a new hash was written.
  returned: always
  type: bool
  sample: false
hash_scheme:
  description: The scheme of the user's stored hash after the task (V(sha256), V(sha512), V(md5), V(yescrypt), ...).
  returned: when the user exists
  type: str
  sample: sha256
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: changed and O(backup=true)
  type: str
  sample: /etc/ocserv/ocpasswd.12345.2026-11-27@14:00:00~
error_kind:
  description: On failure, the cause (V(invalid) for a refused value, V(busy) when the file stays locked, ...).
  returned: failure
  type: str
  sample: invalid
"""

import os

from ansible_collections.vpnfleet.control.plugins.module_utils._module import VpnModule
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocpasswd


def _file_attributes(module, path, changed, diff):
    """Apply mode/owner/file_group; returns the new changed flag."""
    params = module.params
    if params["mode"] is None and params["owner"] is None and params["file_group"] is None:
        return changed
    if not os.path.exists(path):
        # check mode on a file that would be created: mode/owner would be applied
        return True
    if params["owner"] is not None:
        changed = module.set_owner_if_different(path, params["owner"], changed, diff=diff)
    if params["file_group"] is not None:
        changed = module.set_group_if_different(path, params["file_group"], changed, diff=diff)
    if params["mode"] is not None:
        changed = module.set_mode_if_different(path, params["mode"], changed, diff=diff)
    return changed


def run(module):
    params = module.params
    path = params["path"]
    state = params["state"]
    if params["hash_rounds"] is not None and not (
            _ocpasswd.ROUNDS_MIN <= params["hash_rounds"] <= _ocpasswd.ROUNDS_MAX):
        raise VpnControlError("hash_rounds must be between %d and %d" % (_ocpasswd.ROUNDS_MIN, _ocpasswd.ROUNDS_MAX),
                              kind="invalid")
    if os.path.isdir(path):
        raise VpnControlError("%s is a directory" % path, kind="invalid", path=path)
    parent = os.path.dirname(os.path.abspath(path))
    if state != "absent" and not os.path.isdir(parent):
        # also in check mode: the real run could not create the file
        raise VpnControlError("the directory of %s does not exist" % path, kind="not_found", path=path)

    def compute(lines):
        return _ocpasswd.plan(
            lines, params["name"], state=state,
            password=params["password"] if state != "absent" else None,
            groups=params["group"], update_password=params["update_password"],
            scheme=params["hash_scheme"], rounds=params["hash_rounds"],
            allow_empty_password=params["allow_empty_password"])

    result = {"changed": False, "name": params["name"], "path": path, "backup_file": None}

    def backup():
        if params["backup"] and os.path.exists(path):
            result["backup_file"] = _ocpasswd.backup_copy(path)

    plan = _ocpasswd.update_file(path, compute, check_mode=module.check_mode, lock_timeout=params["lock_timeout"],
                                 selinux=module, before_write=backup)

    for warning in plan.warnings:
        module.warn(warning)
    changed = plan.changed
    diff = plan.diff(path) if changed else {}
    file_diff = {"before": {"path": path}, "after": {"path": path}}
    if module.check_mode and plan.changed and plan.lines_before is None:
        # A new file: mode/owner would be applied after creation.
        changed = True
    else:
        changed = _file_attributes(module, path, changed, file_diff)
    after = plan.after
    result.update(
        changed=changed,
        exists=after is not None,
        created=after is not None and not plan.before,
        locked=bool(after and after.locked),
        groups=list(after.groups) if after else [],
        password_changed=plan.password_changed,
    )
    if after is not None:
        result["hash_scheme"] = _ocpasswd.hash_scheme(after.hash)
    if result["backup_file"] is None:
        del result["backup_file"]
    if module._diff:
        diffs = []
        if diff:
            diffs.append(diff)
        if file_diff["before"] != file_diff["after"]:
            diffs.append(file_diff)
        if diffs:
            result["diff"] = diffs if len(diffs) > 1 else diffs[0]
    return result


def main():
    module = VpnModule(
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["user"]),
            password=dict(type="str", no_log=True),
            allow_empty_password=dict(type="bool", default=False),
            group=dict(type="list", elements="str", aliases=["groups"]),
            state=dict(type="str", default="present", choices=["present", "absent", "locked", "unlocked"]),
            update_password=dict(type="str", no_log=False, default="always", choices=["always", "on_create"]),
            path=dict(type="path", default="/etc/ocserv/ocpasswd"),
            hash_scheme=dict(type="str", default="sha256", choices=["sha256", "sha512"]),
            hash_rounds=dict(type="int"),
            mode=dict(type="raw"),
            owner=dict(type="str"),
            file_group=dict(type="str"),
            backup=dict(type="bool", default=False),
            lock_timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except VpnControlError as exc:
        kwargs = {"name": module.params["name"], "path": module.params["path"]}
        kwargs.update(exc.fail_kwargs())
        module.fail_json(**kwargs)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
