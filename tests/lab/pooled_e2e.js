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
 * shutdown (404/502 while the kernel is away), as in e2e.js (both drive Lab through
 * tests/lab/lab_page.js).
 */
'use strict';
const path = require('path');

const { openLab, notebookCells } = require(path.join(__dirname, 'lab_page.js'));

const LAB_URL = process.env.LAB_URL;
const TOKEN = process.env.LAB_TOKEN;
const ARTIFACTS = process.env.ARTIFACTS;
const NOTEBOOK = process.env.NOTEBOOK;
const STEP_TIMEOUT = 60_000;

async function main() {
  const { page, kernelAway, step, finish } = await openLab({ artifacts: ARTIFACTS, stepTimeout: STEP_TIMEOUT });
  /** The server's answer to GET ``route`` (JSON), asked from the page with its token. */
  const api = route => page.evaluate(
    async ([url, token]) => (await fetch(url, { headers: { Authorization: `token ${token}` } })).json(),
    [`${LAB_URL}${route}`, TOKEN]);

  const { notebook, typeAndRun, dismissNews } = notebookCells(page);
  const idle = page.locator('.jp-StatusBar-Widget').filter({ hasText: 'Sandboxed Python | Idle' });
  /** Type ``code`` into a new last cell (or the empty last one), run it, wait for its output. */
  const runCell = async (code, expected) => {
    const cell = await typeAndRun(code);
    await cell.locator('.jp-OutputArea-output').filter({ hasText: expected }).waitFor({ timeout: 120_000 });
    return cell;
  };
  let kernelId = null;

  await step('notebook-opened', async () => {
    await page.goto(`${LAB_URL}lab/tree/${NOTEBOOK}?reset&token=${TOKEN}`);
    await notebook.waitFor();
    await idle.waitFor({ timeout: 120_000 });
    await dismissNews();
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
    kernelAway.value = true;
    await page.locator('.lm-MenuBar-itemLabel').filter({ hasText: /^Kernel$/ }).click();
    await page.locator('.lm-Menu-itemLabel').filter({ hasText: /^Restart Kernel…$/ }).click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();
    await dialog.waitFor({ state: 'detached' });
    await idle.waitFor({ timeout: 120_000 });
    await runCell("import os\nprint('after restart:', 'x' in dir(), sorted(os.listdir('/workspace')))",
      "after restart: False ['analysis.ipynb', 'data.csv', 'helper.py']");
    kernelAway.value = false;
  });

  await step('shut-down', async () => {
    kernelAway.value = true;
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

  await finish();
  return kernelId;
}

main().then(
  kernelId => console.log('JSB-REPORT ' + JSON.stringify({ ok: true, kernel_id: kernelId })),
  error => {
    console.error(error.stack || String(error));
    process.exit(1);
  }
);
