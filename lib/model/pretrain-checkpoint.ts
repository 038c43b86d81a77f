import { Table } from 'apache-arrow';
import { MODEL_PRETRAIN_CHECKPOINT } from '../../schemas/artifacts';
import { DlabInputError } from '../errors';
import { readLineage } from '../store/artifact-store';
import { listColumn, readLists, tableFromColumns } from '../store/columns';
import { ArtifactIO, ChunkRef } from '../store/io';
import { ArtifactRef } from '../store/ref';
import { GptConfig } from './gpt';
import { PretrainState, SamplerState } from './gpt-train';
import { gptWeightSpecs, GptWeights } from './gpt-weights';
import type { AdamWState } from '../rl/adamw';

/**
 * Every weight of the GPT with its AdamW moments as a table: one row per weight array in
 * gptWeightSpecs order — name, w, m, v, float32 as trained, so the round trip is exact.
 * Size ≈ 3 × 4 bytes × parameters (e.g. 1.4 MB for the 116k-parameter example model). The
 * layout of `model.pretrain-checkpoint@1` and `policy.full-checkpoint@1`.
 */
export function gptStateToTable(cfg: GptConfig, weights: GptWeights, opt: Pick<AdamWState, 'm' | 'v'>): Table {
  const specs = gptWeightSpecs(cfg);
  return tableFromColumns({
    name: specs.map((x) => x.name),
    w: listColumn(specs.map((x) => weights.get(x.name)!), 'float32'),
    m: listColumn(opt.m, 'float32'),
    v: listColumn(opt.v, 'float32'),
  });
}

/** The table back as weights and moments (step not included); shapes are checked against `cfg`, `source` names it in errors. */
export function gptStateFromTable(cfg: GptConfig, t: Table, source: string): { weights: GptWeights; m: Float32Array[]; v: Float32Array[] } {
  const specs = gptWeightSpecs(cfg);
  const names = t.getChild('name')?.toArray() as string[] | undefined;
  if (!names || names.length !== specs.length || specs.some((x, i) => names[i] !== x.name)) {
    throw new DlabInputError(`${source}: not a checkpoint of this model: weight names ${JSON.stringify(names)}, expected ${specs.length} (${specs[0]?.name} …)`);
  }
  const rows = (column: string): Float32Array[] => {
    const { values, offsets } = readLists(t, column);
    if (!(values instanceof Float32Array)) throw new DlabInputError(`${source}: column ${column} must be list<float32>`);
    return specs.map((x, i) => {
      const a = values.slice(offsets[i], offsets[i + 1]);
      const n = x.shape.reduce((p, q) => p * q, 1);
      if (a.length !== n) throw new DlabInputError(`${source}: ${column} of ${x.name} has ${a.length} values, expected ${n}`);
      return a;
    });
  };
  const w = rows('w');
  return { weights: new Map(specs.map((x, i) => [x.name, w[i]])), m: rows('m'), v: rows('v') };
}

/**
 * A pretraining checkpoint (gpt-train.ts PretrainState) as a `model.pretrain-checkpoint@1`
 * table (gptStateToTable). The step, the sampler state and the losses so far go in the
 * lineage extra (JSON: the integers and float64 losses read back to the same values).
 */
export function pretrainStateToTable(cfg: GptConfig, s: PretrainState): Table {
  return gptStateToTable(cfg, s.weights, s.opt);
}

/** The table back as a state; `source` names it in errors. Shapes are checked against `cfg`. */
export function pretrainStateFromTable(cfg: GptConfig, t: Table, extra: Record<string, unknown> | undefined, source: string): PretrainState {
  const { weights, m, v } = gptStateFromTable(cfg, t, source);
  const step = extra?.step;
  const losses = extra?.losses;
  if (!Number.isInteger(step) || !Array.isArray(losses) || losses.length !== step || !losses.every((l) => typeof l === 'number')) {
    throw new DlabInputError(`${source}: the lineage extra must hold step and one loss per step`);
  }
  return {
    step: step as number,
    weights,
    opt: { step: step as number, m, v },
    sampler: extra!.sampler as SamplerState,
    losses: losses as number[],
  };
}

/** Writes a checkpoint artifact (no parents: pretraining starts from the seeded initial weights). */
export function writePretrainCheckpoint(io: ArtifactIO, cfg: GptConfig, s: PretrainState): Promise<ArtifactRef> {
  return io.write(pretrainStateToTable(cfg, s), MODEL_PRETRAIN_CHECKPOINT, [], { step: s.step, sampler: s.sampler, losses: s.losses });
}

export async function readPretrainCheckpoint(io: ArtifactIO, cfg: GptConfig, ref: ChunkRef): Promise<PretrainState> {
  const t = await io.read(ref);
  return pretrainStateFromTable(cfg, t, readLineage(t).extra, `pretraining checkpoint ${ref.sha256}`);
}
