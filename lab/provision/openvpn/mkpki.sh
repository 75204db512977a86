#!/bin/sh
# Test PKI of the lab's OpenVPN 2 servers and clients (openssl, EC P-256), made on the
# controller and kept in the lab state dir. Idempotent: only missing certificates are made;
# prints "created" when something was made (the playbook's changed_when).
# Usage: mkpki.sh DIR "server names" "client names" "revoked names"
set -eu
dir=$1; servers=$2; clients=$3; revoked=$4
mkdir -p "$dir/newcerts"
cd "$dir"
umask 077
created=
if [ ! -f ca.cnf ]; then
  cat > ca.cnf <<'CNF'
[ca]
default_ca = CA_default
[CA_default]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
certificate = ./ca.crt
private_key = ./ca.key
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_days = 3650
default_crl_days = 3650
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
[v3_server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyAgreement
extendedKeyUsage = serverAuth
[v3_client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyAgreement
extendedKeyUsage = clientAuth
CNF
  : > index.txt; echo 1000 > serial; echo 1000 > crlnumber
fi
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
if [ ! -f ca.crt ]; then
  # shellcheck disable=SC2086
  openssl req -x509 $ec -keyout ca.key -out ca.crt -days 3650 -subj /CN=vfl-lab-openvpn-ca 2>/dev/null
  created=1
fi
issue() { # name ext
  [ -f "$1.crt" ] && return 0
  # shellcheck disable=SC2086
  openssl req -new $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  openssl ca -batch -config ca.cnf -extensions "$2" -in "$1.csr" -out "$1.crt" -notext 2>/dev/null
  rm -f "$1.csr"
  created=1
}
for s in $servers; do issue "$s" v3_server; done
for c in $clients $revoked; do issue "$c" v3_client; done
for r in $revoked; do
  if ! grep -q "^R.*/CN=$r\$" index.txt; then
    openssl ca -config ca.cnf -revoke "$r.crt" -crl_reason keyCompromise 2>/dev/null
    rm -f crl.pem
  fi
done
if [ ! -f crl.pem ]; then
  openssl ca -config ca.cnf -gencrl -out crl.pem 2>/dev/null
  created=1
fi
chmod 0644 ca.crt crl.pem
[ -n "$created" ] && echo created
exit 0
