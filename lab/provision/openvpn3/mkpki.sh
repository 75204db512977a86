#!/bin/sh
# Test PKI for the lab's OpenVPN 2 server and the OpenVPN 3 profile that connects to it.
# Usage: mkpki.sh DIR SERVER_IP PORT   (idempotent: does nothing when DIR/lab-vpn.ovpn exists)
set -eu
dir=$1; server_ip=$2; port=$3
[ -s "$dir/lab-vpn.ovpn" ] && exit 0
umask 077
mkdir -p "$dir"
cd "$dir"
days=3650
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days $days \
    -subj "/CN=o3lab CA" -keyout ca.key -out ca.crt \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for who in server client; do
    if [ $who = server ]; then eku=serverAuth; else eku=clientAuth; fi
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=o3lab-$who" -keyout $who.key -out $who.csr 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' $eku > $who.ext
    openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
        -extfile $who.ext -out $who.crt 2>/dev/null
    rm -f $who.csr $who.ext
done
openvpn --genkey secret tc.key
{
    printf 'client\ndev tun\nproto udp4\nremote %s %s\nnobind\nexplicit-exit-notify 1\nremote-cert-tls server\nverb 3\n' "$server_ip" "$port"
    printf '<ca>\n'; cat ca.crt; printf '</ca>\n'
    printf '<cert>\n'; cat client.crt; printf '</cert>\n'
    printf '<key>\n'; cat client.key; printf '</key>\n'
    printf '<tls-crypt>\n'; cat tc.key; printf '</tls-crypt>\n'
} > lab-vpn.ovpn.tmp
mv lab-vpn.ovpn.tmp lab-vpn.ovpn
