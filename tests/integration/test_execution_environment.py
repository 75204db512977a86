"""The collection inside its execution environment (EE), run the way AWX runs jobs: ansible-navigator
(mode stdout) starts the image that scripts/build-ee builds and runs the playbooks in it against the
lab. The fleet report, vpnfleet.control.revoke and vpnfleet.control.reload, with their outcome checked
on the servers themselves, as test_fleet_revoke.py and test_fleet_reload.py do
(docs/execution-environment.md).

The image is built by scripts/build-ee at the start of the module (cached layers make a rebuild
quick); VPNFLEET_EE_IMAGE names an image built before, which is then used as it is. Needs the tools
of scripts/setup (.venv-ee). Run with VPNFLEET_LAB_ID=<your lab>.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
NAVIGATOR = os.path.join(REPO_ROOT, ".venv-ee", "bin", "ansible-navigator")
CACHE = os.environ.get("VPNFLEET_CACHE", "/var/cache/vpnfleet")
DEFAULT_IMAGE = "localhost/vpnfleet-ee:latest"
EXAMPLES = os.path.join(REPO_ROOT, "examples")
# where ansible-builder installs the collections in the image (ansible-config's default path)
IMAGE_COLLECTIONS = "/usr/share/ansible/collections"

sys.path.insert(0, HERE)
import test_fleet_reload as reload_checks  # noqa: E402  pylint: disable=wrong-import-position
import test_fleet_revoke as revoke_checks  # noqa: E402  pylint: disable=wrong-import-position

USER = revoke_checks.USER
OTHER = revoke_checks.OTHER


def _podman_env():
    """The lab's podman configuration (lab/lab.py podman_env), which scripts/build-ee builds into."""
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = os.path.join(CACHE, "podman", "containers.conf")
    env["CONTAINERS_STORAGE_CONF"] = os.path.join(CACHE, "podman", "storage.conf")
    return env


def _ensure_mqueue():
    """ansible-navigator refuses to start a podman EE without /dev/mqueue (POSIX message queues, which
    ansible-runner's multiprocessing uses in the container); a fresh /dev may lack it."""
    if not os.path.isdir("/dev/mqueue"):
        os.makedirs("/dev/mqueue")
    if not os.path.ismount("/dev/mqueue"):
        subprocess.run(["mount", "-t", "mqueue", "mqueue", "/dev/mqueue"], check=True, timeout=30)


@pytest.fixture(scope="module")
def ee_image():
    if not os.path.exists(NAVIGATOR):
        pytest.fail("%s is missing: run scripts/setup" % NAVIGATOR, pytrace=False)
    _ensure_mqueue()
    image = os.environ.get("VPNFLEET_EE_IMAGE")
    if not image:
        build = subprocess.run([os.path.join(REPO_ROOT, "scripts", "build-ee"), "--tag", DEFAULT_IMAGE],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=2400,
                               check=False)
        assert build.returncode == 0, build.stdout[-4000:]
        image = DEFAULT_IMAGE
    inspect = subprocess.run(["podman", "image", "inspect", image], env=_podman_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert inspect.returncode == 0, "no image %s: %s" % (image, inspect.stderr)
    return image


class Navigator:
    """ansible-navigator run in the EE against the lab: the lab's state directory (inventory, SSH key
    and configuration, ansible.cfg) is mounted at the same path (ansible-navigator mounts the
    inventory's directory); host network, so that the lab hosts are reached as from the machine; as
    root, who owns the SSH key."""

    def __init__(self, lab, image, workdir):
        self.lab = lab
        self.image = image
        self.workdir = workdir

    def settings(self, artifact):
        """ansible-navigator's settings file (JSON is YAML): what AWX's job would get."""
        return {"ansible-navigator": {
            "mode": "stdout",
            "color": {"enable": False},
            "execution-environment": {
                "enabled": True,
                "container-engine": "podman",
                "image": self.image,
                "pull": {"policy": "never"},
                # ansible-navigator mounts the inventory's directory (the lab's state directory, with the
                # SSH key and configuration) itself; the examples are mounted for the fleet report
                "volume-mounts": [{"src": EXAMPLES, "dest": EXAMPLES}],
                "container-options": ["--network=host", "--user=root"],
                # the collections are the image's own, as under AWX: never this checkout's (the test
                # process's ANSIBLE_COLLECTIONS_PATH names host paths the container does not have)
                "environment-variables": {"set": {"ANSIBLE_CONFIG": self.lab.ansible_cfg, "ANSIBLE_NOCOLOR": "1",
                                                  "ANSIBLE_COLLECTIONS_PATH": IMAGE_COLLECTIONS}},
            },
            "playbook-artifact": {"enable": True, "save-as": artifact},
            "logging": {"file": os.path.join(self.workdir, "navigator.log"), "level": "warning"},
        }}

    def run(self, playbook_text, extra_vars=None, check=False, timeout=1200):
        path = os.path.join(self.workdir, "play.yml")
        with open(path, "w") as f:
            f.write(playbook_text)
        artifact = os.path.join(self.workdir, "artifact.json")
        if os.path.exists(artifact):
            os.unlink(artifact)
        settings = os.path.join(self.workdir, "ansible-navigator.yml")
        with open(settings, "w") as f:
            json.dump(self.settings(artifact), f, indent=1)
        argv = [NAVIGATOR, "run", path, "--inventory", self.lab.inventory]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv += ["--check"]
        env = _podman_env()
        env["ANSIBLE_NAVIGATOR_CONFIG"] = settings
        proc = subprocess.run(argv, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              check=False)
        events = []
        if os.path.exists(artifact):
            with open(artifact) as f:
                events = json.load(f).get("plays", [])
        return proc.returncode, proc.stdout, events


@pytest.fixture(scope="module")
def navigator(fleet, ee_image):
    workdir = tempfile.mkdtemp(prefix="vfl-ee-", dir=os.path.join(REPO_ROOT, ".build"))
    try:
        yield Navigator(fleet, ee_image, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_image_holds_the_collection_and_its_dependency(ee_image):
    out = subprocess.run(["podman", "run", "--rm", ee_image, "ansible-galaxy", "collection", "list"],
                         env=_podman_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=300, check=False).stdout
    assert "vpnfleet.control" in out and "community.crypto" in out, out


def test_fleet_report_in_the_ee(navigator):
    lab = navigator.lab
    rc, out, _events = navigator.run("- ansible.builtin.import_playbook: %s\n"
                                     % os.path.join(EXAMPLES, "fleet-report.yml"))
    assert rc == 0, out[-4000:]
    # one line per server, with the version the server runs and who is connected there
    for host in lab.groups["ocserv_servers"]:
        version = json.loads(lab.run(host, ["occtl", "-j", "show", "status"]).stdout or "{}")
        assert any(line.startswith(host + " ") for line in out.splitlines()), out[-4000:]
        assert version.get("Status") == "online"
    for name in revoke_checks.ocserv_users(lab, lab.groups["ocserv_servers"][0]):
        assert name["Username"] in out
    # the warnings a newcomer used to see in the demo's report
    assert "Not passing subset" not in out and "did not set no_log" not in out, out[-4000:]


def test_revoke_in_the_ee_cuts_the_user_off(navigator):
    lab = navigator.lab
    ovpn = lab.groups["openvpn_servers"][0]
    rc, out, _events = navigator.run("- ansible.builtin.import_playbook: vpnfleet.control.revoke\n",
                                     extra_vars=revoke_checks.EXTRA)
    assert rc == 0, out[-4000:]
    for host in lab.groups["ocserv_servers"]:
        assert USER not in [u["Username"] for u in revoke_checks.ocserv_users(lab, host)], host
        assert USER not in revoke_checks.ocserv_valid_session_users(lab, host), host
        assert revoke_checks.passwd_line(lab, host, USER).split(":")[2].startswith("!"), host
        assert OTHER in [u["Username"] for u in revoke_checks.ocserv_users(lab, host)], host
    assert USER not in revoke_checks.openvpn_common_names(lab, ovpn)
    assert OTHER in revoke_checks.openvpn_common_names(lab, ovpn)
    crl = lab.run(ovpn, "openssl crl -in /etc/openvpn/server/fleet/crl.pem -noout -text").stdout
    serial = lab.run(ovpn, ["openssl", "x509", "-in", "/etc/openvpn/server/fleet/pki/clients/%s.crt" % USER,
                            "-noout", "-serial"]).stdout.strip().split("=")[1]
    assert serial in crl.replace(":", "").upper()

    # a second run changes nothing
    rc, out, _events = navigator.run("- ansible.builtin.import_playbook: vpnfleet.control.revoke\n",
                                     extra_vars=revoke_checks.EXTRA)
    assert rc == 0, out[-4000:]
    recap = [line for line in out.splitlines() if "changed=" in line and "ok=" in line]
    assert recap and all("changed=0" in line for line in recap), "\n".join(recap)


def test_reload_in_the_ee_keeps_the_servers_healthy(navigator):
    lab = navigator.lab
    before = reload_checks.snapshot(lab)
    rc, out, _events = navigator.run("- ansible.builtin.import_playbook: vpnfleet.control.reload\n",
                                     extra_vars={"reload_hosts": reload_checks.SERVERS, "reload_batch": 2})
    assert rc == 0, out[-4000:]
    after = reload_checks.snapshot(lab)
    for host in lab.groups["ocserv_servers"]:
        assert after["ocserv"][host] > before["ocserv"][host], host          # reloaded
        assert after["ocserv_users"][host] == before["ocserv_users"][host], host  # same users back
    assert after["ovpn_starts"] > before["ovpn_starts"]
    assert after["openvpn_cns"] == before["openvpn_cns"]
