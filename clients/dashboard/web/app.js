// The governor's office dashboard: the figures of /api/figures, kept live
// by the server-sent events of /events. Numbers and dates are formatted
// here, with Intl, in Persian (Persian digits, Jalali calendar) or English
// (the same Jalali dates, in English), always on Tehran time.
"use strict";

const TEXT = {
  fa: { title: "پاسخگویی دستگاه‌ها به درخواست‌های مردم", agencies: "دستگاه‌ها", agency: "دستگاه",
        open: "باز", overdue: "معوق", on_time: "به موقع", ack: "زمان تأیید (میانه / ۹۰٪)",
        answer: "زمان پاسخ (میانه / ۹۰٪)", escalations: "ارجاع", refusals: "عدم پذیرش",
        today: "امروز / میانگین ۴ هفته", volume_chart: "حجم روزانه", on_time_chart: "نرخ به موقع",
        overdue_list: "موارد معوق، قدیمی‌ترین اول", tracking: "شمارهٔ پیگیری", topic: "موضوع",
        role: "نقش", answer_by: "مهلت پاسخ", late_by: "تأخیر", week: "هفتهٔ", updated: "به‌روزرسانی",
        stale: "در حال همگام‌سازی با کارگزار…", none: "موردی نیست", toggle: "English",
        target: "اصلی", escalation: "ارجاعی" },
  en: { title: "Agencies' responsiveness to citizens' requests", agencies: "Agencies", agency: "Agency",
        open: "Open", overdue: "Overdue", on_time: "On time", ack: "Time to ack (median / 90%)",
        answer: "Time to answer (median / 90%)", escalations: "Escalations", refusals: "Refusals",
        today: "Today / 4-week mean", volume_chart: "Volume per day", on_time_chart: "On-time rate",
        overdue_list: "Overdue cases, oldest first", tracking: "Tracking", topic: "Topic",
        role: "Role", answer_by: "Answer by", late_by: "Late by", week: "Week", updated: "updated",
        stale: "resynchronising with the broker…", none: "none", toggle: "فارسی",
        target: "target", escalation: "escalation" },
};

let lang = localStorage.getItem("miz-lang") === "en" ? "en" : "fa";
let figures = null;

const locale = () => (lang === "fa" ? "fa-IR-u-ca-persian" : "en-GB-u-ca-persian");
const num = (v, frac = 0) =>
  new Intl.NumberFormat(locale(), { maximumFractionDigits: frac }).format(v);
const when = (ms) => new Intl.DateTimeFormat(locale(), {
  timeZone: "Asia/Tehran", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(ms));
const dayName = (ms) => new Intl.DateTimeFormat(locale(), {
  timeZone: "Asia/Tehran", weekday: "short", day: "numeric", month: "short" }).format(new Date(ms));

// ASCII digits as Persian ones, in Persian
const digits = (text) => (lang === "fa" ? text.replace(/\d/g, (d) => "۰۱۲۳۴۵۶۷۸۹"[d]) : text);

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return digits(`${Math.floor(s / 3600)}:${mm}:${ss}`);
}

function cell(tr, text, cls, raw) {
  const td = tr.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  if (raw !== undefined) td.dataset.v = raw;
  return td;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(w, h, title) {
  const s = document.createElementNS(SVG, "svg");
  s.setAttribute("width", w);
  s.setAttribute("height", h);
  s.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const t = document.createElementNS(SVG, "title");
  t.textContent = title;
  s.appendChild(t);
  return s;
}
function rect(s, cls, x, y, w, h, title) {
  const r = document.createElementNS(SVG, "rect");
  for (const [k, v] of Object.entries({ class: cls, x, y, width: w, height: Math.max(h, 0) }))
    r.setAttribute(k, v);
  const t = document.createElementNS(SVG, "title");
  t.textContent = title;
  r.appendChild(t);
  s.appendChild(r);
}

// Bars of the week's daily volume with the 4-week mean as a dashed line;
// right to left in Persian, as the week reads.
function volumeChart(a, days) {
  const W = 7 * 12, H = 28, max = Math.max(1, a.volume_avg28, ...a.volume);
  const s = svg(W, H, `${TEXT[lang].volume_chart}: ${a.volume.map((v) => num(v)).join(" ")}`);
  a.volume.forEach((v, i) => {
    const x = lang === "fa" ? W - (i + 1) * 12 : i * 12;
    rect(s, "v", x + 2, H - (v / max) * H, 8, (v / max) * H, `${dayName(days[i])}: ${num(v)}`);
  });
  const y = H - (a.volume_avg28 / max) * H;
  const line = document.createElementNS(SVG, "line");
  for (const [k, v] of Object.entries({ class: "avg", x1: 0, x2: W, y1: y, y2: y }))
    line.setAttribute(k, v);
  s.appendChild(line);
  return s;
}

// Per day: the on-time share in green over the missed share in red.
function onTimeChart(a, days) {
  const W = 7 * 12, H = 28;
  const s = svg(W, H, TEXT[lang].on_time_chart);
  a.on_time_day.forEach((ok, i) => {
    const n = ok + a.missed_day[i];
    if (!n) return;
    const x = (lang === "fa" ? W - (i + 1) * 12 : i * 12) + 2, h = (ok / n) * H;
    const label = `${dayName(days[i])}: ${num((100 * ok) / n)}٪`;
    rect(s, "ok", x, H - h, 8, h, label);
    rect(s, "miss", x, 0, 8, H - h, label);
  });
  return s;
}

function render() {
  const t = TEXT[lang];
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "fa" ? "rtl" : "ltr";
  document.title = t.title;
  document.querySelectorAll("[data-t]").forEach((e) => (e.textContent = t[e.dataset.t]));
  document.getElementById("lang").textContent = t.toggle;
  if (!figures) return;
  const f = figures;
  const status = document.getElementById("status");
  status.textContent = f.synced
    ? `${t.week} \u2066${digits(f.week)}\u2069 · ${t.updated} ${when(f.now)}` // the week left to right
    : t.stale;
  status.className = f.synced ? "" : "stale";

  const body = document.querySelector("#agencies tbody");
  body.replaceChildren();
  for (const a of f.agencies) {
    const tr = body.insertRow();
    tr.dataset.agency = a.id;
    cell(tr, lang === "fa" ? a.name_fa : a.name_en, "name");
    cell(tr, num(a.open), "num open", a.open);
    cell(tr, num(a.overdue), a.overdue ? "num overdue bad" : "num overdue", a.overdue);
    cell(tr, a.on_time_pct === null ? "–" : `${num(a.on_time_pct, 1)}٪`, "num on-time",
         a.on_time_pct === null ? "" : a.on_time_pct);
    cell(tr, a.acked ? `${duration(a.ack_p50_ms)} / ${duration(a.ack_p90_ms)}` : "–", "num ack");
    cell(tr, a.answered ? `${duration(a.answer_p50_ms)} / ${duration(a.answer_p90_ms)}` : "–",
         "num answer", a.answered);
    cell(tr, num(a.escalations), "num escalations", a.escalations);
    cell(tr, num(a.refusals), "num refusals", a.refusals);
    const today = f.today >= 0 && f.today < a.volume.length ? a.volume[f.today] : 0;
    cell(tr, `${num(today)} / ${num(a.volume_avg28, 1)}`, "num volume", today);
    cell(tr, "").appendChild(volumeChart(a, f.day_starts));
    cell(tr, "").appendChild(onTimeChart(a, f.day_starts));
  }

  const od = document.querySelector("#overdue tbody");
  od.replaceChildren();
  if (!f.overdue.length) cell(od.insertRow(), t.none).colSpan = 6;
  for (const c of f.overdue) {
    const tr = od.insertRow();
    tr.dataset.tracking = c.tracking;
    cell(tr, num(c.tracking), "num");
    cell(tr, lang === "fa" ? c.name_fa : c.name_en);
    cell(tr, c.topic).dir = "ltr";
    cell(tr, t[c.role] || c.role);
    cell(tr, when(c.answer_by));
    cell(tr, duration(c.overdue_ms), "num bad");
  }
}

function take(f) {
  figures = f;
  render();
  document.body.dataset.updates = Number(document.body.dataset.updates) + 1;
}

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "fa" ? "en" : "fa";
  localStorage.setItem("miz-lang", lang);
  render();
});

render();
fetch("api/figures").then((r) => r.json()).then(take);
// EventSource reconnects by itself when the dashboard restarts.
new EventSource("events").addEventListener("figures", (e) => take(JSON.parse(e.data)));
