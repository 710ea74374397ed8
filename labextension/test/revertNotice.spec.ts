import { nullTranslator } from '@jupyterlab/translation';
import { describe, expect, it } from 'vitest';

import { REVERT_COMMAND, revertNotice } from '../src/revertNotice';

const trans = nullTranslator.load('jupyter_sandbox');

describe('revertNotice', () => {
  it("tells that a revert restores the sandbox's state", () => {
    expect(REVERT_COMMAND).toBe('docmanager:restore-checkpoint');
    expect(revertNotice(REVERT_COMMAND, true, trans)).toMatch(
      /also restores .*kernel's state .*workspace files/
    );
  });

  it('says nothing for other commands or kernels that are not sandboxed', () => {
    expect(revertNotice(REVERT_COMMAND, false, trans)).toBeNull();
    expect(revertNotice('docmanager:save', true, trans)).toBeNull();
  });
});
