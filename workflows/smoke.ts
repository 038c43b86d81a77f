import { continueAsNew, workflowInfo } from '@temporalio/workflow';
import type { SmokeConfig } from '../schemas/config/smoke';
import type { ArtifactRef } from '../lib/store/ref';
import type { QueueMap } from '../lib/queues';
import { NamedArtifact, RunStatusOf, RunTracker, stageActivities } from './run-state';

export interface SmokeInput {
  config: SmokeConfig;
  configHash: string;
  /** the run's task queue per routed activity group (lib/queues.ts), fixed at its start */
  queues?: QueueMap;
  /** state handed over by continue-as-new: refs and counters only */
  carry?: { round: number; table: ArtifactRef; current: ArtifactRef; artifacts: NamedArtifact[] };
}

/**
 * The smoke experiment: generate a seeded table → transform it with an ONNX MLP
 * (`rounds` times, continuing as new every `continueAsNewEvery` rounds) → summarise.
 * Step 0 is generation, steps 1…rounds the transforms.
 */
export async function smoke(input: SmokeInput): Promise<RunStatusOf<'smoke'>> {
  const { config, configHash, carry, queues } = input;
  const run = new RunTracker('smoke', { artifacts: carry?.artifacts, step: carry?.round, totalSteps: config.rounds });
  const act = stageActivities(config.heartbeatTimeoutSeconds, queues);
  const stage = (name: string) => ({ experimentId: workflowInfo().workflowId, stage: name, configHash, config });

  let table = carry?.table;
  if (!table) {
    await run.enter('generate', 0);
    table = (await act.smokeGenerate(stage('generate'))).outputs.table;
    run.record('table', table);
  }

  let current = carry?.current ?? table;
  const firstRound = carry?.round ?? 0;
  for (let round = firstRound; round < config.rounds; round++) {
    if (round > firstRound && (round - firstRound) % config.continueAsNewEvery === 0) {
      await continueAsNew<typeof smoke>({ config, configHash, ...(queues ? { queues } : {}), carry: { round, table, current, artifacts: run.status.artifacts } });
    }
    await run.enter('transform', round + 1);
    current = (await act.smokeTransform({ ...stage('transform'), table: current })).outputs.transformed;
    run.record('transformed', current);
    run.stepDone(round + 1);
  }

  await run.enter('summarise', config.rounds);
  run.record('summary', (await act.smokeSummarise({ ...stage('summarise'), transformed: current })).outputs.summary);
  return run.finish();
}
