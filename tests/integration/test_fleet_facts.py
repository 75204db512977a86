"""vpn_facts on the lab: a facts module of gather_facts, cached with the jsonfile fact cache and queried
from the cache by a later play; what it finds matches what the servers say. Run with VPNFLEET_LAB_ID=fleet.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
FLEET = os.path.join(HERE, "playbooks", "fleet")

GATHER = """
- name: Gather with vpn_facts as a facts module
  hosts: lab
  become: true
  gather_facts: true
  gather_subset: [min]
  vars:
    ansible_facts_modules: [ansible.builtin.setup, vpnfleet.control.vpn_facts]
    ansible_facts_parallel: false
  tasks:
    - name: Summary
      ansible.builtin.debug:
        var: ansible_facts.vpn.summary
"""

QUERY = """
- name: Query the cache only
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Hosts where alice is connected, from the cached facts
      ansible.builtin.set_fact:
        alice_on: >-
          {{ groups['lab'] | map('extract', hostvars) | selectattr('ansible_facts.vpn', 'defined')
             | selectattr('ansible_facts.vpn.summary.usernames', 'contains', 'alice')
             | map(attribute='inventory_hostname') | sort }}
        cached: "{{ groups['lab'] | map('extract', hostvars) | selectattr('ansible_facts.vpn', 'defined') | list | length }}"
"""


def test_vpn_facts_in_gather_facts_with_fact_cache(lab, tmp_path, monkeypatch):
    res = lab.playbook(os.path.join(FLEET, "openvpn-setup.yml"))
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    cache = tmp_path / "facts"
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN", "jsonfile")
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(cache))
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_TIMEOUT", "3600")
    res = lab.playbook(GATHER)
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    ovpn = lab.groups["openvpn_servers"][0]

    cached = {}
    for host in lab.groups["lab"]:
        # jsonfile names the files <prefix><host> (ansible-core 2.19 writes "s1_<host>")
        paths = [p for p in cache.iterdir() if p.name == host or p.name.split("_", 1)[-1] == host]
        assert len(paths) == 1, (host, sorted(p.name for p in cache.iterdir()))
        with open(str(paths[0])) as f:
            entry = json.load(f)
        if "__payload__" in entry:   # ansible-core 2.19: a JSON document in an envelope
            entry = json.loads(entry["__payload__"])
        # the jsonfile cache keeps each fact under its ansible_ name
        cached[host] = entry.get("ansible_vpn") or entry.get("vpn")
        assert cached[host], sorted(entry)[:20]

    for host in lab.groups["ocserv_servers"]:
        vpn = cached[host]
        oc = vpn["ocserv"]
        assert oc["reachable"] and oc["socket"] == "/var/run/occtl.socket"
        assert oc["passwd_file"] == "/etc/ocserv/ocpasswd"
        # same users as occtl itself lists
        occtl = json.loads(lab.run(host, ["occtl", "-j", "show", "users"]).stdout)
        assert sorted(u["username"] for u in oc["users"]) == sorted(u["Username"] for u in occtl)
        server_version = (lab.run(host, "occtl --version 2>&1 | head -n1").stdout.split()[-1])
        assert oc["version"] == server_version

    inst = [i for i in cached[ovpn]["openvpn"] if i["name"] == "fleet"][0]
    assert inst["reachable"] and inst["role"] == "server" and inst["unit"] == "openvpn-server@fleet.service"
    assert inst["files"]["crl_verify"] == "/etc/openvpn/server/fleet/crl.pem"
    assert inst["management"]["socket"] == "/run/openvpn-mgmt/fleet.sock"
    main_pid = lab.run(ovpn, ["systemctl", "show", "-p", "MainPID", "--value", "openvpn-server@fleet"]).stdout
    assert inst["pid"] == int(main_pid.strip())
    assert sorted(c["common_name"] for c in inst["clients"]) == ["alice", "bob"]

    for host in lab.groups["openvpn3_clients"]:
        o3 = cached[host]["openvpn3"]
        assert o3["present"] and o3["reachable"]
        listed = lab.run(host, ["openvpn3", "sessions-list"]).stdout
        assert sorted(s["path"] for s in o3["sessions"]) == sorted(
            line.split(":", 1)[1].strip() for line in listed.splitlines() if line.strip().startswith("Path:"))
        o3lab = [i for i in cached[host]["openvpn"] if i["name"] == "o3lab"][0]
        assert o3lab["reachable"] and o3lab["files"].get("crl_verify") is None

    client = lab.groups["vpn_clients"][0]
    assert cached[client]["summary"]["ocserv_servers"] <= 1   # the package's stopped server at most
    assert cached[client]["summary"]["unreachable"] == []

    # a later play reads the cache without touching the hosts
    res = lab.playbook(QUERY)
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    facts = res.result("Hosts where alice is connected, from the cached facts", "localhost")["ansible_facts"]
    assert int(facts["cached"]) == len(lab.groups["lab"])
    assert set(lab.groups["ocserv_servers"]) <= set(facts["alice_on"])


def test_vpn_facts_reports_a_stopped_server_without_failing(lab):
    host = lab.groups["ocserv_servers"][-1]
    lab.run(host, ["systemctl", "stop", "ocserv"])
    try:
        res = lab.playbook("""
- name: Facts with a stopped ocserv
  hosts: %s
  become: true
  gather_facts: false
  tasks:
    - name: Facts
      vpnfleet.control.vpn_facts:
        gather: [ocserv]
    - name: Health check
      vpnfleet.control.vpn_facts:
        gather: [ocserv]
        fail_on_unreachable: true
      ignore_errors: true
""" % host)
    finally:
        lab.run(host, ["systemctl", "start", "ocserv"])
    assert res.rc == 0, (res.stats, res.stderr[-3000:])
    oc = res.result("Facts", host)["ansible_facts"]["vpn"]["ocserv"]
    assert oc["present"] and not oc["running"] and oc["error_kind"] == "not_running"
    health = res.result("Health check", host)
    assert health["failed"] and "not answering" in health["msg"] and "/var/run/occtl.socket" in health["msg"]
