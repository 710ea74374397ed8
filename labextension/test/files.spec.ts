import { afterEach, describe, expect, it, vi } from 'vitest';

import * as api from '../src/api';
import { joinPath, parentFolder, workspaceRelative, WorkspaceFiles } from '../src/files';

vi.mock('../src/api', async importOriginal => {
  const actual = await importOriginal<typeof import('../src/api')>();
  return { ...actual, listFiles: vi.fn(), downloadFile: vi.fn(), uploadFile: vi.fn() };
});

const entry = (name: string, type: 'file' | 'directory', folder = '/workspace') => ({
  path: `${folder}/${name}`,
  name,
  type,
  size: 3,
  mtime_ns: 0
});

describe('workspace paths', () => {
  it('are relative to /workspace', () => {
    expect(workspaceRelative('/workspace')).toBe('');
    expect(workspaceRelative('/workspace/data/sub')).toBe('data/sub');
    expect(parentFolder('data/sub')).toBe('data');
    expect(parentFolder('data')).toBe('');
    expect(joinPath('', 'a.txt')).toBe('a.txt');
    expect(joinPath('data', 'a.txt')).toBe('data/a.txt');
  });

  it('escape each segment in the files route', () => {
    expect(api.filesEndpoint('k', '')).toBe('kernels/k/files/');
    expect(api.filesEndpoint('k', 'data/a b#.txt')).toBe('kernels/k/files/data/a%20b%23.txt');
  });
});

describe('WorkspaceFiles', () => {
  afterEach(() => vi.clearAllMocks());

  it('browses folders, folders first, and goes up', async () => {
    vi.mocked(api.listFiles)
      .mockResolvedValueOnce({
        path: '/workspace',
        files: [entry('z.txt', 'file'), entry('data', 'directory')]
      })
      .mockResolvedValueOnce({
        path: '/workspace/data',
        files: [entry('a.csv', 'file', '/workspace/data')]
      })
      .mockResolvedValueOnce({ path: '/workspace', files: [] });
    const files = new WorkspaceFiles();
    await files.open();
    expect(api.listFiles).not.toHaveBeenCalled();
    files.setKernel('k');
    await files.open();
    expect(files.entries.map(e => e.name)).toEqual(['data', 'z.txt']);
    await files.open('data');
    expect(api.listFiles).toHaveBeenLastCalledWith('k', 'data');
    expect(files.folder).toBe('data');
    await files.up();
    expect(api.listFiles).toHaveBeenLastCalledWith('k', '');
    expect(files.folder).toBe('');
  });

  it('keeps listing errors, and forgets them for another kernel', async () => {
    vi.mocked(api.listFiles).mockRejectedValue(new api.SandboxAPIError('no such folder', 404));
    const files = new WorkspaceFiles();
    files.setKernel('k');
    await files.open('gone');
    expect(files.error).toBe('no such folder');
    files.setKernel('other');
    expect(files.error).toBeNull();
    expect(files.folder).toBe('');
  });

  it('downloads and uploads in the current folder', async () => {
    vi.mocked(api.listFiles).mockResolvedValue({
      path: '/workspace/data',
      files: [entry('new.bin', 'file', '/workspace/data')]
    });
    vi.mocked(api.downloadFile).mockResolvedValue(new Blob(['abc']));
    vi.mocked(api.uploadFile).mockResolvedValue(entry('new.bin', 'file', '/workspace/data'));
    const files = new WorkspaceFiles();
    expect(() => files.download('x')).toThrow(/no Sandboxed Python kernel/);
    files.setKernel('k');
    await files.open('data');
    expect(await (await files.download('a.csv')).text()).toBe('abc');
    expect(api.downloadFile).toHaveBeenCalledWith('k', 'data/a.csv');
    const data = new Blob(['xyz']);
    await files.upload('new.bin', data);
    expect(api.uploadFile).toHaveBeenCalledWith('k', 'data/new.bin', data);
    expect(api.listFiles).toHaveBeenCalledTimes(2);
    expect(files.entries.map(e => e.name)).toEqual(['new.bin']);
  });
});
