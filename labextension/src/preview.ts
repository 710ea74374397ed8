/**
 * The preview MIME bundle the guest's ``serve()`` displays, and URLs built from it.
 */

export const PREVIEW_MIME_TYPE = 'application/vnd.jupyter-sandbox.preview+json';

/** What ``Preview._repr_mimebundle_`` puts under PREVIEW_MIME_TYPE. */
export interface IPreviewData {
  port: number;
  kind: string;
  /** Full URL as the kernel knows it, or null without a Jupyter server. */
  url: string | null;
  /** Path below the server's base URL, e.g. "sandbox/preview/<kernel>/<port>/". */
  path: string | null;
  kernel_id: string | null;
}

/** The preview data in ``value``, or null when it is not a preview bundle. */
export function parsePreviewData(value: unknown): IPreviewData | null {
  if (!value || typeof value !== 'object') {
    return null;
  }
  const data = value as Record<string, unknown>;
  const port = data.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    return null;
  }
  const text = (v: unknown) => (typeof v === 'string' && v ? v : null);
  return {
    port,
    kind: text(data.kind) ?? 'app',
    url: text(data.url),
    path: text(data.path),
    kernel_id: text(data.kernel_id)
  };
}

/** The path of a kernel's preview below the server's base URL. */
export function previewPath(kernelId: string, port: number): string {
  return `sandbox/preview/${encodeURIComponent(kernelId)}/${port}/`;
}

/**
 * The URL to open for a preview: below this page's server (``baseUrl``) when the kernel id is
 * known (so links work whatever host name the kernel was told), else the kernel's own URL.
 */
export function previewUrl(data: IPreviewData, baseUrl: string): string | null {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  if (data.kernel_id) {
    return base + previewPath(data.kernel_id, data.port);
  }
  if (data.path) {
    return base + data.path.replace(/^\/+/, '');
  }
  return data.url;
}
