import { nullTranslator } from '@jupyterlab/translation';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import * as api from '../src/api';
import { SandboxModel } from '../src/model';
import { statusText } from '../src/statusText';

vi.mock('../src/api', async importOriginal => {
  const actual = await importOriginal<typeof import('../src/api')>();
  return {
    ...actual,
    getStatus: vi.fn(),
    listSnapshots: vi.fn(),
    createSnapshot: vi.fn(),
    restoreSnapshot: vi.fn(),
    deleteSnapshot: vi.fn(),
    listPreviews: vi.fn(),
    stopPreview: vi.fn()
  };
});

const status = (memory: number) =>
  ({
    kernel_id: 'k',
    limits: {
      memory_bytes: 2 ** 31,
      output_bytes: 8 << 20,
      cell_timeout: null,
      workspace_bytes: 2 ** 30,
      workspace_files: 20000
    },
    usage: { memory_bytes: memory, workspace_bytes: 0, workspace_files: 0 },
    host_folder_mode: 'overlay',
    mounts: [],
    execution_count: 1
  }) as api.ISandboxStatus;

const trans = nullTranslator.load('jupyter_sandbox');

describe('SandboxModel', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.mocked(api.getStatus).mockResolvedValue(status(100 << 20));
    vi.mocked(api.listSnapshots).mockResolvedValue([
      { name: 'old', size: 1, created: 1, execution_count: 1 },
      { name: 'new', size: 2, created: 2, execution_count: 2 }
    ]);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.clearAllMocks();
  });

  it('asks nothing for kernels that are not sandboxed', async () => {
    const model = new SandboxModel(5);
    model.setKernel({ id: 'k', name: 'python3' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(api.getStatus).not.toHaveBeenCalled();
    expect(model.isSandboxed).toBe(false);
    expect(statusText(model, trans)).toBe('');
    model.dispose();
  });

  it('polls a sandboxed kernel once per interval, never faster than 2 s', async () => {
    const model = new SandboxModel(5);
    model.setKernel({ id: 'k', name: 'sandboxed-python' });
    await vi.advanceTimersByTimeAsync(0);
    expect(api.getStatus).toHaveBeenCalledTimes(1);
    expect(model.snapshots.map(s => s.name)).toEqual(['new', 'old']);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(api.getStatus).toHaveBeenCalledTimes(5);
    model.pollSeconds = 0.1;
    expect(model.pollSeconds).toBe(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(api.getStatus).toHaveBeenCalledTimes(10);
    expect(statusText(model, trans)).toBe('Sandbox: 100 MiB / 2 GiB');
    model.setKernel(null);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(api.getStatus).toHaveBeenCalledTimes(10);
    model.dispose();
  });

  it('shows errors and recovers', async () => {
    vi.mocked(api.getStatus).mockRejectedValueOnce(
      new api.SandboxAPIError('the kernel did not answer', 502)
    );
    const model = new SandboxModel(5);
    model.setKernel({ id: 'k', name: 'sandboxed-python' });
    await vi.advanceTimersByTimeAsync(0);
    expect(model.error).toBe('the kernel did not answer');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(model.error).toBeNull();
    model.dispose();
  });

  it('marks a running restore and refreshes afterwards', async () => {
    let finish: () => void = () => undefined;
    vi.mocked(api.restoreSnapshot).mockReturnValue(
      new Promise(resolve => (finish = () => resolve({ name: 'old', execution_count: 1 })))
    );
    const model = new SandboxModel(5);
    model.setKernel({ id: 'k', name: 'sandboxed-python' });
    await vi.advanceTimersByTimeAsync(0);
    const done = model.restoreSnapshot('old');
    expect(model.activity).toBe('restore');
    expect(statusText(model, trans)).toContain('restoring');
    finish();
    await done;
    expect(model.activity).toBeNull();
    expect(api.restoreSnapshot).toHaveBeenCalledWith('k', 'old');
    expect(api.listSnapshots).toHaveBeenCalledTimes(2);
    model.dispose();
  });

  it('passes action errors to the caller', async () => {
    vi.mocked(api.createSnapshot).mockRejectedValue(
      new api.SandboxAPIError('invalid snapshot name', 400)
    );
    const model = new SandboxModel(5);
    await expect(model.createSnapshot('x')).rejects.toThrow(/no Sandboxed Python kernel/);
    model.setKernel({ id: 'k', name: 'sandboxed-python' });
    await expect(model.createSnapshot('x')).rejects.toThrow('invalid snapshot name');
    expect(model.activity).toBeNull();
    model.dispose();
  });

  it('lists previews only when asked, and lists them again after a stop', async () => {
    const preview = (port: number) => ({
      port,
      path: `sandbox/preview/k/${port}/`,
      url: `http://h/sandbox/preview/k/${port}/`
    });
    vi.mocked(api.listPreviews)
      .mockResolvedValueOnce([preview(9001), preview(8000)])
      .mockResolvedValueOnce([preview(8000)]);
    vi.mocked(api.stopPreview).mockResolvedValue(undefined);
    const model = new SandboxModel(5);
    await model.refreshPreviews();
    expect(api.listPreviews).not.toHaveBeenCalled();
    model.setKernel({ id: 'k', name: 'sandboxed-python' });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(api.listPreviews).not.toHaveBeenCalled();
    await model.refreshPreviews();
    expect(model.previews.map(p => p.port)).toEqual([8000, 9001]);
    await model.stopPreview(9001);
    expect(api.stopPreview).toHaveBeenCalledWith('k', 9001);
    expect(model.previews.map(p => p.port)).toEqual([8000]);
    model.setKernel({ id: 'other', name: 'sandboxed-python' });
    expect(model.previews).toEqual([]);
    model.dispose();
  });

  it('passes a failed stop to the caller', async () => {
    vi.mocked(api.listPreviews).mockResolvedValue([]);
    vi.mocked(api.stopPreview).mockRejectedValue(
      new api.SandboxAPIError('no preview is served on port 9', 404)
    );
    const model = new SandboxModel(5);
    await expect(model.stopPreview(9)).rejects.toThrow(/no Sandboxed Python kernel/);
    model.setKernel({ id: 'k', name: 'sandboxed-python' });
    await expect(model.stopPreview(9)).rejects.toThrow('no preview is served on port 9');
    model.dispose();
  });
});
