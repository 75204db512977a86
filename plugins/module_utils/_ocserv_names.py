# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of ocserv user names and of the other text fields a user gives the ocserv
modules (private to the collection).

A user name reaches occtl (``disconnect user NAME``, ``terminate user NAME``) and the ocpasswd
file (``NAME:GROUPS:HASH``). Every step must see the same name, so a name is never
normalised: one that is not already in its final form is refused (``error_kind: invalid``).
See docs/input-validation.md, "ocserv: names and the ocpasswd file".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import unicodedata

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError

# Unicode categories no name, group or password may contain:
#   Cc  control characters: C0 (NUL, TAB, LF, VT, FF, CR, the separators 0x1C-0x1F, ...),
#       DEL and C1 (NEL U+0085, ...); str.splitlines() splits on several of them
#   Zl  LINE SEPARATOR (U+2028), Zp PARAGRAPH SEPARATOR (U+2029): str.splitlines() splits there too
#   Cs  surrogates: a lone one (JSON can carry "\ud800") has no UTF-8 form
FORBIDDEN_CATEGORIES = frozenset(("Cc", "Zl", "Zp", "Cs"))

# Longest value quoted in a message (a hostile value may be huge).
_QUOTE_MAX = 64


def quote(value):
    """``value`` for a message: ASCII only (escapes for the rest) and cut when long."""
    text = ascii(value)
    if len(text) > _QUOTE_MAX:
        text = text[:_QUOTE_MAX] + "...' (%d characters)" % len(value)
    return text


def forbidden_characters(text):
    """The characters of ``text`` in :data:`FORBIDDEN_CATEGORIES`, in order, without repeats."""
    bad = []
    for char in text:
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES and char not in bad:
            bad.append(char)
    return bad


def check_text(value, what, secret=False, extra=""):
    """``value`` when it is a string without a forbidden character (and without any character
    of ``extra``), else ``VpnControlError(kind='invalid')``. With ``secret`` the message never
    quotes the value."""
    if not isinstance(value, str):
        raise VpnControlError("%s must be a string" % what, kind="invalid")
    bad = forbidden_characters(value) + [c for c in extra if c in value]
    if bad:
        chars = ", ".join(ascii(c) for c in bad)
        if secret:
            raise VpnControlError("the %s contains a character that is not allowed (%s): control characters and "
                                  "line separators are refused" % (what, chars), kind="invalid")
        raise VpnControlError("%s %s contains a character that is not allowed (%s)" % (what, quote(value), chars),
                              kind="invalid")
    return value


def check_user_name(name, what="user name"):
    """A user name as every ocserv module and the ocpasswd file take it: not empty, no
    surrounding white space, no control character or line separator. Returned unchanged."""
    if not isinstance(name, str):
        raise VpnControlError("%s must be a string" % what, kind="invalid")
    if not name:
        raise VpnControlError("empty %s" % what, kind="invalid")
    check_text(name, what)
    if name != name.strip():
        raise VpnControlError("%s %s has white space at its start or end; names are used exactly as given, "
                              "remove it" % (what, quote(name)), kind="invalid")
    return name


def check_user_names(names, what="user name"):
    """Each name checked with :func:`check_user_name`, in first-seen order without repeats.
    Every name is checked before the caller does anything."""
    out = []
    for name in names:
        check_user_name(name, what)
        if name not in out:
            out.append(name)
    return out
