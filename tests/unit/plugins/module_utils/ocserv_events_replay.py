# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for occtl in the listener's unit tests: replays a captured ``show events`` fixture.

Env: ``REPLAY_FIXTURE`` (path of a tests/unit/fixtures/ocserv_events/<v>/<scenario>.json),
``REPLAY_DELAY`` (seconds before each event line, default 0.05), ``REPLAY_PIDFILE`` (this
process writes its pid there), ``REPLAY_IGNORE_Q`` (1: do not quit on ``q``, like a hung occtl).
Prints the captured stdout (block-buffered like occtl unless stdout is a tty: the listener
must give it a pty), the captured stderr, then like occtl: quits with rc 0 on ``q`` from
stdin, or exits with the captured rc when the capture ended by itself (server gone).
"""
import json
import os
import select
import sys
import time

fixture = json.load(open(os.environ["REPLAY_FIXTURE"]))
delay = float(os.environ.get("REPLAY_DELAY", "0.05"))
if os.environ.get("REPLAY_PIDFILE"):
    with open(os.environ["REPLAY_PIDFILE"], "w") as handle:
        handle.write(str(os.getpid()))
out = os.fdopen(1, "w", buffering=1 if os.isatty(1) else 65536)
marker = "Press 'q' or CTRL+C to quit\n\n"
stdout = fixture["stdout"]
head, sep, tail = stdout.partition(marker)
out.write(head + sep)
out.flush() if os.isatty(1) else None
for line in tail.splitlines(True):
    time.sleep(delay)
    out.write(line)
    if os.isatty(1):
        out.flush()
if fixture["stderr"]:
    out.flush()
    sys.stderr.write(fixture["stderr"])
    sys.stderr.flush()
if fixture["rc"] != 0:
    out.flush()
    sys.exit(fixture["rc"])
while True:
    ready, _w, _x = select.select([0], [], [], 1.0)
    if ready:
        char = os.read(0, 1)
        if char in (b"q", b"Q") and os.environ.get("REPLAY_IGNORE_Q") != "1":
            out.flush()
            sys.exit(0)
        if char == b"":
            time.sleep(0.01)   # occtl spins here (stdin at EOF); the listener must never let that happen
