#!/usr/bin/env bash
# Makes sure etcdctl 3.4.x (Debian's etcd-client, 3.4.23 here) is on the PATH for the server's
# compatibility tests; installs it with apt-get when missing. Exits non-zero, saying why, when it
# cannot: the tests that need etcdctl then fail instead of skipping silently.
set -euo pipefail
if command -v etcdctl >/dev/null 2>&1 && etcdctl version 2>/dev/null | grep -q '^etcdctl version: 3\.4\.'; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-etcd: etcdctl 3.4 is missing and apt-get is unavailable; install etcd-client 3.4.x (Debian) by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-client
if ! etcdctl version 2>/dev/null | grep -q '^etcdctl version: 3\.4\.'; then
  echo "install-etcd: installed etcd-client, but etcdctl is not version 3.4.x: $(etcdctl version 2>&1 | head -1)" >&2
  exit 1
fi
