/**
 * The sandbox side panel: limits and usage, mounts, network (``network.ts``), previews,
 * workspace files and snapshots of the current notebook's Sandboxed Python kernel.
 *
 * Its nodes are built once; every status poll updates them in place (``dom.ts``): text and
 * attributes are written only when they differ, and list rows are kept per item id, so a poll
 * that changes nothing changes no node, and a focused button or a half-typed name keeps its
 * focus.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import * as api from './api';
import {
  el,
  IKeyedRow,
  KeyedList,
  setAttribute,
  setClass,
  setDisabled,
  setHidden,
  setStyle,
  setText
} from './dom';
import {
  defaultSnapshotName,
  formatBytes,
  formatTime,
  formatUsage,
  isValidSnapshotName,
  usageFraction
} from './format';
import { joinPath, saveBlob, WorkspaceFiles } from './files';
import { NetworkSection } from './network';
import { ISandboxModel } from './tokens';

/** Ask for confirmation, then restore ``name`` into the current kernel. */
export async function confirmAndRestore(
  model: ISandboxModel,
  name: string,
  trans: TranslationBundle
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Restore snapshot %1?', name),
    body: trans.__(
      'The kernel\'s variables, imports and workspace files go back to snapshot "%1"; what changed since is lost. ("Revert Notebook to Checkpoint" restores the kernel\'s state of a checkpoint too.)',
      name
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Restore') })
    ]
  });
  if (!result.button.accept) {
    return false;
  }
  try {
    await model.restoreSnapshot(name);
    return true;
  } catch (error) {
    await showErrorMessage(trans.__('Cannot restore snapshot %1', name), error as Error);
    return false;
  }
}

/** A usage meter: label, "used / limit" and a bar. */
interface IMeter {
  value: HTMLElement;
  fill: HTMLElement;
}

interface IMountRow extends IKeyedRow {
  tag: HTMLElement;
}

interface IPreviewRow extends IKeyedRow {
  path: HTMLElement;
}

interface ISnapshotRow extends IKeyedRow {
  meta: HTMLElement;
  restore: HTMLButtonElement;
  remove: HTMLButtonElement;
}

interface IFileRow extends IKeyedRow {
  /** The size, for files (folders have none). */
  size: HTMLElement | null;
}

/** The rows of the limits list, in their order. */
type LimitKey = 'timeout' | 'output' | 'hostFolder' | 'executionCount';

export class SandboxPanel extends Widget {
  constructor(
    private _model: ISandboxModel,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-SandboxPanel');
    this.id = 'jupyter-sandbox-panel';
    this.title.caption = _trans.__('Sandbox');
    this._build();
    this._model.changed.connect(this._render, this);
    this._files.changed.connect(this._renderFiles, this);
    this._render();
    this._renderFiles();
  }

  /** Called with the kernel id and port when the user opens a running preview. */
  onOpenPreview: ((kernelId: string, port: number) => void) | null = null;

  dispose(): void {
    this._model.changed.disconnect(this._render, this);
    this._files.changed.disconnect(this._renderFiles, this);
    super.dispose();
  }

  protected onAfterShow(): void {
    void this._model.refresh(true);
    void this._refreshPreviews();
    void this._files.open();
  }

  private _build(): void {
    const trans = this._trans;
    const header = el('h2', 'jp-SandboxPanel-title', trans.__('Sandbox'));
    this._message = el('p', 'jp-SandboxPanel-message');
    this._details = el('div', 'jp-SandboxPanel-details');
    this._details.hidden = true;
    this._network = new NetworkSection(trans);
    this._details.append(this._buildUsage(), this._buildMounts(), this._network.node);
    this.node.append(
      header,
      this._message,
      this._details,
      this._buildPreviews(),
      this._buildFiles(),
      this._buildSnapshots()
    );
  }

  private _buildUsage(): HTMLElement {
    const trans = this._trans;
    const usage = el('section', 'jp-SandboxPanel-section jp-SandboxPanel-usage');
    const meter = (label: string, key: string): IMeter => {
      const row = el('div', `jp-SandboxPanel-meter jp-SandboxPanel-meter-${key}`);
      const value = el('span', 'jp-SandboxPanel-value');
      const bar = el('div', 'jp-SandboxPanel-bar');
      const fill = el('div', 'jp-SandboxPanel-fill');
      bar.append(fill);
      row.append(el('span', 'jp-SandboxPanel-label', label), value, bar);
      usage.append(row);
      return { value, fill };
    };
    usage.append(el('h3', '', trans.__('Usage')));
    this._meters = {
      memory: meter(trans.__('Memory'), 'memory'),
      workspace: meter(trans.__('Workspace'), 'workspace'),
      files: meter(trans.__('Files'), 'files')
    };
    const limits = el('dl', 'jp-SandboxPanel-limits');
    const terms: [LimitKey, string][] = [
      ['timeout', trans.__('Cell timeout')],
      ['output', trans.__('Output per cell')],
      ['hostFolder', trans.__('Host folder')],
      ['executionCount', trans.__('Execution count')]
    ];
    const values: Partial<Record<LimitKey, HTMLElement>> = {};
    for (const [key, term] of terms) {
      const value = el('dd');
      value.dataset.limit = key;
      limits.append(el('dt', '', term), value);
      values[key] = value;
    }
    this._limits = values as Record<LimitKey, HTMLElement>;
    usage.append(limits);
    return usage;
  }

  private _buildMounts(): HTMLElement {
    const trans = this._trans;
    const mounts = el('section', 'jp-SandboxPanel-section');
    const list = el('ul', 'jp-SandboxPanel-mounts');
    mounts.append(el('h3', '', trans.__('Mounts')), list);
    this._mounts = new KeyedList<api.IMount, IMountRow>({
      container: list,
      placeholderClass: 'jp-SandboxPanel-empty',
      key: mount => mount.path,
      create: mount => {
        const node = el('li');
        const tag = el('span', 'jp-SandboxPanel-tag');
        node.append(el('code', '', mount.path), tag);
        return { node, tag };
      },
      update: (row, mount) => {
        setText(row.tag, mount.writable ? trans.__('read-write') : trans.__('read-only'));
        setAttribute(
          row.node,
          'title',
          mount.host_folder ? trans.__('host folder: %1', mount.host_folder) : null
        );
      }
    });
    return mounts;
  }

  private _buildPreviews(): HTMLElement {
    const trans = this._trans;
    const list = el('ul', 'jp-SandboxPanel-previews');
    const header = el('h3', 'jp-SandboxPanel-sectionHeader', trans.__('Previews'));
    const refresh = el(
      'button',
      'jp-mod-styled jp-SandboxPanel-refreshPreviews',
      trans.__('Refresh')
    );
    refresh.title = trans.__('List the running previews again');
    refresh.addEventListener('click', () => void this._refreshPreviews());
    header.append(refresh);
    this._previewsSection = el(
      'section',
      'jp-SandboxPanel-section jp-SandboxPanel-previewsSection'
    );
    this._previewsSection.append(header, list);
    // Keyed by kernel too: the same port of another kernel is another app.
    this._previews = new KeyedList<api.IRunningPreview, IPreviewRow>({
      container: list,
      placeholderClass: 'jp-SandboxPanel-empty',
      key: preview => `${this._model.kernel?.id ?? ''}:${preview.port}`,
      create: preview => {
        const kernelId = this._model.kernel?.id ?? '';
        const port = preview.port;
        const node = el('li', 'jp-SandboxPanel-preview');
        node.dataset.port = String(port);
        const text = el('div', 'jp-SandboxPanel-snapshotText');
        const path = el('code', 'jp-SandboxPanel-snapshotMeta');
        text.append(el('span', 'jp-SandboxPanel-snapshotName', trans.__('port %1', port)), path);
        const open = el('button', 'jp-mod-styled jp-SandboxPanel-openPreview', trans.__('Open'));
        open.title = trans.__('Open the preview on port %1 in a tab', port);
        open.addEventListener('click', () => this.onOpenPreview?.(kernelId, port));
        const stop = el('button', 'jp-mod-styled jp-SandboxPanel-stopPreview', trans.__('Stop'));
        stop.title = trans.__('Stop the preview on port %1', port);
        stop.addEventListener('click', () => void this._stopPreview(port));
        node.append(text, open, stop);
        return { node, path };
      },
      update: (row, preview) => setText(row.path, '/' + preview.path)
    });
    return this._previewsSection;
  }

  private _buildFiles(): HTMLElement {
    const trans = this._trans;
    const actions = el('span', 'jp-SandboxPanel-fileActions');
    const up = el('button', 'jp-mod-styled jp-SandboxPanel-up', trans.__('Up'));
    up.title = trans.__('Parent folder');
    up.addEventListener('click', () => void this._files.up());
    const refresh = el('button', 'jp-mod-styled jp-SandboxPanel-refreshFiles', trans.__('Refresh'));
    refresh.addEventListener('click', () => void this._files.open());
    this._uploadInput = el('input', 'jp-SandboxPanel-uploadInput');
    this._uploadInput.type = 'file';
    this._uploadInput.multiple = true;
    this._uploadInput.hidden = true;
    this._uploadInput.addEventListener('change', () => void this._upload());
    const upload = el('button', 'jp-mod-styled jp-SandboxPanel-upload', trans.__('Upload'));
    upload.title = trans.__('Upload files into this sandbox folder');
    upload.addEventListener('click', () => this._uploadInput.click());
    actions.append(up, refresh, upload, this._uploadInput);
    this._folderLabel = el('code', 'jp-SandboxPanel-folder');
    const list = el('ul', 'jp-SandboxPanel-files');
    this._filesSection = el('section', 'jp-SandboxPanel-section jp-SandboxPanel-filesSection');
    this._filesSection.append(
      el('h3', '', trans.__('Workspace files')),
      actions,
      this._folderLabel,
      list
    );
    // Keyed by folder too: "a.txt" of another folder is another file.
    const files = this._files;
    this._fileRows = new KeyedList<api.IWorkspaceFile, IFileRow>({
      container: list,
      placeholderClass: 'jp-SandboxPanel-empty',
      key: entry => `${entry.type}:${joinPath(files.folder, entry.name)}`,
      create: entry => {
        const node = el('li', 'jp-SandboxPanel-file');
        node.dataset.name = entry.name;
        const name = entry.name;
        if (entry.type === 'directory') {
          const folder = joinPath(files.folder, name);
          const open = el(
            'button',
            'jp-SandboxPanel-fileName jp-SandboxPanel-folderLink',
            name + '/'
          );
          open.title = trans.__('Open folder %1', name);
          open.addEventListener('click', () => void files.open(folder));
          node.append(open);
          return { node, size: null };
        }
        const size = el('span', 'jp-SandboxPanel-snapshotMeta');
        const download = el(
          'button',
          'jp-mod-styled jp-SandboxPanel-download',
          trans.__('Download')
        );
        download.title = trans.__('Download %1', name);
        download.addEventListener('click', () => void this._download(name));
        node.append(el('span', 'jp-SandboxPanel-fileName', name), size, download);
        return { node, size };
      },
      update: (row, entry) => {
        if (row.size) {
          setText(row.size, formatBytes(entry.size));
        }
      }
    });
    return this._filesSection;
  }

  private _buildSnapshots(): HTMLElement {
    const trans = this._trans;
    const form = el('form', 'jp-SandboxPanel-create');
    this._nameInput = el('input', 'jp-mod-styled jp-SandboxPanel-name');
    this._nameInput.placeholder = trans.__('snapshot name');
    this._nameInput.setAttribute('aria-label', trans.__('Snapshot name'));
    this._nameInput.pattern = '[A-Za-z0-9_\\-]{1,100}';
    this._createButton = el(
      'button',
      'jp-mod-styled jp-mod-accept jp-SandboxPanel-createButton',
      trans.__('Create snapshot')
    );
    this._createButton.type = 'submit';
    form.append(this._nameInput, this._createButton);
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this._create();
    });
    const list = el('ul', 'jp-SandboxPanel-snapshots');
    this._snapshotsSection = el('section', 'jp-SandboxPanel-section');
    this._snapshotsSection.append(el('h3', '', trans.__('Snapshots')), form, list);
    this._snapshots = new KeyedList<api.ISnapshotInfo, ISnapshotRow>({
      container: list,
      placeholderClass: 'jp-SandboxPanel-empty',
      key: info => info.name,
      create: info => {
        const name = info.name;
        const node = el('li', 'jp-SandboxPanel-snapshot');
        node.dataset.name = name;
        const text = el('div', 'jp-SandboxPanel-snapshotText');
        const meta = el('span', 'jp-SandboxPanel-snapshotMeta');
        text.append(el('span', 'jp-SandboxPanel-snapshotName', name), meta);
        const restore = el('button', 'jp-mod-styled jp-SandboxPanel-restore', trans.__('Restore'));
        restore.title = trans.__('Restore snapshot %1', name);
        restore.addEventListener('click', () => void confirmAndRestore(this._model, name, trans));
        const remove = el('button', 'jp-mod-styled jp-SandboxPanel-delete', trans.__('Delete'));
        remove.title = trans.__('Delete snapshot %1', name);
        remove.addEventListener('click', () => void this._delete(name));
        node.append(text, restore, remove);
        return { node, meta, restore, remove };
      },
      update: (row, info) => {
        const busy = this._model.activity !== null;
        setText(row.meta, `${formatBytes(info.size)} · ${formatTime(info.created)}`);
        setDisabled(row.restore, busy);
        setDisabled(row.remove, busy);
      }
    });
    return this._snapshotsSection;
  }

  private _renderFiles(): void {
    const trans = this._trans;
    const files = this._files;
    setText(this._folderLabel, '/workspace' + (files.folder ? '/' + files.folder : ''));
    if (files.error) {
      this._fileRows.update([], trans.__('Cannot list the files: %1', files.error));
      return;
    }
    this._fileRows.update(
      files.entries,
      files.entries.length > 0
        ? ''
        : files.loading
          ? trans.__('Loading…')
          : trans.__('This folder is empty.')
    );
  }

  private async _download(name: string): Promise<void> {
    try {
      saveBlob(await this._files.download(name), name);
    } catch (error) {
      await showErrorMessage(this._trans.__('Cannot download %1', name), error as Error);
    }
  }

  private async _upload(): Promise<void> {
    const chosen = Array.from(this._uploadInput.files ?? []);
    this._uploadInput.value = '';
    for (const file of chosen) {
      try {
        await this._files.upload(file.name, file);
      } catch (error) {
        await showErrorMessage(this._trans.__('Cannot upload %1', file.name), error as Error);
      }
    }
  }

  private async _refreshPreviews(): Promise<void> {
    const kernel = this._model.kernel;
    if (this._previewsLoading || !kernel || !this._model.isSandboxed) {
      return;
    }
    this._previewsLoading = true;
    this._previewsFor = `${kernel.id}:${this._model.status?.execution_count ?? ''}`;
    try {
      await this._model.refreshPreviews();
      this._previewsError = null;
    } catch (error) {
      this._previewsError = (error as Error).message;
    } finally {
      this._previewsLoading = false;
      this._render();
    }
  }

  private async _stopPreview(port: number): Promise<void> {
    try {
      await this._model.stopPreview(port);
    } catch (error) {
      await showErrorMessage(
        this._trans.__('Cannot stop the preview on port %1', port),
        error as Error
      );
    }
  }

  private _renderPreviews(): void {
    const trans = this._trans;
    const model = this._model;
    setHidden(this._previewsSection, !model.isSandboxed);
    if (!model.isSandboxed || !model.kernel) {
      this._previews.update([]);
      return;
    }
    // List again when the panel shows another kernel, or once cells ran since the last list.
    const key = `${model.kernel.id}:${model.status?.execution_count ?? ''}`;
    if (this.isVisible && key !== this._previewsFor && !this._previewsLoading) {
      void this._refreshPreviews();
    }
    if (this._previewsError) {
      this._previews.update([], trans.__('Cannot list the previews: %1', this._previewsError));
      return;
    }
    this._previews.update(
      model.previews,
      model.previews.length > 0
        ? ''
        : trans.__('No running previews (start one with serve(app, port=…)).')
    );
  }

  private async _create(): Promise<void> {
    const trans = this._trans;
    const name = this._nameInput.value.trim() || defaultSnapshotName();
    if (!isValidSnapshotName(name)) {
      await showErrorMessage(
        trans.__('Invalid snapshot name'),
        trans.__('Use 1-100 letters, digits, "_" or "-": %1', name)
      );
      return;
    }
    try {
      await this._model.createSnapshot(name);
      this._nameInput.value = '';
    } catch (error) {
      await showErrorMessage(trans.__('Cannot create snapshot %1', name), error as Error);
    }
  }

  private _render(): void {
    const model = this._model;
    const busy = model.activity !== null;
    setClass(this.node, 'jp-mod-busy', busy);
    setDisabled(this._createButton, busy || !model.isSandboxed);
    setHidden(this._snapshotsSection, !model.isSandboxed);
    setHidden(this._filesSection, !model.isSandboxed);
    this._renderPreviews();
    const filesKernel = model.isSandboxed && model.kernel ? model.kernel.id : null;
    if (filesKernel !== this._files.kernelId) {
      this._files.setKernel(filesKernel);
      if (filesKernel && this.isVisible) {
        void this._files.open();
      }
    }
    setText(this._message, this._messageText());
    this._renderStatus(model.isSandboxed ? model.status : null);
    const snapshots = model.isSandboxed ? model.snapshots : [];
    this._snapshots.update(
      snapshots,
      snapshots.length > 0 ? '' : this._trans.__('No snapshots yet.')
    );
  }

  /** The line under the title: what the panel shows, or why it shows nothing. */
  private _messageText(): string {
    const trans = this._trans;
    const model = this._model;
    if (!model.kernel) {
      return trans.__('Open a notebook with a Sandboxed Python kernel to see its sandbox.');
    }
    if (!model.isSandboxed) {
      return trans.__(
        'The current notebook does not run in a sandbox (kernel: %1).',
        model.kernel.name
      );
    }
    if (model.error) {
      return trans.__('Cannot read the sandbox status: %1', model.error);
    }
    switch (model.activity) {
      case 'restore':
        return trans.__('Restoring snapshot…');
      case 'snapshot':
        return trans.__('Creating snapshot…');
      case 'delete':
        return trans.__('Deleting snapshot…');
    }
    return model.status ? '' : trans.__('Loading…');
  }

  /** Usage, limits and mounts (hidden without a status). */
  private _renderStatus(status: api.ISandboxStatus | null): void {
    const trans = this._trans;
    setHidden(this._details, status === null);
    if (!status) {
      return;
    }
    const { usage, limits } = status;
    const meter = (target: IMeter, text: string, fraction: number) => {
      setText(target.value, text);
      setStyle(target.fill, 'width', `${Math.round(fraction * 100)}%`);
      setClass(target.fill, 'jp-mod-warn', fraction > 0.85);
    };
    meter(
      this._meters.memory,
      formatUsage(usage.memory_bytes, limits.memory_bytes),
      usageFraction(usage.memory_bytes, limits.memory_bytes)
    );
    meter(
      this._meters.workspace,
      formatUsage(usage.workspace_bytes, limits.workspace_bytes),
      usageFraction(usage.workspace_bytes, limits.workspace_bytes)
    );
    meter(
      this._meters.files,
      `${usage.workspace_files} / ${limits.workspace_files || '∞'}`,
      usageFraction(usage.workspace_files, limits.workspace_files)
    );
    const limit = (key: LimitKey, text: string) => setText(this._limits[key], text);
    limit(
      'timeout',
      limits.cell_timeout ? trans.__('%1 s', limits.cell_timeout) : trans.__('none')
    );
    limit('output', formatBytes(limits.output_bytes));
    limit('hostFolder', status.host_folder_mode);
    limit('executionCount', String(status.execution_count));
    this._mounts.update(status.mounts);
    this._network.update(status.network);
  }

  private async _delete(name: string): Promise<void> {
    const trans = this._trans;
    const result = await showDialog({
      title: trans.__('Delete snapshot %1?', name),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Delete') })
      ]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await this._model.deleteSnapshot(name);
    } catch (error) {
      await showErrorMessage(trans.__('Cannot delete snapshot %1', name), error as Error);
    }
  }

  private _message!: HTMLParagraphElement;
  private _details!: HTMLDivElement;
  private _meters!: Record<'memory' | 'workspace' | 'files', IMeter>;
  private _limits!: Record<LimitKey, HTMLElement>;
  private _mounts!: KeyedList<api.IMount, IMountRow>;
  private _network!: NetworkSection;
  private _nameInput!: HTMLInputElement;
  private _createButton!: HTMLButtonElement;
  private _snapshotsSection!: HTMLElement;
  private _snapshots!: KeyedList<api.ISnapshotInfo, ISnapshotRow>;
  private _previewsSection!: HTMLElement;
  private _previews!: KeyedList<api.IRunningPreview, IPreviewRow>;
  private _previewsLoading = false;
  private _previewsFor = '';
  private _previewsError: string | null = null;
  private _files = new WorkspaceFiles();
  private _filesSection!: HTMLElement;
  private _folderLabel!: HTMLElement;
  private _fileRows!: KeyedList<api.IWorkspaceFile, IFileRow>;
  private _uploadInput!: HTMLInputElement;
}
