// Live page: the stream (with a chosen overlay), faces on screen (name a visitor), latest events.
import {api, clock, emo, esc, header, nameVisitor, say, showStatus, who} from "/static/app.js";

header();
const stream = document.getElementById("stream");
const overlay = document.getElementById("overlay");
overlay.value = new URLSearchParams(location.search).get("overlay") || "";
function showStream() {
  const q = overlay.value ? `?overlay=${encodeURIComponent(overlay.value)}` : "";
  stream.src = `/stream.mjpg${q}`;
  document.getElementById("snapshot").href = `/snapshot.jpg${q}`;
}
overlay.addEventListener("change", showStream);
stream.addEventListener("error", async () => {  // e.g. 403: the device blurs more than the mode asked for
  try { await api(stream.src); } catch (e) { say(document.getElementById("stream-message"), e.message); }
});
showStream();

const tracks = document.getElementById("tracks");
async function refreshTracks() {
  try {
    const j = await api("/tracks");
    tracks.innerHTML = j.tracks.map(t => `<li data-track="${t.track_id}">#${t.track_id} ${who(t)} ${emo(t.emotion)}` +
      (t.identity && t.identity.name ? "" : ` <button data-name="${t.track_id}">name…</button>`) + "</li>").join("") || "<li>nobody</li>";
  } catch (e) { /* the header says what is wrong */ }
  showStatus();
}
tracks.addEventListener("click", e => {
  const id = e.target.dataset.name;
  if (id) nameVisitor(`/tracks/${id}/enroll`, `Name visitor #${id}:`, document.getElementById("name-message"));
});

const list = document.getElementById("events");
function addEvent(ev) {
  const li = document.createElement("li");
  const thumb = ev.type === "face.appeared" || ev.type === "face.left" ? `<img class="thumb" loading="lazy" src="/events/${ev.seq}/thumbnail.jpg" alt="" onerror="this.remove()"> ` : "";
  li.innerHTML = `${thumb}<span><span class="t">${clock(ev.time).slice(11)}</span> ${esc(ev.type)} #${ev.track_id} ${who(ev)} ${emo(ev.emotion)}</span>`;
  list.prepend(li);
  while (list.children.length > 30) list.lastChild.remove();
}
api("/events?after=0&limit=1").then(j => api(`/events?after=${Math.max(0, j.last_seq - 20)}&limit=20`)).then(j => {
  j.events.forEach(addEvent);
  const src = new EventSource(`/events/stream?after=${j.next}`);
  for (const t of ["face.appeared", "identity.changed", "emotion.changed", "face.left"]) src.addEventListener(t, m => addEvent(JSON.parse(m.data)));
}).catch(() => {});
setInterval(refreshTracks, 1000);
refreshTracks();
