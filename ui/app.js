/* Cohort web UI: plain JavaScript, no framework, no build step.
 * Talks to the REST API under /v1 with the session cookie; every request that changes state
 * sends the X-CSRF-Token header. Routing is by location.hash (#/datasets, #/trainees/<id>, ...).
 * The Content-Security-Policy forbids inline scripts and style attributes: styling is by
 * classes from app.css, and the few computed sizes (progress bars) are set through the CSSOM. */
'use strict';

(() => {
  const WS_KEY = 'cohort.workspace';
  const SESSION_KEY = 'cohort.signedIn'; /* a hint only: the session cookie is HttpOnly */

  const state = {
    me: null,
    csrf: null,
    ws: null, /* {workspace, workspace_name, role} */
    view: 0, /* bumped on every navigation; async work for an older view drops its result */
    cleanups: [],
  };

  /* ------------------------------------------------------------------ DOM helpers */

  /* h('div', {class: 'x', testid: 'y', onclick: fn}, child, 'text', ...) */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'testid') el.setAttribute('data-testid', v);
        else if (k === 'text') el.textContent = v;
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(el, c);
      else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  const $ = (id) => document.getElementById(id);

  /* ------------------------------------------------------------------ formatting */

  function fmtBytes(n) {
    if (n === null || n === undefined) return '';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    let x = n;
    while (x >= 1024 && i < units.length - 1) {
      x /= 1024;
      i++;
    }
    return (i === 0 ? String(x) : x.toFixed(x < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function fmtTime(ms) {
    if (!ms) return '';
    return new Date(ms).toLocaleString();
  }

  function fmtAgo(ms) {
    if (!ms) return '';
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return new Date(ms).toLocaleDateString();
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined || ms < 0) return '';
    if (ms < 1000) return ms + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
  }

  function fmtNum(x, digits) {
    if (x === null || x === undefined || x === '') return '—';
    const n = Number(x);
    if (!Number.isFinite(n)) return String(x);
    if (digits !== undefined) return n.toFixed(digits);
    if (Number.isInteger(n)) return String(n);
    const a = Math.abs(n);
    return a >= 1000 ? n.toFixed(0) : a >= 1 ? n.toPrecision(4).replace(/\.?0+$/, '') : n.toPrecision(3);
  }

  /* Datetime features keep seconds since the epoch (UTC) in their schema. */
  function fmtDate(sec, withTime) {
    if (sec === null || sec === undefined || !Number.isFinite(Number(sec))) return '—';
    const iso = new Date(Number(sec) * 1000).toISOString();
    return withTime ? iso.slice(0, 16).replace('T', ' ') : iso.slice(0, 10);
  }

  function fmtPct(x) {
    if (x === null || x === undefined || !Number.isFinite(Number(x))) return '—';
    return (Number(x) * 100).toFixed(1) + '%';
  }

  function grade(x) {
    if (x === null || x === undefined || !Number.isFinite(Number(x))) return 'na';
    return x >= 0.8 ? 'good' : x >= 0.6 ? 'fair' : 'poor';
  }

  function shortId(id) {
    return id ? id.replace(/^[a-z]+_/, '').slice(0, 8) : '';
  }

  /* ------------------------------------------------------------------ errors */

  class ApiError extends Error {
    constructor(code, message, field, status) {
      super(message);
      this.code = code;
      this.field = field;
      this.status = status;
    }
  }

  function errorFromBody(status, text, fallback) {
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    const e = body && body.error ? body.error : {};
    const msg = e.message || fallback || 'request failed (HTTP ' + status + ')';
    return new ApiError(e.code || 'http_' + status, msg, e.field || null, status);
  }

  function showBanner(err) {
    const e = err instanceof ApiError ? err : new ApiError('client', (err && err.message) || String(err), null, 0);
    $('banner-message').textContent = e.message;
    const meta = [];
    if (e.code) meta.push(e.code);
    if (e.field) meta.push('field: ' + e.field);
    if (e.status) meta.push('HTTP ' + e.status);
    $('banner-meta').textContent = meta.join(' · ');
    $('banner').hidden = false;
  }

  function hideBanner() {
    $('banner').hidden = true;
  }

  /* Shows an error inside a form: the message under it and the named field marked. */
  function formError(form, err) {
    const box = form.querySelector('.form-error');
    for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
    if (!err) {
      if (box) {
        box.hidden = true;
        box.textContent = '';
      }
      return;
    }
    const e = err instanceof ApiError ? err : new ApiError('client', err.message || String(err), null, 0);
    if (!form.isConnected) return; /* the view is gone (e.g. the session ended) */
    if (!box) {
      showBanner(e);
      return;
    }
    clear(box);
    box.append(h('span', { text: e.message }));
    if (e.code && e.code !== 'client') box.append(h('span', { class: 'error-code', text: e.code }));
    box.hidden = false;
    if (e.field) {
      const input = form.querySelector('[data-field="' + cssAttr(e.field) + '"]');
      if (input) {
        input.classList.add('invalid');
        input.focus();
      }
    }
  }

  function cssAttr(s) {
    return String(s).replace(/["\\]/g, '\\$&');
  }

  /* ------------------------------------------------------------------ API */

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (method !== 'GET' && method !== 'HEAD' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new ApiError('network', 'cannot reach the server (' + e.message + ')', null, 0);
    }
    const text = await resp.text();
    if (!resp.ok) {
      const err = errorFromBody(resp.status, text);
      if (resp.status === 401 && state.me) sessionEnded();
      throw err;
    }
    try {
      return text ? JSON.parse(text) : null;
    } catch (_) {
      throw new ApiError('bad_reply', 'the server sent something that is not JSON', null, resp.status);
    }
  }

  const wsq = () => 'workspace=' + encodeURIComponent(state.ws.workspace);
  const enc = encodeURIComponent;

  /* Upload a file as the raw request body with progress (fetch has no upload progress). */
  function uploadFile(url, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', url);
      xhr.setRequestHeader('X-CSRF-Token', state.csrf || '');
      xhr.setRequestHeader('Content-Type', file.type || 'text/csv');
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.onprogress = (ev) => {
        if (ev.lengthComputable) onProgress(ev.loaded / ev.total, ev.loaded, ev.total);
      };
      xhr.upload.onload = () => onProgress(1, file.size, file.size, true);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          try {
            resolve(JSON.parse(xhr.responseText));
          } catch (_) {
            reject(new ApiError('bad_reply', 'the server sent something that is not JSON', null, xhr.status));
          }
        } else {
          const err = errorFromBody(xhr.status, xhr.responseText);
          if (xhr.status === 401) sessionEnded();
          reject(err);
        }
      };
      xhr.onerror = () => reject(new ApiError('network', 'the upload failed: cannot reach the server', null, 0));
      xhr.onabort = () => reject(new ApiError('aborted', 'the upload was cancelled', null, 0));
      xhr.send(file);
    });
  }

  /* ------------------------------------------------------------------ jobs: live state via SSE */

  const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
  const isTerminal = (j) => TERMINAL.has(j.state);

  /* One watcher per job, shared by every view that shows it. Streams stay open until the job
   * ends (the server then closes the stream), so leaving a view never aborts a request. Past
   * MAX_STREAMS open streams, further jobs are polled. */
  const Jobs = (() => {
    const MAX_STREAMS = 4;
    const entries = new Map();
    let streams = 0;

    function entry(id) {
      let e = entries.get(id);
      if (!e) {
        e = { id, job: null, listeners: new Set(), es: null, done: false, timer: null, started: false };
        entries.set(id, e);
      }
      return e;
    }

    function emit(e, job) {
      const prev = e.job;
      if (prev && prev.state === job.state && prev.progress === job.progress && prev.stage === job.stage &&
          prev.cancel_requested === job.cancel_requested && !(isTerminal(job) && !prev.result && job.result))
        return;
      e.job = job;
      if (isTerminal(job)) e.done = true;
      for (const fn of Array.from(e.listeners)) {
        try {
          fn(job);
        } catch (err) {
          showBanner(err);
        }
      }
    }

    function closeStream(e) {
      if (e.es) {
        e.es.close();
        e.es = null;
        streams--;
      }
      clearTimeout(e.timer);
      e.timer = null;
    }

    function poll(e) {
      if (e.done || !state.me) return;
      e.timer = setTimeout(async () => {
        try {
          emit(e, await api('GET', '/v1/jobs/' + enc(e.id)));
        } catch (err) {
          if (err.status === 404) e.done = true;
        }
        poll(e);
      }, 1000);
    }

    function start(e) {
      if (e.started || e.done) return;
      e.started = true;
      if (!window.EventSource || streams >= MAX_STREAMS) {
        poll(e);
        return;
      }
      streams++;
      const es = new EventSource('/v1/jobs/' + enc(e.id) + '/events');
      e.es = es;
      es.addEventListener('job', (ev) => {
        let job;
        try {
          job = JSON.parse(ev.data);
        } catch (_) {
          return;
        }
        emit(e, job);
        /* The server ends the stream after the last event; close then (onerror), or soon. */
        if (e.done && !e.timer) e.timer = setTimeout(() => closeStream(e), 3000);
      });
      es.addEventListener('error', (ev) => {
        if (ev.data) {
          /* "event: error" from the server: the job is gone */
          e.done = true;
          closeStream(e);
          return;
        }
        if (e.done) {
          closeStream(e);
        } else if (es.readyState === EventSource.CLOSED) {
          closeStream(e);
          poll(e); /* the stream was refused: fall back to polling */
        }
        /* otherwise the browser reconnects by itself */
      });
    }

    /* Calls fn(job) now and on every change; returns an unsubscribe function. */
    function watch(job, fn) {
      const e = entry(job.id);
      if (!e.job || (isTerminal(job) && !e.done)) emit(e, job); /* newer than what we had */
      e.listeners.add(fn);
      fn(e.job);
      if (!e.done) start(e);
      return () => e.listeners.delete(fn);
    }

    function reset() {
      for (const e of entries.values()) {
        e.done = true;
        closeStream(e);
      }
      entries.clear();
      streams = 0;
    }

    return { watch, reset, known: (id) => (entries.get(id) || {}).job };
  })();

  /* Watches a job for the current view only: the listener goes when the view changes. */
  function watchJob(job, fn) {
    const off = Jobs.watch(job, fn);
    state.cleanups.push(off);
    return off;
  }

  /* A job's error worth showing (a cancelled job's "cancelled" says nothing the badge does not). */
  function jobError(j) {
    if (!j.error || (j.state === 'cancelled' && /^cancel(l)?ed$/i.test(j.error.trim()))) return '';
    return j.error;
  }

  function progressBar(testid) {
    const bar = h('div', { class: 'progress-fill' });
    const wrap = h('div', { class: 'progress', testid, role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' }, bar);
    wrap.set = (frac, st) => {
      const f = Math.max(0, Math.min(1, Number(frac) || 0));
      bar.style.width = (f * 100).toFixed(1) + '%';
      wrap.setAttribute('aria-valuenow', String(Math.round(f * 100)));
      wrap.dataset.state = st || '';
    };
    wrap.set(0, '');
    return wrap;
  }

  function stateBadge(st, testid) {
    return h('span', { class: 'badge badge-' + st, testid, text: st });
  }

  /* A live panel for one job: kind, state, stage, progress bar, error, cancel button. */
  function jobPanel(job, opts = {}) {
    const badge = h('span', { class: 'badge' });
    const stage = h('span', { class: 'job-stage muted' });
    const pct = h('span', { class: 'job-pct', testid: 'job-percent' });
    const bar = progressBar('job-progress');
    const err = h('div', { class: 'job-error', hidden: true, testid: 'job-error' });
    const extra = h('div', { class: 'job-extra' });
    const cancel = h('button', {
      type: 'button',
      class: 'btn btn-small btn-ghost',
      testid: 'job-cancel',
      text: 'Cancel',
      onclick: async () => {
        cancel.disabled = true;
        try {
          await api('POST', '/v1/jobs/' + enc(job.id) + '/cancel');
        } catch (e) {
          showBanner(e);
          cancel.disabled = false;
        }
      },
    });
    const panel = h('div', { class: 'job-panel', testid: opts.testid || 'job-panel', dataset: { job: job.id } },
      h('div', { class: 'job-head' },
        h('strong', { class: 'job-kind', text: opts.title || job.kind }),
        badge, stage, h('span', { class: 'spacer' }), pct, cancel),
      bar, err, extra);
    let finished = false;
    watchJob(job, (j) => {
      panel.dataset.state = j.state;
      badge.className = 'badge badge-' + j.state;
      badge.textContent = j.cancel_requested && !isTerminal(j) ? 'cancelling' : j.state;
      stage.textContent = isTerminal(j) ? (j.finished_ms && j.started_ms ? 'in ' + fmtDuration(j.finished_ms - j.started_ms) : '') : j.stage || '';
      const frac = j.state === 'succeeded' ? 1 : j.progress;
      bar.set(frac, j.state);
      pct.textContent = Math.round(frac * 100) + '%';
      cancel.hidden = isTerminal(j) || j.cancel_requested;
      const msg = jobError(j);
      err.hidden = !msg;
      err.textContent = msg;
      if (isTerminal(j) && !finished) {
        finished = true;
        if (opts.onDone) opts.onDone(j, extra);
      }
    });
    return panel;
  }

  /* ------------------------------------------------------------------ session */

  async function signIn(username, password) {
    const me = await api('POST', '/v1/auth/login', { username, password });
    localStorage.setItem(SESSION_KEY, '1');
    setMe(me);
  }

  function setMe(me) {
    state.me = me;
    state.csrf = me.csrf_token || state.csrf;
    const saved = localStorage.getItem(WS_KEY);
    state.ws = (me.workspaces || []).find((w) => w.workspace === saved) || null;
    $('user-name').textContent = me.name + (me.admin ? ' (admin)' : '');
    updateHeader();
  }

  function chooseWorkspace(ws) {
    state.ws = ws;
    localStorage.setItem(WS_KEY, ws.workspace);
    updateHeader();
  }

  function updateHeader() {
    $('topbar').hidden = !state.me;
    $('workspace-name').textContent = state.ws ? state.ws.workspace_name : '—';
    $('nav').hidden = !state.ws;
  }

  async function signOut() {
    try {
      await api('POST', '/v1/auth/logout');
    } catch (_) {
      /* signed out either way */
    }
    localStorage.removeItem(SESSION_KEY);
    state.me = null;
    state.csrf = null;
    state.ws = null;
    Jobs.reset();
    updateHeader();
    location.hash = '#/signin';
    route();
  }

  function sessionEnded() {
    if (!state.me) return;
    localStorage.removeItem(SESSION_KEY);
    state.me = null;
    state.csrf = null;
    Jobs.reset();
    updateHeader();
    route('Your session has ended. Sign in again.');
  }

  /* ------------------------------------------------------------------ routing */

  function parseHash() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    return { name: parts[0] || '', id: parts[1] || null };
  }

  function go(path) {
    if (location.hash === '#' + path) route();
    else location.hash = '#' + path;
  }

  function beginView() {
    for (const fn of state.cleanups.splice(0)) {
      try {
        fn();
      } catch (_) {
        /* ignore */
      }
    }
    state.view++;
    const token = state.view;
    const root = clear($('app'));
    return { root, live: () => token === state.view };
  }

  function route(message) {
    const r = parseHash();
    if (!state.me) return viewSignIn(message);
    if (r.name === 'signin') return go('/datasets');
    if (!state.ws || r.name === 'workspaces') return viewWorkspaces();
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === r.name);
    switch (r.name) {
      case 'datasets':
        return r.id ? viewDataset(r.id) : viewDatasets();
      case 'trainees':
        return r.id ? viewTrainee(r.id) : viewTrainees();
      case 'jobs':
        return viewJobs();
      case 'reports':
        return r.id ? viewReport(r.id) : viewReports();
      case 'tokens':
        return viewTokens();
      default:
        return go('/datasets');
    }
  }

  /* Runs an async view body; errors go to the banner unless the view is gone. */
  function run(v, fn) {
    fn().catch((err) => {
      if (v.live() && err.status !== 401) showBanner(err);
    });
  }

  function pageHead(title, sub, ...actions) {
    return h('div', { class: 'page-head' },
      h('div', null, h('h1', { text: title }), sub ? h('p', { class: 'muted', text: sub }) : null),
      h('div', { class: 'page-actions' }, actions));
  }

  function card(title, testid, ...body) {
    return h('section', { class: 'card', testid }, title ? h('h2', { text: title }) : null, body);
  }

  /* Table headings: a name ending in '#' is a numeric (right-aligned) column. */
  function heads(names) {
    return h('thead', null, h('tr', null, names.map((t) => (t.endsWith('#') ? h('th', { class: 'num', text: t.slice(0, -1) }) : h('th', { text: t })))));
  }

  function emptyRow(cols, text) {
    return h('tr', { class: 'empty' }, h('td', { colspan: String(cols), text }));
  }

  /* A button that needs a second click within 4 s to act. */
  function confirmButton(label, testid, action) {
    let armed = false;
    let timer = null;
    const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', testid, text: label });
    b.addEventListener('click', async () => {
      if (!armed) {
        armed = true;
        b.textContent = 'Confirm?';
        b.classList.add('armed');
        timer = setTimeout(() => {
          armed = false;
          b.textContent = b.dataset.label || label;
          b.classList.remove('armed');
        }, 4000);
        return;
      }
      clearTimeout(timer);
      b.disabled = true;
      try {
        await action(b);
      } catch (e) {
        if (e.code !== 'confirm') showBanner(e);
        b.disabled = false;
        armed = false;
        b.textContent = b.dataset.label || label;
        b.classList.remove('armed');
      }
    });
    return b;
  }

  /* ------------------------------------------------------------------ sign in */

  function viewSignIn(message) {
    const v = beginView();
    hideBanner();
    updateHeader();
    const user = h('input', { id: 'signin-user', name: 'username', autocomplete: 'username', required: true, testid: 'signin-username', dataset: { field: 'username' } });
    const pass = h('input', { id: 'signin-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'signin-password', dataset: { field: 'password' } });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'signin-submit', text: 'Sign in' });
    const form = h('form', { class: 'signin-form', testid: 'signin-form', novalidate: true },
      h('div', { class: 'signin-brand' }, h('span', { class: 'logo logo-lg' }), h('span', { text: 'Cohort' })),
      h('p', { class: 'muted', text: 'Tabular data: predict any column, find anomalies, synthesize private data.' }),
      message ? h('p', { class: 'notice', text: message }) : null,
      h('label', { for: 'signin-user', text: 'User name' }), user,
      h('label', { for: 'signin-pass', text: 'Password' }), pass,
      h('div', { class: 'form-error', hidden: true, testid: 'signin-error', role: 'alert' }),
      submit);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError(form, null);
      if (!user.value || !pass.value) {
        formError(form, new ApiError('client', 'Enter your user name and password.', user.value ? 'password' : 'username', 0));
        return;
      }
      submit.disabled = true;
      submit.textContent = 'Signing in…';
      try {
        await signIn(user.value, pass.value);
        const saved = state.ws;
        if (saved) go('/datasets');
        else go('/workspaces');
      } catch (e) {
        if (!v.live()) return;
        formError(form, e);
        submit.disabled = false;
        submit.textContent = 'Sign in';
      }
    });
    v.root.append(h('div', { class: 'signin-wrap' }, form));
    user.focus();
  }

  /* ------------------------------------------------------------------ workspaces */

  function viewWorkspaces() {
    const v = beginView();
    for (const a of document.querySelectorAll('#nav a')) a.classList.remove('active');
    const list = h('div', { class: 'ws-grid', testid: 'workspace-list' });
    const render = (wss) => {
      clear(list);
      if (!wss.length) list.append(h('p', { class: 'muted', text: 'You are not a member of any workspace yet. Create one below.' }));
      for (const w of wss) {
        list.append(h('button', {
          type: 'button',
          class: 'ws-card' + (state.ws && state.ws.workspace === w.workspace ? ' current' : ''),
          testid: 'workspace-option',
          dataset: { workspace: w.workspace, name: w.workspace_name },
          onclick: () => {
            chooseWorkspace(w);
            go('/datasets');
          },
        }, h('strong', { text: w.workspace_name }), h('span', { class: 'badge badge-role', text: w.role }), h('code', { class: 'muted', text: w.workspace })));
      }
    };
    render(state.me.workspaces || []);
    const name = h('input', { name: 'name', placeholder: 'New workspace name', required: true, testid: 'workspace-new-name', dataset: { field: 'name' } });
    const form = h('form', { class: 'inline-form', novalidate: true }, name,
      h('button', { type: 'submit', class: 'btn', text: 'Create workspace', testid: 'workspace-create' }),
      h('div', { class: 'form-error', hidden: true }));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      formError(form, null);
      run(v, async () => {
        try {
          const w = await api('POST', '/v1/workspaces', { name: name.value.trim() });
          const me = await api('GET', '/v1/me');
          setMe(me);
          chooseWorkspace({ workspace: w.id, workspace_name: w.name, role: w.role });
          go('/datasets');
        } catch (e) {
          formError(form, e);
        }
      });
    });
    v.root.append(
      pageHead('Choose a workspace', 'Datasets, trainees, jobs and reports belong to a workspace.'),
      card(null, 'workspace-picker', list),
      card('New workspace', null, form));
    /* Refresh the memberships: roles may have changed since sign-in. */
    run(v, async () => {
      const me = await api('GET', '/v1/me');
      if (!v.live()) return;
      state.me = me;
      state.csrf = me.csrf_token || state.csrf;
      render(me.workspaces || []);
    });
  }

  /* ------------------------------------------------------------------ datasets */

  function viewDatasets() {
    const v = beginView();
    const tbody = h('tbody', null, emptyRow(6, 'Loading…'));
    const table = h('table', { class: 'table', testid: 'dataset-list' },
      heads(['Name', 'Rows#', 'Columns#', 'Size#', 'Uploaded', '']),
      tbody);
    v.root.append(pageHead('Datasets', 'CSV files with a header row. Upload one, then create a trainee from it.'),
      uploadCard(v), card('Your datasets', null, h('div', { class: 'table-wrap' }, table)));
    run(v, async () => {
      const { datasets } = await api('GET', '/v1/datasets?' + wsq());
      if (!v.live()) return;
      clear(tbody);
      if (!datasets.length) tbody.append(emptyRow(6, 'No datasets yet: upload a CSV file above.'));
      datasets.sort((a, b) => b.created_ms - a.created_ms);
      for (const d of datasets) {
        tbody.append(h('tr', { testid: 'dataset-row', dataset: { id: d.id } },
          h('td', null, h('a', { href: '#/datasets/' + enc(d.id), text: d.name })),
          h('td', { class: 'num', text: fmtNum(d.rows) }),
          h('td', { class: 'num', text: fmtNum(d.columns) }),
          h('td', { class: 'num', text: fmtBytes(d.bytes) }),
          h('td', { title: fmtTime(d.created_ms), text: fmtAgo(d.created_ms) }),
          h('td', { class: 'actions' },
            h('a', { class: 'btn btn-small', href: '#/datasets/' + enc(d.id), text: 'Open' }),
            confirmButton('Delete', 'dataset-delete', async (b) => {
              // Trainees made from it: the server says what they lose and asks for force (field "force");
              // a second confirmation sends it. Jobs reading it are never forced.
              const force = b.dataset.force === '1';
              try {
                await api('DELETE', '/v1/datasets/' + enc(d.id) + (force ? '?force=true' : ''));
              } catch (e) {
                if (force || e.status !== 409 || e.field !== 'force') throw e;
                b.dataset.force = '1';
                b.dataset.label = 'Delete anyway';
                showBanner(e);
                throw new ApiError('confirm', 'press Delete anyway to delete it', null, 409);
              }
              if (force) hideBanner(); // the question it answered
              if (v.live()) route();
            }))));
      }
    });
  }

  function uploadCard(v) {
    const file = h('input', { type: 'file', accept: '.csv,text/csv', id: 'upload-file', testid: 'upload-input', dataset: { field: 'body' } });
    const name = h('input', { id: 'upload-name', placeholder: 'Name (defaults to the file name)', testid: 'upload-name', dataset: { field: 'name' } });
    const bar = progressBar('upload-progress');
    const status = h('span', { class: 'muted upload-status', testid: 'upload-status' });
    const progressRow = h('div', { class: 'upload-progress-row', hidden: true }, bar, status);
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'upload-button', text: 'Upload' });
    const form = h('form', { class: 'upload-form', novalidate: true },
      h('div', { class: 'upload-fields' },
        h('label', { class: 'file-drop', for: 'upload-file' }, h('span', { class: 'file-drop-text', text: 'Choose a CSV file…' }), file),
        name, submit),
      progressRow,
      h('div', { class: 'form-error', hidden: true, testid: 'upload-error', role: 'alert' }));
    file.addEventListener('change', () => {
      const f = file.files[0];
      form.querySelector('.file-drop-text').textContent = f ? f.name + ' (' + fmtBytes(f.size) + ')' : 'Choose a CSV file…';
      if (f && !name.value) name.placeholder = f.name;
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError(form, null);
      const f = file.files[0];
      if (!f) {
        formError(form, new ApiError('client', 'Choose a CSV file to upload.', 'body', 0));
        return;
      }
      const dsName = name.value.trim() || f.name;
      submit.disabled = true;
      progressRow.hidden = false;
      bar.set(0, 'running');
      status.textContent = 'Uploading…';
      try {
        const d = await uploadFile('/v1/datasets?' + wsq() + '&name=' + enc(dsName), f, (frac, loaded, total, done) => {
          bar.set(frac, 'running');
          status.textContent = done ? 'Uploaded; checking the CSV…' : fmtBytes(loaded) + ' of ' + fmtBytes(total) + ' (' + Math.round(frac * 100) + '%)';
        });
        bar.set(1, 'succeeded');
        status.textContent = 'Done: ' + fmtNum(d.rows) + ' rows, ' + fmtNum(d.columns) + ' columns.';
        if (v.live()) go('/datasets/' + d.id);
      } catch (e) {
        progressRow.hidden = true;
        formError(form, e);
        submit.disabled = false;
      }
    });
    return card('Upload a CSV', 'upload-card', form);
  }

  function schemaTable(schema) {
    const tbody = h('tbody');
    for (const f of schema || []) {
      let detail = '';
      if (f.levels && f.levels.length) {
        const shown = f.levels.slice(0, 8).join(', ');
        detail = f.levels.length + ' levels: ' + shown + (f.levels.length > 8 ? ', …' : '');
      } else if (f.type === 'datetime') {
        detail = fmtDate(f.min, f.has_time) + ' to ' + fmtDate(f.max, f.has_time);
      } else if (f.type === 'continuous') {
        detail = fmtNum(f.min) + ' to ' + fmtNum(f.max);
        detail += f.integer ? ', integers' : ', ' + f.decimals + (f.decimals === 1 ? ' decimal' : ' decimals');
      }
      const flags = [];
      if (f.id) flags.push('id');
      if (f.ignored) flags.push('ignored');
      tbody.append(h('tr', { dataset: { feature: f.name } },
        h('td', null, h('strong', { text: f.name })),
        h('td', null, h('span', { class: 'type type-' + f.type, text: f.type })),
        h('td', { class: 'muted', text: detail }),
        h('td', { text: flags.join(', ') })));
    }
    return h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'schema-table' },
      h('thead', null, h('tr', null, ['Feature', 'Type', 'Values', 'Flags'].map((t) => h('th', { text: t })))), tbody));
  }

  function previewTable(columns, rows, testid) {
    const table = h('table', { class: 'table table-compact table-data', testid },
      h('thead', null, h('tr', null, h('th', { class: 'rownum', text: '#' }), columns.map((c) => h('th', { class: 'feature', text: c })))),
      h('tbody', null, rows.map((r, i) => h('tr', null,
        h('td', { class: 'rownum', text: String(r.__n !== undefined ? r.__n : i + 1) }),
        (r.cells || r).map((c) => (c === null ? h('td', { class: 'missing', text: '∅', title: 'missing' }) : h('td', { text: c })))))));
    return h('div', { class: 'table-wrap table-bordered' }, table);
  }

  function viewDataset(id) {
    const v = beginView();
    const head = h('div');
    const previewBox = h('div', null, h('p', { class: 'muted', text: 'Loading…' }));
    const schemaBox = h('div', null, h('p', { class: 'muted', text: 'Loading…' }));
    const trainBox = h('div');
    v.root.append(head,
      h('div', { class: 'grid-2' }, card('Schema', 'schema-card', schemaBox), card('Create a trainee', 'create-trainee-card', trainBox)),
      card('Preview', 'preview-card', previewBox));
    let offset = 0;
    const pageRows = 20;

    async function loadPreview(ds) {
      const p = await api('GET', '/v1/datasets/' + enc(id) + '/preview?rows=' + pageRows + '&offset=' + offset);
      if (!v.live()) return;
      clear(previewBox);
      const rows = p.rows.map((cells, i) => ({ cells, __n: p.offset + i + 1 }));
      const last = Math.min(p.offset + p.rows.length, p.total_rows);
      const prev = h('button', { type: 'button', class: 'btn btn-small', text: '← Previous', disabled: p.offset === 0, onclick: () => { offset = Math.max(0, offset - pageRows); run(v, () => loadPreview(ds)); } });
      const next = h('button', { type: 'button', class: 'btn btn-small', text: 'Next →', disabled: last >= p.total_rows, onclick: () => { offset += pageRows; run(v, () => loadPreview(ds)); } });
      previewBox.append(previewTable(p.columns, rows, 'preview-table'),
        h('div', { class: 'pager' }, h('span', { class: 'muted', text: 'Rows ' + (p.rows.length ? p.offset + 1 : 0) + '–' + last + ' of ' + fmtNum(p.total_rows) }), prev, next));
    }

    run(v, async () => {
      const ds = await api('GET', '/v1/datasets/' + enc(id));
      if (!v.live()) return;
      head.append(pageHead(ds.name, fmtNum(ds.rows) + ' rows · ' + fmtNum(ds.columns) + ' columns · ' + fmtBytes(ds.bytes) + ' · uploaded ' + fmtTime(ds.created_ms),
        h('a', { class: 'btn', href: '/v1/datasets/' + enc(id) + '/download', download: ds.name.endsWith('.csv') ? ds.name : ds.name + '.csv', text: 'Download CSV' }),
        h('a', { class: 'btn btn-ghost', href: '#/datasets', text: '← All datasets' })));
      clear(schemaBox).append(schemaTable(ds.schema));
      trainBox.append(createTraineeForm(v, [ds], ds.id));
      await loadPreview(ds);
    });
  }

  function createTraineeForm(v, datasets, selected) {
    const defName = (d) => (d ? d.name.replace(/\.csv$/i, '') : '');
    const select = h('select', { name: 'dataset', testid: 'trainee-dataset', dataset: { field: 'dataset' } },
      datasets.map((d) => h('option', { value: d.id, text: d.name + ' (' + fmtNum(d.rows) + ' rows)', selected: d.id === selected })));
    const name = h('input', { name: 'name', testid: 'trainee-name', required: true, dataset: { field: 'name' }, value: defName(datasets.find((d) => d.id === select.value)) });
    let touched = false;
    name.addEventListener('input', () => (touched = true));
    select.addEventListener('change', () => {
      if (!touched) name.value = defName(datasets.find((d) => d.id === select.value));
    });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'create-trainee-button', text: 'Create and train' });
    const form = h('form', { class: 'stack-form', novalidate: true },
      datasets.length > 1 || !selected ? h('label', null, 'Dataset', select) : null,
      h('label', null, 'Trainee name', name),
      h('p', { class: 'muted small', text: 'A trainee learns from every row of the dataset; training runs as a job.' }),
      h('div', { class: 'form-error', hidden: true, role: 'alert' }),
      h('div', null, submit));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError(form, null);
      if (!select.value) {
        formError(form, new ApiError('client', 'Upload a dataset first.', 'dataset', 0));
        return;
      }
      submit.disabled = true;
      try {
        const r = await api('POST', '/v1/trainees?' + wsq(), { name: name.value.trim(), dataset: select.value });
        Jobs.watch(r.job, () => {});
        go('/trainees/' + r.trainee.id);
      } catch (e) {
        formError(form, e);
        submit.disabled = false;
      }
    });
    return form;
  }

  /* ------------------------------------------------------------------ trainees */

  function traineeState(t) {
    if (t.state === 'corrupt') return { label: 'corrupt', cls: 'failed' }; /* t.corrupt says why */
    if (t.ready) return { label: 'ready', cls: 'succeeded' };
    return { label: 'training', cls: 'running' };
  }

  function viewTrainees() {
    const v = beginView();
    const tbody = h('tbody', null, emptyRow(7, 'Loading…'));
    const createBox = h('div', null, h('p', { class: 'muted', text: 'Loading…' }));
    v.root.append(pageHead('Trainees', 'Instance-based models: each keeps the rows it learned from and answers questions about any column.'),
      card('New trainee', 'new-trainee-card', createBox),
      card('Your trainees', null, h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'trainee-list' },
        heads(['Name', 'State', 'Cases#', 'Analyzed', 'Version#', 'Dataset', 'Created']), tbody))));
    run(v, async () => {
      const [{ trainees }, { datasets }, { jobs }] = await Promise.all([
        api('GET', '/v1/trainees?' + wsq()),
        api('GET', '/v1/datasets?' + wsq()),
        api('GET', '/v1/jobs?' + wsq() + '&limit=200'),
      ]);
      if (!v.live()) return;
      datasets.sort((a, b) => b.created_ms - a.created_ms);
      clear(createBox);
      if (datasets.length) createBox.append(createTraineeForm(v, datasets, datasets[0].id));
      else createBox.append(h('p', { class: 'muted' }, 'Upload a dataset first on the ', h('a', { href: '#/datasets', text: 'Datasets' }), ' page.'));
      const dsName = new Map(datasets.map((d) => [d.id, d.name]));
      clear(tbody);
      if (!trainees.length) tbody.append(emptyRow(7, 'No trainees yet.'));
      trainees.sort((a, b) => b.created_ms - a.created_ms);
      for (const t of trainees) {
        const st = traineeState(t);
        const badge = stateBadge(st.label, 'trainee-state');
        badge.className = 'badge badge-' + st.cls;
        const info = t.info || {};
        const row = h('tr', { testid: 'trainee-row', dataset: { id: t.id } },
          h('td', null, h('a', { href: '#/trainees/' + enc(t.id), text: t.name })),
          h('td', null, badge),
          h('td', { class: 'num', text: info.cases !== undefined ? fmtNum(info.cases) : '—' }),
          h('td', { text: info.analyzed ? 'yes (k=' + info.k + ')' : 'no' }),
          h('td', { class: 'num', text: String(t.version) }),
          h('td', null, t.dataset ? h('a', { href: '#/datasets/' + enc(t.dataset), text: dsName.get(t.dataset) || shortId(t.dataset) }) : '—'),
          h('td', { title: fmtTime(t.created_ms), text: fmtAgo(t.created_ms) }));
        tbody.append(row);
        if (!t.ready) {
          const job = jobs.find((j) => j.trainee === t.id && !isTerminal(j));
          if (job) {
            watchJob(job, (j) => {
              if (j.state === 'succeeded') {
                badge.textContent = 'ready';
                badge.className = 'badge badge-succeeded';
              } else if (isTerminal(j)) {
                badge.textContent = 'training ' + j.state;
                badge.className = 'badge badge-' + j.state;
              } else badge.textContent = 'training ' + Math.round(j.progress * 100) + '%';
            });
          } else {
            const failed = jobs.find((j) => j.trainee === t.id);
            if (failed && isTerminal(failed)) {
              badge.textContent = 'training ' + failed.state;
              badge.className = 'badge badge-' + failed.state;
            }
          }
        }
      }
    });
  }

  function viewTrainee(id) {
    const v = beginView();
    const head = h('div');
    const facts = h('dl', { class: 'facts', testid: 'trainee-facts' });
    const activity = h('div', { class: 'job-list', testid: 'trainee-jobs' });
    const tools = h('div', { testid: 'trainee-tools' });
    const statusBadge = h('span', { class: 'badge', testid: 'trainee-status' });
    const analyzeBtn = h('button', { type: 'button', class: 'btn', testid: 'analyze-button', text: 'Analyze', title: 'Learn the best k, p and feature weights (a job)', disabled: true });
    let trainee = null;
    let toolsShown = false;
    let dsNames = new Map();
    const exportLink = h('a', { class: 'btn', href: '/v1/trainees/' + enc(id) + '/export', testid: 'trainee-export', text: 'Export', title: 'Download the trainee file', hidden: true });
    const shownJobs = new Set();

    v.root.append(head,
      h('div', { class: 'grid-2' },
        card('Overview', 'trainee-overview', h('div', { class: 'status-line' }, statusBadge, h('span', { class: 'spacer' }), analyzeBtn), facts),
        card('Activity', 'trainee-activity', activity)),
      tools);

    function renderFacts(t) {
      clear(facts);
      const info = t.info || {};
      const item = (k, val, testid) => [h('dt', { text: k }), h('dd', { testid, text: val })];
      append(facts, [
        item('Cases', info.cases !== undefined ? fmtNum(info.cases) : '—', 'trainee-cases'),
        item('Features', info.schema ? String(info.schema.filter((f) => !f.ignored).length) : '—'),
        item('Analyzed', info.analyzed ? 'yes: k = ' + info.k + ', p = ' + fmtNum(info.p) : 'not yet (defaults in use)', 'trainee-analyzed'),
        item('Version', String(t.version)),
        item('Updated', fmtTime(t.updated_ms)),
      ]);
      if (t.dataset) {
        facts.append(h('dt', { text: 'Dataset' }), h('dd', null, h('a', { href: '#/datasets/' + enc(t.dataset), testid: 'trainee-dataset-link', text: dsNames.get(t.dataset) || shortId(t.dataset) })));
      }
      const tst = traineeState(t);
      statusBadge.textContent = tst.label;
      statusBadge.className = 'badge badge-' + tst.cls;
      statusBadge.title = t.corrupt || '';
      analyzeBtn.disabled = !t.ready;
      exportLink.hidden = !t.ready;
      exportLink.setAttribute('download', t.name + '.cohort');
    }

    async function refresh() {
      const t = await api('GET', '/v1/trainees/' + enc(id));
      if (!v.live()) return;
      trainee = t;
      renderFacts(t);
      if (t.ready && !toolsShown) {
        toolsShown = true;
        clear(tools).append(predictCard(v, t), anomaliesCard(v, t), synthesizeCard(v, t, showJob));
      } else if (!t.ready && !toolsShown) {
        clear(tools).append(h('p', { class: 'notice', testid: 'trainee-wait', text: 'Prediction, anomalies and synthesis open here once training finishes.' }));
      }
    }

    function showJob(job, opts = {}) {
      if (shownJobs.has(job.id)) return null;
      shownJobs.add(job.id);
      const empty = activity.querySelector('.empty-note');
      if (empty) empty.remove();
      const panel = jobPanel(job, {
        title: job.kind,
        onDone: (j, extra) => {
          const made = j.result && j.result.version;
          if (j.state === 'succeeded' && made && (!trainee || trainee.version < made)) run(v, refresh);
          if (j.state === 'succeeded' && j.result) jobResultLinks(j, extra);
          if (opts.onDone) opts.onDone(j);
        },
      });
      panel.append(h('div', { class: 'muted small', text: 'started ' + fmtTime(job.created_ms) }));
      activity.prepend(panel);
      return panel;
    }

    analyzeBtn.addEventListener('click', () => run(v, async () => {
      analyzeBtn.disabled = true;
      try {
        const r = await api('POST', '/v1/trainees/' + enc(id) + '/analyze', {});
        showJob(r.job);
      } finally {
        analyzeBtn.disabled = !(trainee && trainee.ready);
      }
    }));

    run(v, async () => {
      const [t, { datasets }] = await Promise.all([api('GET', '/v1/trainees/' + enc(id)), api('GET', '/v1/datasets?' + wsq())]);
      if (!v.live()) return;
      trainee = t;
      dsNames = new Map(datasets.map((d) => [d.id, d.name]));
      head.append(pageHead(t.name, 'Trainee ' + t.id,
        exportLink,
        confirmButton('Delete', 'trainee-delete', async () => {
          await api('DELETE', '/v1/trainees/' + enc(id));
          go('/trainees');
        }),
        h('a', { class: 'btn btn-ghost', href: '#/trainees', text: '← All trainees' })));
      await refresh();
      const { jobs } = await api('GET', '/v1/jobs?' + wsq() + '&trainee=' + enc(id) + '&limit=10');
      if (!v.live()) return;
      jobs.sort((a, b) => a.created_ms - b.created_ms);
      for (const j of jobs) showJob(j);
      if (!jobs.length) activity.append(h('p', { class: 'muted empty-note', text: 'No jobs yet.' }));
    });
  }

  /* Links from a finished job to what it made. */
  function jobResultLinks(j, box) {
    const r = j.result || {};
    const links = [];
    if (r.dataset) links.push(h('a', { href: '#/datasets/' + enc(r.dataset), testid: 'job-dataset-link', text: 'Synthetic dataset (' + fmtNum(r.rows) + ' rows)' }));
    if (r.report) links.push(h('a', { href: '#/reports/' + enc(r.report), testid: 'job-report-link', text: 'Report' }));
    if (r.filled !== undefined) links.push(h('span', { text: fmtNum(r.filled) + ' cells filled' }));
    if (j.kind === 'train' && r.cases !== undefined) links.push(h('span', { text: fmtNum(r.cases) + ' cases' }));
    if (links.length) box.append(h('div', { class: 'job-links' }, links));
  }

  function contextField(f) {
    const id = 'ctx-' + f.name;
    const attrs = { id, name: f.name, testid: 'context-' + f.name, dataset: { feature: f.name } };
    let input;
    let list = null;
    if (f.levels && f.levels.length > 100 && f.type !== 'continuous' && f.type !== 'datetime') {
      /* many levels: free text with suggestions */
      list = h('datalist', { id: id + '-levels' }, f.levels.map((l) => h('option', { value: l })));
      input = h('input', Object.assign(attrs, { list: id + '-levels', placeholder: f.levels.length + ' levels' }));
    } else if (f.levels && f.levels.length && f.type !== 'continuous' && f.type !== 'datetime') {
      input = h('select', attrs, h('option', { value: '', text: '—' }), f.levels.map((l) => h('option', { value: l, text: l })));
    } else if (f.type === 'boolean') {
      input = h('select', attrs, ['', 'true', 'false'].map((l) => h('option', { value: l, text: l || '—' })));
    } else if (f.type === 'continuous') {
      input = h('input', Object.assign(attrs, {
        type: 'number',
        step: f.integer ? '1' : 'any',
        placeholder: f.min !== undefined ? fmtNum(f.min) + ' – ' + fmtNum(f.max) : '',
      }));
    } else {
      input = h('input', Object.assign(attrs, { placeholder: f.type === 'datetime' ? (f.has_time ? 'YYYY-MM-DD HH:MM' : 'YYYY-MM-DD') : '' }));
    }
    const wrap = h('div', { class: 'field', dataset: { feature: f.name } },
      h('label', { for: id }, h('span', { class: 'field-name', text: f.name }),
        h('span', { class: 'type type-' + f.type, text: f.type }), h('span', { class: 'type type-target', text: 'target' })),
      input, list);
    wrap.input = input;
    return wrap;
  }

  function predictCard(v, t) {
    const schema = ((t.info && t.info.schema) || []).filter((f) => !f.ignored && !f.id);
    const targetsBox = h('div', { class: 'chips', testid: 'predict-targets' });
    const fieldsBox = h('div', { class: 'fields-grid', testid: 'predict-contexts' });
    const result = h('div', { class: 'predict-result', testid: 'predict-result', hidden: true });
    const fields = new Map();
    const checks = new Map();
    for (const f of schema) {
      const fld = contextField(f);
      fields.set(f.name, fld);
      fieldsBox.append(fld);
      const cb = h('input', { type: 'checkbox', value: f.name, testid: 'target-' + f.name });
      checks.set(f.name, cb);
      cb.addEventListener('change', () => {
        fld.classList.toggle('is-target', cb.checked);
        fld.input.disabled = cb.checked;
        chip.classList.toggle('on', cb.checked);
      });
      const chip = h('label', { class: 'chip' }, cb, h('span', { text: f.name }));
      targetsBox.append(chip);
    }
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'predict-button', text: 'Predict' });
    const fillBtn = t.dataset ? h('button', { type: 'button', class: 'btn btn-ghost', testid: 'predict-fill', text: 'Fill from a random row' }) : null;
    const clearBtn = h('button', { type: 'button', class: 'btn btn-ghost', text: 'Clear', onclick: () => { for (const f of fields.values()) f.input.value = ''; } });
    const form = h('form', { class: 'predict-form', novalidate: true, testid: 'predict-form' },
      h('h3', { text: '1. What to predict' }), targetsBox,
      h('h3', { text: '2. What you know' }),
      h('p', { class: 'muted small', text: 'Leave a field empty when it is unknown; only filled fields are used as context.' }),
      fieldsBox,
      h('div', { class: 'form-error', hidden: true, role: 'alert', testid: 'predict-error' }),
      h('div', { class: 'form-actions' }, submit, fillBtn, clearBtn),
      result);
    if (fillBtn) {
      fillBtn.addEventListener('click', () => run(v, async () => {
        const total = (t.info && t.info.cases) || 1;
        const off = Math.floor(Math.random() * total);
        const p = await api('GET', '/v1/datasets/' + enc(t.dataset) + '/preview?rows=1&offset=' + off);
        if (!p.rows.length) return;
        p.columns.forEach((c, i) => {
          const fld = fields.get(c);
          if (fld && !checks.get(c).checked) fld.input.value = p.rows[0][i] === null ? '' : p.rows[0][i];
        });
      }));
    }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError(form, null);
      const targets = schema.filter((f) => checks.get(f.name).checked).map((f) => f.name);
      if (!targets.length) {
        formError(form, new ApiError('client', 'Choose at least one column to predict.', 'targets', 0));
        return;
      }
      const row = {};
      for (const f of schema) {
        if (targets.includes(f.name)) continue;
        const val = fields.get(f.name).input.value.trim();
        if (val === '') continue;
        row[f.name] = f.type === 'continuous' && Number.isFinite(Number(val)) ? Number(val) : val;
      }
      const body = { targets, rows: [row] };
      if (Object.keys(row).length) body.contexts = Object.keys(row);
      submit.disabled = true;
      try {
        const r = await api('POST', '/v1/trainees/' + enc(t.id) + '/predict', body);
        renderPrediction(result, r.predictions[0], schema, Object.keys(row).length);
      } catch (e) {
        result.hidden = true;
        formError(form, e);
      } finally {
        submit.disabled = false;
      }
    });
    return card('Predict', 'predict-card',
      h('p', { class: 'muted small', text: 'Choose target columns, describe a case, and the trainee predicts the targets from its most similar cases.' }),
      form);
  }

  function renderPrediction(box, p, schema, nctx) {
    clear(box);
    box.hidden = false;
    box.append(h('h3', { text: 'Prediction' + (nctx ? '' : ' (no context given: the typical case)') }));
    if (p.unknown && p.unknown.length) {
      /* Values the trainee never saw match no case: say that this context was not used. */
      const list = p.unknown.map((u) => u.column + ' = ' + JSON.stringify(u.value)).join(', ');
      box.append(h('p', { class: 'notice', testid: 'prediction-unknown',
        text: 'Never seen in training, so not used for this prediction: ' + list + '.' }));
    }
    const grid = h('div', { class: 'pred-grid' });
    for (const [name, value] of Object.entries(p.values)) {
      const f = schema.find((x) => x.name === name) || {};
      const unc = p.uncertainty ? p.uncertainty[name] : null;
      const probs = p.probabilities && p.probabilities[name];
      const block = h('div', { class: 'pred', testid: 'prediction', dataset: { target: name } },
        h('div', { class: 'pred-name', text: name }),
        h('div', { class: 'pred-value', testid: 'prediction-' + name, text: value === null ? '∅ (missing)' : value }));
      if (probs) {
        const pairs = Object.entries(probs).sort((a, b) => (b[1] || 0) - (a[1] || 0));
        const top = pairs.length ? pairs[0][1] : null;
        block.append(h('div', { class: 'pred-unc', testid: 'uncertainty-' + name },
          'confidence ' + fmtPct(top) + (unc !== null && unc !== undefined ? ' · uncertainty ' + fmtNum(unc, 3) : '')));
        const list = h('div', { class: 'probs', testid: 'probabilities-' + name });
        for (const [cls, pr] of pairs) {
          const fill = h('span', { class: 'prob-fill' });
          fill.style.width = ((pr || 0) * 100).toFixed(1) + '%';
          list.append(h('div', { class: 'prob-row' },
            h('span', { class: 'prob-label', text: cls }),
            h('span', { class: 'prob-bar' }, fill),
            h('span', { class: 'prob-val', text: fmtPct(pr) })));
        }
        block.append(list);
      } else {
        block.append(h('div', { class: 'pred-unc', testid: 'uncertainty-' + name },
          unc !== null && unc !== undefined ? '± ' + fmtNum(unc) + ' (expected deviation)' : 'uncertainty unknown'));
        if (f.min !== undefined && value !== null && Number.isFinite(Number(value))) {
          block.append(rangeMarker(Number(value), Number(unc) || 0, f.min, f.max));
        }
      }
      grid.append(block);
    }
    box.append(grid);
  }

  /* A horizontal scale from the feature's min to max with the prediction and its ± band. */
  function rangeMarker(value, unc, min, max) {
    const span = max - min || 1;
    const pos = (x) => Math.max(0, Math.min(100, ((x - min) / span) * 100));
    const band = h('span', { class: 'range-band' });
    band.style.left = pos(value - unc).toFixed(1) + '%';
    band.style.width = (pos(value + unc) - pos(value - unc)).toFixed(1) + '%';
    const dot = h('span', { class: 'range-dot' });
    dot.style.left = pos(value).toFixed(1) + '%';
    return h('div', { class: 'range' }, h('div', { class: 'range-track' }, band, dot),
      h('div', { class: 'range-labels' }, h('span', { text: fmtNum(min) }), h('span', { text: fmtNum(max) })));
  }

  function anomaliesCard(v, t) {
    const top = h('input', { type: 'number', min: '1', max: '100', value: '10', testid: 'anomalies-top', dataset: { field: 'top' } });
    const submit = h('button', { type: 'submit', class: 'btn', testid: 'anomalies-button', text: 'Find anomalies' });
    const out = h('div', { class: 'anomalies-out' });
    const form = h('form', { class: 'inline-form', novalidate: true },
      h('label', { class: 'inline-label' }, 'Show the', top, 'most surprising cases'), submit,
      h('div', { class: 'form-error', hidden: true, role: 'alert' }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError(form, null);
      submit.disabled = true;
      try {
        const n = Math.max(1, Math.min(100, parseInt(top.value, 10) || 10));
        const r = await api('POST', '/v1/trainees/' + enc(t.id) + '/anomalies', { top: n });
        let columns = null;
        const values = new Map();
        if (t.dataset && r.cases.length) {
          /* Case i is row i + 1 of the training dataset (cases are kept in the order trained). */
          const maxCase = Math.max(...r.cases.map((c) => c.case));
          try {
            if (maxCase < 1000) {
              const p = await api('GET', '/v1/datasets/' + enc(t.dataset) + '/preview?rows=' + (maxCase + 1));
              columns = p.columns;
              p.rows.forEach((row, i) => values.set(i, row));
            } else {
              const ps = await Promise.all(r.cases.map((c) => api('GET', '/v1/datasets/' + enc(t.dataset) + '/preview?rows=1&offset=' + c.case)));
              ps.forEach((p, i) => {
                columns = p.columns;
                if (p.rows.length) values.set(r.cases[i].case, p.rows[0]);
              });
            }
          } catch (_) {
            columns = null; /* the dataset may be gone: show the scores alone */
          }
        }
        if (!v.live()) return;
        clear(out);
        const cols = columns || [];
        out.append(h('p', { class: 'muted small', text: 'Scored ' + fmtNum(r.scored) + ' cases. Lower conviction = more surprising; distance contribution = how far a case sits from its neighbours.' }),
          h('div', { class: 'table-wrap table-scroll' }, h('table', { class: 'table table-compact table-data', testid: 'anomalies-table' },
            h('thead', null, h('tr', null, ['Rank', 'Row', 'Conviction', 'Distance contribution'].map((x) => h('th', { class: 'num', text: x })), cols.map((c) => h('th', { class: 'feature', text: c })))),
            h('tbody', null, r.cases.map((c, i) => {
              const row = values.get(c.case);
              return h('tr', { testid: 'anomaly-row' },
                h('td', { class: 'num', text: String(i + 1) }),
                h('td', { class: 'num', title: 'case ' + c.case, text: String(c.case + 1) }),
                h('td', { class: 'num strong', text: fmtNum(c.conviction, 3) }),
                h('td', { class: 'num', text: fmtNum(c.distance_contribution, 3) }),
                cols.map((_, k) => (row && row[k] !== null ? h('td', { text: row[k] }) : h('td', { class: 'missing', text: '∅' }))));
            })))));
      } catch (e) {
        formError(form, e);
      } finally {
        submit.disabled = false;
      }
    });
    return card('Anomalies', 'anomalies-card', form, out);
  }

  function synthesizeCard(v, t, showJob) {
    const cases = (t.info && t.info.cases) || 100;
    const rows = h('input', { type: 'number', min: '1', value: String(cases), testid: 'synth-rows', dataset: { field: 'rows' } });
    const privacy = h('select', { testid: 'synth-privacy', dataset: { field: 'privacy' } },
      h('option', { value: 'reference', text: 'reference (strictest): local, and no row closer to the real rows than to the model\'s own draws' }),
      h('option', { value: 'local', text: 'local (faster): no copies, no row nearer a real row than real rows are to each other' }),
      h('option', { value: 'off', text: 'off: no privacy gate (not private)' }));
    const evaluate = h('input', { type: 'checkbox', checked: true, testid: 'synth-evaluate' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'synth-button', text: 'Synthesize' });
    const out = h('div', { class: 'synth-out', testid: 'synth-result' });
    const form = h('form', { class: 'synth-form', novalidate: true },
      h('div', { class: 'form-row' },
        h('label', null, 'Rows', rows),
        h('label', { class: 'grow' }, 'Privacy', privacy),
        h('label', { class: 'check' }, evaluate, 'Quality and privacy report')),
      h('div', { class: 'form-error', hidden: true, role: 'alert', testid: 'synth-error' }),
      h('div', { class: 'form-actions' }, submit));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError(form, null);
      const n = Number(rows.value);
      if (!Number.isInteger(n) || n < 1) {
        formError(form, new ApiError('client', 'Rows must be a whole number of at least 1.', 'rows', 0));
        return;
      }
      submit.disabled = true;
      try {
        const r = await api('POST', '/v1/trainees/' + enc(t.id) + '/synthesize', { rows: n, privacy: privacy.value, evaluate: evaluate.checked });
        showJob(r.job);
        clear(out).append(jobPanel(r.job, {
          title: 'Synthesizing ' + fmtNum(n) + ' rows',
          testid: 'synth-job',
          onDone: (j, extra) => {
            submit.disabled = false;
            if (j.state === 'succeeded') run(v, () => showSynthResult(v, j, extra));
          },
        }));
      } catch (e) {
        formError(form, e);
        submit.disabled = false;
      }
    });
    return card('Synthesize', 'synth-card',
      h('p', { class: 'muted small', text: 'New rows drawn from the trainee, checked so that no synthetic row copies a real one too closely.' }),
      form, out);
  }

  async function showSynthResult(v, j, box) {
    const r = j.result || {};
    const links = h('div', { class: 'job-links' },
      r.dataset ? h('a', { href: '#/datasets/' + enc(r.dataset), testid: 'synth-dataset-link', text: 'Synthetic dataset: ' + fmtNum(r.rows) + ' rows' }) : null);
    box.append(links);
    if (!r.report) return;
    links.append(
      h('a', { href: '#/reports/' + enc(r.report), testid: 'synth-report-page', text: 'Report page' }),
      h('a', { href: '/v1/reports/' + enc(r.report) + '/html', target: '_blank', rel: 'noopener', testid: 'report-link', text: 'Open report in a new tab ↗' }));
    const rep = await api('GET', '/v1/reports/' + enc(r.report));
    if (!v.live()) return;
    box.append(scoreCards(rep.summary), reportFrame(r.report));
  }

  /* ------------------------------------------------------------------ reports */

  const HEADLINES = [
    ['quality', 'Quality', 'overall fidelity'],
    ['column_shapes', 'Column shapes', 'per-column distributions'],
    ['pair_trends', 'Pair trends', 'relationships between columns'],
    ['dcr_baseline_protection', 'Privacy (DCR baseline)', 'distance to closest real row'],
    ['dcr_overfitting_protection', 'Privacy (overfitting)', 'synthetic closer to training than holdout?'],
  ];

  function scoreCards(summary) {
    const s = summary || {};
    return h('div', { class: 'scores', testid: 'report-scores' },
      HEADLINES.filter(([k]) => k in s).map(([k, label, note]) => h('div', { class: 'score score-' + grade(s[k]), testid: 'score-' + k },
        h('div', { class: 'score-label', text: label }),
        h('div', { class: 'score-value', text: fmtPct(s[k]) }),
        h('div', { class: 'score-note', text: s[k] === null ? (k === 'dcr_overfitting_protection' ? 'needs a holdout dataset' : 'not computed') : note }))),
      'identical_rows' in s ? h('div', { class: 'score score-' + (s.identical_rows ? 'poor' : 'good'), testid: 'score-identical_rows' },
        h('div', { class: 'score-label', text: 'Identical rows' }),
        h('div', { class: 'score-value', text: fmtNum(s.identical_rows) }),
        h('div', { class: 'score-note', text: 'synthetic rows equal to a real one' })) : null);
  }

  function reportFrame(id) {
    return h('iframe', { class: 'report-frame', src: '/v1/reports/' + enc(id) + '/html', title: 'Synthetic data report', sandbox: '', testid: 'report-frame' });
  }

  function viewReports() {
    const v = beginView();
    const tbody = h('tbody', null, emptyRow(8, 'Loading…'));
    v.root.append(pageHead('Reports', 'Quality and privacy of synthetic data against the real data it came from.'),
      card(null, null, h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'report-list' },
        heads(['Created', 'Trainee', 'Quality#', 'Column shapes#', 'Pair trends#', 'DCR baseline#', 'Identical rows#', '']),
        tbody))));
    run(v, async () => {
      const [{ reports }, { trainees }] = await Promise.all([api('GET', '/v1/reports?' + wsq()), api('GET', '/v1/trainees?' + wsq())]);
      if (!v.live()) return;
      const tName = new Map(trainees.map((t) => [t.id, t.name]));
      clear(tbody);
      if (!reports.length) tbody.append(emptyRow(8, 'No reports yet: synthesize data from a trainee to get one.'));
      reports.sort((a, b) => b.created_ms - a.created_ms);
      for (const r of reports) {
        const s = r.summary || {};
        const pct = (k, testid) => h('td', { class: 'num' }, h('span', { class: 'pill pill-' + grade(s[k]), testid, text: fmtPct(s[k]) }));
        tbody.append(h('tr', { testid: 'report-row', dataset: { id: r.id } },
          h('td', { title: fmtTime(r.created_ms), text: fmtAgo(r.created_ms) }),
          h('td', null, r.trainee ? h('a', { href: '#/trainees/' + enc(r.trainee), text: tName.get(r.trainee) || shortId(r.trainee) }) : 'datasets compared'),
          pct('quality', 'report-quality'),
          pct('column_shapes'),
          pct('pair_trends'),
          pct('dcr_baseline_protection'),
          h('td', { class: 'num', text: s.identical_rows !== undefined ? fmtNum(s.identical_rows) : '—' }),
          h('td', { class: 'actions' },
            h('a', { class: 'btn btn-small', href: '#/reports/' + enc(r.id), testid: 'report-view', text: 'View' }),
            h('a', { class: 'btn btn-small btn-ghost', href: '/v1/reports/' + enc(r.id) + '/html', target: '_blank', rel: 'noopener', text: 'Open ↗' }),
            confirmButton('Delete', 'report-delete', async () => {
              await api('DELETE', '/v1/reports/' + enc(r.id));
              if (v.live()) route();
            }))));
      }
    });
  }

  function viewReport(id) {
    const v = beginView();
    run(v, async () => {
      const r = await api('GET', '/v1/reports/' + enc(id));
      if (!v.live()) return;
      const s = r.summary || {};
      v.root.append(pageHead('Report', 'Created ' + fmtTime(r.created_ms),
        h('a', { class: 'btn', href: '/v1/reports/' + enc(id) + '/html', target: '_blank', rel: 'noopener', testid: 'report-link', text: 'Open in a new tab ↗' }),
        h('a', { class: 'btn btn-ghost', href: '#/reports', text: '← All reports' })),
      scoreCards(s),
      h('div', { class: 'job-links' },
        s.synthetic_dataset ? h('a', { href: '#/datasets/' + enc(s.synthetic_dataset), text: 'Synthetic dataset' }) : null,
        s.real_dataset ? h('a', { href: '#/datasets/' + enc(s.real_dataset), text: 'Real dataset' }) : null,
        r.trainee ? h('a', { href: '#/trainees/' + enc(r.trainee), text: 'Trainee' }) : null),
      card(null, 'report-card', reportFrame(id)));
    });
  }

  /* ------------------------------------------------------------------ jobs */

  function viewJobs() {
    const v = beginView();
    const tbody = h('tbody', null, emptyRow(8, 'Loading…'));
    const stateSel = h('select', { testid: 'jobs-filter' }, ['', 'queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => h('option', { value: s, text: s || 'all states' })));
    const refreshBtn = h('button', { type: 'button', class: 'btn btn-ghost', text: 'Refresh' });
    v.root.append(pageHead('Jobs', 'Training, analysis, synthesis and evaluation run as jobs; progress updates live.', stateSel, refreshBtn),
      card(null, null, h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'job-list' },
        heads(['Job', 'Trainee', 'State', 'Progress', 'Stage', 'Created', 'Took#', '']),
        tbody))));
    const rows = new Map();
    let names = new Map();

    function jobRow(job) {
      const badge = h('span', { class: 'badge' });
      const bar = progressBar('job-progress');
      const pct = h('span', { class: 'job-pct' });
      const stage = h('td', { class: 'muted' });
      const took = h('td', { class: 'num' });
      const cancel = h('button', { type: 'button', class: 'btn btn-small btn-ghost', testid: 'job-cancel', text: 'Cancel' });
      const links = h('span', { class: 'row-links' });
      cancel.addEventListener('click', async () => {
        cancel.disabled = true;
        try {
          await api('POST', '/v1/jobs/' + enc(job.id) + '/cancel');
        } catch (e) {
          showBanner(e);
          cancel.disabled = false;
        }
      });
      const err = h('div', { class: 'job-error small', hidden: true });
      const tr = h('tr', { testid: 'job-row', dataset: { id: job.id, kind: job.kind } },
        h('td', null, h('strong', { text: job.kind }), h('div', { class: 'muted small mono', text: job.id }), err),
        h('td', null, job.trainee ? h('a', { href: '#/trainees/' + enc(job.trainee), text: names.get(job.trainee) || shortId(job.trainee) }) : '—'),
        h('td', null, badge),
        h('td', { class: 'progress-cell' }, bar, pct),
        stage,
        h('td', { title: fmtTime(job.created_ms), text: fmtAgo(job.created_ms) }),
        took,
        h('td', { class: 'actions' }, links, cancel));
      let linked = false;
      tr.update = (j) => {
        tr.dataset.state = j.state;
        badge.className = 'badge badge-' + j.state;
        badge.textContent = j.cancel_requested && !isTerminal(j) ? 'cancelling' : j.state;
        const frac = j.state === 'succeeded' ? 1 : j.progress;
        bar.set(frac, j.state);
        pct.textContent = Math.round(frac * 100) + '%';
        stage.textContent = isTerminal(j) ? '' : j.stage || '';
        took.textContent = j.finished_ms && j.started_ms ? fmtDuration(j.finished_ms - j.started_ms) : j.started_ms ? 'running' : '';
        cancel.hidden = isTerminal(j) || j.cancel_requested;
        const msg = jobError(j);
        err.hidden = !msg;
        err.textContent = msg;
        if (j.state === 'succeeded' && j.result && !linked) {
          linked = true;
          if (j.result.report) links.append(h('a', { class: 'btn btn-small', href: '#/reports/' + enc(j.result.report), text: 'Report' }));
          if (j.result.dataset) links.append(h('a', { class: 'btn btn-small btn-ghost', href: '#/datasets/' + enc(j.result.dataset), text: 'Data' }));
        }
      };
      return tr;
    }

    async function load() {
      const q = '/v1/jobs?' + wsq() + '&limit=100' + (stateSel.value ? '&state=' + enc(stateSel.value) : '');
      const [{ jobs }, { trainees }] = await Promise.all([api('GET', q), api('GET', '/v1/trainees?' + wsq())]);
      if (!v.live()) return;
      names = new Map(trainees.map((t) => [t.id, t.name]));
      jobs.sort((a, b) => b.created_ms - a.created_ms);
      const placeholder = tbody.querySelector('tr.empty');
      if (placeholder) placeholder.remove();
      const seen = new Set();
      let prev = null;
      for (const j of jobs) {
        seen.add(j.id);
        let tr = rows.get(j.id);
        if (!tr) {
          tr = jobRow(j);
          rows.set(j.id, tr);
          watchJob(j, tr.update);
        } else if (isTerminal(j) && tr.dataset.state !== j.state) tr.update(j);
        if (prev) prev.after(tr);
        else tbody.prepend(tr);
        prev = tr;
      }
      for (const [id, tr] of rows) {
        if (!seen.has(id)) {
          tr.remove();
          rows.delete(id);
        }
      }
      if (!jobs.length) tbody.append(emptyRow(8, stateSel.value ? 'No ' + stateSel.value + ' jobs.' : 'No jobs yet.'));
    }
    stateSel.addEventListener('change', () => run(v, load));
    refreshBtn.addEventListener('click', () => run(v, load));
    run(v, load);
    /* New jobs started elsewhere (another tab, the API) show up within a few seconds. */
    const timer = setInterval(() => {
      if (v.live() && state.me && document.visibilityState === 'visible') run(v, load);
    }, 5000);
    state.cleanups.push(() => clearInterval(timer));
  }

  /* ------------------------------------------------------------------ API tokens */

  function viewTokens() {
    const v = beginView();
    const tbody = h('tbody', null, emptyRow(5, 'Loading…'));
    const secretBox = h('div', { class: 'secret', hidden: true, testid: 'token-secret-box' });
    const name = h('input', { name: 'name', placeholder: 'e.g. notebook, CI', required: true, testid: 'token-name', dataset: { field: 'name' } });
    const ttl = h('input', { name: 'ttl_days', type: 'number', min: '0', max: '3650', value: '90', testid: 'token-ttl', dataset: { field: 'ttl_days' } });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'token-create', text: 'Create token' });
    const form = h('form', { class: 'form-row', novalidate: true },
      h('label', { class: 'grow' }, 'Name', name),
      h('label', null, 'Expires after (days, 0 = never)', ttl),
      h('div', { class: 'form-row-end' }, submit),
      h('div', { class: 'form-error', hidden: true, role: 'alert', testid: 'token-error' }));
    v.root.append(pageHead('API tokens', 'For scripts and the API: send "Authorization: Bearer <token>". Tokens act as you.'),
      card('New token', 'token-card', form, secretBox),
      card('Your tokens', null, h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'token-list' },
        h('thead', null, h('tr', null, ['Name', 'Created', 'Expires', 'Last used', ''].map((t) => h('th', { text: t })))), tbody))));

    async function load() {
      const { tokens } = await api('GET', '/v1/tokens');
      if (!v.live()) return;
      clear(tbody);
      if (!tokens.length) tbody.append(emptyRow(5, 'No API tokens.'));
      tokens.sort((a, b) => b.created_ms - a.created_ms);
      for (const t of tokens) {
        tbody.append(h('tr', { testid: 'token-row', dataset: { id: t.id, name: t.name } },
          h('td', null, h('strong', { text: t.name }), h('div', { class: 'muted small mono', text: t.id })),
          h('td', { title: fmtTime(t.created_ms), text: fmtAgo(t.created_ms) }),
          h('td', { text: t.expires_ms ? fmtTime(t.expires_ms) : 'never' }),
          h('td', { text: t.last_used_ms ? fmtAgo(t.last_used_ms) : 'never' }),
          h('td', { class: 'actions' }, confirmButton('Revoke', 'token-revoke', async () => {
            await api('DELETE', '/v1/tokens/' + enc(t.id));
            secretBox.hidden = true;
            await load();
          }))));
      }
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError(form, null);
      const days = ttl.value === '' ? 0 : Number(ttl.value);
      if (!Number.isInteger(days) || days < 0) {
        formError(form, new ApiError('client', 'Expiry must be a whole number of days (0 = never).', 'ttl_days', 0));
        return;
      }
      submit.disabled = true;
      try {
        const t = await api('POST', '/v1/tokens', { name: name.value.trim(), ttl_days: days });
        const code = h('code', { class: 'secret-value', testid: 'token-secret', text: t.token });
        const copy = h('button', { type: 'button', class: 'btn btn-small', text: 'Copy' });
        copy.addEventListener('click', async () => {
          try {
            await navigator.clipboard.writeText(t.token);
            copy.textContent = 'Copied';
          } catch (_) {
            const range = document.createRange();
            range.selectNodeContents(code);
            const sel = getSelection();
            sel.removeAllRanges();
            sel.addRange(range);
            copy.textContent = 'Selected: press Ctrl+C';
          }
        });
        clear(secretBox).append(
          h('p', null, h('strong', { text: 'Token "' + t.name + '" created.' }), ' Copy it now: it is shown only this once.'),
          h('div', { class: 'secret-line' }, code, copy));
        secretBox.hidden = false;
        name.value = '';
        await load();
      } catch (e) {
        formError(form, e);
      } finally {
        submit.disabled = false;
      }
    });
    run(v, load);
  }

  /* ------------------------------------------------------------------ start */

  async function boot() {
    $('banner-close').addEventListener('click', hideBanner);
    $('sign-out').addEventListener('click', signOut);
    window.addEventListener('hashchange', () => {
      hideBanner();
      route();
    });
    window.addEventListener('unhandledrejection', (ev) => {
      ev.preventDefault();
      showBanner(ev.reason);
    });
    if (localStorage.getItem(SESSION_KEY)) {
      try {
        setMe(await api('GET', '/v1/me'));
      } catch (e) {
        localStorage.removeItem(SESSION_KEY);
        if (e.status !== 401) showBanner(e);
      }
    }
    route();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
