import { describe, expect, it } from 'vitest';

import { parsePreviewData, previewPath, previewUrl } from '../src/preview';

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
    expect(parsePreviewData({ port: 1 })).toEqual({ port: 1, kind: 'app', url: null, path: null, kernel_id: null });
  });
  it('refuses what is not a preview', () => {
    for (const value of [null, 'x', 3, {}, { port: 0 }, { port: 70000 }, { port: 1.5 }, { port: '8000' }]) {
      expect(parsePreviewData(value)).toBeNull();
    }
  });
});

describe('previewUrl', () => {
  it('is below this page server, whatever host the kernel was told', () => {
    expect(previewUrl(bundle, '/lab-base/')).toBe('/lab-base/sandbox/preview/k1/8000/');
    expect(previewUrl(bundle, 'http://127.0.0.1:9/')).toBe('http://127.0.0.1:9/sandbox/preview/k1/8000/');
  });
  it('uses the path, then the url, without a kernel id', () => {
    expect(previewUrl({ ...bundle, kernel_id: null }, '/base')).toBe('/base/sandbox/preview/k1/8000/');
    expect(previewUrl({ ...bundle, kernel_id: null, path: null }, '/')).toBe(bundle.url);
    expect(previewUrl({ ...bundle, kernel_id: null, path: null, url: null }, '/')).toBeNull();
  });
  it('escapes kernel ids', () => {
    expect(previewPath('a/b', 80)).toBe('sandbox/preview/a%2Fb/80/');
  });
});
