"use strict";
let version = -1, charts = {}, logKey = null, logOffset = 0;
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const fmt = v => (typeof v === "number") ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : (v == null ? "-" : String(v));
const slug = s => String(s).replace(/[^A-Za-z0-9_-]+/g, "_");

function curveData(runs) {
  const xs = new Set();
  runs.forEach(r => r.curve[0].forEach(x => xs.add(x)));
  const x = Array.from(xs).sort((a, b) => a - b), index = new Map(x.map((v, i) => [v, i]));
  const data = [x];
  runs.forEach(r => { const y = new Array(x.length).fill(null);
    r.curve[0].forEach((xv, i) => { y[index.get(xv)] = r.curve[1][i]; }); data.push(y); });
  return data;
}

function chart(id, title, data, series, opts) {
  const el = document.getElementById(id);
  const points = data.slice(1).reduce((n, ys) => n + ys.filter(v => v != null).length, 0);
  el.dataset.points = points;
  const shape = series.length + ":" + (opts.scatter ? "s" : "l");
  if (charts[id] && charts[id].shape === shape) { charts[id].plot.setData(data); return; }
  if (charts[id]) { charts[id].plot.destroy(); }
  const palette = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2","#17becf"];
  const plot = new uPlot({
    title: title, width: 460, height: 260,
    scales: { x: { time: false } },
    series: [{ label: opts.xlabel || "step" }].concat(series.map((s, i) => ({
      label: s, stroke: palette[i % palette.length], spanGaps: true,
      width: opts.scatter ? 0 : 1.5,
      points: { show: opts.scatter ? true : undefined, size: opts.scatter ? 7 : 4 },
      paths: opts.scatter ? () => null : undefined }))),
    legend: { show: series.length <= 12 },
  }, data, el);
  charts[id] = { plot: plot, shape: shape };
}

function render(state) {
  const root = document.getElementById("root");
  let html = "";
  state.experiments.forEach(e => {
    const id = slug(e.deploy_id);
    html += `<section class="experiment" data-deploy="${esc(e.deploy_id)}"><h2>${esc(e.experiment)} <span class="meta">deploy ${esc(e.deploy_id)}</span></h2>`;
    Object.entries(e.hosts).forEach(([h, info]) => {
      if (info.note) html += `<div class="note host-note" data-host="${esc(h)}">${esc(info.note)}</div>`; });
    html += `<table class="progress"><tr><th>cluster</th><th>sweep</th><th>done</th><th>running</th><th>failed</th><th>left</th></tr>`;
    e.sweeps.forEach(s => { const c = s.counts;
      html += `<tr class="sweep" data-sweep="${esc(s.id)}" data-host="${esc(s.host)}"><td>${esc(s.host)}</td><td>${esc(s.name)} <span class="meta">${esc(s.id)}</span></td>` +
        `<td class="done">${(c.finished || 0) + (c.stopped || 0)}</td><td class="running">${c.running || 0}</td>` +
        `<td class="failed">${c.failed || 0}</td><td class="left">${c.left == null ? "?" : c.left}</td></tr>`; });
    html += `</table>`;
    const failed = e.sweeps.flatMap(s => s.failed.map(f => ({...f, host: s.host, sweep: s.name})));
    if (failed.length) {
      html += `<h3>Failed runs</h3><ul class="failures">` + failed.map(f =>
        `<li class="failure" data-run="${esc(f.run)}">${esc(f.host)} ${esc(f.sweep)} run <b>${esc(f.run)}</b>: <span class="why">${esc(f.why)}</span></li>`).join("") + `</ul>`;
    }
    const name = e.metric ? e.metric.name : "";
    html += `<div class="charts"><div id="curves-${id}" class="chart curves"></div>`;
    e.varied.forEach(p => { html += `<div id="vs-${id}-${slug(p)}" class="chart vs" data-param="${esc(p)}"></div>`; });
    html += `</div>`;
    if (e.best.length) {
      html += `<h3>Best run of each subtest</h3><table class="bestruns"><tr><th>subtest</th><th>run</th><th>${esc(name)}</th><th>parameters</th></tr>` +
        e.best.map(b => `<tr><td>${esc(b.subtest)}</td><td>${esc(b.run_id)}</td><td>${fmt(b.metric)}</td><td>${esc(Object.entries(b.params).map(([k, v]) => k + "=" + fmt(v)).join(", "))}</td></tr>`).join("") + `</table>`;
    }
    html += `<h3>Runs</h3><table class="runs"><tr><th>cluster</th><th>run</th><th>state</th><th>${esc(name)}</th><th>points</th>` +
      e.varied.map(p => `<th>${esc(p)}</th>`).join("") + `<th>why</th></tr>` +
      e.runs.map(r => `<tr class="run${r.best ? " best" : ""}" data-key="${esc(r.key)}" data-state="${esc(r.state)}"><td>${esc(r.host)}</td><td>${esc(r.run_id)}</td><td>${esc(r.state)}</td><td>${fmt(r.metric)}</td><td>${r.curve[0].length}</td>` +
        e.varied.map(p => `<td>${fmt(r.params[p])}</td>`).join("") + `<td class="why">${esc(r.why || "")}</td></tr>`).join("") + `</table></section>`;
  });
  Object.values(charts).forEach(c => c.plot.destroy()); charts = {};
  root.innerHTML = html;
  state.experiments.forEach(e => {
    const id = slug(e.deploy_id), name = e.metric ? e.metric.name : "metric";
    const withCurve = e.runs.filter(r => r.curve[0].length).slice(0, 40);
    if (withCurve.length) chart(`curves-${id}`, `${name} while the runs log`, curveData(withCurve), withCurve.map(r => r.run_id), {});
    e.varied.forEach(p => {
      const done = e.runs.filter(r => typeof r.metric === "number");
      const cats = [...new Set(done.map(r => String(r.params[p])))].sort();
      const xv = r => (typeof r.params[p] === "number") ? r.params[p] : cats.indexOf(String(r.params[p]));
      const pts = done.map(r => [xv(r), r.metric]).sort((a, b) => a[0] - b[0]);
      if (pts.length) chart(`vs-${id}-${slug(p)}`, `${name} against ${p}`, [pts.map(q => q[0]), pts.map(q => q[1])], [name], {scatter: true, xlabel: p});
    });
  });
  document.querySelectorAll("tr.run").forEach(tr => tr.onclick = () => showLog(tr.dataset.key));
}

async function poll() {
  try {
    const res = await fetch(`/api/state?version=${version}`);
    const state = await res.json();
    if (!state.same) { version = state.version; render(state); }
    document.getElementById("updated").textContent = "updated " + new Date(state.time * 1000).toLocaleTimeString() + " (version " + version + ")";
  } catch (err) {
    document.getElementById("updated").textContent = "the dashboard's server does not answer: " + err;
  }
  if (logKey) await followLog();
  setTimeout(poll, 1500);
}

function showLog(key) {
  logKey = key; logOffset = 0;
  document.getElementById("log").textContent = "";
  document.getElementById("logname").textContent = key;
  followLog();
}

async function followLog() {
  const key = logKey;
  const res = await fetch(`/api/log?key=${encodeURIComponent(key)}&offset=${logOffset}`);
  const got = await res.json();
  if (key !== logKey) return;
  const pre = document.getElementById("log");
  if (got.error) { pre.textContent = got.error; return; }
  if (got.offset < logOffset) pre.textContent = "";
  pre.textContent += got.data; logOffset = got.offset;
}
poll();
