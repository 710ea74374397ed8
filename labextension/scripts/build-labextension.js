#!/usr/bin/env node
/*
 * Build the federated extension without Python: what `jupyter labextension build` does with
 * JupyterLab >= 4.6 (its jupyter-builder copies @jupyterlab/core-meta's core.package.json
 * into a folder as package.json and runs @jupyterlab/builder's build-labextension with
 * --core-path). Keeping it in node means `pip install .` needs node and npm, not jupyterlab.
 * Arguments are passed on (e.g. --development).
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const here = path.resolve(__dirname, '..');
const coreFile = require.resolve('@jupyterlab/core-meta/core.package.json', { paths: [here] });
const builder = require.resolve('@jupyterlab/builder/lib/build-labextension.js', { paths: [here] });
const coreDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jupyter-sandbox-core-'));
try {
  fs.copyFileSync(coreFile, path.join(coreDir, 'package.json'));
  const result = spawnSync(
    process.execPath,
    [builder, '--core-path', coreDir, ...process.argv.slice(2), here],
    {
      stdio: 'inherit',
      cwd: here
    }
  );
  process.exitCode = result.status === null ? 1 : result.status;
} finally {
  fs.rmSync(coreDir, { recursive: true, force: true });
}
