import type { StoredArtifact } from './catalog';

/** The activity attempt that returned an artifact, from the Temporal history of its run. */
export interface ProducingAttempt {
  workflowId: string;
  runId: string;
  activityType: string;
  activityId: string;
  attempt: number;
  worker: string | null;
}

/** An artifact in the store: what its metadata says, how Temporal produced it, and its inputs. */
export interface ArtifactNode extends Omit<StoredArtifact, 'file' | 'parents'> {
  kind: 'artifact';
  /** null: not known (server unreachable, history gone, or not in any completed activity's result) */
  attempt: ProducingAttempt | null;
  parents: LineageNode[];
}

/** A parent that is not an artifact: a model file or another outside input (a leaf); `path` where it is, a stored copy (`…/files/…`) or a local file. */
export interface FileNode {
  kind: 'file';
  sha256: string;
  /** where it is, when a model of the run lists it: the store's copy, or a model directory's file */
  path?: string;
  /** its name in the model directory that lists it (e.g. backbone.onnx), when `path` does not say */
  name?: string;
}

/** An artifact already expanded earlier in the tree (lineage is a DAG; each node is expanded once). */
export interface SeenNode {
  kind: 'seen';
  sha256: string;
}

export type LineageNode = ArtifactNode | FileNode | SeenNode;

/**
 * Every stored artifact `root` descends from: breadth-first over the `parents` in each
 * artifact's metadata. `read` gives an artifact's stored record, or undefined when the store
 * has no such file (a model file). Map value undefined = not in the store.
 */
export async function collectAncestry(root: string, read: (sha256: string) => Promise<StoredArtifact | undefined>): Promise<Map<string, StoredArtifact | undefined>> {
  const found = new Map<string, StoredArtifact | undefined>();
  const queue = [root];
  for (let sha = queue.shift(); sha !== undefined; sha = queue.shift()) {
    if (found.has(sha)) continue;
    const record = await read(sha);
    found.set(sha, record);
    if (record) queue.push(...record.parents);
  }
  return found;
}

/**
 * The lineage DAG below `root` as a tree: each artifact expanded once (later occurrences
 * are `seen` nodes), parents in metadata order, hashes not in `artifacts` as `file` leaves.
 */
export function buildLineageTree(
  root: string,
  artifacts: ReadonlyMap<string, StoredArtifact | undefined>,
  attempts: ReadonlyMap<string, ProducingAttempt> = new Map(),
  files: ReadonlyMap<string, string> = new Map(),
  names: ReadonlyMap<string, string> = new Map(),
): LineageNode {
  const expanded = new Set<string>();
  const node = (sha256: string): LineageNode => {
    const a = artifacts.get(sha256);
    if (!a) return { kind: 'file', sha256, ...(files.has(sha256) ? { path: files.get(sha256) } : {}), ...(names.has(sha256) ? { name: names.get(sha256) } : {}) };
    if (expanded.has(sha256)) return { kind: 'seen', sha256 };
    expanded.add(sha256);
    return {
      kind: 'artifact',
      sha256,
      schema: a.schema,
      experimentId: a.experimentId,
      stage: a.stage,
      producer: a.producer,
      configHash: a.configHash,
      codeVersion: a.codeVersion,
      bytes: a.bytes,
      ...(a.extra ? { extra: a.extra } : {}),
      attempt: attempts.get(sha256) ?? null,
      parents: a.parents.map(node),
    };
  };
  return node(root);
}

/** The tree as text, one node a line, children indented under their artifact. */
export function renderLineageTree(tree: LineageNode): string[] {
  const lines: string[] = [];
  const visit = (n: LineageNode, lead: string, branch: string) => {
    lines.push(lead + branch + describe(n));
    if (n.kind !== 'artifact') return;
    const childLead = lead + (branch === '' ? '' : branch === '└─ ' ? '   ' : '│  ');
    n.parents.forEach((p, i) => visit(p, childLead, i === n.parents.length - 1 ? '└─ ' : '├─ '));
  };
  visit(tree, '', '');
  return lines;
}

function describe(n: LineageNode): string {
  const short = n.sha256.slice(0, 12);
  if (n.kind === 'seen') return `${short}  (shown above)`;
  if (n.kind === 'file') return `${short}  file${n.name ? ` ${n.name}` : ''}, not an artifact${n.path ? `: ${n.path}` : ' (a model file or outside input)'}`;
  const a = n.attempt;
  const by = a ? `${a.activityType} attempt ${a.attempt} (activity ${a.activityId}, run ${a.runId.slice(0, 8)}, worker ${a.worker ?? '?'})` : `${n.producer}, attempt unknown`;
  return `${short}  ${n.schema}  ${n.experimentId} / ${n.stage}  by ${by}  config ${n.configHash.slice(0, 12)}  code ${n.codeVersion}`;
}
