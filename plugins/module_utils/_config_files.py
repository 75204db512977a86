# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the servers' configuration files (private to the collection): pure functions that
never raise on what a file holds. The per-family parsers (``_ocserv_config``, ``_openvpn_config``)
are built on these."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shlex

from ansible_collections.vpnfleet.control.plugins.module_utils._common import unique

_OCSERV_LINE_RE = re.compile(r"^([A-Za-z0-9_-]+)\s*=\s*(.*)$")


def read_text(path, limit=1024 * 1024):
    """A file's text (at most ``limit`` bytes, undecodable bytes replaced), or None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except (IOError, OSError, ValueError):
        return None


def config_lines(text):
    """Directive lines of an ocserv or OpenVPN configuration: ``(name, [args])`` pairs.

    Comments (``#``, ``;``) and blank lines are skipped; OpenVPN's quoting is honoured;
    ocserv's ``name = value`` form gives one argument (the value, unquoted).
    """
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("<"):
            continue   # inline blocks (<ca> ... </ca>) carry no directives we read
        match = _OCSERV_LINE_RE.match(line)
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            yield match.group(1).lower(), [value]
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if words:
            yield words[0].lower(), words[1:]


def expand(patterns):
    """Existing files matching the patterns, in the given order (each pattern's matches sorted)."""
    found = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found.extend(sorted(glob.glob(pattern)))
        elif os.path.isfile(pattern):
            found.append(pattern)
    return unique(os.path.normpath(p) for p in found)
