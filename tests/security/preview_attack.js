#!/usr/bin/env node
/*
 * Browser side of tests/security/test_preview_browser.py: Debian's headless chromium, driven by
 * playwright-core, against the real `jupyter lab` the test started. It plays the user (logs in,
 * opens a notebook, runs its cell, opens the preview in a new tab and in a JupyterLab tab,
 * clicks links) and collects what the preview pages report on the console; the pytest side
 * judges the report and checks the server through its REST API.
 *
 * Environment: LAB_URL (ends with "/"), LAB_TOKEN, SCENARIO ("hostile", "untrusted" or
 * "benign"), NOTEBOOK (path below the server root), ARTIFACTS (screenshots folder, with
 * PREFIX for the file names), CHROMIUM (executable), PLAYWRIGHT_FROM (a folder whose
 * node_modules has playwright-core), FOREIGN_URL (untrusted: a loopback server standing for a
 * foreign host). Prints "JSB-REPORT <json>" as its last line; exits non-zero when a step fails.
 *
 * Chromium runs with its own defaults (ignoreDefaultArgs: see tests/browser/chromium.js).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const browser = require(path.join(__dirname, '..', 'browser', 'chromium.js'));

const LAB_URL = process.env.LAB_URL;
const TOKEN = process.env.LAB_TOKEN;
const SCENARIO = process.env.SCENARIO;
const NOTEBOOK = process.env.NOTEBOOK;
const ARTIFACTS = process.env.ARTIFACTS;
const PREFIX = process.env.PREFIX || SCENARIO;
const STEP_TIMEOUT = 90_000;
/** Kernel start and page loads on a loaded 2-core machine. */
const SLOW_TIMEOUT = 240_000;

const report = { scenario: SCENARIO, steps: [], dialogs: [], pages: [], consoleErrors: [] };

function launch() {
  return browser.launch({ timeout: STEP_TIMEOUT, viewport: { width: 1400, height: 900 },
    extraArgs: [...browser.QUIET_PROFILE_ARGS, ...browser.NO_BACKGROUND_THROTTLING_ARGS] });
}

/** Console lines "<tag> <json>" from every page and frame, and a way to wait for one. */
class ConsoleReports {
  constructor() {
    this.items = [];
    this.waiters = [];
  }
  watch(page) {
    page.on('console', message => {
      const text = message.text();
      const match = /^(JSB-[A-Z]+) (.*)$/s.exec(text);
      if (match) {
        let data;
        try {
          data = JSON.parse(match[2]);
        } catch (error) {
          data = { unparsable: match[2] };
        }
        this.items.push({ tag: match[1], data, frameUrl: message.location().url });
        for (const waiter of [...this.waiters]) {
          waiter();
        }
      } else if (message.type() === 'error') {
        report.consoleErrors.push(`${page.url()}: ${text}`);
      }
    });
  }
  /** The first report with ``tag`` for which ``predicate`` holds, waiting up to ``timeout``. */
  waitFor(tag, predicate, timeout) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.items.find(item => item.tag === tag && predicate(item.data));
        if (found) {
          this.waiters = this.waiters.filter(w => w !== check);
          clearTimeout(timer);
          resolve(found);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== check);
        reject(new Error(`no ${tag} report within ${timeout / 1000} s (have: ${JSON.stringify(this.items.map(i => i.tag))})`));
      }, timeout);
      if (!check()) {
        this.waiters.push(check);
      }
    });
  }
}

async function main() {
  const { context, close } = await launch();
  const reports = new ConsoleReports();
  const watch = page => {
    reports.watch(page);
    page.on('dialog', dialog => {
      report.dialogs.push({ page: page.url(), type: dialog.type(), message: dialog.message() });
      void dialog.dismiss().catch(() => undefined);
    });
    report.pages.push(page.url());
    page.on('framenavigated', frame => {
      if (frame === page.mainFrame()) {
        report.pages.push(frame.url());
      }
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  if (!report.pages.length) {
    watch(page);
  }
  let stepNo = 0;
  const shot = async (target, name) => {
    const file = path.join(ARTIFACTS, `${PREFIX}-${String(stepNo).padStart(2, '0')}-${name}.png`);
    await target.screenshot({ path: file });
    return file;
  };
  const step = async (name, action) => {
    stepNo += 1;
    const started = Date.now();
    try {
      await action();
    } catch (error) {
      await shot(page, `${name}-FAILED`).catch(() => undefined);
      throw new Error(`step ${name}: ${error.message}`);
    }
    const file = await shot(page, name);
    report.steps.push({ step: name, seconds: (Date.now() - started) / 1000, screenshot: file });
  };

  const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const openNotebook = async () => {
    await page.goto(`${LAB_URL}lab/tree/${NOTEBOOK}?reset&token=${TOKEN}`, { timeout: SLOW_TIMEOUT });
    await notebook.waitFor({ timeout: SLOW_TIMEOUT });
    report.labHasApp = await page.evaluate(() => typeof window.jupyterapp === 'object' && window.jupyterapp !== null);
    const news = page.locator('.jp-toast-button').filter({ hasText: 'No' });
    if (await news.count()) {
      await news.first().click();
    }
  };
  const runFirstCell = async () => {
    await page.locator('.jp-StatusBar-Widget').filter({ hasText: 'Sandboxed Python | Idle' }).waitFor({ timeout: SLOW_TIMEOUT });
    const cell = notebook.locator('.jp-Notebook .jp-Cell').first();
    await cell.locator('.cm-content').click();
    await page.keyboard.press('Shift+Enter');
    await cell.locator('.jp-SandboxPreview .jp-SandboxPreview-link').waitFor({ timeout: SLOW_TIMEOUT });
    return cell;
  };
  /** Log the browser in on ``url``'s origin too (Jupyter's cookie is per host). */
  const logInAt = async url => {
    const other = await context.newPage();
    await other.goto(`${url}api/status?token=${TOKEN}`);
    await other.goto(`${url}tree?token=${TOKEN}`, { waitUntil: 'commit' }).catch(() => undefined);
    await other.close();
  };
  const previewPanel = page.locator('.jp-SandboxPreviewPanel:not(.lm-mod-hidden)');

  if (SCENARIO === 'hostile' || SCENARIO === 'benign') {
    const tag = SCENARIO === 'hostile' ? 'JSB-ATTACK' : 'JSB-BENIGN';
    let cell;
    let href;
    await step('notebook-open', openNotebook);
    if (SCENARIO === 'hostile') {
      await step('logged-in-on-localhost', () => logInAt(LAB_URL.replace('://127.0.0.1:', '://localhost:')));
    }
    await step('app-served', async () => {
      cell = await runFirstCell();
      href = await cell.locator('.jp-SandboxPreview-link').getAttribute('href');
      report.previewLink = href;
    });
    await step('new-tab', async () => {
      // An unrelated cookie of the Jupyter host, and a link carrying the Jupyter token (as a
      // pasted address might): neither may reach the app.
      await context.addCookies([{ name: 'unrelated', value: 'jsb-unrelated', url: LAB_URL }]);
      const tab = await context.newPage();
      await tab.goto(SCENARIO === 'hostile' ? `${href}?token=${TOKEN}` : href, { timeout: SLOW_TIMEOUT });
      const found = await reports.waitFor(tag, data => data.framed === false, SLOW_TIMEOUT);
      report.newTab = { ...found.data, finalUrl: tab.url(), frameUrl: found.frameUrl };
      stepNo += 1;
      report.newTab.screenshot = await shot(tab, 'new-tab-content');
      if (SCENARIO === 'hostile') {
        await tab.locator('#popup').click();
        report.newTab.popup = (await reports.waitFor('JSB-POPUP', data => data.framed === false, SLOW_TIMEOUT)).data;
      }
      await tab.close();
    });
    await step('lab-tab', async () => {
      await cell.locator('.jp-SandboxPreview-open').click();
      await previewPanel.waitFor();
      report.iframeSandbox = await previewPanel.locator('iframe').getAttribute('sandbox');
      const found = await reports.waitFor(tag, data => data.framed === true, SLOW_TIMEOUT);
      report.labTab = { ...found.data, frameUrl: found.frameUrl };
      // The page has drawn its results: let the screenshot show them.
      await previewPanel.frameLocator('iframe').locator('#done').waitFor();
      if (SCENARIO === 'hostile') {
        await previewPanel.frameLocator('iframe').locator('#popup').click();
        report.labTab.popup = (await reports.waitFor('JSB-POPUP', data => data.framed === true, SLOW_TIMEOUT)).data;
      }
    });
    report.labUrlAfter = page.url();
    report.labStillThere = await notebook.isVisible();
  } else if (SCENARIO === 'control') {
    // The same attack page run ON the Jupyter origin (as previews were before issue 13): it
    // must see its attacks succeed, or its "blocked" elsewhere would prove nothing.
    await step('control', async () => {
      const tab = await context.newPage();
      await tab.goto(`${LAB_URL}lab?token=${TOKEN}`, { timeout: SLOW_TIMEOUT });
      await tab.locator('.jp-LabShell').waitFor({ timeout: SLOW_TIMEOUT });
      const config = JSON.stringify({ jupyter: [LAB_URL], kernel: 'none' });
      const script = fs.readFileSync(path.join(__dirname, 'hostile_preview_page.js'), 'utf8').replaceAll('__CONFIG__', config).replaceAll('__SEEN__', 'null');
      await tab.evaluate(script);
      const found = await reports.waitFor('JSB-ATTACK', () => true, SLOW_TIMEOUT);
      report.control = found.data;
      await tab.close();
    });
  } else if (SCENARIO === 'untrusted') {
    const foreignHits = async () => (await (await fetch(`${process.env.FOREIGN_URL}hits`)).json()).length;
    await step('notebook-open', openNotebook);
    const outputs = notebook.locator('.jp-SandboxPreview');
    await step('outputs-rendered', async () => {
      await page.waitForFunction(
        n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-SandboxPreview').length >= n,
        Number(process.env.EXPECTED_OUTPUTS),
        { timeout: SLOW_TIMEOUT }
      );
      // Untrusted, as a notebook file from elsewhere is: not one output is trusted.
      report.trustedCells = await page.evaluate(() => {
        const model = window.jupyterapp.shell.currentWidget.content.model;
        return Array.from({ length: model.cells.length }, (_, i) => model.cells.get(i).trusted);
      });
    });
    const titleBefore = await page.title();
    const urlBefore = page.url();
    await step('outputs-clicked', async () => {
      report.outputs = [];
      const count = await outputs.count();
      for (let i = 0; i < count; i++) {
        const output = outputs.nth(i);
        const info = await output.evaluate(node => ({
          text: node.textContent,
          refused: node.classList.contains('jp-mod-refused'),
          links: [...node.querySelectorAll('a')].map(a => a.getAttribute('href')),
          buttons: node.querySelectorAll('button').length,
          frames: node.querySelectorAll('iframe, embed, object').length,
          clickable: [...node.querySelectorAll('[href], [src], [onclick], [formaction], [action]')].length
        }));
        report.outputs.push(info);
        if (!info.refused) {
          continue; // the one valid preview link: opened last, as the barrier below
        }
        // Click everything the output shows, as a curious user would.
        for (const child of await output.locator('*').all()) {
          await child.click({ timeout: 10_000 }).catch(error => report.steps.push({ clickFailed: String(error.message).slice(0, 200) }));
        }
        await output.dblclick().catch(() => undefined);
      }
      // The open-preview command with a script address (the command is what the button calls).
      report.commandRefusal = await page.evaluate(async url => {
        const app = window.jupyterapp;
        if (!app) {
          return 'no jupyterapp';
        }
        void app.commands.execute('jupyter-sandbox:open-preview', { url, label: 'x' });
        return 'executed';
      }, 'javascript:window.__jsbPwned=1;alert(1)');
      const dialog = page.locator('.jp-Dialog').filter({ hasText: 'Not a preview address' });
      await dialog.waitFor();
      report.commandDialog = await dialog.innerText();
      await dialog.locator('.jp-Dialog-button').first().click();
      await dialog.waitFor({ state: 'detached' });
      // The refusal dialog came after every click above was handled: a script address
      // clicked there would have run by now.
    });
    report.after = {
      title: await page.title(),
      titleBefore,
      url: page.url(),
      urlBefore,
      marker: await page.evaluate(() => ({
        global: typeof window.__jsbPwned,
        storage: window.localStorage.getItem('jsb-pwned'),
        body: document.body.dataset.jsbPwned ?? null
      })),
      foreignHits: await foreignHits(),
      panels: await page.locator('.jp-SandboxPreviewPanel').count(),
      openPages: context.pages().length
    };
  } else {
    throw new Error(`unknown SCENARIO ${SCENARIO}`);
  }
  report.cookies = (await context.cookies([LAB_URL, LAB_URL.replace('://127.0.0.1:', '://localhost:')])).map(c => ({
    name: c.name,
    domain: c.domain,
    value: c.name.startsWith('username-') ? '(login)' : c.value
  }));
  report.openPages = context.pages().map(p => p.url());
  await close();
}

main().then(
  () => console.log('JSB-REPORT ' + JSON.stringify(report)),
  error => {
    console.error(error.stack || String(error));
    console.log('JSB-REPORT ' + JSON.stringify({ ...report, error: String(error.message || error) }));
    process.exit(1);
  }
);
