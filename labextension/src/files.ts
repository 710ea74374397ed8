/**
 * The workspace files of the current notebook's sandbox, as the side panel browses them: one
 * folder at a time (relative to /workspace), loaded when asked (never polled).
 */
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';

export const WORKSPACE = '/workspace';

/** ``path`` relative to /workspace ("" for the workspace itself). */
export function workspaceRelative(path: string): string {
  if (path === WORKSPACE || path === WORKSPACE + '/') {
    return '';
  }
  return path.startsWith(WORKSPACE + '/')
    ? path.slice(WORKSPACE.length + 1).replace(/\/+$/, '')
    : path.replace(/^\/+/, '');
}

/** The parent folder of a relative path ("" at the top). */
export function parentFolder(folder: string): string {
  const cut = folder.lastIndexOf('/');
  return cut < 0 ? '' : folder.slice(0, cut);
}

export function joinPath(folder: string, name: string): string {
  return folder ? `${folder}/${name}` : name;
}

export class WorkspaceFiles {
  get changed(): ISignal<this, void> {
    return this._changed;
  }
  get kernelId(): string | null {
    return this._kernelId;
  }
  /** The folder shown, relative to /workspace. */
  get folder(): string {
    return this._folder;
  }
  /** Folders first, then files, each by name. */
  get entries(): api.IWorkspaceFile[] {
    return this._entries;
  }
  get error(): string | null {
    return this._error;
  }
  get loading(): boolean {
    return this._loading;
  }

  /** Show the files of another kernel (or none), from /workspace. */
  setKernel(kernelId: string | null): void {
    if (kernelId === this._kernelId) {
      return;
    }
    this._kernelId = kernelId;
    this._folder = '';
    this._entries = [];
    this._error = null;
    this._changed.emit();
  }

  /** List ``folder`` (default: the current one); errors are kept in ``error``. */
  async open(folder: string = this._folder): Promise<void> {
    const kernelId = this._kernelId;
    if (!kernelId) {
      return;
    }
    this._loading = true;
    this._changed.emit();
    try {
      const listing = await api.listFiles(kernelId, folder);
      if (kernelId === this._kernelId) {
        this._folder = workspaceRelative(listing.path);
        this._entries = [...listing.files].sort((a, b) =>
          a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'directory' ? -1 : 1
        );
        this._error = null;
      }
    } catch (error) {
      if (kernelId === this._kernelId) {
        this._error = (error as Error).message;
      }
    } finally {
      this._loading = false;
      this._changed.emit();
    }
  }

  up(): Promise<void> {
    return this.open(parentFolder(this._folder));
  }

  /** The bytes of ``name`` in the current folder; errors propagate. */
  download(name: string): Promise<Blob> {
    return api.downloadFile(this._requireKernel(), joinPath(this._folder, name));
  }

  /** Upload ``data`` as ``name`` into the current folder, then list it again; errors propagate. */
  async upload(name: string, data: Blob | ArrayBuffer): Promise<api.IWorkspaceFile> {
    const info = await api.uploadFile(this._requireKernel(), joinPath(this._folder, name), data);
    await this.open();
    return info;
  }

  private _requireKernel(): string {
    if (!this._kernelId) {
      throw new Error('the current notebook has no Sandboxed Python kernel');
    }
    return this._kernelId;
  }

  private _changed = new Signal<this, void>(this);
  private _kernelId: string | null = null;
  private _folder = '';
  private _entries: api.IWorkspaceFile[] = [];
  private _error: string | null = null;
  private _loading = false;
}

/** Let the browser save ``data`` as ``name``. */
export function saveBlob(data: Blob, name: string): void {
  const url = URL.createObjectURL(data);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
