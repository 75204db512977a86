#!/usr/bin/env python
"""Benchmark 4: parser scale (bench/README.md).

occtl ``-j`` output with 10,000 users / sessions and OpenVPN ``status 3`` with 10,000 clients
(and their 10,000 routes), made by scaling up captures of real servers (bench/gen_inputs.py).

* occtl: the collection's parser (``_ocserv_parsers.records``: occtl's text to a list of dicts) against a
  plain ``json.loads`` of the same bytes, in pairs; then the same with the normalisation the
  modules return (``normalize_user`` / ``normalize_session``). Goal: parsing <= 1.5x json.loads.
  ocserv <= 1.3 prints invalid JSON for sessions (trailing commas): there the baseline is
  ``json.loads`` of the same bytes with the trailing commas removed (the repair done untimed).
* OpenVPN: ``_openvpn_parsers.parse_status`` of the ``status 3`` lines (goal < 100 ms), and the whole
  ``ManagementClient.status(3)`` (socket read, line splitting, parsing) against an in-process
  peer that replays the bytes over a socketpair.
* Previous parsers (bench/candidates.py): the parsers as they were before their fast paths, timed
  in the same run and checked to give the same results.
* Memory: tracemalloc peak while parsing 1,250 / 2,500 / 5,000 / 10,000 records (linear when the
  bytes per record stay flat).

    bench/parser_scale.py [--records 10000] [--samples 5] [--quick]
"""

import argparse
import cProfile
import gc
import glob
import os
import pstats
import json
import re
import socket
import sys
import threading
import time
import tracemalloc

import benchlib
import gen_inputs

benchlib.ensure_import_path()

import candidates  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_parsers as ocp  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_client as oc, _openvpn_parsers as op  # noqa: E402

OCCTL_CASES = [
    # (label, ocserv version, capture, normaliser)
    ("show users -j, ocserv 1.5.0 (valid JSON)", "1.5.0", "users_json", "user"),
    ("show users -j, ocserv 1.1.6 (valid JSON)", "1.1.6", "users_json", "user"),
    ("show sessions all -j, ocserv 1.5.0 (valid JSON)", "1.5.0", "sessions_all_json", "session"),
    ("show sessions all -j, ocserv 1.1.6 (trailing commas: invalid JSON)", "1.1.6", "sessions_all_json",
     "session"),
]
STATUS_CASES = [("status 3, OpenVPN 2.6.14", "2.6.14"), ("status 3, OpenVPN 2.7.8", "2.7.8")]
MEM_SIZES = [1250, 2500, 5000, 10000]

_TRAILING = re.compile(r",(\s*[}\]])")

NAME = "parser"


def repaired(text):
    try:
        json.loads(text)
        return text, False
    except ValueError:
        fixed = _TRAILING.sub(r"\1", text)
        json.loads(fixed)
        return fixed, True


def occtl_full(text, kind):
    recs = ocp.records(text)
    if kind == "user":
        now = time.time()
        return [ocp.normalize_user(r, now=now) for r in recs]
    return [ocp.normalize_session(r) for r in recs]


def mem_peak(fn):
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak


def mem_series(make_input, parse):
    rows = []
    for n in MEM_SIZES:
        data = make_input(n)
        peak = mem_peak(lambda: parse(data))
        rows.append({"records": n, "peak_bytes": peak, "per_record": peak / n, "input_bytes": len(data)})
        del data
    return rows


def linearity(rows):
    """per-record peak at the largest size / per-record peak at the smallest (1.0 = linear)."""
    return rows[-1]["per_record"] / rows[0]["per_record"]


def profile_top(fn, count=4):
    """The functions with the most own time while running ``fn`` once: [(name, share of total)]."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    st = pstats.Stats(prof)
    total = st.total_tt or 1.0
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:count]
    out = []
    for (path, line, func), (_cc, _nc, tt, _ct, _callers) in rows:
        where = "%s:%s %s" % (os.path.basename(path), line, func) if line else func
        out.append((where, tt / total))
    return out


def candidates_agree():
    """The previous parsers (candidates.py) return what the collection's parsers return on every captured fixture."""
    fx = gen_inputs.FIXTURES
    checked = 0
    for path in glob.glob(os.path.join(fx, "ocserv", "*", "*", "*.json")):
        with open(path) as f:
            d = json.load(f)
        if not isinstance(d, dict) or not d.get("json"):
            continue
        try:
            want = ocp.records(d.get("stdout", ""))
        except ValueError:
            continue
        if candidates.occtl_records(d.get("stdout", "")) != want:
            raise SystemExit("previous occtl_records differs on %s" % path)
        checked += 1
    for path in glob.glob(os.path.join(fx, "openvpn", "*", "*.json")):
        with open(path) as f:
            events = json.load(f)["events"]
        for k, ev in enumerate(events):
            if ev.get("dir") == "send" and ev.get("data", "").startswith("status"):
                data = "".join(x["data"] for x in events[k + 1:k + 4] if x.get("dir") == "recv")
                lines = data.split("\r\n")
                if "END" in lines:
                    lines = lines[:lines.index("END")]
                if candidates.parse_status(lines) != op.parse_status(lines):
                    raise SystemExit("previous parse_status differs on %s" % path)
                checked += 1
    return checked


class ReplayPeer(threading.Thread):
    """The server end of a socketpair: banner, then the captured bytes for ``status 3``."""

    def __init__(self, sock, banner, payload):
        threading.Thread.__init__(self, daemon=True)
        self.sock, self.banner, self.payload = sock, banner, payload

    def run(self):
        f = self.sock.makefile("rb")
        try:
            self.sock.sendall(self.banner)
            for line in f:
                cmd = line.strip()
                if cmd == b"status 3":
                    self.sock.sendall(self.payload)
                elif cmd == b"quit":
                    break
        finally:
            f.close()
            self.sock.close()


def client_status(payload, banner):
    ours, theirs = socket.socketpair()
    peer = ReplayPeer(theirs, banner, payload)
    peer.start()
    client = oc.ManagementClient(socket_path="bench-replay", timeout=30, connector=lambda: ours)
    with client:
        st = client.status(3)
    peer.join(10)
    return st


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=5, help="pairs per occtl case (status: 3x as many)")
    ap.add_argument("--quick", action="store_true", help="1,000 records, 2 samples, no memory series")
    ap.add_argument("--render", action="store_true", help="only write the doc section again from the last results")
    args = ap.parse_args(argv)
    if args.render:
        benchlib.Run.load(NAME).rerender(render)
        return 0
    if args.quick:
        args.records, args.samples = 1000, 2
    n = args.records
    run = benchlib.Run(NAME)
    results = {"records": n, "samples": args.samples, "occtl": [], "status": []}
    results["candidates_checked"] = candidates_agree()

    for label, version, capture, kind in OCCTL_CASES:
        text = gen_inputs.occtl_scaled(version, capture, n)
        base_text, was_repaired = repaired(text)
        assert len(ocp.records(text)) == n
        sys.stderr.write("occtl %s: %d bytes\n" % (label, len(text)))
        p1 = benchlib.paired(lambda: ocp.records(text), lambda: json.loads(base_text), args.samples)
        p2 = benchlib.paired(lambda: occtl_full(text, kind), lambda: json.loads(base_text), args.samples)
        if candidates.occtl_records(text) != ocp.records(text):
            raise SystemExit("previous occtl_records differs on %s" % label)
        p3 = benchlib.paired(lambda: candidates.occtl_records(text), lambda: json.loads(base_text), args.samples)
        row = {
            "label": label, "version": version, "capture": capture, "bytes": len(text),
            "baseline_repaired": was_repaired,
            "json_loads": benchlib.summary(p1["baseline"] + p2["baseline"]),
            "parse": benchlib.summary(p1["subject"]), "parse_ratio": benchlib.summary(p1["ratio"]),
            "full": benchlib.summary(p2["subject"]), "full_ratio": benchlib.summary(p2["ratio"]),
            "candidate": benchlib.summary(p3["subject"]), "candidate_ratio": benchlib.summary(p3["ratio"]),
        }
        if was_repaired:
            # what a script has to do with these bytes: remove the trailing commas (a regex), then json.loads
            p4 = benchlib.paired(lambda: ocp.records(text), lambda: json.loads(_TRAILING.sub(r"\1", text)),
                                 args.samples)
            row["with_repair"] = benchlib.summary(p4["baseline"])
            row["with_repair_ratio"] = benchlib.summary(p4["ratio"])
        if version == "1.5.0" and kind == "user":
            small = gen_inputs.occtl_scaled(version, capture, 2000)
            results["profile_occtl"] = profile_top(lambda: ocp.records(small))
        if not args.quick:
            row["memory_parse"] = mem_series(lambda k: gen_inputs.occtl_scaled(version, capture, k), ocp.records)
            row["memory_json_loads"] = mem_series(
                lambda k: repaired(gen_inputs.occtl_scaled(version, capture, k))[0], json.loads)
        results["occtl"].append(row)
        del text, base_text

    for label, version in STATUS_CASES:
        text = gen_inputs.openvpn_status_scaled(version, n)
        payload = text.encode()
        banner = b">INFO:OpenVPN Management Interface Version %d -- type 'help' for more info\r\n" % (
            6 if version.startswith("2.7") else 5)
        lines = text.split("\r\n")
        st = op.parse_status(lines)
        assert len(st["clients"]) == n and len(st["routes"]) == n and not st["rejected"], "bad scaled input"
        assert len(client_status(payload, banner)["clients"]) == n
        sys.stderr.write("openvpn %s: %d bytes\n" % (label, len(payload)))
        samples = args.samples * 3
        # parse alone (the text already split into lines, as the client hands it over)
        if candidates.parse_status(lines) != st:
            raise SystemExit("previous parse_status differs on %s" % label)
        p = benchlib.paired(lambda: op.parse_status(lines), lambda: candidates.parse_status(lines), samples)
        parse = benchlib.summary(p["subject"])
        cpu = []
        for _round in range(samples):
            c0 = time.thread_time()
            op.parse_status(lines)
            cpu.append(time.thread_time() - c0)
        if version == "2.6.14":
            results["profile_status"] = profile_top(lambda: op.parse_status(lines))
        # whole client: socket read + line splitting + parse; baseline: the same bytes read raw

        def raw_read():
            a, b = socket.socketpair()
            t = threading.Thread(target=lambda: (b.sendall(payload), b.close()))
            t.start()
            got = 0
            while True:
                chunk = a.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
            a.close()
            t.join()
            return got
        c = benchlib.paired(lambda: client_status(payload, banner), raw_read, samples)
        row = {
            "label": label, "version": version, "bytes": len(payload), "parse": parse,
            "parse_cpu": benchlib.summary(cpu), "candidate": benchlib.summary(p["baseline"]),
            "candidate_ratio": benchlib.summary([b / a for a, b in zip(p["subject"], p["baseline"])]),
            "client": benchlib.summary(c["subject"]), "raw_read": benchlib.summary(c["baseline"]),
            "split_lines": None,
        }
        t0 = time.perf_counter()
        text.split("\r\n")
        row["split_lines"] = time.perf_counter() - t0
        if not args.quick:
            row["memory_parse"] = mem_series(
                lambda k: gen_inputs.openvpn_status_scaled(version, k).split("\r\n"), op.parse_status)
        results["status"].append(row)

    run.finish(results, render(run, results))
    return 0


def _mem_cell(rows):
    if not rows:
        return "-"
    return "%.1f KiB/record at %d, %.1f KiB/record at %d (x%.2f)" % (
        rows[0]["per_record"] / 1024, rows[0]["records"], rows[-1]["per_record"] / 1024, rows[-1]["records"],
        linearity(rows))


def _mem_verdict(res):
    series = [r[k] for r in res["occtl"] + res["status"] for k in ("memory_parse",) if r.get(k)]
    if not series:
        return ""
    worst = max(linearity(rows) for rows in series)
    return " Memory: per-record peak at %d records is at most %.2fx the one at %d records (%s)." % (
        MEM_SIZES[-1], worst, MEM_SIZES[0], "linear" if worst < 1.2 else "**not linear**")


def render(run, res):
    n = res["records"]
    out = ["## 4. Parser scale", ""]
    occ = res["occtl"]
    st = res["status"]
    out += ["**Result:** occtl parsing costs %s `json.loads` of the same bytes (goal <= 1.5x: %s); with "
            "normalisation %s. `status 3` with %d clients parses in %s wall, %s CPU time (goal < 100 ms: "
            "wall %s, CPU %s).%s" % (
                " / ".join("%.1fx" % r["parse_ratio"]["median"] for r in occ),
                "met" if all(r["parse_ratio"]["median"] <= 1.5 for r in occ) else "**not met**",
                " / ".join("%.1fx" % r["full_ratio"]["median"] for r in occ), n,
                " / ".join(benchlib.fmt_s(r["parse"]["median"]) for r in st),
                " / ".join(benchlib.fmt_s(r["parse_cpu"]["median"]) for r in st if r.get("parse_cpu")),
                "met" if all(r["parse"]["median"] < 0.1 for r in st) else "**not met**",
                "met" if all(r.get("parse_cpu", {}).get("median", 1) < 0.1 for r in st) else "**not met**",
                _mem_verdict(res)), ""]
    out += run.env_lines([
        "Runs on the controller's Python (the modules parse on the managed host: its Python is what counts; "
        "bookworm has 3.11 like this controller, trixie 3.13, sid 3.14).",
        "Inputs: **captures of real servers scaled up** by `bench/gen_inputs.py`: the records of "
        "`tests/unit/fixtures/ocserv/<version>/connected/*_json.json` and the `status 3` reply of "
        "`tests/unit/fixtures/openvpn/<version>/basics.json`, repeated to %d records with distinct IDs, names, "
        "session ids and addresses; every byte of formatting is the server's." % n,
        "%d pairs per occtl case, %d per OpenVPN case; times are medians (min-max)." % (
            res["samples"], res["samples"] * 3),
    ])
    out += ["", "### occtl (%d records), goal: parse <= 1.5x `json.loads`" % n, "",
            "| output | bytes | `json.loads` | parse (`records`) | ratio | parse + normalise | ratio | goal "
            "| previous parser (tolerant reader only) | ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in res["occtl"]:
        ok = r["parse_ratio"]["median"] <= 1.5
        out.append("| %s%s | %.1f MB | %s | %s | **%s** | %s | %s | %s | %s | %s |" % (
            r["label"], " *" if r["baseline_repaired"] else "", r["bytes"] / 1e6, benchlib.fmt_spread(r["json_loads"]),
            benchlib.fmt_spread(r["parse"]), benchlib.fmt_ratio(r["parse_ratio"]), benchlib.fmt_spread(r["full"]),
            benchlib.fmt_ratio(r["full_ratio"]), "met" if ok else "**not met**",
            benchlib.fmt_spread(r.get("candidate")), benchlib.fmt_ratio(r.get("candidate_ratio"))))
    if any(r["baseline_repaired"] for r in res["occtl"]):
        out.append("")
        out.append("\\* invalid JSON as printed: the baseline is `json.loads` of the same bytes with the trailing "
                   "commas removed (repair not timed).%s" % "".join(
                       " Against what a script has to do with these bytes (%s: remove the trailing commas with a "
                       "regex, then `json.loads`; %s), the parser takes **%s** of its time." % (
                           r["label"], benchlib.fmt_spread(r["with_repair"]), benchlib.fmt_ratio(r["with_repair_ratio"]))
                       for r in res["occtl"] if r.get("with_repair")))
    if any("memory_parse" in r for r in res["occtl"]):
        out += ["", "Memory (tracemalloc peak while parsing; linear when the per-record figure stays flat):", "",
                "| output | parse | `json.loads` |", "| --- | --- | --- |"]
        for r in res["occtl"]:
            out.append("| %s | %s | %s |" % (r["label"], _mem_cell(r.get("memory_parse")),
                                             _mem_cell(r.get("memory_json_loads"))))
    out += ["", "### OpenVPN `status 3` (%d clients + %d routes), goal: parse < 100 ms" % (n, n), "",
            "| output | bytes | parse (`parse_status`), wall | CPU | goal | client: read + split + parse "
            "| raw read of the bytes | previous parser (per cell) | previous / now |",
            "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in res["status"]:
        ok = r["parse"]["median"] < 0.1
        ok_cpu = r.get("parse_cpu", {}).get("median", 1) < 0.1
        out.append("| %s | %.1f MB | **%s** | %s | %s | %s | %s | %s | %s |" % (
            r["label"], r["bytes"] / 1e6, benchlib.fmt_spread(r["parse"]), benchlib.fmt_spread(r.get("parse_cpu")),
            "wall %s, CPU %s" % ("met" if ok else "**not met**", "met" if ok_cpu else "**not met**"),
            benchlib.fmt_spread(r["client"]), benchlib.fmt_spread(r["raw_read"]),
            benchlib.fmt_spread(r.get("candidate")), benchlib.fmt_ratio(r.get("candidate_ratio"))))
    if any("memory_parse" in r for r in res["status"]):
        out += ["", "| output | memory while parsing |", "| --- | --- |"]
        for r in res["status"]:
            out.append("| %s | %s |" % (r["label"], _mem_cell(r.get("memory_parse"))))
    out += ["", "### Where the time goes", ""]
    if res.get("profile_occtl"):
        out.append("- occtl, `records()` on 2,000 users (cProfile, own time): %s. `records()` hands occtl's "
                   "output to `json.loads` (C) first, with an `object_pairs_hook` that only builds the dicts and "
                   "checks for duplicate keys (that hook is most of the difference to a plain `json.loads`); when "
                   "that fails, the trailing commas of ocserv <= 1.3 (a comma, a newline, then `}` or `]`) are "
                   "removed (`str.replace` for occtl's usual form, a regex for any other whitespace; a copy of the "
                   "text, hence the higher memory for that case) and `json.loads` runs again; only what "
                   "both refuse (`show iroutes` <= 1.3, duplicate keys, control characters) goes to the tolerant "
                   "reader in Python (`_Reader` in `plugins/module_utils/_ocserv_parsers.py`), which read every output "
                   "before. Normalising (`normalize_user`/`normalize_session`) looks each occtl label up in a "
                   "precomputed map and converts only the values that need it." % ", ".join(
                       "`%s` %.0f%%" % (w, share * 100) for w, share in res["profile_occtl"]))
    if res.get("profile_status"):
        out.append("- OpenVPN, `parse_status()` on %d clients + %d routes: %s. The columns' keys and "
                   "int-ness are decided once per HEADER (`_column_plan`), rows are recognised by tag and the "
                   "HEADER's separator without a regex and built from that plan (`_planned_row`), and "
                   "`[proto:]IPv4:port` addresses are split without the regex of `split_real_address` "
                   "(`plugins/module_utils/_openvpn_parsers.py`)." % (
                       n, n, ", ".join("`%s` %.0f%%" % (w, share * 100) for w, share in res["profile_status"])))
    out += ["- *Previous parser* (`bench/candidates.py`, not used by the collection): the parsers as they were "
            "before these fast paths (occtl: the tolerant reader for every output; OpenVPN: key, int-ness and "
            "address regex per cell and row), timed in the same run; checked to return exactly the collection's "
            "result on every benchmark input and on %d captured fixtures. The earlier runs of this section "
            "(before the fast paths, 2026-11-27 16:04 UTC) measured occtl parsing at 13.3x-17.3x `json.loads`, "
            "with normalisation 14.6x-45.4x, and `status 3` at 85-88 ms CPU." % res.get("candidates_checked", 0)]
    out += ["- CPU time (`time.thread_time`) counts only this thread's own work, so it is much less affected by the "
            "other jobs on the machine than wall time; on an idle host the wall time of this single-threaded, "
            "I/O-free parse is close to its CPU time."]
    out += ["", "Limits: synthetic scale (10,000 real connections were not run; the records are real ones "
            "repeated, so per-record cost is real but a live server's mix of states may differ); CPU-bound figures "
            "taken on a 2-core machine (see the load above); one Python version; the client figure uses an "
            "in-process socketpair peer, not a live OpenVPN (whose own time to write 20,000 lines is not counted)."]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
