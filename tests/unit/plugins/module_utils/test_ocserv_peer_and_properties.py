# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""occtl output captured by other projects on real servers (tests/unit/fixtures/ocserv/peer/,
tests/unit/fixtures/ocserv_events/peer/, sources in SOURCES there), and property-based tests of
every occtl parser: no output makes them fail other than with the module's own error
(``error_kind: protocol``)."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
try:
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client as oc_client
except ImportError:  # plain pytest from the checkout: the collection is linked under .build
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client as oc_client
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_events as ev
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_parsers as oc_parsers
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError

PEER = os.path.join(REPO, "tests", "unit", "fixtures", "ocserv", "peer")
PEER_EVENTS = os.path.join(REPO, "tests", "unit", "fixtures", "ocserv_events", "peer")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1761178000


def peer(name, where=PEER):
    with open(os.path.join(where, name + ".txt")) as handle:
        return handle.read()


def test_every_peer_capture_has_its_source():
    for where in (PEER, PEER_EVENTS):
        names = sorted(f[:-4] for f in os.listdir(where) if f.endswith(".txt"))
        assert names
        with open(os.path.join(where, "SOURCES")) as handle:
            sources = handle.read()
        for name in names:
            assert os.path.exists(os.path.join(where, name + ".source")), name
            assert name + ".txt" in sources and "repo: " in sources


def client_for(stdout, rc=0, stderr=""):
    """An OcctlClient whose every occtl call prints ``stdout`` (version 1.5.0 for --version)."""
    def runner(argv, timeout):
        if "--version" in argv:
            return 0, "OpenConnect server control (occtl) version 1.5.0\n", ""
        return rc, stdout, stderr
    return oc_client.OcctlClient(runner=runner)


# ---------------------------------------------------------------- peer captures, value by value


def test_peer_status_tab_indented_without_sec_mod_count():
    """criteo/ocserv-exporter: tab indentation, no 'Sec-mod instance count' (older server)."""
    status = client_for(peer("criteo-ocserv-exporter__show-status-json")).status()
    assert status["status"] == "online" and status["server_pid"] == 13385
    assert status["up_since"] == 1589316656 and status["up_since_human"] == "55days"
    assert status["rx"] == 2786778000 and status["rx_text"] == "2.8 GB"
    assert status["max_session_time"] == 36000 and status["max_session_time_text"] == "10h:00m"
    assert status["min_mtu"] == 1340 and status["median_latency"] is None


def test_peer_status_newer_server():
    status = client_for(peer("dantte-lp-ocserv-agent__show-status-json")).status()
    assert status["sec_mod_instance_count"] == 1 and status["active_sessions"] == 2
    assert status["tx"] == 1829593000 and status["average_session_time"] == 11100


def test_peer_users_old_layout_spaces_and_kb_per_sec():
    users = client_for(peer("criteo-ocserv-exporter__show-users-json")).users()
    assert [u["username"] for u in users] == ["alice", "bob"]
    alice = users[0]
    assert alice["id"] == 4100 and alice["groupname"] == "Domain Users" and alice["mtu"] == 1434
    assert alice["rx"] == 9447052 and alice["tx"] == 328664295
    assert alice["average_tx"] == "11.0 KB/s"                      # "KB/sec" of old versions, as later ones print it
    assert alice["dns"] == ["10.1.8.53"] and alice["split_dns_domains"] == ["example.com"]
    assert alice["routes"] == ["10.0.0.0/255.0.0.0"] and alice["restricted_to_routes"] is False
    assert alice["connected_at_text"] == "2020-07-06 08:08" and isinstance(alice["connected_at"], int)
    assert alice["connected_for"] == "8h:17m"


def test_peer_users_default_route_printed_twice_and_ipv6():
    """dantte-lp/ocserv-agent: 'Routes' twice ([] then "defaultroute"), IPv6, compression keys."""
    users = client_for(peer("dantte-lp-ocserv-agent__show-users-json")).users()
    assert [u["id"] for u in users] == [836873, 836625]
    lpa = users[0]
    assert lpa["routes"] == ["defaultroute"] and lpa["dns"] == ["10.0.16.1", "fc00::1:8601"]
    assert lpa["vpn_ipv6"] == "fc00::1:8651" and lpa["vpn_ptp_ipv6"] == "fc00::1:8601"
    assert lpa["connected_at"] == 1761177946 and lpa["cstp_compression"] == "lzs"
    assert lpa["average_rx"] == "23.9 kB/s"
    conn = client_for(peer("dantte-lp-ocserv-agent__show-id-json-first")).connection(836873)
    assert len(conn) == 1 and conn[0]["username"] == "lpa" and conn[0]["routes"] == ["defaultroute"]


def test_peer_sessions_trailing_commas():
    sessions = client_for(peer("dantte-lp-ocserv-agent__show-sessions-all-json")).sessions("all")
    assert [s["session"] for s in sessions] == ["Y662UR", "DN4npe"]
    assert sessions[0]["full_session"] == "Y662URSDYK9V+c2DIPN2duakc2g=" and sessions[0]["in_use"] is True
    assert sessions[0]["created_text"] == "2025-10-23 02:59" and sessions[0]["expires"] is None
    one = client_for(peer("dantte-lp-ocserv-agent__show-session-json-second")).session("Y662UR")
    assert len(one) == 1 and one[0]["username"] == "test" and one[0]["tls_auth_ok"] is False


def test_peer_iroutes_and_empty_bans():
    routes = client_for(peer("dantte-lp-ocserv-agent__show-iroutes-json")).iroutes()
    assert routes == [
        {"id": 836873, "username": "lpa", "vhost": "default", "device": "vpns1", "ip": "10.0.16.23", "iroutes": []},
        {"id": 836625, "username": "test", "vhost": "default", "device": "vpns0", "ip": "10.0.16.190", "iroutes": []},
    ]
    assert client_for(peer("dantte-lp-ocserv-agent__show-ip-bans-json")).bans() == []


def test_peer_plain_users_table_with_long_device_names():
    """mogilevich/ocserv_exporter: device names wider than the column ('ocserv-ru20    23s')."""
    rows = [ev.parse_user_row(line) for line in
            peer("mogilevich-ocserv_exporter__show-users-plain-1.3.0-layout", PEER_EVENTS).splitlines()]
    assert rows[0] is None                                             # the header
    assert [(r["id"], r["username"], r["device"], r["connected_for"]) for r in rows[1:]] == [
        (2234286, "alice", "ocserv-ru8", 8), (2234259, "bob", "ocserv-ru20", 23), (2233074, "carol", "vpns0", 784)]
    assert rows[3]["vpn_ipv4"] == "10.0.1.175" and rows[2]["dtls_cipher"] == "(no-dtls)"


# ---------------------------------------------------------------- unparsable output: protocol, never a traceback

GARBAGE = [
    "not json at all", "[", "{\"ID\": ", "[{\"ID\": 1,}", "\"just a string\"", "42", "[" * 5000, "{" * 5000,
    "[{\"IP\": []}]", "[{\"ID\": 1e999, \"MTU\": NaN, \"RX\": -Infinity}]", "\x00\x01\x02", "[1, 2, 3]",
    "{\"Status\": {\"x\": [1, {\"y\": null}]}}", "[{\"Routes\": {\"a\": 1}, \"Restricted to routes\": [1]}]",
]
QUERIES = [
    ("status", ()), ("users", ()), ("user", ("alice",)), ("connection", (1,)), ("sessions", ("all",)),
    ("sessions", ("valid",)), ("session", ("Y662UR",)), ("bans", ()), ("ban_points", ()), ("iroutes", ()),
]


@pytest.mark.parametrize("text", GARBAGE, ids=lambda t: repr(t[:30]))
@pytest.mark.parametrize("method,args", QUERIES, ids=[q[0] + "-".join(map(str, q[1])) for q in QUERIES])
def test_unparsable_output_is_a_protocol_error(text, method, args):
    client = client_for(text)
    try:
        result = getattr(client, method)(*args)
    except VpnControlError as exc:
        assert exc.kind == "protocol" and "occtl" in exc.msg
        return
    json.dumps(result)          # what it returns is plain data


def test_truncated_peer_output_is_a_protocol_error():
    text = peer("dantte-lp-ocserv-agent__show-users-json")
    with pytest.raises(VpnControlError) as err:
        client_for(text[:len(text) // 2]).users()
    assert err.value.kind == "protocol" and "show users" in err.value.msg


# ---------------------------------------------------------------- properties

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=20)
KEYS = st.sampled_from(list(oc_parsers.USER_KEYS) + ["Since", "_Since", "IP", "Score", "Created", "Expires", "raw_since",
                                                     "raw_created", "Status", "raw_up_since", "Up since", "in_use"])
occtl_records = st.lists(st.dictionaries(st.one_of(KEYS, st.text(max_size=10)), json_values, max_size=12), max_size=4)


def occtl_style(records, trailing, dup):
    """JSON printed the way occtl does: optional trailing commas, a repeated key."""
    parts = []
    for rec in records:
        items = ['    %s:  %s' % (json.dumps(k), json.dumps(v)) for k, v in rec.items()]
        if dup and items:
            items.append(items[0])
        parts.append("  {\n" + ",\n".join(items) + ("," if trailing else "") + "\n  }")
    return "[\n" + ",\n\n".join(parts) + ("," if trailing else "") + "\n]\n"


def _normalize_all(recs):
    for rec in recs:
        assert isinstance(rec, dict)
        for func in (oc_parsers.normalize_user, oc_parsers.normalize_session, oc_parsers.normalize_status, oc_parsers.normalize_ban,
                     oc_parsers.normalize_ban_point, oc_parsers.normalize_iroute):
            out = func(rec) if func in (oc_parsers.normalize_session, oc_parsers.normalize_status, oc_parsers.normalize_ban_point,
                                        oc_parsers.normalize_iroute) else func(rec, NOW)
            json.dumps(out)


@SETTINGS
@given(occtl_records, st.booleans(), st.booleans())
def test_records_and_normalizers_on_any_occtl_style_json(records, trailing, dup):
    text = occtl_style(records, trailing, dup)
    recs = oc_parsers.records(text)
    if not (dup and any(list(rec)[:1] == ["ID"] for rec in records)):
        # (a repeated "ID" starts a new record: show iroutes <= 1.3 prints its records that way)
        assert len(recs) == len(records)
    if not dup:
        assert oc_parsers.tolerant_records(text) == recs
    _normalize_all(recs)


@SETTINGS
@given(st.text(max_size=300))
def test_records_on_any_text_fail_only_with_value_error(text):
    try:
        recs = oc_parsers.records(text)
    except ValueError:
        return
    _normalize_all(recs)


@SETTINGS
@given(st.text(max_size=200))
def test_text_parsers_never_fail(text):
    for line in [text] + text.splitlines():
        row = ev.parse_user_row(line)
        assert row is None or isinstance(row["id"], int)
        event = ev.parse_event(line, NOW)
        assert event is None or event["event"] in ("connect", "disconnect")
    version = oc_parsers.parse_version(text)
    assert version is None or isinstance(version, str)
    assert all(isinstance(p, int) for p in oc_parsers.version_tuple(text))
    ival = oc_parsers.parse_interval(text)
    assert ival is None or ival[0] >= 0
    oc_parsers.parse_local_minute(text)
    oc_parsers.derive_epoch(text, text, NOW)
    oc_parsers.to_bool(text)
    assert oc_parsers.to_int(text) is None or isinstance(oc_parsers.to_int(text), int)


@SETTINGS
@given(json_values)
def test_value_helpers_never_fail(value):
    number = oc_parsers.to_int(value)
    assert number is None or isinstance(number, int)
    assert oc_parsers.to_bool(value) in (None, True, False)
    oc_parsers.parse_interval(value)
    oc_parsers.parse_local_minute(value)


@SETTINGS
@given(st.text(max_size=40))
def test_check_sid_refuses_or_returns_a_plain_id(text):
    try:
        kind, sid = oc_parsers.check_sid(text)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        return
    assert kind in ("short", "full") and sid.isascii() and " " not in sid and "\n" not in sid


@SETTINGS
@given(st.text(max_size=300), st.integers(min_value=0, max_value=2))
def test_classify_error_never_fails(text, rc):
    error = oc_client.classify_error(["occtl", "-s", "/run/x", "show", "users"], rc, text, text, "/run/x")
    assert error is None or isinstance(error, VpnControlError)


@SETTINGS
@given(st.text(max_size=300), st.lists(st.text(max_size=20), max_size=4))
def test_interactive_output_parsers_never_fail(stdout, lines):
    answers = oc_client._interactive_answers(stdout, lines)
    assert answers is None or (len(answers) == len(lines) and all(isinstance(a, list) for a in answers))
    assert isinstance(oc_client._interactive_errors(stdout), str)
    assert isinstance(oc_client._interactive_errors(None), str)
