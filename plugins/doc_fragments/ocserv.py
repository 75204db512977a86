# -*- coding: utf-8 -*-
# Copyright (c) vpnfleet.control contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Connection options of every ocserv_* module (occtl on the managed host).
    DOCUMENTATION = r"""
options:
  socket:
    description:
      - Path of ocserv's occtl control socket (C(occtl-socket-file) in C(ocserv.conf)).
      - Debian's packages use the default C(/var/run/occtl.socket).
    type: path
    default: /var/run/occtl.socket
  occtl_path:
    description:
      - The occtl program, a name looked up in C(PATH) or an absolute path.
    type: str
    default: occtl
  timeout:
    description:
      - Seconds each occtl call may take. A server that does not answer fails the task after
        this time instead of hanging it; occtl's whole process group is ended (also an occtl
        running behind sudo or a wrapper).
      - More than 0 and at most 86400; V(nan), V(inf), 0 and negative values fail with C(error_kind=invalid).
    type: float
    default: 10
notes:
  - ocserv accepts control requests only from root (it checks the peer's uid on the socket),
    so these modules need privilege escalation (C(become)) unless Ansible already connects as root.
    Members of the admin group of the C(vpnfleet.control.ocserv) role use O(occtl_path=/usr/local/bin/occtl-sudo)
    instead, which runs the role's root-owned occtl wrapper through sudo (see docs/socket-permissions.md
    and docs/input-validation.md in the collection).
  - occtl reads each user's RX/TX counters from the network namespace it runs in; run the
    module in the server's namespace or container, else C(rx)/C(tx) are null.
"""

    # Modules that take ocserv user names or write the ocpasswd file (ocserv_user, ocserv_passwd).
    NAMES = r"""
options: {}
notes:
  - User names are used exactly as given, for occtl and for the ocpasswd file alike. A name that is empty, starts
    or ends with white space, or holds a control character or a line separator (including U+0085, U+2028, U+2029)
    fails the task with C(error_kind=invalid) before anything is done; so do group names and passwords that the
    file cannot hold. The ocpasswd file is read and written as ocserv reads it, in bytes. What each input gets is
    listed in U(https://github.com/vpnfleet/vpnfleet.control/blob/main/docs/input-validation.md#ocserv-names-and-the-ocpasswd-file).
"""
