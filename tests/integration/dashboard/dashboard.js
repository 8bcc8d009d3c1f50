// SPDX-License-Identifier: MIT
// The dashboard in a real browser (Debian's chromium, driven by puppeteer-core) against a live manager
// started by test-dashboard.sh. Prints "PASS text", "FAIL text" and "# text" lines, which the shell turns
// into TAP. Environment: URL (http://127.0.0.1:PORT), OP, READ, LIM (tokens: operate, read, operate limited
// to hello), SHOTS (a directory for screenshots, optional), CHROMIUM (the browser).
'use strict';
const http = require('http');
const puppeteer = require('puppeteer-core');

const URL = process.env.URL;
const { OP, READ, LIM } = process.env;
const out = (s) => process.stdout.write(s + '\n');
let failed = 0;
function check(cond, what, why) {
        out((cond ? 'PASS ' : 'FAIL ') + what);
        if (!cond) {
                failed++;
                if (why)
                        out('# ' + String(why).split('\n').join('\n# '));
        }
}

// The API as a client that is not a browser.
async function api(method, path, tok, hdrs) {
        const h = Object.assign({}, hdrs || {});
        if (tok)
                h.Authorization = 'Bearer ' + tok;
        const r = await fetch(URL + path, { method, headers: h });
        let body = null;
        try {
                body = await r.json();
        } catch (e) {
                body = null;
        }
        return { status: r.status, body };
}
const runsOf = async (svc) => (await api('GET', '/api/v1/runs?limit=500&service=' + svc, OP)).body.runs;

// Console errors and uncaught exceptions fail the test, but for the HTTP errors a step expects (a bad
// token's 401, a missing retry route's 404): Chromium logs each failed fetch as a console error.
let allowed = [];
const problems = [];
function watch(page, name) {
        page.on('console', (m) => {
                if (m.type() !== 'error')
                        return;
                const t = m.text();
                if (allowed.some((re) => re.test(t)))
                        return;
                problems.push(name + ': console error: ' + t);
        });
        page.on('pageerror', (e) => problems.push(name + ': uncaught: ' + e.message));
}

const visible = (page, sel) => page.$eval(sel, (e) => !e.hidden && e.offsetParent !== null).catch(() => false);
const text = (page, sel) => page.$eval(sel, (e) => e.textContent).catch(() => null);
async function waitText(page, sel, re, ms) {
        try {
                await page.waitForFunction((s, src) => {
                        const e = document.querySelector(s);
                        return e && new RegExp(src).test(e.textContent);
                }, { timeout: ms || 15000, polling: 100 }, sel, re.source);
                return true;
        } catch (e) {
                return false;
        }
}

// A click with the mouse; the page re-renders its tables when the data change, so an element found may be
// replaced before the click lands: then find it again.
async function click(page, sel) {
        for (let i = 0; ; i++) {
                try {
                        await page.waitForSelector(sel, { timeout: 10000 });
                        await page.click(sel);
                        return;
                } catch (e) {
                        if (i >= 20 || !/detached|not clickable|No element|not an Element/.test(e.message))
                                throw e;
                        await new Promise((r) => setTimeout(r, 100));
                }
        }
}

async function login(page, tok) {
        await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
        await page.type('#token', tok);
        await click(page, '#login-go');
}

async function logout(page) {
        await click(page, '#logout');
        await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
}

async function main() {
        const browser = await puppeteer.launch({
                executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run'],
        });
        try {
                await run(browser);
        } finally {
                await browser.close();
        }
}

async function run(browser) {
        const page = await browser.newPage();
        await page.setViewport({ width: 1100, height: 760 });
        watch(page, 'dashboard');

        // No token: the page and its files load, the login form shows, the API stays shut.
        const t0 = Date.now();
        const resp = await page.goto(URL + '/', { waitUntil: 'networkidle0' });
        out('# the page loaded (network idle) in ' + (Date.now() - t0) + ' ms');
        check(resp.status() === 200, 'GET / is 200 without a token');
        const h = resp.headers();
        const csp = h['content-security-policy'] || '';
        check(/default-src 'none'/.test(csp) && /script-src 'self'(;|$)/.test(csp) && /style-src 'self'(;|$)/.test(csp) &&
                /frame-ancestors 'none'/.test(csp) && !/unsafe-inline|unsafe-eval/.test(csp),
                "the page's Content-Security-Policy: default-src 'none', script and style from 'self' alone, frame-ancestors 'none'", csp);
        check(h['x-frame-options'] === 'DENY', 'X-Frame-Options: DENY', h['x-frame-options']);
        check(h['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff');
        check(h['referrer-policy'] === 'no-referrer', 'Referrer-Policy: no-referrer');
        check(!h['set-cookie'], 'no cookie is set');
        check(await visible(page, '#login') && !(await visible(page, '#app')), 'no token: the login form, not the dashboard');
        const inline = await page.$$eval('script', (s) => s.filter((x) => !x.src || new window.URL(x.src).origin !== location.origin).length);
        check(inline === 0, 'every script of the page is its own file from the manager (none inline, none from elsewhere)');
        const unauth = await api('GET', '/api/v1/services');
        check(unauth.status === 401, 'the API without a token: 401');

        // A bad token is refused at the login form.
        allowed = [/status of 401/];
        await login(page, 'tfr_' + '0'.repeat(64));
        check(await waitText(page, '#login-error', /refused/), 'a bad token: the login form says it was refused',
                await text(page, '#login-error'));
        allowed = [];

        // An operate token: the services, with their buttons.
        await login(page, OP);
        check(await waitText(page, '#who', /^op · operate$/), 'logged in with an operate token: the page names it and its role',
                await text(page, '#who'));
        await page.waitForSelector('#services-body tr[data-service="hello"]', { timeout: 10000 }).catch(() => null);
        const svcs = await page.$$eval('#services-body tr', (r) => r.map((x) => x.dataset.service));
        check(['bad', 'hello', 'tick'].every((s) => svcs.includes(s)), 'the services are listed: ' + svcs.join(' '));
        check(await waitText(page, '#services-body tr[data-service="tick"] td:nth-child(2)', /waiting/) &&
                await waitText(page, '#services-body tr[data-service="tick"] td:nth-child(3)', /^in \d+ (s|min)$/),
                'a scheduled service shows its state (waiting) and its next fire (in N min)',
                await text(page, '#services-body tr[data-service="tick"]'));
        const services = (await api('GET', '/api/v1/services', OP)).body.services;
        const usable = services.filter((s) => s.state !== 'broken').length;
        check((await page.$$('#services-body button[data-act="trigger"]')).length === usable,
                'operate: a trigger button on every service that is not broken (' + usable + ')');
        const flow = services.find((s) => s.name === 'flow' || /flow\.yaml$/.test(s.file));
        if (flow && flow.state === 'broken')
                check(await waitText(page, '#services-body tr[data-service=""]', /^flow\.yaml\s*broken/), 'a broken file: its file name and state broken');
        check(await page.$('#services-body tr[data-service="tick"] button[data-act="disable"]') !== null &&
                await page.$('#services-body tr[data-service="hello"] button[data-act="disable"]') === null,
                'operate: a disable button on the scheduled service alone');
        check((await page.cookies()).length === 0, 'no cookie after the login (the token stays in the tab)');

        // Trigger: the run appears in the history, its log is followed while it runs, its result shows.
        const before = (await runsOf('hello')).length;
        await click(page, '#services-body tr[data-service="hello"] button[data-act="trigger"]');
        check(await waitText(page, '#msg', /trigger hello: started \(hello-/), 'trigger: the page says the run started',
                await text(page, '#msg'));
        check(await page.waitForSelector('#runs-body tr[data-run^="hello-"]', { timeout: 10000 }).then(() => true, () => false),
                'trigger: the run appears in the history');
        check(await waitText(page, '#detail-id', /^hello-/), "trigger: its detail opens");
        check(await waitText(page, '#log-state', /following/, 5000), 'its log is followed while it runs', await text(page, '#log-state'));
        check(await waitText(page, '#log', /line 1/, 10000), 'the log shows the first line while the run runs',
                await text(page, '#log'));
        const midway = await text(page, '#log');
        check(!/line 5/.test(midway), 'the run is still writing then (not a log read after the end)', midway);
        check(await waitText(page, '#log', /line 1[^]*line 2[^]*line 3[^]*line 4[^]*line 5/, 15000),
                'the log follows to the last line',
                await text(page, '#log'));
        check(await waitText(page, '#detail-facts', /status\s*success/, 10000) &&
                await waitText(page, '#runs-body tr[data-run^="hello-"] td:nth-child(3)', /success/, 10000),
                'the run ends: success in its detail and in the history', await text(page, '#detail-facts'));
        check(await waitText(page, '#log-state', /ended/, 5000), 'the log says it ended');
        check((await runsOf('hello')).length === before + 1, 'one run in the history for one click');

        // A workflow's steps, when this tfrun runs workflows.
        if (flow && flow.state !== 'broken') {
                await click(page, '#services-body tr[data-service="flow"] button[data-act="trigger"]');
                check(await waitText(page, '#detail-id', /^flow-/) && await waitText(page, '#detail-facts', /status\s*failure/, 15000),
                        'a workflow run: its detail, failed (its second step exits 4)', await text(page, '#detail-facts'));
                check(await waitText(page, '#steps-body tr[data-step="first"]', /first\s*succe/, 10000) &&
                        await waitText(page, '#steps-body tr[data-step="second"]', /second\s*fail\w*\s*4/, 10000),
                        'its steps: first succeeded, second failed with exit 4', await text(page, '#steps-body'));
                await click(page, '#steps-body tr[data-step="second"]');
                check(await waitText(page, '#log', /from-second/, 10000) && await waitText(page, '#log-which', /step second/),
                        "a step's log on a click on the step", await text(page, '#log'));
                await click(page, '#log-run');
                check(await waitText(page, '#log-which', /^$/, 5000), "back to the run's log");
                if (process.env.SHOTS)
                        await page.screenshot({ path: process.env.SHOTS + '/dashboard-steps.png', fullPage: true });
        } else
                out('# this tfrun does not run workflows yet: the steps view is not exercised');

        // Filters: a failing run; status=failure shows it and nothing else.
        await api('POST', '/api/v1/services/bad/trigger', OP);
        await page.select('#f-status', 'failure');
        check(await waitText(page, '#runs-body', /bad-/, 10000), 'filter status=failure: the failed run is listed');
        const sts = await page.$$eval('#runs-body tr td:nth-child(3)', (t) => t.map((x) => x.textContent));
        check(sts.length > 0 && sts.every((s) => s === 'failure'), 'filter status=failure: nothing else (' + sts.join(',') + ')');
        await page.select('#f-status', '');
        await page.select('#f-service', 'hello');
        await page.waitForFunction(() => Array.from(document.querySelectorAll('#runs-body tr')).every((t) => t.dataset.run.startsWith('hello-')),
                { timeout: 10000 }).catch(() => null);
        const sv = await page.$$eval('#runs-body tr td:nth-child(2)', (t) => t.map((x) => x.textContent));
        check(sv.length > 0 && sv.every((s) => s === 'hello'), 'filter service=hello: its runs alone (' + sv.join(',') + ')');
        await page.select('#f-service', '');
        await page.select('#f-since', '3600');
        check(await waitText(page, '#runs-body', /bad-/, 10000), 'filter since 1 hour: the runs of now are there');
        await page.select('#f-since', '');

        // Retry a failed run: a new run, or (a manager without the route) a message, not an error.
        await click(page, '#runs-body tr[data-run^="bad-"]');
        await page.waitForSelector('#retry', { timeout: 10000 });
        allowed = [/status of 40[45]/];
        const nbad = (await runsOf('bad')).length;
        await click(page, '#retry');
        check(await waitText(page, '#msg', /^retry bad-.*: (started|queued)|has no retry/, 10000), 'retry: a new run, or a message that there is no retry',
                await text(page, '#msg'));
        out('# retry said: ' + await text(page, '#msg'));
        if (/started|queued/.test(await text(page, '#msg'))) {
                let more = false;
                for (let i = 0; i < 50 && !more; i++) {
                        more = (await runsOf('bad')).length > nbad;
                        await new Promise((r) => setTimeout(r, 100));
                }
                check(more, 'retry: the history has one more run of the service');
        }
        allowed = [];

        // Disable and enable.
        await click(page, '#services-body tr[data-service="tick"] button[data-act="disable"]');
        check(await waitText(page, '#services-body tr[data-service="tick"] td:nth-child(2)', /disabled/, 10000) &&
                await page.waitForSelector('#services-body tr[data-service="tick"] button[data-act="enable"]', { timeout: 5000 }).then(() => true, () => false),
                'disable: the state says disabled, the button becomes enable');
        const st = (await api('GET', '/api/v1/services/tick', OP)).body;
        check(st && st.enabled === false, 'disable: the manager has it disabled');
        await click(page, '#services-body tr[data-service="tick"] button[data-act="enable"]');
        check(await waitText(page, '#services-body tr[data-service="tick"] td:nth-child(2)', /waiting/, 10000), 'enable: waiting again');

        // Stop a running run from its detail.
        await click(page, '#services-body tr[data-service="long"] button[data-act="trigger"]');
        await page.waitForSelector('#detail-actions #stop-run', { timeout: 10000 }).catch(() => null);
        await click(page, '#detail-actions #stop-run');
        check(await waitText(page, '#detail-facts', /status\s*cancelled/, 15000), 'stop: the running run ends cancelled',
                await text(page, '#detail-facts'));

        // A reload keeps the login (sessionStorage), a logout forgets it.
        await page.reload({ waitUntil: 'networkidle0' });
        check(await waitText(page, '#who', /operate/, 5000), 'a reload of the tab keeps the login');
        await logout(page);
        check(await page.evaluate(() => sessionStorage.length) === 0, 'log out: the token is gone from the tab');

        // A read token sees everything but no button that changes anything.
        await login(page, READ);
        check(await waitText(page, '#who', /reader · read/), 'logged in with a read token');
        await page.waitForSelector('#services-body tr[data-service="hello"]', { timeout: 10000 }).catch(() => null);
        await page.waitForSelector('#runs-body tr[data-run]', { timeout: 10000 }).catch(() => null);
        check((await page.$$('#services-body tr')).length >= 3, 'read: the services are listed');
        check((await page.$$('button[data-act]')).length === 0, 'read: no trigger, stop, enable or disable button');
        await click(page, '#runs-body tr[data-run^="hello-"]');
        await waitText(page, '#detail-id', /^hello-/);
        check(await waitText(page, '#log', /line 5/, 10000), "read: a run's detail and its log");
        check((await page.$$('#detail-actions button')).length === 0, 'read: no retry or stop button on a run');
        if (process.env.SHOTS)
                await page.screenshot({ path: process.env.SHOTS + '/dashboard-read.png' });
        await logout(page);

        // A token limited to one service sees that one alone.
        await login(page, LIM);
        check(await waitText(page, '#who', /lim · operate · hello/), 'a token limited to hello: the page says so');
        await page.waitForSelector('#services-body tr[data-service="hello"]', { timeout: 10000 }).catch(() => null);
        const lim = await page.$$eval('#services-body tr', (r) => r.map((x) => x.dataset.service));
        check(lim.join() === 'hello', 'limited: the services list holds hello alone (' + lim.join(',') + ')');
        await page.waitForSelector('#runs-body tr[data-run]', { timeout: 10000 }).catch(() => null);
        const lr = await page.$$eval('#runs-body tr td:nth-child(2)', (t) => t.map((x) => x.textContent));
        check(lr.length > 0 && lr.every((s) => s === 'hello'), 'limited: the history holds its runs alone');
        // Revoked while logged in: the next poll gets 401 and the page goes back to the login form.
        allowed = [/status of 401/];
        const rv = await api('DELETE', '/api/v1/tokens/lim', process.env.ADM);
        check(rv.status === 200, 'revoke the limited token (admin)');
        check(await waitText(page, '#login-error', /refused the token/, 10000) && await visible(page, '#login'),
                'revoked: the page falls back to the login form', await text(page, '#login-error'));
        allowed = [];

        // CSRF: the operate token is in the dashboard's tab; a page of another site posts a form and a
        // fetch to the trigger route. Neither carries a credential: no run starts.
        await login(page, OP);
        await waitText(page, '#who', /operate/);
        await new Promise((r) => setTimeout(r, 2500)); // a poll round
        check(await text(page, '#msg') === '', 'logged in again: no message left over from the revoked token',
                await text(page, '#msg'));
        const n0 = (await runsOf('hello')).length;
        const evil = http.createServer((req, res) => {
                res.writeHead(200, { 'Content-Type': 'text/html' });
                res.end(`<!doctype html><form id=f method=POST action="${URL}/api/v1/services/hello/trigger">
                        <input name=x value=1></form><script>
                        fetch("${URL}/api/v1/services/hello/trigger", {method: "POST", mode: "no-cors", credentials: "include"}).catch(() => 0);
                        setTimeout(() => document.getElementById("f").submit(), 300);</script>`);
        });
        await new Promise((r) => evil.listen(0, '127.0.0.1', r));
        const other = await browser.newPage();
        let formAnswer = null;
        other.on('response', (r) => {
                if (r.request().method() === 'POST' && r.request().resourceType() === 'document')
                        formAnswer = r.status();
        });
        // localhost and 127.0.0.1 are different sites to the browser.
        await other.goto('http://localhost:' + evil.address().port + '/', { waitUntil: 'load' });
        for (let i = 0; i < 50 && formAnswer === null; i++)
                await new Promise((r) => setTimeout(r, 100));
        await new Promise((r) => setTimeout(r, 500));
        check(formAnswer === 401, "another site's form POST to trigger: 401 (there is no cookie to ride on)", 'got ' + formAnswer);
        check((await runsOf('hello')).length === n0, "another site's form and fetch started no run");
        await other.close();
        evil.close();

        // The dashboard's own tab is unharmed, and nothing went to the console.
        check(await visible(page, '#app'), 'the dashboard is still logged in');
        if (process.env.SHOTS) {
                await page.setViewport({ width: 1100, height: 900 });
                await click(page, '#runs-body tr[data-run^="hello-"]');
                await waitText(page, '#log', /line 5/, 10000);
                await page.screenshot({ path: process.env.SHOTS + '/dashboard.png', fullPage: true });
                await logout(page);
                await page.screenshot({ path: process.env.SHOTS + '/dashboard-login.png' });
        }
        check(problems.length === 0, 'no console error and no uncaught exception on any page', problems.join('\n'));
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
        out('FAIL the browser test ran to its end');
        out('# ' + String(e.stack || e).split('\n').join('\n# '));
        process.exit(1);
});
