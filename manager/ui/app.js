// SPDX-License-Identifier: MIT
// The tfrun dashboard: one hand-written script, no framework, nothing loaded from elsewhere. It reads the
// manager's API (docs/api.md) with the token its user typed, kept in this tab's sessionStorage and sent in
// the Authorization header only: no cookie, so a page of another site has nothing to send on its behalf.
// Everything shown is set as text (textContent), never parsed as HTML.
'use strict';

(() => {
        const POLL_MS = 2000;
        const LOG_MAX = 256 * 1024; // characters kept in the log view (its head is dropped beyond)
        const ROLES = { read: 1, operate: 2, admin: 3 };
        const $ = (id) => document.getElementById(id);

        let token = sessionStorage.getItem('tfrun-token') || '';
        let me = null;       // GET /api/v1/whoami
        let selected = null; // the run shown in the detail
        let selectedStep = null; // the step whose log is shown (null: the run's)
        let logCtl = null;   // the log stream's AbortController
        let timer = null;
        let last = { services: '', runs: '', detail: '' };

        // el('td', {class: 'x'}, 'text', child...): an element with attributes and children (strings as
        // text).
        function el(tag, attrs, ...kids) {
                const e = document.createElement(tag);
                for (const [k, v] of Object.entries(attrs || {}))
                        if (v !== null && v !== undefined && v !== false)
                                e.setAttribute(k, v === true ? '' : String(v));
                for (const k of kids)
                        if (k !== null && k !== undefined)
                                e.append(k instanceof Node ? k : String(k));
                return e;
        }

        function say(text, error) {
                $('msg').textContent = text;
                $('msg').className = error ? 'error' : '';
        }

        function headers() {
                const h = { Accept: 'application/json' };
                if (token)
                        h.Authorization = 'Bearer ' + token;
                return h;
        }

        // One API call: {status, body}. A 401 means the token went away (revoked): back to the login form.
        async function api(method, path) {
                let r;
                try {
                        r = await fetch(path,
                                { method, headers: headers(), credentials: 'omit', cache: 'no-store' });
                } catch (e) {
                        say('the manager does not answer (' + e.message + ')', true);
                        return { status: 0, body: null };
                }
                let body = null;
                try {
                        body = await r.json();
                } catch (e) {
                        body = null;
                }
                if (r.status === 401 && me) {
                        logout('the manager refused the token: ' + ((body && body.error) || 'unauthorized'));
                }
                return { status: r.status, body };
        }

        const can = (role) => me && ROLES[me.role] >= ROLES[role];

        // ---- formatting ----

        function dur(usec) {
                if (usec === null || usec === undefined || usec < 0)
                        return '';
                const s = usec / 1e6;
                if (s < 1)
                        return Math.round(usec / 1000) + ' ms';
                if (s < 60)
                        return s.toFixed(s < 10 ? 2 : 1) + ' s';
                const m = Math.floor(s / 60);
                if (m < 60)
                        return m + ' min ' + Math.round(s % 60) + ' s';
                return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
        }

        function when(iso, usec) {
                if (!iso)
                        return el('span', {}, '-');
                const d = (usec ? usec / 1000 : Date.parse(iso)) - Date.now();
                const a = Math.abs(d) / 1000;
                const rel = a < 60 ? Math.round(a) + ' s' : a < 3600 ? Math.round(a / 60) + ' min'
                        : a < 86400 ? (a / 3600).toFixed(1) + ' h' : Math.round(a / 86400) + ' d';
                return el('span', { title: iso }, d >= 0 ? 'in ' + rel : rel + ' ago');
        }

        const status = (s) => el('span', { class: 'st-' + (s || 'none') }, s || '-');

        function runDuration(r) {
                if (!r.started_usec)
                        return null;
                return (r.ended_usec || Date.now() * 1000) - r.started_usec;
        }

        // ---- services ----

        function serviceActions(s) {
                const td = el('td', { class: 'acts' });
                if (!can('operate') || s.state === 'broken')
                        return td;
                const b = (act, label) =>
                        el('button', { type: 'button', 'data-act': act, 'data-service': s.name }, label);
                td.append(b('trigger', 'trigger'));
                if (s.running > 0)
                        td.append(b('stop', 'stop'));
                if (s.scheduled)
                        td.append(s.enabled ? b('disable', 'disable') : b('enable', 'enable'));
                return td;
        }

        function renderServices(list) {
                const body = $('services-body');
                body.replaceChildren(...list.map((s) => {
                        const l = s.last;
                        return el('tr', { 'data-service': s.name || '' },
                                // A broken file has no name: its file's, in full on hover.
                                el('td', { title: s.name ? null : s.file },
                                        s.name || s.file.replace(/^.*\//, '')),
                                el('td', { title: s.error || null }, status(s.state)),
                                el('td', {}, s.state === 'disabled' ? '-' : when(s.next, s.next_usec)),
                                el('td', {}, l ? status(l.result || l.status) : '-'),
                                el('td', {}, l ? dur(l.wall_usec) : ''),
                                serviceActions(s));
                }));
                // The service filter offers the services of the token.
                const f = $('f-service');
                const want = [''].concat(list.filter((s) => s.name).map((s) => s.name));
                const have = Array.from(f.options).map((o) => o.value);
                if (want.join() !== have.join()) {
                        const v = f.value;
                        f.replaceChildren(...want.map((n) => el('option', { value: n }, n || 'all')));
                        f.value = want.includes(v) ? v : '';
                }
        }

        async function loadServices() {
                const r = await api('GET', '/api/v1/services');
                if (r.status !== 200 || !r.body)
                        return;
                const key = JSON.stringify([r.body.services, me && me.role]);
                if (key !== last.services) {
                        last.services = key;
                        renderServices(r.body.services);
                }
        }

        // ---- runs ----

        function runsQuery() {
                const q = new URLSearchParams({ limit: '50' });
                if ($('f-service').value)
                        q.set('service', $('f-service').value);
                if ($('f-status').value)
                        q.set('status', $('f-status').value);
                if ($('f-since').value)
                        q.set('since_usec', String((Date.now() - Number($('f-since').value) * 1000) * 1000));
                return '/api/v1/runs?' + q.toString();
        }

        function renderRuns(runs) {
                $('runs-body').replaceChildren(...runs.map((r) => el('tr',
                        { 'data-run': r.run_id, class: r.run_id === selected ? 'sel' : null },
                        el('td', { class: 'mono' }, r.run_id),
                        el('td', {}, r.service),
                        el('td', {}, status(r.status)),
                        el('td', {}, r.trigger || ''),
                        el('td', {}, when(r.started, r.started_usec)),
                        el('td', {}, dur(runDuration(r))),
                        el('td', {}, r.exit_code !== null && r.exit_code !== undefined ? r.exit_code
                                : r.signal ? 'signal ' + r.signal : ''))));
        }

        async function loadRuns() {
                const r = await api('GET', runsQuery());
                if (r.status !== 200 || !r.body) {
                        if (r.status === 400 && r.body && r.body.error)
                                say(r.body.error, true); // a filter the manager refused
                        return;
                }
                const key = JSON.stringify([r.body.runs, selected]);
                if (key !== last.runs) {
                        last.runs = key;
                        renderRuns(r.body.runs);
                }
        }

        // ---- a run ----

        function fact(dl, k, v) {
                if (v === null || v === undefined || v === '')
                        return;
                dl.append(el('div', {}, el('dt', {}, k), el('dd', {}, v)));
        }

        function renderDetail(r) {
                $('detail').hidden = false;
                $('detail-id').textContent = r.run_id;
                const dl = $('detail-facts');
                dl.replaceChildren();
                fact(dl, 'service', r.service);
                fact(dl, 'status', status(r.status));
                fact(dl, 'reason', r.reason);
                fact(dl, 'exit code', r.exit_code);
                fact(dl, 'signal', r.signal);
                fact(dl, 'out of memory', r.oom ? 'yes' : null);
                fact(dl, 'trigger', r.trigger);
                fact(dl, 'attempt', r.attempt > 1 ? r.attempt : null);
                fact(dl, 'retry of', r.retry_of);
                fact(dl, 'scheduled', r.scheduled);
                fact(dl, 'started', r.started);
                fact(dl, 'ended', r.ended);
                fact(dl, 'duration', dur(runDuration(r)));
                fact(dl, 'peak memory', r.peak_memory !== null && r.peak_memory !== undefined
                        ? (r.peak_memory / 1048576).toFixed(1) + ' MiB' : null);
                fact(dl, 'cpu', r.cpu_usec !== null && r.cpu_usec !== undefined ? dur(r.cpu_usec) : null);
                fact(dl, 'backend', r.backend);

                // Steps, when the run has some (a workflow).
                const steps = Array.isArray(r.steps) ? r.steps : [];
                $('steps').hidden = steps.length === 0;
                $('steps-body').replaceChildren(...steps.map((s) => {
                        const res = s.result || s;
                        const exit = res.exit_code !== null && res.exit_code !== undefined
                                ? res.exit_code : '';
                        let d = res.wall_usec;
                        if (d === undefined && s.started_usec)
                                d = (s.ended_usec || Date.now() * 1000) - s.started_usec;
                        const sel = s.name === selectedStep ? 'sel' : null;
                        return el('tr', { 'data-step': s.name || '', class: sel },
                                el('td', {}, s.name || ''), el('td', {}, status(s.status)),
                                el('td', {}, exit !== '' ? exit : s.signal ? 'signal ' + s.signal : ''),
                                el('td', {}, dur(d)), el('td', {}, s.why || ''));
                }));

                const acts = $('detail-actions');
                acts.replaceChildren();
                if (can('operate')) {
                        if (r.status === 'running')
                                acts.append(el('button', { type: 'button', id: 'stop-run' }, 'stop'));
                        else
                                acts.append(el('button', { type: 'button', id: 'retry' }, 'retry'));
                }
        }

        async function loadDetail(follow) {
                if (!selected)
                        return;
                const id = selected;
                const r = await api('GET', '/api/v1/runs/' + encodeURIComponent(id));
                if (id !== selected || r.status !== 200 || !r.body)
                        return;
                const key = JSON.stringify([r.body, me && me.role, selectedStep]);
                if (key !== last.detail) {
                        last.detail = key;
                        renderDetail(r.body);
                }
                // A new selection reads its log, and follows it to the end while the run runs.
                if (follow)
                        streamLog(id, r.body.status === 'running', selectedStep);
        }

        function select(id) {
                if (!id)
                        return;
                selected = id;
                selectedStep = null;
                last.detail = '';
                for (const tr of $('runs-body').children)
                        tr.classList.toggle('sel', tr.dataset.run === id);
                loadDetail(true);
        }

        // ---- the log: the last lines, then followed while the run runs (the API streams it) ----

        function stopLog() {
                if (logCtl)
                        logCtl.abort();
                logCtl = null;
        }

        async function streamLog(id, live, step) {
                stopLog();
                const ctl = new AbortController();
                logCtl = ctl;
                const pre = $('log');
                pre.textContent = '';
                $('log-which').textContent = step ? 'of step ' + step : '';
                $('log-run').hidden = !step;
                $('log-state').textContent = live ? '(following)' : '';
                try {
                        const q = '?tail=500' + (live ? '&follow=1' : '') +
                                (step ? '&step=' + encodeURIComponent(step) : '');
                        const r = await fetch('/api/v1/runs/' + encodeURIComponent(id) + '/log' + q,
                                { headers: headers(), credentials: 'omit', cache: 'no-store', signal: ctl.signal });
                        if (!r.ok) {
                                let e = '';
                                try {
                                        e = (await r.json()).error;
                                } catch (x) {
                                        e = r.statusText;
                                }
                                pre.textContent = '(' + e + ')';
                                return;
                        }
                        const rd = r.body.getReader();
                        const dec = new TextDecoder();
                        for (;;) {
                                const { value, done } = await rd.read();
                                if (done)
                                        break;
                                const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
                                let t = pre.textContent + dec.decode(value, { stream: true });
                                if (t.length > LOG_MAX)
                                        t = t.slice(t.length - LOG_MAX);
                                pre.textContent = t;
                                if (atEnd)
                                        pre.scrollTop = pre.scrollHeight;
                        }
                } catch (e) {
                        if (e.name !== 'AbortError')
                                $('log-state').textContent = '(cut: ' + e.message + ')';
                        return;
                } finally {
                        if (logCtl === ctl)
                                logCtl = null;
                }
                if (selected === id)
                        $('log-state').textContent = live ? '(ended)' : '';
        }

        // ---- actions ----

        async function act(what, service) {
                const r = await api('POST', '/api/v1/services/' + encodeURIComponent(service) + '/' + what);
                if (r.status !== 200) {
                        say(what + ' ' + service + ': ' + ((r.body && r.body.error) || 'HTTP ' + r.status),
                                true);
                        return;
                }
                if (what === 'trigger') {
                        say('trigger ' + service + ': ' + r.body.outcome +
                                (r.body.run_id ? ' (' + r.body.run_id + ')' : ''));
                        if (r.body.run_id)
                                select(r.body.run_id);
                } else
                        say(what + ' ' + service + ': done');
                refresh();
        }

        async function retry() {
                const id = selected;
                const r = await api('POST', '/api/v1/runs/' + encodeURIComponent(id) + '/retry');
                // A manager from before `tfrun retry` has no such route.
                if ((r.status === 404 && r.body && /^no such path/.test(r.body.error || '')) ||
                    r.status === 405) {
                        say('retry: this manager has no retry (it came before `tfrun retry`)', true);
                        return;
                }
                if (r.status !== 200 && r.status !== 201) {
                        say('retry ' + id + ': ' + ((r.body && r.body.error) || 'HTTP ' + r.status), true);
                        return;
                }
                const nid = r.body && (r.body.run_id || (r.body.run && r.body.run.run_id));
                say('retry ' + id + ': ' + ((r.body && r.body.outcome) || 'started') +
                        (nid ? ' (' + nid + ')' : ''));
                if (nid)
                        select(nid);
                refresh();
        }

        // ---- the views ----

        async function refresh() {
                if (!me)
                        return;
                await Promise.all([loadServices(), loadRuns(), loadDetail(false)]);
        }

        function schedule() {
                clearTimeout(timer);
                timer = setTimeout(async () => {
                        // A tab nobody looks at asks nothing; it catches up when it is shown again.
                        if (!document.hidden)
                                await refresh();
                        if (me)
                                schedule();
                }, POLL_MS);
        }

        function showApp() {
                say('');
                $('login').hidden = true;
                $('app').hidden = false;
                $('who').hidden = false;
                $('who').textContent = me.via === 'unix' ? 'unix socket (admin)'
                        : me.name + ' · ' + me.role + (me.services ? ' · ' + me.services.join(', ') : '');
                $('who').dataset.role = me.role;
                $('logout').hidden = me.via === 'unix';
                document.body.dataset.role = me.role;
                refresh().then(schedule);
        }

        function showLogin(error) {
                $('app').hidden = true;
                $('who').hidden = true;
                $('logout').hidden = true;
                $('login').hidden = false;
                $('login-error').textContent = error || '';
                delete document.body.dataset.role;
                $('token').focus();
        }

        function logout(why) {
                me = null;
                token = '';
                selected = null;
                last = { services: '', runs: '', detail: '' };
                sessionStorage.removeItem('tfrun-token');
                clearTimeout(timer);
                stopLog();
                $('services-body').replaceChildren();
                $('runs-body').replaceChildren();
                $('detail').hidden = true;
                say('');
                showLogin(why);
        }

        // whoami is public: without a token it says so (role null) rather than 401.
        async function whoami() {
                const r = await api('GET', '/api/v1/whoami');
                return r.status === 200 && r.body && r.body.role ? r.body : null;
        }

        async function login(ev) {
                ev.preventDefault();
                token = $('token').value.trim();
                $('token').value = '';
                me = await whoami();
                if (!me) {
                        token = '';
                        showLogin('the manager refused this token');
                        return;
                }
                sessionStorage.setItem('tfrun-token', token);
                showApp();
        }

        document.addEventListener('DOMContentLoaded', async () => {
                $('login').addEventListener('submit', login);
                $('logout').addEventListener('click', () => logout(''));
                $('services-body').addEventListener('click', (ev) => {
                        const b = ev.target.closest('button[data-act]');
                        if (b)
                                act(b.dataset.act, b.dataset.service);
                });
                $('runs-body').addEventListener('click', (ev) => {
                        const tr = ev.target.closest('tr[data-run]');
                        if (tr)
                                select(tr.dataset.run);
                });
                $('detail-actions').addEventListener('click', (ev) => {
                        if (ev.target.id === 'retry')
                                retry();
                        else if (ev.target.id === 'stop-run' && selected)
                                act('stop', JSON.parse(last.detail)[0].service);
                });
                // A step's log, and back to the run's.
                const showStep = (step) => {
                        selectedStep = step;
                        last.detail = '';
                        loadDetail(true);
                };
                $('steps-body').addEventListener('click', (ev) => {
                        const tr = ev.target.closest('tr[data-step]');
                        if (tr && tr.dataset.step)
                                showStep(tr.dataset.step);
                });
                $('log-run').addEventListener('click', () => showStep(null));
                document.addEventListener('visibilitychange', () => {
                        if (!document.hidden && me)
                                refresh();
                });
                for (const f of ['f-service', 'f-status', 'f-since'])
                        $(f).addEventListener('change', () => {
                                last.runs = '';
                                loadRuns();
                        });
                me = await whoami();
                if (me)
                        showApp();
                else {
                        if (token)
                                sessionStorage.removeItem('tfrun-token');
                        token = '';
                        showLogin('');
                }
        });
})();
