#!/usr/bin/env bash
# Captures the configuration files of the lab's real servers into tests/unit/fixtures/config, for the
# unit tests of the configuration parsers (module_utils/_ocserv_config.py, _openvpn_config.py):
#   ocserv/<host>-ocserv.conf       /etc/ocserv/ocserv.conf of bookworm (1.1.6), trixie (1.3.0), sid (1.5.0),
#                                   as the lab's provisioning writes it and ocserv runs it
#   openvpn/sid-<instance>.conf     /etc/openvpn/server/*.conf of sid (the lab's OpenVPN 2.7.8 instances)
#   openvpn/debian-<name>.conf      the sample configurations Debian's openvpn package ships
#                                   (/usr/share/doc/openvpn/examples/sample-config-files/)
# Usage (from the checkout, with a lab up): tests/capture/capture_configs.sh [LAB_ID]   (default: $VPNFLEET_LAB_ID)
set -euo pipefail
cd "$(dirname "$0")/../.."
id=${1:-${VPNFLEET_LAB_ID:?give the lab id}}
out=tests/unit/fixtures/config
mkdir -p "$out/ocserv" "$out/openvpn"
grab() {   # host path destination
  lab/lab exec --id "$id" "$1" -- cat "$2" > "$3.tmp" && mv "$3.tmp" "$3"
}
for host in bookworm trixie sid; do
  grab "$host" /etc/ocserv/ocserv.conf "$out/ocserv/$host-ocserv.conf"
done
for name in lab labpw labhold; do
  grab sid "/etc/openvpn/server/$name.conf" "$out/openvpn/sid-$name.conf"
done
for name in server client; do
  grab sid "/usr/share/doc/openvpn/examples/sample-config-files/$name.conf" "$out/openvpn/debian-$name.conf"
done
{
  echo "# Written by tests/capture/capture_configs.sh from lab $id on $(date -u +%Y-%m-%d)."
  for host in bookworm trixie sid; do
    echo "ocserv/$host-ocserv.conf: $(lab/lab exec --id "$id" "$host" -- sh -c 'ocserv --version 2>&1 | head -1')"
  done
  echo "openvpn/*: $(lab/lab exec --id "$id" sid -- sh -c 'openvpn --version | head -1')"
} > "$out/SOURCES"
