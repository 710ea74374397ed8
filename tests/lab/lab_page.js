/*
 * What the JupyterLab drivers (tests/lab/e2e.js, tests/lab/pooled_e2e.js) share, so a change to
 * how Lab is driven is made once:
 *
 * - openLab(): playwright's own chromium launch (its default switches and a fresh
 *   incognito-like context, no persistent profile: unlike tests/browser/chromium.js launch(),
 *   used by the security drivers), with every page of the context watched: a console error,
 *   a page error or an HTTP status >= 400 is collected in `errors`, except the sandbox status
 *   polls that race a restart or a shutdown (404, or 502 while the kernel stops) while
 *   `kernelAway.value` is true. `step(name, action)` runs one step and screenshots it into
 *   ARTIFACTS (NN-name.png, or NN-name-FAILED.png), printing one JSON line; `stepFile(name)` is
 *   the path for another screenshot of the current step. `finish()` closes
 *   the browser and fails on the collected errors.
 * - notebookCells(page): the visible notebook, its cells, `typeAndRun(code)` (types into a new
 *   last cell, or the empty last one, runs it and resolves to that cell without waiting) and
 *   `dismissNews()` (the "news?" toast Lab shows on a first start).
 */
'use strict';
const path = require('path');

const { chromium, EXECUTABLE } = require(path.join(__dirname, '..', 'browser', 'chromium.js'));

/** The side panel's status poll of a kernel (tolerated while the kernel is away). */
const STATUS_POLL = /\/sandbox\/api\/kernels\/[^/]+\/status(\?|$)/;
const RACED_STATUS = /^Failed to load resource: the server responded with a status of (404|502)/;

async function openLab({ artifacts, stepTimeout }) {
  const browser = await chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  });
  const errors = [];
  const kernelAway = { value: false };
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(stepTimeout);
  context.on('page', page => {
    page.on('console', message => {
      if (message.type() === 'error' && !(kernelAway.value && RACED_STATUS.test(message.text()))) {
        errors.push(`console error on ${page.url()}: ${message.text()}`);
      }
    });
    page.on('pageerror', error => errors.push(`page error on ${page.url()}: ${error.message}`));
    page.on('response', response => {
      if (response.status() >= 400 && !(kernelAway.value && STATUS_POLL.test(response.url()))) {
        errors.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
      }
    });
  });
  const page = await context.newPage();
  let stepNo = 0;
  /** Where a screenshot named ``name`` of the current step goes (NN-name.png). */
  const stepFile = name => path.join(artifacts, `${String(stepNo).padStart(2, '0')}-${name}.png`);
  const step = async (name, action) => {
    stepNo += 1;
    const started = Date.now();
    const file = stepFile(name);
    try {
      await action();
    } catch (error) {
      await page.screenshot({ path: file.replace('.png', '-FAILED.png') }).catch(() => undefined);
      throw new Error(`step ${name}: ${error.message}`);
    }
    await page.screenshot({ path: file });
    console.log(JSON.stringify({ step: name, seconds: (Date.now() - started) / 1000, screenshot: file }));
  };
  const finish = async () => {
    await browser.close();
    if (errors.length) {
      throw new Error(`browser console errors:\n${errors.join('\n')}`);
    }
  };
  return { browser, context, page, errors, kernelAway, step, stepFile, finish };
}

function notebookCells(page) {
  const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cells = notebook.locator('.jp-Notebook .jp-Cell');
  const typeAndRun = async code => {
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
    return cell;
  };
  const dismissNews = async () => {
    const news = page.locator('.jp-toast-button').filter({ hasText: 'No' });
    if (await news.count()) {
      await news.first().click();
    }
  };
  return { notebook, cells, typeAndRun, dismissNews };
}

module.exports = { openLab, notebookCells, STATUS_POLL };
