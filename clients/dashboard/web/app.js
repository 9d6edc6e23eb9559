// The governor's office dashboard: the figures of /api/figures, kept live
// by the server-sent events of /events. The province's headline figures
// first, then the agencies worst first, then the overdue cases, each once.
// Numbers, durations and dates are formatted here with Intl, in Persian
// (Persian digits and separators, the Jalali calendar) or English (the same
// Jalali dates, in English), always on Tehran time. ?lang=en or ?lang=fa
// picks the language, ?tv=1 the wall screen (no scrolling, the overdue
// list in pages that turn by themselves).
"use strict";

const TEXT = {
  fa: { title: "پاسخگویی دستگاه‌ها به درخواست‌های مردم", agencies: "دستگاه‌ها، بدترین اول",
        agency: "دستگاه", open: "باز", overdue: "معوق", on_time: "به‌موقع",
        answer: "زمان پاسخ (میانه)", ack: "زمان پذیرش (میانه)", escalations: "ارجاع",
        refusals: "عدم پذیرش", today: "امروز در برابر میانگین ۴ هفته", volume_chart: "حجم روزانه",
        on_time_chart: "سهم به‌موقع روزانه", overdue_list: "موارد معوق، قدیمی‌ترین اول",
        tracking: "شمارهٔ پیگیری", escalated_to: "ارجاع به", topic: "موضوع", late_by: "تأخیر",
        h_open: "درخواست باز در استان", h_overdue: "معوق هم‌اکنون",
        h_on_time: "پاسخ به‌موقع این هفته", h_oldest: "قدیمی‌ترین مورد معوق",
        week: "هفتهٔ", to: "تا", updated: "به‌روزرسانی", none: "موردی نیست", toggle: "English",
        resync: "در حال همگام‌سازی با کارگزار…",
        stale: (d) => `کارگزار از ${d} پیش خاموش است؛ ارقام ممکن است کهنه باشند`,
        gone: "داشبورد در دسترس نیست؛ ارقام آخرین دریافت‌اند", more: (n) => `و ${n} مورد دیگر`,
        page: (i, n) => `صفحهٔ ${i} از ${n}`, times: (x) => `${x} برابر میانگین`,
        units: ["روز", "ساعت", "دقیقه", "ثانیه"], and: " و ", report: "گزارش هفتگی", dot: "، ",
        against: (n, m) => `${n} در برابر ${m}`, trend: "روند به‌موقع ۸ هفته",
        h_trend: "پاسخ به‌موقع استان در ۸ هفتهٔ اخیر", week_of: (d) => `هفتهٔ ${d}`,
        },
  en: { title: "Agencies' responsiveness to citizens' requests", agencies: "Agencies, worst first",
        agency: "Agency", open: "Open", overdue: "Overdue", on_time: "On time",
        answer: "Time to answer (median)", ack: "Time to claim (median)", escalations: "Escalations",
        refusals: "Refusals", today: "Today against the 4-week mean", volume_chart: "Volume per day",
        on_time_chart: "On-time share per day", overdue_list: "Overdue cases, oldest first",
        tracking: "Tracking", escalated_to: "Escalated to", topic: "Topic", late_by: "Late by",
        h_open: "requests open in the province", h_overdue: "overdue now",
        h_on_time: "answered on time this week", h_oldest: "oldest overdue case",
        week: "Week of", to: "to", updated: "updated", none: "none", toggle: "فارسی",
        resync: "resynchronising with the broker…",
        stale: (d) => `The broker has been silent for ${d}: the figures may be out of date`,
        gone: "The dashboard cannot be reached: these are the last figures it sent",
        more: (n) => `and ${n} more`, page: (i, n) => `page ${i} of ${n}`,
        times: (x) => `${x}× the mean`, units: [["day", "days"], ["hour", "hours"],
        ["minute", "minutes"], ["second", "seconds"]], and: " and ", report: "weekly report", dot: " · ",
        against: (n, m) => `${n} against ${m}`, trend: "On time, 8 weeks",
        h_trend: "answered on time in the province, last 8 weeks", week_of: (d) => `week of ${d}`,
        },
};

const params = new URLSearchParams(location.search);
let lang = params.get("lang") === "en" || params.get("lang") === "fa" ? params.get("lang")
  : localStorage.getItem("miz-lang") === "en" ? "en" : "fa";
const tv = params.get("tv") === "1";
const OVERDUE_CAP = 10;     // rows of the overdue list on a page (or a TV page)
const TV_PAGE_MS = 10000;   // how long a TV page of the overdue list stays
let figures = null, gone = false, tvPage = 0;

const locale = () => (lang === "fa" ? "fa-IR-u-ca-persian" : "en-GB-u-ca-persian");
const num = (v, frac = 0) =>
  new Intl.NumberFormat(locale(), { maximumFractionDigits: frac, minimumFractionDigits: frac }).format(v);
const pct = (v) => (lang === "fa" ? `${num(v, 1)}٪` : `${num(v, 1)}%`);
const pct0 = (v) => (lang === "fa" ? `${num(v)}٪` : `${num(v)}%`); // a scale's whole percent
const date = (ms, opts) => new Intl.DateTimeFormat(locale(), { timeZone: "Asia/Tehran", ...opts })
  .format(new Date(ms));
const dayName = (ms) => date(ms, { weekday: "short", day: "numeric", month: "short" });

// A duration as people say it: its two largest units ("۲ روز و ۳ ساعت").
function words(ms) {
  const t = TEXT[lang];
  const parts = [86400000, 3600000, 60000, 1000].map((u, i, all) =>
    Math.floor((i ? ms % all[i - 1] : ms) / u));
  const first = parts.findIndex((v) => v > 0);
  if (first < 0) return lang === "fa" ? `${num(0)} ثانیه` : "0 seconds";
  const say = (i) => {
    const v = parts[i], u = t.units[i];
    return `${num(v)} ${lang === "fa" ? u : u[v === 1 ? 0 : 1]}`;
  };
  return first < 3 && parts[first + 1] ? say(first) + t.and + say(first + 1) : say(first);
}

// "۱۵ تا ۲۱ آذر ۱۴۰۵": the week's Saturday to its Friday
function weekSpan(days) {
  const t = TEXT[lang], first = days[0], last = days[days.length - 1];
  const sameMonth = date(first, { month: "long" }) === date(last, { month: "long" });
  return `${date(first, sameMonth ? { day: "numeric" } : { day: "numeric", month: "long" })} ${t.to} ` +
    date(last, { day: "numeric", month: "long", year: "numeric" });
}

const onTimeClass = (p) => (p === null ? "" : p >= 90 ? "good" : p >= 75 ? "warn" : "bad");

function cell(tr, text, cls, raw, label) {
  const td = tr.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  if (raw !== undefined) td.dataset.v = raw;
  if (label) td.dataset.label = label;
  return td;
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(name, attrs, parent, title) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (title) {
    const t = document.createElementNS(SVG, "title");
    t.textContent = title;
    e.appendChild(t);
  }
  if (parent) parent.appendChild(e);
  return e;
}

const BAR = 14, CH = 36, AXIS = 22; // bar pitch, chart height, room for the scale
// The week's daily volume on a scale shared by every agency (max), with
// the 4-week mean dashed and the scale's top written beside; today's bar
// is red when it is more than twice the mean.
function volumeChart(a, days, today, max) {
  const W = 7 * BAR + AXIS, s = svgEl("svg", { width: W, height: CH + 2, viewBox: `0 0 ${W} ${CH + 2}` },
    null, `${TEXT[lang].volume_chart}: ${a.volume.map((v) => num(v)).join("، ")}`);
  const x0 = lang === "fa" ? 0 : AXIS; // the scale on the reading end
  a.volume.forEach((v, i) => {
    const x = lang === "fa" ? x0 + (6 - i) * BAR : x0 + i * BAR, h = (v / max) * CH;
    const cls = i === today ? (a.volume_avg28 && v > 2 * a.volume_avg28 ? "v today surge" : "v today") : "v";
    svgEl("rect", { class: cls, x: x + 2, y: CH - h, width: BAR - 4, height: Math.max(h, 0) }, s,
          `${dayName(days[i])}: ${num(v)}`);
  });
  const y = CH - (a.volume_avg28 / max) * CH;
  svgEl("line", { class: "avg", x1: x0, x2: x0 + 7 * BAR, y1: y, y2: y }, s);
  svgEl("line", { class: "axis", x1: x0, x2: x0 + 7 * BAR, y1: CH, y2: CH }, s);
  const tx = lang === "fa" ? 7 * BAR + 2 : AXIS - 2;
  svgEl("text", { x: tx, y: 8, "text-anchor": "end", direction: "ltr" }, s).textContent = num(max);
  svgEl("text", { x: tx, y: CH, "text-anchor": "end" }, s).textContent = num(0);
  return s;
}

// Per day: the on-time share in green over the missed share in red, on a
// scale of 0 to 100%.
function onTimeChart(a, days) {
  const W = 7 * BAR + AXIS, s = svgEl("svg", { width: W, height: CH + 2, viewBox: `0 0 ${W} ${CH + 2}` },
    null, TEXT[lang].on_time_chart);
  const x0 = lang === "fa" ? 0 : AXIS;
  a.on_time_day.forEach((ok, i) => {
    const n = ok + a.missed_day[i];
    if (!n) return;
    const x = (lang === "fa" ? x0 + (6 - i) * BAR : x0 + i * BAR) + 2, h = (ok / n) * CH;
    const label = `${dayName(days[i])}: ${pct((100 * ok) / n)}`;
    svgEl("rect", { class: "ok", x, y: CH - h, width: BAR - 4, height: h }, s, label);
    svgEl("rect", { class: "miss", x, y: 0, width: BAR - 4, height: CH - h }, s, label);
  });
  svgEl("line", { class: "axis", x1: x0, x2: x0 + 7 * BAR, y1: CH, y2: CH }, s);
  const tx = lang === "fa" ? 7 * BAR + 2 : AXIS - 2;
  svgEl("text", { x: tx, y: 8, "text-anchor": "end" }, s).textContent = pct0(100);
  return s;
}

// The on-time share of each of the last 8 weeks (this one last), in
// green over the missed share in red, on a scale of 0 to 100%; a week
// with nothing answered or missed has no bar.
function trendChart(a, starts) {
  const n = starts.length, W = n * BAR + AXIS;
  const s = svgEl("svg", { width: W, height: CH + 2, viewBox: `0 0 ${W} ${CH + 2}` }, null, TEXT[lang].trend);
  const x0 = lang === "fa" ? 0 : AXIS;
  a.trend_on_time.forEach((ok, i) => {
    const all = ok + a.trend_missed[i];
    if (!all) return;
    const x = (lang === "fa" ? x0 + (n - 1 - i) * BAR : x0 + i * BAR) + 2, h = (ok / all) * CH;
    const label = `${TEXT[lang].week_of(date(starts[i], { day: "numeric", month: "short" }))}: ${pct((100 * ok) / all)}`;
    svgEl("rect", { class: "ok", x, y: CH - h, width: BAR - 4, height: h }, s, label);
    svgEl("rect", { class: "miss", x, y: 0, width: BAR - 4, height: CH - h }, s, label);
  });
  svgEl("line", { class: "axis", x1: x0, x2: x0 + n * BAR, y1: CH, y2: CH }, s);
  const tx = lang === "fa" ? n * BAR + 2 : AXIS - 2;
  svgEl("text", { x: tx, y: 8, "text-anchor": "end" }, s).textContent = pct0(100);
  return s;
}

// The province's on-time rate per week, a line on axes: 0, 50 and 100% up
// the side, the weeks' Saturdays along the bottom (the oldest and this
// one), earliest at the reading start.
function provinceTrend(f) {
  const n = f.trend_starts.length, W = 320, H = 64, L = 34, B = 14, step = (W - L - 8) / (n - 1);
  const s = svgEl("svg", { viewBox: `0 0 ${W} ${H + B}`, class: "trend" }, null, TEXT[lang].h_trend);
  const fa = lang === "fa", xs = (i) => (fa ? W - L - i * step : L + i * step);
  const plotStart = fa ? 8 : L, plotEnd = fa ? W - L : W - 8;
  for (const v of [0, 50, 100]) {
    const y = H - (v / 100) * (H - 6);
    svgEl("line", { class: v ? "grid" : "axis", x1: plotStart, x2: plotEnd, y1: y, y2: y }, s);
    svgEl("text", { x: fa ? W - L + 4 : L - 4, y: y + 3, "text-anchor": fa ? "start" : "end",
                    direction: "ltr" }, s).textContent = pct0(v);
  }
  const rate = [];
  for (let i = 0; i < n; i++) {
    const ok = f.agencies.reduce((t, a) => t + a.trend_on_time[i], 0);
    const all = ok + f.agencies.reduce((t, a) => t + a.trend_missed[i], 0);
    rate.push(all ? (100 * ok) / all : null);
  }
  const pts = rate.map((r, i) => (r === null ? null : [xs(i), H - (r / 100) * (H - 6)]));
  const line = pts.filter(Boolean).map((p) => p.join(",")).join(" ");
  if (line) svgEl("polyline", { class: "trend", points: line }, s);
  pts.forEach((p, i) => {
    if (!p) return;
    svgEl("circle", { class: `dot ${onTimeClass(rate[i])}`, cx: p[0], cy: p[1], r: 3 }, s,
          `${TEXT[lang].week_of(date(f.trend_starts[i], { day: "numeric", month: "short" }))}: ${pct(rate[i])}`);
  });
  for (const i of [0, n - 1])
    svgEl("text", { x: xs(i), y: H + B - 2, "text-anchor": "middle" }, s).textContent =
      date(f.trend_starts[i], { day: "numeric", month: "short" });
  s.dataset.rates = rate.map((r) => (r === null ? "" : r.toFixed(1))).join(",");
  return s;
}

// Worst first: most overdue, then the lowest on-time rate, then most open.
function ranked(agencies) {
  const rate = (a) => (a.on_time_pct === null ? 101 : a.on_time_pct);
  return [...agencies].sort((x, y) => y.overdue - x.overdue || rate(x) - rate(y) || y.open - x.open);
}

// The overdue list with each request once: its first overdue delivery
// (the oldest), and the agencies it has been escalated to.
function cases(overdue, now) {
  const byTracking = new Map();
  for (const c0 of overdue) {
    const c = { ...c0, overdue_ms: Math.max(0, now - c0.answer_by) };
    const k = byTracking.get(c.tracking);
    if (!k) byTracking.set(c.tracking, { ...c, chain: c.escalated_to ? [c.escalated_to] : [] });
    else if (c.agency !== k.agency && !k.chain.includes(c.agency)) k.chain.push(c.agency);
  }
  return [...byTracking.values()].sort((x, y) => y.overdue_ms - x.overdue_ms || x.tracking - y.tracking);
}

function tile(id, value, raw, cls) {
  const e = document.getElementById(id);
  e.querySelector(".v").textContent = value;
  e.dataset.v = raw;
  e.className = `tile ${cls || ""}`;
}

function renderHeadline(f) {
  const sum = (k) => f.agencies.reduce((s, a) => s + a[k], 0);
  const open = sum("open"), overdue = sum("overdue"), ok = sum("on_time"), missed = sum("missed");
  const rate = ok + missed ? (1000 * ok / (ok + missed) | 0) / 10 : null;
  tile("h-open", num(open), open);
  tile("h-overdue", num(overdue), overdue, overdue ? "bad" : "good");
  tile("h-on-time", rate === null ? "–" : pct(rate), rate === null ? "" : rate, onTimeClass(rate));
  const oldest = f.overdue.reduce((m, c) => Math.max(m, f.now - c.answer_by), 0);
  tile("h-oldest", oldest ? words(oldest) : TEXT[lang].none, oldest, oldest ? "bad" : "good");
  document.querySelector("#h-trend .v").replaceChildren(provinceTrend(f));
}

function renderAgencies(f) {
  const t = TEXT[lang], body = document.querySelector("#agencies tbody");
  const max = Math.max(1, ...f.agencies.flatMap((a) => [...a.volume, a.volume_avg28]));
  body.replaceChildren();
  for (const a of ranked(f.agencies)) {
    const tr = body.insertRow();
    tr.dataset.agency = a.id;
    const name = cell(tr, "", "name");
    const link = document.createElement("a");
    link.href = `report?week=${encodeURIComponent(f.week)}&agency=${encodeURIComponent(a.id)}`;
    link.title = t.report;
    link.textContent = lang === "fa" ? a.name_fa : a.name_en;
    name.appendChild(link);
    cell(tr, num(a.open), "num open", a.open, t.open);
    cell(tr, num(a.overdue), a.overdue ? "num overdue bad" : "num overdue", a.overdue, t.overdue);
    cell(tr, a.on_time_pct === null ? "–" : pct(a.on_time_pct),
         `num on-time ${onTimeClass(a.on_time_pct)}`, a.on_time_pct === null ? "" : a.on_time_pct, t.on_time);
    cell(tr, a.answered ? words(a.answer_p50_ms) : "–", "num answer", a.answered, t.answer);
    cell(tr, a.acked ? words(a.ack_p50_ms) : "–", "num ack", a.acked, t.ack);
    cell(tr, num(a.escalations), "num escalations", a.escalations, t.escalations);
    cell(tr, num(a.refusals), "num refusals", a.refusals, t.refusals);
    const today = f.today >= 0 && f.today < a.volume.length ? a.volume[f.today] : 0;
    const surge = a.volume_avg28 > 0 && today > 2 * a.volume_avg28;
    const vol = cell(tr, t.against(num(today), num(a.volume_avg28, 1)),
                     surge ? "num volume surge" : "num volume", today, t.today);
    if (surge) vol.textContent += ` (${t.times(num(today / a.volume_avg28, 1))})`;
    cell(tr, "", "chart").appendChild(volumeChart(a, f.day_starts, f.today, max));
    cell(tr, "", "chart").appendChild(onTimeChart(a, f.day_starts));
    cell(tr, "", "chart trend").appendChild(trendChart(a, f.trend_starts));
  }
}

function renderOverdue(f) {
  const t = TEXT[lang], od = document.querySelector("#overdue tbody");
  const names = new Map(f.agencies.map((a) => [a.id, lang === "fa" ? a.name_fa : a.name_en]));
  const all = cases(f.overdue, f.now), pages = Math.max(1, Math.ceil(all.length / OVERDUE_CAP));
  const page = tv ? tvPage % pages : 0;
  const shown = all.slice(page * OVERDUE_CAP, (page + 1) * OVERDUE_CAP);
  od.replaceChildren();
  if (!all.length) cell(od.insertRow(), t.none).colSpan = 5;
  for (const c of shown) {
    const tr = od.insertRow();
    tr.dataset.tracking = c.tracking;
    cell(tr, num(c.tracking), "num", c.tracking, t.tracking);
    cell(tr, names.get(c.agency) || c.agency, "", c.agency, t.agency);
    cell(tr, c.chain.map((id) => names.get(id) || id).join("، ") || "–", "", c.chain.join(","), t.escalated_to);
    // the topic by its name from the routing table, in the page's language
    // (or the other one), its code beside for whoever must look it up
    const named = (lang === "fa" ? c.topic_fa || c.topic_en : c.topic_en || c.topic_fa) || "";
    const topic = cell(tr, named || c.topic, named ? "topic" : "code", c.topic, t.topic);
    topic.title = c.topic;
    if (!named) topic.dir = "ltr";
    cell(tr, words(c.overdue_ms), "bad", c.overdue_ms, t.late_by);
  }
  const more = document.getElementById("more");
  more.textContent = !tv && all.length > OVERDUE_CAP ? t.more(num(all.length - OVERDUE_CAP)) : "";
  more.dataset.v = tv ? 0 : Math.max(0, all.length - OVERDUE_CAP);
  document.getElementById("page").textContent = tv && pages > 1 ? t.page(num(page + 1), num(pages)) : "";
}

function render() {
  const t = TEXT[lang];
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "fa" ? "rtl" : "ltr";
  document.body.classList.toggle("tv", tv);
  document.title = t.title;
  document.querySelectorAll("[data-t]").forEach((e) => (e.textContent = t[e.dataset.t]));
  document.getElementById("lang").textContent = t.toggle;
  if (!figures) return;
  const f = figures;
  document.getElementById("status").textContent =
    `${t.week} ${weekSpan(f.day_starts)}${t.dot}${t.updated} ${date(f.now, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })}`;
  const banner = document.getElementById("banner");
  const warn = gone ? t.gone : f.stale ? t.stale(words(f.silent_ms)) : !f.synced ? t.resync : "";
  banner.hidden = !warn;
  banner.textContent = warn;
  banner.className = !gone && !f.stale && !f.synced ? "resync" : "";
  document.body.dataset.stale = f.stale || gone ? "1" : "0";
  renderHeadline(f);
  renderAgencies(f);
  renderOverdue(f);
}

function take(f) {
  figures = f;
  gone = false;
  render();
  document.body.dataset.updates = Number(document.body.dataset.updates) + 1;
}

// A live update with only what changed since the last one (live.c): the
// head's fields, the agencies' ids in order, the agencies whose figures
// changed and the overdue list if it did. The stream sends the whole
// figures first, so there is always something to patch.
function patch(p) {
  if (!figures) return;
  const f = { ...figures, ...p.head };
  const by = new Map(figures.agencies.map((a) => [a.id, a]));
  for (const a of p.agencies) by.set(a.id, a);
  f.agencies = p.head.ids.filter((id) => by.has(id)).map((id) => by.get(id));
  if (p.overdue) f.overdue = p.overdue;
  document.body.dataset.patches = Number(document.body.dataset.patches || 0) + 1;
  take(f);
}

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "fa" ? "en" : "fa";
  localStorage.setItem("miz-lang", lang);
  params.set("lang", lang);
  history.replaceState(null, "", `?${params}`);
  render();
});

if (tv)
  setInterval(() => { tvPage++; if (figures) renderOverdue(figures); }, TV_PAGE_MS);
render();
// Once the stream has sent figures, an answer of api/figures that comes
// later may be older: the stream's are kept, and its patches apply to them.
let streamed = false;
fetch("api/figures").then((r) => r.json()).then((f) => { if (!streamed) take(f); });
// EventSource reconnects by itself when the dashboard restarts. A page
// left (or kept in the back-forward cache) closes its stream: it would
// otherwise hold one of the browser's few connections to the dashboard.
let events = null;
function follow() {
  events = new EventSource("events");
  events.addEventListener("figures", (e) => { streamed = true; take(JSON.parse(e.data)); });
  events.addEventListener("patch", (e) => patch(JSON.parse(e.data)));
  events.addEventListener("error", () => { gone = true; if (figures) render(); });
}
addEventListener("pagehide", () => events.close());
addEventListener("pageshow", (e) => { if (e.persisted) follow(); });
follow();
