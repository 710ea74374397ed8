/**
 * Typed client for the server extension's REST API (kernel status and named snapshots).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A failed request to the server extension, with a message a user can act on. */
export class SandboxAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The envelope's stable ``code`` (``not_found``, ``quota_exceeded``…), '' without one. */
    readonly code = '',
    /** The envelope's ``hint``: what to do next ('' when the server gave none). */
    readonly hint = ''
  ) {
    super(message);
    this.name = 'SandboxAPIError';
  }
}

/**
 * The server extension's one JSON error envelope (``ErrorBody`` in the kernel's
 * ``control_protocol.py``), also the shape of jupyter_server's own refusals on its routes.
 */
export interface ISandboxErrorBody {
  /** What went wrong (never empty from the server). */
  message: string;
  /** The HTTP reason phrase. */
  reason: string;
  /** Short and stable: branch on this, not on the message. */
  code: string;
  /** What to do next, may be ''. */
  hint: string;
}

export interface ISandboxLimits {
  memory_bytes: number;
  output_bytes: number;
  cell_timeout: number | null;
  workspace_bytes: number;
  workspace_files: number;
}

export interface ISandboxUsage {
  memory_bytes: number;
  workspace_bytes: number;
  workspace_files: number;
}

export interface IMount {
  path: string;
  writable: boolean;
  kind: 'file' | 'folder';
  host_folder: string | null;
}

/** A network policy (``NetworkPolicy.to_json()``; injected header values never appear). */
export interface INetworkPolicy {
  enabled: boolean;
  allow: string[];
  deny: string[];
  max_connections: number;
  max_bytes_per_cell: number;
  max_bytes_per_sandbox: number;
  connect_timeout: number;
  ca_bundle: string | null;
  inject_headers: { host: string; header: string }[];
  /** The administrator's policy, when this one was narrowed through the API. */
  administrator?: INetworkPolicy;
}

/** One connection attempt of the audit (times: seconds since the epoch). */
export interface IConnectionRecord {
  host: string;
  /** null when refused before the name was resolved. */
  address: string | null;
  port: number;
  allowed: boolean;
  /** Why, naming the rule. */
  reason: string;
  bytes_sent: number;
  bytes_received: number;
  started_at: number;
  ended_at: number | null;
  tls: boolean;
}

/** ``status.network``: the policy in force and the recent attempts, newest last. */
export interface ISandboxNetwork {
  policy: INetworkPolicy;
  connections: IConnectionRecord[];
  open_connections: number;
  bytes: number;
}

/** ``GET sandbox/api/kernels/{id}/status``: ``Sandbox.status()`` plus the kernel id. */
export interface ISandboxStatus {
  kernel_id: string;
  limits: ISandboxLimits;
  usage: ISandboxUsage;
  host_folder_mode: string;
  mounts: IMount[];
  execution_count: number;
  /** Absent from kernels older than the network policy. */
  network?: ISandboxNetwork;
}

export interface ISnapshotInfo {
  name: string;
  size: number;
  /** Seconds since the epoch. */
  created: number;
  execution_count: number;
}

function statusMessage(status: number): string {
  switch (status) {
    case 403:
      return 'not allowed: log in to Jupyter again';
    case 404:
      return 'no running Sandboxed Python kernel with this id (it may have been shut down)';
    case 502:
    case 503:
    case 504:
      return 'the kernel did not answer (it may be busy or restarting)';
    default:
      return `the server answered ${status}`;
  }
}

/**
 * Call ``{base_url}sandbox/api/{endpoint}``; resolve to its JSON (undefined for an empty
 * body), reject with a SandboxAPIError that says what went wrong.
 */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'sandbox/api', endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new SandboxAPIError(`cannot reach the Jupyter server: ${String(error)}`, 0);
  }
  const text = await response.text();
  return parseAnswer<T>(response, text);
}

/** The JSON of an answer's ``text``, or the SandboxAPIError it stands for. */
function parseAnswer<T>(response: Response, text: string): T {
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      if (response.ok) {
        throw new SandboxAPIError(
          `the server sent something that is not JSON: ${text.slice(0, 100)}`,
          response.status
        );
      }
    }
  }
  if (!response.ok) {
    const body = errorBody(data);
    throw new SandboxAPIError(
      body.message || statusMessage(response.status),
      response.status,
      body.code,
      body.hint
    );
  }
  return data as T;
}

/**
 * The fields of an error answer's JSON (``ISandboxErrorBody``), each '' when missing or not a
 * string: the one place that reads the server's error shape.
 */
export function errorBody(data: unknown): ISandboxErrorBody {
  const fields = data && typeof data === 'object' ? (data as Record<string, unknown>) : {};
  const text = (key: keyof ISandboxErrorBody) =>
    typeof fields[key] === 'string' ? (fields[key] as string) : '';
  return {
    message: text('message'),
    reason: text('reason'),
    code: text('code'),
    hint: text('hint')
  };
}

function kernelPath(kernelId: string, ...parts: string[]): string {
  return ['kernels', encodeURIComponent(kernelId), ...parts.map(encodeURIComponent)].join('/');
}

export function getStatus(
  kernelId: string,
  settings?: ServerConnection.ISettings
): Promise<ISandboxStatus> {
  return requestAPI<ISandboxStatus>(kernelPath(kernelId, 'status'), {}, settings);
}

export async function listSnapshots(
  kernelId: string,
  settings?: ServerConnection.ISettings
): Promise<ISnapshotInfo[]> {
  const reply = await requestAPI<{ snapshots: ISnapshotInfo[] }>(
    kernelPath(kernelId, 'snapshots'),
    {},
    settings
  );
  return reply.snapshots;
}

export function createSnapshot(
  kernelId: string,
  name: string,
  settings?: ServerConnection.ISettings
): Promise<ISnapshotInfo> {
  return requestAPI<ISnapshotInfo>(
    kernelPath(kernelId, 'snapshots', name),
    { method: 'POST' },
    settings
  );
}

export function restoreSnapshot(
  kernelId: string,
  name: string,
  settings?: ServerConnection.ISettings
): Promise<{ name: string; execution_count: number }> {
  return requestAPI(
    kernelPath(kernelId, 'snapshots', name, 'restore'),
    { method: 'POST' },
    settings
  );
}

export async function deleteSnapshot(
  kernelId: string,
  name: string,
  settings?: ServerConnection.ISettings
): Promise<void> {
  await requestAPI<void>(kernelPath(kernelId, 'snapshots', name), { method: 'DELETE' }, settings);
}

/** A preview app registered in the kernel (``serve(app, port=...)``). */
export interface IRunningPreview {
  port: number;
  /** Path below the server's base URL, e.g. "sandbox/preview/<kernel>/<port>/". */
  path: string;
  url: string;
}

export async function listPreviews(
  kernelId: string,
  settings?: ServerConnection.ISettings
): Promise<IRunningPreview[]> {
  const reply = await requestAPI<{ previews: IRunningPreview[] }>(
    kernelPath(kernelId, 'previews'),
    {},
    settings
  );
  return reply.previews;
}

export async function stopPreview(
  kernelId: string,
  port: number,
  settings?: ServerConnection.ISettings
): Promise<void> {
  await requestAPI<void>(
    kernelPath(kernelId, 'previews', String(port)),
    { method: 'DELETE' },
    settings
  );
}

/** An entry of a workspace folder (the runtime's ``FileInfo``). */
export interface IWorkspaceFile {
  /** Path inside the sandbox, e.g. "/workspace/data/a.csv". */
  path: string;
  name: string;
  type: 'file' | 'directory';
  size: number;
  mtime_ns: number;
}

export interface IWorkspaceListing {
  path: string;
  files: IWorkspaceFile[];
}

/** ``files/<path>`` with each segment escaped; ``path`` is relative to /workspace. */
export function filesEndpoint(kernelId: string, path: string): string {
  const segments = path.split('/').filter(part => part.length > 0);
  return (
    [kernelPath(kernelId, 'files'), ...segments.map(encodeURIComponent)].join('/') +
    (segments.length ? '' : '/')
  );
}

export function listFiles(
  kernelId: string,
  folder: string,
  settings?: ServerConnection.ISettings
): Promise<IWorkspaceListing> {
  return requestAPI<IWorkspaceListing>(filesEndpoint(kernelId, folder) + '?list', {}, settings);
}

/** The bytes of a workspace file. */
export async function downloadFile(
  kernelId: string,
  path: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<Blob> {
  const url = URLExt.join(settings.baseUrl, 'sandbox/api', filesEndpoint(kernelId, path));
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (error) {
    throw new SandboxAPIError(`cannot reach the Jupyter server: ${String(error)}`, 0);
  }
  if (!response.ok) {
    parseAnswer(response, await response.text());
  }
  return response.blob();
}

/** Create or replace a workspace file with ``data``. */
export function uploadFile(
  kernelId: string,
  path: string,
  data: Blob | ArrayBuffer,
  settings?: ServerConnection.ISettings
): Promise<IWorkspaceFile> {
  return requestAPI<IWorkspaceFile>(
    filesEndpoint(kernelId, path),
    { method: 'PUT', body: data },
    settings
  );
}
