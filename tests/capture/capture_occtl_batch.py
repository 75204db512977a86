# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record occtl's interactive mode (several commands piped into one occtl) for the unit tests
of the batched actions (tests/unit/fixtures/ocserv/<version>/batch/).

Starts a real ocserv (the host's, or the one in a Debian root file system given with
``--root``, see capture_ocserv.py), connects alice and bob with real openconnect clients and
pipes ``terminate user`` (1.5.0+; ``disconnect user`` before) for alice, an unknown user and
bob into one ``occtl -s SOCKET`` (no command on the command line: occtl then reads commands
from stdin). Also recorded: the same commands against a missing socket and from a uid that
ocserv refuses, and (1.5.0+) ``disconnect user`` in the same way.

Run as root:

    R=/var/cache/vpnfleet/ocserv-rootfs
    for v in "bat116 /" "bat130 $R/trixie" "bat150 $R/sid"; do
        set -- $v; python3 tests/capture/capture_occtl_batch.py --tag $1 --root $2; done

Each fixture is ``batch/<name>.json``: ``{"version", "scenario", "name", "args", "stdin",
"json", "rc", "stdout", "stderr", "context", "started", "finished", "tz"}`` where ``args`` is
empty (interactive mode) and ``stdin`` the lines piped in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_local import LocalOcserv  # noqa: E402  pylint: disable=wrong-import-position

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "fixtures", "ocserv")


def interactive(srv, lines, socket=None, user=None):
    argv = ["occtl", "-s", socket or srv.socket]
    if user is not None:
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
    argv = ["ip", "netns", "exec", srv.srv_ns] + srv._chroot() + argv  # pylint: disable=protected-access
    started = time.time()
    res = subprocess.run(argv, input="".join(line + "\n" for line in lines), capture_output=True, text=True,
                         timeout=30, check=False)
    return res, started, time.time()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tag", default="bat")
    ap.add_argument("--root", default="/")
    ap.add_argument("--port", type=int, default=47543)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    srv = LocalOcserv(args.tag, args.port, root=args.root, clients=2)
    srv.setup()
    try:
        ver = srv.occtl(["--version"], netns=False, socket=False)[0]
        version = re.search(r"version (\S+)", ver.stdout + ver.stderr).group(1)
        outdir = os.path.join(args.out or FIXTURES, version, "batch")
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        terminate = tuple(int(x) for x in version.split(".")) >= (1, 5, 0)
        action = "terminate" if terminate else "disconnect"
        srv.start()

        def record(name, lines, context, **kw):
            res, started, finished = interactive(srv, lines, **kw)
            data = {"version": version, "scenario": "batch", "name": name, "args": [], "stdin": lines,
                    "json": False, "rc": res.returncode, "stdout": res.stdout, "stderr": res.stderr,
                    "context": context, "started": round(started, 3), "finished": round(finished, 3),
                    "tz": time.strftime("%z")}
            if kw.get("user") is not None:
                data["uid"] = kw["user"]
            with open(os.path.join(outdir, name + ".json"), "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.write("\n")

        actions = ["%s user alice" % action, "%s user nosuch" % action, "%s user bob" % action]
        srv.connect("a", "alice", client=1)
        srv.connect("b", "bob", client=2)
        record("actions", actions, {"connected": ["alice", "bob"], "action": action})
        # after the first batch nobody is connected: the same commands again
        time.sleep(1)
        record("actions_none_connected", actions, {"connected": [], "action": action})
        record("actions_missing_socket", actions, {"socket": "missing"}, socket=srv.inner + "/run/nosuch.socket")
        record("actions_refused_uid", actions, {"uid": 65534}, user=65534)
        if terminate:
            srv.connect("a2", "alice", client=1)
            record("disconnect_actions", ["disconnect user alice", "disconnect user nosuch"],
                   {"connected": ["alice"], "action": "disconnect"})
        print("recorded %s into %s" % (version, outdir))
    finally:
        srv.close()


if __name__ == "__main__":
    main()
