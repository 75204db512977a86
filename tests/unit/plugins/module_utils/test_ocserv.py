# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_ocserv_parsers, _ocserv_client (error classification) and _ocserv_state on real occtl output of ocserv 1.1.6, 1.3.0, 1.5.0."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_fixtures import VERSIONS, FakeOcctl, load  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client as oc_client  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_parsers as oc_parsers  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_state as oc_state  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_users as oc_users  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_bans as oc_bans  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError  # noqa: E402

API_USER_KEYS = {"id", "username", "groupname", "state", "remote_ip", "vpn_ipv4", "vpn_ipv6", "device",
                 "user_agent", "rx", "tx", "connected_at", "session", "full_session"}
API_SESSION_KEYS = {"session", "full_session", "username", "state", "remote_ip", "in_use", "valid"}


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """The captures were made with TZ=UTC (occtl prints local times)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def recs(version, scenario, name):
    return oc_parsers.records(load(version, scenario, name)["stdout"])


def test_every_version_captured_reports_its_version():
    """Each fixture folder holds the captures of the release it is named after: parse_version reads
    that release back from the capture of ``occtl --version`` (printed on stderr)."""
    parsed = []
    for version in VERSIONS:
        capture = load(version, "noserver", "version")
        parsed.append(oc_parsers.parse_version(capture["stdout"] + "\n" + capture["stderr"]))
    assert parsed == ["1.1.6", "1.3.0", "1.5.0"]


# ------------------------------------------------------------------ argv / version

def test_build_argv_options_before_command():
    assert oc_client.build_argv("occtl", "/run/x.socket", ["show", "users"]) == [
        "occtl", "-j", "-s", "/run/x.socket", "show", "users"]
    assert oc_client.build_argv("/usr/bin/occtl", "/s", ["disconnect", "id", 5], json_output=False) == [
        "/usr/bin/occtl", "-s", "/s", "disconnect", "id", "5"]
    # `occtl -s S --version` prints nothing (captured): --version goes without -s
    assert oc_client.build_argv("occtl", None, ["--version"], json_output=False) == ["occtl", "--version"]


@pytest.mark.parametrize("version", VERSIONS)
def test_version_and_capabilities(version):
    data = load(version, "noserver", "version")
    assert oc_parsers.parse_version(data["stdout"] + data["stderr"]) == version
    assert load(version, "noserver", "version_after_socket")["stdout"] == ""
    client = oc_client.OcctlClient(runner=FakeOcctl(version))
    caps = client.capabilities()
    assert caps["terminate"] is (version == "1.5.0")
    assert ("terminate user" in load(version, "empty", "help")["stdout"]) is caps["terminate"]
    assert caps["raw_connected_at"] is (version != "1.1.6")


def test_capabilities_from_help_when_version_unreadable():
    fake = FakeOcctl("1.5.0")
    fake.set((False, ("--version",)), {"rc": 0, "stdout": "", "stderr": "something else"})
    assert oc_client.OcctlClient(runner=fake).capabilities()["terminate"] is True
    fake = FakeOcctl("1.3.0")
    fake.set((False, ("--version",)), {"rc": 0, "stdout": "", "stderr": "something else"})
    assert oc_client.OcctlClient(runner=fake).capabilities()["terminate"] is False


# ------------------------------------------------------------------ tolerant JSON

@pytest.mark.parametrize("version", VERSIONS)
def test_tolerant_reader_equals_json_on_valid_output(version):
    """Where Python's json accepts occtl's output, the tolerant reader gives the same data."""
    checked = 0
    base = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ocserv", version)
    for scenario in sorted(os.listdir(base)):
        for name in sorted(os.listdir(os.path.join(base, scenario))):
            data = load(version, scenario, name[:-5])
            if not data.get("json") or data["rc"] != 0 or not data["stdout"].strip():
                continue
            try:
                expected = json.loads(data["stdout"])
            except ValueError:
                continue
            got = oc_parsers.to_dict(oc_parsers.parse_json(data["stdout"]))
            assert got == expected, (scenario, name)
            checked += 1
    assert checked > 10


def test_broken_outputs_are_broken_and_read():
    """The reference's table of invalid JSON, checked on the captures."""
    def invalid(version, scenario, name):
        try:
            json.loads(load(version, scenario, name)["stdout"])
        except ValueError:
            return True
        return False

    for version in ("1.1.6", "1.3.0"):
        assert invalid(version, "connected", "sessions_all_json")
        assert invalid(version, "connected", "sessions_valid_json")
        assert invalid(version, "connected", "iroutes_json")
        assert invalid(version, "connected", "show_session_short_json")
    # with one ban: 1.1.6 and (unlike the reference notes say) 1.3.0 print a trailing comma
    assert invalid("1.1.6", "connected", "ip_bans_json")
    assert invalid("1.3.0", "connected", "ip_bans_json")
    assert not invalid("1.1.6", "empty", "ip_bans_json")
    for name in ("sessions_all_json", "iroutes_json", "ip_bans_json", "show_session_short_json"):
        assert not invalid("1.5.0", "connected", name)


def test_duplicate_keys_kept_and_merged():
    obj = oc_parsers.parse_json('{"Routes": [], "Routes": "defaultroute", "IP": "1.2.3.4", "IP": "1.2.3.4",}')
    assert [pair[0] for pair in obj] == ["Routes", "Routes", "IP", "IP"]
    assert oc_parsers.to_dict(obj) == {"Routes": ["defaultroute"], "IP": "1.2.3.4"}
    user = oc_parsers.normalize_user(obj)
    assert user["routes"] == ["defaultroute"]


def test_several_documents_back_to_back():
    text = '[\n  {\n    "ID":  1,\n  }\n][\n  {\n    "ID":  2\n  }\n]\n'
    assert [oc_parsers.to_dict(v) for v in oc_parsers.iter_json_values(text)] == [[{"ID": 1}], [{"ID": 2}]]


def test_not_json_raises():
    with pytest.raises(ValueError):
        oc_parsers.records("user or ID not found")


# ------------------------------------------------------------------ users

@pytest.mark.parametrize("version", VERSIONS)
def test_users_shape_same_on_every_version(version):
    data = load(version, "connected", "users_json")
    users = [oc_parsers.normalize_user(r, now=data["finished"]) for r in oc_parsers.records(data["stdout"])]
    ctx = data["context"]
    assert sorted(set(u["username"] for u in users)) == ctx["connected"]
    assert dict((str(u["id"]), u["username"]) for u in users) == ctx["connections"]
    reference = set(oc_parsers.normalize_user(r, now=0) for r in [])  # noqa: F841 (documentation)
    for user in users:
        assert API_USER_KEYS <= set(user)
        assert set(user) == set(oc_parsers.USER_FIELDS)
        assert isinstance(user["id"], int) and isinstance(user["rx"], int) and isinstance(user["tx"], int)
        assert isinstance(user["mtu"], int) and user["restricted_to_routes"] is False
        assert isinstance(user["connected_at"], int)
        assert abs(user["connected_at"] - data["finished"]) < 120
        assert user["full_session"].startswith(user["session"]) and len(user["full_session"]) == 28
        assert user["vpn_ipv4"].startswith("192.168.232.") and user["vpn_ipv6"].startswith("fd00:232::")
        assert user["average_rx"].endswith("/s")
        assert user["state"] == "connected"
        assert isinstance(user["routes"], list) and isinstance(user["dns"], list)
    alice = [u for u in users if u["username"] == "alice"][0]
    assert alice["iroutes"] == ["10.99.0.0/255.255.0.0"]
    if version == "1.5.0":
        assert all(isinstance(u["session_started_at"], int) for u in users)
    else:
        assert all(u["session_started_at"] is None for u in users)


@pytest.mark.parametrize("version", ["1.3.0", "1.5.0"])
def test_connected_at_derivation_matches_raw(version):
    """The 1.1.6 derivation (local minute + interval at query time) against the raw epoch
    the later versions print for the same connection."""
    data = load(version, "connected", "users_json")
    for rec in oc_parsers.records(data["stdout"]):
        raw = rec["raw_connected_at"]
        text = rec.get("Connected at") or rec.get("Last connected at")
        ival = rec.get("_Connected at") or rec.get("_Last connected at")
        derived = oc_parsers.derive_epoch(text, ival, data["finished"])
        assert abs(derived - raw) <= 1, (derived, raw)


def test_derive_epoch_coarse_interval_uses_minute():
    minute = oc_parsers.parse_local_minute("2026-11-22 07:22")
    # 2 hours ago: occtl prints " 2h:00m"; the minute is what is known
    assert oc_parsers.derive_epoch("2026-11-22 07:22", " 2h:00m", minute + 7230) == minute
    assert oc_parsers.derive_epoch("2026-11-22 07:22", "   ?   ", minute + 5) == minute
    assert oc_parsers.derive_epoch(None, "   10s", 1000) == 990
    assert oc_parsers.parse_interval(" 3days") == (3 * 86400, 86400)
    assert oc_parsers.parse_interval(" 1m:05s") == (65, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_users_from_other_netns_have_null_counters(version):
    data = load(version, "connected", "status_other_netns_json")
    assert "nl: cannot find" in data["stderr"] and data["rc"] == 0
    for user in (oc_parsers.normalize_user(r) for r in oc_parsers.records(data["stdout"])):
        assert user["rx"] is None and user["tx"] is None and user["id"] > 0


@pytest.mark.parametrize("version", VERSIONS)
def test_show_user_and_id(version):
    client = oc_client.OcctlClient(runner=FakeOcctl(version, {
        (True, ("show", "user", "alice")): load(version, "connected", "show_user_alice_json"),
        (True, ("show", "user", "nosuch")): load(version, "empty", "show_user_nosuch_json"),
        (True, ("show", "id", "999999")): load(version, "empty", "show_id_nosuch_json"),
    }))
    assert [u["username"] for u in client.user("alice")] == ["alice"]
    assert client.user("nosuch") == []
    assert client.connection(999999) == []


# ------------------------------------------------------------------ sessions

@pytest.mark.parametrize("version", VERSIONS)
def test_sessions_with_validity(version):
    fake = FakeOcctl(version, {
        (True, ("show", "sessions", "all")): load(version, "connected", "sessions_all_json"),
        (True, ("show", "sessions", "valid")): load(version, "connected", "sessions_valid_json"),
        (True, ("show", "users")): load(version, "connected", "users_json"),
    })
    client = oc_client.OcctlClient(runner=fake)
    sessions, extra = client.sessions_with_validity()
    assert not extra
    users = client.users()
    for sess in sessions:
        assert API_SESSION_KEYS <= set(sess) and set(sess) == set(oc_parsers.SESSION_FIELDS)
        assert isinstance(sess["in_use"], bool) and isinstance(sess["valid"], bool)
        assert isinstance(sess["created"], int)
        assert sess["valid"] is (sess["state"] == "authenticated")
        assert (sess["expires"] is None) is sess["in_use"]
    states = set(s["state"] for s in sessions)
    assert {"authenticated", "authenticating"} <= states
    dave = [s for s in sessions if s["username"] == "dave"]
    assert len(dave) == 1 and dave[0]["valid"] and not dave[0]["in_use"]
    in_use = set(s["full_session"] for s in sessions if s["in_use"])
    assert in_use == set(u["full_session"] for u in users)
    assert set(s["session"] for s in oc_users._idle_sessions([s for s in sessions if s["valid"]], users)) == {
        dave[0]["session"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_show_session_matches_short_prefix_only(version):
    short = load(version, "connected", "show_session_short_json")
    prefix = load(version, "connected", "show_session_prefix_json")
    full = load(version, "connected", "show_session_full_json")
    assert len(oc_parsers.records(short["stdout"])) == 1
    assert oc_parsers.records(prefix["stdout"]) == oc_parsers.records(short["stdout"])
    assert oc_parsers.records(full["stdout"]) == [] and full["rc"] == 0
    nosuch = load(version, "empty", "show_session_nosuch")
    assert nosuch["rc"] == 0 and "not found" in nosuch["stdout"]


def test_check_sid():
    assert oc_parsers.check_sid("j/3tin") == ("short", "j/3tin")
    assert oc_parsers.check_sid("j/3tinxkcBmFUA3dItIq56uZ0E8=") == ("full", "j/3tinxkcBmFUA3dItIq56uZ0E8=")
    for bad in ("j/3ti", "abc def", "j/3tinxkcBmFUA3dItIq56uZ0E8", "'; rm -rf /", ""):
        with pytest.raises(VpnControlError) as err:
            oc_parsers.check_sid(bad)
        assert err.value.kind == "invalid"


# ------------------------------------------------------------------ iroutes, bans, status

@pytest.mark.parametrize("version", VERSIONS)
def test_iroutes_same_on_every_version(version):
    users = recs(version, "connected", "users_json")
    routes = [oc_parsers.normalize_iroute(r) for r in recs(version, "connected", "iroutes_json")]
    assert sorted(r["id"] for r in routes) == sorted(u["ID"] for u in users)
    for route in routes:
        assert set(route) == {"id", "username", "vhost", "device", "ip", "iroutes"}
        assert isinstance(route["ip"], str) and route["ip"].startswith("192.168.232.")
    alice = [r for r in routes if r["username"] == "alice"][0]
    assert alice["iroutes"] == ["10.99.0.0/255.255.0.0"]
    assert all(r["iroutes"] == [] for r in routes if r["username"] != "alice")
    assert recs(version, "empty", "iroutes_json") == []


@pytest.mark.parametrize("version", VERSIONS)
def test_bans(version):
    data = load(version, "connected", "ip_bans_json")
    bans = [oc_parsers.normalize_ban(r, now=data["finished"]) for r in oc_parsers.records(data["stdout"])]
    assert [b["ip"] for b in bans] == [data["context"]["banned_ip"]]
    ban = bans[0]
    assert ban["score"] >= 30 and 100 <= ban["remaining"] <= 120
    assert abs(ban["expires"] - (data["finished"] + ban["remaining"])) <= 1
    points = [oc_parsers.normalize_ban_point(r) for r in recs(version, "connected", "ip_ban_points_json")]
    assert dict((p["ip"], p["score"]) for p in points)[ban["ip"]] == ban["score"]


@pytest.mark.parametrize("version", VERSIONS)
def test_ban_points_after_unban(version):
    """unban keeps the entry with score 0."""
    fake = FakeOcctl(version, {
        (True, ("show", "ip", "ban", "points")): load(version, "actions", "ip_ban_points_after_unban_json"),
    })
    points = oc_client.OcctlClient(runner=fake).ban_points()
    assert dict((p["ip"], p["score"]) for p in points) == {
        "10.232.1.2": 1, "10.232.2.2": 2, "10.232.3.2": 2, "10.232.4.2": 0}
    assert load(version, "actions", "ip_bans_after_unban_json")["stdout"].strip() in ("[\n]", "[]") or \
        oc_parsers.records(load(version, "actions", "ip_bans_after_unban_json")["stdout"]) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_status_shape(version):
    status = oc_parsers.normalize_status(recs(version, "connected", "status_json")[0])
    reference = oc_parsers.normalize_status(recs("1.5.0", "connected", "status_json")[0])
    assert set(status) == set(reference)
    assert status["status"] == "online"
    for key in ("server_pid", "sec_mod_pid", "up_since", "uptime", "active_sessions", "ips_in_ban_list",
                "rx", "tx", "average_auth_time", "last_stats_reset"):
        assert isinstance(status[key], int), key
    assert status["active_sessions"] == 4 and status["ips_in_ban_list"] == 1
    assert status["rx_text"] == "0 bytes" and status["up_since_text"].startswith("20")


# ------------------------------------------------------------------ errors

def classify(version, scenario, name, euid=0):
    data = load(version, scenario, name)
    argv = ["occtl"] + (["-j"] if data.get("json") else []) + ["-s", "/run/x"] + data["args"]
    return oc_client.classify_error(argv, data["rc"], data["stdout"], data["stderr"], socket="/run/x", euid=euid)


@pytest.mark.parametrize("version", VERSIONS)
def test_error_classification(version):
    ok = [("empty", "users_json"), ("empty", "show_session_nosuch_json"), ("actions", "unban_banned"),
          ("actions", "disconnect_user_carol"), ("actions", "reload"), ("stop", "stop_now"),
          ("actions", "unban_points_only")]
    for scenario, name in ok:
        assert classify(version, scenario, name) is None, name
    kinds = {
        ("empty", "socket_missing"): "unreachable",
        ("noserver", "status_json"): "unreachable",
        ("stale", "status_stale_socket_json"): "unreachable",
        ("stop", "status_after_stop"): "unreachable",
        ("empty", "status_uid_other"): "permission_denied",
        ("empty", "show_user_nosuch_json"): "not_found",
        ("empty", "show_id_nosuch_json"): "not_found",
        ("empty", "show_user_nosuch"): "not_found",
        ("empty", "disconnect_user_nosuch"): "not_found",
        ("empty", "disconnect_id_nosuch"): "not_found",
        ("empty", "unban_never_seen"): "not_found",
        ("actions", "disconnect_user_dave_idle"): "not_found",
        ("empty", "unban_notanip"): "invalid",
        ("empty", "show_id_bad_json"): "invalid",
        ("empty", "unknown_command"): "unsupported",
    }
    if version == "1.5.0":
        kinds[("empty", "terminate_user_nosuch")] = "not_found"
        kinds[("empty", "terminate_id_nosuch")] = "not_found"
        kinds[("empty", "terminate_session_nosuch")] = "not_found"
        assert classify(version, "actions", "terminate_user_alice") is None
        assert classify(version, "terminate_scope", "terminate_session_in_use") is None
    else:
        kinds[("empty", "terminate_user_nosuch")] = "unsupported"
        kinds[("actions", "terminate_user_alice")] = "unsupported"
    for (scenario, name), kind in kinds.items():
        err = classify(version, scenario, name)
        assert err is not None and err.kind == kind, (scenario, name, err and err.kind, err and err.msg)
        assert err.details["rc"] != 0 or kind == "not_found"
    missing = classify(version, "empty", "socket_missing")
    assert "nosuch.socket" in missing.msg and "does not exist" in missing.msg
    assert "stale" in classify(version, "stale", "status_stale_socket").msg
    denied = classify(version, "empty", "status_uid_other", euid=1)
    assert "only from root" in denied.msg and "become" in denied.msg


@pytest.mark.parametrize("version", VERSIONS)
def test_run_as_user_refused_after_connect(version):
    """uid = run-as-user can connect and is refused (rc 1, "Status: offline" + a broken pipe/reset)."""
    err = classify(version, "empty", "status_uid_runasuser", euid=65534)
    assert err.kind == "permission_denied" and "uid 65534" in err.msg and "only from root" in err.msg
    err = classify(version, "empty", "status_uid_runasuser", euid=0)
    assert err.kind == "unreachable"
    err = oc_client.classify_error(["occtl", "-s", "/s", "show", "users"], 1, "",
                                   "could not send message; possibly insufficient permissions or server is offline.\n",
                                   socket="/s", euid=1000)
    assert err.kind == "permission_denied"


def test_client_raises_classified_errors():
    client = oc_client.OcctlClient(socket="/run/x", runner=FakeOcctl("1.3.0", {
        (True, ("show", "users")): load("1.3.0", "empty", "socket_missing")}))
    with pytest.raises(VpnControlError) as err:
        client.users()
    assert err.value.kind == "unreachable"
    fail = err.value.fail_kwargs()
    assert fail["error_kind"] == "unreachable" and fail["rc"] == 1 and "msg" in fail


def test_run_command_timeout_kills_the_child(tmp_path):
    start = time.time()
    with pytest.raises(VpnControlError) as err:
        oc_client.run_command(["sleep", "30"], 0.3)
    assert err.value.kind == "timeout" and time.time() - start < 5


def test_run_command_missing_binary(tmp_path):
    with pytest.raises(VpnControlError) as err:
        oc_client.run_command([str(tmp_path / "no-occtl"), "--version"], 1)
    assert err.value.kind == "missing_binary" and "occtl_path" in err.value.msg


def test_connection_argument_spec():
    spec = oc_client.connection_argument_spec(name=dict(type="str"))
    assert spec["socket"]["default"] == "/var/run/occtl.socket"
    assert spec["occtl_path"]["default"] == "occtl" and spec["timeout"]["default"] == 10
    assert "name" in spec


def test_parse_ips_and_ids():
    assert [pair[0] for pair in oc_bans.parse_ips(["10.0.0.1", " 2001:DB8::1 ", "10.0.0.1"])] == ["10.0.0.1", "2001:db8::1"]
    for bad in ("10.0.0.0/24", "notanip", "", "10.0.0.256"):
        with pytest.raises(VpnControlError) as err:
            oc_bans.parse_ips([bad])
        assert err.value.kind == "invalid"
    assert oc_users.parse_conn_ids(["12", 13, "12"]) == [12, 13]
    for bad in ("abc", "-1", "0", "1.5"):
        with pytest.raises(VpnControlError):
            oc_users.parse_conn_ids([bad])


@pytest.mark.parametrize("version", VERSIONS)
def test_test_config_outputs(version):
    for name, ok in (("good", True), ("bad", True), ("broken", False), ("missing", False)):
        data = load(version, "noserver", "test_config_" + name)

        def runner(argv, timeout, data=data):
            return data["rc"], data["stdout"], data["stderr"]

        got, lines = oc_state.test_config("ocserv", "/etc/ocserv/ocserv.conf", 5, runner=runner)
        assert got is ok, name
        if name == "bad":
            assert any("skipping unknown option" in line for line in lines)


# ------------------------------------------------------------------ fast path == tolerant reader

@pytest.mark.parametrize("version", VERSIONS)
def test_records_fast_path_equals_tolerant_reader_on_every_capture(version):
    base = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ocserv", version)
    checked = fast = 0
    for scenario in sorted(os.listdir(base)):
        for name in sorted(os.listdir(os.path.join(base, scenario))):
            text = load(version, scenario, name[:-5]).get("stdout") or ""
            try:
                want = oc_parsers.tolerant_records(text)
            except ValueError:
                continue
            assert oc_parsers.records(text) == want, (scenario, name)
            checked += 1
            fast += oc_parsers._fast_records(text) is not None if text.strip() else 0
    assert checked > 20 and fast > 10


@pytest.mark.parametrize("text", [
    '{"a": 1,\n}',                                   # trailing comma (occtl <= 1.3)
    '[{"ID": 1,\n "Username": "x",\n},\n]',
    '{"x": "a,\n}"}',                                # comma + newline + brace inside a string: not repaired
    '{"x": "a,\n}",\n}',
    '[{"ID": 1, "ID": 2}]',                          # duplicate keys: merged/split by the tolerant reader
    '{"Routes": [], "Routes": "defaultroute",\n}',
    '{"a": {"b": 1, "b": 2}}',
    '[{"a": 1}, 2]',                                 # non-object items are dropped
    '[{"a": 1}]\n[{"b": 2}]',                        # several documents
    '{"a": "tab\there"}',                            # raw control character
    '[{}]', '{}', '[]', '[,\n]', ',', ' \n ',
    '[{"a": 1},\n]\n', '[{"a": 1,\n  },\n]', '[{"a": [1,\n]},\n]', '[{"a": "x,\n  }"},\n]',   # repair forms
    '[{"a": 1}\n,\n]', '[{"a": 1},\n ]',
])
def test_records_fast_path_edge_cases(text):
    assert oc_parsers.records(text) == oc_parsers.tolerant_records(text)


def test_records_not_json_still_raises():
    for text in ("NaN", '"text"', "not json"):
        with pytest.raises(ValueError):
            oc_parsers.records(text)


def test_local_minute_follows_time_zone_changes(monkeypatch):
    utc = oc_parsers.parse_local_minute("2026-11-22 07:22")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    assert oc_parsers.parse_local_minute("2026-11-22 07:22") - utc == 5 * 3600
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert oc_parsers.parse_local_minute("2026-11-22 07:22") == utc


def test_normalize_user_unknown_and_raw_keys():
    rec = {"Username": "u", "raw_connected_at": "12", "_RX": "1", "Average RX": "1 bytes/sec", "Foo Bar": 3,
           "raw_thing": "7x", "raw_other": " 8 ", "MTU": "1400", "ID": True}
    for _round in range(2):   # the second time through the key cache
        out = oc_parsers.normalize_user(rec, now=0)
        assert out["connected_at"] == 12 and out["rx_human"] == "1" and out["average_rx"] == "1 bytes/s"
        assert out["foo_bar"] == 3 and out["thing"] == "7x" and out["other"] == 8
        assert out["mtu"] == 1400 and out["id"] == 1
