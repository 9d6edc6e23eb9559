#!/usr/bin/env bash
# A short live demo: mizd on the demo's routing table (conf/demo.yaml: a few
# agencies, deadlines in seconds, a drill route) with a few agency workers and
# an intake gateway submitting Persian requests. Shows tracking numbers,
# deliveries, acks, answers, a fan-out, an observer copy, a redelivery after a
# worker dies and an overdue escalation, as they happen. Everything stays in
# build/: the store in build/demo-data, mizd's log in build/demo-mizd.log; it
# uses loopback ports 7370-7372, so a mizd installed on the machine must not be
# running (the demo says so and stops if one is).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh
# configured twice, as tests/run-all.sh does: CMake's pkg-config module places
# libzmq's -isystem flag differently once it is cached, and a build configured
# once would be rebuilt whole by the next configure
for pass in 1 2; do cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null; done
cmake --build build -j"$(nproc)" >/dev/null
bin=build
log=$bin/demo-mizd.log

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

workers=()
mizd_pid='' tail_pid=''
# workers first, so their last lines come before mizd's "stopped"
cleanup() {
    for p in "${workers[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${workers[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$mizd_pid" ]; then kill "$mizd_pid" 2>/dev/null || true; wait "$mizd_pid" 2>/dev/null || true; fi
    sleep 0.2
    if [ -n "$tail_pid" ]; then kill "$tail_pid" 2>/dev/null || true; wait "$tail_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# worker TAG ARGS...: a worker in the background, its output tagged
worker() {
    local tag=$1; shift
    "$bin/miz" worker --name "$tag" "$@" > >(sed -u "s/^/[$tag] /") 2>&1 &
    workers+=($!)
    eval "pid_${tag//-/_}=$!"
}
submit() { "$bin/miz" submit --wait "$@" > >(sed -u 's/^/[gateway] /') 2>&1 & sleep 0.3; }
# waits up to 10 s for a line of mizd's log
await_log() { for _ in $(seq 100); do grep -q "$1" "$log" && return 0; sleep 0.1; done; return 1; }

for port in 7370 7371 7372; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "demo: something already listens on 127.0.0.1:$port (an installed mizd?); stop it first" >&2
        exit 1
    fi
done

say "starting mizd on conf/demo.yaml (loopback tcp 7370 for gateways, 7371 for workers)"
# a store of its own, fresh each time, rather than the table's /var/lib/miz
rm -rf "$bin/demo-data"
: >"$log"
"$bin/mizd" -c conf/demo.yaml --data-dir "$bin/demo-data" 2>>"$log" &
mizd_pid=$!
tail -n +1 -f "$log" | sed -u 's/^/[mizd] /' &
tail_pid=$!
await_log "running with"

say "agency workers register"
worker city-services --agency city-services --answer "اکیپ برف‌روبی اعزام شد؛ مسیر تا یک ساعت دیگر باز است"
worker relief --agency relief --answer "پرونده برای کمک معیشتی تشکیل شد"
worker welfare --agency welfare --answer "مددکار تا فردا تماس می‌گیرد"
worker governorate --agency governorate --answer "استاندار دستور پیگیری فوری داد"
worker inspection --agency inspection --credit 5
worker water-stuck --agency water --exec "sleep 60"
worker city-works-slow --agency city-works --exec "echo 'progress: کارشناس در راه است'; sleep 8; echo 'بررسی شد'"
sleep 1

say "the gateway submits requests; each gets a tracking number at once"
submit --priority urgent city.snow.street "برف خیابان شهید بهشتی را بسته است، کوچه ۱۲"
submit welfare.livelihood "خانواده پنج نفره، سرپرست بیکار شده است"
submit --kind complaint utility.water.cut "سه روز است آب محله بانبرز قطع است"
sleep 1

say "the water worker holding that request dies (kill -9); another water worker starts"
# its command (sleep 60) ends with it: miz runs each command in a process group of its own
kill -9 "$pid_water_stuck"
wait "$pid_water_stuck" 2>/dev/null || true
worker water --agency water --answer "لوله اصلی تعمیر شد، آب وصل است"
if await_log "worker water-stuck.* dropped"; then
    reason=$(grep -o "worker water-stuck.* dropped: [^;]*" "$log" | tail -1 | sed 's/.*dropped: //')
    say "the broker dropped the dead worker ($reason) and offers its delivery again, same delivery id"
fi
sleep 1

say "a drill: city-works answers too slowly; past 4 s the delivery is overdue and escalates"
submit drill.overdue "آزمایش مسیر تشدید: پاسخ دیرهنگام"
sleep 6

say "a topic nobody handles is refused with a clear error"
"$bin/miz" submit parking.fine "جریمه پارک" 2>&1 | sed 's/^/[gateway] /' || true

say "status of the drill request: every delivery, its history, its progress note"
"$bin/miz" status 4 | sed 's/^/[status] /'
sleep 0.5
say "done; stopping (the workers first, then mizd)"
