import { Table } from 'apache-arrow';
import { DlabInputError } from '../errors';
import { Head } from '../model/head';
import { AdamWState, initAdamW } from '../rl/adamw';
import { readNumbers, readVectors, tableFromColumns, vectorColumn } from '../store/columns';
import type { GptConfig } from '../model/gpt';
import { checkGptWeights, cloneWeights, gptWeightSpecs, GptWeights } from '../model/gpt-weights';
import { gptStateFromTable, gptStateToTable } from '../model/pretrain-checkpoint';

/** A policy checkpoint: the trained head and its AdamW state (moments for [W, b] and the step). */
export interface Checkpoint {
  head: Head;
  opt: AdamWState;
}

export function freshCheckpoint(head: Head): Checkpoint {
  return { head: { ...head, W: head.W.slice(), b: head.b.slice() }, opt: initAdamW([head.W, head.b]) };
}

/** Checkpoint → `policy.checkpoint@1` table (row v = token v). The optimizer step goes in the lineage extra. */
export function checkpointToTable(c: Checkpoint): Table {
  const { head, opt } = c;
  const token = new Int32Array(head.vocab);
  for (let v = 0; v < head.vocab; v++) token[v] = v;
  return tableFromColumns({
    token,
    w: vectorColumn(head.W, head.dModel),
    b: head.b,
    m_w: vectorColumn(opt.m[0], head.dModel),
    v_w: vectorColumn(opt.v[0], head.dModel),
    m_b: opt.m[1],
    v_b: opt.v[1],
  });
}

export function checkpointFromTable(t: Table, step: number, source: string): Checkpoint {
  const w = readVectors(t, 'w');
  const f32 = (name: string) => {
    const a = readNumbers(t, name);
    if (!(a instanceof Float32Array) || a.length !== w.rows) throw new DlabInputError(`${source}: column ${name} must be float32 with ${w.rows} rows`);
    return a.slice();
  };
  const head: Head = { W: w.data.slice(), b: f32('b'), vocab: w.rows, dModel: w.dim };
  return { head, opt: { step, m: [readVectors(t, 'm_w').data.slice(), f32('m_b')], v: [readVectors(t, 'v_w').data.slice(), f32('v_b')] } };
}

/**
 * A whole-model checkpoint (`trainable: "full"`): every weight of the project's GPT
 * (lib/model/gpt-weights.ts names and order) and its AdamW state, one m and v per weight array.
 */
export interface FullCheckpoint {
  cfg: GptConfig;
  weights: GptWeights;
  opt: AdamWState;
}

/** The checkpoint of either kind: the head on a frozen backbone, or the whole model. */
export type AnyCheckpoint = Checkpoint | FullCheckpoint;

export const isFull = (c: AnyCheckpoint): c is FullCheckpoint => 'weights' in c;

/** Weights as given (copied), zero moments, step 0. */
export function freshFullCheckpoint(cfg: GptConfig, weights: GptWeights): FullCheckpoint {
  checkGptWeights(cfg, weights);
  const w = cloneWeights(weights);
  return { cfg, weights: w, opt: initAdamW(gptWeightSpecs(cfg).map((s) => w.get(s.name)!)) };
}

/** FullCheckpoint → `policy.full-checkpoint@1` table (gptStateToTable); the optimizer step goes in the lineage extra. */
export function fullCheckpointToTable(c: FullCheckpoint): Table {
  return gptStateToTable(c.cfg, c.weights, c.opt);
}

export function fullCheckpointFromTable(cfg: GptConfig, t: Table, step: number, source: string): FullCheckpoint {
  const { weights, m, v } = gptStateFromTable(cfg, t, source);
  return { cfg, weights, opt: { step, m, v } };
}
