/**
 * The sandbox of the current notebook's kernel: status polled at a modest rate (one request
 * per interval for the whole page, shared by the side panel and the status bar), snapshots,
 * and the snapshot actions.
 */
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import type { ISandboxModel } from './tokens';

/** The kernelspec name of Sandboxed Python. */
export const SANDBOX_KERNEL_NAME = 'sandboxed-python';

/** Slowest allowed polling: the settings schema has the same minimum. */
export const MIN_POLL_SECONDS = 2;

export interface IKernelRef {
  id: string;
  name: string;
}

export type Activity = 'snapshot' | 'restore' | 'delete' | null;

/** The ``ISandboxModel`` the main plugin provides; only it follows kernels (``setKernel``). */
export class SandboxModel implements ISandboxModel {
  constructor(private _pollSeconds = 5) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }
  get kernel(): IKernelRef | null {
    return this._kernel;
  }
  /** Whether the current kernel is a Sandboxed Python kernel. */
  get isSandboxed(): boolean {
    return this._kernel !== null && this._kernel.name === SANDBOX_KERNEL_NAME;
  }
  get status(): api.ISandboxStatus | null {
    return this._status;
  }
  get snapshots(): api.ISnapshotInfo[] {
    return this._snapshots;
  }
  get error(): string | null {
    return this._error;
  }
  /** The kernel's running preview apps, as of the last ``refreshPreviews()``. */
  get previews(): api.IRunningPreview[] {
    return this._previews;
  }
  get activity(): Activity {
    return this._activity;
  }
  get pollSeconds(): number {
    return this._pollSeconds;
  }
  set pollSeconds(seconds: number) {
    this._pollSeconds = Math.max(MIN_POLL_SECONDS, Number.isFinite(seconds) ? seconds : 5);
    this._schedule();
  }

  /** Follow another kernel (or none); refreshes at once when it is sandboxed. */
  setKernel(kernel: IKernelRef | null): void {
    if (kernel?.id === this._kernel?.id && kernel?.name === this._kernel?.name) {
      return;
    }
    this._kernel = kernel;
    this._status = null;
    this._snapshots = [];
    this._previews = [];
    this._error = null;
    this._changed.emit();
    if (this.isSandboxed) {
      void this.refresh(true);
    } else {
      this._schedule();
    }
  }

  /** Fetch the status (and the snapshot list when ``withSnapshots``) now. */
  async refresh(withSnapshots = false): Promise<void> {
    const kernel = this._kernel;
    if (!kernel || !this.isSandboxed) {
      return;
    }
    if (this._inFlight) {
      this._pendingSnapshots ||= withSnapshots;
      return this._inFlight;
    }
    this._inFlight = (async () => {
      try {
        const status = await api.getStatus(kernel.id);
        const snapshots = withSnapshots ? await api.listSnapshots(kernel.id) : null;
        if (this._kernel?.id === kernel.id) {
          this._status = status;
          if (snapshots) {
            this._snapshots = [...snapshots].sort((a, b) => b.created - a.created);
          }
          this._error = null;
        }
      } catch (error) {
        if (this._kernel?.id === kernel.id) {
          this._error = (error as Error).message;
        }
      } finally {
        this._inFlight = null;
        this._changed.emit();
        this._schedule();
      }
    })();
    await this._inFlight;
    if (this._pendingSnapshots) {
      this._pendingSnapshots = false;
      await this.refresh(true);
    }
  }

  createSnapshot(name: string): Promise<void> {
    return this._act('snapshot', id => api.createSnapshot(id, name));
  }
  restoreSnapshot(name: string): Promise<void> {
    return this._act('restore', id => api.restoreSnapshot(id, name));
  }
  deleteSnapshot(name: string): Promise<void> {
    return this._act('delete', id => api.deleteSnapshot(id, name));
  }

  /**
   * Fetch the running previews now (not part of the status poll: listing them waits for a
   * busy kernel). Errors propagate to the caller.
   */
  async refreshPreviews(): Promise<void> {
    const kernel = this._kernel;
    if (!kernel || !this.isSandboxed) {
      return;
    }
    const previews = await api.listPreviews(kernel.id);
    if (this._kernel?.id === kernel.id) {
      this._previews = [...previews].sort((a, b) => a.port - b.port);
      this._changed.emit();
    }
  }

  /** Stop the preview on ``port``, then list the previews again. */
  async stopPreview(port: number): Promise<void> {
    const kernel = this._kernel;
    if (!kernel || !this.isSandboxed) {
      throw new Error('the current notebook has no Sandboxed Python kernel');
    }
    try {
      await api.stopPreview(kernel.id, port);
    } finally {
      await this.refreshPreviews().catch(() => undefined);
    }
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    Signal.clearData(this);
  }

  /** Run an action on the current kernel; errors propagate to the caller. */
  private async _act(
    activity: Activity,
    action: (kernelId: string) => Promise<unknown>
  ): Promise<void> {
    const kernel = this._kernel;
    if (!kernel || !this.isSandboxed) {
      throw new Error('the current notebook has no Sandboxed Python kernel');
    }
    this._activity = activity;
    this._changed.emit();
    try {
      await action(kernel.id);
    } finally {
      this._activity = null;
      this._changed.emit();
      await this.refresh(true);
    }
  }

  private _schedule(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    if (this._disposed || !this.isSandboxed) {
      return;
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      const hidden = typeof document !== 'undefined' && document.hidden;
      if (hidden) {
        this._schedule();
      } else {
        void this.refresh(false);
      }
    }, this._pollSeconds * 1000);
  }

  private _changed = new Signal<this, void>(this);
  private _kernel: IKernelRef | null = null;
  private _status: api.ISandboxStatus | null = null;
  private _snapshots: api.ISnapshotInfo[] = [];
  private _previews: api.IRunningPreview[] = [];
  private _error: string | null = null;
  private _activity: Activity = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _inFlight: Promise<void> | null = null;
  private _pendingSnapshots = false;
  private _disposed = false;
}
