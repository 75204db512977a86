#!/bin/sh
# auth-user-pass-verify (via-file) of the lab servers: certificate-only clients send no
# user name (auth-user-pass-optional) and pass; a user name must match users.txt ("name password").
users=$(dirname "$0")/users.txt
user=$(sed -n 1p "$1")
pass=$(sed -n 2p "$1")
[ -z "$user" ] && [ -z "$pass" ] && exit 0
[ -n "$user" ] && grep -qxF "$user $pass" "$users"
