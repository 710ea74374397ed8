// @vitest-environment happy-dom
/**
 * The side panel updates its DOM in place: a status poll that changes nothing changes no node
 * (and keeps the focus), a changed value is written into the node that shows it, and list rows
 * are added and removed per item id while the others stay.
 */
import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import * as api from '../src/api';
import { SandboxModel } from '../src/model';
import { SandboxPanel } from '../src/panel';

vi.mock('@jupyterlab/apputils', () => ({
  Dialog: { cancelButton: vi.fn(), warnButton: vi.fn() },
  showDialog: vi.fn(),
  showErrorMessage: vi.fn()
}));

vi.mock('../src/api', async importOriginal => {
  const actual = await importOriginal<typeof import('../src/api')>();
  return {
    ...actual,
    getStatus: vi.fn(),
    listSnapshots: vi.fn(),
    listPreviews: vi.fn(),
    listFiles: vi.fn()
  };
});

const POLL_SECONDS = 5;

function status(memory: number, executionCount = 1): api.ISandboxStatus {
  return {
    kernel_id: 'k',
    limits: {
      memory_bytes: 2 ** 31,
      output_bytes: 8 << 20,
      cell_timeout: null,
      workspace_bytes: 2 ** 30,
      workspace_files: 20000
    },
    usage: { memory_bytes: memory, workspace_bytes: 4096, workspace_files: 2 },
    host_folder_mode: 'overlay',
    mounts: [
      { path: '/workspace', writable: true, kind: 'folder', host_folder: null },
      { path: '/data', writable: false, kind: 'folder', host_folder: '/srv/data' }
    ],
    execution_count: executionCount
  };
}

const snapshot = (name: string, created: number): api.ISnapshotInfo => ({
  name,
  size: 1 << 20,
  created,
  execution_count: 1
});

/** Every DOM change below ``node`` from now on. */
function watchMutations(node: Node): { records: () => MutationRecord[]; stop: () => void } {
  const seen: MutationRecord[] = [];
  const observer = new MutationObserver(records => seen.push(...records));
  observer.observe(node, { subtree: true, childList: true, attributes: true, characterData: true });
  return {
    records: () => [...seen, ...observer.takeRecords()],
    stop: () => observer.disconnect()
  };
}

describe('SandboxPanel', () => {
  let model: SandboxModel;
  let panel: SandboxPanel;
  const q = (selector: string) => panel.node.querySelector(selector) as HTMLElement;

  /** One status poll of the model, done and rendered. */
  const poll = async () => {
    const before = vi.mocked(api.getStatus).mock.calls.length;
    await vi.advanceTimersByTimeAsync(POLL_SECONDS * 1000);
    expect(vi.mocked(api.getStatus).mock.calls.length).toBe(before + 1);
  };

  beforeEach(async () => {
    vi.useFakeTimers();
    vi.mocked(api.getStatus).mockResolvedValue(status(100 << 20));
    vi.mocked(api.listSnapshots).mockResolvedValue([snapshot('old', 1), snapshot('new', 2)]);
    vi.mocked(api.listPreviews).mockResolvedValue([
      { port: 8000, path: 'sandbox/preview/k/8000/', url: 'http://h/sandbox/preview/k/8000/' }
    ]);
    vi.mocked(api.listFiles).mockResolvedValue({ path: '/workspace', files: [] });
    model = new SandboxModel(POLL_SECONDS);
    panel = new SandboxPanel(model, nullTranslator.load('jupyter_sandbox'));
    Widget.attach(panel, document.body);
    model.setKernel({ id: 'k', name: 'sandboxed-python' });
    await vi.advanceTimersByTimeAsync(0);
    await model.refreshPreviews();
  });

  afterEach(() => {
    panel.dispose();
    model.dispose();
    vi.useRealTimers();
    vi.clearAllMocks();
  });

  it('shows the status, mounts, previews and snapshots', () => {
    expect(q('.jp-SandboxPanel-meter-memory .jp-SandboxPanel-value').textContent).toBe(
      '100 MiB / 2 GiB'
    );
    expect(q('[data-limit="executionCount"]').textContent).toBe('1');
    expect(panel.node.querySelectorAll('.jp-SandboxPanel-mounts li:not([hidden])').length).toBe(2);
    expect(q('.jp-SandboxPanel-mounts li[title]').title).toBe('host folder: /srv/data');
    expect(q('.jp-SandboxPanel-preview[data-port="8000"]')).not.toBeNull();
    const names = [...panel.node.querySelectorAll('.jp-SandboxPanel-snapshot')].map(
      node => (node as HTMLElement).dataset.name
    );
    expect(names).toEqual(['new', 'old']);
    expect(q('.jp-SandboxPanel-snapshots .jp-SandboxPanel-empty').hidden).toBe(true);
    expect(q('.jp-SandboxPanel-details').hidden).toBe(false);
  });

  it('shows the network in the details: off, then on with a connection', async () => {
    expect(q('.jp-SandboxPanel-network .jp-SandboxPanel-networkState').textContent).toContain(
      'Off'
    );
    const connection: api.IConnectionRecord = {
      host: 'api.example.com',
      address: '93.184.216.34',
      port: 443,
      allowed: false,
      reason: "deny rule 'api.example.com'",
      bytes_sent: 0,
      bytes_received: 0,
      started_at: 5,
      ended_at: 5,
      tls: false
    };
    const policy: api.INetworkPolicy = {
      enabled: true,
      allow: [],
      deny: ['api.example.com'],
      max_connections: 8,
      max_bytes_per_cell: 1 << 20,
      max_bytes_per_sandbox: 1 << 30,
      connect_timeout: 30,
      ca_bundle: null,
      inject_headers: []
    };
    vi.mocked(api.getStatus).mockResolvedValue({
      ...status(100 << 20),
      network: { policy, connections: [connection], open_connections: 0, bytes: 0 }
    });
    await poll();
    expect(q('.jp-SandboxPanel-network .jp-SandboxPanel-networkState').textContent).toBe('On');
    const row = q('.jp-SandboxPanel-network .jp-SandboxPanel-connection');
    expect(row.textContent).toContain('api.example.com:443 (93.184.216.34)');
    expect(row.textContent).toContain("deny rule 'api.example.com'");
  });

  it('changes no node on a poll that brings nothing new, and keeps the focus', async () => {
    const nodes = [...panel.node.querySelectorAll('*')];
    const restore = q('.jp-SandboxPanel-snapshot[data-name="old"] .jp-SandboxPanel-restore');
    restore.focus();
    expect(document.activeElement).toBe(restore);
    const mutations = watchMutations(panel.node);
    await poll();
    await poll();
    expect(mutations.records()).toEqual([]);
    mutations.stop();
    expect([...panel.node.querySelectorAll('*')]).toEqual(nodes);
    expect(document.activeElement).toBe(restore);
  });

  it('keeps a half-typed snapshot name and its focus across polls', async () => {
    const input = q('.jp-SandboxPanel-name') as HTMLInputElement;
    input.focus();
    input.value = 'half-typ';
    vi.mocked(api.getStatus).mockResolvedValue(status(300 << 20, 7));
    await poll();
    expect(document.activeElement).toBe(input);
    expect(input.value).toBe('half-typ');
  });

  it('writes a changed value into the node that shows it, and nothing else', async () => {
    const memory = q('.jp-SandboxPanel-meter-memory .jp-SandboxPanel-value');
    const fill = q('.jp-SandboxPanel-meter-memory .jp-SandboxPanel-fill');
    const count = q('[data-limit="executionCount"]');
    const mount = q('.jp-SandboxPanel-mounts li');
    vi.mocked(api.getStatus).mockResolvedValue(status(1 << 30, 2));
    const mutations = watchMutations(panel.node);
    await poll();
    expect(q('.jp-SandboxPanel-meter-memory .jp-SandboxPanel-value')).toBe(memory);
    expect(memory.textContent).toBe('1 GiB / 2 GiB');
    expect(fill.style.width).toBe('50%');
    expect(q('[data-limit="executionCount"]')).toBe(count);
    expect(count.textContent).toBe('2');
    expect(q('.jp-SandboxPanel-mounts li')).toBe(mount);
    const changed = new Set(
      mutations.records().map(record => {
        const target = record.target as Node;
        return (target instanceof HTMLElement ? target : target.parentElement)!;
      })
    );
    mutations.stop();
    expect([...changed].every(node => [memory, fill, count].includes(node))).toBe(true);
    expect(changed.size).toBeGreaterThan(0);
  });

  it('adds and removes snapshot rows by name, keeping the others', async () => {
    const old = q('.jp-SandboxPanel-snapshot[data-name="old"]');
    const newer = q('.jp-SandboxPanel-snapshot[data-name="new"]');
    vi.mocked(api.listSnapshots).mockResolvedValue([snapshot('old', 1), snapshot('newest', 3)]);
    await model.refresh(true);
    const rows = [...panel.node.querySelectorAll('.jp-SandboxPanel-snapshot')] as HTMLElement[];
    expect(rows.map(row => row.dataset.name)).toEqual(['newest', 'old']);
    expect(rows[1]).toBe(old);
    expect(newer.isConnected).toBe(false);

    vi.mocked(api.listSnapshots).mockResolvedValue([]);
    await model.refresh(true);
    expect(panel.node.querySelectorAll('.jp-SandboxPanel-snapshot').length).toBe(0);
    const empty = q('.jp-SandboxPanel-snapshots .jp-SandboxPanel-empty');
    expect(empty.hidden).toBe(false);
    expect(empty.textContent).toBe('No snapshots yet.');
  });

  it('adds and removes preview rows by port, keeping the others', async () => {
    const first = q('.jp-SandboxPanel-preview[data-port="8000"]');
    vi.mocked(api.listPreviews).mockResolvedValue([
      { port: 8000, path: 'sandbox/preview/k/8000/', url: 'u' },
      { port: 8001, path: 'sandbox/preview/k/8001/', url: 'u' }
    ]);
    await model.refreshPreviews();
    expect(q('.jp-SandboxPanel-preview[data-port="8000"]')).toBe(first);
    expect(q('.jp-SandboxPanel-preview[data-port="8001"]')).not.toBeNull();
    vi.mocked(api.listPreviews).mockResolvedValue([
      { port: 8001, path: 'sandbox/preview/k/8001/', url: 'u' }
    ]);
    await model.refreshPreviews();
    expect(first.isConnected).toBe(false);
    expect(panel.node.querySelectorAll('.jp-SandboxPanel-preview').length).toBe(1);
  });

  it('empties the panel for a kernel that is not sandboxed', async () => {
    model.setKernel({ id: 'p', name: 'python3' });
    await vi.advanceTimersByTimeAsync(0);
    expect(q('.jp-SandboxPanel-details').hidden).toBe(true);
    expect(panel.node.querySelectorAll('.jp-SandboxPanel-snapshot').length).toBe(0);
    expect(q('.jp-SandboxPanel-message').textContent).toMatch(/does not run in a sandbox/);
  });
});
