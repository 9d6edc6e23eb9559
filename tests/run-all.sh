#!/usr/bin/env bash
# Builds miz twice, plain and with AddressSanitizer + UndefinedBehaviorSanitizer,
# and runs the whole test suite on each build.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh
jobs=$(nproc)
run() {
    local dir=$1; shift
    echo "== $dir: $*"
    # twice, as clients/demo.sh does: CMake's pkg-config module places libzmq's
    # -isystem flag differently once it is cached, and a build configured once
    # would be rebuilt whole by the next configure
    for pass in 1 2; do cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null; done
    cmake --build "$dir" -j"$jobs"
    # a test per core: each integration test has its own temp dir and ipc://
    # endpoints, and the dashboard's HTTP port is the kernel's pick; the
    # barrage and Chromium's test, which load every core, run alone (RUN_SERIAL)
    ctest --test-dir "$dir" --output-on-failure -j"$jobs"
}
run build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    run build-asan -DMIZ_SANITIZE=ON
# the Debian package, from a tree of its own configured for /usr
tests/package.sh build-deb
# libFuzzer on the frame decoder and the table loader, a minute each (FUZZ_SECONDS)
tests/fuzz/run.sh
