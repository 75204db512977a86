#!/usr/bin/env bash
# openconnect with a user certificate against the test's certificate-auth ocserv (installed on the
# client host by tests/integration/test_fleet_revoke_ocserv_cert.py). Certificates and keys are in
# DIR/USER.crt, DIR/USER.key; DIR/server holds "URL PIN".
#   vfl-certauth DIR auth USER             authenticate only: rc 0 and COOKIE='...' when accepted
#   vfl-certauth DIR connect-cookie USER COOKIE [TIMEOUT]
#                                          reconnect with the cookie (and the certificate): rc 0 connected
#                                          (then leaves with SIGHUP), rc 2 refused, rc 124 no answer, rc 1 other
#   vfl-certauth DIR run USER IFNAME       foreground connection (what the test's transient unit runs)
set -u
dir=${1:?dir}; cmd=${2:?command}; user=${3:?user}
read -r URL PIN < "$dir/server"
common=(--protocol=anyconnect --non-inter -c "$dir/$user.crt" -k "$dir/$user.key" --servercert "$PIN")
case "$cmd" in
  auth)
    exec timeout 30 openconnect "${common[@]}" --authenticate "$URL" </dev/null ;;
  run)
    exec openconnect "${common[@]}" -s /usr/local/lib/vfl-lab/oc-script -i "${4:?ifname}" \
      --reconnect-timeout 10 "$URL" </dev/null ;;
  connect-cookie)
    cookie=${4:?cookie}; to=${5:-20}
    log=$(mktemp /tmp/vfl-certauth.XXXXXX)
    openconnect "${common[@]}" --cookie-on-stdin -s /bin/true --reconnect-timeout 5 "$URL" \
      <<<"$cookie" >"$log" 2>&1 &
    pid=$!
    rc=124
    for _ in $(seq $((to * 10))); do
      if grep -qE 'Configured as|Established DTLS|Connected as' "$log"; then rc=0; break; fi
      if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        if grep -qiE 'cookie (was rejected|is not acceptable)|401' "$log"; then rc=2; else rc=1; fi
        cat "$log"; rm -f "$log"
        exit $rc
      fi
      sleep 0.1
    done
    kill -HUP "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    cat "$log"; rm -f "$log"
    exit $rc ;;
  *) echo "vfl-certauth: unknown command $cmd" >&2; exit 1 ;;
esac
