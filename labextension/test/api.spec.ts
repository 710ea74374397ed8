import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import { createSnapshot, getStatus, listSnapshots, requestAPI, SandboxAPIError } from '../src/api';

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
      calls.push({ url: request.url.replace(/\?\d+$/, ''), method: request.method ?? init?.method ?? 'GET' });
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
    expect(calls).toEqual([{ url: 'http://jupyter.test/base/sandbox/api/kernels/k/status', method: 'GET' }]);
  });

  it('builds snapshot routes with escaped names', async () => {
    const calls: ICall[] = [];
    await createSnapshot('k 1', 'before', fakeServer(201, '{"name":"before"}', calls));
    expect(calls[0]).toEqual({ url: 'http://jupyter.test/base/sandbox/api/kernels/k%201/snapshots/before', method: 'POST' });
    const list = await listSnapshots('k', fakeServer(200, '{"snapshots":[{"name":"a","size":1,"created":2,"execution_count":3}]}'));
    expect(list.map(s => s.name)).toEqual(['a']);
  });

  it("puts the server's message into the error", async () => {
    const error = await requestAPI('kernels/k/snapshots/x/restore', { method: 'POST' }, fakeServer(404, '{"message":"no snapshot named \'x\'"}')).catch(e => e);
    expect(error).toBeInstanceOf(SandboxAPIError);
    expect(error.status).toBe(404);
    expect(error.message).toBe("no snapshot named 'x'");
  });

  it('explains a status without a message', async () => {
    const gone = await requestAPI('kernels/k/status', {}, fakeServer(404, '')).catch(e => e);
    expect(gone.message).toMatch(/no running Sandboxed Python kernel/);
    const busy = await requestAPI('kernels/k/status', {}, fakeServer(502, '<html>')).catch(e => e);
    expect(busy.message).toMatch(/did not answer/);
  });

  it('refuses a successful answer that is not JSON', async () => {
    const error = await requestAPI('kernels/k/status', {}, fakeServer(200, '<html>login</html>')).catch(e => e);
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
    expect(await requestAPI('kernels/k/snapshots/a', { method: 'DELETE' }, fakeServer(204, ''))).toBeUndefined();
  });
});
