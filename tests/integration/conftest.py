"""pytest fixture for the lab of real Debian hosts (see docs/lab.md).

Use the session fixture ``lab`` in integration tests::

    def test_something(lab):
        lab.hosts["sid"]["ip"]                    # "10.213.x.13"
        lab.groups["ocserv_servers"]             # ["bookworm", "trixie", "sid"]
        out = lab.run("sid", ["occtl", "-j", "show", "status"]).stdout
        res = lab.playbook('''
        - hosts: ocserv_servers
          tasks:
            - name: Info
              vpnfleet.control.ocserv_info:
        ''')
        assert res.rc == 0
        res.result("Info", "sid")["occtl_version"]

Environment:
- ``VPNFLEET_LAB_ID``: lab id (default ``test``); every podman object is ``vfl-<id>-...``.
- ``VPNFLEET_LAB_KEEP``: when set, a lab started by the session is left running at the end.
- ``VPNFLEET_LAB_FAST``: when set and the lab is already up, skip re-provisioning (``up
  --no-provision``): quicker developer loop, but the lab is not restored to its provisioned state.
- ``VPNFLEET_LAB_PROVISION``: provision only these parts of lab/provision (``ocserv``,
  ``ocserv,openvpn``; passed to ``lab/lab up``, see ``--only``).
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
LAB = os.path.join(REPO_ROOT, "lab", "lab")


def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/integration with ``integration``."""
    for item in items:
        if str(getattr(item, "path", None) or item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.integration)


def _env():
    env = dict(os.environ)
    venv_bin = os.path.join(REPO_ROOT, ".venv", "bin")
    if os.path.isdir(venv_bin) and not env.get("PATH", "").startswith(venv_bin):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    if not env.get("ANSIBLE_COLLECTIONS_PATH"):
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
            [os.path.join(REPO_ROOT, ".build", "collections"), os.path.join(REPO_ROOT, ".cache", "collections")])
    env.setdefault("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


def _reap_token(token):
    """Kill ansible-playbook workers a finished run left behind (they carry our token).

    ansible-playbook workers detach (setsid); when the main process is gone they can stay
    blocked writing their result queue. Only processes with our unique token are touched.
    """
    needle = ("VFL_RUN_TOKEN=%s" % token).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if b"ansible-playbook" not in f.read():
                    continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                if needle in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


class PlaybookResult:
    """Outcome of :meth:`Lab.playbook`.

    ``rc``, ``stdout`` (the ``ansible.posix.json`` document), ``stderr`` (warnings, errors),
    ``data`` (the parsed JSON, or None when stdout is not JSON), ``stats`` (per-host recap:
    ``{host: {ok, changed, failures, unreachable, skipped, ...}}``).
    """

    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        try:
            self.data = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            # the json callback prints one document; anything before it is noise
            start = stdout.find("{")
            try:
                self.data = json.loads(stdout[start:]) if start >= 0 else None
            except ValueError:
                self.data = None

    @property
    def stats(self):
        return (self.data or {}).get("stats", {})

    def tasks(self):
        """All task entries ``[{"task": {...}, "hosts": {host: result}}]`` in run order."""
        out = []
        for play in (self.data or {}).get("plays", []):
            out.extend(play.get("tasks", []))
        return out

    def failures(self):
        """``["task @ host: msg", ...]`` for every failed or unreachable task result, in run order."""
        out = []
        for t in self.tasks():
            name = t.get("task", {}).get("name", "?")
            for host, res in t.get("hosts", {}).items():
                if res.get("failed") or res.get("unreachable"):
                    out.append("%s @ %s: %s" % (name, host, str(res.get("msg", ""))[:500]))
        return out

    def results(self, task_name):
        """``{host: result_dict}`` of the task called ``task_name``.

        A role task matches by its bare name too (``role : name``). When several tasks carry
        the name, later ones override earlier ones host by host. Raises KeyError when no
        task of that name ran.
        """
        if self.data is None:
            raise KeyError("no JSON output (rc %s): %s %s" % (self.rc, self.stdout[-2000:], self.stderr[-2000:]))
        found, merged = False, {}
        for t in self.tasks():
            name = t.get("task", {}).get("name", "")
            if name == task_name or name.endswith(" : " + task_name):
                found = True
                merged.update(t.get("hosts", {}))
        if not found:
            names = [t.get("task", {}).get("name") for t in self.tasks()]
            raise KeyError("no task %r in the run (tasks: %s)" % (task_name, names))
        return merged

    def result(self, task_name, host):
        """The result dict of ``task_name`` on ``host`` (KeyError when it did not run there)."""
        res = self.results(task_name)
        if host not in res:
            raise KeyError("task %r did not run on %s (ran on %s)" % (task_name, host, sorted(res)))
        return res[host]

    def __repr__(self):
        return "<PlaybookResult rc=%s stats=%s>" % (self.rc, self.stats)


class Lab:
    """A running lab: ``id``, ``inventory`` (path), ``state_dir``, ``hosts``, ``groups``.

    ``hosts``: ``{name: {"ip": ..., "release": ..., "groups": [...], "container_id": ...}}``;
    ``groups``: ``{group: [host, ...]}`` (``lab`` holds every host).
    """

    def __init__(self, lab_id):
        self.id = lab_id
        self.state_dir = os.path.join(REPO_ROOT, ".lab", lab_id)
        self.inventory = os.path.join(self.state_dir, "inventory.yml")
        self.ansible_cfg = os.path.join(self.state_dir, "ansible.cfg")
        self.ssh_config = os.path.join(self.state_dir, "ssh_config")
        self.reload()

    def reload(self):
        """Re-read the lab's state file (after ``lab/lab up`` changed the lab)."""
        with open(os.path.join(self.state_dir, "state.json")) as f:
            st = json.load(f)
        self._state = st
        self._podman_env = dict(os.environ)
        self._podman_env.update(st.get("podman_env", {}))
        self.hosts = {}
        self.groups = {"lab": []}
        for name, h in st["hosts"].items():
            self.hosts[name] = {"ip": h["ip"], "release": h["release"], "groups": list(h["groups"]),
                                "container_id": h["container_id"]}
            self.groups["lab"].append(name)
            for g in h["groups"]:
                self.groups.setdefault(g, []).append(name)
        self.network = dict(st["network"])
        self.ban_source_ip = None
        with open(self.inventory) as f:
            for line in f:
                if line.strip().startswith("lab_ban_source_ip:"):
                    self.ban_source_ip = json.loads(line.split(":", 1)[1])

    def podman_env(self):
        """The environment podman needs to see the lab's containers and images (its storage)."""
        return dict(self._podman_env)

    def run(self, host, cmd, timeout=60, check=True, input=None):
        """Run ``cmd`` inside ``host`` (podman exec) -> ``subprocess.CompletedProcess`` (text).

        ``cmd`` is an argv list or a shell string (run with ``sh -c``). ``check`` raises
        ``subprocess.CalledProcessError`` on a non-zero exit (stdout/stderr attached);
        ``timeout`` raises ``subprocess.TimeoutExpired``. ``input`` is fed to stdin.
        """
        if host not in self.hosts:
            raise KeyError("no host %r in lab %s (hosts: %s)" % (host, self.id, sorted(self.hosts)))
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        full = ["podman", "exec", "-i", self.hosts[host]["container_id"]] + argv
        proc = subprocess.run(full, input=input if input is not None else "", text=True, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._podman_env,
                              check=False)
        proc.args = argv
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, "%s: %s" % (host, " ".join(
                shlex.quote(a) for a in argv)), proc.stdout, proc.stderr)
        return proc

    def playbook(self, playbook, extra_vars=None, check=False, diff=False, limit=None, timeout=600,
                 basedir=None, env=None):
        """Run real ``ansible-playbook`` against the lab -> :class:`PlaybookResult`.

        ``playbook``: a path, or YAML text (written to a temporary file in ``basedir``, default
        tests/integration, so relative paths resolve as for a file there). ``extra_vars``: dict
        (passed as JSON). ``check``/``diff``: ``--check``/``--diff``. ``limit``: host pattern
        string or list. ``env``: more environment variables (e.g. a fact cache). Uses the lab's
        inventory and ansible.cfg and the ``ansible.posix.json`` stdout callback. Never raises on a
        failed play: look at ``.rc``.
        """
        tmp = None
        if isinstance(playbook, str) and ("\n" in playbook or not os.path.exists(playbook)):
            if "\n" not in playbook and playbook.endswith((".yml", ".yaml")):
                raise FileNotFoundError(playbook)
            fd, tmp = tempfile.mkstemp(prefix=".lab-pb-", suffix=".yml", dir=basedir or HERE)
            with os.fdopen(fd, "w") as f:
                f.write(playbook)
            path = tmp
        else:
            path = os.fspath(playbook)
        argv = ["ansible-playbook", "-i", self.inventory, path]
        if extra_vars:
            argv += ["--extra-vars", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if limit:
            argv += ["--limit", limit if isinstance(limit, str) else ",".join(limit)]
        run_env = _env()
        run_env.update(env or {})
        run_env["ANSIBLE_CONFIG"] = self.ansible_cfg
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        run_env["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "1"
        run_env["VFL_RUN_TOKEN"] = token = os.urandom(8).hex()
        try:
            proc = subprocess.run(argv, text=True, timeout=timeout, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=run_env, cwd=os.path.dirname(os.path.abspath(path)),
                                  check=False)
        finally:
            _reap_token(token)
            if tmp:
                os.unlink(tmp)
        return PlaybookResult(argv, proc.returncode, proc.stdout, proc.stderr)

    def provision(self, limit=None, timeout=900):
        """Re-run the lab's provisioning (``lab/provision/site.yml``) -> :class:`PlaybookResult`.

        Restores what tests changed (users reconnected, ban source unbanned, passwords reset).
        With ``VPNFLEET_LAB_PROVISION`` set, only those parts run (like ``lab/lab up --only``);
        with several parts, results hold the last part's run.
        """
        parts = [p for p in (os.environ.get("VPNFLEET_LAB_PROVISION") or "").replace(",", " ").split() if p]
        books = [p if p.endswith(".yml") else p + ".yml" for p in parts] or ["site.yml"]
        res = None
        for book in books:
            res = self.playbook(os.path.join(REPO_ROOT, "lab", "provision", book), limit=limit, timeout=timeout)
            if res.rc != 0:
                break
        return res

    def __repr__(self):
        return "<Lab %s hosts=%s>" % (self.id, sorted(self.hosts))


def _lab_cmd(*args, timeout=600):
    return subprocess.run([LAB] + list(args), text=True, timeout=timeout, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=_env(), check=False)


class _FixtureLock:
    """flock on .lab/<id>.fixture.lock: serialises the fixture's start/stop decisions."""

    def __init__(self, lab_id):
        self.path = os.path.join(REPO_ROOT, ".lab", ".%s.fixture.lock" % lab_id)

    def __enter__(self):
        import fcntl
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _users_dir(lab_id):
    return os.path.join(REPO_ROOT, ".lab", ".%s.users" % lab_id)


def _live_users(lab_id):
    """pids of pytest sessions using the lab (dead ones are pruned)."""
    d = _users_dir(lab_id)
    live = []
    for name in os.listdir(d) if os.path.isdir(d) else []:
        try:
            pid = int(name)
            os.kill(pid, 0)
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    raise OSError("zombie")
            live.append(pid)
        except (ValueError, OSError, IndexError):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass
    return live


@pytest.fixture(scope="session")
def lab():
    """The lab (id ``$VPNFLEET_LAB_ID``, default ``test``), up and provisioned.

    Runs ``lab/lab up`` (idempotent). At the end the lab goes down only when a pytest session
    started it and ``VPNFLEET_LAB_KEEP`` is not set; when several sessions share the lab, the
    last one to finish takes it down.
    """
    lab_id = os.environ.get("VPNFLEET_LAB_ID") or "test"
    marker = os.path.join(REPO_ROOT, ".lab", ".%s.fixture-started" % lab_id)
    with _FixtureLock(lab_id):
        was_up = _lab_cmd("status", "--id", lab_id, timeout=120).returncode == 0
        t0 = time.time()
        if was_up and os.environ.get("VPNFLEET_LAB_FAST"):
            # developer loop: a running lab is used as it is (no re-provisioning)
            up = _lab_cmd("up", "--id", lab_id, "--no-provision")
        else:
            up = _lab_cmd("up", "--id", lab_id, timeout=2400)
        if was_up and not _live_users(lab_id) and os.path.exists(marker):
            os.unlink(marker)  # stale: no session of the one that started it is running
        if up.returncode != 0:
            log = os.path.join(REPO_ROOT, ".lab", lab_id, "provision.log")
            if not was_up and not _live_users(lab_id) and not os.environ.get("VPNFLEET_LAB_KEEP"):
                if os.path.exists(log):  # keep it beyond `down`
                    kept = os.path.join(REPO_ROOT, ".lab", ".%s.failed-provision.log" % lab_id)
                    shutil.copyfile(log, kept)
                    log = kept
                _lab_cmd("down", "--id", lab_id, timeout=600)
            # short: pytest repeats a session fixture's error for every test
            tail = "\n".join((up.stdout + up.stderr).strip().splitlines()[-40:])
            pytest.fail("lab/lab up --id %s failed (rc %s) after %.0fs (provisioning log: %s):\n%s" % (
                lab_id, up.returncode, time.time() - t0, log, tail), pytrace=False)
        if not was_up:
            with open(marker, "w") as f:
                f.write("%d\n" % os.getpid())
        os.makedirs(_users_dir(lab_id), exist_ok=True)
        with open(os.path.join(_users_dir(lab_id), str(os.getpid())), "w"):
            pass
    obj = Lab(lab_id)
    try:
        yield obj
    finally:
        with _FixtureLock(lab_id):
            try:
                os.unlink(os.path.join(_users_dir(lab_id), str(os.getpid())))
            except OSError:
                pass
            others = [p for p in _live_users(lab_id) if p != os.getpid()]
            if os.path.exists(marker) and not others:
                if not os.environ.get("VPNFLEET_LAB_KEEP"):
                    _lab_cmd("down", "--id", lab_id, timeout=600)
                os.unlink(marker)
                try:
                    os.rmdir(_users_dir(lab_id))
                except OSError:
                    pass


@pytest.fixture(scope="module")
def fleet(lab):
    """The lab put back in the fleet tests' starting state (tests/integration/playbooks/fleet/restore.yml)
    before and after a module of fleet tests (revoke, reload) that revokes or reloads things."""
    _restore_fleet(lab)
    yield lab
    _restore_fleet(lab)


def _restore_fleet(lab):
    # restore.yml waits for clients to come back after disruptive tests; on a loaded machine a wait
    # can run out once, so a failed restore is tried a second time before the tests give up.
    for _attempt in (1, 2):
        res = lab.playbook(os.path.join(HERE, "playbooks", "fleet", "restore.yml"), timeout=900)
        if res.rc == 0:
            return
    assert res.rc == 0, (res.failures(), res.stats, res.stderr[-2000:])
