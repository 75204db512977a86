"""vpnfleet lab: real Debian hosts (systemd as PID 1) in podman, reached over SSH.

    lab/lab build  [--release R]...
    lab/lab up     [--id ID] [--host NAME=RELEASE[:GROUP,GROUP]]... [--no-provision] [--only PART,...]
    lab/lab down   [--id ID]
    lab/lab status [--id ID]
    lab/lab exec   [--id ID] HOST -- CMD...
    lab/lab inventory [--id ID]

See docs/lab.md. Standard library only; run as root on Debian 12 with the packages
from scripts/setup (podman, runc, debootstrap, zstd, openssh-client).
"""

import argparse
import concurrent.futures
import hashlib
import ipaddress
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

# ---------------------------------------------------------------------------
# Data: releases, packages, default hosts. Add packages here (one place).
# ---------------------------------------------------------------------------

MIRROR = os.environ.get("VPNFLEET_LAB_MIRROR", "http://deb.debian.org/debian")

# Installed by debootstrap itself (minbase + what makes the tree bootable and
# usable for the chroot step).
BASE_INCLUDE = ["systemd", "systemd-sysv", "dbus", "python3", "iproute2", "ca-certificates"]

# Installed in the chroot after debootstrap, per release. "common" goes into
# every image; the per-release lists are added to it.
PACKAGES = {
    "common": [
        "systemd", "systemd-sysv", "dbus", "python3", "openssh-server", "iproute2",
        "iputils-ping", "procps", "psmisc", "sudo", "ca-certificates", "openssl",
        "gnutls-bin", "socat", "less", "ocserv", "openconnect", "openvpn",
    ],
    "bookworm": [],
    "trixie": ["openvpn3-client", "python3-dbus"],
    "sid": ["openvpn3-client", "python3-dbus"],
}

# Per-release facts. cgroup2: systemd >= 258 refuses the host's cgroup v1/v2
# hybrid layout, so the container gets a private cgroup namespace with cgroup2
# mounted on /sys/fs/cgroup before /sbin/init starts.
RELEASES = {
    "bookworm": {"cgroup2": False, "no_valid_until": False},
    "trixie": {"cgroup2": False, "no_valid_until": False},
    "sid": {"cgroup2": True, "no_valid_until": True},
}

# Default hosts of `lab up` (name, release, groups). Every host is also in "lab".
DEFAULT_HOSTS = [
    ("bookworm", "bookworm", ["ocserv_servers", "openvpn_servers"]),
    ("trixie", "trixie", ["ocserv_servers", "openvpn_servers"]),
    ("sid", "sid", ["ocserv_servers", "openvpn_servers"]),
    ("client", "bookworm", ["vpn_clients"]),
    ("o3-trixie", "trixie", ["openvpn3_clients"]),
    ("o3-sid", "sid", ["openvpn3_clients"]),
]

# Address outside every lab subnet, put on the vpn_clients hosts (as /32) and
# routed to them from the servers: ocserv enforces IP bans only for peers outside
# its own interface subnets. Lab-local (never leaves the lab bridge).
BAN_SOURCE_IP = "198.18.0.66"
BAN_SOURCE_USER = "bansrc"
BAN_SOURCE_UID = 4066
BAN_SOURCE_TABLE = 4066

# Recipe run inside the chroot (hashed into the image tag: change it and the
# image is rebuilt). $PKGS and $NO_VALID_UNTIL are set by the caller.
CHROOT_RECIPE = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
if [ "$NO_VALID_UNTIL" = 1 ]; then
  echo 'Acquire::Check-Valid-Until "false";' > /etc/apt/apt.conf.d/99vfl-no-valid-until
fi
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > /etc/apt/apt.conf.d/99vfl-no-recommends
apt-get -q -o Acquire::Check-Valid-Until=false update
apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install $PKGS
apt-get clean
rm -f /usr/sbin/policy-rc.d
# containers get their identity at start
echo localhost > /etc/hostname
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
# key-only root login over SSH; sshd needs no DNS
mkdir -p /root/.ssh && chmod 700 /root/.ssh
printf 'PermitRootLogin prohibit-password\nUseDNS no\nMaxStartups 100:30:200\n' > /etc/ssh/sshd_config.d/vfl-lab.conf
systemctl enable ssh.service >/dev/null 2>&1 || true
# nothing in a container should wait for a network or a tty
systemctl mask systemd-networkd-wait-online.service getty@tty1.service >/dev/null 2>&1 || true
# ocserv starts only once the lab configured it (provisioning enables it)
systemctl disable ocserv.service >/dev/null 2>&1 || true
# journald: keep it small and volatile
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' > /etc/systemd/journald.conf.d/vfl-lab.conf
"""
RECIPE_VERSION = "2"

CACHE = os.environ.get("VPNFLEET_CACHE", "/var/cache/vpnfleet")
LAB_CACHE = os.path.join(CACHE, "lab")
PODMAN_DIR = os.path.join(CACHE, "podman")
# runroot on tmpfs; one per storage (a VPNFLEET_CACHE of its own gets its own runroot)
PODMAN_RUN = "/run/vpnfleet/podman" + (
    "" if CACHE == "/var/cache/vpnfleet" else "-" + hashlib.sha256(CACHE.encode()).hexdigest()[:8])
IMAGE_REPO = "localhost/vpnfleet-lab/debian"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_DIR = os.path.join(REPO_ROOT, "lab")

BOOT_TIMEOUT = 90
SSH_TIMEOUT = 60


class LabError(Exception):
    pass


def log(msg):
    sys.stderr.write("[lab %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def run(argv, check=True, timeout=300, input=None, capture=True, env=None):
    try:
        proc = subprocess.run(
            argv, input=input, text=True, timeout=timeout, env=env,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None, check=False,
        )
    except FileNotFoundError:
        raise LabError("command not found: %s" % argv[0])
    except subprocess.TimeoutExpired:
        raise LabError("timed out after %ss: %s" % (timeout, " ".join(shlex.quote(a) for a in argv)))
    if check and proc.returncode != 0:
        raise LabError("command failed (rc %s): %s\n%s%s" % (
            proc.returncode, " ".join(shlex.quote(a) for a in argv),
            proc.stdout or "", proc.stderr or ""))
    return proc


# ---------------------------------------------------------------------------
# Podman with private configuration
# ---------------------------------------------------------------------------

def podman_env():
    """Environment selecting the lab's private containers.conf and storage.conf."""
    os.makedirs(PODMAN_DIR, exist_ok=True)
    os.makedirs(os.path.join(PODMAN_RUN, "tmp"), exist_ok=True)
    os.makedirs(os.path.join(PODMAN_DIR, "networks"), exist_ok=True)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    if nofile == resource.RLIM_INFINITY or nofile > 1048576:
        nofile = 1048576
    # podman/conmon cap NPROC at 32768 before the runtime applies the limit
    if nproc == resource.RLIM_INFINITY or nproc > 32768:
        nproc = 32768
    conf = (
        "# written by lab/lab\n"
        "[containers]\n"
        'default_ulimits = ["nofile=%d:%d", "nproc=%d:%d"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        'tmp_dir = "%s"\n'
        "[network]\n"
        'network_config_dir = "%s"\n'
    ) % (nofile, nofile, nproc, nproc, os.path.join(PODMAN_RUN, "tmp"),
         os.path.join(PODMAN_DIR, "networks"))
    storage = (
        "# written by lab/lab\n"
        "[storage]\n"
        'driver = "overlay"\n'
        'runroot = "%s"\n'
        'graphroot = "%s"\n'
    ) % (os.path.join(PODMAN_RUN, "storage"), os.path.join(PODMAN_DIR, "storage"))
    for name, text in (("containers.conf", conf), ("storage.conf", storage)):
        path = os.path.join(PODMAN_DIR, name)
        try:
            with open(path) as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            tmp = path + ".%d" % os.getpid()
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = os.path.join(PODMAN_DIR, "containers.conf")
    env["CONTAINERS_STORAGE_CONF"] = os.path.join(PODMAN_DIR, "storage.conf")
    return env


_PODMAN_ENV = None


def podman(args, check=True, timeout=120, input=None):
    global _PODMAN_ENV
    if _PODMAN_ENV is None:
        _PODMAN_ENV = podman_env()
    return run(["podman"] + args, check=check, timeout=timeout, input=input, env=_PODMAN_ENV)


def preflight(need_build=False):
    if os.geteuid() != 0:
        raise LabError("the lab needs root (podman with runc, debootstrap, network setup)")
    need = ["podman", "runc"]
    if need_build:
        need += ["debootstrap", "zstd", "tar", "unshare"]
    missing = [c for c in need if shutil.which(c) is None]
    if missing:
        raise LabError("missing commands: %s (run scripts/setup)" % ", ".join(missing))
    raise_inotify_limit()


# Every systemd in a lab host takes inotify instances from the host's per-user
# budget (root's, shared with every other container on the machine). Debian's
# default of 128 runs out after a few labs and hosts then hang at boot with
# "Failed to create inotify object: Too many open files".
INOTIFY_INSTANCES_WANTED = 1024
INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"


def raise_inotify_limit():
    try:
        with open(INOTIFY_LIMIT) as f:
            current = int(f.read().strip())
        if current < INOTIFY_INSTANCES_WANTED:
            with open(INOTIFY_LIMIT, "w") as f:
                f.write("%d\n" % INOTIFY_INSTANCES_WANTED)
            log("raised fs.inotify.max_user_instances from %d to %d" % (current, INOTIFY_INSTANCES_WANTED))
    except (OSError, ValueError) as e:
        log("warning: could not check or raise fs.inotify.max_user_instances: %s" % e)


# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------

def packages_for(release):
    pkgs = []
    for p in PACKAGES["common"] + PACKAGES.get(release, []):
        if p not in pkgs:
            pkgs.append(p)
    return pkgs


def base_hash(release):
    h = hashlib.sha256()
    h.update(json.dumps([release, MIRROR, sorted(BASE_INCLUDE), "minbase"]).encode())
    return h.hexdigest()[:12]


def image_hash(release):
    h = hashlib.sha256()
    h.update(json.dumps([base_hash(release), packages_for(release), RELEASES[release],
                         CHROOT_RECIPE, RECIPE_VERSION]).encode())
    return h.hexdigest()[:12]


def image_ref(release):
    return "%s:%s-%s" % (IMAGE_REPO, release, image_hash(release))


def image_exists(ref):
    return podman(["image", "exists", ref], check=False).returncode == 0


def _untar(tarball, dest):
    os.makedirs(dest, exist_ok=True)
    run(["tar", "-C", dest, "--numeric-owner", "--xattrs", "--xattrs-include=*", "-I", "zstd",
         "-xpf", tarball], timeout=600)


def _tar(src, tarball):
    tmp = tarball + ".tmp%d" % os.getpid()
    run(["tar", "-C", src, "--numeric-owner", "--xattrs", "--xattrs-include=*",
         "-I", "zstd -T0 -3 -q", "-cpf", tmp, "."], timeout=600)
    os.replace(tmp, tarball)


def safe_rmtree(path):
    """rm -rf PATH, but never through a mount point (a bound /dev, a /proc)."""
    path = os.path.realpath(path)
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                mounts.append(mp)
    for mp in sorted(mounts, key=len, reverse=True):
        run(["umount", "-l", mp], check=False, timeout=30)
    with open("/proc/self/mountinfo") as f:
        left = [ln.split()[4] for ln in f if ln.split()[4].startswith(path + "/")]
    if left:
        log("warning: not removing %s, still mounted: %s" % (path, ", ".join(left)))
        return
    shutil.rmtree(path, ignore_errors=True)


def build_rootfs(release, workdir):
    """Return the path of the cached rootfs tarball (built when missing)."""
    os.makedirs(LAB_CACHE, exist_ok=True)
    full = os.path.join(LAB_CACHE, "rootfs-%s-%s.tar.zst" % (release, image_hash(release)))
    if os.path.exists(full):
        return full
    base = os.path.join(LAB_CACHE, "base-%s-%s.tar.zst" % (release, base_hash(release)))
    root = os.path.join(workdir, release)
    t0 = time.time()
    if os.path.exists(base):
        log("%s: unpacking cached base %s" % (release, os.path.basename(base)))
        _untar(base, root)
    else:
        log("%s: debootstrap (minbase + %s)" % (release, ",".join(BASE_INCLUDE)))
        # private mount namespace: debootstrap's /proc, /sys (and /dev) mounts
        # in the target vanish with it, whatever happens
        proc = run(["unshare", "--mount", "--propagation", "private",
                    "debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_INCLUDE),
                    release, root, MIRROR], check=False, timeout=1800)
        if proc.returncode != 0:
            tail = (proc.stdout or "")[-3000:] + (proc.stderr or "")[-3000:]
            logf = os.path.join(root, "debootstrap", "debootstrap.log")
            if os.path.exists(logf):
                with open(logf) as f:
                    tail += "\n--- debootstrap.log (tail)\n" + f.read()[-3000:]
            raise LabError("debootstrap %s failed (rc %s)\n%s" % (release, proc.returncode, tail))
        run(["chroot", root, "apt-get", "clean"], timeout=120)
        _tar(root, base)
        log("%s: base ready in %.0fs" % (release, time.time() - t0))
    t1 = time.time()
    shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    pkgs = " ".join(packages_for(release))
    nvu = "1" if RELEASES[release]["no_valid_until"] else "0"
    # Private mount namespace: /proc, /dev, /sys vanish with the process.
    script = (
        'set -e; R="$1"; mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; '
        'mount -t sysfs sysfs "$R/sys"; mount -t tmpfs tmpfs "$R/run"; mount -t tmpfs tmpfs "$R/tmp"; '
        'exec chroot "$R" env PKGS="$2" NO_VALID_UNTIL="$3" /bin/sh -c "$4"'
    )
    log("%s: installing packages in chroot" % release)
    proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                root, pkgs, nvu, CHROOT_RECIPE], check=False, timeout=1800)
    if proc.returncode != 0:
        raise LabError("package installation for %s failed (rc %s)\n%s\n%s" % (
            release, proc.returncode, (proc.stdout or "")[-4000:], (proc.stderr or "")[-4000:]))
    with open(os.path.join(root, "etc", "resolv.conf"), "w") as f:
        f.write("")
    _tar(root, full)
    log("%s: rootfs ready in %.0fs (%s)" % (release, time.time() - t1, os.path.basename(full)))
    return full


def build_image(release):
    ref = image_ref(release)
    if image_exists(ref):
        return ref, False
    # one builder per release at a time (several labs may come up at once)
    with FileLock(os.path.join(LAB_CACHE, ".build-%s.lock" % release), timeout=3600):
        if image_exists(ref):
            return ref, False
        built = _build_image(release, ref)
    prune_old(release)
    return built


def prune_old(release):
    """Drop older images and tarballs of RELEASE (images in use by a container stay)."""
    keep_tag = "%s-%s" % (release, image_hash(release))
    out = podman(["images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO], check=False).stdout or ""
    for ref in sorted(set(out.split())):
        tag = ref.rsplit(":", 1)[-1]
        if tag.startswith(release + "-") and tag != keep_tag:
            p = podman(["rmi", ref], check=False, timeout=120)
            if p.returncode == 0:
                log("removed old image %s" % ref)
    for f in os.listdir(LAB_CACHE):
        m = re.match(r"^rootfs-%s-([0-9a-f]+)\.tar\.zst$" % re.escape(release), f)
        if m and m.group(1) != image_hash(release):
            os.unlink(os.path.join(LAB_CACHE, f))
        m = re.match(r"^base-%s-([0-9a-f]+)\.tar\.zst$" % re.escape(release), f)
        if m and m.group(1) != base_hash(release):
            os.unlink(os.path.join(LAB_CACHE, f))


def _build_image(release, ref):
    t0 = time.time()
    workdir = tempfile.mkdtemp(prefix="vfl-build-%s-" % release, dir=LAB_CACHE if os.path.isdir(LAB_CACHE) else None)
    try:
        tarball = build_rootfs(release, workdir)
        log("%s: podman import -> %s" % (release, ref))
        global _PODMAN_ENV
        if _PODMAN_ENV is None:
            _PODMAN_ENV = podman_env()
        with subprocess.Popen(["zstd", "-dcq", tarball], stdout=subprocess.PIPE) as zst:
            proc = subprocess.run(
                ["podman", "import", "--change", 'CMD ["/sbin/init"]',
                 "--change", "STOPSIGNAL=SIGRTMIN+3", "-", ref],
                stdin=zst.stdout, env=_PODMAN_ENV, text=True, timeout=600,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
            zst.stdout.close()
            zst.wait(timeout=60)
        if proc.returncode != 0:
            raise LabError("podman import %s failed: %s" % (ref, proc.stderr))
    finally:
        safe_rmtree(workdir)
    log("%s: image built in %.0fs" % (release, time.time() - t0))
    return ref, True


def ensure_images(releases):
    releases = list(dict.fromkeys(releases))
    for r in releases:
        if r not in RELEASES:
            raise LabError("unknown release %r (known: %s)" % (r, ", ".join(RELEASES)))
    missing = [r for r in releases if not image_exists(image_ref(r))]
    if not missing:
        return {r: image_ref(r) for r in releases}
    preflight(need_build=True)
    os.makedirs(LAB_CACHE, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(missing)) as ex:
        futs = {r: ex.submit(build_image, r) for r in missing}
        errors = []
        for r, fut in futs.items():
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("%s: %s" % (r, e))
    if errors:
        raise LabError("image build failed:\n" + "\n".join(errors))
    return {r: image_ref(r) for r in releases}


def cmd_build(args):
    preflight(need_build=True)
    releases = args.release or list(RELEASES)
    t0 = time.time()
    refs = ensure_images(releases)
    for r, ref in refs.items():
        print("%s %s" % (r, ref))
    log("build done in %.0fs" % (time.time() - t0))


# ---------------------------------------------------------------------------
# up / down / status / exec / inventory
# ---------------------------------------------------------------------------

def lab_id(args):
    i = getattr(args, "id", None) or os.environ.get("VPNFLEET_LAB_ID") or "dev"
    if not re.match(r"^[a-z0-9][a-z0-9_.-]{0,39}$", i):
        raise LabError("invalid lab id %r (lowercase letters, digits, '-', '_', '.'; at most 40)" % i)
    return i


def state_dir(i):
    return os.path.join(REPO_ROOT, ".lab", i)


def short_hash(text, n=8):
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def load_state(i):
    path = os.path.join(state_dir(i), "state.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise LabError("corrupt lab state %s: %s" % (path, e))


def save_state(i, st):
    d = state_dir(i)
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(st, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(d, "state.json"))


class FileLock:
    """Serialises lab operations that pick shared resources (subnets)."""

    def __init__(self, path, timeout=120):
        self.path, self.timeout, self.fd = path, timeout, None

    def __enter__(self):
        import fcntl
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.time() > deadline:
                    raise LabError("timed out waiting for lock %s" % self.path)
                time.sleep(0.2)

    def __exit__(self, *exc):
        os.close(self.fd)


def parse_hosts(specs):
    if not specs:
        return [{"name": n, "release": r, "groups": list(g)} for n, r, g in DEFAULT_HOSTS]
    hosts, seen = [], set()
    for spec in specs:
        m = re.match(r"^([a-z0-9][a-z0-9-]{0,30})=([a-z]+)(?::([A-Za-z0-9_,]*))?$", spec)
        if not m:
            raise LabError("bad --host %r (want NAME=RELEASE[:GROUP,GROUP])" % spec)
        name, release, groups = m.group(1), m.group(2), m.group(3)
        if release not in RELEASES:
            raise LabError("unknown release %r in --host %s (known: %s)" % (release, spec, ", ".join(RELEASES)))
        if name in seen:
            raise LabError("host %s given twice" % name)
        seen.add(name)
        hosts.append({"name": name, "release": release,
                      "groups": [g for g in (groups or "").split(",") if g]})
    return hosts


def used_subnets():
    nets = []
    for fam in ("-4",):
        out = run(["ip", fam, "-o", "addr", "show"], check=False).stdout or ""
        for m in re.finditer(r"\binet\s+(\S+)", out):
            try:
                nets.append(ipaddress.ip_network(m.group(1), strict=False))
            except ValueError:
                pass
        out = run(["ip", fam, "route", "show", "table", "all"], check=False).stdout or ""
        for line in out.splitlines():
            tok = line.split()
            if tok and tok[0] not in ("default", "broadcast", "local") and re.match(r"^\d", tok[0]):
                try:
                    nets.append(ipaddress.ip_network(tok[0], strict=False))
                except ValueError:
                    pass
            elif len(tok) > 1 and tok[0] in ("broadcast", "local"):
                pass
    out = podman(["network", "ls", "--format", "json"], check=False).stdout or "[]"
    try:
        for net in json.loads(out):
            for sn in net.get("subnets") or []:
                nets.append(ipaddress.ip_network(sn["subnet"], strict=False))
    except (ValueError, KeyError, TypeError):
        pass
    return nets


def pick_subnet(i):
    used = used_subnets()
    start = int(short_hash(i, 4), 16) % 200
    for k in range(256):
        cand = ipaddress.ip_network("10.213.%d.0/24" % ((start + k) % 256))
        if not any(cand.overlaps(u) for u in used):
            return cand
    raise LabError("no free /24 in 10.213.0.0/16 for the lab network")


def network_config_dir():
    return os.path.join(PODMAN_DIR, "networks")


def ensure_network(i, st):
    name = "vfl-%s" % i
    net = st.get("network")
    if net:
        if podman(["network", "exists", net["id"]], check=False).returncode == 0:
            return net
        log("recorded network %s is gone; recreating" % net["name"])
    with FileLock(os.path.join(LAB_CACHE, ".network.lock")):
        # a network of that name left by a crash: ours by name and label
        insp = podman(["network", "inspect", name], check=False)
        if insp.returncode == 0:
            data = json.loads(insp.stdout)[0]
            if (data.get("labels") or {}).get("vpnfleet.lab") == i:
                podman(["network", "rm", "-f", name], check=False)
            else:
                raise LabError("network %s exists and is not this lab's" % name)
        subnet = pick_subnet(i)
        gw = str(subnet.network_address + 1)
        out = podman(["network", "create", "--disable-dns", "--subnet", str(subnet), "--gateway", gw,
                      "--label", "vpnfleet.lab=%s" % i, name]).stdout.strip()
        # podman 4.3 cannot name the bridge; other podman users on the host (own
        # configs) would pick the same podmanN. Give ours a unique name before
        # any container starts (the config file is ours: private config dir).
        bridge = "vfl" + short_hash(i + str(time.time()), 8)
        cfg = os.path.join(network_config_dir(), name + ".json")
        try:
            with open(cfg) as f:
                data = json.load(f)
            data["network_interface"] = bridge
            with open(cfg + ".tmp", "w") as f:
                json.dump(data, f, indent=5)
            os.replace(cfg + ".tmp", cfg)
        except (OSError, ValueError) as e:
            log("warning: could not set bridge name (%s); keeping podman's" % e)
            bridge = None
        data = json.loads(podman(["network", "inspect", name]).stdout)[0]
    net = {"name": name, "id": data["id"], "subnet": str(subnet), "gateway": gw,
           "bridge": data.get("network_interface") or bridge}
    st["network"] = net
    return net


def container_name(i, host):
    return "vfl-%s-%s" % (i, host)


def container_state(cid):
    p = podman(["container", "inspect", "--format", "{{.State.Status}}", cid], check=False)
    return p.stdout.strip() if p.returncode == 0 else None


def start_container(i, st, h, image):
    name = container_name(i, h["name"])
    net = st["network"]
    argv = ["run", "-d", "--name", name, "--hostname", h["name"],
            "--network", net["name"], "--ip", h["ip"],
            "--systemd=always", "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun",
            "--label", "vpnfleet.lab=%s" % i, "--label", "vpnfleet.host=%s" % h["name"],
            "--stop-timeout", "5"]
    for other in st["hosts"].values():
        if other["name"] != h["name"]:
            argv += ["--add-host", "%s:%s" % (other["name"], other["ip"])]
    if RELEASES[h["release"]]["cgroup2"]:
        argv += ["--cgroupns=private", "--cap-add", "SYS_ADMIN", image, "sh", "-c",
                 "umount -l /sys/fs/cgroup; mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec /sbin/init"]
    else:
        argv += [image, "/sbin/init"]
    cid = podman(argv, timeout=120).stdout.strip()
    return cid


def wait_systemd(cid, host, timeout=BOOT_TIMEOUT):
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        p = podman(["exec", cid, "systemctl", "is-system-running"], check=False, timeout=20)
        last = (p.stdout or p.stderr or "").strip()
        if last in ("running", "degraded"):
            return last
        if container_state(cid) not in ("running", "created", "configured"):
            logs = podman(["logs", "--tail", "30", cid], check=False)
            raise LabError("%s: container stopped while booting (%s)\n%s%s" % (
                host, container_state(cid), logs.stdout, logs.stderr))
        time.sleep(0.5)
    raise LabError("%s: systemd not up after %ss (is-system-running: %s)" % (host, timeout, last))


def ssh_key(i):
    d = state_dir(i)
    key = os.path.join(d, "id_ed25519")
    if not os.path.exists(key):
        os.makedirs(d, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vpnfleet-lab-%s" % i, "-f", key])
    with open(key + ".pub") as f:
        return key, f.read()


def control_path(i):
    return "/tmp/vfl-%s-%%C" % short_hash(i, 6)


def write_access_files(i, st):
    d = state_dir(i)
    key = os.path.join(d, "id_ed25519")
    cp = control_path(i)
    lines = [
        "# written by lab/lab for lab %s" % i,
        "Host *",
        "  User root",
        "  IdentityFile %s" % key,
        "  IdentitiesOnly yes",
        "  StrictHostKeyChecking no",
        "  UserKnownHostsFile /dev/null",
        "  LogLevel ERROR",
        "  ConnectTimeout 10",
        "  ServerAliveInterval 5",
        "  ServerAliveCountMax 3",
        "  ControlMaster auto",
        "  ControlPersist 60s",
        "  ControlPath %s" % cp,
    ]
    for h in st["hosts"].values():
        lines += ["Host %s" % h["name"], "  HostName %s" % h["ip"]]
    # ssh takes the first value it finds: "Host *" comes first but sets no
    # HostName, so the per-host blocks still give each name its address.
    with open(os.path.join(d, "ssh_config"), "w") as f:
        f.write("\n".join(lines) + "\n")

    groups = {"lab": list(st["hosts"])}
    for h in st["hosts"].values():
        for g in h["groups"]:
            groups.setdefault(g, []).append(h["name"])
    y = ["# written by lab/lab for lab %s" % i, "all:", "  vars:"]
    allvars = {
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": key,
        "lab_id": i,
        "lab_state_dir": d,
        "lab_subnet": st["network"]["subnet"],
        "lab_gateway": st["network"]["gateway"],
        "lab_ban_source_ip": BAN_SOURCE_IP,
        "lab_ban_source_user": BAN_SOURCE_USER,
        "lab_ban_source_uid": BAN_SOURCE_UID,
        "lab_ban_source_table": BAN_SOURCE_TABLE,
    }
    for k, v in allvars.items():
        y.append("    %s: %s" % (k, json.dumps(v)))
    y.append("  children:")
    for g, members in groups.items():
        y.append("    %s:" % g)
        y.append("      hosts:")
        for n in members:
            if g == "lab":
                h = st["hosts"][n]
                y.append("        %s:" % n)
                y.append("          ansible_host: %s" % json.dumps(h["ip"]))
                y.append("          lab_ip: %s" % json.dumps(h["ip"]))
                y.append("          lab_release: %s" % json.dumps(h["release"]))
                y.append("          lab_container: %s" % json.dumps(h.get("container_id", "")))
            else:
                y.append("        %s: {}" % n)
    with open(os.path.join(d, "inventory.yml"), "w") as f:
        f.write("\n".join(y) + "\n")

    cfg = [
        "# written by lab/lab for lab %s" % i,
        "[defaults]",
        "inventory = %s" % os.path.join(d, "inventory.yml"),
        "interpreter_python = /usr/bin/python3",
        "host_key_checking = False",
        "retry_files_enabled = False",
        "forks = 16",
        "timeout = 30",
        "",
        "[ssh_connection]",
        "pipelining = True",
        "ssh_args = -F %s -o ControlMaster=auto -o ControlPersist=60s" % os.path.join(d, "ssh_config"),
        "control_path = %s" % cp.replace("%", "%%"),
        "",
    ]
    with open(os.path.join(d, "ansible.cfg"), "w") as f:
        f.write("\n".join(cfg))


def wait_ssh(i, h, timeout=SSH_TIMEOUT):
    cfgf = os.path.join(state_dir(i), "ssh_config")
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        p = run(["ssh", "-F", cfgf, "-o", "ConnectTimeout=3", "-o", "BatchMode=yes", h["ip"], "true"],
                check=False, timeout=20)
        if p.returncode == 0:
            return
        last = (p.stderr or "").strip()
        time.sleep(0.5)
    raise LabError("%s: sshd at %s not answering after %ss: %s" % (h["name"], h["ip"], timeout, last))


def ssh_close(i, st):
    cfgf = os.path.join(state_dir(i), "ssh_config")
    if not os.path.exists(cfgf):
        return
    for h in st.get("hosts", {}).values():
        run(["ssh", "-F", cfgf, "-O", "exit", h["ip"]], check=False, timeout=10)


def ansible_env(i):
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = os.path.join(state_dir(i), "ansible.cfg")
    if not env.get("ANSIBLE_COLLECTIONS_PATH"):
        env["ANSIBLE_COLLECTIONS_PATH"] = "%s:%s" % (os.path.join(REPO_ROOT, ".build", "collections"),
                                                     os.path.join(REPO_ROOT, ".cache", "collections"))
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    venv_bin = os.path.join(REPO_ROOT, ".venv", "bin")
    if os.path.isdir(venv_bin):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return env


def reap_token(token, grace=2.0):
    """Kill processes left behind by a run we started: they carry our unique token in
    their environment (ansible-playbook workers detach with setsid and, when the main
    process is gone, can stay blocked forever writing their result queue)."""
    needle = ("VFL_RUN_TOKEN=%s" % token).encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                # only ansible-playbook workers; the ssh ControlPersist masters they
                # started carry the token too but may serve other runs against the lab
                if b"ansible-playbook" not in f.read():
                    continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in found:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except OSError:
                pass
        if not alive:
            break
        deadline = time.time() + grace
        while time.time() < deadline and any(os.path.exists("/proc/%d" % p) for p in alive):
            time.sleep(0.1)
        found = alive
    return found


def provision_playbooks(only):
    """site.yml, or the named parts of lab/provision (``--only ocserv,openvpn``)."""
    pdir = os.path.join(LAB_DIR, "provision")
    if not only:
        return [os.path.join(pdir, "site.yml")]
    books = []
    for part in [p for p in re.split(r"[,\s]+", only) if p]:
        path = os.path.join(pdir, part if part.endswith(".yml") else part + ".yml")
        if not re.match(r"^[A-Za-z0-9_.-]+$", part) or not os.path.isfile(path):
            known = sorted(f[:-4] for f in os.listdir(pdir) if f.endswith(".yml") and f != "site.yml")
            raise LabError("no provisioning part %r (known: %s)" % (part, ", ".join(known)))
        books.append(path)
    return books


def provision(i, timeout=1800, only=None):
    books = provision_playbooks(only)
    env = ansible_env(i)
    # per-task timings in provision.log
    env.setdefault("ANSIBLE_CALLBACKS_ENABLED", "ansible.posix.profile_tasks")
    exe = shutil.which("ansible-playbook", path=env["PATH"])
    if not exe:
        raise LabError("ansible-playbook not found (run scripts/setup, or use --no-provision)")
    t0 = time.time()
    log("provisioning (%s)" % " ".join(os.path.relpath(b, REPO_ROOT) for b in books))
    token = os.urandom(8).hex()
    env["VFL_RUN_TOKEN"] = token
    try:
        proc = subprocess.run([exe, "-i", os.path.join(state_dir(i), "inventory.yml")] + books,
                              env=env, timeout=timeout, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    except subprocess.TimeoutExpired:
        raise LabError("provisioning timed out after %ss" % timeout)
    finally:
        left = reap_token(token)
        if left:
            log("ended %d process(es) left behind by ansible-playbook: %s" % (
                len(left), " ".join(map(str, left))))
    with open(os.path.join(state_dir(i), "provision.log"), "w") as f:
        f.write(proc.stdout)
    if proc.returncode != 0:
        raise LabError("provisioning failed (rc %s), see %s\n%s" % (
            proc.returncode, os.path.join(state_dir(i), "provision.log"), proc.stdout[-6000:]))
    log("provisioned in %.0fs" % (time.time() - t0))


def cmd_up(args):
    preflight()
    i = lab_id(args)
    t0 = time.time()
    want = parse_hosts(args.host)
    only = args.only or os.environ.get("VPNFLEET_LAB_PROVISION")
    if not args.no_provision:
        provision_playbooks(only)  # fail early on a bad --only
    images = ensure_images([h["release"] for h in want])
    os.makedirs(state_dir(i), exist_ok=True)
    with FileLock(os.path.join(state_dir(i), ".lock"), timeout=2400):
        st = load_state(i) or {"id": i, "hosts": {}}
        st["podman_env"] = {"CONTAINERS_CONF": os.path.join(PODMAN_DIR, "containers.conf"),
                            "CONTAINERS_STORAGE_CONF": os.path.join(PODMAN_DIR, "storage.conf")}
        ssh_key(i)
        net = ensure_network(i, st)
        save_state(i, st)
        subnet = ipaddress.ip_network(net["subnet"])
        # hosts no longer wanted go away
        want_names = [h["name"] for h in want]
        for name in [n for n in st["hosts"] if n not in want_names]:
            cid = st["hosts"][name].get("container_id")
            if cid:
                podman(["rm", "-f", "-t", "0", cid], check=False, timeout=60)
            del st["hosts"][name]
        # addresses: keep recorded ones, give new hosts the next free
        taken = {h["ip"] for h in st["hosts"].values() if h.get("ip")}
        for h in want:
            old = st["hosts"].get(h["name"])
            if old and old["release"] == h["release"] and old.get("ip") and \
                    ipaddress.ip_address(old["ip"]) in subnet:
                h["ip"] = old["ip"]
                h["container_id"] = old.get("container_id")
            else:
                if old and old.get("container_id"):
                    podman(["rm", "-f", "-t", "0", old["container_id"]], check=False, timeout=60)
                n = 11
                while str(subnet.network_address + n) in taken:
                    n += 1
                h["ip"] = str(subnet.network_address + n)
                taken.add(h["ip"])
                h["container_id"] = None
            h["image"] = images[h["release"]]
        st["hosts"] = {h["name"]: h for h in want}
        save_state(i, st)

        # start what is not running (recreate when the image changed)
        def bring_up(h):
            cid = h.get("container_id")
            if cid:
                state = container_state(cid)
                img = podman(["container", "inspect", "--format", "{{.ImageName}}", cid],
                             check=False).stdout.strip()
                if state == "running" and img == h["image"]:
                    return cid, False
                podman(["rm", "-f", "-t", "0", cid], check=False, timeout=60)
            name = container_name(i, h["name"])
            old = podman(["container", "inspect", "--format", '{{index .Config.Labels "vpnfleet.lab"}}', name],
                         check=False)
            if old.returncode == 0:
                if old.stdout.strip() != i:
                    raise LabError("container %s exists and is not this lab's" % name)
                podman(["rm", "-f", "-t", "0", name], check=False, timeout=60)
            cid = start_container(i, st, h, h["image"])
            with state_lock:  # recorded at once: a crash later still leaves it to `down`
                st["hosts"][h["name"]]["container_id"] = cid
                save_state(i, st)
            return cid, True

        state_lock = threading.Lock()
        started = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(want)) as ex:
            futs = {h["name"]: ex.submit(bring_up, h) for h in want}
            errors = []
            for name, fut in futs.items():
                try:
                    cid, new = fut.result()
                    st["hosts"][name]["container_id"] = cid
                    if new:
                        started.append(name)
                except Exception as e:  # noqa: BLE001
                    errors.append("%s: %s" % (name, e))
            save_state(i, st)
            if errors:
                raise LabError("starting hosts failed:\n" + "\n".join(errors))
        if started:
            log("started %s" % ", ".join(started))
        write_access_files(i, st)
        _key, pub = ssh_key(i)

        hosts_lines = "".join("%s %s\n" % (o["ip"], o["name"]) for o in st["hosts"].values())

        def ready(h):
            wait_systemd(h["container_id"], h["name"])
            # lab key for root; /etc/hosts also knows hosts added by a later `up`
            podman(["exec", "-i", h["container_id"], "sh", "-c",
                    "umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys; "
                    "printf '%s' \"$1\" | while read -r ip name; do "
                    "grep -qE \"^$ip[[:space:]](.*[[:space:]])?$name([[:space:]]|\\$)\" /etc/hosts || echo \"$ip $name\" >> /etc/hosts; done",
                    "sh", hosts_lines], input=pub)
            wait_ssh(i, h)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(want)) as ex:
            futs = {h["name"]: ex.submit(ready, h) for h in want}
            errors = []
            for name, fut in futs.items():
                try:
                    fut.result()
                except Exception as e:  # noqa: BLE001
                    errors.append("%s: %s" % (name, e))
            if errors:
                raise LabError("hosts not ready:\n" + "\n".join(errors))
        st["up_at"] = time.time()
        save_state(i, st)
        log("lab %s: %d hosts up in %.1fs" % (i, len(want), time.time() - t0))
        if not args.no_provision:
            provision(i, only=only)
    print(os.path.join(state_dir(i), "inventory.yml"))
    log("lab %s ready in %.1fs" % (i, time.time() - t0))


def cmd_down(args):
    preflight()
    i = lab_id(args)
    t0 = time.time()
    st = load_state(i)
    if st is None:
        log("lab %s: no state in %s, nothing to do" % (i, state_dir(i)))
        return 0
    with FileLock(os.path.join(state_dir(i), ".lock"), timeout=2400):
        st = load_state(i) or st
        ssh_close(i, st)
        cids = [h["container_id"] for h in st.get("hosts", {}).values() if h.get("container_id")]
        # safety net: containers of this lab (name vfl-<ID>-*, label vpnfleet.lab=<ID>)
        # that a crashed `up` started but could not record
        out = podman(["ps", "-a", "--filter", "label=vpnfleet.lab=%s" % i, "--format", "{{.ID}} {{.Names}}"],
                     check=False).stdout or ""
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith("vfl-%s-" % i) and \
                    not any(c.startswith(parts[0]) for c in cids):
                cids.append(parts[0])
        if cids:
            p = podman(["rm", "-f", "-t", "0", "--ignore"] + cids, check=False, timeout=120)
            if p.returncode != 0:
                raise LabError("podman rm failed: %s" % p.stderr)
        net = st.get("network")
        if net:
            p = podman(["network", "rm", net["id"]], check=False, timeout=60)
            if p.returncode != 0 and "not found" not in (p.stderr or ""):
                raise LabError("podman network rm %s failed: %s" % (net["name"], p.stderr))
        # control sockets of persisted ssh masters
        prefix = "/tmp/vfl-%s-" % short_hash(i, 6)
        for f in os.listdir("/tmp"):
            if os.path.join("/tmp", f).startswith(prefix):
                try:
                    os.unlink(os.path.join("/tmp", f))
                except OSError:
                    pass
    shutil.rmtree(state_dir(i), ignore_errors=True)
    log("lab %s down in %.1fs" % (i, time.time() - t0))
    return 0


def cmd_status(args):
    preflight()
    i = lab_id(args)
    st = load_state(i)
    if st is None:
        print("lab %s: not up (no state in %s)" % (i, state_dir(i)))
        return 3
    print("lab %s  network %s %s  state %s" % (i, st["network"]["name"], st["network"]["subnet"], state_dir(i)))
    rc = 0
    degraded = False
    for h in st["hosts"].values():
        cs = (container_state(h["container_id"]) if h.get("container_id") else None) or "missing"
        sysd = "-"
        failed = []
        if cs == "running":
            p = podman(["exec", h["container_id"], "systemctl", "is-system-running"], check=False, timeout=20)
            sysd = p.stdout.strip() or "?"
            if sysd == "degraded":
                failed = failed_units(h["container_id"])
        else:
            rc = 3
        print("  %-12s %-9s %-15s %-8s %-10s %s" % (
            h["name"], h["release"], h["ip"], cs, sysd, ",".join(h["groups"])))
        for unit, what in failed:
            degraded = True
            print("      failed: %s%s" % (unit, " (%s)" % what if what else ""))
    if degraded:
        print("degraded: the host runs, but the systemd units listed under it have failed. Clients of users\n"
              "that a revocation cut off (vpnfleet.control.revoke, a kill with HALT, a locked account) exit\n"
              "on purpose and are listed here; so is a server whose configuration a test broke. See why with\n"
              "  lab/lab exec --id %s HOST -- systemctl status UNIT\n"
              "clear the list with 'systemctl reset-failed' the same way, or restore the whole lab with\n"
              "  lab/lab up --id %s" % (i, i))
    return rc


def failed_units(cid):
    """[(unit, 'result, exit status')] of the failed units of a running lab host."""
    p = podman(["exec", cid, "systemctl", "list-units", "--state=failed", "--no-legend", "--plain"],
               check=False, timeout=20)
    units = [line.split()[0] for line in (p.stdout or "").splitlines() if line.strip()]
    out = []
    for unit in units:
        q = podman(["exec", cid, "systemctl", "show", "-p", "Result,ExecMainStatus", unit], check=False, timeout=20)
        props = dict(line.split("=", 1) for line in (q.stdout or "").splitlines() if "=" in line)
        what = props.get("Result", "")
        if props.get("ExecMainStatus", "0") not in ("", "0"):
            what += ", exit status %s" % props["ExecMainStatus"]
        out.append((unit, what))
    return out


def cmd_exec(args):
    preflight()
    i = lab_id(args)
    st = load_state(i)
    if st is None:
        raise LabError("lab %s is not up" % i)
    h = st["hosts"].get(args.host)
    if h is None:
        raise LabError("no host %s in lab %s (hosts: %s)" % (args.host, i, ", ".join(st["hosts"])))
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        cmd = ["bash", "-l"]
    flags = ["-i"]
    if sys.stdin.isatty() and sys.stdout.isatty():
        flags.append("-t")
    env = podman_env()
    return subprocess.call(["podman", "exec"] + flags + [h["container_id"]] + cmd, env=env)


def cmd_inventory(args):
    i = lab_id(args)
    path = os.path.join(state_dir(i), "inventory.yml")
    if not os.path.exists(path):
        raise LabError("lab %s is not up (no %s)" % (i, path))
    print(path)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="lab/lab", description="vpnfleet lab of real Debian hosts (docs/lab.md)")
    sub = p.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build the images that are missing")
    b.add_argument("--release", action="append", choices=list(RELEASES))
    u = sub.add_parser("up", help="start (or complete) a lab; idempotent")
    u.add_argument("--id")
    u.add_argument("--host", action="append", metavar="NAME=RELEASE[:GROUP,GROUP]")
    u.add_argument("--no-provision", action="store_true")
    u.add_argument("--only", metavar="PART[,PART]",
                   help="provision only these parts of lab/provision (e.g. ocserv); default site.yml; "
                        "env VPNFLEET_LAB_PROVISION")
    d = sub.add_parser("down", help="remove the lab's containers and network")
    d.add_argument("--id")
    s = sub.add_parser("status")
    s.add_argument("--id")
    e = sub.add_parser("exec", help="run a command inside a host")
    e.add_argument("--id")
    e.add_argument("host")
    e.add_argument("command", nargs=argparse.REMAINDER)
    inv = sub.add_parser("inventory", help="print the inventory path")
    inv.add_argument("--id")
    args = p.parse_args(argv)
    handlers = {"build": cmd_build, "up": cmd_up, "down": cmd_down, "status": cmd_status,
                "exec": cmd_exec, "inventory": cmd_inventory}
    try:
        return handlers[args.action](args) or 0
    except LabError as e:
        sys.stderr.write("lab: error: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
