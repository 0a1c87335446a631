// Report page: attendance table and three charts from /report and /report/timeline (Chart.js, served locally).
import {api, clock, esc, header, say, showStatus} from "/static/app.js";

header();
showStatus();
const form = document.getElementById("filters");
const message = document.getElementById("message");
const personSelect = document.getElementById("person");
const COLORS = {angry: "#e0533d", disgust: "#7a9a3a", fear: "#9b59b6", happy: "#f1c40f", sad: "#3498db", surprise: "#e67e22", neutral: "#95a5a6", uncertain: "#555"};
const PALETTE = ["#7d7", "#fa5", "#5bf", "#f6c", "#dd5", "#5dd", "#c9f", "#f88"];
Chart.defaults.color = "#ccc";
Chart.defaults.borderColor = "#333";
Chart.defaults.animation = false;  // charts are drawn once per query: no animation to wait for
const charts = {};
let timeline = null;

function params(extra = {}) {
  const q = new URLSearchParams(extra);
  for (const k of ["since", "until"]) if (form[k].value) q.set(k, new Date(form[k].value).toISOString());
  if (form.camera.value.trim()) q.set("camera", form.camera.value.trim());
  return q;
}
function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(document.getElementById(id), config);
}
const label = name => name === "strangers" || name === null ? "strangers" : name;
const duration = s => s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`;
const shortTime = iso => iso.replace("T", " ").slice(5, 16);

async function load() {
  try {
    const [report, tl] = await Promise.all([api(`/report?${params()}`), api(`/report/timeline?${params({bucket_s: form.bucket_s.value})}`)]);
    timeline = tl;
    document.getElementById("csv").href = `/report?${params({format: "csv"})}`;
    document.getElementById("rows").innerHTML = report.people.map(p => `<tr><td class="${p.person ? "known" : "unknown"}">${esc(label(p.person))}</td>
      <td>${p.visits}</td><td>${duration(p.time_seen_s)}</td><td class="t">${clock(p.first_seen)}</td><td class="t">${clock(p.last_seen)}</td>
      <td>${Object.entries(p.emotion_shares).filter(([, v]) => v > 0).map(([k, v]) => `${esc(k)} ${Math.round(v * 100)}%`).join(", ")}</td></tr>`).join("")
      || `<tr><td colspan="6">no visit ended in this window</td></tr>`;
    const names = Object.keys(tl.presence);
    draw("presence", {type: "bar", data: {labels: tl.buckets.map(shortTime),
      datasets: names.map((n, i) => ({label: n, data: tl.presence[n].map(s => +(s / 60).toFixed(2)), backgroundColor: PALETTE[i % PALETTE.length]}))},
      options: {scales: {x: {stacked: true}, y: {stacked: true, title: {display: true, text: "minutes seen"}}}}});
    const emotions = [...new Set(report.people.flatMap(p => Object.keys(p.emotion_shares)))];
    draw("shares", {type: "bar", data: {labels: report.people.map(p => label(p.person)),
      datasets: emotions.map(e => ({label: e, data: report.people.map(p => Math.round(100 * (p.emotion_shares[e] || 0))), backgroundColor: COLORS[e] || "#888"}))},
      options: {indexAxis: "y", scales: {x: {stacked: true, max: 100, title: {display: true, text: "% of time seen"}}, y: {stacked: true}}}});
    const keep = personSelect.value;
    personSelect.innerHTML = names.map(n => `<option>${esc(n)}</option>`).join("");
    if (names.includes(keep)) personSelect.value = keep;
    drawTimeline();
    say(message, `${report.people.length} rows, ${tl.buckets.length} periods`, true);
  } catch (e) { say(message, e.message); }
}
function drawTimeline() {
  const person = personSelect.value;
  const series = (timeline && timeline.emotions[person]) || {};
  draw("timeline", {type: "line", data: {labels: timeline ? timeline.buckets.map(shortTime) : [],
    datasets: Object.entries(series).map(([e, v]) => ({label: e, data: v.map(s => +(s / 60).toFixed(2)), borderColor: COLORS[e] || "#888", backgroundColor: COLORS[e] || "#888"}))},
    options: {scales: {y: {title: {display: true, text: "minutes"}}}}});
}
personSelect.addEventListener("change", drawTimeline);
form.addEventListener("submit", e => { e.preventDefault(); load(); });
document.body.addEventListener("click", e => {
  const id = e.target.dataset.png;
  if (!id || !charts[id]) return;
  e.preventDefault();
  const a = document.createElement("a");
  a.href = charts[id].toBase64Image("image/png", 1);
  a.download = `${id}.png`;
  a.click();
});
load();
