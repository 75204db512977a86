# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EDA sources (extensions/eda/plugins/event_source/*_watch.py) and their core
(plugins/module_utils/_vpn_watch.py), on what they read from the lab's real servers
(tests/unit/fixtures/watch/, made by tests/capture/capture_watch.py), plus property-based tests of
the argument checks, the SSH quoting, the snapshot diffing and the incremental event-stream reader."""

from __future__ import absolute_import, division, print_function

import asyncio
import glob
import json
import os
import runpy
import shlex
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "watch")
SOURCES = os.path.join(REPO, "extensions", "eda", "plugins", "event_source")
RULEBOOKS = os.path.join(REPO, "extensions", "eda", "rulebooks")
if not os.path.isdir(os.path.join(REPO, "..", "..", "..", "ansible_collections")) and \
        os.path.isdir(os.path.join(REPO, ".build", "collections")):
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.vpnfleet.control.plugins.module_utils import _vpn_watch as vw  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._ocserv_client import OcctlClient  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn3_client import OpenVPN3Client  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._openvpn_parsers import parse_status  # noqa: E402


def fixtures(family, pattern="*"):
    return sorted(glob.glob(os.path.join(FIXTURES, family, pattern + ".json")))


def load(path):
    with open(path) as handle:
        return json.load(handle)


def ids(paths):
    return [os.path.basename(p)[:-5] for p in paths]


def cfg(family, **args):
    return vw.check_args(family, args)


class Collect(object):
    def __init__(self):
        self.events = []

    async def __call__(self, event):
        self.events.append(event)

    def types(self):
        return [(e["type"], e.get("user")) for e in self.events]


def run(coro):
    return asyncio.run(coro)


# --------------------------------------------------------------------------- the plugins

@pytest.mark.parametrize("family", vw.FAMILIES)
def test_plugin_loads_like_ansible_rulebook_loads_it(family):
    path = os.path.join(SOURCES, "%s_watch.py" % family)
    module = runpy.run_path(path)
    assert asyncio.iscoroutinefunction(module["main"])
    doc = yaml.safe_load(module["DOCUMENTATION"])
    assert doc["short_description"] and doc["description"] and doc["author"]
    options = doc["options"]
    for common in ("hosts", "host", "ssh_args", "timeout", "retry_interval", "interval"):
        assert common in options
    # every documented option is accepted, every accepted one documented
    assert set(options) == set(vw._COMMON_KEYS - {"eda_feedback_queue"}) | vw._FAMILY_KEYS[family]
    examples = yaml.safe_load(module["EXAMPLES"])
    for example in examples:
        args = example["vpnfleet.control.%s_watch" % family]
        vw.check_args(family, args)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(RULEBOOKS, "*.yml"))), ids=os.path.basename)
def test_rulebooks_use_the_collections_sources_and_modules(path):
    with open(path) as handle:
        rulesets = yaml.safe_load(handle)
    modules = set(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")))
    for ruleset in rulesets:
        assert ruleset["hosts"] == "all"
        for source in ruleset["sources"]:
            (name,) = [k for k in source if k.startswith("vpnfleet.control.")]
            assert os.path.exists(os.path.join(SOURCES, name.split(".")[-1] + ".py"))
        for rule in ruleset["rules"]:
            action = rule["action"]
            if "run_module" in action:
                assert action["run_module"]["name"].split(".")[-1] in modules


# --------------------------------------------------------------------------- arguments

def test_defaults():
    c = cfg("ocserv")
    assert c["hosts"] == [] and c["host"] and c["socket"] == "/var/run/occtl.socket" and c["mode"] == "stream"
    assert c["interval"] == 5 and c["ban_interval"] == 5 and c["bans"] is True
    c = cfg("openvpn", instances=[{"name": "lab", "socket": "/run/x.sock"}, {"name": "pw", "port": 7505}])
    assert c["interval"] == 2 and c["instances"][1]["host"] == "127.0.0.1"


@pytest.mark.parametrize("family,args", [
    ("ocserv", {"hosts": ["-oProxyCommand=touch /tmp/x"]}),
    ("ocserv", {"hosts": ["a b"]}),
    ("ocserv", {"hosts": ["a;reboot"]}),
    ("ocserv", {"hosts": ["$(id)"]}),
    ("ocserv", {"hosts": ["vpn1", "vpn1"]}),
    ("ocserv", {"hosts": ["vpn1"], "host": "me"}),
    ("ocserv", {"socket": "relative.sock"}),
    ("ocserv", {"socket": "/a\nb"}),
    ("ocserv", {"mode": "tail"}),
    ("ocserv", {"bans": "yes"}),
    ("ocserv", {"interval": 0}),
    ("ocserv", {"interval": float("nan")}),
    ("ocserv", {"interval": float("inf")}),
    ("ocserv", {"interval": True}),
    ("ocserv", {"interval": "soon"}),
    ("ocserv", {"occtl_path": "bin/occtl"}),
    ("ocserv", {"no_such": 1}),
    ("ocserv", {"ssh_args": ["-F", 3]}),
    ("openvpn", {}),
    ("openvpn", {"instances": []}),
    ("openvpn", {"instances": ["lab"]}),
    ("openvpn", {"instances": [{"name": "a b", "socket": "/x"}]}),
    ("openvpn", {"instances": [{"name": "lab", "socket": "/x", "port": 1}]}),
    ("openvpn", {"instances": [{"name": "lab", "port": 0}]}),
    ("openvpn", {"instances": [{"name": "lab", "port": "7505"}]}),
    ("openvpn", {"instances": [{"name": "lab", "port": 7505, "host": "-x"}]}),
    ("openvpn", {"instances": [{"name": "lab", "socket": "/x"}, {"name": "lab", "socket": "/y"}]}),
    ("openvpn", {"instances": [{"name": "lab", "socket": "/x", "password": "pw"}]}),
    ("openvpn3", {"busctl_path": "busctl;x"}),
    ("openvpn3", []),
])
def test_bad_arguments_are_refused(family, args):
    with pytest.raises(VpnControlError) as info:
        vw.check_args(family, args)
    assert info.value.kind == "invalid"


def test_bad_arguments_stop_the_source_with_a_message():
    with pytest.raises(ValueError, match="ocserv_watch: hosts"):
        run(vw.run_source("ocserv", asyncio.Queue(), {"hosts": ["-oProxyCommand=x"]}))


@pytest.mark.parametrize("text", ["0\n", "host\n", "vpn1.example.org\n"])
def test_a_host_with_a_final_newline_is_refused(text):
    # hypothesis found "0\n": a "$" anchor matches before a final newline
    with pytest.raises(VpnControlError) as info:
        vw.check_host(text)
    assert info.value.kind == "invalid"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_host_text_is_either_a_safe_destination_or_refused(text):
    try:
        host = vw.check_host(text)
    except VpnControlError as exc:
        assert exc.kind == "invalid"
        return
    assert not host.startswith("-")
    assert shlex.split(host) == [host]    # one word, nothing for a shell to expand


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                        max_size=20), min_size=1, max_size=6))
def test_ssh_quotes_every_remote_word(words):
    c = cfg("ocserv", hosts=["vpn1"], ssh_args=["-F", "/etc/eda/ssh_config"])
    argv = vw.ssh_argv(c, "vpn1", words)
    at = argv.index("--")
    assert argv[at + 1] == "vpn1"
    assert argv[:3] == ["ssh", "-o", "BatchMode=yes"] and "/etc/eda/ssh_config" in argv[:at]
    # what the remote shell gets: ssh joins the words with spaces
    assert shlex.split(" ".join(argv[at + 2:])) == words


@pytest.mark.parametrize("rc,stderr,expected", [
    (255, "ssh: Could not resolve hostname nohost: Name or service not known\r\n", True),
    (255, "ssh: connect to host 10.0.0.9 port 22: Connection refused\n", True),
    (255, "Connection closed by 10.213.94.13 port 22\n", True),
    (255, "root@vpn1: Permission denied (publickey).\n", True),
    (255, "events: read1: No such file or directory\n", False),   # occtl's own 255 when ocserv stops
    (1, "ssh: Could not resolve hostname x\n", False),
])
def test_ssh_failure_or_remote_failure(rc, stderr, expected):
    assert vw.ssh_failed(rc, stderr) is expected


# --------------------------------------------------------------------------- diffing

snapshots = st.dictionaries(st.integers(0, 30), st.integers(0, 5), max_size=15)


@settings(max_examples=300, deadline=None)
@given(snapshots, snapshots)
def test_diff_keyed(old, new):
    added, removed = vw.diff_keyed(old, new)
    assert not set(added) & set(removed)
    assert (set(old) - set(removed)) | set(added) == set(new)
    assert vw.diff_keyed(new, new) == ([], [])


@settings(max_examples=300, deadline=None)
@given(snapshots, snapshots)
def test_ban_points_only_rises(old, new):
    for ip, score, before in vw.ban_point_changes(old, new):
        assert score > before == old.get(ip, 0) and new[ip] == score
    rises = set(ip for ip in new if new[ip] > old.get(ip, 0))
    assert set(ip for ip, _s, _b in vw.ban_point_changes(old, new)) == rises


sessions = st.dictionaries(st.sampled_from(["/s/1", "/s/2", "/s/3", "/s/4"]),
                           st.sampled_from(["connected", "paused", "connecting", "disconnected", "exited",
                                            "reconnecting"]), max_size=4)


@settings(max_examples=300, deadline=None)
@given(sessions, sessions)
def test_openvpn3_changes(old_states, new_states):
    old = dict((p, {"path": p, "state": s}) for p, s in old_states.items())
    new = dict((p, {"path": p, "state": s}) for p, s in new_states.items())
    changes = vw.openvpn3_changes(old, new)
    seen = [session["path"] for _t, session, _s, _p in changes]
    assert len(seen) == len(set(seen))
    for etype, session, state, previous in changes:
        path = session["path"]
        if path not in new:
            assert etype == "disconnect" and state == "gone" and previous == old_states[path]
        else:
            assert state == new_states[path] != old_states.get(path)
            assert etype == {"connected": "connect", "paused": "pause", "disconnected": "disconnect",
                             "exited": "disconnect"}.get(state, "state")
    # a second look at the same state reports nothing
    assert vw.openvpn3_changes(new, new) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["alice", "bob", "carol"])), max_size=8),
       st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["alice", "bob", "carol"])), max_size=8))
def test_openvpn_changes(old_rows, new_rows):
    def snap(rows):
        return vw.openvpn_snapshot({"clients": [{"client_id": cid, "common_name": cn} for cid, cn in rows]})
    old, new = snap(old_rows), snap(new_rows)
    changes = vw.openvpn_changes(old, new)
    connects = set((c["client_id"], c["common_name"]) for t, c in changes if t == "connect")
    disconnects = set((c["client_id"], c["common_name"]) for t, c in changes if t == "disconnect")
    old_ids = set(k[1:] for k in old)
    new_ids = set(k[1:] for k in new)
    assert connects == new_ids - old_ids and disconnects == old_ids - new_ids


def test_presence():
    p = vw.Presence()
    assert p.seen_up() == "server_up" and p.seen_up() is None
    assert p.seen_down() == "server_gone" and p.seen_down() is None
    assert p.seen_up() == "server_back" and p.seen_up() is None
    first_down = vw.Presence()
    assert first_down.seen_down() == "server_gone" and first_down.seen_up() == "server_back"


def test_event_carries_host_instance_and_meta_hosts():
    event = vw.make_event(cfg("ocserv"), "connect", "vpn1", "/var/run/occtl.socket", user="carol")
    assert event["host"] == "vpn1" and event["instance"] == "/var/run/occtl.socket"
    assert event["server"] == "ocserv" and event["meta"] == {"hosts": "vpn1"} and event["user"] == "carol"


# --------------------------------------------------------------------------- ocserv, captured

STREAMS = fixtures("ocserv", "*-stream")
BANS = fixtures("ocserv", "*-bans")


def stream_items(text, chunks=None):
    reader = vw.OcctlEventStream()
    data = text.encode("utf-8")
    out = []
    if chunks is None:
        out = reader.feed(data)
    else:
        at = 0
        for size in chunks:
            out += reader.feed(data[at:at + size])
            at += size
        out += reader.feed(data[at:])
    return out


@pytest.mark.parametrize("path", STREAMS, ids=ids(STREAMS))
def test_ocserv_stream_capture(path):
    cap = load(path)
    items = stream_items(cap["stdout"])
    kinds = [k for k, _i in items]
    assert "ready" in kinds
    before = [i for k, i in items[:kinds.index("ready")] if k == "user"]
    assert {"alice", "bob"} <= set(u["username"] for u in before)
    events = [(i["event"], i["username"]) for k, i in items if k == "event"]
    assert events[:2] == [("connect", "carol"), ("disconnect", "carol")]
    # the stream ended with ocserv's restart, after the disconnect of the lab's users
    assert vw.ssh_failed(cap["rc"], cap["stderr"]) is False


@pytest.mark.parametrize("path", STREAMS, ids=ids(STREAMS))
@settings(max_examples=40, deadline=None)
@given(chunks=st.lists(st.integers(1, 64), max_size=60))
def test_ocserv_stream_any_chunking(path, chunks):
    text = load(path)["stdout"]
    assert stream_items(text, chunks) == stream_items(text)


class FakeListener(object):
    """EventListener's interface (start, stop, master, stderr, argv) over a pipe fed from a capture."""

    def __init__(self, stdout, rc, stderr):
        self.data = stdout.encode("utf-8")
        self.rc = rc
        self.stderr = stderr.encode("utf-8")
        self.argv = ["occtl", "show", "events"]
        self.master = None

    def start(self):
        self.master, write = os.pipe()
        os.write(write, self.data)   # captures are far below a pipe's 64 KiB
        os.close(write)

    def stop(self):
        os.close(self.master)
        return self.rc


@pytest.mark.parametrize("path", STREAMS, ids=ids(STREAMS))
def test_ocserv_watcher_on_a_captured_stream(path, monkeypatch):
    cap = load(path)
    collect = Collect()
    watcher = vw.OcservWatcher(cfg("ocserv", hosts=[cap["host"]]), cap["host"], collect, remote=True)
    monkeypatch.setattr(watcher, "_listener", lambda: FakeListener(cap["stdout"], cap["rc"], cap["stderr"]))
    error = run(watcher.stream_once())
    types = collect.types()
    assert types[0] == ("server_up", None)
    initial = [e for e in collect.events if e.get("initial") and e["type"] == "connect"]
    assert {"alice", "bob"} <= set(e["user"] for e in initial)
    live = [(t, u) for t, u in types if u == "carol"]
    assert live[:2] == [("connect", "carol"), ("disconnect", "carol")]
    carol = [e for e in collect.events if e.get("user") == "carol"]
    assert carol[0]["id"] == carol[1]["id"] and carol[0]["vpn_ipv4"] and carol[1]["reason"]
    for event in collect.events:
        assert event["host"] == cap["host"] and event["meta"]["hosts"] == cap["host"]
        assert event["instance"] == "/var/run/occtl.socket" and event["server"] == "ocserv"
    # the stream ended: the server is reported gone once
    assert error.kind == "unreachable"
    run(watcher.presence(watcher.presence_state, watcher.instance, error))
    assert collect.events[-1]["type"] == "server_gone" and collect.events[-1]["cause"] == "not_answering"


def replay_occtl(steps):
    """A runner answering ``show ip bans`` / ``show ip ban points`` from the captured steps, in order."""
    state = {"step": 0}

    def runner(argv, timeout):
        step = steps[state["step"]]
        key = "points" if argv[-1] == "points" else "bans"
        out = step[key]
        if key == "points":
            state["step"] += 1
        return out["rc"], out["stdout"], out["stderr"]
    return runner


@pytest.mark.parametrize("path", BANS, ids=ids(BANS))
def test_ocserv_bans_capture(path):
    cap = load(path)
    runner = replay_occtl(cap["steps"])
    looks = []
    for _step in cap["steps"]:
        client = OcctlClient(runner=runner)
        bans = dict((b["ip"], b) for b in client.bans() if b.get("ip") and vw.ban_active(b))
        points = dict((p["ip"], p["score"]) for p in client.ban_points() if p.get("ip"))
        looks.append((bans, points))
    ip = cap["ban_source_ip"]
    # before: not banned; one failed login: points, no ban; three: banned; unban: not banned
    assert ip not in looks[0][0] and ip not in looks[1][0] and ip in looks[2][0] and ip not in looks[3][0]
    rise = vw.ban_point_changes(looks[0][1], looks[1][1])
    assert [(i, s - b >= 10) for i, s, b in rise if i == ip] == [(ip, True)]     # 10 per wrong password
    assert looks[2][1][ip] >= 30
    assert vw.ban_changes(looks[1][0], looks[2][0]) == [("ban", looks[2][0][ip])]
    assert vw.ban_changes(looks[2][0], looks[3][0]) == [("unban", looks[2][0][ip])]


@pytest.mark.parametrize("path", BANS, ids=ids(BANS))
def test_ocserv_watcher_ban_events(path, monkeypatch):
    cap = load(path)
    c = cfg("ocserv", hosts=[cap["host"]], ban_interval=0.01)
    collect = Collect()
    watcher = vw.OcservWatcher(c, cap["host"], collect, remote=True)
    runner = replay_occtl(cap["steps"])
    monkeypatch.setattr(watcher, "client", lambda: OcctlClient(runner=runner))

    async def some_rounds():
        task = asyncio.ensure_future(watcher.run_bans())
        for _i in range(200):
            await asyncio.sleep(0.01)
            if len([e for e in collect.events if e["type"] == "unban"]):
                break
        task.cancel()
    try:
        run(some_rounds())
    except IndexError:   # pragma: no cover - ran out of captured steps
        pass
    ip = cap["ban_source_ip"]
    types = [(e["type"], e.get("ip")) for e in collect.events if e.get("ip") == ip]
    assert ("ban", ip) in types and ("unban", ip) in types and ("ban_points", ip) in types
    assert types.index(("ban", ip)) < types.index(("unban", ip))
    burst = [e for e in collect.events if e["type"] == "ban_points" and e["ip"] == ip]
    assert burst[0]["added"] >= 10 and burst[-1]["score"] >= 20


# --------------------------------------------------------------------------- OpenVPN 2, captured

OPENVPN = fixtures("openvpn")


@pytest.mark.parametrize("path", OPENVPN, ids=ids(OPENVPN))
def test_openvpn_watcher_on_captured_statuses(path, monkeypatch):
    cap = load(path)
    c = cfg("openvpn", hosts=[cap["host"]], instances=[{"name": "lab", "socket": "/run/openvpn-server/lab.sock"}])
    collect = Collect()
    watcher = vw.OpenVPNWatcher(c, cap["host"], collect, remote=True)
    statuses = iter([parse_status(step["lines"]) for step in cap["steps"]])
    monkeypatch.setattr(watcher, "poll_instance", lambda inst: next(statuses))
    snaps = {"lab": None}
    presence = vw.Presence()
    inst = c["instances"][0]
    for _step in cap["steps"]:
        run(watcher.poll_once(inst, snaps, presence))
    types = collect.types()
    assert types[0] == ("server_up", None)
    assert {"alice", "bob"} <= set(u for t, u in types if t == "connect")
    assert [(t, u) for t, u in types if u == "carol"] == [("connect", "carol"), ("disconnect", "carol")]
    carol = [e for e in collect.events if e.get("user") == "carol"]
    assert carol[0]["initial"] is False and carol[0]["client_id"] is not None and carol[0]["real_ip"]
    assert carol[0]["virtual_address"] and carol[0]["management"] == {"socket": "/run/openvpn-server/lab.sock"}
    assert all(e["instance"] == "lab" and e["meta"]["hosts"] == cap["host"] for e in collect.events)


def test_openvpn_busy_is_not_an_outage(monkeypatch):
    c = cfg("openvpn", instances=[{"name": "lab", "socket": "/run/x.sock"}])
    collect = Collect()
    watcher = vw.OpenVPNWatcher(c, "vpn1", collect, remote=False)

    def busy(inst):
        raise VpnControlError("busy", kind="busy")
    monkeypatch.setattr(watcher, "poll_instance", busy)
    run(watcher.poll_once(c["instances"][0], {"lab": None}, vw.Presence()))
    assert collect.events == []

    def gone(inst):
        raise VpnControlError("The management socket /run/x.sock does not exist", kind="not_found")
    monkeypatch.setattr(watcher, "poll_instance", gone)
    presence = vw.Presence()
    for _i in range(3):
        run(watcher.poll_once(c["instances"][0], {"lab": None}, presence))
    assert collect.types() == [("server_gone", None)]
    assert collect.events[0]["error_kind"] == "not_found" and collect.events[0]["initial"] is True


def test_openvpn_polls_in_short_sessions(tmp_path):
    """One poll = connect, banner, status 3, quit: the interface is free again right after."""
    import socket
    import threading
    path = str(tmp_path / "mgmt.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    seen = []

    def serve():
        for _i in range(2):
            conn, _a = server.accept()
            conn.sendall(b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n")
            data = b""
            while b"quit" not in data:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
                if b"status 3\n" in data and b"END" not in data:
                    conn.sendall(b"TITLE\tOpenVPN 2.6.14\r\nHEADER\tCLIENT_LIST\tCommon Name\tReal Address\t"
                                 b"Virtual Address\tClient ID\r\nCLIENT_LIST\talice\t10.0.0.2:1194\t10.8.0.2\t4\r\n"
                                 b"END\r\n")
                    data += b"END"
            seen.append(data)
            conn.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    c = cfg("openvpn", instances=[{"name": "lab", "socket": path}])
    watcher = vw.OpenVPNWatcher(c, "vpn1", Collect(), remote=False)
    for _i in range(2):
        status = watcher.poll_instance(c["instances"][0])
        assert [cl["common_name"] for cl in status["clients"]] == ["alice"]
    thread.join(5)
    server.close()
    assert len(seen) == 2 and all(s.startswith(b"status 3\n") and b"quit" in s for s in seen)


# --------------------------------------------------------------------------- OpenVPN 3, captured

OPENVPN3 = fixtures("openvpn3")


def replay_busctl(steps):
    calls = [call for step in steps for call in step["calls"]]
    state = {"at": 0}

    def runner(argv, timeout):
        call = calls[state["at"]]
        # busctl's own options, "--", then the captured verb and its arguments
        assert argv[4] == "--" and argv[5:] == call["argv"]
        state["at"] += 1
        return call["rc"], call["stdout"], call["stderr"]
    return runner


@pytest.mark.parametrize("path", OPENVPN3, ids=ids(OPENVPN3))
def test_openvpn3_watcher_on_captured_sessions(path, monkeypatch):
    cap = load(path)
    c = cfg("openvpn3", hosts=[cap["host"]], interval=0.01)
    collect = Collect()
    watcher = vw.OpenVPN3Watcher(c, cap["host"], collect, remote=True)
    runner = replay_busctl(cap["steps"])
    looks = {"n": 0}

    def poll():
        looks["n"] += 1
        if looks["n"] > len(cap["steps"]):
            raise asyncio.CancelledError()
        return OpenVPN3Client(timeout=30, runner=runner, busctl="busctl").sessions(statistics=False)
    monkeypatch.setattr(watcher, "poll", poll)
    with pytest.raises(asyncio.CancelledError):
        run(watcher.run())
    types = [(e["type"], e.get("state"), e.get("previous_state")) for e in collect.events]
    assert types[0] == ("server_up", None, None)
    assert ("connect", "connected", None) in types          # the lab's session, initial
    assert ("pause", "paused", "connected") in types
    resumed = [t for t in types if t[0] == "connect" and t[2] is not None]
    assert resumed and resumed[-1][2] in ("paused", "resuming", "connecting", "reconnecting")
    assert all(e["path"].startswith("/net/openvpn/v3/sessions/") for e in collect.events if "path" in e)


def test_empty_hosts_watch_nothing_without_checking_the_rest():
    async def briefly():
        task = asyncio.ensure_future(vw.run_source("openvpn", asyncio.Queue(), {"hosts": [], "instances": []}))
        await asyncio.sleep(0.1)
        assert not task.done()
        task.cancel()
    run(briefly())


def test_openvpn_handshake_rows_are_not_connections():
    undef = {"clients": [{"client_id": 7, "common_name": "UNDEF", "real_address": "10.0.0.9:1194"}]}
    named = {"clients": [{"client_id": 7, "common_name": "carol", "real_address": "10.0.0.9:1194"}]}
    assert vw.openvpn_snapshot(undef) == {}
    changes = vw.openvpn_changes(vw.openvpn_snapshot(undef), vw.openvpn_snapshot(named))
    assert [(t, c["common_name"]) for t, c in changes] == [("connect", "carol")]


def test_openvpn_management_options_are_only_the_set_ones():
    c = cfg("openvpn", instances=[{"name": "a", "socket": "/run/a.sock"}, {"name": "b", "port": 7505},
                                  {"name": "c", "port": 7506, "password_file": "/etc/pw"}])
    assert [vw.openvpn_management(i) for i in c["instances"]] == [
        {"socket": "/run/a.sock"}, {"host": "127.0.0.1", "port": 7505},
        {"host": "127.0.0.1", "port": 7506, "password_file": "/etc/pw"}]
