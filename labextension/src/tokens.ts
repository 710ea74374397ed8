/**
 * The interfaces the extension's plugins share, each with its ``Token``: a plugin that needs
 * another's state lists the token in ``requires`` and gets it as an argument of ``activate``
 * (JupyterLab activates the provider first), instead of reading a module-level variable that
 * is null until some other plugin happened to set it.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import type * as api from './api';
import type { Activity, IKernelRef } from './model';
import type { IPreviewContext } from './previewWidgets';

/** The sandbox of the current notebook's kernel: its polled status, snapshots and previews. */
export interface ISandboxModel {
  /** Emitted after every change and every status poll (even when nothing changed). */
  readonly changed: ISignal<ISandboxModel, void>;
  readonly kernel: IKernelRef | null;
  /** Whether the current kernel is a Sandboxed Python kernel. */
  readonly isSandboxed: boolean;
  readonly status: api.ISandboxStatus | null;
  /** Newest first. */
  readonly snapshots: api.ISnapshotInfo[];
  /** The last status error, or null. */
  readonly error: string | null;
  /** The kernel's running previews, as of the last ``refreshPreviews()``, by port. */
  readonly previews: api.IRunningPreview[];
  /** The snapshot action running, or null. */
  readonly activity: Activity;

  /** Fetch the status (and the snapshot list when ``withSnapshots``) now. */
  refresh(withSnapshots?: boolean): Promise<void>;
  createSnapshot(name: string): Promise<void>;
  restoreSnapshot(name: string): Promise<void>;
  deleteSnapshot(name: string): Promise<void>;
  /** List the running previews now; errors propagate. */
  refreshPreviews(): Promise<void>;
  stopPreview(port: number): Promise<void>;
}

export const ISandboxModel = new Token<ISandboxModel>(
  'jupyter-sandbox:ISandboxModel',
  "The sandbox of the current notebook's kernel: status, snapshots, previews."
);

/** Opens previews in main-area tabs; also what the preview output renderer needs. */
export interface ISandboxPreviews {
  /** Translations, kernels, the server's preview settings and ``openInLab``. */
  readonly context: IPreviewContext;
  /**
   * Open ``candidate`` in a preview tab (reusing the tab already showing it) if it is an
   * address ``checkPreviewUrl`` accepts; otherwise tell the user and open nothing.
   */
  open(candidate: string, label: string, kernelId: string | null): Promise<void>;
  /** Open the preview of the app on ``port`` of the kernel ``kernelId``. */
  openPort(kernelId: string, port: number): Promise<void>;
}

export const ISandboxPreviews = new Token<ISandboxPreviews>(
  'jupyter-sandbox:ISandboxPreviews',
  'Opens sandbox previews in JupyterLab tabs, after checking their address.'
);
