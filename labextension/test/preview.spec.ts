import { describe, expect, it } from 'vitest';

import {
  checkPreviewUrl,
  parsePreviewData,
  parsePreviewSettings,
  previewHostRegExp,
  previewPath,
  previewSandbox,
  previewUrl
} from '../src/preview';

const bundle = {
  port: 8000,
  kind: 'wsgi',
  url: 'http://elsewhere:8888/sandbox/preview/k1/8000/',
  path: 'sandbox/preview/k1/8000/',
  kernel_id: 'k1'
};

describe('parsePreviewData', () => {
  it('reads the bundle serve() displays', () => {
    expect(parsePreviewData(bundle)).toEqual(bundle);
  });
  it('fills missing fields with null', () => {
    expect(parsePreviewData({ port: 1 })).toEqual({
      port: 1,
      kind: 'app',
      url: null,
      path: null,
      kernel_id: null
    });
  });
  it('refuses what is not a preview', () => {
    for (const value of [
      null,
      'x',
      3,
      {},
      { port: 0 },
      { port: 70000 },
      { port: 1.5 },
      { port: '8000' }
    ]) {
      expect(parsePreviewData(value)).toBeNull();
    }
  });
});

describe('previewUrl', () => {
  it('is below this page server, whatever host the kernel was told', () => {
    expect(previewUrl(bundle, '/lab-base/')).toBe('/lab-base/sandbox/preview/k1/8000/');
    expect(previewUrl(bundle, 'http://127.0.0.1:9/')).toBe(
      'http://127.0.0.1:9/sandbox/preview/k1/8000/'
    );
  });
  it('uses the path, then the url, without a kernel id', () => {
    expect(previewUrl({ ...bundle, kernel_id: null }, '/base')).toBe(
      '/base/sandbox/preview/k1/8000/'
    );
    expect(previewUrl({ ...bundle, kernel_id: null, path: null }, '/')).toBe(bundle.url);
    expect(previewUrl({ ...bundle, kernel_id: null, path: null, url: null }, '/')).toBeNull();
  });
  it('escapes kernel ids', () => {
    expect(previewPath('a/b', 80)).toBe('sandbox/preview/a%2Fb/80/');
  });
});

describe('checkPreviewUrl', () => {
  const shared = {
    pageUrl: 'http://127.0.0.1:8888/lab/tree/x.ipynb',
    baseUrl: '/',
    previewHost: null
  };
  const hosted = { ...shared, previewHost: '{port}-{kernel}.localhost' };
  const based = {
    pageUrl: 'https://hub.example/user/ann/lab',
    baseUrl: '/user/ann/',
    previewHost: null
  };

  it('accepts the preview route of this server, absolute or not', () => {
    expect(checkPreviewUrl('/sandbox/preview/k1/8000/', shared)).toBe(
      'http://127.0.0.1:8888/sandbox/preview/k1/8000/'
    );
    expect(
      checkPreviewUrl('http://127.0.0.1:8888/sandbox/preview/0b4c-9f/65535/a/b?c=1#d', shared)
    ).toBe('http://127.0.0.1:8888/sandbox/preview/0b4c-9f/65535/a/b?c=1#d');
    expect(checkPreviewUrl('/sandbox/preview/k1/8000', shared)).toBe(
      'http://127.0.0.1:8888/sandbox/preview/k1/8000'
    );
    expect(checkPreviewUrl('/user/ann/sandbox/preview/k1/80/', based)).toBe(
      'https://hub.example/user/ann/sandbox/preview/k1/80/'
    );
    expect(checkPreviewUrl(previewUrl(bundle, 'http://127.0.0.1:8888/'), shared)).toBe(
      'http://127.0.0.1:8888/sandbox/preview/k1/8000/'
    );
  });

  it('refuses script, data and other schemes', () => {
    for (const url of [
      'javascript:alert(1)',
      ' JaVaScRiPt:alert(1)',
      'java\nscript:alert(1)',
      '\u0000javascript:alert(1)',
      'javascript://127.0.0.1:8888/sandbox/preview/k1/8000/%0aalert(1)',
      'data:text/html,<script>alert(1)</script>',
      'blob:http://127.0.0.1:8888/0b4c',
      'vbscript:msgbox(1)',
      'file:///etc/passwd',
      'ftp://127.0.0.1:8888/sandbox/preview/k1/8000/',
      'ws://127.0.0.1:8888/sandbox/preview/k1/8000/'
    ]) {
      expect(checkPreviewUrl(url, shared), url).toBeNull();
      expect(checkPreviewUrl(url, hosted), url).toBeNull();
    }
  });

  it('refuses other hosts, ports, schemes and credentials', () => {
    for (const url of [
      'http://evil.example/sandbox/preview/k1/8000/',
      '//evil.example/sandbox/preview/k1/8000/',
      'http://127.0.0.1:8889/sandbox/preview/k1/8000/',
      'https://127.0.0.1:8888/sandbox/preview/k1/8000/',
      'http://localhost:8888/sandbox/preview/k1/8000/',
      'http://user:pw@127.0.0.1:8888/sandbox/preview/k1/8000/',
      'http://127.0.0.1:8888@evil.example/sandbox/preview/k1/8000/'
    ]) {
      expect(checkPreviewUrl(url, shared), url).toBeNull();
    }
  });

  it('refuses other paths of the Jupyter origin, however spelled', () => {
    for (const url of [
      '/api/kernels',
      '/lab',
      '/',
      '/sandbox/preview/',
      '/sandbox/preview/k1/',
      '/sandbox/preview/k1/0/',
      '/sandbox/preview/k1/70000/',
      '/sandbox/preview/k1/08000/',
      '/sandbox/preview/k1/abc/',
      '/sandbox/preview/../../api/kernels',
      '/sandbox/preview/%2e%2e/%2e%2e/api/kernels?x=/sandbox/preview/k/1/',
      '/sandbox/preview/..%2F..%2Fapi/8000/',
      '/sandbox/preview/k1/8000/../../../api/kernels',
      '/sandbox/previewx/k1/8000/',
      '/sandbox/api/kernels/k1/status',
      '/files/sandbox/preview/k1/8000/',
      '\\\\evil.example/sandbox/preview/k1/8000/',
      '/\\evil.example/sandbox/preview/k1/8000/',
      '/sandbox/preview/k1/8000/'.padEnd(5000, 'a')
    ]) {
      expect(checkPreviewUrl(url, shared), url).toBeNull();
    }
    // Below a base URL, the route of the server at the root is not this server's.
    expect(checkPreviewUrl('/sandbox/preview/k1/80/', based)).toBeNull();
    expect(checkPreviewUrl('/user/bob/sandbox/preview/k1/80/', based)).toBeNull();
  });

  it('refuses what is not a string', () => {
    for (const value of [null, undefined, 3, {}, ['/sandbox/preview/k1/8000/']]) {
      expect(checkPreviewUrl(value, shared)).toBeNull();
    }
  });

  it('builds nothing acceptable from a hostile kernel id', () => {
    for (const kernel_id of [
      '../../api',
      '../../api/kernels?',
      'a/b',
      '..',
      '.',
      'k1/8000/../../../../api'
    ]) {
      expect(
        checkPreviewUrl(previewUrl({ ...bundle, kernel_id }, '/'), shared),
        kernel_id
      ).toBeNull();
    }
  });

  it('accepts the preview host pattern only with a preview host', () => {
    const url = 'http://8000-0b4c9f2a-1234-4cde-9abc-0123456789ab.localhost:8888/static/app.js';
    expect(checkPreviewUrl(url, shared)).toBeNull();
    expect(checkPreviewUrl(url, hosted)).toBe(url);
    for (const other of [
      'http://8000-k1.localhost.evil.example:8888/',
      'http://evil.example:8888/',
      'http://x8000-k1.localhost:8888/',
      'http://8000-k1.evil.localhost:8888/',
      'http://8000-.localhost:8888/',
      'http://abc-k1.localhost:8888/',
      'http://8000-k1.localhost:8889/',
      'https://8000-k1.localhost:8888/',
      'javascript://8000-k1.localhost:8888/%0aalert(1)'
    ]) {
      expect(checkPreviewUrl(other, hosted), other).toBeNull();
    }
    const deployed = {
      pageUrl: 'https://jupyter.example.com/lab',
      baseUrl: '/',
      previewHost: '{port}-{kernel}.preview.example.com'
    };
    expect(checkPreviewUrl('https://8000-k1.preview.example.com/', deployed)).toBe(
      'https://8000-k1.preview.example.com/'
    );
    expect(checkPreviewUrl('https://8000-k1.previewXexample.com/', deployed)).toBeNull();
    expect(checkPreviewUrl('http://8000-k1.preview.example.com/', deployed)).toBeNull();
  });
});

describe('previewHostRegExp and parsePreviewSettings', () => {
  it('needs both placeholders and host characters only', () => {
    expect(previewHostRegExp('{port}-{kernel}.localhost')?.test('8000-abc.localhost')).toBe(true);
    expect(previewHostRegExp('{kernel}.localhost')).toBeNull();
    expect(previewHostRegExp('{port}-{kernel}.local host')).toBeNull();
    expect(previewHostRegExp('{port}-{kernel}.*')).toBeNull();
  });
  it('falls back to shared-origin mode', () => {
    expect(parsePreviewSettings({ preview_host: '{port}-{kernel}.localhost' })).toEqual({
      preview_host: '{port}-{kernel}.localhost'
    });
    for (const value of [
      null,
      undefined,
      'x',
      {},
      { preview_host: null },
      { preview_host: 3 },
      { preview_host: '' },
      { preview_host: '.*' }
    ]) {
      expect(parsePreviewSettings(value)).toEqual({ preview_host: null });
    }
  });
});

describe('previewSandbox', () => {
  it('never combines scripts with the same origin on the shared origin', () => {
    const flags = previewSandbox(null);
    expect(flags).toContain('allow-scripts');
    expect(flags).not.toContain('allow-same-origin');
    expect(flags).not.toContain('allow-top-navigation');
    expect(previewSandbox('{port}-{kernel}.localhost')).toContain('allow-same-origin');
  });
});
