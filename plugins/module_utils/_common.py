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


# One day: long enough for any control-socket operation, short enough that a
# typo (seconds taken for milliseconds) is caught instead of hanging a play.
MAX_TIMEOUT = 86400.0


def check_timeout(value, name="timeout", maximum=MAX_TIMEOUT):
    """``value`` as a float number of seconds, or ``VpnControlError(kind='invalid')``.

    Refuses what would make a wait unbounded or meaningless: ``nan`` (every
    comparison with it is false, so a deadline never passes), ``inf``, zero,
    negative values, and anything above ``maximum``.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise VpnControlError("%s must be a number of seconds, got %r." % (name, value), kind="invalid")
    # "not (0 < x <= max)" is also true for nan, which fails every comparison.
    if not 0 < seconds <= maximum:
        raise VpnControlError(
            "%s must be greater than 0 and at most %d seconds, got %r." % (name, maximum, value),
            kind="invalid",
        )
    return seconds
