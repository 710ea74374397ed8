import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  Notification,
  showErrorMessage,
  WidgetTracker
} from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { Token } from '@lumino/coreutils';

import { defaultSnapshotName, isValidSnapshotName } from './format';
import { SandboxModel } from './model';
import { confirmAndRestore, SandboxPanel } from './panel';
import { requestAPI } from './api';
import { IPreviewSettings, parsePreviewSettings, PREVIEW_MIME_TYPE, previewPath } from './preview';
import {
  acceptedPreviewUrl,
  IPreviewContext,
  PreviewPanel,
  PreviewRenderer
} from './previewWidgets';
import { revertNotice } from './revertNotice';
import { SandboxStatusItem } from './statusbar';

export * from './api';
export * from './format';
export * from './model';
export * from './preview';
export * from './revertNotice';

const PLUGIN_ID = 'jupyter-sandbox:plugin';

export namespace CommandIDs {
  export const createSnapshot = 'jupyter-sandbox:create-snapshot';
  export const restoreSnapshot = 'jupyter-sandbox:restore-snapshot';
  export const openPreview = 'jupyter-sandbox:open-preview';
  export const showPanel = 'jupyter-sandbox:show-panel';
}

/** The sandbox of the current notebook's kernel, shared by the panel, status bar and commands. */
export const ISandboxModel = new Token<SandboxModel>(
  'jupyter-sandbox:ISandboxModel',
  'The sandbox of the current notebook.'
);

const sandboxIcon = new LabIcon({
  name: 'jupyter-sandbox:sandbox',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M12 2 3 6.5v11L12 22l9-4.5v-11L12 2zm0 2.2 6.6 3.3L12 10.8 5.4 7.5 12 4.2zM5 9.1l6 3v7.6l-6-3V9.1zm8 10.6v-7.6l6-3v7.6l-6 3z"/>' +
    '</g></svg>'
});

/**
 * The notebook's kernel once it answers (idle or busy): a starting kernel has no control
 * socket yet, and asking for its status would only produce a 404.
 */
function kernelOf(panel: NotebookPanel | null): { id: string; name: string } | null {
  const kernel = panel?.sessionContext.session?.kernel;
  if (!kernel || (kernel.status !== 'idle' && kernel.status !== 'busy')) {
    return null;
  }
  return { id: kernel.id, name: kernel.name };
}

/** The model, the side panel and the commands. */
const plugin: JupyterFrontEndPlugin<SandboxModel> = {
  id: PLUGIN_ID,
  description: 'Sandbox status, snapshots and previews for Sandboxed Python kernels.',
  autoStart: true,
  provides: ISandboxModel,
  requires: [INotebookTracker],
  optional: [ITranslator, ISettingRegistry, ICommandPalette, ILabShell, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null
  ): SandboxModel => {
    const trans = (translator ?? nullTranslator).load('jupyter_sandbox');
    const model = new SandboxModel();

    // Follow the current notebook's kernel.
    let watched: NotebookPanel | null = null;
    const follow = () => model.setKernel(kernelOf(watched));
    const onCurrent = () => {
      if (watched) {
        watched.sessionContext.kernelChanged.disconnect(follow);
        watched.sessionContext.statusChanged.disconnect(follow);
      }
      watched = tracker.currentWidget;
      if (watched) {
        watched.sessionContext.kernelChanged.connect(follow);
        watched.sessionContext.statusChanged.connect(follow);
      }
      follow();
    };
    tracker.currentChanged.connect(onCurrent);
    onCurrent();

    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            model.pollSeconds = settings.get('statusIntervalSeconds').composite as number;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.warn('jupyter-sandbox: cannot load settings', reason));
    }

    const panel = new SandboxPanel(model, trans);
    panel.title.icon = sandboxIcon;
    if (labShell) {
      labShell.add(panel, 'right', { rank: 600 });
      if (restorer) {
        restorer.add(panel, panel.id);
      }
    }

    const isEnabled = () => model.isSandboxed;
    app.commands.addCommand(CommandIDs.showPanel, {
      label: trans.__('Sandbox: Show Panel'),
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.createSnapshot, {
      label: trans.__('Sandbox: Create Snapshot'),
      caption: trans.__("Save the current notebook's sandbox as a named snapshot"),
      isEnabled,
      execute: async args => {
        let name = typeof args.name === 'string' ? args.name : null;
        if (name === null) {
          const result = await InputDialog.getText({
            title: trans.__('Create Snapshot'),
            label: trans.__('Name (letters, digits, "_" or "-")'),
            text: defaultSnapshotName(),
            okLabel: trans.__('Create')
          });
          if (!result.button.accept || !result.value) {
            return;
          }
          name = result.value.trim();
        }
        if (!isValidSnapshotName(name)) {
          await showErrorMessage(
            trans.__('Invalid snapshot name'),
            trans.__('Use 1-100 letters, digits, "_" or "-": %1', name)
          );
          return;
        }
        try {
          await model.createSnapshot(name);
        } catch (error) {
          await showErrorMessage(trans.__('Cannot create snapshot %1', name), error as Error);
        }
      }
    });
    app.commands.addCommand(CommandIDs.restoreSnapshot, {
      label: trans.__('Sandbox: Restore Snapshot…'),
      caption: trans.__("Bring the current notebook's sandbox back to a snapshot"),
      isEnabled,
      execute: async () => {
        await model.refresh(true);
        const names = model.snapshots.map(info => info.name);
        if (names.length === 0) {
          await showErrorMessage(
            trans.__('No snapshots'),
            trans.__('This kernel has no snapshots yet: use "Sandbox: Create Snapshot" first.')
          );
          return;
        }
        const result = await InputDialog.getItem({
          title: trans.__('Restore Snapshot'),
          label: trans.__('Snapshot'),
          items: names,
          okLabel: trans.__('Next')
        });
        if (result.button.accept && result.value) {
          await confirmAndRestore(model, result.value, trans);
        }
      }
    });

    // Shared-origin mode unless the server says it has a preview host: the safe default (the
    // only cost of a wrong guess is an iframe without storage of its own).
    const previewSettings: Promise<IPreviewSettings> = requestAPI<unknown>('preview-settings')
      .then(parsePreviewSettings)
      .catch(reason => {
        console.warn(
          'jupyter-sandbox: cannot read the preview settings, assuming shared-origin mode',
          reason
        );
        return { preview_host: null };
      });
    const tracker_ = new WidgetTracker<PreviewPanel>({ namespace: 'jupyter-sandbox-preview' });
    const openInLab = async (candidate: string, label: string, kernelId: string | null) => {
      const settings = await previewSettings;
      const url = acceptedPreviewUrl(candidate, PageConfig.getBaseUrl(), settings);
      if (!url) {
        await showErrorMessage(
          trans.__('Not a preview address'),
          trans.__('Previews open only from this server: %1', candidate.slice(0, 200))
        );
        return;
      }
      const existing = tracker_.find(widget => widget.url === url);
      if (existing) {
        existing.reload();
        app.shell.activateById(existing.id);
        return;
      }
      const widget = new PreviewPanel(url, label, kernelId, previewContext, settings);
      widget.id = `jupyter-sandbox-preview-${Private.nextId++}`;
      void tracker_.add(widget);
      app.shell.add(widget, 'main', { mode: 'split-right' });
      app.shell.activateById(widget.id);
    };
    const previewContext: IPreviewContext = {
      trans,
      baseUrl: PageConfig.getBaseUrl(),
      kernels: app.serviceManager.kernels,
      settings: previewSettings,
      openInLab: (url, label, kernelId) => void openInLab(url, label, kernelId)
    };
    Private.previewContext = previewContext;
    panel.onOpenPreview = (kernelId, port) =>
      void openInLab(
        URLExt_join(PageConfig.getBaseUrl(), previewPath(kernelId, port)),
        trans.__('Preview :%1', port),
        kernelId
      );

    app.commands.addCommand(CommandIDs.openPreview, {
      label: trans.__('Sandbox: Open Preview…'),
      caption: trans.__('Open an app served from the sandbox (serve(app, port=…)) in a tab'),
      isEnabled: args => typeof args.url === 'string' || model.isSandboxed,
      execute: async args => {
        if (typeof args.url === 'string') {
          await openInLab(
            args.url,
            typeof args.label === 'string' ? args.label : args.url,
            typeof args.kernelId === 'string' ? args.kernelId : null
          );
          return;
        }
        const kernel = model.kernel;
        if (!kernel || !model.isSandboxed) {
          return;
        }
        let port = typeof args.port === 'number' ? args.port : null;
        if (port === null) {
          const result = await InputDialog.getNumber({
            title: trans.__('Open Preview'),
            label: trans.__('Port given to serve()'),
            value: 8000
          });
          if (!result.button.accept || result.value === null) {
            return;
          }
          port = result.value;
        }
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          await showErrorMessage(
            trans.__('Invalid port'),
            trans.__('A port is a whole number from 1 to 65535.')
          );
          return;
        }
        await openInLab(
          URLExt_join(PageConfig.getBaseUrl(), previewPath(kernel.id, port)),
          trans.__('Preview :%1', port),
          kernel.id
        );
      }
    });

    if (palette) {
      const category = trans.__('Sandbox');
      for (const command of [
        CommandIDs.createSnapshot,
        CommandIDs.restoreSnapshot,
        CommandIDs.openPreview,
        CommandIDs.showPanel
      ]) {
        palette.addItem({ command, category });
      }
    }
    // "Revert Notebook to Checkpoint" also restores the sandbox: say so while its dialog shows.
    app.commands.commandExecuted.connect((_, executed) => {
      const current = tracker.currentWidget;
      const sandboxed =
        current !== null && app.shell.currentWidget === current && model.isSandboxed;
      const notice = revertNotice(executed.id, sandboxed, trans);
      if (notice) {
        Notification.warning(notice, { autoClose: 15000 });
      }
    });
    // Refresh enabled states when the kernel or its status changes.
    model.changed.connect(() => app.commands.notifyCommandChanged());
    return model;
  }
};

function URLExt_join(base: string, path: string): string {
  return (base.endsWith('/') ? base : base + '/') + path;
}

/**
 * The renderer of `serve()` outputs. Registered ``safe``: it renders untrusted notebooks too,
 * which it may because it treats the bundle as data: only addresses ``checkPreviewUrl`` accepts
 * become a link or a preview tab, everything else is shown as text.
 */
const previewPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-sandbox:preview',
  description: 'Renders sandbox preview outputs: link, open in a tab, stopped state.',
  autoStart: true,
  requires: [IRenderMimeRegistry, ISandboxModel],
  activate: (app: JupyterFrontEnd, rendermime: IRenderMimeRegistry): void => {
    rendermime.addFactory(
      {
        safe: true,
        mimeTypes: [PREVIEW_MIME_TYPE],
        defaultRank: 10,
        createRenderer: options => {
          const renderer = new PreviewRenderer(Private.previewContext!);
          renderer.mimeType = options.mimeType;
          return renderer;
        }
      },
      10
    );
  }
};

/** The memory item in the status bar. */
const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-sandbox:status',
  description: "Shows the current notebook's sandbox memory in the status bar.",
  autoStart: true,
  requires: [IStatusBar, ISandboxModel],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar,
    model: SandboxModel,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_sandbox');
    const item = new SandboxStatusItem(model, trans);
    item.node.addEventListener('click', () => void app.commands.execute(CommandIDs.showPanel));
    statusBar.registerStatusItem('jupyter-sandbox:status', {
      item,
      align: 'left',
      rank: 5,
      isActive: () => model.isSandboxed,
      activeStateChanged: model.changed
    });
  }
};

namespace Private {
  // Both are assigned from outside the namespace (Private.nextId++), which prefer-const misses.
  // eslint-disable-next-line prefer-const
  export let nextId = 0;
  // eslint-disable-next-line prefer-const
  export let previewContext: IPreviewContext | null = null;
}

export default [plugin, previewPlugin, statusPlugin];
