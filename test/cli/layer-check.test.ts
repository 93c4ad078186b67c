// test/cli/layer-check.test.ts — `tsctl layer check` output: one block per problem saying what was
// or would be done (or why not), and a summary line.
import assert from 'node:assert/strict';
import { formatLayerCheck } from '../../cli/commands/layer.js';
import type { ApiLayerCheck } from '../../core/api/routes/layers.js';

const P = (over: Partial<ApiLayerCheck['Problems'][number]>): ApiLayerCheck['Problems'][number] => ({
  Kind: 'files-missing', Layer: 'a'.repeat(64), Driver: 'tsd-overlay2', Detail: 'gone', Action: 'remove-layer', Status: 'open', ...over,
});

describe('tsctl layer check output', () => {
  it('no problems: one line', () => {
    assert.equal(formatLayerCheck({ Checked: 3, Remaining: 0, Problems: [] }, false), '3 layer(s) checked: no problems\n');
  });

  it('without --repair: what --repair would do; with it: done, resolved, failed, or why not', () => {
    assert.equal(formatLayerCheck({ Checked: 1, Remaining: 1, Problems: [P({})] }, false),
      'aaaaaaaaaaaa  files-missing: gone\n    --repair would: remove-layer\n1 layer(s) checked: 1 problem(s), 0 repaired, 1 remaining\n');
    const out = formatLayerCheck({ Checked: 4, Remaining: 2, Problems: [
      P({ Status: 'repaired' }),
      P({ Kind: 'mount-count', Action: 'unmount', Status: 'gone' }),
      P({ Kind: 'interrupted-apply', Layer: 'dockerlayer1', Action: 'remove-leftover', Status: 'failed', Error: 'EBUSY' }),
      P({ Kind: 'parent-missing', Action: 'none', Reason: 'kept: files usable' }),
    ] }, true);
    assert.equal(out, [
      'aaaaaaaaaaaa  files-missing: gone', '    repaired: remove-layer',
      'aaaaaaaaaaaa  mount-count: gone', '    resolved meanwhile (re-checked before repairing)',
      'dockerlayer1  interrupted-apply: gone', '    repair failed (remove-leftover): EBUSY',
      'aaaaaaaaaaaa  parent-missing: gone', '    not repaired: kept: files usable',
      '4 layer(s) checked: 4 problem(s), 1 repaired, 2 remaining', '',
    ].join('\n'));
  });
});
