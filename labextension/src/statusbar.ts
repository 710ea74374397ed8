/**
 * The status bar item: memory used / limit of the current notebook's sandbox, and a marker
 * while a snapshot or a restore runs.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { formatUsage } from './format';
import { SandboxModel } from './model';

/** The item's text for the model's state ('' when there is nothing to show). */
export function statusText(model: SandboxModel, trans: TranslationBundle): string {
  if (!model.isSandboxed) {
    return '';
  }
  const marker = model.activity === 'snapshot' ? trans.__(' · saving snapshot…') : model.activity === 'restore' ? trans.__(' · restoring…') : '';
  const status = model.status;
  if (!status) {
    return trans.__('Sandbox') + marker;
  }
  return trans.__('Sandbox: %1', formatUsage(status.usage.memory_bytes, status.limits.memory_bytes)) + marker;
}

export class SandboxStatusItem extends Widget {
  constructor(
    private _model: SandboxModel,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-SandboxStatusItem');
    this.node.title = _trans.__('Memory used by the sandbox / its limit');
    _model.changed.connect(this._update, this);
    this._update();
  }

  dispose(): void {
    this._model.changed.disconnect(this._update, this);
    super.dispose();
  }

  private _update(): void {
    this.node.textContent = statusText(this._model, this._trans);
    this.node.classList.toggle('jp-mod-busy', this._model.activity !== null);
  }
}
