# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Makes this checkout importable as ``ansible_collections.vpnfleet.control`` for the unit tests.

Python imports a collection only from a path ending in ``ansible_collections/<namespace>/<name>``.
``scripts/setup`` links ``.build/collections/ansible_collections/vpnfleet/control`` to the checkout;
this does the same when the link is missing, so that ``pytest tests/unit`` works in a fresh clone
with nothing but ``pip install -r tests/requirements.txt``. A checkout that already lives at such a
path (as under ``ansible-test``) is used as it is."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import json
import os
import sys
import types

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collections_root():
    parts = REPO.split(os.sep)
    if len(parts) > 3 and parts[-3] == "ansible_collections":
        return os.sep.join(parts[:-3])
    root = os.path.join(REPO, ".build", "collections")
    link = os.path.join(root, "ansible_collections", "vpnfleet", "control")
    if not os.path.isdir(link):
        if not os.path.isdir(os.path.dirname(link)):
            os.makedirs(os.path.dirname(link))
        if os.path.islink(link):  # dangling: a moved checkout
            os.unlink(link)
        try:
            os.symlink(REPO, link)
        except OSError as exc:  # another test run made it first
            if exc.errno != errno.EEXIST:
                raise
    return root


COLLECTIONS = _collections_root()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


def _patch_module_args_before_2_19():
    """``ansible.module_utils.testing.patch_module_args`` (ansible-core 2.19 and later) for the older
    releases the collection supports: the same contract through ``basic._ANSIBLE_ARGS``, which is
    what that helper patches too."""
    try:
        import ansible.module_utils.testing  # noqa: F401  pylint: disable=unused-import
        return
    except ImportError:
        pass
    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args=None):
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

    shim = types.ModuleType("ansible.module_utils.testing")
    shim.patch_module_args = patch_module_args
    sys.modules[shim.__name__] = shim


_patch_module_args_before_2_19()
