/**
 * The sandbox side panel: limits and usage, mounts, snapshots of the current notebook's
 * Sandboxed Python kernel.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  defaultSnapshotName,
  formatBytes,
  formatTime,
  formatUsage,
  isValidSnapshotName,
  usageFraction
} from './format';
import { saveBlob, WorkspaceFiles } from './files';
import { SandboxModel } from './model';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

/** Ask for confirmation, then restore ``name`` into the current kernel. */
export async function confirmAndRestore(
  model: SandboxModel,
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

export class SandboxPanel extends Widget {
  constructor(
    private _model: SandboxModel,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-SandboxPanel');
    this.id = 'jupyter-sandbox-panel';
    this.title.caption = _trans.__('Sandbox');
    this._model.changed.connect(this._render, this);
    this._files.changed.connect(this._renderFiles, this);
    this._build();
    this._render();
    this._renderFiles();
  }

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

    this._snapshotList = el('ul', 'jp-SandboxPanel-snapshots');
    const snapshotsHeader = el('h3', '', trans.__('Snapshots'));
    this._snapshotsSection = el('section', 'jp-SandboxPanel-section');
    this._snapshotsSection.append(snapshotsHeader, form, this._snapshotList);

    this._previewList = el('ul', 'jp-SandboxPanel-previews');
    const previewsHeader = el('h3', 'jp-SandboxPanel-sectionHeader', trans.__('Previews'));
    const refreshPreviews = el(
      'button',
      'jp-mod-styled jp-SandboxPanel-refreshPreviews',
      trans.__('Refresh')
    );
    refreshPreviews.title = trans.__('List the running previews again');
    refreshPreviews.addEventListener('click', () => void this._refreshPreviews());
    previewsHeader.append(refreshPreviews);
    this._previewsSection = el(
      'section',
      'jp-SandboxPanel-section jp-SandboxPanel-previewsSection'
    );
    this._previewsSection.append(previewsHeader, this._previewList);

    const filesHeader = el('h3', '', trans.__('Workspace files'));
    const actions = el('span', 'jp-SandboxPanel-fileActions');
    const up = el('button', 'jp-mod-styled jp-SandboxPanel-up', trans.__('Up'));
    up.title = trans.__('Parent folder');
    up.addEventListener('click', () => void this._files.up());
    const refreshFiles = el(
      'button',
      'jp-mod-styled jp-SandboxPanel-refreshFiles',
      trans.__('Refresh')
    );
    refreshFiles.addEventListener('click', () => void this._files.open());
    this._uploadInput = el('input', 'jp-SandboxPanel-uploadInput');
    this._uploadInput.type = 'file';
    this._uploadInput.multiple = true;
    this._uploadInput.hidden = true;
    this._uploadInput.addEventListener('change', () => void this._upload());
    const upload = el('button', 'jp-mod-styled jp-SandboxPanel-upload', trans.__('Upload'));
    upload.title = trans.__('Upload files into this sandbox folder');
    upload.addEventListener('click', () => this._uploadInput.click());
    actions.append(up, refreshFiles, upload, this._uploadInput);
    this._folderLabel = el('code', 'jp-SandboxPanel-folder');
    this._fileList = el('ul', 'jp-SandboxPanel-files');
    this._filesSection = el('section', 'jp-SandboxPanel-section jp-SandboxPanel-filesSection');
    this._filesSection.append(filesHeader, actions, this._folderLabel, this._fileList);

    this.node.append(
      header,
      this._message,
      this._details,
      this._previewsSection,
      this._filesSection,
      this._snapshotsSection
    );
  }

  private _renderFiles(): void {
    const trans = this._trans;
    const files = this._files;
    this._folderLabel.textContent = '/workspace' + (files.folder ? '/' + files.folder : '');
    this._fileList.replaceChildren();
    if (files.error) {
      this._fileList.append(
        el('li', 'jp-SandboxPanel-empty', trans.__('Cannot list the files: %1', files.error))
      );
      return;
    }
    if (files.entries.length === 0) {
      this._fileList.append(
        el(
          'li',
          'jp-SandboxPanel-empty',
          files.loading ? trans.__('Loading…') : trans.__('This folder is empty.')
        )
      );
    }
    for (const entry of files.entries) {
      const item = el('li', 'jp-SandboxPanel-file');
      item.dataset.name = entry.name;
      if (entry.type === 'directory') {
        const open = el(
          'button',
          'jp-SandboxPanel-fileName jp-SandboxPanel-folderLink',
          entry.name + '/'
        );
        open.title = trans.__('Open folder %1', entry.name);
        open.addEventListener(
          'click',
          () => void files.open(files.folder ? `${files.folder}/${entry.name}` : entry.name)
        );
        item.append(open);
      } else {
        item.append(
          el('span', 'jp-SandboxPanel-fileName', entry.name),
          el('span', 'jp-SandboxPanel-snapshotMeta', formatBytes(entry.size))
        );
        const download = el(
          'button',
          'jp-mod-styled jp-SandboxPanel-download',
          trans.__('Download')
        );
        download.title = trans.__('Download %1', entry.name);
        download.addEventListener('click', () => void this._download(entry.name));
        item.append(download);
      }
      this._fileList.append(item);
    }
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

  /** Called with the kernel id and port when the user opens a running preview. */
  onOpenPreview: ((kernelId: string, port: number) => void) | null = null;

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
    this._previewsSection.hidden = !model.isSandboxed;
    if (!model.isSandboxed || !model.kernel) {
      return;
    }
    // List again when the panel shows another kernel, or once cells ran since the last list.
    const key = `${model.kernel.id}:${model.status?.execution_count ?? ''}`;
    if (this.isVisible && key !== this._previewsFor && !this._previewsLoading) {
      void this._refreshPreviews();
    }
    this._previewList.replaceChildren();
    if (this._previewsError) {
      this._previewList.append(
        el(
          'li',
          'jp-SandboxPanel-empty',
          trans.__('Cannot list the previews: %1', this._previewsError)
        )
      );
      return;
    }
    if (model.previews.length === 0) {
      this._previewList.append(
        el(
          'li',
          'jp-SandboxPanel-empty',
          trans.__('No running previews (start one with serve(app, port=…)).')
        )
      );
    }
    const kernelId = model.kernel.id;
    for (const preview of model.previews) {
      const item = el('li', 'jp-SandboxPanel-preview');
      item.dataset.port = String(preview.port);
      const text = el('div', 'jp-SandboxPanel-snapshotText');
      text.append(
        el('span', 'jp-SandboxPanel-snapshotName', trans.__('port %1', preview.port)),
        el('code', 'jp-SandboxPanel-snapshotMeta', '/' + preview.path)
      );
      const open = el('button', 'jp-mod-styled jp-SandboxPanel-openPreview', trans.__('Open'));
      open.title = trans.__('Open the preview on port %1 in a tab', preview.port);
      open.addEventListener('click', () => this.onOpenPreview?.(kernelId, preview.port));
      const stop = el('button', 'jp-mod-styled jp-SandboxPanel-stopPreview', trans.__('Stop'));
      stop.title = trans.__('Stop the preview on port %1', preview.port);
      stop.addEventListener('click', () => void this._stopPreview(preview.port));
      item.append(text, open, stop);
      this._previewList.append(item);
    }
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
    const trans = this._trans;
    const model = this._model;
    const busy = model.activity !== null;
    this.node.classList.toggle('jp-mod-busy', busy);
    this._createButton.disabled = busy || !model.isSandboxed;
    this._snapshotsSection.hidden = !model.isSandboxed;
    this._details.replaceChildren();
    this._renderPreviews();
    this._filesSection.hidden = !model.isSandboxed;
    const filesKernel = model.isSandboxed && model.kernel ? model.kernel.id : null;
    if (filesKernel !== this._files.kernelId) {
      this._files.setKernel(filesKernel);
      if (filesKernel && this.isVisible) {
        void this._files.open();
      }
    }
    if (!model.kernel) {
      this._message.textContent = trans.__(
        'Open a notebook with a Sandboxed Python kernel to see its sandbox.'
      );
      return;
    }
    if (!model.isSandboxed) {
      this._message.textContent = trans.__(
        'The current notebook does not run in a sandbox (kernel: %1).',
        model.kernel.name
      );
      return;
    }
    if (model.error) {
      this._message.textContent = trans.__('Cannot read the sandbox status: %1', model.error);
    } else if (busy) {
      this._message.textContent =
        model.activity === 'restore'
          ? trans.__('Restoring snapshot…')
          : model.activity === 'snapshot'
            ? trans.__('Creating snapshot…')
            : trans.__('Deleting snapshot…');
    } else {
      this._message.textContent = model.status ? '' : trans.__('Loading…');
    }
    const status = model.status;
    if (status) {
      const usage = el('section', 'jp-SandboxPanel-section jp-SandboxPanel-usage');
      usage.append(el('h3', '', trans.__('Usage')));
      usage.append(
        this._meter(
          trans.__('Memory'),
          formatUsage(status.usage.memory_bytes, status.limits.memory_bytes),
          usageFraction(status.usage.memory_bytes, status.limits.memory_bytes),
          'memory'
        ),
        this._meter(
          trans.__('Workspace'),
          formatUsage(status.usage.workspace_bytes, status.limits.workspace_bytes),
          usageFraction(status.usage.workspace_bytes, status.limits.workspace_bytes),
          'workspace'
        ),
        this._meter(
          trans.__('Files'),
          `${status.usage.workspace_files} / ${status.limits.workspace_files || '∞'}`,
          usageFraction(status.usage.workspace_files, status.limits.workspace_files),
          'files'
        )
      );
      const limits = el('dl', 'jp-SandboxPanel-limits');
      const add = (term: string, value: string) =>
        limits.append(el('dt', '', term), el('dd', '', value));
      add(
        trans.__('Cell timeout'),
        status.limits.cell_timeout ? trans.__('%1 s', status.limits.cell_timeout) : trans.__('none')
      );
      add(trans.__('Output per cell'), formatBytes(status.limits.output_bytes));
      add(trans.__('Host folder'), status.host_folder_mode);
      add(trans.__('Execution count'), String(status.execution_count));
      usage.append(limits);

      const mounts = el('section', 'jp-SandboxPanel-section');
      mounts.append(el('h3', '', trans.__('Mounts')));
      const list = el('ul', 'jp-SandboxPanel-mounts');
      for (const mount of status.mounts) {
        const item = el('li');
        item.append(
          el('code', '', mount.path),
          el(
            'span',
            'jp-SandboxPanel-tag',
            mount.writable ? trans.__('read-write') : trans.__('read-only')
          )
        );
        if (mount.host_folder) {
          item.title = trans.__('host folder: %1', mount.host_folder);
        }
        list.append(item);
      }
      mounts.append(list);
      this._details.append(usage, mounts);
    }

    this._snapshotList.replaceChildren();
    if (model.snapshots.length === 0) {
      this._snapshotList.append(el('li', 'jp-SandboxPanel-empty', trans.__('No snapshots yet.')));
    }
    for (const info of model.snapshots) {
      const item = el('li', 'jp-SandboxPanel-snapshot');
      item.dataset.name = info.name;
      const text = el('div', 'jp-SandboxPanel-snapshotText');
      text.append(
        el('span', 'jp-SandboxPanel-snapshotName', info.name),
        el(
          'span',
          'jp-SandboxPanel-snapshotMeta',
          `${formatBytes(info.size)} · ${formatTime(info.created)}`
        )
      );
      const restore = el('button', 'jp-mod-styled jp-SandboxPanel-restore', trans.__('Restore'));
      restore.disabled = busy;
      restore.title = trans.__('Restore snapshot %1', info.name);
      restore.addEventListener('click', () => void confirmAndRestore(model, info.name, trans));
      const remove = el('button', 'jp-mod-styled jp-SandboxPanel-delete', trans.__('Delete'));
      remove.disabled = busy;
      remove.title = trans.__('Delete snapshot %1', info.name);
      remove.addEventListener('click', () => void this._delete(info.name));
      item.append(text, restore, remove);
      this._snapshotList.append(item);
    }
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

  private _meter(label: string, text: string, fraction: number, key: string): HTMLElement {
    const row = el('div', `jp-SandboxPanel-meter jp-SandboxPanel-meter-${key}`);
    const bar = el('div', 'jp-SandboxPanel-bar');
    const fill = el('div', 'jp-SandboxPanel-fill');
    fill.style.width = `${Math.round(fraction * 100)}%`;
    fill.classList.toggle('jp-mod-warn', fraction > 0.85);
    bar.append(fill);
    row.append(
      el('span', 'jp-SandboxPanel-label', label),
      el('span', 'jp-SandboxPanel-value', text),
      bar
    );
    return row;
  }

  private _message!: HTMLParagraphElement;
  private _details!: HTMLDivElement;
  private _nameInput!: HTMLInputElement;
  private _createButton!: HTMLButtonElement;
  private _snapshotList!: HTMLUListElement;
  private _snapshotsSection!: HTMLElement;
  private _previewList!: HTMLUListElement;
  private _previewsSection!: HTMLElement;
  private _previewsLoading = false;
  private _previewsFor = '';
  private _previewsError: string | null = null;
  private _files = new WorkspaceFiles();
  private _filesSection!: HTMLElement;
  private _folderLabel!: HTMLElement;
  private _fileList!: HTMLUListElement;
  private _uploadInput!: HTMLInputElement;
}
