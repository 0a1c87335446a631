// Events page: filters, cursor paging (oldest first from "since"), live updates over SSE, name a visitor,
// find a face's visits (from a photo or an event), say an event's face is not who it was shown as.
import {api, clock, emo, esc, header, nameVisitor, say, showStatus, who} from "/static/app.js";

header();
showStatus();
const form = document.getElementById("filters");
const rows = document.getElementById("rows");
const more = document.getElementById("more");
const message = document.getElementById("message");
let cursor = 0, shown = 0, live = null, generation = 0;

// A day back by default, so a long log does not start at its first event.
const dayAgo = new Date(Date.now() - 86400e3);
form.since.value = new Date(dayAgo.getTime() - dayAgo.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);

const iso = local => local ? new Date(local).toISOString() : "";
function query(after) {
  const q = new URLSearchParams({after, limit: 50});
  for (const k of ["identity", "type", "emotion", "camera"]) if (form[k].value.trim()) q.set(k, form[k].value.trim());
  if (form.since.value) q.set("since", iso(form.since.value));
  if (form.until.value) q.set("until", iso(form.until.value));
  return q;
}
function wanted(ev) {  // "who" is not a server filter: visitors are events without a name
  const named = !!(ev.identity && ev.identity.name);
  return form.who.value === "" || (form.who.value === "known") === named;
}
function row(ev) {
  const tr = document.createElement("tr");
  const thumb = `<img class="thumb" loading="lazy" src="/events/${ev.seq}/thumbnail.jpg" alt="face of track ${ev.track_id}" onerror="this.style.visibility='hidden'">`;
  const name = ev.identity && ev.identity.name ? "" : `<button data-seq="${ev.seq}">name…</button>`;
  const find = `<button data-find="${ev.seq}">visits</button>`;
  const label = (ev.data && ev.data.label) || "";
  const not = label ? `<button data-not="${ev.seq}" data-label="${esc(label)}">not ${esc(label)}</button>` : "";
  tr.innerHTML = `<td>${thumb}</td><td class="t">${clock(ev.time)}</td><td>${esc(ev.type)}</td><td>#${ev.track_id}</td><td>${who(ev)}</td><td>${emo(ev.emotion)}</td><td>${esc(ev.camera)}</td><td>${name} ${find} ${not}</td>`;
  return tr;
}
async function load(reset) {
  // A new search stops the old live feed first and ignores answers to older searches: otherwise
  // events that match the old filters land in the new list while the new page is on its way.
  if (reset) {
    if (live) { live.close(); live = null; }
    rows.innerHTML = ""; cursor = 0; shown = 0;
  }
  const mine = reset ? ++generation : generation;
  try {
    const j = await api(`/events?${query(cursor)}`);
    if (mine !== generation) return;
    j.events.filter(wanted).forEach(ev => { rows.append(row(ev)); shown++; });
    cursor = j.next;
    more.hidden = j.events.length < 50;
    document.getElementById("count").textContent = `${shown} events`;
    say(message, "", true);
    if (reset) follow(j.last_seq);
  } catch (e) { say(message, e.message); }
}
function follow(after) {  // new events that match the filters appear at the end as they happen
  if (live) live.close();
  if (form.until.value) return;
  live = new EventSource(`/events/stream?after=${after}`);
  const filters = query(0);
  const add = m => {
    const ev = JSON.parse(m.data);
    if (!wanted(ev)) return;
    if (filters.get("identity") && (ev.identity || {}).name !== filters.get("identity")) return;
    if (filters.get("type") && ev.type !== filters.get("type")) return;
    if (filters.get("emotion") && (ev.emotion || {}).label !== filters.get("emotion")) return;
    if (filters.get("camera") && ev.camera !== filters.get("camera")) return;
    if (more.hidden) { rows.append(row(ev)); shown++; cursor = ev.seq; document.getElementById("count").textContent = `${shown} events`; }
  };
  for (const t of ["face.appeared", "identity.changed", "emotion.changed", "face.left"]) live.addEventListener(t, add);
}
form.addEventListener("submit", e => { e.preventDefault(); load(true); });
more.addEventListener("click", () => load(false));
rows.addEventListener("click", async e => {
  const {seq, find, not, label} = e.target.dataset;
  if (seq) nameVisitor(`/events/${seq}/enroll`, "Who is this? (enrolls the best faces of this visit)", message);
  if (find) showMatches(api(`/events/${find}/search`, {method: "POST"}), `the face of event ${find}`);
  if (not && confirm(`This face is not ${label}: stop it from matching ${label}?`)) {
    try {
      const r = await api(`/events/${not}/not-this-person`, {method: "POST"});
      say(message, `${r.faces_stored} face(s) of this visit will no longer match ${r.not}`, true);
    } catch (err) { say(message, err.message); }
  }
});

// Who a face is and when they were here: the people and visitors it resembles, each with their visits.
const found = document.getElementById("found");
async function showMatches(answer, what) {
  try {
    const r = await answer;
    document.getElementById("found-title").textContent = r.matches.length ? `Visits of ${what}` : `Nobody known looks like ${what}`;
    document.getElementById("matches").innerHTML = r.matches.map(m => `<tr><td><b>${esc(m.label)}</b> (${esc(m.kind)}, ${m.similarity.toFixed(3)})</td><td>${
      m.visits.map(v => `<figure class="visit"><img class="thumb" loading="lazy" src="${esc(v.thumbnail)}" alt="visit ${v.seq}" onerror="this.style.visibility='hidden'"><figcaption class="t">${clock(v.time)} · ${v.duration_s ?? "?"} s</figcaption></figure>`).join("") || "no visit stored"
    }</td></tr>`).join("");
    found.hidden = false;
    say(message, "", true);
  } catch (err) { say(message, err.message); }
}
const search = document.getElementById("search");
search.addEventListener("submit", e => {
  e.preventDefault();
  const body = new FormData();
  body.set("file", search.file.files[0]);
  showMatches(api("/search", {method: "POST", body}), search.file.files[0].name);
});
load(true);
