#!/usr/bin/env node
/*
 * Browser side of tests/hub/test_hub_isolation.py: Debian's headless chromium, driven by
 * playwright-core, against the real JupyterHub (its configurable-http-proxy) the test started.
 * One fresh browser profile per user in SESSIONS, one after the other: the user logs in on the
 * hub's login form, optionally opens pages of their own server (OWN, so that the browser holds
 * that server's cookies too), then navigates to every URL of VISIT and, from a page of their
 * own server, fetch()es every URL of FETCH with the browser's credentials. The driver records
 * what the browser really got (status, final URL, page text, document.cookie, every cookie the
 * browser holds); the pytest side judges it.
 *
 * Environment: HUB_URL (ends with "/"), SESSIONS (JSON list of {user, password, own: [url],
 * visit: [url], fetch: [url], sockets: [ws url], fetchFrom: url}), ARTIFACTS (screenshots folder), CHROMIUM,
 * PLAYWRIGHT_FROM (a folder whose node_modules has playwright-core). Prints
 * "JSB-REPORT <json>" as its last line; exits non-zero when a step fails.
 *
 * Chromium runs with its own defaults (ignoreDefaultArgs): tests/browser/chromium.js.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const browser = require(path.join(__dirname, '..', 'browser', 'chromium.js'));

const HUB_URL = process.env.HUB_URL;
const SESSIONS = JSON.parse(process.env.SESSIONS);
const ARTIFACTS = process.env.ARTIFACTS;
/** Page loads and hub logins on a loaded 2-core machine. */
const SLOW_TIMEOUT = 180_000;

function launch() {
  return browser.launch({ timeout: SLOW_TIMEOUT, extraArgs: browser.QUIET_PROFILE_ARGS,
    profilePrefix: 'jsb-hub-chromium-' });
}

/** What a page shows: its text and its document.cookie (either may be unreadable). */
async function pageState(page) {
  const state = {};
  try {
    state.text = await page.evaluate(() => (document.body ? document.body.innerText : ''));
  } catch (error) {
    state.text = '';
    state.textError = String(error);
  }
  try {
    state.html = await page.content();
  } catch (error) {
    state.html = '';
  }
  try {
    state.documentCookie = await page.evaluate(() => document.cookie);
  } catch (error) {
    state.documentCookie = '';
    state.documentCookieError = String(error);
  }
  return state;
}

async function runSession(session, report) {
  const { context, close } = await launch();
  const page = context.pages()[0] ?? (await context.newPage());
  const result = { user: session.user, login: null, own: [], visits: [], fetches: [], sockets: [],
    cookies: [],
    failedRequests: [], consoleErrors: [] };
  page.on('requestfailed', request => result.failedRequests.push(
    { url: request.url(), failure: request.failure() && request.failure().errorText }));
  page.on('console', message => {
    if (message.type() === 'error') {
      result.consoleErrors.push(message.text());
    }
  });
  report.sessions.push(result);
  const shot = async name => {
    const file = path.join(ARTIFACTS, `${session.user}-${name}.png`.replace(/[^A-Za-z0-9.-]/g, '_'));
    await page.screenshot({ path: file }).catch(() => undefined);
  };
  try {
    await page.goto(`${HUB_URL}hub/login`, { timeout: SLOW_TIMEOUT });
    await page.fill('input[name="username"]', session.user);
    await page.fill('input[name="password"]', session.password);
    await Promise.all([
      page.waitForURL(url => !url.pathname.endsWith('/hub/login'), { timeout: SLOW_TIMEOUT }),
      page.click('input[type="submit"], button[type="submit"]')
    ]);
    result.login = { url: page.url() };
    for (const url of session.own || []) {
      // Through the hub's OAuth redirects; the page itself need not finish loading.
      const response = await page.goto(url, { timeout: SLOW_TIMEOUT, waitUntil: 'commit' });
      result.own.push({ url, finalUrl: page.url(), status: response ? response.status() : null });
    }
    let index = 0;
    for (const url of session.visit || []) {
      index += 1;
      const entry = { url };
      try {
        const response = await page.goto(url, { timeout: SLOW_TIMEOUT });
        entry.status = response ? response.status() : null;
        entry.finalUrl = page.url();
        // Every hop the browser made (a redirect chain leaves its trace here).
        const chain = [];
        for (let request = response ? response.request() : null; request;
          request = request.redirectedFrom()) {
          chain.unshift(request.url());
        }
        entry.chain = chain;
        Object.assign(entry, await pageState(page));
      } catch (error) {
        entry.error = String(error);
      }
      await shot(`visit-${index}`);
      result.visits.push(entry);
    }
    if ((session.fetch || []).length) {
      await page.goto(session.fetchFrom, { timeout: SLOW_TIMEOUT, waitUntil: 'domcontentloaded' });
      for (const url of session.fetch) {
        result.fetches.push(await page.evaluate(async target => {
          const out = { url: target };
          // As JupyterLab's own requests do: the page's _xsrf cookie as X-XSRFToken (JupyterHub
          // asks it of cookie-authenticated API calls, GET included).
          const xsrf = (/(?:^|; )_xsrf=([^;]*)/.exec(document.cookie) || [])[1];
          for (const method of ['GET', 'POST']) {
            const headers = xsrf ? { 'X-XSRFToken': decodeURIComponent(xsrf) } : {};
            if (method === 'POST') {
              headers['Content-Type'] = 'application/json';
            }
            try {
              const response = await fetch(target, {
                method, credentials: 'include', redirect: 'manual', headers,
                body: method === 'POST' ? '{"code": "1+1"}' : undefined
              });
              out[method] = { status: response.status, type: response.type,
                body: await response.text() };
            } catch (error) {
              out[method] = { error: String(error) };
            }
          }
          return out;
        }, url));
      }
    }
    if ((session.sockets || []).length) {
      if (!(session.fetch || []).length) {
        await page.goto(session.fetchFrom, { timeout: SLOW_TIMEOUT, waitUntil: 'domcontentloaded' });
      }
      for (const url of session.sockets) {
        result.sockets.push(await page.evaluate(target => new Promise(resolve => {
          const out = { url: target, events: [] };
          const socket = new WebSocket(target);
          const timer = setTimeout(() => { out.events.push('timeout'); socket.close(); resolve(out); }, 30000);
          socket.onopen = () => { out.events.push('open'); socket.send('{}'); };
          socket.onmessage = event => { out.events.push('message:' + String(event.data).slice(0, 500)); };
          socket.onerror = () => { out.events.push('error'); };
          socket.onclose = event => {
            out.events.push(`close:${event.code}`);
            clearTimeout(timer);
            resolve(out);
          };
        }), url));
      }
    }
    result.cookies = (await context.cookies()).map(c => ({
      name: c.name, domain: c.domain, path: c.path, value: c.value }));
  } catch (error) {
    result.error = String(error && error.stack || error);
    await shot('error');
  } finally {
    await close().catch(() => undefined);
  }
  return !result.error;
}

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const report = { sessions: [] };
  let ok = true;
  for (const session of SESSIONS) {
    ok = (await runSession(session, report)) && ok;
  }
  console.log('JSB-REPORT ' + JSON.stringify(report));
  process.exit(ok ? 0 : 1);
}

main().catch(error => {
  console.log('JSB-REPORT ' + JSON.stringify({ fatal: String(error && error.stack || error) }));
  process.exit(2);
});
