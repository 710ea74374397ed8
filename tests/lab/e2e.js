#!/usr/bin/env node
/*
 * End-to-end run of the JupyterLab extension in Debian's headless chromium (playwright-core),
 * against the `jupyter lab` started by test_lab_e2e.py. Environment: LAB_URL (ends with "/"),
 * LAB_TOKEN, ARTIFACTS (screenshots folder), CHROMIUM (executable), PLAYWRIGHT_FROM (a folder
 * whose node_modules has playwright-core). Exits non-zero on a failed step or on any browser
 * console error; prints one JSON line per step, then "JSB-REPORT {"ok":true}" as its last line.
 *
 * The launch, the error watch, the steps and the cell runner are tests/lab/lab_page.js's (shared
 * with pooled_e2e.js).
 */
'use strict';
const path = require('path');

const { openLab, notebookCells, STATUS_POLL } = require(path.join(__dirname, 'lab_page.js'));

const LAB_URL = process.env.LAB_URL;
const TOKEN = process.env.LAB_TOKEN;
const ARTIFACTS = process.env.ARTIFACTS;
const STEP_TIMEOUT = 60_000;

const APP_CODE =
  'from jupyter_sandbox import serve\n' +
  'app = lambda environ, start_response: (start_response("200 OK", [("Content-Type", "text/html")]), ' +
  '[b"<h1 id=\\"hello\\">Hello from the sandbox</h1>"])[1]\n' +
  'serve(app, port=8000)';

async function main() {
  // Once the test shuts the kernel down, a status poll already on its way may meet the kernel
  // gone (404, or 502 while it stops): expected, and the only failures then tolerated
  // (kernelAway.value).
  const { context, page, kernelAway, step, stepFile, finish } = await openLab({ artifacts: ARTIFACTS, stepTimeout: STEP_TIMEOUT });

  /**
   * Wait for ``selector`` inside the iframe of ``panel``. The preview's frame runs with an
   * opaque origin, so chromium may give it a process of its own; a reload replaces that frame
   * target, and a wait already attached to the old one fails with "Target … closed": wait
   * again on the new one, until the deadline.
   */
  const waitInFrame = async (panel, selector, timeout = STEP_TIMEOUT) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      try {
        await panel.frameLocator('iframe').locator(selector).waitFor({ timeout: Math.max(1, deadline - Date.now()) });
        return;
      } catch (error) {
        if (Date.now() >= deadline || !/Target .*closed|Frame was detached|frame got detached/i.test(error.message)) {
          throw error;
        }
      }
    }
  };

  const { notebook, typeAndRun, dismissNews } = notebookCells(page);
  /** Type ``code`` into a new last cell (or the empty last one) and run it; resolves to that cell. */
  const runCell = async code => {
    const cell = await typeAndRun(code);
    await cell.locator('.jp-InputArea-prompt').filter({ hasText: /\[\d+\]/ }).waitFor();
    return cell;
  };

  await step('lab-loaded', async () => {
    await page.goto(`${LAB_URL}lab?reset&token=${TOKEN}`);
    await page.locator('.jp-LauncherCard[data-category="Notebook"]').filter({ hasText: 'Sandboxed Python' }).waitFor();
  });

  await step('notebook-created', async () => {
    await page.locator('.jp-LauncherCard[data-category="Notebook"]').filter({ hasText: 'Sandboxed Python' }).click();
    await notebook.waitFor();
    await page.locator('.jp-StatusBar-Widget').filter({ hasText: 'Sandboxed Python | Idle' }).waitFor({ timeout: 120_000 });
    await dismissNews();
  });

  await step('cell-run', async () => {
    const cell = await runCell('x = 1\nprint("x is", x)');
    await cell.locator('.jp-OutputArea-output').filter({ hasText: 'x is 1' }).waitFor();
  });

  let previewCell;
  await step('app-served', async () => {
    previewCell = await runCell(APP_CODE);
    await previewCell.locator('.jp-SandboxPreview .jp-SandboxPreview-link').waitFor();
  });

  await step('preview-in-new-tab', async () => {
    const [tab] = await Promise.all([context.waitForEvent('page'), previewCell.locator('.jp-SandboxPreview-link').click()]);
    await tab.waitForLoadState();
    await tab.locator('#hello').filter({ hasText: 'Hello from the sandbox' }).waitFor();
    await tab.screenshot({ path: stepFile('preview-tab-content') });
    await tab.close();
  });

  await step('preview-in-lab', async () => {
    await previewCell.locator('.jp-SandboxPreview-open').click();
    const panel = page.locator('.jp-SandboxPreviewPanel:not(.lm-mod-hidden)');
    await panel.waitFor();
    const address = await panel.locator('.jp-SandboxPreviewPanel-address').inputValue();
    if (!address.includes('/sandbox/preview/') || !address.endsWith('/8000/')) {
      throw new Error(`unexpected preview address ${address}`);
    }
    // The address is in the toolbar row, not wrapped under it behind the iframe.
    const addressBox = await panel.locator('.jp-SandboxPreviewPanel-address').boundingBox();
    const frameBox = await panel.locator('iframe').boundingBox();
    if (!addressBox || !frameBox || addressBox.width < 100 || addressBox.y + addressBox.height > frameBox.y + 1) {
      throw new Error(`the address is hidden: ${JSON.stringify({ addressBox, frameBox })}`);
    }
    await panel.frameLocator('iframe').locator('#hello').filter({ hasText: 'Hello from the sandbox' }).waitFor();
    // Shared origin: the app's page must not get the Jupyter origin (issue 13).
    const sandbox = (await panel.locator('iframe').getAttribute('sandbox')) || '';
    if (!sandbox.includes('allow-scripts') || sandbox.includes('allow-same-origin')) {
      throw new Error(`preview iframe sandbox is "${sandbox}"`);
    }
    if (await panel.locator('.jp-SandboxPreviewPanel-stopped').isVisible()) {
      throw new Error('the preview tab says the kernel is gone while it runs');
    }
    if ((await previewCell.locator('.jp-SandboxPreview.jp-mod-stopped').count()) !== 0) {
      throw new Error('the preview output says the kernel is gone while it runs');
    }
    await panel.locator('.jp-SandboxPreviewPanel-reload').click();
    await waitInFrame(panel, '#hello');
  });

  await step('side-panel', async () => {
    await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="jupyter-sandbox-panel"]').click();
    const panel = page.locator('#jupyter-sandbox-panel');
    await panel.locator('.jp-SandboxPanel-meter-memory .jp-SandboxPanel-value').filter({ hasText: '/' }).waitFor();
    await panel.locator('.jp-SandboxPanel-mounts li').first().waitFor();
    // the network section: this lab's kernels have the network off (the default)
    await panel.locator('.jp-SandboxPanel-network .jp-SandboxPanel-networkState').filter({ hasText: 'Off' }).waitFor();
    await page.locator('.jp-SandboxStatusItem').filter({ hasText: 'Sandbox:' }).waitFor();
    // The running preview is listed; "Open" reuses the preview tab opened above.
    const running = panel.locator('.jp-SandboxPanel-preview[data-port="8000"]');
    await running.waitFor({ timeout: 60_000 });
    await running.locator('.jp-SandboxPanel-openPreview').click();
    await page.locator('.jp-SandboxPreviewPanel:not(.lm-mod-hidden)').waitFor();
    const tabs = await page.locator('.jp-SandboxPreviewPanel').count();
    if (tabs !== 1) {
      throw new Error(`"Open" in the side panel made ${tabs} preview tabs instead of reusing one`);
    }
  });

  await step('workspace-files', async () => {
    const panel = page.locator('#jupyter-sandbox-panel');
    await panel.locator('.jp-SandboxPanel-folder').filter({ hasText: '/workspace' }).waitFor();
    await panel.locator('.jp-SandboxPanel-uploadInput').setInputFiles({
      name: 'uploaded.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('uploaded from the browser')
    });
    const item = panel.locator('.jp-SandboxPanel-file[data-name="uploaded.txt"]');
    await item.waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), item.locator('.jp-SandboxPanel-download').click()]);
    const saved = require('fs').readFileSync(await download.path(), 'utf8');
    if (saved !== 'uploaded from the browser' || download.suggestedFilename() !== 'uploaded.txt') {
      throw new Error(`downloaded ${download.suggestedFilename()}: ${JSON.stringify(saved)}`);
    }
  });

  await step('snapshot-created', async () => {
    const panel = page.locator('#jupyter-sandbox-panel');
    await panel.locator('.jp-SandboxPanel-name').fill('before');
    await panel.locator('.jp-SandboxPanel-createButton').click();
    await panel.locator('.jp-SandboxPanel-snapshot[data-name="before"]').waitFor();
  });

  // The panel builds its nodes once and updates them in place: across status polls that bring
  // nothing new, no row or section is added or removed, the nodes stay the same objects and a
  // focused button keeps the focus (the old panel rebuilt its DOM on every poll).
  await step('panel-kept-across-polls', async () => {
    const panel = page.locator('#jupyter-sandbox-panel');
    await panel.locator('.jp-SandboxPanel-snapshot[data-name="before"] .jp-SandboxPanel-restore').focus();
    await page.evaluate(() => {
      const root = document.querySelector('#jupyter-sandbox-panel');
      const count = root.querySelector('[data-limit="executionCount"]');
      const marks = {
        memory: root.querySelector('.jp-SandboxPanel-meter-memory .jp-SandboxPanel-value'),
        snapshot: root.querySelector('.jp-SandboxPanel-snapshot[data-name="before"]'),
        mount: root.querySelector('.jp-SandboxPanel-mounts li'),
        count,
        countText: count && count.textContent,
        focused: document.activeElement,
        elementsChanged: 0
      };
      new MutationObserver(records => {
        for (const record of records) {
          const nodes = [...record.addedNodes, ...record.removedNodes];
          marks.elementsChanged += nodes.filter(node => node.nodeType === Node.ELEMENT_NODE).length;
        }
      }).observe(root, { childList: true, subtree: true });
      window.__sandboxPanelMarks = marks;
    });
    // The poll after the first of these two answers was rendered before the second was asked.
    for (let polls = 0; polls < 2; polls += 1) {
      await page.waitForResponse(response => STATUS_POLL.test(response.url()) && response.status() === 200);
    }
    const kept = await page.evaluate(() => {
      const root = document.querySelector('#jupyter-sandbox-panel');
      const marks = window.__sandboxPanelMarks;
      return {
        focusedIsRestore: marks.focused.classList.contains('jp-SandboxPanel-restore'),
        focusKept: document.activeElement === marks.focused,
        memory: root.querySelector('.jp-SandboxPanel-meter-memory .jp-SandboxPanel-value') === marks.memory,
        snapshot: root.querySelector('.jp-SandboxPanel-snapshot[data-name="before"]') === marks.snapshot,
        mount: root.querySelector('.jp-SandboxPanel-mounts li') === marks.mount,
        count: marks.count !== null && root.querySelector('[data-limit="executionCount"]') === marks.count,
        elementsChanged: marks.elementsChanged
      };
    });
    if (!Object.entries(kept).every(([key, value]) => (key === 'elementsChanged' ? value === 0 : value === true))) {
      throw new Error(`the panel rebuilt nodes during status polls: ${JSON.stringify(kept)}`);
    }
  });

  await step('variable-changed', async () => {
    await notebook.locator('.jp-Notebook').click({ position: { x: 5, y: 5 } }).catch(() => undefined);
    const cell = await runCell('x = 2\nprint("x is", x)');
    await cell.locator('.jp-OutputArea-output').filter({ hasText: 'x is 2' }).waitFor();
  });

  // A changed value (the execution count, after the cell above) is written into the same node.
  await step('panel-value-updated-in-place', async () => {
    await page.waitForFunction(() => {
      const marks = window.__sandboxPanelMarks;
      const count = document.querySelector('#jupyter-sandbox-panel [data-limit="executionCount"]');
      return count !== null && count.textContent !== marks.countText;
    });
    const same = await page.evaluate(
      () => document.querySelector('#jupyter-sandbox-panel [data-limit="executionCount"]') === window.__sandboxPanelMarks.count
    );
    if (!same) {
      throw new Error('the execution count changed in a new node instead of in place');
    }
  });

  await step('snapshot-restored', async () => {
    const panel = page.locator('#jupyter-sandbox-panel');
    await panel.locator('.jp-SandboxPanel-snapshot[data-name="before"] .jp-SandboxPanel-restore').click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.filter({ hasText: 'before' }).waitFor();
    await dialog.locator('.jp-Dialog-button.jp-mod-warn').click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction(() => !document.querySelector('#jupyter-sandbox-panel.jp-mod-busy'));
  });

  await step('old-value-back', async () => {
    const cell = await runCell('print("x is", x)');
    await cell.locator('.jp-OutputArea-output').filter({ hasText: 'x is 1' }).waitFor();
  });

  await step('dark-theme', async () => {
    const panel = page.locator('#jupyter-sandbox-panel');
    const background = () => panel.evaluate(node => getComputedStyle(node).backgroundColor);
    const light = await background();
    await page.locator('.lm-MenuBar-itemLabel').filter({ hasText: /^Settings$/ }).click();
    await page.locator('.lm-Menu-itemLabel').filter({ hasText: /^Theme$/ }).hover();
    await page.locator('.lm-Menu-itemLabel').filter({ hasText: /^JupyterLab Dark$/ }).click();
    await page.waitForFunction(() => document.body.dataset.jpThemeLight === 'false');
    await page.waitForFunction(
      previous => getComputedStyle(document.querySelector('#jupyter-sandbox-panel')).backgroundColor !== previous,
      light
    );
  });

  await step('kernel-gone', async () => {
    await page.locator('.lm-MenuBar-itemLabel').filter({ hasText: /^Kernel$/ }).click();
    kernelAway.value = true;
    await page.locator('.lm-Menu-itemLabel').filter({ hasText: /^Shut Down Kernel$/ }).click();
    await previewCell.locator('.jp-SandboxPreview.jp-mod-stopped .jp-SandboxPreview-state').filter({ hasText: 'kernel is gone' }).waitFor();
    await page.locator('.jp-SandboxPreviewPanel-stopped').filter({ hasText: 'kernel is gone' }).waitFor();
    await page.locator('#jupyter-sandbox-panel .jp-SandboxPanel-message').filter({ hasText: 'Open a notebook' }).waitFor();
  });

  await finish();
}

main().then(
  () => console.log('JSB-REPORT ' + JSON.stringify({ ok: true })),
  error => {
    console.error(error.stack || String(error));
    process.exit(1);
  }
);
