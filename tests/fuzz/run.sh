#!/usr/bin/env bash
# Fuzzes the frame decoder, the routing table loader and miz-open311's form
# parser with libFuzzer (docs/fuzzing.md): builds the targets with clang, ASan and UBSan in
# build-fuzz, then runs each for FUZZ_SECONDS (default 60) on a copy of its
# seed corpus and regressions, so nothing is written into the tree. Fails on
# any crash, sanitizer report, leak, hang or oversized allocation, after
# printing the input that caused it: that input belongs in
# tests/fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIZ_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_wire fuzz_table fuzz_form

# The longest input tried: frames and table files of a few KiB reach every
# branch. From inputs that small, one allocation past 64 MiB can only be a
# length or count believed without checking, so it counts as a crash.
declare -A max_len=([wire]=4096 [table]=8192 [form]=4096)
failed=0
for target in wire table form; do
    work=$build/fuzz-run/$target
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    find "tests/fuzz/corpus/$target" "tests/fuzz/regressions/$target" -maxdepth 1 -type f \
        ! -name '.*' -exec cp {} "$work/corpus/" \;
    echo "== fuzz_$target: ${seconds}s"
    if "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len="${max_len[$target]}" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=64 -dict="tests/fuzz/$target.dict" \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1; then
        grep -E '^Done|^stat::(number_of_executed_units|peak_rss_mb)' "$work/log" || true
        continue
    fi
    failed=1
    echo "fuzz_$target FAILED; its log without the progress lines ($work/log):"
    grep -vE '^#[0-9]+[[:space:]]' "$work/log" | tail -n 60
    for input in "$work"/artifacts/*; do
        [ -e "$input" ] || continue
        echo "reproducer: $input ($(stat -c %s "$input") bytes), base64:"
        base64 -w 76 "$input"
        echo "run it:  $build/tests/fuzz/fuzz_$target $input"
        echo "keep it: cp $input tests/fuzz/regressions/$target/WHAT-IT-DOES"
    done
done
exit $failed
