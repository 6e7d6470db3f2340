// Switchboard console: plain JavaScript, no dependencies. Everything it
// shows comes from the server's api/ endpoints beside this page; it never
// sees an app secret.
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
};

// ---- formatting

const fmtNum = (n) => {
  if (n == null || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 1 : 2) + ' M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + ' k';
  return Number.isInteger(n) ? n.toLocaleString('en') : n.toFixed(n < 10 ? 1 : 0);
};
const fmtBytes = (n) => {
  if (n == null) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? Math.round(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + u[i];
};
const fmtDuration = (s) => {
  if (s == null) return '–';
  s = Math.round(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
};
const fmtTime = (d) => d.toLocaleTimeString('en-GB', { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
const setText = (id, v) => { const e = $(id); if (e.textContent !== v) e.textContent = v; };

// ---- tabs

const views = ['overview', 'channels', 'debug'];
function showView() {
  const want = location.hash.slice(1);
  const name = views.includes(want) ? want : 'overview';
  for (const v of views) {
    $('view-' + v).hidden = v !== name;
    $('tab-' + v).classList.toggle('active', v === name);
    $('tab-' + v).setAttribute('aria-selected', String(v === name));
  }
  if (name === 'channels') channels.refresh();
  for (const c of charts) c.draw();
}
window.addEventListener('hashchange', showView);

// ---- charts: a few series over the last minutes, drawn on a canvas

class Chart {
  constructor(canvas, series, format) {
    this.canvas = canvas;
    this.series = series; // [{key, label, color}]
    this.format = format;
    this.points = [];
    this.maxWindowMs = 5 * 60 * 1000; // the last 5 minutes, or less while the page is young
    this.minWindowMs = 60 * 1000;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }
  set(points) { this.points = points.slice(); this.draw(); }
  push(p) {
    this.points.push(p);
    const cut = p.t - this.maxWindowMs;
    while (this.points.length && this.points[0].t < cut) this.points.shift();
    this.draw();
  }
  draw() {
    const c = this.canvas, r = c.getBoundingClientRect();
    if (!r.width) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(r.width * dpr); c.height = Math.round(r.height * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const W = r.width, H = r.height, top = 18, bottom = H - 16, left = 2, right = W - 2;
    g.clearRect(0, 0, W, H);
    const now = this.points.length ? this.points[this.points.length - 1].t : Date.now();
    const span = this.points.length ? now - this.points[0].t : 0;
    const win = Math.min(this.maxWindowMs, Math.max(this.minWindowMs, Math.ceil(span / 60000) * 60000));
    const t0 = now - win;
    let max = 0;
    for (const p of this.points) for (const s of this.series) max = Math.max(max, p[s.key] || 0);
    max = niceMax(max);
    g.font = '11px system-ui, sans-serif';
    g.strokeStyle = '#e3e7ee'; g.fillStyle = '#8a93a6'; g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const y = Math.round(top + (bottom - top) * i / 2) + 0.5;
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
    }
    g.textAlign = 'right';
    g.fillText(this.format(max), right, top - 5);
    g.textAlign = 'left';
    g.fillText(`${win / 60000} min ago`, left, H - 3);
    g.textAlign = 'right';
    g.fillText('now', right, H - 3);
    const x = (t) => left + (right - left) * (t - t0) / win;
    const y = (v) => bottom - (bottom - top) * (max ? v / max : 0);
    let lx = left + 2;
    for (const s of this.series) {
      g.strokeStyle = s.color; g.lineWidth = 1.8; g.lineJoin = 'round';
      g.beginPath();
      this.points.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, x(p.t), y(p[s.key] || 0)));
      g.stroke();
      if (this.series.length > 1) {
        const last = this.points.length ? this.points[this.points.length - 1][s.key] : null;
        const label = `${s.label} ${last == null ? '' : this.format(last)}`;
        g.fillStyle = s.color; g.textAlign = 'left';
        g.fillRect(lx, top - 12, 8, 3);
        g.fillStyle = '#4a5368';
        g.fillText(label, lx + 12, top - 7);
        lx += g.measureText(label).width + 26;
      }
    }
  }
}
function niceMax(v) {
  if (v <= 0) return 1;
  const e = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * e) return m * e;
  return 10 * e;
}

const charts = [];
let chartConns, chartChurn, chartMsgs, chartBytes;

// ---- overview, live over one event stream

const overview = {
  source: null,
  start() {
    this.source = new EventSource('api/stream');
    this.source.addEventListener('open', () => { $('live').textContent = 'live'; $('live').classList.remove('off'); });
    this.source.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; $('live').classList.add('off'); });
    this.source.addEventListener('hello', (e) => {
      const h = JSON.parse(e.data);
      for (const c of charts) c.set(h.history.map(flatten));
      if (h.stats) this.show(h.stats);
    });
    this.source.addEventListener('stats', (e) => {
      const s = JSON.parse(e.data);
      this.show(s);
      if (s.rates) {
        const p = flatten({ t: Date.parse(s.time), connections: s.connections, ...s.rates });
        for (const c of charts) c.push(p);
      }
    });
  },
  show(s) {
    setText('node', s.node || '–');
    setText('version', s.version || '–');
    setText('uptime', fmtDuration(s.uptime_seconds));
    setText('conn-title', s.cluster ? 'Connections on this node' : 'Connections');
    setText('conn-total', fmtNum(s.connections));
    const by = $('conn-by-dialect');
    by.replaceChildren(...(s.dialects || []).map((d, i) => el('span', {}, i ? ' · ' : '', d.name + ' ', el('b', { text: fmtNum(d.connections) }))));
    const r = s.rates;
    setText('connects', r ? fmtNum(r.connects) : '–');
    setText('disconnects', r ? fmtNum(r.disconnects) : '–');
    setText('msgs-in', r ? fmtNum(r.messages_in) : '–');
    setText('msgs-out', r ? fmtNum(r.messages_out) : '–');
    setText('bytes-in', r ? fmtBytes(r.bytes_in) + '/s' : '–');
    setText('bytes-out', r ? fmtBytes(r.bytes_out) + '/s' : '–');
    setText('slow', fmtNum((s.dialects || []).reduce((a, d) => a + d.slow_consumer_closes, 0)));
    setText('wh-queued', fmtNum(s.webhooks.queued));
    setText('wh-sent', fmtNum(s.webhooks.sent));
    setText('wh-failures', fmtNum(s.webhooks.failures));
    setText('wh-dropped', fmtNum(s.webhooks.dropped));
    setText('rss', fmtBytes(s.process.rss_bytes));
    setText('heap', fmtBytes(s.process.heap_bytes));
    setText('goroutines', fmtNum(s.process.goroutines));
    setText('fds', `${fmtNum(s.process.open_fds)} of ${fmtNum(s.process.max_fds)}`);
    setText('hub-subs', `${fmtNum(s.hub.channels)} / ${fmtNum(s.hub.subscriptions)}`);
    this.showApps(s);
    this.showCluster(s.cluster);
  },
  showApps(s) {
    const apps = s.apps || [];
    $('apps-empty').hidden = apps.length > 0;
    $('apps').hidden = apps.length === 0;
    const cluster = !!s.cluster;
    $('apps-cluster-h').hidden = !cluster;
    $('apps').tBodies[0].replaceChildren(...apps.map((a) => {
      const tr = el('tr', {},
        el('td', {}, el('b', { text: a.id }), a.enabled ? '' : el('span', { class: 'muted', text: ' (disabled)' })),
        el('td', {}, el('code', { text: a.key })),
        el('td', { class: 'r', text: fmtNum(a.connections) }));
      if (cluster) tr.append(el('td', { class: 'r', text: a.cluster_connections == null ? '–' : fmtNum(a.cluster_connections) }));
      tr.append(el('td', { class: 'r', text: fmtNum(a.published) }), el('td', { class: 'r', text: fmtNum(a.webhook_queue) }));
      return tr;
    }));
  },
  showCluster(c) {
    if (c) channels.nodes(c.nodes || []);
    $('cluster-none').hidden = !!c;
    $('cluster').hidden = !c;
    if (!c) return;
    const st = $('redis-state');
    st.textContent = c.redis_up ? 'connected' : 'unreachable';
    st.className = 'badge ' + (c.redis_up ? 'ok' : 'bad');
    setText('redis-figures', `sent ${fmtNum(c.published)} · received ${fmtNum(c.received)} · dropped ${fmtNum(c.dropped)} · outages ${fmtNum(c.outages)}`);
    $('cluster-error').hidden = !c.error;
    $('cluster-error').textContent = c.error || '';
    const self = $('node').textContent;
    $('nodes').tBodies[0].replaceChildren(...(c.nodes || []).map((n) => {
      const pusher = Object.entries(n.connections || {}).filter(([k]) => k.startsWith('pusher/')).reduce((a, [, v]) => a + v, 0);
      return el('tr', {},
        el('td', {}, el('code', { text: n.id }), n.id === self ? el('span', { class: 'muted', text: ' (this node)' }) : ''),
        el('td', { class: 'r', text: fmtNum(pusher) }),
        el('td', { class: 'r', text: fmtNum(n.subscriptions) }),
        el('td', { class: 'r', text: fmtDuration(n.heartbeat_age_seconds) + ' ago' }));
    }));
  },
};
const flatten = (p) => ({ ...p, churn_in: p.connects, churn_out: p.disconnects });

// ---- channel spaces, shared by the Channels view and the debug console

let spaces = [];
let cluster = false; // Redis configured: the channel lists can be per node
async function api(path, opts) {
  const res = await fetch(path, opts);
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

const channels = {
  timer: null,
  selected: null,
  async init() {
    const sel = $('ch-space');
    sel.replaceChildren(...spaces.map((s) => el('option', { value: s.id, text: s.label })));
    sel.addEventListener('change', () => { this.selected = null; this.detail(); this.refresh(); });
    $('ch-node').addEventListener('change', () => this.refresh());
    let t;
    $('ch-search').addEventListener('input', () => { clearTimeout(t); t = setTimeout(() => this.refresh(), 200); });
    setInterval(() => { if (!$('view-channels').hidden) this.refresh(); }, 3000);
  },
  space() { return spaces.find((s) => s.id === $('ch-space').value); },
  // nodes keeps the node picker in step with the cluster's live nodes.
  nodes(list) {
    const sel = $('ch-node'), self = $('node').textContent;
    const want = ['all', ...list.map((n) => n.id)];
    const have = [...sel.options].map((o) => o.value);
    if (want.join() === have.join()) return;
    const cur = sel.value;
    sel.replaceChildren(el('option', { value: 'all', text: 'all nodes' }),
      ...list.map((n) => el('option', { value: n.id, text: n.id === self ? `${n.id} (this node)` : n.id })));
    sel.value = want.includes(cur) ? cur : 'all';
  },
  async refresh() {
    const sp = this.space();
    if (!sp) { $('ch-count').textContent = 'No channel groups: every dialect is off.'; return; }
    $('ch-node-l').hidden = !cluster || sp.kind === 'sessions';
    if (sp.kind === 'sessions') { this.refreshSessions(); return; }
    $('ch-table').tHead.replaceChildren(el('tr', {}, el('th', { text: 'Channel' }), el('th', { class: 'r', text: 'Subscribers' })));
    const q = new URLSearchParams({ space: sp.id, q: $('ch-search').value, node: $('ch-node').value });
    let res;
    try { res = await api('api/channels?' + q); } catch (err) { $('ch-count').textContent = err.message; return; }
    $('ch-count').textContent = res.total > res.channels.length
      ? `busiest ${res.channels.length} of ${fmtNum(res.total)} channels` : `${fmtNum(res.total)} channel${res.total === 1 ? '' : 's'}`;
    $('ch-note').hidden = !res.note;
    $('ch-note').textContent = res.note || '';
    if (this.selected) this.selected = res.channels.find((c) => c.name === this.selected.name) ?? { ...this.selected, subscribers: 0 };
    const body = $('ch-table').tBodies[0];
    if (!res.channels.length) {
      body.replaceChildren(el('tr', {}, el('td', { colSpan: 2, class: 'empty', text: $('ch-search').value ? 'No channel matches.' : 'No occupied channels.' })));
      return;
    }
    body.replaceChildren(...res.channels.map((c) => {
      const tr = el('tr', {}, el('td', {}, c.name, c.presence ? el('span', { class: 'badge tag', text: 'presence' }) : ''), el('td', { class: 'r', text: fmtNum(c.subscribers) }));
      tr.dataset.channel = c.name;
      tr.classList.toggle('sel', c.name === this.selected?.name);
      tr.addEventListener('click', () => { this.selected = c; for (const r of body.rows) r.classList.toggle('sel', r === tr); this.detail(); });
      return tr;
    }));
    if (this.selected) this.detail(true);
  },
  // refreshSessions lists the Atmosphere sessions and API keys instead of channels.
  async refreshSessions() {
    let res;
    try { res = await api('api/sessions?' + new URLSearchParams({ q: $('ch-search').value })); } catch (err) { $('ch-count').textContent = err.message; return; }
    $('ch-count').textContent = `${fmtNum(res.total)} session${res.total === 1 ? '' : 's'} and API keys`;
    $('ch-note').hidden = true;
    const r = (text) => el('th', { class: 'r', text });
    $('ch-table').tHead.replaceChildren(el('tr', {}, el('th', { text: 'Session' }), el('th', { text: 'User' }), r('Connections'), r('Trackers'), r('Last used')));
    const body = $('ch-table').tBodies[0];
    if (!res.sessions.length) {
      body.replaceChildren(el('tr', {}, el('td', { colSpan: 5, class: 'empty', text: 'No sessions on this node.' })));
      return;
    }
    body.replaceChildren(...res.sessions.map((s) => el('tr', {},
      el('td', {}, el('code', { text: s.tag + '…' }), s.api_key ? el('span', { class: 'badge tag', text: 'API key' }) : ''),
      el('td', { text: s.user }),
      el('td', { class: 'r', text: fmtNum(s.connections) }),
      el('td', { class: 'r', text: fmtNum(s.trackers) }),
      el('td', { class: 'r', text: s.last_used ? fmtDuration((Date.now() - Date.parse(s.last_used)) / 1000) + ' ago' : '–' }))));
  },
  async detail(quiet) {
    const box = $('ch-detail'), c = this.selected, sp = this.space();
    if (!c) { box.replaceChildren(el('p', { class: 'empty', text: 'Pick a channel to see its members (presence channels) or to watch it.' })); return; }
    const parts = [el('h2', { text: 'Channel' }), el('p', {}, el('code', { text: c.name })), el('p', {}, el('b', { text: fmtNum(c.subscribers) }), c.subscribers === 1 ? ' subscriber' : ' subscribers')];
    if (sp.app) {
      const b = el('button', { class: 'primary', text: 'Watch in the debug console' });
      b.addEventListener('click', () => { debug.open(sp.app, c.name); });
      parts.push(b);
    }
    if (c.presence) {
      parts.push(el('h2', { text: 'Members' }));
      try {
        const res = await api('api/members?' + new URLSearchParams({ space: sp.id, channel: c.name }));
        parts.push(res.members.length
          ? el('ul', { class: 'members', id: 'ch-members' }, ...res.members.map((m) => el('li', {}, el('b', { text: m.id }), el('code', { text: m.info ? JSON.stringify(m.info) : '' }))))
          : el('p', { class: 'empty', text: 'No members.' }));
      } catch (err) { parts.push(el('p', { class: 'error', text: err.message })); }
    }
    if (quiet && this.selected !== c) return;
    box.replaceChildren(...parts);
  },
};

// ---- debug console: watch one channel, publish to it

const kindOf = (name) => {
  if (name.startsWith('client-')) return 'client';
  if (/:member_(added|removed)$/.test(name)) return 'member';
  if (/:subscription_count$/.test(name)) return 'count';
  if (name.includes(':')) return 'system';
  return 'api';
};
const kindLabel = { api: 'API event', client: 'client event', member: 'member', count: 'subscribers', system: 'protocol', notice: 'console' };

const debug = {
  source: null,
  max: 500,
  init() {
    const apps = spaces.filter((s) => s.app);
    $('dbg-app').replaceChildren(...apps.map((s) => el('option', { value: s.app, text: s.app })));
    if (!apps.length) { $('dbg-watch').disabled = true; $('dbg-state').textContent = 'The Pusher dialect is off: nothing to watch.'; }
    $('dbg-watch').addEventListener('click', () => (this.source ? this.stop() : this.watch()));
    $('dbg-channel').addEventListener('keydown', (e) => { if (e.key === 'Enter') { this.stop(); this.watch(); } });
    $('dbg-channel').addEventListener('focus', () => this.suggest());
    $('dbg-clear').addEventListener('click', () => { $('dbg-log').replaceChildren(); this.empty(); });
    $('dbg-filter').addEventListener('input', () => this.applyFilter());
    for (const cb of document.querySelectorAll('.filters input[type=checkbox]')) cb.addEventListener('change', () => this.applyFilter());
    $('pub-form').addEventListener('submit', (e) => { e.preventDefault(); this.publish(); });
  },
  open(app, channel) {
    this.stop();
    $('dbg-app').value = app;
    $('dbg-channel').value = channel;
    location.hash = '#debug';
    this.watch();
  },
  async suggest() {
    const app = $('dbg-app').value;
    try {
      const res = await api('api/channels?' + new URLSearchParams({ space: 'pusher:' + app }));
      $('dbg-channels').replaceChildren(...res.channels.map((c) => el('option', { value: c.name })));
    } catch { /* suggestions only */ }
  },
  watch() {
    const app = $('dbg-app').value, channel = $('dbg-channel').value.trim();
    if (!app || !channel) { $('dbg-state').textContent = 'Give a channel name first.'; $('dbg-channel').focus(); return; }
    const src = new EventSource('api/watch?' + new URLSearchParams({ app, channel }));
    this.source = src;
    $('dbg-watch').textContent = 'Stop';
    $('dbg-watch').className = 'danger';
    $('dbg-state').textContent = 'Connecting…';
    src.addEventListener('watching', () => {
      $('dbg-state').replaceChildren('Watching ', el('code', { text: channel }), ` of app ${app}`);
      this.add({ event: 'watching', data: `Watching ${channel}: events appear as the channel's subscribers get them.` }, 'notice');
    });
    src.addEventListener('event', (e) => this.add(JSON.parse(e.data)));
    src.addEventListener('behind', (e) => { this.add({ event: 'stopped', data: JSON.parse(e.data).error }, 'notice'); this.stop('Stopped: the page fell behind.'); });
    src.addEventListener('error', async () => {
      if (src.readyState !== EventSource.CLOSED) { $('dbg-state').textContent = 'Reconnecting…'; return; }
      // A refused watch (bad channel name, unknown app) closes the stream: ask why.
      // If it would have worked now, abort at once: an open watch is a subscriber.
      const ctl = new AbortController();
      const why = await fetch('api/watch?' + new URLSearchParams({ app, channel }), { signal: ctl.signal })
        .then((r) => { if (r.ok) { ctl.abort(); return ''; } return r.json().then((b) => b.error); })
        .catch(() => '');
      this.stop(why ? 'Cannot watch: ' + why : 'The stream closed.');
    });
  },
  stop(msg) {
    if (this.source) { this.source.close(); this.source = null; }
    $('dbg-watch').textContent = 'Watch';
    $('dbg-watch').className = 'primary';
    $('dbg-state').textContent = typeof msg === 'string' ? msg : 'Not watching.';
  },
  add(ev, kind = kindOf(ev.event)) {
    let data = ev.data ?? '';
    try { if (data) data = JSON.stringify(JSON.parse(data), null, 2); } catch { /* not JSON: as it is */ }
    const li = el('li', {},
      el('time', { text: fmtTime(new Date()) }),
      el('span', { class: `badge kind kind-${kind}`, text: kindLabel[kind] }),
      el('span', { class: 'ev', text: ev.event + (ev.user_id ? `  (from user ${ev.user_id})` : '') }),
      el('pre', { text: data }));
    li.dataset.kind = kind;
    li.dataset.text = (ev.event + ' ' + data).toLowerCase();
    const log = $('dbg-log');
    log.prepend(li);
    while (log.children.length > this.max) log.lastChild.remove();
    this.filterOne(li);
    this.empty();
  },
  empty() { $('dbg-empty').hidden = $('dbg-log').children.length > 0; },
  filterOne(li) {
    const on = new Set([...document.querySelectorAll('.filters input[type=checkbox]:checked')].map((c) => c.dataset.kind));
    const q = $('dbg-filter').value.toLowerCase();
    li.hidden = (li.dataset.kind !== 'notice' && !on.has(li.dataset.kind)) || (q !== '' && !li.dataset.text.includes(q));
  },
  applyFilter() { for (const li of $('dbg-log').children) this.filterOne(li); },
  async publish() {
    const out = $('pub-result');
    const body = { app: $('dbg-app').value, channel: $('dbg-channel').value.trim(), event: $('pub-event').value.trim(), data: $('pub-data').value };
    if (!body.channel) { out.className = 'bad'; out.textContent = 'Give a channel name above first.'; return; }
    out.className = ''; out.textContent = 'Publishing…';
    try {
      await api('api/publish', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      out.className = 'ok'; out.textContent = `Published ${body.event} to ${body.channel}.`;
    } catch (err) { out.className = 'bad'; out.textContent = err.message; }
  },
};

// ---- start

async function main() {
  chartConns = new Chart($('chart-conns'), [{ key: 'connections', label: 'open', color: '#3b5bdb' }], fmtNum);
  chartChurn = new Chart($('chart-churn'), [{ key: 'churn_in', label: 'connects', color: '#2b9a66' }, { key: 'churn_out', label: 'disconnects', color: '#d6404b' }], fmtNum);
  chartMsgs = new Chart($('chart-msgs'), [{ key: 'messages_in', label: 'in', color: '#7c4dcc' }, { key: 'messages_out', label: 'out', color: '#d98b0b' }], fmtNum);
  chartBytes = new Chart($('chart-bytes'), [{ key: 'bytes_in', label: 'in', color: '#1098ad' }, { key: 'bytes_out', label: 'out', color: '#e8590c' }], (v) => fmtBytes(v));
  charts.push(chartConns, chartChurn, chartMsgs, chartBytes);
  overview.start();
  try {
    const res = await api('api/spaces');
    spaces = res.spaces;
    cluster = res.cluster;
    $('ch-node-l').hidden = !res.cluster;
  } catch (err) {
    $('ch-count').textContent = err.message;
  }
  channels.init();
  debug.init();
  showView();
}
main();
