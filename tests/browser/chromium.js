/*
 * Debian's headless chromium for the browser drivers of the tests (tests/security/*.js,
 * tests/hub/hub_isolation_browser.js, tests/lab/lab_page.js), driven by playwright-core from the
 * folder PLAYWRIGHT_FROM (whose node_modules has it: labextension/), at CHROMIUM
 * (default /usr/bin/chromium).
 *
 * launch() gives a fresh persistent profile under os.tmpdir() and runs chromium with its own
 * defaults (ignoreDefaultArgs): playwright's switches disable third-party storage partitioning
 * and the popup blocker, which would make the browser less like the one a user has. Only the
 * switches a headless test run needs are passed (ARGS), plus what a driver asks for.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { createRequire } = require('module');

const { chromium } = createRequire(path.join(process.env.PLAYWRIGHT_FROM, 'package.json'))('playwright-core');

/** The executable the drivers run. */
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';

/** Every launch(): headless, no GPU or QUIC, nothing phoning home, no first-run UI. */
const ARGS = [
  '--remote-debugging-pipe',
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage'
];

/** No default-browser prompt and no OS keyring for the profile's passwords. */
const QUIET_PROFILE_ARGS = ['--no-default-browser-check', '--password-store=basic'];

/** Timers and renderers of background tabs keep full speed (a driver waits on them). */
const NO_BACKGROUND_THROTTLING_ARGS = [
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows'
];

/**
 * A persistent context on a fresh profile.
 *
 * options: timeout (ms, required: the context's default timeout), viewport ({width, height};
 * default 1200x800), extraArgs (switches after ARGS), profilePrefix (of the profile folder's
 * name; default "jsb-chromium-").
 * Returns {context, userDataDir, close}: close() closes the browser and always removes the
 * profile (a failed close still rejects, after the removal).
 */
async function launch({ timeout, viewport = { width: 1200, height: 800 }, extraArgs = [],
  profilePrefix = 'jsb-chromium-' } = {}) {
  if (!Number.isFinite(timeout)) {
    throw new Error('chromium.launch needs {timeout} in milliseconds (the context default)');
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), profilePrefix));
  const removeProfile = () => fs.rmSync(userDataDir, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: EXECUTABLE,
      ignoreDefaultArgs: true,
      viewport,
      args: [...ARGS, `--user-data-dir=${userDataDir}`, ...extraArgs, 'about:blank']
    });
  } catch (error) {
    removeProfile();
    throw error;
  }
  context.setDefaultTimeout(timeout);
  const close = async () => {
    try {
      await context.close();
    } finally {
      removeProfile();
    }
  };
  return { context, userDataDir, close };
}

module.exports = { chromium, EXECUTABLE, ARGS, QUIET_PROFILE_ARGS, NO_BACKGROUND_THROTTLING_ARGS, launch };
