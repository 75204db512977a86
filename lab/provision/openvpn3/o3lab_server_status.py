"""Print the lab OpenVPN 2 server's view of its clients (management 'status 2') as JSON.

Used by tests/integration/test_openvpn3.py to see sessions leave and come back from the
server's side. Usage: o3lab-server-status [SOCKET]
"""
import json
import socket
import sys
import time

path = sys.argv[1] if len(sys.argv) > 1 else "/run/openvpn-server/o3lab.sock"
sock = socket.socket(socket.AF_UNIX)
sock.settimeout(10)
deadline = time.monotonic() + 20
while True:
    try:
        sock.connect(path)
        break
    except OSError:
        # the management interface takes one client at a time
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
sock.sendall(b"status 2\n")
buf = b""
while b"\nEND" not in buf:
    chunk = sock.recv(65536)
    if not chunk:
        break
    buf += chunk
sock.sendall(b"quit\n")
sock.close()
header, clients = None, []
for line in buf.decode("utf-8", "replace").splitlines():
    fields = line.split(",")
    if fields[0] == "HEADER" and len(fields) > 1 and fields[1] == "CLIENT_LIST":
        header = fields[2:]
    elif fields[0] == "CLIENT_LIST" and header:
        clients.append(dict(zip(header, fields[1:])))
print(json.dumps({"clients": clients}))
