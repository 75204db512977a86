#!/usr/bin/env python
"""Benchmark 2: fleet (bench/README.md).

Revoke one user (``alice``, connected from the lab's client host to every server) on N lab ocserv
hosts with the collection's ``playbooks/revoke.yml`` (servers found by ``vpn_facts`` now, taken from
fresh facts in the fact cache, and named in the inventory), against the naive play an operator writes
today (lock the account with ``ocpasswd -l``, ``occtl show user``, ``occtl disconnect user``,
``occtl show user`` until gone: four ``ansible.builtin.command`` tasks, Ansible's default
``forks: 5``). Also the naive play with the same forks as ours, to tell the gain of the forks from
the gain of the modules. Between runs (untimed) the account is unlocked and alice reconnected; for
the cached variant the reset also gathers ``vpn_facts`` into a jsonfile fact cache, as the fleet report
(or ``gather_facts`` with ``vpn_facts``) does on a fleet that caches facts.

The lab is a bench-only lab (id ``VPNFLEET_FLEET_LAB_ID``, default ``benchfleet``) of N ocserv
hosts of one release (``VPNFLEET_FLEET_RELEASE``, default trixie: ocserv 1.3.0) and one client host::

    bench/fleet.py [--n 5 10 20] [--samples 2] [--forks N]   (forks default: N, one per host)

Goal: at least 2x faster than the naive play at every N, time per host flat as N grows.
"""

import argparse
import os
import shutil
import sys
import tempfile

import benchlib
import labbench

USER = "alice"
REVOKE = os.path.join(benchlib.REPO_ROOT, "playbooks", "revoke.yml")

NAIVE = """
- name: Revoke (naive)
  hosts: "{{ fleet }}"
  gather_facts: false
  tasks:
    - name: "N1: lock the account"
      ansible.builtin.command: ocpasswd -c /etc/ocserv/ocpasswd -l {{ user }}
    - name: "N2: is the user connected"
      ansible.builtin.command: occtl -j show user {{ user }}
      register: nq
      changed_when: false
      failed_when: nq.rc not in [0, 2]
    - name: "N3: disconnect"
      ansible.builtin.command: occtl disconnect user {{ user }}
      when: nq.rc == 0
    - name: "N4: check"
      ansible.builtin.command: occtl -j show user {{ user }}
      register: nc
      changed_when: false
      failed_when: false
      until: nc.rc == 2
      retries: 50
      delay: 0.2
"""

RESET = """
- name: Unlock
  hosts: "{{ fleet }}"
  gather_facts: false
  tasks:
    - name: Unlock the account
      ansible.builtin.command: ocpasswd -c /etc/ocserv/ocpasswd -u {{ user }}
      changed_when: false
      failed_when: false
- name: Reconnect
  hosts: vpn_clients
  gather_facts: false
  tasks:
    - name: Restart the client units
      ansible.builtin.systemd_service:
        name: "oc-client@{{ item }}-{{ user }}.service"
        state: restarted
      loop: "{{ fleet.split(',') }}"
- name: Wait
  hosts: "{{ fleet }}"
  gather_facts: false
  tasks:
    - name: Wait until the user is connected
      ansible.builtin.command: occtl -j show user {{ user }}
      register: w
      changed_when: false
      failed_when: false
      until: w.rc == 0
      retries: 90
      delay: 1
    - name: Connected
      ansible.builtin.assert:
        that: w.rc == 0
        quiet: true
"""

VERSIONS = """
- name: Versions
  hosts: "{{ fleet }}"
  gather_facts: false
  tasks:
    - name: "V: versions"
      ansible.builtin.shell: "ocserv --version 2>&1 | grep -oE '[0-9]+[.][0-9]+[.][0-9]+' | head -1; python3 -V"
      changed_when: false
"""

# What fills the fact cache before the cached variant (untimed): the fleet report's vpn_facts
GATHER = """
- name: Gather the VPN facts into the fact cache
  hosts: "{{ fleet }}"
  gather_facts: false
  tasks:
    - name: VPN facts
      vpnfleet.control.vpn_facts:
"""

# Ansible's own fixed cost over the same hosts (start, inventory, connections' first use): no task at all
EMPTY = """
- name: Empty play
  hosts: "{{ fleet }}"
  gather_facts: false
  tasks: []
"""

NAME = "fleet"


def fleet_lab():
    os.environ["VPNFLEET_LAB_ID"] = os.environ.get("VPNFLEET_FLEET_LAB_ID", "benchfleet")


# One release for every host: 21 containers booting at once on the shared 2-core machine did not
# all come up within the lab's boot timeout with bookworm and sid in the mix (first attempt); trixie
# hosts did. The release is an option.
RELEASE = os.environ.get("VPNFLEET_FLEET_RELEASE", "trixie")


def hosts_spec(n_max):
    specs = ["f%02d=%s:ocserv_servers" % (i, RELEASE) for i in range(1, n_max + 1)]
    return specs + ["fc=%s:vpn_clients" % RELEASE]


def run_pb(text, fleet, forks=None, extra=None, path=None, cache_dir=None):
    """One timed ansible-playbook run over ``fleet``; with ``cache_dir``, a jsonfile fact cache there."""
    ev = {"fleet": fleet, "user": USER}
    ev.update(extra or {})
    return labbench.playbook(text, extra_vars=ev, forks=forks, timeout=1200, path=path,
                             extra_env=fact_cache_env(cache_dir) if cache_dir else None)


def check(rc, out, recs, what):
    fails = labbench.failures(recs)
    if rc != 0 or fails:
        sys.stderr.write(out[-6000:])
        raise SystemExit("%s failed (rc %s): %s" % (what, rc, fails[:3]))


# What the inventory says of every bench host when the servers are named there (the shape vpn_facts returns)
PINNED = {"revoke_ocserv_instances": [{"socket": "/var/run/occtl.socket", "passwd_file": "/etc/ocserv/ocpasswd"}]}


def fact_cache_env(cache_dir):
    return {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": cache_dir,
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "600"}


def revoke(fleet, forks, pinned=False, cache_dir=None):
    # the lab connects as root: no become, like the naive play (sudo would be one more process per task)
    extra = {"revoke_users": [USER], "revoke_hosts": fleet, "revoke_become": False}
    if pinned:
        extra.update(PINNED)
    return run_pb(None, fleet, forks=forks, path=REVOKE, extra=extra, cache_dir=cache_dir)


def fill_fact_cache(fleet, forks, cache_dir):
    shutil.rmtree(cache_dir, ignore_errors=True)
    return run_pb(GATHER, fleet, forks=forks, cache_dir=cache_dir)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--forks", type=int, help="forks for our playbook (default: N)")
    ap.add_argument("--no-naive-same-forks", action="store_true")
    ap.add_argument("--render", action="store_true", help="only write the doc section again from the last results")
    args = ap.parse_args(argv)
    if args.render:
        benchlib.Run.load(NAME).rerender(render)
        return 0
    fleet_lab()
    run = benchlib.Run(NAME)
    labbench.up(hosts_spec(max(args.n)))
    fleet_all = ",".join("f%02d" % i for i in range(1, max(args.n) + 1))
    rc, out, recs, _wall = run_pb(VERSIONS, fleet_all)
    check(rc, out, recs, "versions")
    versions = sorted(set(r["extra"].get("stdout", "").replace("\n", ", ") for r in recs if r["kind"] == "task"))
    results = {"ns": args.n, "samples": args.samples, "versions": versions, "by_n": {},
               "lab": os.environ["VPNFLEET_LAB_ID"]}
    cache_dir = tempfile.mkdtemp(prefix="vfl-bench-facts-")
    for n in args.n:
        fleet = ",".join("f%02d" % i for i in range(1, n + 1))
        forks = args.forks or n
        variants = [("empty", lambda: run_pb(EMPTY, fleet, forks=forks)),
                    ("ours", lambda: revoke(fleet, forks)), ("naive5", lambda: run_pb(NAIVE, fleet, forks=5)),
                    ("pinned", lambda: revoke(fleet, forks, pinned=True)),
                    ("cached", lambda: revoke(fleet, forks, cache_dir=cache_dir))]
        if not args.no_naive_same_forks:
            variants.append(("naiveN", lambda: run_pb(NAIVE, fleet, forks=forks)))
        got = dict((k, []) for k, _fn in variants)
        for s in range(args.samples):
            order = variants if s % 2 == 0 else list(reversed(variants))
            for name, fn in order:
                rc, out, recs, _wall = run_pb(RESET, fleet, forks=max(n, 5))
                check(rc, out, recs, "reset")
                if name == "cached":
                    rc, out, recs, _wall = fill_fact_cache(fleet, max(n, 5), cache_dir)
                    check(rc, out, recs, "fact cache")
                rc, out, recs, wall = fn()
                check(rc, out, recs, name)
                plays = sum(r["seconds"] for r in recs if r["kind"] == "play")
                per_task = {}
                for r in recs:
                    if r["kind"] == "task" and r["status"] != "skipped":
                        per_task[r["task"]] = max(per_task.get(r["task"], 0.0), r["seconds"])
                got[name].append({"wall": wall, "plays": plays, "tasks": per_task,
                                  "changed_hosts": len(set(r["host"] for r in recs if r["kind"] == "task"
                                                           and r["changed"]))})
                sys.stderr.write("N=%d %s sample %d: wall %.1fs\n" % (n, name, s, wall))
        results["by_n"][str(n)] = {"forks": forks, "runs": got}
    shutil.rmtree(cache_dir, ignore_errors=True)
    run.finish(results, render(run, results))
    return 0


def _ratio(d, subject, baseline):
    """Per-sample ``baseline / subject`` wall-time ratios (how many times faster the subject is)."""
    return benchlib.summary([b["wall"] / a["wall"] for a, b in zip(d.get(subject, []), d.get(baseline, []))])


def _wall(d, name):
    return benchlib.summary([r["wall"] for r in d.get(name, [])])


def _met(ratio):
    return "met" if ratio >= 2 else "**not met**"


def render(run, res):
    out = ["## 2. Fleet", ""]
    parts = []
    for n in res["ns"]:
        d = res["by_n"][str(n)]["runs"]
        pinned, found = _ratio(d, "pinned", "naive5")["median"], _ratio(d, "ours", "naive5")["median"]
        cached = _ratio(d, "cached", "naive5")["median"] if d.get("cached") else 0.0
        parts.append("N=%d: %.2fx (%s) with the servers named in the inventory, %.2fx (%s) with discovery from "
                     "fresh cached facts, %.2fx (%s) with discovery by vpn_facts in the run; ours %s per host" % (
                         n, pinned, _met(pinned), cached, _met(cached), found, _met(found),
                         benchlib.fmt_s(_wall(d, "cached" if d.get("cached") else "pinned")["median"] / n)))
    out += ["**Result** (how many times faster `playbooks/revoke.yml` is than the naive play with Ansible's default "
            "forks, medians; goal >= 2x at every N, time per host flat): %s." % "; ".join(parts), ""]
    out += run.env_lines([
        "Bench-only lab `%s`: %d ocserv hosts (Debian %s), one client host with `%s` connected to every "
        "server (the lab's openconnect units); on the servers: %s." % (
            res.get("lab"), max(res["ns"]), RELEASE, USER, "; ".join(res["versions"])),
        "Ours: `ansible-playbook playbooks/revoke.yml -e revoke_users=[%s]` with `forks` = N (one per host), "
        "`strategy: linear`, the lab's SSH settings (pipelining, ControlPersist), `revoke_become: false` (the lab "
        "connects as root, as the naive play does, which has no `become` either). "
        "*Named*: the inventory names each host's servers (`revoke_ocserv_instances: [{socket, passwd_file}]`), so "
        "the play runs one module task per host and server: `ocserv_user` with `account: locked` (lock in the "
        "ocpasswd file, then terminate). *Cached facts*: the servers taken from `vpn_facts` facts in a "
        "jsonfile fact cache (filled untimed before the run, as the fleet report does; younger than "
        "`revoke_facts_max_age`, 300 s), the same one module task per host. *Discovery*: the same after "
        "`vpn_facts` found the servers in the run (one more module task per host: `revoke_facts_max_age: 0` or "
        "no cache)." % USER,
        "Naive: 4 `ansible.builtin.command` tasks (`ocpasswd -l`, `occtl show user`, `occtl disconnect user`, "
        "`occtl show user` until gone, `delay: 0.2`) with Ansible's default `forks: 5`, and again with forks = N.",
        "Time = wall time of the whole `ansible-playbook` run (start-up and the report included); %d samples per "
        "variant and N, variants alternating; untimed reset (unlock, reconnect) before each run." % res["samples"],
    ])
    out += ["", "| N | ours, named | ours, cached facts | ours, discovery | naive, forks 5 "
            "| **naive / ours named** (goal >= 2x) | **naive / ours cached** (goal >= 2x) | naive / ours discovery "
            "| naive, forks N | naive N / ours named | ours cached per host | naive 5 per host |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for n in res["ns"]:
        d = res["by_n"][str(n)]["runs"]
        r5, rc = _ratio(d, "pinned", "naive5"), _ratio(d, "cached", "naive5")
        out.append("| %d | %s | %s | %s | %s | **%s** %s | **%s** %s | %s | %s | %s | %s | %s |" % (
            n, benchlib.fmt_spread(_wall(d, "pinned")), benchlib.fmt_spread(_wall(d, "cached")),
            benchlib.fmt_spread(_wall(d, "ours")), benchlib.fmt_spread(_wall(d, "naive5")),
            benchlib.fmt_ratio(r5), _met(r5["median"]).strip("*"), benchlib.fmt_ratio(rc),
            _met(rc["median"]).strip("*"), benchlib.fmt_ratio(_ratio(d, "ours", "naive5")),
            benchlib.fmt_spread(_wall(d, "naiveN")), benchlib.fmt_ratio(_ratio(d, "pinned", "naiveN")),
            benchlib.fmt_s(_wall(d, "cached")["median"] / n), benchlib.fmt_s(_wall(d, "naive5")["median"] / n)))
    empties = [(n, _wall(res["by_n"][str(n)]["runs"], "empty")["median"]) for n in res["ns"]
               if res["by_n"][str(n)]["runs"].get("empty")]
    if empties:
        out += ["", "Ansible's fixed cost, an empty play (no task) over the same hosts: %s. What a play can gain "
                "over the naive one is bounded by it: with one module round for ours against four for the naive "
                "play, the ratio stays under (fixed + 4 rounds) / (fixed + 1 round), which at N=5 on this "
                "machine is below 2x." % ", ".join("N=%d %s" % (n, benchlib.fmt_s(w)) for n, w in empties)]
    n_max = str(max(res["ns"]))
    runs = res["by_n"][n_max]["runs"]
    if runs.get("pinned") and runs["pinned"][0].get("tasks"):
        out += ["", "### Where the time goes (N=%s, first sample, slowest host per task)" % n_max, ""]
        for name, label in (("pinned", "revoke.yml, servers named"), ("cached", "revoke.yml, cached facts"),
                            ("ours", "revoke.yml, discovery"), ("naive5", "naive play")):
            if not runs.get(name):
                continue
            tasks = runs[name][0]["tasks"]
            total = sum(tasks.values())
            out.append("- %s: %d tasks, %s in tasks of %s wall: %s." % (
                label, len(tasks), benchlib.fmt_s(total), benchlib.fmt_s(runs[name][0]["wall"]), ", ".join(
                    "%s %s" % (k, benchlib.fmt_s(v)) for k, v in sorted(tasks.items(), key=lambda kv: -kv[1])[:8])))
    out += ["", "How the figures come about: the controller and all N hosts share this machine's 2 CPUs, so a round "
            "of tasks over N hosts costs about N times the CPU of one module run (on the host about 180 ms of "
            "Python for Ansible's module wrapper alone, the same for `command` and for our modules). What counts is "
            "the number of module runs per host: 4 for the naive play, 1 for `revoke.yml` with the servers named "
            "or taken from fresh cached facts, 2 with discovery in the run (`vpn_facts` first). "
            "`ansible-playbook`'s own start (about 0.6 s) and the play's cheap "
            "controller-side steps (the check of the request, skipped includes, the report) are paid once per run "
            "and weigh most at N=5. Forks: `revoke.yml` runs with one fork per host (the bench passes forks = N; "
            "set `forks` in ansible.cfg or `-f` to the fleet size, since each fork mostly waits on its host); the "
            "naive play with the same forks gains little here because the CPUs, not the forks, are the limit "
            "(column *naive, forks N*). On a real fleet each host does its part on its own CPUs and wall time "
            "follows the number of sequential task rounds instead: 4 x ceil(N/5) for the naive play against 1 "
            "(named, cached facts) or 2 (discovery) for `revoke.yml`.",
            "",
            "Limits: all hosts are containers on the same 2-core machine as the controller, so the hosts' own "
            "work competes with the controller's forks for the same CPUs (a real fleet's hosts do their work "
            "in parallel on their own CPUs: the timings here are bound by CPU, not by round trips); "
            "one user per run; SSH to containers on a local bridge (no WAN latency, which would favour the "
            "variant with fewer round trips); the machine may be shared with other jobs (see the load)."]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
