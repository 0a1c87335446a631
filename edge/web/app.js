// Shared by every page: the header, the token login, fetch with errors shown, and small formatters.
const PAGES = [["/", "Live"], ["/ui/events", "Events"], ["/ui/people", "People"], ["/ui/report", "Report"], ["/ui/health", "Health"]];

export const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

/** Header with the page links; the current page is highlighted. */
export function header() {
  const h = document.createElement("header");
  const links = PAGES.map(([href, name]) => `<a href="${href}"${location.pathname === href ? ' class="here"' : ""}>${name}</a>`).join("");
  h.innerHTML = `<h1>Edge face &amp; emotion</h1><nav>${links}</nav><span id="status"></span>`;
  document.body.prepend(h);
}

/** A protected service answers 401: ask for the token once; the server keeps it in an HttpOnly cookie. */
function askForToken() {
  if (document.getElementById("login")) return;
  const form = document.createElement("form");
  form.id = "login";
  form.style.padding = "16px";
  form.innerHTML = `<label>API token <input name="token" type="password" autocomplete="current-password" required></label>
    <button>Log in</button> <span class="message bad"></span>`;
  form.addEventListener("submit", async e => {
    e.preventDefault();
    const r = await fetch("/login", {method: "POST", body: new FormData(form)});
    if (r.ok) location.reload(); else form.querySelector(".message").textContent = "wrong token";
  });
  document.querySelector("main").hidden = true;
  document.querySelector("header").after(form);
}

export class ApiError extends Error {}

/** fetch() that asks for the token on 401 and turns JSON errors into ApiError("what: detail"). */
export async function api(path, options = {}) {
  const r = await fetch(path, options);
  if (r.status === 401) { askForToken(); throw new ApiError("log in first"); }
  if (!r.ok) {
    let text = `${r.status}`;
    try { const j = await r.json(); text = `${j.error}: ${j.detail}`; } catch (_) { /* not JSON */ }
    throw new ApiError(text);
  }
  return (r.headers.get("content-type") || "").includes("json") ? r.json() : r;
}

export function who(o) {
  const n = o.identity && o.identity.name;
  const label = (o.data && o.data.label) || o.label || "unknown";
  return n ? `<span class="known">${esc(n)}</span>` : `<span class="unknown">${esc(label)}</span>`;
}

export const emo = e => e ? `${esc(e.label)} ${Math.round(e.score * 100)}%` : "";
export const clock = iso => esc(String(iso || "").replace("T", " ").slice(0, 19));

export function say(el, text, good) { el.textContent = text; el.className = "message " + (good ? "ok" : "bad"); }

/** The source and problems, from /health, in the header. */
export async function showStatus() {
  const status = document.getElementById("status");
  try {
    const h = await (await fetch("/health")).json();
    const problems = Object.values(h.problems || {});
    status.textContent = `${h.status} · source ${h.source.connected ? "connected" : "down"} · ${h.source.fps} fps` + (problems.length ? " · " + problems.join("; ") : "");
    status.className = h.status === "ok" ? "ok" : "bad";
  } catch (e) { status.textContent = "server unreachable"; status.className = "bad"; }
}

/** Ask for a visitor's name and enroll their kept faces from `path` (/tracks/{id}/enroll or /events/{seq}/enroll);
 * says how it went in `messageEl`. True when someone was enrolled. */
export async function nameVisitor(path, question, messageEl) {
  const name = prompt(question);
  if (!name) return false;
  const body = new FormData();
  body.set("name", name);
  try {
    const r = await api(path, {method: "POST", body});
    say(messageEl, `enrolled ${r.name} from ${r.added} faces`, true);
    return true;
  } catch (err) { say(messageEl, err.message); return false; }
}
