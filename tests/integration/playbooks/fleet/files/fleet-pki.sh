#!/bin/sh
# PKI of the fleet tests' OpenVPN instance, in the layout of the vpnfleet.control.openvpn role:
#   DIR/pki/ca.{key,crt} server.{key,crt} tc.key clients/NAME.{key,crt}, profiles in DIR/profiles.
# Usage: fleet-pki.sh DIR REMOTE PORT NAME...   (idempotent: existing files are kept)
set -eu
dir=$1; remote=$2; port=$3; shift 3
umask 077
mkdir -p "$dir/pki/clients" "$dir/profiles"
cd "$dir/pki"
newkey() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@"; }
[ -s ca.crt ] || newkey -x509 -days 3650 -subj "/CN=fleet test CA" -keyout ca.key -out ca.crt \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
sign() {  # sign NAME-PATH CN EKU
    [ -s "$1.crt" ] && return 0
    newkey -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 825 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
sign server fleet-server serverAuth
[ -s tc.key ] || openvpn --genkey secret tc.key
for name in "$@"; do
    sign "clients/$name" "$name" clientAuth
    [ -s "$dir/profiles/$name.ovpn" ] && continue
    {
        printf 'client\ndev tun\nproto udp4\nremote %s %s\nnobind\nremote-cert-tls server\nverb 3\n' "$remote" "$port"
        printf 'connect-retry 1 1\nexplicit-exit-notify 1\nroute-noexec\n'
        printf '<ca>\n'; cat ca.crt; printf '</ca>\n<cert>\n'; cat "clients/$name.crt"
        printf '</cert>\n<key>\n'; cat "clients/$name.key"; printf '</key>\n<tls-crypt>\n'; cat tc.key; printf '</tls-crypt>\n'
    } > "$dir/profiles/$name.ovpn"
done
chmod 0755 "$dir"
