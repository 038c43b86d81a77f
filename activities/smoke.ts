import { SmokeConfig } from '../schemas/config/smoke';
import { ChunkedState, generateTable, SummaryState, summariseTable, transformTable } from '../lib/smoke/stages';
import { buildMlp, mlpBatchModel } from '../lib/model/mlp';
import { storeModelBytes } from '../lib/model/model-files';
import { createSession, sharedSession } from '../lib/model/session-cache';
import { ArtifactRef } from '../lib/store/ref';
import { ActivityDeps, artifactIO, runResumable, stageConfig } from './resumable';
import { StageContext, StageResult } from './types';

export interface SmokeStageInput extends StageContext {
  config: SmokeConfig;
}

/** The smoke experiment's activities: thin adapters from Temporal to lib/smoke. */
export function smokeActivities(deps: ActivityDeps) {
  const config = (input: SmokeStageInput) => stageConfig('smoke', input);

  return {
    /** Stage 1: the seeded input table. */
    async smokeGenerate(input: SmokeStageInput): Promise<StageResult> {
      const cfg = config(input);
      return (await runResumable<ChunkedState>(deps, (hooks) => generateTable(cfg, artifactIO(deps, input), hooks), 'table')).result;
    },

    /** Stage 2: the ONNX MLP over the table, batch by batch. */
    async smokeTransform(input: SmokeStageInput & { table: ArtifactRef }): Promise<StageResult> {
      const cfg = config(input);
      const model = await storeModelBytes(deps.modelsDir, buildMlp({ inDim: cfg.dim, hidden: cfg.hidden, outDim: cfg.dim, seed: cfg.seed }));
      const session = await sharedSession(model.sha256, () => createSession(model.path));
      const { result } = await runResumable<ChunkedState>(
        deps,
        (hooks) =>
          transformTable(
            input.table,
            mlpBatchModel(session, cfg.dim),
            { batchSize: cfg.batchSize, outDim: cfg.dim, modelSha256: model.sha256 },
            artifactIO(deps, input),
            hooks,
          ),
        'transformed',
      );
      return result;
    },

    /** Stage 3: per-dimension statistics of the transformed table. */
    async smokeSummarise(input: SmokeStageInput & { transformed: ArtifactRef }): Promise<StageResult> {
      const cfg = config(input);
      return (await runResumable<SummaryState>(deps, (hooks) => summariseTable(input.transformed, cfg.batchSize, artifactIO(deps, input), hooks), 'summary')).result;
    },
  };
}
