// Live page: the stream (with a chosen overlay), faces on screen (name a visitor), latest events.
import {api, clock, emo, esc, header, nameVisitor, say, showStatus, who} from "/static/app.js";

header();
const stream = document.getElementById("stream");
const overlay = document.getElementById("overlay");
const camera = document.getElementById("camera");  // "": the first camera; "*": every camera in a grid
const grid = document.getElementById("camera-grid");
const params = new URLSearchParams(location.search);
overlay.value = params.get("overlay") || "";
const base = name => name ? `/cameras/${encodeURIComponent(name)}` : "";
// A face's or event's camera, named where there are several (the choice is filled only then).
const cameraOf = o => camera.options.length ? esc(o.camera) + " · " : "";
function showStream() {
  const q = overlay.value ? `?overlay=${encodeURIComponent(overlay.value)}` : "";
  const all = camera.value === "*";
  stream.hidden = all;
  grid.hidden = !all;
  if (all) {
    stream.removeAttribute("src");  // one connection per camera shown, not one more for the hidden stream
    grid.innerHTML = [...camera.options].filter(o => o.value && o.value !== "*").map(o =>
      `<figure><img src="${base(o.value)}/stream.mjpg${q}" alt="camera ${esc(o.value)}"><figcaption>${esc(o.value)}</figcaption></figure>`).join("");
  } else {
    grid.innerHTML = "";
    stream.src = `${base(camera.value)}/stream.mjpg${q}`;
  }
  document.getElementById("snapshot").href = `${base(all ? "" : camera.value)}/snapshot.jpg${q}`;
}
overlay.addEventListener("change", showStream);
camera.addEventListener("change", () => { showStream(); refreshTracks(); });
stream.addEventListener("error", async () => {  // e.g. 403: the device blurs more than the mode asked for
  if (!stream.src) return;
  try { await api(stream.src); } catch (e) { say(document.getElementById("stream-message"), e.message); }
});
// The camera choice is shown only where there are several; a camera that serves no video says why.
api("/cameras").then(j => {
  if (j.cameras.length > 1) {
    camera.innerHTML = j.cameras.map(c => `<option value="${esc(c.name)}">${esc(c.name)}${c.ready ? "" : " (no video)"}</option>`).join("") +
      '<option value="*">all cameras</option>';
    camera.value = j.cameras.some(c => c.name === params.get("camera")) || params.get("camera") === "*" ? params.get("camera") : j.cameras[0].name;
    document.getElementById("camera-choice").hidden = false;
    refreshTracks();
  }
  showStream();
}).catch(() => showStream());

const tracks = document.getElementById("tracks");
async function refreshTracks() {
  try {
    const one = camera.value && camera.value !== "*";
    const j = await api(one ? `/tracks?camera=${encodeURIComponent(camera.value)}` : "/tracks");
    tracks.innerHTML = j.tracks.map(t => `<li data-track="${t.track_id}">#${t.track_id} ${cameraOf(t)}${who(t)} ${emo(t.emotion)}` +
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
  li.innerHTML = `${thumb}<span><span class="t">${clock(ev.time).slice(11)}</span> ${esc(ev.type)} #${ev.track_id} ${cameraOf(ev)}${who(ev)} ${emo(ev.emotion)}</span>`;
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
