# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's rulebooks inside its decision environment (DE), run as an EDA controller runs an
activation: the image that ``scripts/build-ee --decision`` builds (ansible-rulebook, Java, this
collection) runs the rulebook against the lab, with nothing from this checkout but the variables.

* the image holds ansible-rulebook, its Java runtime and the collection (event sources and rulebooks);
* enforce_revocation in the DE: a revoked user who connects through a real openconnect client is cut
  off by the rule's run_module (ocserv_user), which runs in the image too;
* server_down in the DE: stopping ocserv raises the alert, starting it the recovery.

The image is built at the start of the module (cached layers make a rebuild quick; scripts/test
builds it in its checks lane first); VPNFLEET_DE_IMAGE names an image built before, used as it is.
"""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import ocserv_support as oc  # noqa: E402  pylint: disable=wrong-import-position
from test_eda import (  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
    ocserv_cut_off,
    rulebook,
)

DEFAULT_IMAGE = "localhost/vpnfleet-de:latest"
SERVER = "trixie"


@pytest.fixture(scope="module")
def de_image(lab):
    image = os.environ.get("VPNFLEET_DE_IMAGE")
    if not image:
        build = subprocess.run([os.path.join(REPO_ROOT, "scripts", "build-ee"), "--decision", "--tag", DEFAULT_IMAGE],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=2400,
                               check=False)
        assert build.returncode == 0, build.stdout[-4000:]
        image = DEFAULT_IMAGE
    inspect = subprocess.run(["podman", "image", "inspect", image], env=lab.podman_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert inspect.returncode == 0, "no image %s: %s" % (image, inspect.stderr)
    return image


def test_image_holds_the_engine_and_the_collection(lab, de_image):
    script = "ansible-rulebook --version && java -version 2>&1 && ansible-galaxy collection list vpnfleet.control"
    out = subprocess.run(["podman", "run", "--rm", de_image, "sh", "-c", script], env=lab.podman_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout
    assert "1.3.2" in out.stdout and "openjdk" in out.stdout.lower() and "vpnfleet.control" in out.stdout, out.stdout


def test_revoked_user_is_cut_off_in_the_de(lab, rulebook, de_image):
    ocserv_cut_off(lab, rulebook, SERVER, "ocserv %s connect -> cut-off in the decision environment" % SERVER,
                   image=de_image)


def test_server_down_alert_in_the_de(lab, rulebook, de_image):
    run = rulebook("server_down", image=de_image, ocserv_hosts=[SERVER])
    try:
        run.wait_event(180, type="server_up", server="ocserv", host=SERVER)
        stopped = time.time()
        lab.run(SERVER, ["systemctl", "stop", "ocserv"])
        run.wait(r"ALERT ocserv DOWN on %s " % SERVER, 60, since=stopped)
        started = time.time()
        lab.run(SERVER, ["systemctl", "start", "ocserv"])
        run.wait(r"RECOVERED ocserv on %s" % SERVER, 60, since=started)
    finally:
        lab.run(SERVER, ["systemctl", "start", "ocserv"], check=False)
        # the lab's clients of that server ended with it (Restart=no): bring them back
        for user in ("alice", "bob"):
            oc.client(lab, ["systemctl", "restart", "oc-client@%s-%s.service" % (SERVER, user)])
        assert oc.wait_until(lambda: oc.connections(lab, SERVER, "alice") and oc.connections(lab, SERVER, "bob"),
                             timeout=60)
