import { Table } from 'apache-arrow';
import { DlabInputError } from '../errors';
import { Head } from '../model/head';
import { AdamWState, initAdamW } from '../rl/adamw';
import { readNumbers, readVectors, tableFromColumns, vectorColumn } from '../store/columns';

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
