#!/usr/bin/env bash
# Bench-only VPN servers and clients inside ONE lab host (bench/README.md).
# Runs as root inside the host (bench/labbench.py pipes it through `lab/lab exec HOST -- bash -s`).
# Everything lives under /run/vfl-bench (tmpfs: gone at the host's next boot) and runs as
# transient systemd units named vfb-*, so `teardown` removes exactly what `setup` made.
#
#   setup OC_USERS OVPN_CLIENTS   PKI, ocserv instance (port 4443, occtl socket
#                                 /run/vfl-bench/oc/occtl.socket) with OC_USERS password users
#                                 user0000..; OpenVPN instance (udp 127.0.0.1:41194, management
#                                 /run/vfl-bench/ovpn/mgmt.sock) with OVPN_CLIENTS client certs
#   oc-connect FIRST COUNT        start openconnect clients userFIRST.. (from 127.0.0.1)
#   oc-wait COUNT [TIMEOUT]       until COUNT users are connected
#   oc-fail-login N               N wrong-password logins from 127.0.0.1 (ban points)
#   ovpn-connect FIRST COUNT      start OpenVPN clients clientFIRST..
#   ovpn-wait COUNT [TIMEOUT]     until COUNT clients are in the status
#   ovpn-mgmt-connections         number of management connections the server logged so far
#   stop-clients                  stop every bench client
#   versions                      ocserv / OpenVPN / Python versions
#   teardown                      stop everything, remove /run/vfl-bench
set -euo pipefail
B=/run/vfl-bench
OC=$B/oc
OV=$B/ovpn
PW=benchpw
MKPKI=/usr/local/lib/vfl-bench/mkpki.sh

cmd=${1:-}; shift || true

oc_count() {
  occtl -s "$OC/occtl.socket" -j show users 2>/dev/null | grep -c '"State":  "connected"' || true
}

ovpn_status() {
  python3 - "$OV/mgmt.sock" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
buf = b""
while b"\n" not in buf:
    buf += s.recv(65536)
s.sendall(b"status 3\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
s.sendall(b"quit\n"); s.close()
print(sum(1 for l in buf.split(b"\r\n") if l.startswith(b"CLIENT_LIST\t")))
EOF
}

case "$cmd" in
  setup)
    n_oc=${1:-200}; n_ov=${2:-50}
    mkdir -p "$OC/pki" "$OV/pki"
    # ---- ocserv
    cd "$OC/pki"
    if [ ! -s server-cert.pem ]; then
      printf '%s\n' 'cn = "bench CA"' 'organization = "vpnfleet bench"' 'serial = 1' 'expiration_days = 30' \
        ca signing_key cert_signing_key > ca.tmpl
      printf '%s\n' 'cn = "bench"' 'organization = "vpnfleet bench"' 'serial = 2' 'expiration_days = 30' \
        signing_key encryption_key tls_www_server 'ip_address = "127.0.0.1"' > server.tmpl
      certtool --generate-privkey --key-type=ecdsa --outfile ca-key.pem 2>/dev/null
      certtool --generate-self-signed --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem 2>/dev/null
      certtool --generate-privkey --key-type=ecdsa --outfile server-key.pem 2>/dev/null
      certtool --generate-certificate --load-privkey server-key.pem --load-ca-certificate ca.pem \
        --load-ca-privkey ca-key.pem --template server.tmpl --outfile server-cert.pem 2>/dev/null
    fi
    certtool --certificate-info --infile server-cert.pem | awk '/pin-sha256:/{print $1; exit}' > "$OC/pin"
    hash=$(openssl passwd -5 -salt vflbench "$PW")
    : > "$OC/passwd.tmp"
    for i in $(seq 0 $((n_oc - 1))); do printf 'user%04d:*:%s\n' "$i" "$hash" >> "$OC/passwd.tmp"; done
    mv "$OC/passwd.tmp" "$OC/passwd"
    cat > "$OC/ocserv.conf" <<EOF
auth = "plain[passwd=$OC/passwd]"
tcp-port = 4443
run-as-user = nobody
run-as-group = nogroup
socket-file = $OC/ocserv-socket
occtl-socket-file = $OC/occtl.socket
use-occtl = true
pid-file = $OC/ocserv.pid
server-cert = $OC/pki/server-cert.pem
server-key = $OC/pki/server-key.pem
ca-cert = $OC/pki/ca.pem
isolate-workers = true
max-clients = 2048
max-same-clients = 0
rate-limit-ms = 0
keepalive = 32400
dpd = 600
mobile-dpd = 1800
try-mtu-discovery = false
auth-timeout = 240
max-ban-score = 30
ban-points-wrong-password = 10
ban-points-connection = 1
ban-reset-time = 300
cookie-timeout = 300
device = vfb
predictable-ips = true
ipv4-network = 10.150.0.0
ipv4-netmask = 255.255.248.0
route = 10.150.0.0/255.255.248.0
EOF
    chmod 755 "$B" "$OC"
    if ! systemctl is-active -q vfb-ocserv.service; then
      systemctl reset-failed vfb-ocserv.service 2>/dev/null || true
      systemd-run -q --unit vfb-ocserv --property=LimitNOFILE=16384 ocserv -f -d 1 -c "$OC/ocserv.conf"
    fi
    for _ in $(seq 100); do occtl -s "$OC/occtl.socket" show status >/dev/null 2>&1 && break; sleep 0.1; done
    # ---- OpenVPN
    # the lab's test PKI script (lab/provision/openvpn/mkpki.sh, pushed next to this one)
    clients=$(for i in $(seq 0 $((n_ov - 1))); do printf 'client%04d ' "$i"; done)
    sh "$MKPKI" "$OV/pki" server "$clients" "" >/dev/null
    cat > "$OV/server.conf" <<EOF
mode server
tls-server
proto udp4
local 127.0.0.1
lport 41194
dev vfbtun0
dev-type tun
topology subnet
server 10.151.0.0 255.255.0.0
max-clients 4096
ca $OV/pki/ca.crt
cert $OV/pki/server.crt
key $OV/pki/server.key
dh none
keepalive 10 60
explicit-exit-notify 1
verb 3
tmp-dir $OV
writepid $OV/server.pid
log $OV/server.log
management $OV/mgmt.sock unix
EOF
    if ! systemctl is-active -q vfb-openvpn.service; then
      systemctl reset-failed vfb-openvpn.service 2>/dev/null || true
      systemd-run -q --unit vfb-openvpn openvpn --config "$OV/server.conf"
    fi
    for _ in $(seq 100); do grep -q 'Initialization Sequence Completed' "$OV/server.log" 2>/dev/null && break; sleep 0.1; done
    grep -q 'Initialization Sequence Completed' "$OV/server.log"
    echo "setup done: ocserv users $n_oc, openvpn clients $n_ov"
    ;;
  oc-connect)
    first=$1; count=$2
    pin=$(cat "$OC/pin")
    for i in $(seq "$first" $((first + count - 1))); do
      u=$(printf 'user%04d' "$i")
      systemctl reset-failed "vfb-oc-$u.service" 2>/dev/null || true
      systemctl is-active -q "vfb-oc-$u.service" && continue
      systemd-run -q --unit "vfb-oc-$u" --property=StandardInput=data \
        --property=StandardInputData="$(printf '%s\n' "$PW" | base64 -w0)" \
        openconnect --protocol=anyconnect --non-inter --passwd-on-stdin -u "$u" --servercert "$pin" \
        -s /bin/true --reconnect-timeout 5 "https://127.0.0.1:4443/" &
      [ $(((i - first + 1) % 20)) -ne 0 ] || wait
    done
    wait
    ;;
  oc-wait)
    want=$1; to=${2:-60}
    for _ in $(seq $((to * 5))); do
      [ "$(oc_count)" -ge "$want" ] && { echo "ocserv: $(oc_count) connected"; exit 0; }
      sleep 0.2
    done
    echo "ocserv: only $(oc_count) of $want connected" >&2; exit 1 ;;
  oc-fail-login)
    pin=$(cat "$OC/pin")
    for _ in $(seq "${1:-3}"); do
      printf 'wrong\n' | timeout 10 openconnect --protocol=anyconnect --non-inter --authenticate --passwd-on-stdin \
        -u user0000 --servercert "$pin" "https://127.0.0.1:4443/" >/dev/null 2>&1 || true
    done
    ;;
  ovpn-connect)
    first=$1; count=$2
    for i in $(seq "$first" $((first + count - 1))); do
      cn=$(printf 'client%04d' "$i")
      systemctl reset-failed "vfb-ov-$cn.service" 2>/dev/null || true
      systemctl is-active -q "vfb-ov-$cn.service" && continue
      systemd-run -q --unit "vfb-ov-$cn" openvpn --client --dev null --ifconfig-noexec --route-noexec --nobind \
        --proto udp4 --remote 127.0.0.1 41194 --ca "$OV/pki/ca.crt" --cert "$OV/pki/$cn.crt" \
        --key "$OV/pki/$cn.key" --remote-cert-tls server --connect-retry 1 1 --explicit-exit-notify 1 \
        --verb 1 &
      [ $(((i - first + 1) % 20)) -ne 0 ] || wait
    done
    wait
    ;;
  ovpn-wait)
    want=$1; to=${2:-60}
    for _ in $(seq $((to * 5))); do
      n=$(ovpn_status)
      [ "$n" -ge "$want" ] && { echo "openvpn: $n connected"; exit 0; }
      sleep 0.2
    done
    echo "openvpn: only $(ovpn_status) of $want connected" >&2; exit 1 ;;
  ovpn-mgmt-connections)
    grep -c 'MANAGEMENT: Client connected' "$OV/server.log" || true ;;
  stop-clients)
    mapfile -t units < <(systemctl list-units --plain --no-legend 'vfb-oc-*' 'vfb-ov-*' | awk '{print $1}')
    # a client told to exit (HALT) may leave between the listing and the stop: not an error,
    # as long as none is left running afterwards
    [ "${#units[@]}" -eq 0 ] || systemctl stop "${units[@]}" 2>/dev/null || true
    systemctl reset-failed 'vfb-oc-*' 'vfb-ov-*' 2>/dev/null || true
    left=$(systemctl list-units --plain --no-legend --state=active 'vfb-oc-*' 'vfb-ov-*' | awk '{print $1}')
    [ -z "$left" ] || { echo "clients still running: $left" >&2; exit 1; }
    ;;
  versions)
    echo "ocserv $(ocserv --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)"
    echo "openvpn $(openvpn --version | head -1 | awk '{print $2}')"
    echo "openconnect $(openconnect --version 2>&1 | grep -oE 'v[0-9.]+' | head -1)"
    echo "python $(python3 -c 'import platform; print(platform.python_version())')"
    . /etc/os-release; echo "os $PRETTY_NAME"
    ;;
  teardown)
    mapfile -t units < <(systemctl list-units --all --plain --no-legend 'vfb-*' | awk '{print $1}')
    [ "${#units[@]}" -eq 0 ] || systemctl stop "${units[@]}" || true
    systemctl reset-failed 'vfb-*' 2>/dev/null || true
    rm -rf "$B"
    ;;
  *)
    sed -n '2,22p' "$0"; exit 2 ;;
esac
