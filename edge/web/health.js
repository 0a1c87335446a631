// Health page: /health (source, models, problems) and /metrics (stage latencies, rates), refreshed every 2 s.
import {api, esc, header, showStatus} from "/static/app.js";

header();

/** Prometheus text to [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[3] || "").matchAll(/(\w+)="([^"]*)"/g)].map(x => [x[1], x[2]]));
    out.push({name: m[1], labels, value: Number(m[4])});
  }
  return out;
}
const flat = (obj, prefix = "") => Object.entries(obj).flatMap(([k, v]) =>
  v && typeof v === "object" && !Array.isArray(v) ? flat(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]]);

async function refresh() {
  showStatus();
  try {
    const h = await fetch("/health").then(r => r.json());  // 503 still has the body
    document.getElementById("status-table").innerHTML = flat({status: h.status, ready: h.ready, source: h.source, models: h.models, auth: h.auth, uptime_s: h.uptime_s})
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(JSON.stringify(v))}</td></tr>`).join("");
    document.getElementById("problems").innerHTML = Object.entries(h.problems || {}).map(([k, v]) => `<li class="bad"><b>${esc(k)}</b>: ${esc(v)}</li>`).join("") || `<li class="ok">none</li>`;
    const metrics = parseMetrics(await (await api("/metrics")).text());
    const stages = {};
    for (const m of metrics.filter(m => m.name.startsWith("edge_stage_seconds"))) {
      const s = stages[m.labels.stage] = stages[m.labels.stage] || {};
      if (m.labels.quantile) s[m.labels.quantile] = m.value; else if (m.name.endsWith("_count")) s.count = m.value;
    }
    document.getElementById("stages").innerHTML = Object.entries(stages).map(([name, s]) =>
      `<tr><td>${esc(name)}</td><td>${((s["0.5"] || 0) * 1000).toFixed(1)}</td><td>${((s["0.95"] || 0) * 1000).toFixed(1)}</td><td>${s.count || 0}</td></tr>`).join("");
    document.getElementById("gauges").innerHTML = metrics.filter(m => !m.name.startsWith("edge_stage_seconds"))
      .map(m => `<tr><th>${esc(m.name.replace(/^edge_/, ""))}</th><td>${+m.value.toFixed(2)}</td></tr>`).join("");
  } catch (e) { document.getElementById("problems").innerHTML = `<li class="bad">${esc(e.message)}</li>`; }
}
refresh();
setInterval(refresh, 2000);
