# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration-file parsers and discovery of module_utils/_ocserv_config.py and
module_utils/_openvpn_config.py (vpn_facts reports what they read).

Real configuration files are in tests/unit/fixtures/config (captured from the lab's servers by
tests/capture/capture_configs.sh, see its SOURCES file); the short texts below are the cases
those files do not have.
"""

from __future__ import absolute_import, division, print_function

import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.vpnfleet.control.plugins.module_utils import _ocserv_config as oc
from ansible_collections.vpnfleet.control.plugins.module_utils import _openvpn_config as ov


# ---------------------------------------------------------------------------- configuration parsing

def test_parse_ocserv_config():
    text = """
# occtl-socket-file = /wrong
auth = "plain[passwd=/etc/ocserv/ocpasswd]"
tcp-port = 443
socket-file = /run/ocserv-socket
occtl-socket-file = /run/ocserv/occtl.socket
use-occtl = true
pid-file = /run/ocserv.pid
"""
    info = oc.parse_ocserv_config(text)
    assert info == {"occtl_socket": "/run/ocserv/occtl.socket", "use_occtl": True, "pid_file": "/run/ocserv.pid",
                    "tcp_port": 443, "is_ocserv": True, "passwd_file": "/etc/ocserv/ocpasswd",
                    "auth_methods": ["plain"], "crl": None}
    assert oc.parse_ocserv_config("use-occtl = false\ntcp-port=1\n")["use_occtl"] is False
    assert not oc.parse_ocserv_config("something else\n")["is_ocserv"]


def test_parse_ocserv_config_certificate_auth():
    """The role's certificate configurations: certificate only, and certificate beside a password file."""
    info = oc.parse_ocserv_config(
        'auth = "certificate"\nca-cert = /etc/ocserv/pki/ca.pem\ncrl = /etc/ocserv/pki/crl.pem\n'
        'cert-user-oid = 2.5.4.3\n# crl = /old.pem\n')
    assert info["auth_methods"] == ["certificate"] and info["crl"] == "/etc/ocserv/pki/crl.pem"
    assert info["passwd_file"] is None
    info = oc.parse_ocserv_config(
        'auth = "plain[passwd=/etc/ocserv/ocpasswd]"\nenable-auth = "certificate"\n'
        'enable-auth = "gssapi[no-local-map]"\nauth = "plain[passwd=/other]"\n')
    assert info["auth_methods"] == ["plain", "certificate", "gssapi"]
    assert info["passwd_file"] == "/etc/ocserv/ocpasswd" and info["crl"] is None
    assert oc.parse_ocserv_config('auth = "radius[config=/etc/r.conf,groupconfig=true]"\n'
                                  'crl = ""\n') == dict(
        oc.parse_ocserv_config('auth = "radius[config=/x]"'), crl=None)


@given(st.lists(st.sampled_from(["plain[passwd=/p]", "certificate", "pam", "radius[config=/r]", "gssapi",
                                 "", "[x]", "PAM"]), max_size=6),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_parse_ocserv_config_auth_property(methods, noise):
    """Each method name once, in order, lower case; no input makes the parser raise."""
    text = "".join('%s = "%s"\n' % ("auth" if i == 0 else "enable-auth", m) for i, m in enumerate(methods))
    info = oc.parse_ocserv_config(text + noise)
    expected = []
    for m in methods:
        name = m.split("[")[0].lower()
        if name and name not in expected:
            expected.append(name)
    assert info["auth_methods"][:len(expected)] == expected
    assert len(set(info["auth_methods"])) == len(info["auth_methods"])
    crl = oc.parse_ocserv_config(noise)["crl"]
    assert crl is None or (isinstance(crl, str) and crl != "")


def test_parse_openvpn_config_unix_tcp_relative():
    info = ov.parse_openvpn_config(
        "server 10.8.0.0 255.255.255.0\nmanagement /run/openvpn-server/srv.sock unix\n"
        "management-client-group openvpn-admin\n<ca>\nmanagement bogus\n</ca>\n", "/etc/openvpn/server")
    assert info["management"] == {"socket": "/run/openvpn-server/srv.sock", "password_file": None}
    assert info["role"] == "server" and info["management_client_group"] == "openvpn-admin"
    info = ov.parse_openvpn_config('client\nmanagement 127.0.0.1 7505 "mgmt pw.txt"\n', "/etc/openvpn")
    assert info["management"] == {"host": "127.0.0.1", "port": 7505, "password_file": "/etc/openvpn/mgmt pw.txt"}
    assert info["role"] == "client"
    info = ov.parse_openvpn_config("cd /srv/vpn\nmode server\nmanagement run/m.sock unix pw\n", "/etc")
    assert info["management"] == {"socket": "/srv/vpn/run/m.sock", "password_file": "/srv/vpn/pw"}
    info = ov.parse_openvpn_config("ca pki/ca.crt\ndh none\ncrl-verify /srv/crl.pem\n<key>\n</key>\n", "/etc/o")
    assert info["files"] == {"ca": "/etc/o/pki/ca.crt", "crl_verify": "/srv/crl.pem"}
    assert ov.parse_openvpn_config("dev tun\n", "/etc")["management"] is None
    assert ov.parse_openvpn_config("dev tun\n", "/etc")["client_config_dir"] is None


def test_parse_openvpn_config_client_config_dir():
    info = ov.parse_openvpn_config("client-config-dir /etc/openvpn/server/s/ccd\n", "/etc/openvpn/server")
    assert info["client_config_dir"] == "/etc/openvpn/server/s/ccd"
    # relative to the directory the unit runs in, or to cd
    info = ov.parse_openvpn_config("client-config-dir ccd\n", "/etc/openvpn/server")
    assert info["client_config_dir"] == "/etc/openvpn/server/ccd"
    info = ov.parse_openvpn_config("cd /srv/vpn\nclient-config-dir 'my ccd'\n", "/etc/openvpn")
    assert info["client_config_dir"] == "/srv/vpn/my ccd"
    # a directory is not a file re-read on SIGHUP
    assert "client_config_dir" not in info["files"]


def test_parse_ocserv_config_auth_methods():
    """The methods of auth / enable-auth lines, without their options (docs: ocserv.conf(5))."""
    text = ('auth = "certificate"\nauth = "plain[passwd=/etc/ocserv/pw,otp=/etc/ocserv/otp]"\n'
            'enable-auth = "gssapi[keytab=/etc/krb5.keytab]"\nenable-auth = radius[config=/etc/r.conf,groupconfig=true]\n'
            '#auth = "pam"\n')
    info = oc.parse_ocserv_config(text)
    assert info["auth_methods"] == ["certificate", "plain", "gssapi", "radius"]
    assert info["passwd_file"] == "/etc/ocserv/pw"
    assert oc.parse_ocserv_config('auth = "pam[gid-min=1000]"\n')["auth_methods"] == ["pam"]
    assert oc.parse_ocserv_config('auth = "PAM"\n')["auth_methods"] == ["pam"]
    assert oc.parse_ocserv_config('auth = ""\n')["auth_methods"] == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_config_parsers_take_any_text(text):
    """No configuration text makes the parsers fail; the methods are bare lower-case names."""
    info = oc.parse_ocserv_config(text)
    for method in info["auth_methods"]:
        assert method and method == method.lower() and all(c.isalnum() or c in "_-" for c in method)
    info = ov.parse_openvpn_config(text, "/etc/openvpn/server")
    assert info["client_config_dir"] is None or os.path.isabs(info["client_config_dir"])


def test_reread_files_and_run_as():
    text = ("ca /p/ca.crt\ncert /p/s.crt\nkey /p/s.key\ncrl-verify /p/crl.d dir\nuser nobody\ngroup nogroup\n"
            "persist-key\n")
    info = ov.parse_openvpn_config(text, "/etc/openvpn/server")
    assert info["run_as"] == {"user": "nobody", "group": "nogroup"} and info["persist_key"]
    cand = dict(info, config="/etc/openvpn/server/a.conf")
    # the key is kept in memory (persist-key); the CRL directory is listed, not its "dir" flag
    assert ov.reread_files(cand) == ["/etc/openvpn/server/a.conf", "/p/ca.crt", "/p/s.crt", "/p/crl.d"]
    cand["persist_key"] = False
    assert "/p/s.key" in ov.reread_files(cand)
    assert ov.reread_files(dict(cand, config=None)) == []


def test_unit_names():
    assert ov.unit_for("/etc/openvpn/server/edge.conf") == "openvpn-server@edge.service"
    assert ov.unit_for("/etc/openvpn/site.conf") == "openvpn@site.service"
    assert ov.unit_for("/etc/openvpn/client/up.conf") == "openvpn-client@up.service"
    assert ov.unit_for("/srv/x.conf") is None


def test_ocserv_candidates_dedupe_and_disabled(tmp_path):
    (tmp_path / "a.conf").write_text("auth = plain\nocctl-socket-file = %s\n" % (tmp_path / "occtl.socket"))
    (tmp_path / "b.conf").write_text("tcp-port = 4443\nuse-occtl = false\nocctl-socket-file = %s\n"
                                     % (tmp_path / "b.socket"))
    (tmp_path / "notes.conf").write_text("nothing for ocserv here\n")
    cands = oc.ocserv_candidates([str(tmp_path / "a.conf"), str(tmp_path / "*.conf")],
                                 [str(tmp_path / "occtl.socket"), str(tmp_path / "extra.socket")],
                                 str(tmp_path / "default.socket"))
    assert [(c["socket"], c["source"], c["use_occtl"]) for c in cands] == [
        (str(tmp_path / "occtl.socket"), "config", True),
        (str(tmp_path / "b.socket"), "config", False),
        (str(tmp_path / "extra.socket"), "explicit", True),
    ]
    assert oc.ocserv_candidates([str(tmp_path / "*.conf")], [], str(tmp_path / "d.socket"), discover=False) == []


# ---------------------------------------------------------------------------- captured files

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "fixtures", "config")


def captured(*parts):
    with open(os.path.join(CONFIGS, *parts)) as handle:
        return handle.read()


@pytest.mark.parametrize("host,network", [("bookworm", "100"), ("trixie", "101"), ("sid", "102")])
def test_ocserv_config_of_the_lab(host, network):
    """The ocserv.conf each lab server runs (ocserv 1.1.6, 1.3.0, 1.5.0)."""
    text = captured("ocserv", "%s-ocserv.conf" % host)
    assert "192.168.%s.0" % network in text   # the capture is the one of that host
    assert oc.parse_ocserv_config(text) == {
        "occtl_socket": "/var/run/occtl.socket", "use_occtl": True, "pid_file": "/run/ocserv.pid",
        "tcp_port": 443, "is_ocserv": True, "passwd_file": "/etc/ocserv/ocpasswd", "auth_methods": ["plain"],
        "crl": None,
    }


def test_ocserv_discovery_on_the_lab_files(tmp_path):
    """Three servers' files found by pattern; the same default socket (also named /run/...) is queried once."""
    for host in ("bookworm", "trixie", "sid"):
        (tmp_path / ("%s.conf" % host)).write_text(captured("ocserv", "%s-ocserv.conf" % host))
    (tmp_path / "notes.conf").write_text(captured("openvpn", "sid-lab.conf"))   # not ocserv's
    cands = oc.ocserv_candidates([str(tmp_path / "*.conf")], ["/run/occtl.socket"], str(tmp_path / "none.socket"))
    assert [(os.path.basename(c["config"]), c["socket"], c["passwd_file"]) for c in cands] == [
        ("bookworm.conf", "/var/run/occtl.socket", "/etc/ocserv/ocpasswd")]


@pytest.mark.parametrize("name,port,management", [
    ("lab", 1194, {"socket": "/run/openvpn-server/lab.sock", "password_file": None}),
    ("labhold", 1196, {"socket": "/run/openvpn-server/labhold.sock", "password_file": None}),
    ("labpw", 1195, {"host": "127.0.0.1", "port": 7505, "password_file": "/etc/openvpn/server/lab/labpw-mgmt.pw"}),
])
def test_openvpn_config_of_the_lab(name, port, management):
    """The lab's OpenVPN 2.7.8 instances: management by unix socket, on hold, and by TCP with a password file."""
    info = ov.parse_openvpn_config(captured("openvpn", "sid-%s.conf" % name), "/etc/openvpn/server")
    pki = "/etc/openvpn/server/lab/"
    assert info == {
        "management": management, "role": "server",
        "management_client_user": "root" if name != "labpw" else None, "management_client_group": None,
        "dev": "tun", "port": port, "proto": "udp4",
        "files": {"ca": pki + "ca.crt", "cert": pki + "server.crt", "key": pki + "server.key",
                  "crl_verify": pki + "crl.pem"},
        "run_as": {}, "persist_key": True, "client_config_dir": None,
    }
    cand = dict(info, config="/etc/openvpn/server/%s.conf" % name)
    # persist-key: the key is not read again on SIGHUP, the CRL and the certificates are
    assert ov.reread_files(cand) == ["/etc/openvpn/server/%s.conf" % name, pki + "ca.crt", pki + "server.crt",
                                     pki + "crl.pem"]
    assert ov.unit_for(cand["config"]) == "openvpn-server@%s.service" % name


def test_openvpn_debian_samples():
    """Debian's sample configurations: relative files from the unit's directory, a trailing comment
    ignored, roles from server / client, no management interface."""
    info = ov.parse_openvpn_config(captured("openvpn", "debian-server.conf"), "/etc/openvpn/server")
    assert info["role"] == "server" and info["management"] is None and info["port"] == 1194
    assert info["files"] == {"ca": "/etc/openvpn/server/ca.crt", "cert": "/etc/openvpn/server/server.crt",
                             "key": "/etc/openvpn/server/server.key"}
    assert info["persist_key"] is False and info["run_as"] == {} and info["proto"] == "udp"
    info = ov.parse_openvpn_config(captured("openvpn", "debian-client.conf"), "/etc/openvpn/client")
    assert info["role"] == "client" and info["management"] is None and info["port"] is None
    assert info["files"]["key"] == "/etc/openvpn/client/client.key" and info["dev"] == "tun"


def test_openvpn_discovery_on_the_lab_files(tmp_path):
    """Configurations with a management line are found, in name order, each interface once."""
    server = tmp_path / "server"
    server.mkdir()
    for name in ("lab", "labhold", "labpw"):
        (server / ("%s.conf" % name)).write_text(captured("openvpn", "sid-%s.conf" % name))
    (server / "sample.conf").write_text(captured("openvpn", "debian-server.conf"))   # no management
    cands = ov.openvpn_candidates([str(server), str(server)], [str(tmp_path / "no-run")],
                                  [{"socket": "/run/openvpn-server/lab.sock"}])
    assert [(c["name"], c["source"], c["role"]) for c in cands] == [
        ("lab", "config", "server"), ("labhold", "config", "server"), ("labpw", "config", "server")]
    assert cands[2]["management"]["port"] == 7505 and cands[0]["unit"] is None


# ---------------------------------------------------------------------------- properties

_OCSERV_NAMES = ["auth", "enable-auth", "occtl-socket-file", "use-occtl", "pid-file", "tcp-port", "udp-port", "crl",
                 "socket-file", "run-as-user", "# crl", "AUTH", "Crl"]
_OPENVPN_NAMES = ["management", "cd", "mode", "server", "client", "tls-client", "management-client-user",
                  "management-client-group", "dev", "port", "lport", "proto", "user", "group", "persist-key",
                  "client-config-dir", "ca", "cert", "key", "dh", "tls-crypt", "tls-auth", "tls-crypt-v2",
                  "crl-verify", "secret", "<ca>", "</ca>", ";ca", "MANAGEMENT"]
_WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_VALUE = st.one_of(_WORD, st.sampled_from(["", "unix", "dir", "stdin", "none", "[inline]", "7505", "-1", "'a b'",
                                           "\u0663", "\u0661\u0662", '"q"', "plain[passwd=/p,otp=/o]",
                                           "radius[config=/r]", "..", "/abs/p", "a\\ b"]))


def _lines(names, separators):
    return st.lists(st.tuples(st.sampled_from(names), st.sampled_from(separators), st.lists(_VALUE, max_size=3)),
                    max_size=12).map(lambda rows: "\n".join(n + sep + " ".join(args) for n, sep, args in rows))


_TEXT = st.one_of(st.text(), _lines(_OCSERV_NAMES, [" = ", "=", " "]), _lines(_OPENVPN_NAMES, [" ", "\t", " = "]))


def _bare(text):
    """Text without the quoting and escapes OpenVPN's lexer removes (a value read from ``'a b'`` or
    ``a\\ b`` is ``a b``), to look a value up in the file it came from."""
    return text.replace("\\", "").replace('"', "").replace("'", "")


def _in_file(value, text):
    return _bare(value) in _bare(text)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_ocserv_config_values_come_from_the_file(text):
    """Never a traceback; every value reported is in the file as written (names lower-cased)."""
    info = oc.parse_ocserv_config(text)
    for key in ("occtl_socket", "pid_file", "passwd_file", "crl"):
        assert info[key] is None or _in_file(info[key], text)
    for method in info["auth_methods"]:
        assert _in_file(method, text.lower())
    assert info["tcp_port"] is None or _in_file(str(abs(info["tcp_port"])), text)
    assert isinstance(info["use_occtl"], bool) and isinstance(info["is_ocserv"], bool)
    assert info == oc.parse_ocserv_config(text)   # no state kept between calls


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_openvpn_config_values_come_from_the_file(text):
    """Never a traceback; names and numbers are in the file, paths are absolute and made of the
    file's words and the configuration's directory."""
    base = "/base/dir"
    info = ov.parse_openvpn_config(text, base)

    def from_file(path):
        assert os.path.isabs(path)
        for part in path.split("/"):
            assert part in ("", "base", "dir") or _in_file(part, text), (part, path)

    mgmt = info["management"]
    if mgmt is not None:
        if "socket" in mgmt:
            from_file(mgmt["socket"])
        else:
            assert _in_file(mgmt["host"], text) and (mgmt["port"] is None or _in_file(str(abs(mgmt["port"])), text))
        if mgmt["password_file"] not in (None, "stdin"):
            from_file(mgmt["password_file"])
    for key in ("management_client_user", "management_client_group", "dev", "proto"):
        assert info[key] is None or _in_file(info[key], text)
    assert info["port"] is None or _in_file(str(abs(info["port"])), text)
    assert info["role"] in (None, "server", "client")
    for key, value in info["run_as"].items():
        assert key in ("user", "group") and _in_file(value, text)
    for key, value in info["files"].items():
        if key == "crl_verify_dir":
            assert value is True and info["files"].get("crl_verify")
        else:
            assert _in_file(key.replace("_", "-"), text.lower())
            from_file(value)
    if info["client_config_dir"] is not None:
        from_file(info["client_config_dir"])
    files = ov.reread_files(dict(info, config="/base/dir/x.conf"))
    assert files[0] == "/base/dir/x.conf" and len(set(files)) == len(files)
    assert set(files[1:]) <= set(v for k, v in info["files"].items() if k != "crl_verify_dir")


def test_numbers_are_ascii_digits():
    """A port written in other digits is not read as a number OpenVPN would not read either."""
    info = ov.parse_openvpn_config(u"port \u0663\nmanagement 127.0.0.1 \u0661\u0662\n", "/b")
    assert info["port"] is None and info["management"]["port"] is None
    assert oc.parse_ocserv_config(u"tcp-port = \u0664\u0664\u0663\n")["tcp_port"] is None
    assert oc.parse_ocserv_config("tcp-port = 443\n")["tcp_port"] == 443
