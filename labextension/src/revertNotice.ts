/**
 * JupyterLab's "Revert Notebook to Checkpoint" (docmanager:restore-checkpoint) also restores
 * the sandboxed kernel's state saved with the checkpoint (the server's SandboxCheckpoints):
 * tell the user so while its dialog is open.
 */
import { TranslationBundle } from '@jupyterlab/translation';

/** JupyterLab's command behind File → "Revert Notebook to Checkpoint…". */
export const REVERT_COMMAND = 'docmanager:restore-checkpoint';

/** The notice for a revert, or null when the command is not a revert or the kernel not sandboxed. */
export function revertNotice(
  command: string,
  isSandboxed: boolean,
  trans: TranslationBundle
): string | null {
  if (command !== REVERT_COMMAND || !isSandboxed) {
    return null;
  }
  return trans.__(
    "Reverting this notebook to a checkpoint also restores its Sandboxed Python kernel's state saved with that checkpoint: variables, imports and workspace files. What changed in the sandbox since is lost."
  );
}
