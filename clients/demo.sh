#!/usr/bin/env bash
# A short live demo: mizd on the demo's routing table (conf/demo.yaml: a few
# agencies, deadlines in seconds, a drill route) with a few agency workers and
# an intake gateway submitting Persian requests. Shows tracking numbers,
# deliveries, acks, answers, a fan-out, an observer copy, a redelivery after a
# worker dies, a citizen's app posting over Open311 (miz-open311) and an
# overdue escalation, as they happen. Everything stays in build/: the store in
# build/demo-data, mizd's log in build/demo-mizd.log; it uses loopback ports
# 7370-7372 and 8311, so a mizd installed on the machine must not be running
# (the demo says so and stops if one is).
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
mizd_pid='' tail_pid='' open311_pid=''
# workers first, so their last lines come before mizd's "stopped"
cleanup() {
    for p in "${workers[@]}" $open311_pid; do kill "$p" 2>/dev/null || true; done
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
# open311 METHOD PATH [FORM]: an HTTP/1.0 request to miz-open311 (bash's
# /dev/tcp: no curl on a fresh machine), its body printed
open311() {
    exec 3<>/dev/tcp/127.0.0.1/8311
    printf '%s %s HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s' \
        "$1" "$2" "$(printf %s "${3:-}" | wc -c)" "${3:-}" >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
}
# waits up to 10 s for a line of mizd's log
await_log() { for _ in $(seq 100); do grep -q "$1" "$log" && return 0; sleep 0.1; done; return 1; }

for port in 7370 7371 7372 8311; do
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

say "a citizen's app posts a report over Open311 (miz-open311: GeoReport v2 over HTTP)"
"$bin/miz-open311" -c conf/demo.yaml --http 127.0.0.1:8311 > >(sed -u 's/^/[open311] /') 2>&1 &
open311_pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8311) 2>/dev/null && break; sleep 0.1; done
reply=$(open311 POST /requests.json "service_code=utility.water.leak&lat=33.6374&long=46.4227&description=لوله+آب+در+خیابان+فردوسی+ترکیده+است")
echo "$reply" | sed 's/^/[open311] /'
id=$(echo "$reply" | grep -o '"service_request_id":"[0-9]*"' | grep -o '[0-9]*')
sleep 1
say "the app asks how its report stands (GET /requests/$id.json): the water worker answered it"
open311 GET "/requests/$id.json" | sed 's/^/[open311] /'

say "a topic nobody handles is refused with a clear error"
"$bin/miz" submit parking.fine "جریمه پارک" 2>&1 | sed 's/^/[gateway] /' || true

say "status of the drill request: every delivery, its history, its progress note"
"$bin/miz" status 4 | sed 's/^/[status] /'
sleep 0.5
say "done; stopping (the workers first, then mizd)"
