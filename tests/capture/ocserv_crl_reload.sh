#!/usr/bin/env bash
# How ocserv picks up a changed CRL (certificate authentication), per version. Run as root inside a lab
# ocserv host (lab/lab exec HOST -- bash -s < tests/capture/ocserv_crl_reload.sh). Starts a private ocserv
# on 127.0.0.1:5443 (its own sockets under a temporary directory), authenticates a client certificate with
# openconnect --authenticate at each step, prints one line per step, removes everything at the end.
# WARNING: ocserv 1.5.0 removes /var/run/occtl.socket when this private server exits (although its
# occtl-socket-file is elsewhere); the host's own ocserv then needs a restart for occtl to reach it. The
# last line says whether the default socket survived.
set -u
D=$(mktemp -d /tmp/crlcheck.XXXXXX)
cd "$D" || exit 1
had_default=$([ -S /var/run/occtl.socket ] && echo yes || echo no)
trap 'occtl -s "$D/occtl.socket" stop now >/dev/null 2>&1; sleep 2; kill "$PID" 2>/dev/null; cd /; rm -rf "$D"
  echo "7 default socket /var/run/occtl.socket before: $had_default, after the private server exited: $([ -S /var/run/occtl.socket ] && echo yes || echo no)"' EXIT
printf '%s\n' 'cn = "crl CA"' 'serial = 1' 'expiration_days = 30' ca signing_key cert_signing_key crl_signing_key > ca.tmpl
printf '%s\n' 'cn = "localhost"' 'serial = 2' 'expiration_days = 30' signing_key encryption_key tls_www_server \
  'dns_name = "localhost"' 'ip_address = "127.0.0.1"' > srv.tmpl
printf '%s\n' 'cn = "crluser"' 'serial = 3' 'expiration_days = 30' signing_key tls_www_client > usr.tmpl
printf '%s\n' 'crl_next_update = 30' 'crl_number = 1' > crl.tmpl
q() { "$@" >/dev/null 2>&1; }
q certtool --generate-privkey --key-type=ecdsa --outfile ca-key.pem
q certtool --generate-self-signed --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem
q certtool --generate-privkey --key-type=ecdsa --outfile srv-key.pem
q certtool --generate-certificate --load-privkey srv-key.pem --load-ca-certificate ca.pem --load-ca-privkey ca-key.pem \
  --template srv.tmpl --outfile srv.pem
q certtool --generate-privkey --key-type=ecdsa --outfile usr-key.pem
q certtool --generate-certificate --load-privkey usr-key.pem --load-ca-certificate ca.pem --load-ca-privkey ca-key.pem \
  --template usr.tmpl --outfile usr.pem
crl() {   # crl empty | crl revoked
  if [ "$1" = revoked ]; then extra=(--load-certificate usr.pem); else extra=(); fi
  sed -i "s/^crl_number = .*/crl_number = $RANDOM/" crl.tmpl
  q certtool --generate-crl --load-ca-privkey ca-key.pem --load-ca-certificate ca.pem "${extra[@]}" \
    --template crl.tmpl --outfile crl.pem.new
  mv crl.pem.new crl.pem
}
crl empty
cat > oc.conf <<CONF
auth = "certificate"
listen-host = 127.0.0.1
tcp-port = 5443
run-as-user = nobody
run-as-group = nogroup
socket-file = $D/ocserv-socket
occtl-socket-file = $D/occtl.socket
use-occtl = true
pid-file = $D/ocserv.pid
server-cert = $D/srv.pem
server-key = $D/srv-key.pem
ca-cert = $D/ca.pem
crl = $D/crl.pem
cert-user-oid = 2.5.4.3
isolate-workers = true
max-ban-score = 0
device = crlck
ipv4-network = 192.168.251.0
ipv4-netmask = 255.255.255.0
cookie-timeout = 60
CONF
chmod 755 "$D"
ocserv -f -d 1 -c oc.conf >ocserv.log 2>&1 &
PID=$!
for _ in $(seq 50); do occtl -s "$D/occtl.socket" show status >/dev/null 2>&1 && break; sleep 0.2; done
PIN=$(certtool --certificate-info --infile srv.pem | awk '/pin-sha256:/{print $1; exit}')
try() {
  if timeout 20 openconnect --protocol=anyconnect --non-inter --authenticate -c usr.pem -k usr-key.pem \
       --servercert "$PIN" https://127.0.0.1:5443/ </dev/null >try.out 2>&1; then echo accepted; else echo refused; fi
}
echo "ocserv $(occtl --version 2>&1 | head -1 | awk '{print $NF}')"
echo "1 empty CRL: $(try)"
crl revoked
echo "2 certificate revoked in the CRL file, no reload: $(try)"
sleep 2
echo "3 same, 2 s later: $(try)"
occtl -s "$D/occtl.socket" reload >/dev/null
sleep 1
echo "4 after occtl reload: $(try)"
crl empty
echo "5 entry removed from the CRL file, no reload: $(try)"
kill -HUP "$PID"
sleep 1
echo "6 after SIGHUP to ocserv-main: $(try)"
grep -i "crl\|certificate" ocserv.log | sort | uniq -c | head -5
