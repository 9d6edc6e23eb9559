#!/usr/bin/env bash
# Installs, from Debian's archive, what building and testing miz needs, when
# any of it is missing. Needs root (or sudo) only when it has work to do.
set -euo pipefail
packages=(gcc make cmake pkg-config libevent-dev libzmq3-dev libmsgpack-dev libyaml-dev libcmocka-dev liblmdb-dev)
# tests/package.sh: cpack's Depends (dpkg-shlibdeps, file), man pages (man-db,
# groff), systemd-analyze and a container booted with systemd (systemd-nspawn),
# and the unit's ExecReload (/bin/kill)
packages+=(dpkg-dev file man-db groff-base systemd systemd-container procps)
# tests/dashboard/test_browser.c: the page in a real headless Chromium, with
# a font for its Persian text
packages+=(chromium fonts-noto-core)
# tests/fuzz/run.sh: clang, and libFuzzer with clang's sanitizer runtimes
# (libclang-rt-dev, which clang only recommends)
packages+=(clang libclang-rt-dev)
# the PostgreSQL store (libpq) and its tests: real servers (tests/common/
# pg_server.c runs initdb, postgres, pg_basebackup as nobody, through
# util-linux's setpriv), and Patroni with etcd for tests/integration/
# test_patroni.c; Patroni's etcd support is python3-etcd, only one of the
# alternatives it depends on
packages+=(libpq-dev postgresql-15 util-linux patroni python3-etcd etcd-server etcd-client)
# the Python client library (clients/python/miz.py) and its test,
# tests/python/test_miz.py: pyzmq and msgpack for the system's python3
packages+=(python3 python3-zmq python3-msgpack)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
