# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several occtl actions piped into one interactive occtl (``OcctlClient.actions``), on the
interactive outputs captured from ocserv 1.1.6, 1.3.0 and 1.5.0
(tests/capture/capture_occtl_batch.py -> tests/unit/fixtures/ocserv/<version>/batch/)."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocserv_fixtures import VERSIONS, FakeOcctl, load  # noqa: E402

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_client as oc_client  # noqa: E402
from ansible_collections.vpnfleet.control.plugins.module_utils._common import VpnControlError  # noqa: E402

A = False   # plain (not -j) commands


class InteractiveOcctl(FakeOcctl):
    """FakeOcctl that also answers one interactive run (stdin) from a batch capture."""

    interactive = True

    def __init__(self, version, batch, responses=None):
        FakeOcctl.__init__(self, version, responses)
        self.batch = batch
        self.stdins = []

    def __call__(self, argv, timeout, stdin_text=None):
        if stdin_text is None:
            return FakeOcctl.__call__(self, argv, timeout)
        self.calls.append(list(argv))
        self.stdins.append(stdin_text)
        assert argv[1:2] == ["-s"] and len(argv) == 3, argv
        assert stdin_text == "".join(line + "\n" for line in self.batch["stdin"])
        return self.batch["rc"], self.batch["stdout"], self.batch["stderr"]


def verb(version):
    return "terminate" if version == "1.5.0" else "disconnect"


def commands(version):
    return [[verb(version), "user", name] for name in ("alice", "nosuch", "bob")]


def outcome(item):
    ok, value = item
    if ok:
        return True, value
    return False, (value.kind, value.msg)


def alone(version, name, fixture):
    """What ``action`` gives for one command run alone on a captured answer."""
    runner = FakeOcctl(version, {(A, (verb(version), "user", name)): fixture})
    return outcome(oc_client.OcctlClient(runner=runner).action([verb(version), "user", name]))


@pytest.mark.parametrize("version", VERSIONS)
def test_batch_echoes_every_command_on_every_version(version):
    for name in ("actions", "actions_none_connected", "actions_missing_socket", "actions_refused_uid"):
        data = load(version, "batch", name)
        assert data["rc"] == 0   # interactive occtl exits 0 whatever happened
        assert oc_client._interactive_answers(data["stdout"], data["stdin"]) is not None, name


@pytest.mark.parametrize("version", VERSIONS)
def test_batch_one_process_same_results_as_one_by_one(version):
    runner = InteractiveOcctl(version, load(version, "batch", "actions"))
    client = oc_client.OcctlClient(runner=runner)
    got = [outcome(item) for item in client.actions(commands(version))]
    assert len(runner.calls) == 1 and len(runner.stdins) == 1
    alice = load(version, "batch", "actions")["stdout"].split("\n")[1]
    assert got[0] == (True, alice)
    assert got[2] == (True, alice.replace("alice", "bob"))
    # the not-found answer: the same error as the command run alone gives (captured alone too)
    nosuch = load(version, "empty", "%s_user_nosuch" % verb(version))
    assert got[1] == alone(version, "nosuch", nosuch)
    assert got[1][1][0] == "not_found"
    if version == "1.5.0":
        assert got[0] == alone(version, "alice", load(version, "actions", "terminate_user_alice"))


@pytest.mark.parametrize("version", VERSIONS)
def test_batch_nobody_connected_all_not_found(version):
    runner = InteractiveOcctl(version, load(version, "batch", "actions_none_connected"))
    got = [outcome(item) for item in oc_client.OcctlClient(runner=runner).actions(commands(version))]
    assert [ok for ok, _value in got] == [False, False, False]
    assert all(value[0] == "not_found" for _ok, value in got)
    assert len(runner.calls) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_batch_not_found_refused_when_not_allowed(version):
    """allow_not_found=False: the not-found answers are not taken from the batch; each such
    command runs alone and raises as ``action`` does."""
    nosuch = load(version, "empty", "%s_user_nosuch" % verb(version))
    runner = InteractiveOcctl(version, load(version, "batch", "actions_none_connected"),
                              {(A, (verb(version), "user", n)): nosuch for n in ("alice", "nosuch", "bob")})
    with pytest.raises(VpnControlError) as err:
        oc_client.OcctlClient(runner=runner).actions(commands(version), allow_not_found=False)
    assert err.value.kind == "not_found"
    assert len(runner.calls) == 2   # the batch, then the first command alone


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("capture, alone_fixture, kind", [
    ("actions_missing_socket", ("noserver", "disconnect_user"), "unreachable"),
])
def test_batch_errors_come_from_the_command_run_alone(version, capture, alone_fixture, kind):
    """Connection errors go to stderr, which no command can be told from: every command runs
    again alone and the first one raises exactly what it raises without the batch."""
    fixture = load(version, *alone_fixture)
    runner = InteractiveOcctl(version, load(version, "batch", capture),
                              {(A, tuple(c)): fixture for c in commands(version)})
    client = oc_client.OcctlClient(runner=runner)
    with pytest.raises(VpnControlError) as err:
        client.actions(commands(version))
    with pytest.raises(VpnControlError) as want:
        oc_client.OcctlClient(runner=FakeOcctl(version, {(A, tuple(commands(version)[0])): fixture})).action(
            commands(version)[0])
    assert (err.value.kind, err.value.msg) == (want.value.kind, want.value.msg) and err.value.kind == kind
    assert len(runner.calls) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_batch_refused_uid_falls_back(version):
    """A uid ocserv refuses: the batch's stderr says so for no command in particular; the
    commands run alone (here answered with the captured refusal of a single command)."""
    refused = load(version, "empty", "status_uid_other")
    runner = InteractiveOcctl(version, load(version, "batch", "actions_refused_uid"),
                              {(A, tuple(c)): refused for c in commands(version)})
    assert oc_client._interactive_errors(load(version, "batch", "actions_refused_uid")["stderr"])
    assert not oc_client._interactive_errors(load(version, "batch", "actions")["stderr"])
    with pytest.raises(VpnControlError):
        oc_client.OcctlClient(runner=runner).actions(commands(version))
    assert len(runner.calls) == 2


def test_batch_disconnect_on_150():
    runner = InteractiveOcctl("1.5.0", load("1.5.0", "batch", "disconnect_actions"))
    got = oc_client.OcctlClient(runner=runner).actions([["disconnect", "user", "alice"], ["disconnect", "user", "nosuch"]])
    assert got[0] == (True, "user 'alice' was disconnected")
    assert got[1][0] is False and got[1][1].kind == "not_found"


@pytest.mark.parametrize("version", VERSIONS)
def test_batch_answers_out_of_order_or_missing_fall_back(version):
    data = dict(load(version, "batch", "actions"))
    for stdout in (data["stdout"].replace("> %s user bob\n" % verb(version), ""),     # an echo missing
                   data["stdout"][:-2],                                               # no final prompt
                   "junk\n" + data["stdout"]):                                        # text before the first echo
        assert oc_client._interactive_answers(stdout, data["stdin"]) is None
    # an unexpected answer: that command alone again, the others from the batch
    odd = dict(data, stdout=data["stdout"].replace("could not %s user 'nosuch'" % verb(version), "something else"))
    nosuch = load(version, "empty", "%s_user_nosuch" % verb(version))
    runner = InteractiveOcctl(version, odd, {(A, (verb(version), "user", "nosuch")): nosuch})
    got = oc_client.OcctlClient(runner=runner).actions(commands(version))
    assert runner.commands() == [(), (verb(version), "user", "nosuch")]
    assert got[0][0] is True and got[1][0] is False and got[2][0] is True


def test_batch_only_plain_names_and_several_commands():
    runner = InteractiveOcctl("1.5.0", load("1.5.0", "batch", "actions"),
                              {(A, ("terminate", "user", "alice")): load("1.5.0", "actions", "terminate_user_alice")})
    client = oc_client.OcctlClient(runner=runner)
    client.actions([["terminate", "user", "alice"]])          # one command: no interactive occtl
    assert runner.stdins == []
    assert not oc_client._batchable(["terminate", "user", "a b"])
    assert not oc_client._batchable(["terminate", "user", "a\nshow users"])
    assert not oc_client._batchable(["terminate", "user", "alice\n"])   # "$" would match before the newline
    assert not oc_client._batchable(["show", "user", "alice"])
    assert oc_client._batchable(["disconnect", "user", "first.last@example.org"])


def test_runner_without_stdin_support_runs_one_by_one():
    version = "1.5.0"
    responses = {(A, ("terminate", "user", "alice")): load(version, "actions", "terminate_user_alice"),
                 (A, ("terminate", "user", "nosuch")): load(version, "empty", "terminate_user_nosuch")}
    runner = FakeOcctl(version, responses)
    got = oc_client.OcctlClient(runner=runner).actions([["terminate", "user", "alice"], ["terminate", "user", "nosuch"]])
    assert runner.commands() == [("terminate", "user", "alice"), ("terminate", "user", "nosuch")]
    assert got[0][0] is True and got[1][1].kind == "not_found"


def test_run_command_feeds_stdin(tmp_path):
    rc, out, err = oc_client.run_command(["cat"], 5, stdin_text="a\nb\n")
    assert (rc, out, err) == (0, "a\nb\n", "")
    rc, out, err = oc_client.run_command(["cat"], 5)
    assert (rc, out) == (0, "")
