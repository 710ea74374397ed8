import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import {
  createSnapshot,
  downloadFile,
  errorBody,
  getStatus,
  listFiles,
  listPreviews,
  listSnapshots,
  requestAPI,
  SandboxAPIError,
  stopPreview,
  uploadFile
} from '../src/api';

interface ICall {
  url: string;
  method: string;
}

/** Server settings whose fetch answers ``status`` with ``body`` and records the calls. */
function fakeServer(status: number, body: string, calls: ICall[] = []): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://jupyter.test/base/',
    wsUrl: 'ws://jupyter.test/base/',
    token: 'secret',
    fetch: (async (input: RequestInfo, init?: RequestInit) => {
      const request = input as Request;
      calls.push({
        url: request.url.replace(/[?&]\d+$/, ''),
        method: request.method ?? init?.method ?? 'GET'
      });
      return new Response(status === 204 ? null : body, { status });
    }) as typeof fetch,
    Request,
    Headers
  });
}

describe('requestAPI', () => {
  it('returns the JSON of a successful answer', async () => {
    const calls: ICall[] = [];
    const status = { kernel_id: 'k', usage: { memory_bytes: 1 } };
    const result = await getStatus('k', fakeServer(200, JSON.stringify(status), calls));
    expect(result).toEqual(status);
    expect(calls).toEqual([
      { url: 'http://jupyter.test/base/sandbox/api/kernels/k/status', method: 'GET' }
    ]);
  });

  it('builds snapshot routes with escaped names', async () => {
    const calls: ICall[] = [];
    await createSnapshot('k 1', 'before', fakeServer(201, '{"name":"before"}', calls));
    expect(calls[0]).toEqual({
      url: 'http://jupyter.test/base/sandbox/api/kernels/k%201/snapshots/before',
      method: 'POST'
    });
    const list = await listSnapshots(
      'k',
      fakeServer(200, '{"snapshots":[{"name":"a","size":1,"created":2,"execution_count":3}]}')
    );
    expect(list.map(s => s.name)).toEqual(['a']);
  });

  it("puts the server's message into the error", async () => {
    const error = await requestAPI(
      'kernels/k/snapshots/x/restore',
      { method: 'POST' },
      fakeServer(404, '{"message":"no snapshot named \'x\'"}')
    ).catch(e => e);
    expect(error).toBeInstanceOf(SandboxAPIError);
    expect(error.status).toBe(404);
    expect(error.message).toBe("no snapshot named 'x'");
  });

  it("reads the server's error envelope: message, code and hint", async () => {
    const error = await requestAPI(
      'kernels/k/files/a.txt',
      { method: 'PUT', body: 'x' },
      fakeServer(
        413,
        JSON.stringify({
          message: 'the workspace is full',
          reason: 'Payload Too Large',
          code: 'quota_exceeded',
          hint: 'delete files in /workspace'
        })
      )
    ).catch(e => e);
    expect(error).toBeInstanceOf(SandboxAPIError);
    expect(error.status).toBe(413);
    expect(error.message).toBe('the workspace is full');
    expect(error.code).toBe('quota_exceeded');
    expect(error.hint).toBe('delete files in /workspace');
    expect(errorBody({ message: 1, code: null })).toEqual({
      message: '',
      reason: '',
      code: '',
      hint: ''
    });
  });

  it('explains a status without a message', async () => {
    const gone = await requestAPI('kernels/k/status', {}, fakeServer(404, '')).catch(e => e);
    expect(gone.message).toMatch(/no running Sandboxed Python kernel/);
    const busy = await requestAPI('kernels/k/status', {}, fakeServer(502, '<html>')).catch(e => e);
    expect(busy.message).toMatch(/did not answer/);
  });

  it('refuses a successful answer that is not JSON', async () => {
    const error = await requestAPI(
      'kernels/k/status',
      {},
      fakeServer(200, '<html>login</html>')
    ).catch(e => e);
    expect(error).toBeInstanceOf(SandboxAPIError);
    expect(error.message).toMatch(/not JSON/);
  });

  it('reports an unreachable server', async () => {
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://jupyter.test/',
      fetch: (async () => {
        throw new TypeError('Failed to fetch');
      }) as typeof fetch,
      Request,
      Headers
    });
    const error = await requestAPI('kernels/k/status', {}, settings).catch(e => e);
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/cannot reach the Jupyter server/);
  });

  it('resolves to undefined for an empty answer', async () => {
    expect(
      await requestAPI('kernels/k/snapshots/a', { method: 'DELETE' }, fakeServer(204, ''))
    ).toBeUndefined();
  });
});

describe('previews API', () => {
  it('lists and stops the running previews of a kernel', async () => {
    const calls: ICall[] = [];
    const body =
      '{"previews":[{"port":8000,"path":"sandbox/preview/k/8000/","url":"http://h/sandbox/preview/k/8000/"}]}';
    const previews = await listPreviews('k', fakeServer(200, body, calls));
    expect(previews.map(p => p.port)).toEqual([8000]);
    await stopPreview('k', 8000, fakeServer(204, '', calls));
    expect(calls).toEqual([
      { url: 'http://jupyter.test/base/sandbox/api/kernels/k/previews', method: 'GET' },
      { url: 'http://jupyter.test/base/sandbox/api/kernels/k/previews/8000', method: 'DELETE' }
    ]);
  });

  it('reports a preview that is not running', async () => {
    const error = await stopPreview(
      'k',
      9,
      fakeServer(404, '{"message":"no preview is served on port 9"}')
    ).catch(e => e);
    expect(error.status).toBe(404);
    expect(error.message).toBe('no preview is served on port 9');
  });
});

describe('files API', () => {
  it('lists, downloads and uploads workspace files', async () => {
    const calls: ICall[] = [];
    const listing = await listFiles(
      'k',
      'data',
      fakeServer(200, '{"path":"/workspace/data","files":[]}', calls)
    );
    expect(listing.path).toBe('/workspace/data');
    const blob = await downloadFile('k', 'data/a b.txt', fakeServer(200, 'raw bytes', calls));
    expect(await blob.text()).toBe('raw bytes');
    const info = await uploadFile(
      'k',
      'data/new.txt',
      new Blob(['x']),
      fakeServer(201, '{"name":"new.txt","size":1}', calls)
    );
    expect(info.size).toBe(1);
    expect(calls).toEqual([
      { url: 'http://jupyter.test/base/sandbox/api/kernels/k/files/data?list', method: 'GET' },
      { url: 'http://jupyter.test/base/sandbox/api/kernels/k/files/data/a%20b.txt', method: 'GET' },
      { url: 'http://jupyter.test/base/sandbox/api/kernels/k/files/data/new.txt', method: 'PUT' }
    ]);
  });

  it("reports a failed download or upload with the server's message", async () => {
    const missing = await downloadFile(
      'k',
      'gone',
      fakeServer(404, '{"message":"no such file"}')
    ).catch(e => e);
    expect(missing).toBeInstanceOf(SandboxAPIError);
    expect(missing.message).toBe('no such file');
    const big = await uploadFile(
      'k',
      'big',
      new Blob(['x']),
      fakeServer(413, '{"message":"over the upload limit"}')
    ).catch(e => e);
    expect(big.status).toBe(413);
  });
});
