# shellcheck shell=bash
# Common environment for the project's scripts: the tool venv, the collection
# search path and the caches. Sourced, never run.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REPO_ROOT
# Caches live where the machine keeps files between runs; everything still
# works (only slower) when they are empty.
export VPNFLEET_CACHE=${VPNFLEET_CACHE:-/var/cache/vpnfleet}
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$VPNFLEET_CACHE/pip}
export VENV=${VENV:-$REPO_ROOT/.venv}
# The collection is found as vpnfleet.control through a link in .build, the
# third-party collections (community.crypto, ...) in .cache/collections.
export ANSIBLE_COLLECTIONS_PATH=$REPO_ROOT/.build/collections:$REPO_ROOT/.cache/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_NOCOLOR=1
export ANSIBLE_FORCE_COLOR=0
export PATH=$VENV/bin:$PATH
export PYTHONDONTWRITEBYTECODE=1

# ansible-core releases the collection declares (meta/runtime.yml requires_ansible), each tested in
# a venv of its own, .venv-core/<release>, on a controller Python that release supports (from
# pyenv): "release:python" pairs, oldest first. scripts/setup makes the venvs, scripts/sanity --core
# and scripts/test use them.
CORE_MATRIX=${CORE_MATRIX:-"2.17:3.10 2.18:3.11 2.19:3.12 2.20:3.12 2.21:3.13"}
# Managed hosts' Pythons the docs promise (README: 3.9 or newer); pyenv has 3.9 to 3.13 here.
TARGET_PYTHONS=${TARGET_PYTHONS:-"3.9 3.10 3.11 3.12 3.13"}
core_releases() { local p; for p in $CORE_MATRIX; do printf '%s\n' "${p%%:*}"; done; }
core_python_version() { local p; for p in $CORE_MATRIX; do [ "${p%%:*}" = "$1" ] && { printf '%s\n' "${p#*:}"; return 0; }; done; return 1; }
core_venv() { printf '%s\n' "$REPO_ROOT/.venv-core/$1"; }
# The interpreter of Python X.Y: pyenv's build if there is one, else pythonX.Y on PATH.
find_python() {
  local root=${PYENV_ROOT:-$HOME/.pyenv} cand
  for cand in "$root"/versions/"$1".*/bin/python"$1"; do
    [ -x "$cand" ] && { printf '%s\n' "$cand"; return 0; }
  done
  command -v "python$1"
}
