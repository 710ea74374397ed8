/**
 * The preview output (a MIME renderer) and the preview tab in the main area.
 */
import { IFrame, MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Kernel } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { launchIcon, refreshIcon, Toolbar } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import {
  checkPreviewUrl,
  IPreviewData,
  IPreviewSettings,
  parsePreviewData,
  previewSandbox,
  previewUrl
} from './preview';

/** What the preview widgets need from the application. */
export interface IPreviewContext {
  trans: TranslationBundle;
  baseUrl: string;
  kernels: Kernel.IManager;
  /** The server's preview settings (shared-origin mode when it cannot tell). */
  settings: Promise<IPreviewSettings>;
  /** Open ``url`` (an address ``checkPreviewUrl`` accepted) in a main-area preview tab. */
  openInLab(url: string, label: string, kernelId: string | null): void;
}

/** ``candidate`` if a preview may be opened there (see ``checkPreviewUrl``), else null. */
export function acceptedPreviewUrl(
  candidate: unknown,
  baseUrl: string,
  settings: IPreviewSettings
): string | null {
  return checkPreviewUrl(candidate, {
    pageUrl: window.location.href,
    baseUrl,
    previewHost: settings.preview_host
  });
}

/** Whether the kernel ``id`` is among the server's running kernels. */
export function isKernelRunning(kernels: Kernel.IManager, id: string): boolean {
  for (const model of kernels.running()) {
    if (model.id === id) {
      return true;
    }
  }
  return false;
}

/** Watch the running kernels; call ``onGone`` once the kernel ``id`` is gone. */
function watchKernel(
  context: IPreviewContext,
  id: string | null,
  onChange: (running: boolean) => void
): () => void {
  if (!id) {
    return () => undefined;
  }
  const kernels = context.kernels;
  const check = () => onChange(isKernelRunning(kernels, id));
  void kernels.ready.then(check);
  kernels.runningChanged.connect(check);
  return () => kernels.runningChanged.disconnect(check);
}

export class PreviewRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private _context: IPreviewContext) {
    super();
    this.addClass('jp-SandboxPreview');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const trans = this._context.trans;
    const data = parsePreviewData(model.data[this.mimeType]);
    const render = ++this._renders;
    this._unwatch();
    this._unwatch = () => undefined;
    this.node.replaceChildren();
    this.node.classList.remove('jp-mod-refused', 'jp-mod-stopped');
    if (!data) {
      this.node.textContent = trans.__('Invalid sandbox preview data.');
      return;
    }
    const candidate = previewUrl(data, this._context.baseUrl);
    const settings = await this._context.settings;
    if (this.isDisposed || render !== this._renders) {
      return; // disposed, or a newer model is being rendered
    }
    const label = trans.__('Preview :%1', data.port);
    const what = document.createElement('span');
    what.className = 'jp-SandboxPreview-label';
    what.textContent = trans.__('Sandbox preview of a %1 on port %2', data.kind, data.port);
    this.node.append(what);
    if (!candidate) {
      const note = document.createElement('span');
      note.className = 'jp-SandboxPreview-state';
      note.textContent = trans.__('needs the Jupyter server with the jupyter_sandbox extension');
      this.node.append(note);
      return;
    }
    const url = acceptedPreviewUrl(candidate, this._context.baseUrl, settings);
    if (!url) {
      // Data, not code: an address elsewhere is shown as text, never linked or opened.
      this.node.classList.add('jp-mod-refused');
      const shown = document.createElement('code');
      shown.className = 'jp-SandboxPreview-refusedUrl';
      shown.textContent = candidate.length > 200 ? candidate.slice(0, 200) + '…' : candidate;
      const note = document.createElement('span');
      note.className = 'jp-SandboxPreview-state';
      note.textContent = trans.__(
        'not opened: this address is not a preview of this Jupyter server'
      );
      this.node.append(shown, note);
      return;
    }
    const link = document.createElement('a');
    link.className = 'jp-SandboxPreview-link';
    link.href = url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    link.textContent = url;
    const open = document.createElement('button');
    open.className = 'jp-mod-styled jp-SandboxPreview-open';
    open.textContent = trans.__('Open in JupyterLab');
    open.title = trans.__('Open the preview in a JupyterLab tab');
    open.addEventListener('click', () => this._context.openInLab(url, label, data.kernel_id));
    const state = document.createElement('span');
    state.className = 'jp-SandboxPreview-state';
    this.node.append(link, open, state);
    this._unwatch = watchKernel(this._context, data.kernel_id, running => {
      this.node.classList.toggle('jp-mod-stopped', !running);
      open.disabled = !running;
      state.textContent = running
        ? ''
        : trans.__("stopped: this preview's kernel is gone; run the cell again in a new kernel");
    });
    this._data = data;
  }

  get data(): IPreviewData | null {
    return this._data;
  }

  dispose(): void {
    this._unwatch();
    super.dispose();
  }

  mimeType = '';
  private _renders = 0;
  private _data: IPreviewData | null = null;
  private _unwatch: () => void = () => undefined;
}

/**
 * A main-area tab showing a preview in an iframe, with its address, reload and "open in a new
 * browser tab". ``url`` must be an address ``checkPreviewUrl`` accepted. The iframe is
 * sandboxed: on the shared origin without ``allow-same-origin`` (the app runs with an opaque
 * origin, so it can neither use Jupyter's session nor reach this page); with a preview host of
 * its own (``settings.preview_host``) with it, since that origin is not Jupyter's.
 */
export class PreviewPanel extends MainAreaWidget<IFrame> {
  constructor(
    readonly url: string,
    label: string,
    kernelId: string | null,
    context: IPreviewContext,
    settings: IPreviewSettings
  ) {
    if (acceptedPreviewUrl(url, context.baseUrl, settings) !== url) {
      throw new Error(`not a preview address of this server: ${url}`);
    }
    const content = new IFrame({
      sandbox: previewSandbox(settings.preview_host),
      referrerPolicy: 'no-referrer'
    });
    // A plain toolbar: the default responsive one moves the address into its overflow menu.
    super({ content, toolbar: new Toolbar() });
    const trans = context.trans;
    this.addClass('jp-SandboxPreviewPanel');
    this.title.label = label;
    this.title.caption = url;
    this.title.closable = true;
    content.url = url;

    this.toolbar.addItem(
      'reload',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Reload the preview'),
        className: 'jp-SandboxPreviewPanel-reload',
        onClick: () => this.reload()
      })
    );
    const address = document.createElement('input');
    address.className = 'jp-mod-styled jp-SandboxPreviewPanel-address';
    address.readOnly = true;
    address.value = new URL(url, window.location.href).href;
    address.setAttribute('aria-label', trans.__('Preview address'));
    const addressWidget = new Widget({ node: address });
    addressWidget.addClass('jp-SandboxPreviewPanel-addressItem');
    this.toolbar.addItem('address', addressWidget);
    this.toolbar.addItem(
      'open',
      new ToolbarButton({
        icon: launchIcon,
        tooltip: trans.__('Open in a new browser tab'),
        onClick: () => window.open(url, '_blank', 'noopener,noreferrer')
      })
    );
    this._stopped = document.createElement('div');
    this._stopped.className = 'jp-SandboxPreviewPanel-stopped';
    this._stopped.textContent = trans.__("This preview's kernel is gone: the app no longer runs.");
    this._stopped.hidden = true;
    this.content.node.append(this._stopped);
    this._unwatch = watchKernel(context, kernelId, running => {
      this._stopped.hidden = running;
      this.toggleClass('jp-mod-stopped', !running);
    });
  }

  /**
   * Load the preview again: setting ``src``, even to the value it has, navigates the frame
   * (its own location cannot be reloaded from here: it is another origin). One navigation,
   * not a detour through about:blank, which would give the frame a second process swap.
   */
  reload(): void {
    const iframe = this.content.node.querySelector('iframe');
    if (iframe) {
      iframe.src = this.url;
    }
  }

  dispose(): void {
    this._unwatch();
    super.dispose();
  }

  private _stopped: HTMLDivElement;
  private _unwatch: () => void;
}
