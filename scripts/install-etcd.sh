#!/usr/bin/env bash
# Makes sure Debian's etcd 3.4.x tools are on the PATH; installs them with apt-get when missing.
#   scripts/install-etcd.sh            etcdctl 3.4.x (etcd-client), for the server's compatibility tests
#   scripts/install-etcd.sh --server   etcdctl and etcd 3.4.x (etcd-client, etcd-server), for pnpm bench:etcd
# Exits non-zero, saying why, when it cannot: what needs them then fails instead of skipping
# silently. The etcd-server package is not started by its installation.
set -euo pipefail
want_server=0
if [ "${1:-}" = "--server" ]; then want_server=1; fi
# The version text is captured first: `cmd | grep -q` under pipefail fails at random when grep
# exits before cmd has written everything (SIGPIPE).
has_ctl() { local v; v=$(etcdctl version 2>/dev/null) || return 1; [[ "$v" == *"etcdctl version: 3.4."* ]]; }
has_server() { local v; v=$(etcd --version 2>/dev/null) || return 1; [[ "$v" == *"etcd Version: 3.4."* ]]; }
if has_ctl && { [ "$want_server" = 0 ] || has_server; }; then
  exit 0
fi
packages="etcd-client"
if [ "$want_server" = 1 ]; then packages="etcd-client etcd-server"; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-etcd: etcd 3.4 ($packages) is missing and apt-get is unavailable; install Debian's $packages 3.4.x by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $packages
if ! has_ctl; then
  echo "install-etcd: installed etcd-client, but etcdctl is not version 3.4.x: $(etcdctl version 2>&1 | head -1)" >&2
  exit 1
fi
if [ "$want_server" = 1 ] && ! has_server; then
  echo "install-etcd: installed etcd-server, but etcd is not version 3.4.x: $(etcd --version 2>&1 | head -1)" >&2
  exit 1
fi
