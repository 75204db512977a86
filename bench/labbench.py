"""Lab side of the benchmarks: a bench-only lab, its servers, and timed ansible-playbook runs.

The lab is the project's (lab/lab, docs/lab.md) under its own id (``VPNFLEET_LAB_ID``, default
``bench``), so a developer's or a test run's lab is never touched. bench/lab/bench-servers.sh puts
bench-only VPN servers and clients on a lab host (bench ocserv instance, bench OpenVPN instance,
openconnect / OpenVPN clients) without touching the lab's own configuration.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import benchlib

LAB = os.path.join(benchlib.REPO_ROOT, "lab", "lab")
SERVERS_SH = os.path.join(benchlib.BENCH_DIR, "lab", "bench-servers.sh")
CALLBACKS = os.path.join(benchlib.BENCH_DIR, "callback_plugins")
REMOTE_SH = "/usr/local/sbin/vfl-bench-servers"
MKPKI = os.path.join(benchlib.REPO_ROOT, "lab", "provision", "openvpn", "mkpki.sh")
REMOTE_MKPKI = "/usr/local/lib/vfl-bench/mkpki.sh"   # bench-servers.sh's MKPKI

OC_SOCKET = "/run/vfl-bench/oc/occtl.socket"
OVPN_SOCKET = "/run/vfl-bench/ovpn/mgmt.sock"


def lab_id():
    return os.environ.get("VPNFLEET_LAB_ID") or "bench"


def state_dir():
    return os.path.join(benchlib.REPO_ROOT, ".lab", lab_id())


def env():
    e = dict(os.environ)
    venv_bin = os.path.join(benchlib.REPO_ROOT, ".venv", "bin")
    if os.path.isdir(venv_bin):
        e["PATH"] = venv_bin + os.pathsep + e.get("PATH", "")
    e.setdefault("ANSIBLE_COLLECTIONS_PATH", os.pathsep.join([
        os.path.join(benchlib.REPO_ROOT, ".build", "collections"),
        os.path.join(benchlib.REPO_ROOT, ".cache", "collections")]))
    e["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    e["ANSIBLE_CONFIG"] = os.path.join(state_dir(), "ansible.cfg")
    e["ANSIBLE_NOCOLOR"] = "1"
    e["VPNFLEET_LAB_ID"] = lab_id()
    return e


def lab(*args, check=True, timeout=1800, input=None):
    argv = [LAB, args[0], "--id", lab_id()] + list(args[1:])
    p = subprocess.run(argv, env=env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                       timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("lab %s failed (rc %s):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout[-3000:],
                                                               p.stderr[-3000:]))
    return p


def state():
    with open(os.path.join(state_dir(), "state.json")) as f:
        return json.load(f)


def up(hosts, keep_existing=True):
    """``lab/lab up`` with ``hosts`` (list of ``NAME=RELEASE:GROUPS``) unless those hosts are up."""
    try:
        st = state()
        names = set(h.split("=")[0] for h in hosts)
        if keep_existing and names <= set(st["hosts"]):
            return st
    except (OSError, ValueError):
        pass
    args = ["up"]
    for h in hosts:
        args += ["--host", h]
    t0 = time.time()
    lab(*args)
    sys.stderr.write("lab %s up in %.0fs\n" % (lab_id(), time.time() - t0))
    return state()


def sh(host, *args, timeout=600, check=True):
    """Run bench-servers.sh on ``host`` (pushed there first)."""
    p = lab("exec", host, "--", REMOTE_SH, *[str(a) for a in args], check=False, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s %s on %s failed (rc %s): %s %s" % (
            REMOTE_SH, " ".join(map(str, args)), host, p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p.stdout


def push_script(host):
    """bench-servers.sh and the lab's test PKI script it uses onto ``host``."""
    with open(SERVERS_SH) as f:
        text = f.read()
    lab("exec", host, "--", "sh", "-c", "cat > %s && chmod 755 %s" % (REMOTE_SH, REMOTE_SH), input=text)
    with open(MKPKI) as f:
        text = f.read()
    lab("exec", host, "--", "sh", "-c", "mkdir -p %s && cat > %s" % (os.path.dirname(REMOTE_MKPKI), REMOTE_MKPKI),
        input=text)


def versions(host):
    out = {}
    for line in sh(host, "versions").splitlines():
        k, _sep, v = line.partition(" ")
        out[k] = v
    return out


def playbook(text, extra_vars=None, timeout=900, limit=None, forks=None, extra_env=None, args=(), path=None):
    """Run a playbook (YAML ``text``, or the file ``path``); returns (rc, output, times, wall) where
    ``times`` are the records of the bench_timer callback."""
    d = tempfile.mkdtemp(prefix="vfl-bench-")
    pb = path or os.path.join(d, "bench.yml")
    times = os.path.join(d, "times.jsonl")
    if not path:
        with open(pb, "w") as f:
            f.write(text)
    e = env()
    e["ANSIBLE_CALLBACK_PLUGINS"] = CALLBACKS
    e["ANSIBLE_CALLBACKS_ENABLED"] = "bench_timer"
    e["VFL_BENCH_TIMES"] = times
    if forks:
        e["ANSIBLE_FORKS"] = str(forks)
    e.update(extra_env or {})
    argv = ["ansible-playbook", pb]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if limit:
        argv += ["--limit", limit]
    argv += list(args)
    t0 = time.time()
    p = subprocess.run(argv, env=e, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                       check=False)
    wall = time.time() - t0
    recs = []
    if os.path.exists(times):
        with open(times) as f:
            recs = [json.loads(line) for line in f if line.strip()]
    for name in ("bench.yml", "times.jsonl"):
        try:
            os.unlink(os.path.join(d, name))
        except OSError:
            pass
    os.rmdir(d)
    return p.returncode, p.stdout, recs, wall


def task_times(recs, prefix, host=None):
    return [r["seconds"] for r in recs if r["kind"] == "task" and r["task"].startswith(prefix)
            and (host is None or r["host"] == host) and r["status"] != "skipped"]


def failures(recs):
    return [r for r in recs if r["kind"] == "task" and r["status"] == "failed"]


PYLIB = "/run/vfl-bench/pylib"


def push_pylib(host):
    """The collection's module_utils on ``host`` under PYLIB (for timing their functions there)."""
    dest = PYLIB + "/ansible_collections/vpnfleet/control/plugins/module_utils"
    lab("exec", host, "--", "mkdir", "-p", dest)
    for name in ("_common.py", "_ocserv_client.py", "_ocserv_names.py", "_ocserv_parsers.py", "_ocserv_state.py",
                 "_openvpn_client.py", "_openvpn_parsers.py", "_openvpn_state.py"):
        with open(os.path.join(benchlib.REPO_ROOT, "plugins", "module_utils", name)) as f:
            lab("exec", host, "--", "sh", "-c", "cat > %s/%s" % (dest, name), input=f.read())


def host_python(host, code, timeout=300):
    """Run ``code`` with the host's python3 (PYLIB on sys.path); its stdout parsed as JSON."""
    p = lab("exec", host, "--", "env", "PYTHONPATH=" + PYLIB, "python3", "-", input=code, timeout=timeout)
    return json.loads(p.stdout.strip().splitlines()[-1])
