"""Shared helpers of the vpnfleet benchmarks (bench/README.md).

Standard library only. Every benchmark script:

* takes repeated samples of the subject and of its baseline *interleaved in the same run*
  (A B A B ...), so that the load of the machine hits both alike, and reports the ratio of
  the two per pair (median, min, max), plus the absolute medians;
* records the machine, the versions, the date and the load average before and after;
* writes its raw results to ``bench/results/<name>.json`` (not committed) and replaces
  its own section of ``docs/performance.md`` (between ``<!-- bench:<name>:begin -->`` and
  ``<!-- bench:<name>:end -->``), leaving the other benchmarks' sections as they are.
"""

import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
DOC = os.path.join(REPO_ROOT, "docs", "performance.md")

# the collection as ``ansible_collections.vpnfleet.control`` (scripts/setup makes this link)
COLLECTIONS = os.path.join(REPO_ROOT, ".build", "collections")

SECTION_ORDER = ["per_task", "fleet", "batch", "parser"]

DOC_HEAD = """# Performance

What the collection costs, measured on the lab against what an operator would write without it.
Every figure below is written by a script in `bench/` (see `bench/README.md` to run them again);
edit the scripts, not this page. Each section says when, on which machine and with which versions
it was taken, how, and what limits the figure.

Ratios are taken **side by side in one run**: the subject and its baseline alternate (A B A B ...)
so that whatever else loads the machine hits both alike; the ratio is computed per pair and the
median of the pairs is reported with its spread (min-max). Absolute times depend on the machine
and its load, ratios much less.
"""


def ensure_import_path():
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "vpnfleet", "control")):
        raise SystemExit("%s/ansible_collections/vpnfleet/control is missing: run scripts/setup" % COLLECTIONS)


# ---------------------------------------------------------------------------- statistics

def summary(values):
    """median / min / max / quartiles of a list of numbers."""
    vals = sorted(values)
    if not vals:
        return {"n": 0}
    out = {"n": len(vals), "median": statistics.median(vals), "min": vals[0], "max": vals[-1]}
    if len(vals) >= 4:
        q = statistics.quantiles(vals, n=4)
        out["q1"], out["q3"] = q[0], q[2]
    else:
        out["q1"], out["q3"] = vals[0], vals[-1]
    return out


def paired(subject, baseline, samples, warmup=1, setup=None):
    """Run ``subject()`` and ``baseline()`` alternately ``samples`` times (order swapped every
    pair); return ``{subject: [s], baseline: [s], ratio: [subject/baseline per pair]}``."""
    for _round in range(warmup):
        if setup:
            setup()
        subject()
        if setup:
            setup()
        baseline()
    subj, base = [], []
    for i in range(samples):
        order = (("s", subject), ("b", baseline)) if i % 2 == 0 else (("b", baseline), ("s", subject))
        for tag, fn in order:
            if setup:
                setup()
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            (subj if tag == "s" else base).append(dt)
    return {"subject": subj, "baseline": base, "ratio": [s / b for s, b in zip(subj, base)]}


def fmt_s(seconds):
    if seconds is None:
        return "-"
    if seconds < 0:
        return "-" + fmt_s(-seconds)
    if seconds < 0.001:
        return "%.0f µs" % (seconds * 1e6)
    if seconds < 1:
        return "%.1f ms" % (seconds * 1e3)
    return "%.2f s" % seconds


def fmt_spread(summ, fmt=fmt_s):
    """``median (min-max)``."""
    if not summ or not summ.get("n"):
        return "-"
    return "%s (%s-%s)" % (fmt(summ["median"]), fmt(summ["min"]), fmt(summ["max"]))


def fmt_ratio(summ):
    return fmt_spread(summ, lambda x: "%.2fx" % x)


# ---------------------------------------------------------------------------- environment

def _cmd(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30,
                           check=False)
        return p.stdout.strip()
    except Exception:  # noqa: BLE001 - informational only
        return None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def machine():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    osrel = None
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osrel = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(), "cpu": cpu, "mem_mib": mem, "os": osrel,
        "kernel": platform.release(), "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
    }


def ansible_core_version():
    try:
        from ansible.release import __version__
        return __version__
    except ImportError:
        exe = shutil.which("ansible")
        out = _cmd([exe, "--version"]) if exe else None
        return out.splitlines()[0] if out else None


def git_rev():
    return _cmd(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"])


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class Run(object):
    """One benchmark run: environment before/after, results, the doc section."""

    @classmethod
    def load(cls, name):
        """The last run's record (bench/results/NAME.json), to render its section again."""
        run = cls(name)
        with open(os.path.join(RESULTS_DIR, "%s.json" % name)) as f:
            run.data = json.load(f)
        run.replay = True
        return run

    def rerender(self, render):
        """Write the section again from the stored results (after a change of the text only)."""
        write_section(self.name, render(self, self.data["results"]))

    def __init__(self, name):
        self.name = name
        self.replay = False
        self.started = time.time()
        self.data = {
            "name": name, "date": now_utc(), "machine": machine(), "ansible_core": ansible_core_version(),
            "git": git_rev(), "load_before": loadavg(), "argv": sys.argv[1:],
        }

    def finish(self, results, section_md):
        self.data["results"] = results
        os.makedirs(RESULTS_DIR, exist_ok=True)
        path = os.path.join(RESULTS_DIR, "%s.json" % self.name)
        with open(path, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True, default=str)
            f.write("\n")
        write_section(self.name, section_md)
        print("results: %s\ndoc section: %s (%s)" % (path, DOC, self.name))

    def env_lines(self, extra=None):
        if not self.replay:
            self.data["duration_s"] = round(time.time() - self.started, 1)
            self.data["load_after"] = loadavg()
        m = self.data["machine"]
        lines = [
            "- Date: %s; commit `%s`; run took %s s." % (
                self.data["date"], self.data["git"], self.data.get("duration_s", "?")),
            "- Machine: %s CPUs (%s), %s MiB, %s, kernel %s." % (
                m["cpus"], m["cpu"], m["mem_mib"], m["os"], m["kernel"]),
            "- Controller: Python %s, ansible-core %s." % (m["python"], self.data["ansible_core"]),
            "- Load average (1/5/15 min) before: %s, after: %s (the bench lab's own containers count; a figure "
            "above 2 before a run means other work on the machine)." % (
                _fmt_load(self.data["load_before"]), _fmt_load(self.data.get("load_after"))),
        ]
        for line in extra or []:
            lines.append("- " + line)
        return lines


def _fmt_load(load):
    return "/".join("%.2f" % x for x in load) if load else "?"


SUMMARY_BEGIN, SUMMARY_END = "<!-- bench:summary:begin -->", "<!-- bench:summary:end -->"


def _with_summary(head, sections):
    """The head with its summary rebuilt from the sections' title, date and **Result** lines."""
    rows = []
    for sec in sections:
        title = next((ln[3:] for ln in sec.splitlines() if ln.startswith("## ")), "?")
        result = next((ln for ln in sec.splitlines() if ln.startswith("**Result")), "")
        date = next((ln.split(";")[0][len("- Date: "):] for ln in sec.splitlines() if ln.startswith("- Date: ")), "?")
        rows.append("- **%s** (%s): %s" % (title, date, re.sub(r"^\*\*Result:?\*\*:?\s*", "", result)))
    block = "%s\n## Summary\n\n%s\n%s" % (SUMMARY_BEGIN, "\n".join(rows), SUMMARY_END)
    i, j = head.find(SUMMARY_BEGIN), head.find(SUMMARY_END)
    if i >= 0 and j > i:
        return head[:i] + block + head[j + len(SUMMARY_END):]
    return head.rstrip() + "\n\n" + block + "\n"


def write_section(name, body):
    """Replace this benchmark's section of docs/performance.md (create the file if needed)."""
    begin, end = "<!-- bench:%s:begin -->" % name, "<!-- bench:%s:end -->" % name
    try:
        with open(DOC) as f:
            text = f.read()
    except FileNotFoundError:
        text = DOC_HEAD
    sections = {}
    for sec in SECTION_ORDER + [name]:
        b, e = "<!-- bench:%s:begin -->" % sec, "<!-- bench:%s:end -->" % sec
        i, j = text.find(b), text.find(e)
        if i >= 0 and j > i:
            sections[sec] = text[i:j + len(e)]
    head_end = min([text.find("<!-- bench:%s:begin -->" % s) for s in sections if text.find(
        "<!-- bench:%s:begin -->" % s) >= 0] or [len(text)])
    head = text[:head_end].rstrip() + "\n"
    sections[name] = "%s\n%s\n%s" % (begin, body.strip(), end)
    order = [s for s in SECTION_ORDER if s in sections] + sorted(s for s in sections if s not in SECTION_ORDER)
    head = _with_summary(head, [sections[s] for s in order])
    out = head + "\n" + "\n\n".join(sections[s] for s in order) + "\n"
    tmp = DOC + ".tmp"
    with open(tmp, "w") as f:
        f.write(out)
    os.replace(tmp, DOC)
