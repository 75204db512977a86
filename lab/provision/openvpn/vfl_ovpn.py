"""vfl-ovpn: the lab's own view of an OpenVPN 2 management interface (tests check outcomes with it).

Independent of the collection's client on purpose. Instances: /etc/vfl-lab/openvpn/<instance>
holds "socket PATH" or "tcp HOST PORT PWFILE".

  vfl-ovpn cmd INSTANCE COMMAND...        print the reply lines (without END)
  vfl-ovpn clients INSTANCE               one line per client: CN<TAB>CID<TAB>real address<TAB>username
  vfl-ovpn wait-clients INSTANCE SECONDS CN...   wait until every CN is connected (rc 1 on timeout)
  vfl-ovpn wait-gone INSTANCE SECONDS CN...      wait until no CN is connected (rc 1 on timeout)
  vfl-ovpn hold-open INSTANCE SECONDS     hold the single-client interface for SECONDS, then quit
                                          (prints "holding" once the banner came)
"""

import os
import socket
import sys
import time

CONF_DIR = "/etc/vfl-lab/openvpn"


def connect(instance, timeout=10.0):
    with open(os.path.join(CONF_DIR, instance)) as handle:
        words = handle.read().split()
    if words[0] == "socket":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(words[1])
        password = None
    else:
        sock = socket.create_connection((words[1], int(words[2])), timeout=timeout)
        with open(words[3]) as handle:
            password = handle.readline().strip()
    buf = b""
    deadline = time.time() + timeout
    while b">INFO:" not in buf or not buf.endswith(b"\n"):
        if time.time() > deadline:
            raise SystemExit("no banner from %s (busy?)" % instance)
        data = sock.recv(4096)
        if not data:
            raise SystemExit("connection closed by %s" % instance)
        buf += data
        if buf.endswith(b"ENTER PASSWORD:"):
            sock.sendall(password.encode() + b"\n")
            buf = b""
    return sock


def command(sock, cmd):
    sock.sendall(cmd.encode() + b"\n")
    buf = b""
    lines = []
    while True:
        while b"\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return lines
            buf += data
        raw, buf = buf.split(b"\n", 1)
        line = raw.decode().rstrip("\r")
        if line.startswith(">") and not lines:
            continue
        if not lines and line.startswith(("SUCCESS:", "ERROR:")):
            return [line]
        if line == "END":
            return lines
        lines.append(line)


def clients(instance):
    sock = connect(instance)
    try:
        lines = command(sock, "status 3")
        sock.sendall(b"quit\n")
    finally:
        sock.close()
    header = None
    rows = []
    for line in lines:
        fields = line.split("\t")
        if fields[:2] == ["HEADER", "CLIENT_LIST"]:
            header = fields[2:]
        elif fields[0] == "CLIENT_LIST" and header:
            rows.append(dict(zip(header, fields[1:])))
    return rows


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    action, instance = argv[1], argv[2]
    if action == "cmd":
        sock = connect(instance)
        for line in command(sock, " ".join(argv[3:])):
            print(line)
        sock.sendall(b"quit\n")
        sock.close()
    elif action == "clients":
        for row in clients(instance):
            print("\t".join([row["Common Name"], row["Client ID"], row["Real Address"], row["Username"]]))
    elif action in ("wait-clients", "wait-gone"):
        deadline = time.time() + float(argv[3])
        wanted = set(argv[4:])
        while True:
            names = set(row["Common Name"] for row in clients(instance) if row["Virtual Address"])
            done = wanted <= names if action == "wait-clients" else not (wanted & names)
            if done:
                return 0
            if time.time() > deadline:
                print("connected: %s" % " ".join(sorted(names)))
                return 1
            time.sleep(0.5)
    elif action == "hold-open":
        sock = connect(instance)
        print("holding", flush=True)
        time.sleep(float(argv[3]))
        sock.sendall(b"quit\n")
        sock.close()
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
