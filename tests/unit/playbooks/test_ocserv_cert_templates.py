# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The templates of the ocserv certificate revocation (playbooks/tasks/ocserv-cert-crl.yml and the revoke /
reinstate tasks files), rendered with ansible-core's templating as the tasks do: which servers are
selected, which CRL entries are written, what the summary says. The registered results are shaped like the
community.crypto / ansible.builtin results the tasks file feeds in; the integration test
(tests/integration/test_fleet_revoke_ocserv_cert.py) runs them against real servers."""

from __future__ import absolute_import, division, print_function

import os

import yaml
from hypothesis import given, settings, strategies as st

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 templates every string: nothing to mark as trusted

    def trust_as_template(value):
        return value

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "..", "..", "..", "playbooks", "templates")
CRL = "/etc/ocserv/pki/crl.pem"
CERT_INSTANCE = {"config": "/etc/ocserv/ocserv.conf", "socket": "/run/occtl.socket", "crl": CRL,
                 "pki": "/etc/ocserv/pki"}


def render(name, **variables):
    with open(os.path.join(TEMPLATES, name)) as handle:
        source = handle.read()
    variables.setdefault("ansible_check_mode", False)
    out = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(source))
    return yaml.safe_load(out) if out else None


def registered(users, serials, listed, missing=()):
    """Results as the tasks file registers them: certificates found (stat), their serials, the CRL read."""
    certs = [{"item": [CERT_INSTANCE, u], "stat": {"exists": u not in missing, "path": "/etc/ocserv/pki/clients/%s.crt" % u}}
             for u in users]
    infos = [{"item": c, "serial_number": serials[c["item"][1]]} for c in certs if c["stat"]["exists"]]
    crl_info = {"item": CERT_INSTANCE, "issuer_ordered": [["organizationName", "Example"], ["commonName", "ocserv CA"]],
                "revoked_certificates": [{"serial_number": s, "revocation_date": "20261203070000Z",
                                          "reason": "key_compromise", "reason_critical": False,
                                          "invalidity_date": None, "issuer": None} for s in listed]}
    return {"ocserv_cert__certs": {"results": certs}, "ocserv_cert__serials": {"results": infos},
            "ocserv_cert__crl_info": {"results": [crl_info]}, "ocserv_cert__instances": [CERT_INSTANCE]}


def test_instances_selected_by_auth_method_with_pki_dir():
    candidates = [
        {"config": "/etc/ocserv/a.conf", "socket": "/run/a", "auth_methods": ["plain", "certificate"], "crl": "/srv/a/crl.pem"},
        {"config": None, "socket": "/run/b", "auth_methods": None, "crl": None},        # found by its socket
        {"config": "/etc/ocserv/c.conf", "socket": "/run/c", "auth_methods": ["plain"], "crl": None},
        {"config": "/etc/ocserv/d.conf", "socket": "/run/d", "auth_methods": ["certificate"], "crl": None},
        {"socket": "/run/e"},                                                         # named in the inventory
    ]
    got = render("ocserv-cert-instances.yml.j2", ocserv_cert__candidates=candidates)
    assert got == [{"config": "/etc/ocserv/a.conf", "socket": "/run/a", "crl": "/srv/a/crl.pem", "pki": "/srv/a"},
                   {"config": "/etc/ocserv/d.conf", "socket": "/run/d", "crl": None, "pki": None}]
    got = render("ocserv-cert-instances.yml.j2", ocserv_cert__candidates=candidates[:1], revoke_ocserv_pki_dir="/x")
    assert got[0]["pki"] == "/x"
    got = render("ocserv-cert-instances.yml.j2", ocserv_cert__candidates=candidates[:1],
                 revoke_ocserv_pki_dir={"/etc/ocserv/a.conf": "/y"})
    assert got[0]["pki"] == "/y"
    assert render("ocserv-cert-instances.yml.j2", ocserv_cert__candidates=[]) is None


def test_revoke_entries_and_issuer_order():
    regs = registered(["carol", "dave", "erin"], {"carol": 10, "dave": 11}, listed=[11, 99], missing=["erin"])
    plan = render("ocserv-crl-entries.yml.j2", item=CERT_INSTANCE, ocserv_cert__mode="revoke", **regs)
    assert plan["issuer_ordered"] == [{"organizationName": "Example"}, {"commonName": "ocserv CA"}]
    assert plan["revoked_certificates"] == [{"path": "/etc/ocserv/pki/clients/carol.crt", "reason": "cessation_of_operation"}]
    assert plan["affected_users"] == ["carol"]
    sessions = {"results": [{"item": CERT_INSTANCE, "terminated": ["carol", "erin"]}]}
    report = render("ocserv-cert-report.yml.j2", ocserv_cert__mode="revoke", ocserv_cert__users=["carol", "dave", "erin"],
                    ocserv_cert__crl={"results": []}, revoke__ocserv_cert_sessions=sessions, **regs)
    assert report["lines"] == ["ocserv /run/occtl.socket: certificates revoked in %s, ocserv reloaded: carol; "
                               "already revoked: dave; no certificate in /etc/ocserv/pki/clients, not revoked: erin; "
                               "sessions terminated: carol, erin" % CRL]
    assert report["unblocked"] == ["ocserv /run/occtl.socket: erin"]


def test_reinstate_keeps_the_other_entries_as_they_are():
    regs = registered(["carol"], {"carol": 10}, listed=[7, 10, 12])
    plan = render("ocserv-crl-entries.yml.j2", item=CERT_INSTANCE, ocserv_cert__mode="reinstate", **regs)
    assert [e["serial_number"] for e in plan["revoked_certificates"]] == [7, 12]
    assert plan["revoked_certificates"][0] == {"serial_number": 7, "revocation_date": "20261203070000Z",
                                               "reason": "key_compromise", "reason_critical": False}
    assert plan["affected_users"] == ["carol"]
    report = render("ocserv-cert-report.yml.j2", ocserv_cert__mode="reinstate", ocserv_cert__users=["carol"],
                    ocserv_cert__crl={"results": []}, ansible_check_mode=True, **regs)
    assert report["lines"] == ["ocserv /run/occtl.socket: certificates would be removed from %s, ocserv reloaded: carol" % CRL]
    assert report["unblocked"] is None


def test_no_crl_means_unblocked():
    inst = dict(CERT_INSTANCE, crl=None, pki=None)
    report = render("ocserv-cert-report.yml.j2", ocserv_cert__mode="revoke", ocserv_cert__users=["carol"],
                    ocserv_cert__instances=[inst], ocserv_cert__certs={"results": []},
                    ocserv_cert__serials={"results": []}, ocserv_cert__crl_info={"results": []},
                    ocserv_cert__crl={"results": []})
    assert "without a crl" in report["lines"][0]
    assert report["unblocked"] == ["ocserv /run/occtl.socket: carol"]


@settings(max_examples=60, deadline=None)
@given(users=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4),
       listed=st.lists(st.integers(min_value=1, max_value=8), unique=True, max_size=6),
       data=st.data())
def test_revoke_then_reinstate_property(users, listed, data):
    """revoke adds exactly the users' serials the CRL lacks; reinstate keeps exactly the other entries."""
    serials = dict((u, data.draw(st.integers(min_value=1, max_value=8), label=u)) for u in users)
    regs = registered(users, serials, listed)
    mine = set(serials.values())
    added = render("ocserv-crl-entries.yml.j2", item=CERT_INSTANCE, ocserv_cert__mode="revoke", **regs)
    added_paths = [e["path"] for e in added["revoked_certificates"] or []]
    assert sorted(added_paths) == sorted("/etc/ocserv/pki/clients/%s.crt" % u for u in users if serials[u] not in listed)
    kept = render("ocserv-crl-entries.yml.j2", item=CERT_INSTANCE, ocserv_cert__mode="reinstate", **regs)
    assert [e["serial_number"] for e in kept["revoked_certificates"] or []] == [s for s in listed if s not in mine]
    assert sorted(kept["affected_users"]) == sorted(u for u in users if serials[u] in listed)
