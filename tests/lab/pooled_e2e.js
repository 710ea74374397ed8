#!/usr/bin/env node
/*
 * A notebook opened in JupyterLab gets a pre-started (pooled) Sandboxed Python kernel, run in
 * Debian's headless chromium (playwright-core) against the `jupyter lab` that
 * test_lab_pooled_kernel.py started with the PooledKernelManager. Environment: LAB_URL (ends
 * with "/"), LAB_TOKEN, ARTIFACTS, NOTEBOOK (path of the notebook under the root), CHROMIUM,
 * PLAYWRIGHT_FROM. Steps: open the notebook; its kernel answers; a cell lists /workspace (the
 * notebook's own folder) and imports the module beside it; restart (the variable is gone, the
 * folder still there); shut down (the kernel leaves /api/kernels). Prints one JSON line per
 * step, then "JSB-REPORT {...}" with the kernel id the notebook's session had before the
 * restart (the test checks it is the pre-started one). Any browser console error or failed
 * HTTP request fails the run, except the sandbox status polls that race the restart or the
 * shutdown (404/502 while the kernel is away), as in e2e.js.
 */
'use strict';
const path = require('path');

const { chromium, EXECUTABLE } = require(path.join(__dirname, '..', 'browser', 'chromium.js'));

const LAB_URL = process.env.LAB_URL;
const TOKEN = process.env.LAB_TOKEN;
const ARTIFACTS = process.env.ARTIFACTS;
const NOTEBOOK = process.env.NOTEBOOK;
const STEP_TIMEOUT = 60_000;

async function main() {
  const browser = await chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  });
  const errors = [];
  let kernelAway = false;
  const STATUS_POLL = /\/sandbox\/api\/kernels\/[^/]+\/status(\?|$)/;
  const RACED_STATUS = /^Failed to load resource: the server responded with a status of (404|502)/;
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  page.on('console', message => {
    if (message.type() === 'error' && !(kernelAway && RACED_STATUS.test(message.text()))) {
      errors.push(`console error: ${message.text()}`);
    }
  });
  page.on('pageerror', error => errors.push(`page error: ${error.message}`));
  page.on('response', response => {
    if (response.status() >= 400 && !(kernelAway && STATUS_POLL.test(response.url()))) {
      errors.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });
  let stepNo = 0;
  const step = async (name, action) => {
    stepNo += 1;
    const started = Date.now();
    const file = path.join(ARTIFACTS, `${String(stepNo).padStart(2, '0')}-${name}.png`);
    try {
      await action();
    } catch (error) {
      await page.screenshot({ path: file.replace('.png', '-FAILED.png') }).catch(() => undefined);
      throw new Error(`step ${name}: ${error.message}`);
    }
    await page.screenshot({ path: file });
    console.log(JSON.stringify({ step: name, seconds: (Date.now() - started) / 1000, screenshot: file }));
  };
  /** The server's answer to GET ``route`` (JSON), asked from the page with its token. */
  const api = route => page.evaluate(
    async ([url, token]) => (await fetch(url, { headers: { Authorization: `token ${token}` } })).json(),
    [`${LAB_URL}${route}`, TOKEN]);

  const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cells = notebook.locator('.jp-Notebook .jp-Cell');
  const idle = page.locator('.jp-StatusBar-Widget').filter({ hasText: 'Sandboxed Python | Idle' });
  /** Type ``code`` into a new last cell (or the empty last one), run it, wait for its output. */
  const runCell = async (code, expected) => {
    let index = (await cells.count()) - 1;
    if ((await cells.nth(index).locator('.cm-content').innerText()).trim() !== '') {
      await cells.nth(index).locator('.jp-InputPrompt').click();
      await page.keyboard.press('b');
      index += 1;
      await cells.nth(index).waitFor();
    }
    const cell = cells.nth(index);
    await cell.locator('.cm-content').click();
    await page.keyboard.insertText(code);
    await page.keyboard.press('Shift+Enter');
    await cell.locator('.jp-OutputArea-output').filter({ hasText: expected }).waitFor({ timeout: 120_000 });
    return cell;
  };
  let kernelId = null;

  await step('notebook-opened', async () => {
    await page.goto(`${LAB_URL}lab/tree/${NOTEBOOK}?reset&token=${TOKEN}`);
    await notebook.waitFor();
    await idle.waitFor({ timeout: 120_000 });
    const news = page.locator('.jp-toast-button').filter({ hasText: 'No' });
    if (await news.count()) {
      await news.first().click();
    }
    const sessions = await api('api/sessions');
    const mine = sessions.find(session => session.path === NOTEBOOK);
    if (!mine) {
      throw new Error(`no session for ${NOTEBOOK}: ${JSON.stringify(sessions)}`);
    }
    kernelId = mine.kernel.id;
  });

  await step('own-folder-at-workspace', async () => {
    await runCell("import os, helper\nx = 1\nprint('workspace:', sorted(os.listdir('/workspace')), helper.greet())",
      "workspace: ['analysis.ipynb', 'data.csv', 'helper.py'] hello from helper.py");
  });

  await step('restarted', async () => {
    kernelAway = true;
    await page.locator('.lm-MenuBar-itemLabel').filter({ hasText: /^Kernel$/ }).click();
    await page.locator('.lm-Menu-itemLabel').filter({ hasText: /^Restart Kernel…$/ }).click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();
    await dialog.waitFor({ state: 'detached' });
    await idle.waitFor({ timeout: 120_000 });
    await runCell("import os\nprint('after restart:', 'x' in dir(), sorted(os.listdir('/workspace')))",
      "after restart: False ['analysis.ipynb', 'data.csv', 'helper.py']");
    kernelAway = false;
  });

  await step('shut-down', async () => {
    kernelAway = true;
    await page.locator('.lm-MenuBar-itemLabel').filter({ hasText: /^Kernel$/ }).click();
    await page.locator('.lm-Menu-itemLabel').filter({ hasText: /^Shut Down Kernel$/ }).click();
    const deadline = Date.now() + STEP_TIMEOUT;
    while ((await api('api/kernels')).some(kernel => kernel.id === kernelId)) {
      if (Date.now() > deadline) {
        throw new Error(`kernel ${kernelId} is still listed after the shutdown`);
      }
      await page.waitForTimeout(200);
    }
    await page.locator('.jp-StatusBar-Widget').filter({ hasText: 'No Kernel' }).waitFor();
  });

  await browser.close();
  if (errors.length) {
    throw new Error(`browser console errors:\n${errors.join('\n')}`);
  }
  return kernelId;
}

main().then(
  kernelId => console.log('JSB-REPORT ' + JSON.stringify({ ok: true, kernel_id: kernelId })),
  error => {
    console.error(error.stack || String(error));
    process.exit(1);
  }
);
