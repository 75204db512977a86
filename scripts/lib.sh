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
