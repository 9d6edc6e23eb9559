#!/usr/bin/env bash
# Builds the Debian package and checks what is in it; then, only inside a
# throwaway root (this system's root file system under an overlay whose
# writable layer is a tmpfs, run with systemd-nspawn on a network of its
# own), installs it, serves one request end to end with the installed mizd
# and miz, stops mizd with SIGTERM, boots the unit under systemd in a
# container, and purges the package. The host's packages, users,
# /etc/miz and /var/lib/miz are never touched: a live installation on the
# machine stays as it is. Needs root (mounts, containers); a machine that
# cannot make the throwaway root or run systemd-nspawn says so and fails,
# and installs nothing.
#
#   tests/package.sh BUILD_DIR
#
# BUILD_DIR is configured here as Debian's dh_auto_configure would, with
# -DCMAKE_INSTALL_PREFIX=/usr (the prefix decides where the table and the
# unit go, so a tree configured for /usr/local cannot make the package),
# plain (no sanitizers) and without the test programs.
#
# Inside the container the script runs itself again, as
# `package.sh --inside-install DEB` and `package.sh --inside-purge`; those
# refuse to run anywhere but in the throwaway root it marks.
set -euo pipefail
cd "$(dirname "$0")/.."
marker=/etc/miz-package-throwaway

fail() { echo "package.sh: FAIL: $*" >&2; exit 1; }
step() { echo "== package: $*"; }
# runs a command, showing its output only if it fails
quiet() { local out; out=$("$@" 2>&1) || { echo "$out" >&2; return 1; }; }

# ---- in the throwaway root only ----

inside_install() {
    local deb=$1
    [ -e $marker ] || fail "--inside-install runs only in package.sh's throwaway root"
    log=$(mktemp /tmp/miz-package.XXXXXX)
    mizd_pid="" worker_pid=""
    trap inside_cleanup EXIT
    step "installing (in the throwaway root)"
    quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" || fail "cannot install $deb"
    getent passwd miz >/dev/null || fail "postinst made no user miz"
    [ "$(stat -c '%U:%G %a' /var/lib/miz)" = "miz:miz 750" ] ||
        fail "/var/lib/miz is $(stat -c '%U:%G %a' /var/lib/miz), not miz:miz 750"

    # The unit as installed, where its ExecStart binary, /bin/kill and its
    # Documentation= man pages all exist, as systemd would find them.
    step "systemd-analyze verify"
    systemd-analyze verify /lib/systemd/system/mizd.service || fail "systemd-analyze verify"
    systemd-analyze security --offline=true --threshold=20 /lib/systemd/system/mizd.service |
        tail -n 1 || fail "exposure above 2.0 (systemd-analyze security --offline=true)"

    # Started as the unit starts it: its ExecStart, as user miz with no
    # capabilities, its umask, a clean environment, from /. The sandbox comes
    # further down, under systemd.
    step "running mizd as the unit does"
    unit=/lib/systemd/system/mizd.service
    read -ra cmd <<<"$(sed -n 's/^ExecStart=//p' $unit)"
    umask=$(sed -n 's/^UMask=//p' $unit)
    (
        cd /
        umask "$umask"
        exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
            setpriv --reuid=miz --regid=miz --init-groups --inh-caps=-all --bounding-set=-all \
            --no-new-privs "${cmd[@]}"
    ) 2>"$log" &
    mizd_pid=$!
    # miz waits up to 5 s for an answer while ZeroMQ connects: a status query
    # that the broker refuses (exit 1: no such request) says it is up.
    rc=0
    miz status 1 >/dev/null 2>&1 || rc=$?
    [ $rc -eq 1 ] || fail "mizd does not answer on tcp://127.0.0.1:7370 (miz status: exit $rc)"

    step "a request answered by a worker"
    # Up until stopped, not --count 1: such a worker leaves without waiting for
    # the broker's ok to its answer, and may be gone (dropped, its answer refused)
    # by the time the broker, having committed, replies.
    miz worker --agency city-services --answer "ploughed" >/dev/null &
    worker_pid=$!
    out=$(timeout 20 miz submit --wait city.snow.street "snow closes the street") ||
        fail "miz submit --wait: exit $?"
    echo "$out"
    tracking=$(head -n 1 <<<"$out")
    [[ $tracking =~ ^[0-9]+$ ]] || fail "no tracking number from miz submit"
    grep -q "city-services: resolved .*ploughed" <<<"$out" || fail "no answered outcome"
    kill -TERM "$worker_pid"
    timeout 10 tail --pid="$worker_pid" -f /dev/null || fail "miz worker did not stop on SIGTERM"
    wait "$worker_pid" || fail "miz worker: exit $? after SIGTERM"
    worker_pid=""
    miz status "$tracking" >/dev/null || fail "miz status $tracking: exit $?"
    [ "$(stat -c '%U %a' /var/lib/miz/data.mdb)" = "miz 640" ] ||
        fail "the store is not in /var/lib/miz as miz, mode 640: $(ls -l /var/lib/miz)"

    step "SIGTERM"
    kill -TERM "$mizd_pid"
    # within the unit's TimeoutStopSec
    timeout 30 tail --pid="$mizd_pid" -f /dev/null || fail "mizd still running 30 s after SIGTERM"
    rc=0
    wait "$mizd_pid" || rc=$?
    mizd_pid=""
    [ $rc -eq 0 ] || fail "mizd exited with $rc after SIGTERM"
    : >"$log"   # passed: no need to show it
}

inside_cleanup() {
    local rc=$?
    for pid in $worker_pid $mizd_pid; do kill -KILL "$pid" 2>/dev/null || true; done
    if [ $rc -ne 0 ] && [ -s "$log" ]; then
        echo "---- mizd's log ----" >&2
        cat "$log" >&2
    fi
    rm -f "$log"
    exit $rc
}

inside_purge() {
    [ -e $marker ] || fail "--inside-purge runs only in package.sh's throwaway root"
    step "purging"
    quiet env DEBIAN_FRONTEND=noninteractive apt-get purge -y miz || fail "cannot purge miz"
    for f in /usr/sbin/mizd /usr/bin/miz /etc/miz /var/lib/miz /lib/systemd/system/mizd.service; do
        [ ! -e "$f" ] || fail "$f is still there after purge"
    done
}

case "${1:-}" in
--inside-install) inside_install "${2:?}"; exit 0 ;;
--inside-purge) inside_purge; exit 0 ;;
esac

# ---- on the host: build, check, and run the rest in the throwaway root ----

build=${1:?usage: tests/package.sh BUILD_DIR}
boot=$(mktemp -d /tmp/miz-boot.XXXXXX)
throwaway=""

cleanup() {
    local rc=$?
    if [ -n "$throwaway" ]; then
        umount "$throwaway/root" 2>/dev/null || umount -l "$throwaway/root" 2>/dev/null || true
        umount "$throwaway/rw" 2>/dev/null || umount -l "$throwaway/rw" 2>/dev/null || true
        rmdir "$throwaway/root" "$throwaway/rw" "$throwaway" 2>/dev/null || true
    fi
    rm -rf "$boot"
    exit $rc
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "needs root (it mounts a throwaway root and runs containers)"
[ ! -e $marker ] || fail "$marker exists: run package.sh on a host, not in its own container"

step "building $build (prefix /usr) and the .deb"
quiet cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DMIZ_SANITIZE=OFF -DBUILD_TESTING=OFF || fail "cmake could not configure $build"
quiet cmake --build "$build" -j"$(nproc)" || fail "the build failed"
rm -f "$build"/miz_*.deb
(cd "$build" && quiet cpack -G DEB) || fail "cpack -G DEB failed"
debs=("$build"/miz_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no single miz_*.deb in $build"
deb=$(realpath "${debs[0]}")
echo "$deb"

step "contents"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/mizd ./usr/bin/miz ./usr/bin/miz-dashboard ./usr/bin/miz-open311 \
         ./etc/miz/miz.yaml \
         ./lib/systemd/system/mizd.service ./lib/systemd/system/miz-open311.service \
         ./usr/lib/sysusers.d/miz.conf ./usr/lib/tmpfiles.d/miz.conf \
         ./usr/share/man/man8/mizd.8.gz ./usr/share/man/man1/miz.1.gz \
         ./usr/share/man/man1/miz-open311.1.gz ./usr/lib/python3/dist-packages/miz.py \
         ./usr/share/doc/miz/README.md ./usr/share/doc/miz/protocol.md; do
    grep -qxF "$f" <<<"$contents" || fail "$deb lacks $f"
done
! grep -q '^\./usr/local' <<<"$contents" || fail "$deb has files under /usr/local"
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/miz/miz.yaml ] ||
    fail "conffiles is not exactly /etc/miz/miz.yaml: $(dpkg-deb -I "$deb" conffiles)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libzmq5 libevent-core liblmdb0 libmsgpackc2 libyaml-0-2; do
    grep -q "\b$lib" <<<"$depends" || fail "Depends lacks $lib"
done

step "man pages render without warnings"
for page in man/mizd.8 man/miz.1 man/miz-open311.1; do
    warnings=$(groff -man -ww -z "$page" 2>&1)
    [ -z "$warnings" ] || fail "$page: $warnings"
done


step "a throwaway root: this system's root file system under a tmpfs overlay"
throwaway=$(mktemp -d /tmp/miz-root.XXXXXX)
mkdir "$throwaway/rw" "$throwaway/root"
mount -t tmpfs tmpfs "$throwaway/rw" || fail "cannot mount a tmpfs for the throwaway root"
mkdir "$throwaway/rw/upper" "$throwaway/rw/work"
mount -t overlay overlay \
    -o "lowerdir=/,upperdir=$throwaway/rw/upper,workdir=$throwaway/rw/work" "$throwaway/root" ||
    fail "cannot mount an overlay of / (the package is never installed on the host itself)"
touch "$throwaway/root$marker"
cp "$deb" "$boot/"
cp tests/package.sh "$boot/package.sh"
# a container on a network of its own: its mizd's ports are its own
in_root() {
    timeout 300 systemd-nspawn --quiet --keep-unit --register=no --link-journal=no \
        --private-network --machine=miz-package --directory="$throwaway/root" \
        --bind="$boot:/opt/miz-test" "$@" </dev/null
}
probe=""
probe=$(in_root /bin/true 2>&1) ||
    fail "this machine cannot run systemd-nspawn ($(tail -n 1 <<<"$probe")); nothing was installed"
in_root /opt/miz-test/package.sh --inside-install "/opt/miz-test/$(basename "$deb")" ||
    fail "the package, installed in the throwaway root, did not serve a request"
# the booted container's /etc is a tmpfs over the throwaway root: its
# /etc/miz, as the package installed it, goes in beside the test's files
cp -a "$throwaway/root/etc/miz" "$boot/etc-miz"

# The sandbox itself (namespaces, system call filter, address families) is
# there only under systemd as PID 1: boot a container of the throwaway root
# (an empty /etc and /var, its /usr with the package's mizd and unit, its
# /etc/miz) and run the unit there, with a store of its own.
step "mizd.service under systemd, in its sandbox (systemd-nspawn)"
cat >"$boot/run.sh" <<'EOF'
#!/bin/bash
# Runs in the container as a transient service; the container then powers off.
exec >/opt/miz-test/out 2>&1
set -euxo pipefail
trap 'journalctl -u mizd.service --no-pager' EXIT
systemctl start mizd.service            # returns once mizd said READY=1
miz worker --agency city-services --answer ploughed >/dev/null &
timeout 20 miz submit --wait city.snow.street "snow closes the street" | grep "resolved .*ploughed"
systemctl reload mizd.service           # waits for mizd's outcome (ExecReload=mizd --reload)...
grep -q "^[0-9]* 1 ok$" /run/miz/reload   # ...which is there once it returns
# a broken table fails the reload, and mizd keeps the one in use
mkdir -p /run/systemd/system/mizd.service.d
install -m 0644 /etc/miz/miz.yaml /opt/miz-test/miz.yaml
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/mizd -c /opt/miz-test/miz.yaml --data-dir /var/lib/miz\n' \
    >/run/systemd/system/mizd.service.d/table.conf
systemctl daemon-reload
systemctl restart mizd.service
echo "routes: [" >>/opt/miz-test/miz.yaml
if systemctl reload mizd.service; then exit 1; fi   # (a "!" would not stop set -e)
grep -q "^[0-9]* 1 refused: /opt/miz-test/miz.yaml:" /run/miz/reload
timeout 20 miz submit --wait city.snow.street "the table in use stays" | grep "resolved .*ploughed"
sleep 11                                # past WatchdogSec=10s: the pings arrive
systemctl stop mizd.service
[ "$(systemctl show -P ExecMainStatus mizd.service)" = 0 ]
[ "$(systemctl show -P NRestarts mizd.service)" = 0 ]
echo PASSED
EOF
chmod +x "$boot/run.sh"
chmod 0755 "$boot"   # the unit reads a table of the test's there, as user miz
if ! timeout 120 systemd-nspawn --quiet --keep-unit --register=no --machine=miz-test \
    --link-journal=no --directory="$throwaway/root" --volatile=yes \
    --bind="$boot:/opt/miz-test" --bind-ro="$boot/etc-miz:/etc/miz" --boot \
    systemd.firstboot=off systemd.run=/opt/miz-test/run.sh \
    systemd.run_success_action=poweroff systemd.run_failure_action=poweroff \
    </dev/null >"$boot/console" 2>&1 || ! grep -qx PASSED "$boot/out" 2>/dev/null; then
    cat "$boot/out" 2>/dev/null || tail -n 40 "$boot/console"
    fail "mizd.service did not serve a request, reload and stop cleanly under systemd"
fi

in_root /opt/miz-test/package.sh --inside-purge || fail "the purge in the throwaway root failed"
echo "== package: ok"
