/**
 * The status bar item: memory used / limit of the current notebook's sandbox, and a marker
 * while a snapshot or a restore runs.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { setClass, setText } from './dom';
import { statusText } from './statusText';
import { ISandboxModel } from './tokens';

export class SandboxStatusItem extends Widget {
  constructor(
    private _model: ISandboxModel,
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
    setText(this.node, statusText(this._model, this._trans));
    setClass(this.node, 'jp-mod-busy', this._model.activity !== null);
  }
}
