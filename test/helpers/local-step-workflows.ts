// Workflows for test/integration/local-activities.test.ts only (bundled by that test, never by
// the product's worker): dlab's bookkeeping-step proxy (workflows/run-state.ts localStep) with
// inputs a real run never passes.
import { localStep } from '../../workflows/run-state';

const ref = (c: string) => ({ sha256: c.repeat(64), schema: 'icrlvr.questions@1', rows: 1, bytes: 1, uri: 'file:///nowhere' });

/** icrlvrPlan as a local activity with a config that does not parse: a DlabInputError. */
export async function planWithBadConfig(): Promise<string[]> {
  return localStep('rollout', ['a'.repeat(64)]).icrlvrPlan({
    experimentId: 'local-bad',
    stage: 'rollout',
    configHash: '0',
    config: { steps: 'many' } as never,
    modelDir: '/nowhere',
    questions: ref('a'),
    demos: ref('b'),
    step: 1,
    round: 0,
  });
}

/** icrlvrCompare as a local activity (a sweep's comparison of two made-up runs). */
export async function compareLocally(): Promise<unknown> {
  const evaluation = { step: 0, avgAtK: 0.5, passAtK: 1, processScoreCorrect: null, rewardMean: null, egCorrectMean: null, egIncorrectMean: null };
  return localStep('compare', []).icrlvrCompare({
    experimentId: 'local-compare',
    stage: 'compare',
    configHash: '0',
    runs: [
      { mode: 'icrlvr', seed: 1, evaluations: [evaluation] },
      { mode: 'rlvr', seed: 1, evaluations: [{ ...evaluation, avgAtK: 0.25 }] },
    ],
  });
}
