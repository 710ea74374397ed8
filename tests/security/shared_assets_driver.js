#!/usr/bin/env node
/*
 * Browser side of tests/security/test_preview_shared_assets_browser.py: Debian's headless
 * chromium (playwright-core, the browser's own defaults, a fresh profile) logs in to the real
 * `jupyter server` the test started, then opens a preview link from a Jupyter page in a new
 * tab, as a user clicking the link in a cell output. The multi-file app's page reports on the
 * console what worked ("JSB-ASSETS <json>"), then posts its form; the page that answers the
 * post reports too ("JSB-FORM <json>").
 *
 * Environment: SERVER_URL (ends with "/"), TOKEN, LINK (the preview link), CHROMIUM,
 * PLAYWRIGHT_FROM (a folder whose node_modules has playwright-core), ARTIFACTS (screenshots).
 * Prints "JSB-REPORT <json>" as its last line; exits non-zero when a step fails.
 */
'use strict';
const path = require('path');

const browser = require(path.join(__dirname, '..', 'browser', 'chromium.js'));

const SERVER_URL = process.env.SERVER_URL;
const TOKEN = process.env.TOKEN;
const LINK = process.env.LINK;
const ARTIFACTS = process.env.ARTIFACTS;
/** Page loads and app answers on a loaded 2-core machine. */
const TIMEOUT = 180_000;

function waitForConsole(context, tag) {
  return new Promise(resolve => {
    const watch = page => page.on('console', message => {
      const text = message.text();
      if (text.startsWith(tag + ' ')) {
        resolve({ url: page.url(), data: JSON.parse(text.slice(tag.length + 1)) });
      }
    });
    context.pages().forEach(watch);
    context.on('page', watch);
  });
}

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${TIMEOUT / 1000} s`)), TIMEOUT);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const { context, close } = await browser.launch({ timeout: TIMEOUT });
  const report = { requests: [], consoleErrors: [] };
  context.on('request', request => report.requests.push(`${request.method()} ${request.url()}`));
  context.on('console', message => {
    if (message.type() === 'error') report.consoleErrors.push(message.text());
  });
  try {
    const jupyter = context.pages()[0] || (await context.newPage());
    // Logging in with the token, as the link Jupyter prints does: the login cookie is set.
    const login = await jupyter.goto(`${SERVER_URL}api/status?token=${TOKEN}`);
    report.login = login.status();
    const cookies = await context.cookies(SERVER_URL);
    report.loggedIn = cookies.some(c => c.name.startsWith('username-'));

    const assets = waitForConsole(context, 'JSB-ASSETS');
    const form = waitForConsole(context, 'JSB-FORM');
    // A link on a Jupyter page, opened in a new tab (as a cell output's link is).
    await jupyter.evaluate(link => {
      const anchor = document.createElement('a');
      anchor.href = link;
      anchor.target = '_blank';
      anchor.id = 'jsb-link';
      anchor.textContent = 'open the preview';
      document.body.append(anchor);
    }, LINK);
    const [tab] = await Promise.all([context.waitForEvent('page'), jupyter.click('#jsb-link')]);
    report.newTab = true;
    report.assets = await within(assets, 'the app page');
    await tab.screenshot({ path: path.join(ARTIFACTS, 'shared-assets-page.png') }).catch(() => {});
    report.form = await within(form, 'the form answer');
    await tab.screenshot({ path: path.join(ARTIFACTS, 'shared-assets-form.png') }).catch(() => {});
    report.tabUrl = tab.url();
    report.jupyterCookiesAfter = (await context.cookies(SERVER_URL)).map(c => c.name);
  } finally {
    console.log('JSB-REPORT ' + JSON.stringify(report));
    await close();
  }
}

main().catch(error => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
