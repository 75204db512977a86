# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by every server family (private to the collection)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class VpnControlError(Exception):
    """An error with a message fit for the user (the module's ``msg``).

    ``kind`` is a short machine-readable cause (``not_found``, ``unreachable``,
    ``permission_denied``, ``missing_binary``, ``timeout``, ``busy``,
    ``protocol``, ``invalid``, ...), returned by the modules as ``error_kind``.
    """

    def __init__(self, msg, kind="error", **details):
        super(VpnControlError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.details = details

    def fail_kwargs(self):
        """Keyword arguments for ``module.fail_json``."""
        kwargs = dict(self.details)
        kwargs["msg"] = self.msg
        kwargs["error_kind"] = self.kind
        return kwargs


def as_list(value):
    """Options that take a list also accept one value; ``None`` is an empty list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def unique(items):
    """Items in first-seen order without repeats."""
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
