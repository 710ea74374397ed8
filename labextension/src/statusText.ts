/**
 * The status bar item's text (no DOM: unit tested).
 */
import type { TranslationBundle } from '@jupyterlab/translation';

import { formatUsage } from './format';
import type { ISandboxModel } from './tokens';

/** The item's text for the model's state ('' when there is nothing to show). */
export function statusText(model: ISandboxModel, trans: TranslationBundle): string {
  if (!model.isSandboxed) {
    return '';
  }
  const marker =
    model.activity === 'snapshot'
      ? trans.__(' · saving snapshot…')
      : model.activity === 'restore'
        ? trans.__(' · restoring…')
        : '';
  const status = model.status;
  if (!status) {
    return trans.__('Sandbox') + marker;
  }
  return (
    trans.__('Sandbox: %1', formatUsage(status.usage.memory_bytes, status.limits.memory_bytes)) +
    marker
  );
}
