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
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

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
import { ISandboxModel, ISandboxPreviews } from './tokens';

export * from './api';
export * from './format';
export * from './model';
export * from './preview';
export * from './revertNotice';
export * from './tokens';

const PLUGIN_ID = 'jupyter-sandbox:plugin';

export namespace CommandIDs {
  export const createSnapshot = 'jupyter-sandbox:create-snapshot';
  export const restoreSnapshot = 'jupyter-sandbox:restore-snapshot';
  export const openPreview = 'jupyter-sandbox:open-preview';
  export const showPanel = 'jupyter-sandbox:show-panel';
}

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

/**
 * Preview tabs in the main area: the server's preview settings, the tracker of the tabs, and
 * ``open``, which checks an address before it opens anything. The preview output renderer and
 * the main plugin's panel and command get it through ``ISandboxPreviews``.
 */
const previewTabsPlugin: JupyterFrontEndPlugin<ISandboxPreviews> = {
  id: 'jupyter-sandbox:preview-tabs',
  description: 'Opens sandbox previews in JupyterLab tabs, after checking their address.',
  autoStart: true,
  provides: ISandboxPreviews,
  optional: [ITranslator],
  activate: (app: JupyterFrontEnd, translator: ITranslator | null): ISandboxPreviews => {
    const trans = (translator ?? nullTranslator).load('jupyter_sandbox');
    const baseUrl = PageConfig.getBaseUrl();
    // Shared-origin mode unless the server says it has a preview host: the safe default (the
    // only cost of a wrong guess is an iframe without storage of its own).
    const settings: Promise<IPreviewSettings> = requestAPI<unknown>('preview-settings')
      .then(parsePreviewSettings)
      .catch(reason => {
        console.warn(
          'jupyter-sandbox: cannot read the preview settings, assuming shared-origin mode',
          reason
        );
        return { preview_host: null };
      });
    const tabs = new WidgetTracker<PreviewPanel>({ namespace: 'jupyter-sandbox-preview' });
    let nextId = 0;
    const open = async (candidate: string, label: string, kernelId: string | null) => {
      const current = await settings;
      const url = acceptedPreviewUrl(candidate, baseUrl, current);
      if (!url) {
        await showErrorMessage(
          trans.__('Not a preview address'),
          trans.__('Previews open only from this server: %1', candidate.slice(0, 200))
        );
        return;
      }
      const existing = tabs.find(widget => widget.url === url);
      if (existing) {
        existing.reload();
        app.shell.activateById(existing.id);
        return;
      }
      const widget = new PreviewPanel(url, label, kernelId, context, current);
      widget.id = `jupyter-sandbox-preview-${nextId++}`;
      void tabs.add(widget);
      app.shell.add(widget, 'main', { mode: 'split-right' });
      app.shell.activateById(widget.id);
    };
    const context: IPreviewContext = {
      trans,
      baseUrl,
      kernels: app.serviceManager.kernels,
      settings,
      openInLab: (url, label, kernelId) => void open(url, label, kernelId)
    };
    return {
      context,
      open,
      openPort: (kernelId, port) =>
        open(
          URLExt.join(baseUrl, previewPath(kernelId, port)),
          trans.__('Preview :%1', port),
          kernelId
        )
    };
  }
};

/** The model, the side panel and the commands. */
const plugin: JupyterFrontEndPlugin<ISandboxModel> = {
  id: PLUGIN_ID,
  description: 'Sandbox status, snapshots and previews for Sandboxed Python kernels.',
  autoStart: true,
  provides: ISandboxModel,
  requires: [INotebookTracker, ISandboxPreviews],
  optional: [ITranslator, ISettingRegistry, ICommandPalette, ILabShell, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    previews: ISandboxPreviews,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null
  ): ISandboxModel => {
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

    panel.onOpenPreview = (kernelId, port) => void previews.openPort(kernelId, port);

    app.commands.addCommand(CommandIDs.openPreview, {
      label: trans.__('Sandbox: Open Preview…'),
      caption: trans.__('Open an app served from the sandbox (serve(app, port=…)) in a tab'),
      isEnabled: args => typeof args.url === 'string' || model.isSandboxed,
      execute: async args => {
        if (typeof args.url === 'string') {
          await previews.open(
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
        await previews.openPort(kernel.id, port);
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

/**
 * The renderer of `serve()` outputs. Registered ``safe``: it renders untrusted notebooks too,
 * which it may because it treats the bundle as data: only addresses ``checkPreviewUrl`` accepts
 * become a link or a preview tab, everything else is shown as text.
 */
const previewPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-sandbox:preview',
  description: 'Renders sandbox preview outputs: link, open in a tab, stopped state.',
  autoStart: true,
  requires: [IRenderMimeRegistry, ISandboxPreviews],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    previews: ISandboxPreviews
  ): void => {
    rendermime.addFactory(
      {
        safe: true,
        mimeTypes: [PREVIEW_MIME_TYPE],
        defaultRank: 10,
        createRenderer: options => {
          const renderer = new PreviewRenderer(previews.context);
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
    model: ISandboxModel,
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

export default [previewTabsPlugin, plugin, previewPlugin, statusPlugin];
