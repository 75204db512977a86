"""Run the roles' Molecule scenarios so the test suite covers them.

Each scenario (``roles/<role>/molecule/default``) starts its own bare lab hosts
(``lab/lab up --id <prefix>-<role> --no-provision``: Debian bookworm, trixie and sid
with systemd as PID 1, reached over SSH), then runs Molecule's full sequence:
destroy, syntax, create, converge, idempotence, verify, destroy. The verify
playbooks check the real outcome on the hosts (service, real clients, the
collection's info modules as the admin user, refusal of an unprivileged user).

Select or deselect with the ``molecule`` marker::

    pytest -m molecule tests/integration/test_roles_molecule.py
    pytest -m "not molecule"

Environment:
- ``VPNFLEET_MOLECULE_LAB_PREFIX``: prefix of the lab ids (default ``pt<pid>``,
  so a run never touches a lab someone started by hand with ``molecule test``).
- ``VPNFLEET_MOLECULE_TIMEOUT``: seconds per scenario (default 1800).
"""

import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
LAB = os.path.join(REPO_ROOT, "lab", "lab")
# the tool venv of scripts/lib.sh (VENV), as the rest of the test run uses it
VENV_BIN = os.path.join(os.environ.get("VENV") or os.path.join(REPO_ROOT, ".venv"), "bin")

SCENARIOS = [
    ("ocserv", "default"),
    ("openvpn", "default"),
]

pytestmark = pytest.mark.molecule


def _env(prefix):
    env = dict(os.environ)
    # molecule calls ansible-config & co. from PATH: the venv must come first.
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    # vpnfleet.control resolves from this checkout, the third-party collections
    # from the bundle scripts/setup extracted (no Galaxy).
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
        [os.path.join(REPO_ROOT, ".build", "collections"), os.path.join(REPO_ROOT, ".cache", "collections")])
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PY_COLORS"] = "0"
    env["VPNFLEET_MOLECULE_LAB_PREFIX"] = prefix
    return env


def _missing():
    if os.geteuid() != 0:
        return "the lab needs root"
    if not os.access(LAB, os.X_OK):
        return "lab/lab is missing"
    if not os.path.exists(os.path.join(VENV_BIN, "molecule")):
        return "molecule is not installed in .venv (run scripts/setup)"
    if not shutil.which("podman"):
        return "podman is not installed"
    if not os.path.isdir(os.path.join(REPO_ROOT, ".build", "collections", "ansible_collections", "vpnfleet")):
        return "the collection link in .build is missing (run scripts/setup)"
    return None


@pytest.mark.parametrize("role,scenario", SCENARIOS, ids=["%s-%s" % s for s in SCENARIOS])
def test_molecule_scenario(role, scenario):
    reason = _missing()
    if reason:
        # in CI a scenario that cannot run is a failure, not a skip that reads as a pass
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)
    prefix = os.environ.get("VPNFLEET_MOLECULE_LAB_PREFIX") or "pt%d" % os.getpid()
    env = _env(prefix)
    timeout = int(os.environ.get("VPNFLEET_MOLECULE_TIMEOUT", "1800"))
    role_dir = os.path.join(REPO_ROOT, "roles", role)
    try:
        proc = subprocess.run(
            [os.path.join(VENV_BIN, "molecule"), "test", "-s", scenario],
            cwd=role_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
        output = proc.stdout
        rc = proc.returncode
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout or ""
        if isinstance(output, bytes):
            output = output.decode("utf-8", "replace")
        rc = "timeout after %ss" % timeout
    finally:
        # molecule's own destroy runs at the end of `test`, also after a failure;
        # this catches a timeout or a crash of molecule itself.
        subprocess.run([LAB, "down", "--id", "%s-%s" % (prefix, role)], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False)
    assert rc == 0, "molecule test of roles/%s (%s) failed (rc %s):\n%s" % (role, scenario, rc, output[-12000:])
    # The sequence really ran: idempotence and verify are part of it.
    assert "idempotence" in output and "verify" in output, output[-4000:]
