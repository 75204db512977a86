# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic behind ``ocserv_ban`` (``ensure_unbanned``), private to the collection: IP bans and ban
points through an ``OcctlClient`` (``_ocserv_client``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError, unique


def parse_ips(values):
    """Validated addresses (``ipaddress``): list of ``(text as given, ip_address)``."""
    import ipaddress
    out = []
    for value in values:
        text = "" if value is None else str(value).strip()
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise VpnControlError("invalid IP address %r: give single IPv4 or IPv6 addresses (no networks)"
                                  % (value,), kind="invalid")
        out.append((addr.compressed, addr))
    return unique(out)


def _ip_key(text):
    import ipaddress
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return text


def ensure_unbanned(client, ips, check_mode=False):
    """``ocserv_ban`` state=absent: each address neither banned nor holding ban points.

    One ``show ip bans`` + ``show ip ban points``, ``unban ip`` for the addresses that are
    banned or have a score > 0 (unban resets the score to 0; the entry may stay listed
    with score 0), then one verification round."""
    addrs = parse_ips(ips)

    def view():
        bans = dict((_ip_key(b["ip"]), b) for b in client.bans())
        points = dict((_ip_key(p["ip"]), p) for p in client.ban_points())
        out = {}
        for text, addr in addrs:
            ban = bans.get(addr)
            score = max((points.get(addr) or {}).get("score") or 0, (ban or {}).get("score") or 0)
            out[text] = {"banned": ban is not None, "score": score}
            if ban is not None:
                out[text]["expires"] = ban.get("expires")
        return out

    before = view()
    todo = [pair[0] for pair in addrs if before[pair[0]]["banned"] or before[pair[0]]["score"] > 0]
    after = dict(before)
    for text in todo:
        after[text] = {"banned": False, "score": 0}
    result = {"changed": bool(todo), "unbanned": todo, "diff": {"before": before, "after": after}}
    if check_mode or not todo:
        return result
    for text in todo:
        client.unban_ip(text)
    now = view()
    result["diff"]["after"] = now
    left = [t for t in todo if now[t]["banned"] or now[t]["score"] > 0]
    if left:
        raise VpnControlError("still banned or scored after unban: %s" % ", ".join(left), kind="error", **result)
    return result
