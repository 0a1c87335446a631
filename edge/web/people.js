// People page: enrolled people with their faces; enroll from photos; name a visitor; rename; delete.
import {api, clock, esc, header, nameVisitor, say, showStatus, who} from "/static/app.js";

header();
showStatus();
const people = document.getElementById("people");
const message = document.getElementById("message");
const path = name => `/identities/${encodeURIComponent(name)}`;

async function refresh() {
  try {
    const j = await api("/identities");
    const details = await Promise.all(j.identities.map(p => api(path(p.name))));
    people.innerHTML = details.map(p => `<tr data-name="${esc(p.name)}"><td class="known">${esc(p.name)}</td>
      <td>${p.face_ids.map(id => `<img class="face" loading="lazy" alt="${esc(p.name)}" src="${path(p.name)}/faces/${id}.jpg">`).join("")}</td>
      <td class="t">${clock(p.created)}</td>
      <td><button data-act="rename">rename…</button> <button data-act="delete">delete</button></td></tr>`).join("")
      || `<tr><td colspan="4">nobody yet: enroll someone from photos, or name a visitor</td></tr>`;
  } catch (e) { say(message, e.message); }
}

people.addEventListener("click", async e => {
  const act = e.target.dataset.act;
  const name = e.target.closest("tr") && e.target.closest("tr").dataset.name;
  if (!act || !name) return;
  try {
    if (act === "rename") {
      const to = prompt(`New name for ${name}:`, name);
      if (!to || to === name) return;
      await api(path(name), {method: "PATCH", headers: {"Content-Type": "application/json"}, body: JSON.stringify({name: to})});
      say(message, `${name} is now ${to}`, true);
    } else if (confirm(`Delete ${name}, their enrolled faces, the kept faces of their visits, and their name in past events?`)) {
      const r = await api(`${path(name)}?redact_events=true`, {method: "DELETE"});
      say(message, `deleted ${name}: ${r.faces_removed} faces, ${r.crops_removed} kept crops, name removed from ${r.events_redacted} events`, true);
    }
  } catch (err) { say(message, err.message); }
  refresh();
});

const enroll = document.getElementById("enroll");
enroll.addEventListener("submit", async e => {
  e.preventDefault();
  const body = new FormData();
  for (const f of enroll.files.files) body.append("files", f);
  const out = document.getElementById("enroll-message");
  try {
    const r = await api(`${path(enroll.name.value.trim())}/faces`, {method: "POST", body});
    say(out, `enrolled ${r.name} from ${r.added} photo(s)`, true);
    enroll.reset();
    refresh();
  } catch (err) { say(out, err.message); }
});

const visitors = document.getElementById("visitors");
async function refreshVisitors() {
  try {
    const j = await api("/tracks");
    const strangers = j.tracks.filter(t => !(t.identity && t.identity.name));
    visitors.innerHTML = strangers.map(t => `<li>#${t.track_id} ${who(t)} <button data-track="${t.track_id}">name…</button></li>`).join("") || "<li>no visitor on screen</li>";
  } catch (e) { /* shown by the header */ }
}
visitors.addEventListener("click", async e => {
  const id = e.target.dataset.track;
  if (id && await nameVisitor(`/tracks/${id}/enroll`, `Name visitor #${id}:`, message)) refresh();
});
refresh();
refreshVisitors();
setInterval(refreshVisitors, 2000);
