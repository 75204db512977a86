# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by every server family (private to the collection)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import os
import re
import signal
import stat
import subprocess
import time


class VpnControlError(Exception):
    """An error with a message fit for the user (the module's ``msg``).

    ``kind`` is a short machine-readable cause (``not_found``, ``unreachable``,
    ``permission_denied``, ``missing_binary``, ``timeout``, ``busy``,
    ``protocol``, ``invalid``, ...), returned by the modules as ``error_kind``.
    """

    def __init__(self, msg, kind="error", **details):
        super(VpnControlError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.details = details

    def fail_kwargs(self):
        """Keyword arguments for ``module.fail_json``."""
        kwargs = dict(self.details)
        kwargs["msg"] = self.msg
        kwargs["error_kind"] = self.kind
        return kwargs


def as_list(value):
    """Options that take a list also accept one value; ``None`` is an empty list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def unique(items):
    """Items in first-seen order without repeats."""
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result


_INT_RE = re.compile(r"^\s*-?[0-9]+\s*$")


def to_int(value):
    """int from an int or a numeric string (ASCII digits: ``int()`` would also read ``"٣"`` as 3,
    a number nobody wrote); ``None`` otherwise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # json reads 1e999 as inf and NaN as nan: no int for those
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        if value.isascii() and value.isdecimal():   # the common case, same digits as the regex
            return int(value)
        if _INT_RE.match(value):
            return int(value)
    return None


# ---------------------------------------------------------------------------- sockets

def is_socket(path):
    """Whether ``path`` exists and is a unix socket (a broken or unreadable path is not)."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except (IOError, OSError, ValueError):
        return False


def socket_key(path):
    """One name per socket file, for comparing and de-duplicating sockets: the real path, with
    ``/var/run`` read as ``/run`` (a link to it on every current distribution: one socket, two names)."""
    try:
        real = os.path.realpath(path)
    except ValueError:   # a NUL byte: no such file, the name is its own key
        real = os.path.normpath(path)
    if real.startswith("/var/run/"):
        real = "/run/" + real[len("/var/run/"):]
    return real


# One day: long enough for any control-socket operation, short enough that a
# typo (seconds taken for milliseconds) is caught instead of hanging a play.
MAX_TIMEOUT = 86400.0


def check_timeout(value, name="timeout", maximum=MAX_TIMEOUT):
    """``value`` as a float number of seconds, or ``VpnControlError(kind='invalid')``.

    Refuses what would make a wait unbounded or meaningless: ``nan`` (every
    comparison with it is false, so a deadline never passes), ``inf``, zero,
    negative values, and anything above ``maximum``.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise VpnControlError("%s must be a number of seconds, got %r." % (name, value), kind="invalid")
    # "not (0 < x <= max)" is also true for nan, which fails every comparison.
    if not 0 < seconds <= maximum:
        raise VpnControlError(
            "%s must be greater than 0 and at most %d seconds, got %r." % (name, maximum, value),
            kind="invalid",
        )
    return seconds


# ---------------------------------------------------------------------------- processes

# After SIGTERM to a timed-out process group, how long its members get to end
# (sudo relays SIGTERM to the command it runs as root, it cannot relay SIGKILL).
KILL_GRACE = 1.0


def _ended(proc, seconds):
    """Whether ``proc`` ended within ``seconds``, without reaping it.

    An ended but unreaped child keeps its pid, so its process group id cannot be
    reused while the group is still signalled.
    """
    deadline = time.monotonic() + seconds
    while True:
        if proc.returncode is not None:
            return True
        if not hasattr(os, "waitid"):  # pragma: no cover - not Linux: reaps, the group id may go
            if proc.poll() is not None:
                return True
        else:
            try:
                if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def kill_group(proc, grace=KILL_GRACE):
    """End ``proc``'s whole process group and reap ``proc``; its return code.

    SIGTERM to the group, then SIGKILL to the group after ``grace`` seconds (or at
    once when ``proc`` ended: what it left behind in its group goes too). ``proc``
    must lead its own group (``spawn`` starts it so): its children and
    grandchildren (an occtl behind sudo or a wrapper, a shell's background job) end
    with it. ``proc`` is reaped only after the last signal, so the group id cannot
    have been reused meanwhile. sudo relays SIGTERM to the command it runs as root;
    it cannot relay SIGKILL, hence the grace period.
    """
    if proc.returncode is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except OSError:
                pass
            if sig == signal.SIGTERM:
                _ended(proc, grace)
    try:
        return proc.wait(timeout=5.0)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        return None


def spawn(argv, what=None, **popen_kwargs):
    """``subprocess.Popen(argv)`` in a new session (its own process group), no shell.

    A missing or non-executable program raises ``VpnControlError(kind='missing_binary')``
    (``what`` says what to install). ``argv`` must be a list of strings: a NUL byte
    in one is refused as ``invalid``, not a traceback.
    """
    argv = [str(part) for part in argv]
    if any("\0" in part for part in argv):
        raise VpnControlError("an argument of %s contains a NUL byte" % argv[0], kind="invalid", command=argv)
    popen_kwargs.setdefault("close_fds", True)
    popen_kwargs["start_new_session"] = True
    try:
        # AnsibleModule.run_command cannot start a process group of its own, hand back the process
        # for streaming, or end the whole group at a timeout: this is the one runner that does.
        return subprocess.Popen(argv, **popen_kwargs)  # pylint: disable=ansible-bad-function
    except OSError as exc:
        raise VpnControlError(
            "cannot run %s: %s%s" % (argv[0], exc.strerror or exc, " (%s)" % what if what else ""),
            kind="missing_binary", command=argv)


def run(argv, timeout, stdin=None, env=None, what=None, timeout_msg=None):
    """Run ``argv`` (a list, no shell) and return ``(rc, stdout, stderr)`` as bytes.

    ``stdin``: bytes to write to its stdin, or ``None`` for /dev/null. ``env``: the
    environment (default: this one with ``LC_ALL=C``). ``timeout`` (seconds) bounds
    the whole run, output included: when it passes, the process group is ended
    (``kill_group``) and ``VpnControlError(kind='timeout')`` raised, its message
    ``timeout_msg`` when given (placeholders ``%(timeout)s``, ``%(command)s``).
    A missing program raises ``kind='missing_binary'`` (``what`` as in ``spawn``).
    """
    # Callers add margins to a checked module timeout (busctl: its own --timeout + 2 s).
    timeout = check_timeout(timeout, maximum=2 * MAX_TIMEOUT)
    if env is None:
        env = dict(os.environ)
        env["LC_ALL"] = "C"
    proc = spawn(argv, what=what, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        try:
            # Pipes a process outside the group still holds must not block this.
            proc.communicate(timeout=1.0)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass
        finally:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        fields = dict(command=" ".join(str(part) for part in argv), timeout=timeout)
        msg = (timeout_msg or "%(command)s did not end within %(timeout)s seconds") % fields
        raise VpnControlError(msg, kind="timeout", command=[str(part) for part in argv])
    return proc.returncode, stdout, stderr


def poll(check, timeout, interval=0.1, first=0.02):
    """Call ``check()`` until it returns a true value or ``timeout`` seconds pass; its last value.

    The pause between calls starts at ``first`` and doubles up to ``interval``: a server usually
    settles within a few tens of milliseconds, and a fixed ``interval`` would make every task wait it."""
    deadline = time.time() + max(float(timeout), 0.0)
    pause = min(first, interval)
    value = check()
    while not value:
        left = deadline - time.time()
        if left <= 0:
            break
        time.sleep(min(pause, left))
        pause = min(pause * 2, interval)
        value = check()
    return value
