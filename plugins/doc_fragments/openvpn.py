# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Connection options of every openvpn_* module (OpenVPN 2.x management interface).
    DOCUMENTATION = r"""
options:
  socket:
    description:
      - Path of the management interface's unix socket on the managed host, as given to OpenVPN's
        C(management PATH unix) option (for example V(/run/openvpn-server/server.sock)).
      - Mutually exclusive with O(host).
    type: path
  host:
    description:
      - Address of a TCP management interface (C(management HOST PORT)), usually V(127.0.0.1).
      - The connection is made from the managed host. The protocol is cleartext; keep it on loopback.
      - Requires O(port).
    type: str
  port:
    description:
      - TCP port of the management interface. Requires O(host).
    type: int
  password:
    description:
      - Management password, when the server's C(management) line names a password file.
      - Only the first line of OpenVPN's password file counts.
      - Mutually exclusive with O(password_file).
    type: str
  password_file:
    description:
      - Path of a file on the managed host whose first line is the management password (OpenVPN's own
        password file can be used).
      - Mutually exclusive with O(password).
    type: path
  timeout:
    description:
      - Seconds to wait for the connection and the banner, and for each reply.
      - OpenVPN serves one management client at a time. While another client holds the interface the
        connection is accepted but nothing is answered; the module waits up to O(timeout) seconds for the
        holder to leave and then fails as busy (C(error_kind=busy)).
    type: float
    default: 10
notes:
  - One of O(socket) or O(host) and O(port) is required.
  - The module opens one management session per run, sends all its commands in it, reads every reply
    and then sends C(quit), so it never leaves the single-client interface blocked.
  - Access to a unix socket is granted by the socket's directory permissions and OpenVPN's
    C(management-client-user) / C(management-client-group) options; a refused user sees the connection
    closed without a banner and the module fails with C(error_kind=permission_denied).
  - No value reaches the management socket unless the server reads it exactly as written. A password,
    command, message, name or address with a control character (line feed, carriage return, NUL, TAB, ...),
    a line longer than 1023 bytes or a parameter longer than 256 bytes fails with C(error_kind=invalid)
    before the module connects. The table of every input class and its result is in the collection's
    docs/input-validation.md (section "OpenVPN management interface").
  - OpenVPN 2.7.8 can leave a newly accepted management client without its banner after an earlier
    client gave up while queued, until yet another connection arrives. While nothing has come from the
    server the module opens an extra connection after 1, 2, 4, ... seconds (within O(timeout)); its arrival
    wakes the server, and it quits as soon as the server serves it, after the module's own session.
seealso:
  - name: Input validation (OpenVPN management interface)
    description: Each class of hostile input and what it gets.
    link: https://github.com/vpnfleet/vpnfleet.control/blob/main/docs/input-validation.md#openvpn-management-interface
  - name: OpenVPN management interface
    description: The protocol these modules speak.
    link: https://github.com/OpenVPN/openvpn/blob/master/doc/management-notes.txt
"""
