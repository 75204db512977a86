# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access to the occtl captures (tests/unit/fixtures/ocserv/<version>/<scenario>/<name>.json)
and a fake occtl runner that answers from them (shared by the ocserv unit tests)."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "ocserv")
# one directory per ocserv version; "peer" holds other projects' captures (another layout)
VERSIONS = sorted(d for d in os.listdir(FIXTURES) if os.path.isdir(os.path.join(FIXTURES, d)) and d[:1].isdigit())

if not os.path.isdir(os.path.join(REPO, "..", "..", "..", "ansible_collections")) and \
        os.path.isdir(os.path.join(REPO, ".build", "collections")):
    # a checkout (not ansible_collections/vpnfleet/control): import through the .build link
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))


def load(version, scenario, name):
    with open(os.path.join(FIXTURES, version, scenario, name + ".json")) as f:
        return json.load(f)


def command_of(argv):
    """(json?, command tuple) of an occtl argv built by build_argv."""
    rest = list(argv[1:])
    js = False
    if rest and rest[0] == "-j":
        js = True
        rest = rest[1:]
    if rest[:1] == ["-s"]:
        rest = rest[2:]
    return js, tuple(rest)


class FakeOcctl(object):
    """A runner for OcctlClient: answers each command from a list of captured fixtures.

    ``responses`` maps (json, command tuple) to a fixture dict or a list of them (used in
    turn, the last one repeats). ``--version`` and ``help`` default to the version's captures.
    Every argv is recorded in ``calls``.
    """

    def __init__(self, version, responses=None):
        self.version = version
        self.responses = {}
        self.calls = []
        self.set((False, ("--version",)), load(version, "noserver", "version"))
        self.set((False, ("help",)), load(version, "noserver", "help"))
        for key, value in (responses or {}).items():
            self.set(key, value)

    def set(self, key, value):
        self.responses[key] = list(value) if isinstance(value, list) else [value]

    def __call__(self, argv, timeout):
        self.calls.append(list(argv))
        key = command_of(argv)
        if key not in self.responses:
            raise AssertionError("unexpected occtl call %r (known: %r)" % (argv, sorted(self.responses)))
        queue = self.responses[key]
        data = queue.pop(0) if len(queue) > 1 else queue[0]
        return data["rc"], data["stdout"], data["stderr"]

    def commands(self):
        return [command_of(argv)[1] for argv in self.calls]
