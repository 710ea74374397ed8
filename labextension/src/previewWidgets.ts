/**
 * The preview output (a MIME renderer) and the preview tab in the main area.
 */
import { IFrame, MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Kernel } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { launchIcon, refreshIcon, Toolbar } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { IPreviewData, parsePreviewData, previewUrl } from './preview';

/** What the preview widgets need from the application. */
export interface IPreviewContext {
  trans: TranslationBundle;
  baseUrl: string;
  kernels: Kernel.IManager;
  /** Open ``url`` in a main-area preview tab. */
  openInLab(url: string, label: string, kernelId: string | null): void;
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
function watchKernel(context: IPreviewContext, id: string | null, onChange: (running: boolean) => void): () => void {
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
    this._unwatch();
    this.node.replaceChildren();
    if (!data) {
      this.node.textContent = trans.__('Invalid sandbox preview data.');
      return;
    }
    const url = previewUrl(data, this._context.baseUrl);
    const label = trans.__('Preview :%1', data.port);
    const what = document.createElement('span');
    what.className = 'jp-SandboxPreview-label';
    what.textContent = trans.__('Sandbox preview of a %1 on port %2', data.kind, data.port);
    this.node.append(what);
    if (!url) {
      const note = document.createElement('span');
      note.className = 'jp-SandboxPreview-state';
      note.textContent = trans.__('needs the Jupyter server with the jupyter_sandbox extension');
      this.node.append(note);
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
      state.textContent = running ? '' : trans.__("stopped: this preview's kernel is gone; run the cell again in a new kernel");
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
  private _data: IPreviewData | null = null;
  private _unwatch: () => void = () => undefined;
}

/**
 * A main-area tab showing a preview in an iframe, with its address, reload and "open in a new
 * browser tab". The iframe has the origin of the page, as the link opened in a new tab has:
 * previews are behind Jupyter's login and their assets need its cookie.
 */
export class PreviewPanel extends MainAreaWidget<IFrame> {
  constructor(
    readonly url: string,
    label: string,
    kernelId: string | null,
    context: IPreviewContext
  ) {
    const content = new IFrame({
      sandbox: ['allow-same-origin', 'allow-scripts', 'allow-forms', 'allow-popups', 'allow-modals', 'allow-downloads'],
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
        onClick: () => window.open(url, '_blank', 'noopener')
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

  /** Load the preview again. */
  reload(): void {
    const iframe = this.content.node.querySelector('iframe');
    if (iframe) {
      iframe.src = 'about:blank';
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
