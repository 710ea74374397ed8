/**
 * The preview MIME bundle the guest's ``serve()`` displays, and the URLs built from it.
 *
 * A preview bundle is data written by notebook code, and a notebook *file* can carry any
 * bundle it likes (outputs are saved with it). So nothing in it is trusted: the address to open
 * is built from the kernel id and port where possible and, whatever its source, it is only ever
 * used as a link, iframe or ``window.open`` target after ``checkPreviewUrl`` accepted it: an
 * ``http(s)`` URL on this server's preview route, or on the configured preview host.
 */

import { URLExt } from '@jupyterlab/coreutils';

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

/** ``GET {base_url}sandbox/api/preview-settings``: how this server publishes previews. */
export interface IPreviewSettings {
  /**
   * Host pattern of the separate preview origin (``{port}-{kernel}.localhost``), or null in
   * shared-origin mode, where previews are served below the Jupyter origin.
   */
  preview_host: string | null;
}

/** Where previews may be opened from: this page's server and, maybe, the preview host. */
export interface IPreviewOrigins {
  /** This page's address (``window.location.href``): its origin is the Jupyter origin. */
  pageUrl: string;
  /** The server's base URL (``PageConfig.getBaseUrl()``), absolute or a path. */
  baseUrl: string;
  /** The ``preview_host`` pattern, or null in shared-origin mode. */
  previewHost: string | null;
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
 * The address a preview bundle asks to open (not yet checked: see ``checkPreviewUrl``): below
 * this page's server (``baseUrl``) when the kernel id is known (so links work whatever host
 * name the kernel was told), else the kernel's own URL.
 */
export function previewUrl(data: IPreviewData, baseUrl: string): string | null {
  if (data.kernel_id) {
    return URLExt.join(baseUrl, previewPath(data.kernel_id, data.port));
  }
  if (data.path) {
    return URLExt.join(baseUrl, data.path.replace(/^\/+/, ''));
  }
  return data.url;
}

/** Longest address accepted: a bundle is no place for megabytes of URL. */
const MAX_URL_LENGTH = 4096;

/** ``{kernel_id}/{port}`` and what follows, below ``{base_url}sandbox/preview/``. */
const PREVIEW_ROUTE_TAIL = /^[A-Za-z0-9_-][A-Za-z0-9._-]*\/([1-9][0-9]{0,4})(\/.*)?$/;

function effectivePort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

/**
 * A regular expression matching the host names of ``pattern`` (``{port}`` and ``{kernel}``
 * stand for one DNS label part each), or null for a pattern that is not usable.
 */
export function previewHostRegExp(pattern: string): RegExp | null {
  const lower = pattern.trim().toLowerCase();
  if (!lower.includes('{port}') || !lower.includes('{kernel}') || /[^a-z0-9.{}-]/.test(lower)) {
    return null;
  }
  const parts = lower.split(/(\{port\}|\{kernel\})/);
  const source = parts
    .map(part => {
      if (part === '{port}') {
        return '[1-9][0-9]{0,4}';
      }
      if (part === '{kernel}') {
        return '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
      }
      if (/[{}]/.test(part)) {
        throw new Error('unknown placeholder');
      }
      return part.replace(/[.\\^$*+?()[\]|-]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`);
}

/**
 * ``candidate`` as an absolute address if it is one a preview may be opened at, else null.
 *
 * Accepted: an ``http(s)`` URL without user name or password that either is on this page's
 * origin with a path ``{base_url}sandbox/preview/{kernel_id}/{port}/…`` (the Jupyter-origin
 * route, in both modes), or — with a preview host configured — has a host matching its pattern,
 * this page's scheme and port. Everything else (``javascript:``, ``data:``, other hosts, other
 * paths of the Jupyter origin such as ``/api/…``) is refused.
 */
export function checkPreviewUrl(candidate: unknown, origins: IPreviewOrigins): string | null {
  if (
    typeof candidate !== 'string' ||
    candidate.length === 0 ||
    candidate.length > MAX_URL_LENGTH
  ) {
    return null;
  }
  let page: URL;
  let url: URL;
  try {
    page = new URL(origins.pageUrl);
    url = new URL(candidate, page);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
    return null;
  }
  if (url.origin === page.origin) {
    let base: URL;
    try {
      base = new URL(origins.baseUrl || '/', page);
    } catch {
      return null;
    }
    if (base.origin !== page.origin) {
      return null;
    }
    const prefix =
      (base.pathname.endsWith('/') ? base.pathname : base.pathname + '/') + 'sandbox/preview/';
    if (!url.pathname.startsWith(prefix)) {
      return null;
    }
    const tail = PREVIEW_ROUTE_TAIL.exec(url.pathname.slice(prefix.length));
    if (!tail || Number(tail[1]) > 65535) {
      return null;
    }
    return url.href;
  }
  if (origins.previewHost) {
    let hosts: RegExp | null;
    try {
      hosts = previewHostRegExp(origins.previewHost);
    } catch {
      hosts = null;
    }
    if (
      hosts &&
      hosts.test(url.hostname) &&
      url.protocol === page.protocol &&
      effectivePort(url) === effectivePort(page)
    ) {
      return url.href;
    }
  }
  return null;
}

/** A flag of a preview tab's iframe ``sandbox`` attribute. */
export type PreviewSandboxFlag =
  | 'allow-scripts'
  | 'allow-forms'
  | 'allow-popups'
  | 'allow-modals'
  | 'allow-downloads'
  | 'allow-same-origin';

/**
 * The ``sandbox`` attribute of the iframe of a preview tab. On the shared origin the page must
 * get an opaque origin (no ``allow-same-origin``): with both it could reach Jupyter's session
 * and the JupyterLab page around it. On a preview host of its own, the origin is already
 * foreign to Jupyter, and ``allow-same-origin`` gives the app its cookies and storage.
 */
export function previewSandbox(previewHost: string | null): PreviewSandboxFlag[] {
  const flags: PreviewSandboxFlag[] = [
    'allow-scripts',
    'allow-forms',
    'allow-popups',
    'allow-modals',
    'allow-downloads'
  ];
  if (previewHost) {
    flags.push('allow-same-origin');
  }
  return flags;
}

/** The settings answer as sent by the server, or shared-origin mode for anything else. */
export function parsePreviewSettings(value: unknown): IPreviewSettings {
  if (value && typeof value === 'object') {
    const host = (value as Record<string, unknown>).preview_host;
    if (typeof host === 'string' && host && previewHostRegExpSafe(host)) {
      return { preview_host: host };
    }
  }
  return { preview_host: null };
}

function previewHostRegExpSafe(pattern: string): boolean {
  try {
    return previewHostRegExp(pattern) !== null;
  } catch {
    return false;
  }
}
