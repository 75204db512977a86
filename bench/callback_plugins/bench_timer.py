# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bench-only callback: per task and host, wall time from the task's start on that host to its
result, and per play the wall time of the whole play; appended as JSON lines to the file named by
``VFL_BENCH_TIMES``. Enabled by bench/labbench.py through ANSIBLE_CALLBACK_PLUGINS."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: bench_timer
type: aggregate
short_description: task and play wall times for bench/
description: Writes JSON lines with per-host task durations and play durations to $VFL_BENCH_TIMES.
requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._path = os.environ.get("VFL_BENCH_TIMES")
        self._starts = {}
        self._task_start = {}
        self._play = None

    def _write(self, rec):
        if not self._path:
            return
        with open(self._path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def _end_play(self):
        if self._play is not None:
            name, t0 = self._play
            self._write({"kind": "play", "play": name, "seconds": time.time() - t0})
            self._play = None

    def v2_playbook_on_play_start(self, play):
        self._end_play()
        self._play = (play.get_name(), time.time())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start[task._uuid] = time.time()

    def v2_runner_on_start(self, host, task):
        self._starts[(host.get_name(), task._uuid)] = time.time()

    def _done(self, result, status):
        key = (result._host.get_name(), result._task._uuid)
        t0 = self._starts.pop(key, None)
        if t0 is None:
            return
        res = result._result or {}
        self._write({
            "kind": "task", "task": result._task.get_name(), "host": key[0], "status": status,
            "seconds": time.time() - t0, "since_task_start": time.time() - self._task_start.get(key[1], t0),
            "changed": bool(res.get("changed")), "msg": str(res.get("msg", ""))[:300] if status == "failed" else "",
            "extra": dict((k, res[k]) for k in ("killed", "terminated", "disconnected", "unbanned", "commands", "stdout")
                          if k in res and status != "skipped"),
        })

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._end_play()
