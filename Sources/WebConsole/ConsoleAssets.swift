/// The console's stylesheet and script, served from /console/static: no build step, no CDN
/// (a site's server may have no internet). The script builds every element it adds with
/// textContent, never innerHTML: what a controller or an operator wrote stays text.
enum ConsoleAssets {
    static let css = """
    :root { --fg:#1b1f24; --muted:#5b6570; --line:#d5dbe1; --bg:#f6f8fa; --ok:#1a7f37; --bad:#cf222e; --warn:#9a6700; --accent:#0b5cad; }
    * { box-sizing: border-box; }
    body { margin:0; font:15px/1.45 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
    header.top { display:flex; flex-wrap:wrap; gap:.5rem 1.2rem; align-items:center; padding:.6rem 1rem; background:#14213d; color:#fff; }
    header.top a { color:#dfe7f5; text-decoration:none; padding:.2rem .4rem; border-radius:4px; }
    header.top a.on { background:#2b3f66; color:#fff; }
    .brand { font-weight:700; letter-spacing:.05em; }
    nav { display:flex; flex-wrap:wrap; gap:.3rem; }
    .who { margin-left:auto; display:flex; gap:.5rem; align-items:center; }
    main { max-width:1200px; margin:0 auto; padding:1rem; }
    h1 { font-size:1.4rem; margin:.2rem 0 .8rem; } h2 { font-size:1.1rem; margin:.2rem 0 .6rem; }
    section { margin-bottom:1.4rem; }
    .card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:1rem; }
    .card.narrow { max-width:420px; margin:3rem auto; }
    .card.danger { border-color:#f1b5b9; }
    label { display:flex; flex-direction:column; gap:.2rem; font-size:.9rem; color:var(--muted); }
    label.check { flex-direction:row; align-items:center; gap:.4rem; }
    input, select, button { font:inherit; padding:.4rem .5rem; border:1px solid var(--line); border-radius:5px; background:#fff; color:var(--fg); }
    button, a.button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; text-decoration:none; padding:.4rem .8rem; border-radius:5px; display:inline-block; }
    form.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(200px, 1fr)); gap:.7rem; align-items:end; }
    form.inline, .row { display:flex; flex-wrap:wrap; gap:.6rem; align-items:end; }
    #login { display:flex; flex-direction:column; gap:.8rem; }
    .notice { padding:.6rem .8rem; border-radius:6px; background:#ddf4e4; border:1px solid #a6dcb6; }
    .notice.error { background:#ffe9ea; border-color:#f1b5b9; }
    .hint, .facts, .empty, .where { color:var(--muted); }
    table.list { width:100%; border-collapse:collapse; background:#fff; }
    table.list th, table.list td { text-align:left; padding:.35rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
    table.list tr.suspended td, tr.bad td { color:var(--bad); }
    .bar { display:flex; flex-wrap:wrap; gap:.8rem; align-items:center; justify-content:space-between; }
    .doors { display:grid; grid-template-columns:repeat(auto-fill, minmax(170px, 1fr)); gap:.6rem; }
    .door { background:#fff; border:1px solid var(--line); border-left:6px solid var(--ok); border-radius:6px; padding:.6rem; display:flex; flex-direction:column; }
    .door .name { font-weight:600; } .door .state { font-size:1.05rem; margin-top:.2rem; }
    .door.fault { border-left-color:var(--warn); } .door.alarm { border-left-color:var(--bad); background:#fff3f3; }
    .live { font-size:.85rem; color:var(--muted); } .live.on { color:var(--ok); }
    ul.alarms, ol.events { list-style:none; padding:0; margin:0; }
    li.alarm { background:#fff3f3; border:1px solid #f1b5b9; border-radius:6px; padding:.5rem; margin-bottom:.4rem; }
    li.alarm form { margin-top:.4rem; display:flex; flex-wrap:wrap; gap:.4rem; } li.alarm input[name=comment] { flex:1; min-width:180px; }
    li.event { background:#fff; border:1px solid var(--line); border-left:5px solid var(--line); border-radius:6px; padding:.4rem .6rem; margin-bottom:.3rem; display:flex; flex-wrap:wrap; gap:.2rem .6rem; }
    li.event.granted { border-left-color:var(--ok); } li.event.denied, li.event.alarm { border-left-color:var(--bad); }
    li.event .at { color:var(--muted); font-variant-numeric:tabular-nums; } li.event .reasons { color:var(--bad); width:100%; }
    li.event.fresh { animation: flash 2s ease-out; } @keyframes flash { from { background:#fff8c5; } to { background:#fff; } }
    .cols { display:grid; grid-template-columns:repeat(auto-fit, minmax(250px, 1fr)); gap:1rem; }
    figure#enroll-preview { margin:.8rem 0 0; position:relative; max-width:360px; }
    figure#enroll-preview img { width:100%; border-radius:6px; border:3px solid var(--line); }
    #capture-status.rejected { color:var(--bad); } #capture-status.enrolled { color:var(--ok); }
    figure#enroll-preview.rejected img { border-color:var(--bad); } figure#enroll-preview.enrolled img { border-color:var(--ok); }
    figure#enroll-preview figcaption { position:absolute; left:0; right:0; bottom:0; padding:.5rem; background:rgba(20,20,20,.78); color:#fff; border-radius:0 0 6px 6px; white-space:pre-line; }
    .explanation { margin-top:.8rem; padding:.6rem .8rem; border-radius:6px; border:1px solid var(--line); }
    .explanation.allow { background:#ddf4e4; } .explanation.deny { background:#ffe9ea; }
    pre { white-space:pre-wrap; word-break:break-all; background:#f0f3f6; padding:.5rem; border-radius:5px; }
    @media (max-width: 640px) { .who { margin-left:0; } table.list { font-size:.85rem; display:block; overflow-x:auto; } .events-table td:nth-child(8) { display:none; } }
    """

    static let js = """
    'use strict';
    (function () {
      const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
      function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined && text !== null) e.textContent = text; return e; }

      function board() {
        const root = document.getElementById('board');
        if (!root) return;
        const live = document.getElementById('live');
        const events = document.getElementById('events');
        const alarms = document.getElementById('alarms');
        const doors = root.querySelector('.doors');
        document.getElementById('notify').addEventListener('click', () => { if ('Notification' in window) Notification.requestPermission(); });

        function beep() {
          try { const a = new AudioContext(), o = a.createOscillator(); o.frequency.value = 880; o.connect(a.destination); o.start(); o.stop(a.currentTime + 0.4); } catch (e) {}
        }
        function entry(e) {
          const li = el('li', 'event fresh ' + (e.result || '') + (e.alarm ? ' alarm' : ''));
          const at = el('span', 'at', e.at); at.title = e.atUTC + ' UTC';
          li.append(at, el('span', 'type', e.type), el('b', null, e.door || ''), el('span', 'where', e.controller));
          if (e.personName) li.append(el('span', 'person', e.personName + ' (#' + e.personID + ')'));
          if (e.factors && e.factors.length) li.append(el('span', 'factors', e.factors.join('; ')));
          if (e.distance) li.append(el('span', 'distance', 'distance ' + e.distance));
          if (e.liveness) li.append(el('span', 'liveness', 'liveness ' + e.liveness));
          if (e.reasons && e.reasons.length) li.append(el('span', 'reasons', e.reasons.join('. ') + '.'));
          if (e.comment) li.append(el('span', 'comment', e.by + ': ' + e.comment));
          events.prepend(li);
          while (events.children.length > 200) events.lastElementChild.remove();
        }
        function alarm(e) {
          const li = el('li', 'alarm');
          li.dataset.key = e.controller + '#' + e.seq;
          li.append(el('span', 'what', e.type), document.createTextNode(' at '), el('b', null, e.door || ''), document.createTextNode(' (' + e.controller + '), ' + e.at));
          if (root.dataset.canAck === 'true') {
            const f = el('form', 'ack'); f.method = 'post'; f.action = '/console/alarms/ack';
            const hidden = (n, v) => { const i = el('input'); i.type = 'hidden'; i.name = n; i.value = v; return i; };
            const c = el('input'); c.name = 'comment'; c.placeholder = 'What was done (required)'; c.required = true; c.maxLength = 500;
            f.append(hidden('csrf', csrf()), hidden('controller', e.controller), hidden('seq', String(e.seq)), c, el('button', null, 'Acknowledge'));
            li.append(f);
          }
          alarms.prepend(li);
          const none = document.getElementById('no-alarms'); if (none) none.remove();
          beep();
          if ('Notification' in window && Notification.permission === 'granted') new Notification('Warden alarm: ' + e.type, { body: (e.door || '') + ' (' + e.controller + ')' });
        }
        function door(d) {
          let card = Array.from(doors.querySelectorAll('.door')).find(x => x.dataset.controller === d.controller && x.dataset.door === d.door);
          if (!card) {
            card = el('div', 'door'); card.dataset.controller = d.controller; card.dataset.door = d.door;
            card.append(el('span', 'name', d.door), el('span', 'where', d.controller), el('span', 'state', ''));
            doors.append(card);
            const empty = doors.querySelector('.empty'); if (empty) empty.remove();
          }
          card.className = 'door ' + d.severity;
          card.querySelector('.state').textContent = d.label;
        }
        const source = new EventSource('/console/live?after=' + encodeURIComponent(root.dataset.after));
        source.addEventListener('open', () => { live.textContent = 'live'; live.className = 'live on'; });
        source.addEventListener('error', () => { live.textContent = 'reconnecting…'; live.className = 'live'; });
        // An alarm is sent ahead of a backlog and again when the stream reaches it after a
        // reconnect: each event is shown once.
        const shown = new Set();
        source.addEventListener('entry', m => {
          const e = JSON.parse(m.data);
          const key = e.controller + '#' + e.seq;
          if (shown.has(key)) return;
          shown.add(key);
          entry(e);
          if (e.alarm) alarm(e);
          if (e.acknowledges) { const a = alarms.querySelector('li[data-key="' + CSS.escape(e.acknowledges) + '"]'); if (a) a.remove(); }
        });
        source.addEventListener('door', m => door(JSON.parse(m.data)));
        source.addEventListener('closing', () => { live.textContent = 'server restarting…'; live.className = 'live'; });
        source.addEventListener('expired', () => { source.close(); window.location.assign('/console/login'); });
      }

      function enroll() {
        const form = document.getElementById('enroll');
        if (!form) return;
        const figure = document.getElementById('enroll-preview');
        const img = figure.querySelector('img');
        const caption = document.getElementById('enroll-result');
        form.photo.addEventListener('change', () => {
          const f = form.photo.files[0];
          if (!f) return;
          img.src = URL.createObjectURL(f);
          figure.hidden = false; figure.className = ''; caption.textContent = f.name;
        });
        form.addEventListener('submit', async ev => {
          ev.preventDefault();
          const f = form.photo.files[0];
          if (!f) return;
          caption.textContent = 'Checking ' + f.name + '…';
          const q = new URLSearchParams({ name: f.name, largest: form.largest.checked ? '1' : '0' });
          try {
            const r = await fetch('/console/people/' + encodeURIComponent(form.dataset.person) + '/enroll?' + q, {
              method: 'POST', body: f, credentials: 'same-origin',
              headers: { 'Content-Type': 'application/octet-stream', 'X-CSRF-Token': csrf() } });
            const j = await r.json();
            figure.className = j.status === 'enrolled' ? 'enrolled' : 'rejected';
            caption.textContent = j.message + (j.reasons && j.reasons.length ? '\\n' + j.reasons.join('\\n') : '');
            if (j.status === 'enrolled') setTimeout(() => window.location.reload(), 1500);
          } catch (e) { figure.className = 'rejected'; caption.textContent = 'The server did not answer: ' + e; }
        });
      }

      // Enrollment at a door's camera: start the job, then follow it (a long poll) and say
      // what the board says, until it ends.
      function capture() {
        const form = document.getElementById('capture');
        if (!form) return;
        const status = document.getElementById('capture-status');
        form.addEventListener('submit', async ev => {
          ev.preventDefault();
          const button = form.querySelector('button'); button.disabled = true;
          status.className = ''; status.textContent = 'Sending the capture to ' + form.door.value + '…';
          const done = (cls, text) => { status.className = cls; status.textContent = text; button.disabled = false; };
          try {
            let r = await fetch('/console/people/' + encodeURIComponent(form.dataset.person) + '/capture', {
              method: 'POST', credentials: 'same-origin', body: new URLSearchParams({ door: form.door.value, seconds: form.seconds.value }),
              headers: { 'X-CSRF-Token': csrf() } });
            let j = await r.json();
            if (!r.ok) return done('rejected', j.message + ' ' + (j.reasons || []).join(' '));
            for (;;) {
              if (j.state === 'enrolled') {
                done('enrolled', 'Enrolled ' + j.templateIDs.length + (j.templateIDs.length === 1 ? ' template' : ' templates') + ' from ' + j.door + ' (' + j.controller + ').');
                return setTimeout(() => window.location.reload(), 1500);
              }
              if (j.state === 'refused' || j.state === 'failed') return done('rejected', 'Not enrolled: ' + (j.reason || j.state));
              const p = j.progress;
              status.textContent = j.state === 'waiting' ? 'Waiting for ' + j.controller + ' to start…'
                : p ? p.hint + ' (' + p.usable + ' usable of ' + p.frames + ' frames; seen: ' + (p.covered.join(', ') || 'nothing yet') + ')' : 'Capturing…';
              r = await fetch('/console/captures/' + encodeURIComponent(j.job) + '?after=' + j.version, { credentials: 'same-origin' });
              const next = await r.json();
              if (!r.ok) return done('rejected', next.message || 'The server lost the capture.');
              j = next;
            }
          } catch (e) { done('rejected', 'The server did not answer: ' + e); }
        });
      }

      document.addEventListener('DOMContentLoaded', () => { board(); enroll(); capture(); });
    })();
    """
}
