#!/usr/bin/env bash
# A short live demo: mizd on the default routing table (conf/miz.yaml) with a
# few agency workers and an intake gateway submitting Persian requests. Shows
# tracking numbers, deliveries, acks, answers, a fan-out, an observer copy, a
# redelivery after a worker dies and an overdue escalation, as they happen.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=build

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# run TAG CMD...: runs CMD in the background with its output tagged
run() {
    local tag=$1; shift
    "$@" > >(sed -u "s/^/[$tag] /") 2>&1 &
    pids+=($!)
}
worker() { local tag=$1; shift; run "$tag" "$bin/miz" worker --name "$tag" "$@"; }
submit() { run "gateway" "$bin/miz" submit --wait "$@"; sleep 0.3; }

say "starting mizd on conf/miz.yaml (loopback tcp 7370 for gateways, 7371 for workers)"
# a store of its own, fresh each time, rather than the table's /var/lib/miz
rm -rf "$bin/demo-data"
run mizd "$bin/mizd" -c conf/miz.yaml --data-dir "$bin/demo-data"
sleep 0.5

say "agency workers register"
worker city-services --agency city-services --answer "اکیپ برف‌روبی اعزام شد؛ مسیر تا یک ساعت دیگر باز است"
worker relief --agency relief --answer "پرونده برای کمک معیشتی تشکیل شد"
worker welfare --agency welfare --answer "مددکار تا فردا تماس می‌گیرد"
worker governorate --agency governorate --answer "استاندار دستور پیگیری فوری داد"
worker inspection --agency inspection --credit 5
worker water-stuck --agency water --exec "sleep 60"
worker city-works-slow --agency city-works --exec "sleep 8; echo 'بررسی شد'"
sleep 1

say "the gateway submits requests; each gets a tracking number at once"
submit --priority urgent city.snow.street "برف خیابان شهید بهشتی را بسته است، کوچه ۱۲"
submit welfare.livelihood "خانواده پنج نفره، سرپرست بیکار شده است"
submit --kind complaint utility.water.cut "سه روز است آب محله بانبرز قطع است"
sleep 1

say "the water worker holding that request dies (kill -9); another water worker starts"
pkill -9 -f -- "--name water-stuck" || true
worker water --agency water --answer "لوله اصلی تعمیر شد، آب وصل است"
say "after three missed heartbeats the broker offers the delivery again, same delivery id"
sleep 4

say "a drill: city-works answers too slowly; past 4 s the delivery is overdue and escalates"
submit drill.overdue "آزمایش مسیر تشدید: پاسخ دیرهنگام"
sleep 6

say "a topic nobody handles is refused with a clear error"
"$bin/miz" submit parking.fine "جریمه پارک" 2>&1 | sed 's/^/[gateway] /' || true

say "status of the drill request: every delivery and its history"
"$bin/miz" status 4 | sed 's/^/[status] /'
sleep 0.5
say "done; stopping"
