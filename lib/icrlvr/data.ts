import { Table } from 'apache-arrow';
import { ICRLVR_DEMOS, ICRLVR_QUESTIONS } from '../../schemas/artifacts';
import type { IcrlvrConfig } from '../../schemas/config/icrlvr';
import { DlabInputError } from '../errors';
import { Rng } from '../rng';
import { tableFromColumns } from '../store/columns';
import { additionProblem, makeProblems, parseAdditionQuestion, processScore } from '../tasks/arithmetic';
import { loadDemosJsonl, loadQuestionsJsonl } from '../tasks/jsonl';

export interface Question {
  id: string;
  question: string;
  answer: string;
  /** expert solution ('' when unknown) */
  solution: string;
  split: 'train' | 'heldout';
}

export interface Demo {
  id: string;
  question: string;
  solution: string;
}

export interface TaskData {
  train: Question[];
  heldOut: Question[];
  demos: Demo[];
  /** process score of a completion for a question, when the task has checkable steps */
  processScore?: (q: Question, completion: string) => number;
}

/**
 * The run's questions and demonstration pool. Arithmetic: three disjoint sets from the
 * task's data seed (train, held-out, demos), so every mode and run seed of a sweep sees
 * the same data. JSONL: the user's files, demos must not repeat a training question.
 */
export function makeTaskData(task: IcrlvrConfig['task']): TaskData {
  if (task.type === 'arithmetic') {
    const cfg = { op: task.op, digits: task.digits, minDigits: task.minDigits };
    const taken = new Set<string>();
    const take = (n: number, stream: number, prefix: string) => {
      const ps = makeProblems(cfg, n, new Rng(task.dataSeed, stream), prefix, taken);
      for (const p of ps) taken.add(p.question);
      return ps;
    };
    const train = take(task.trainQuestions, 1, 'train');
    const heldOut = take(task.heldOutQuestions, 2, 'heldout');
    const demos = take(task.demoPool, 3, 'demo');
    return {
      train: train.map((p) => ({ id: p.id, question: p.question, answer: p.answer, solution: p.solution, split: 'train' })),
      heldOut: heldOut.map((p) => ({ id: p.id, question: p.question, answer: p.answer, solution: p.solution, split: 'heldout' })),
      demos: demos.map((p) => ({ id: p.id, question: p.question, solution: p.solution })),
      processScore: arithmeticProcessScore,
    };
  }
  const train = loadQuestionsJsonl(task.questions).map((q) => ({ ...q, solution: q.solution ?? '', split: 'train' as const }));
  const heldOut = loadQuestionsJsonl(task.heldOut).map((q) => ({ ...q, solution: q.solution ?? '', split: 'heldout' as const }));
  const demos = loadDemosJsonl(task.demos);
  const trainQs = new Set(train.map((q) => q.question));
  const clash = demos.find((d) => trainQs.has(d.question));
  if (clash) throw new DlabInputError(`${task.demos}: demo ${clash.id} repeats a training question ("${clash.question}"); the pool must be disjoint from training questions`, task.demos);
  if (!train.length) throw new DlabInputError(`${task.questions}: no training questions`, task.questions);
  if (!heldOut.length) throw new DlabInputError(`${task.heldOut}: no held-out questions`, task.heldOut);
  return { train, heldOut, demos };
}

/**
 * What the run's config asks of its data, checked before anything is generated: a step's
 * questionsPerStep distinct training questions, and (mode icrlvr) demosPerGroup demonstrations
 * per group.
 * Throws DlabInputError naming the field and the file (or the arithmetic task's count).
 */
export function checkTaskFits(data: TaskData, cfg: Pick<IcrlvrConfig, 'task' | 'questionsPerStep' | 'demosPerGroup' | 'mode'>): void {
  const where = (file: 'questions' | 'demos', count: 'trainQuestions' | 'demoPool') => (cfg.task.type === 'jsonl' ? cfg.task[file] : `task.${count}`);
  if (cfg.questionsPerStep > data.train.length) {
    throw new DlabInputError(`questionsPerStep ${cfg.questionsPerStep} exceeds the ${data.train.length} training questions of ${where('questions', 'trainQuestions')}`, 'questionsPerStep');
  }
  // only mode icrlvr puts demonstrations into rollout prompts
  if (cfg.mode === 'icrlvr' && cfg.demosPerGroup > data.demos.length) {
    throw new DlabInputError(`demosPerGroup ${cfg.demosPerGroup} exceeds the ${data.demos.length} demonstrations of ${where('demos', 'demoPool')}`, 'demosPerGroup');
  }
}

function arithmeticProcessScore(q: Question, completion: string): number {
  return processScore(additionProblem(parseAdditionQuestion(q.question), q.id), completion);
}

export function questionsTable(data: TaskData): Table {
  const all = [...data.train, ...data.heldOut];
  return tableFromColumns({
    id: all.map((q) => q.id),
    question: all.map((q) => q.question),
    answer: all.map((q) => q.answer),
    solution: all.map((q) => q.solution),
    split: all.map((q) => q.split),
  });
}

export function demosTable(data: TaskData): Table {
  return tableFromColumns({ id: data.demos.map((d) => d.id), question: data.demos.map((d) => d.question), solution: data.demos.map((d) => d.solution) });
}

/** The ids of a questions table's training questions, in table order (what taskDataFromTables(…).train holds, ids only). */
export function trainIdsFromTable(questions: Table): string[] {
  const id = questions.getChild('id')!.toArray() as string[];
  const split = questions.getChild('split')!.toArray() as string[];
  return id.filter((_, i) => split[i] === 'train');
}

/** Task data back from its artifacts (the process scorer comes with the task type). */
export function taskDataFromTables(questions: Table, demos: Table, taskType: IcrlvrConfig['task']['type']): TaskData {
  const col = (t: Table, name: string) => t.getChild(name)!.toArray() as string[];
  const [id, q, a, s, split] = ['id', 'question', 'answer', 'solution', 'split'].map((n) => col(questions, n));
  const rows: Question[] = id.map((_, i) => ({ id: id[i], question: q[i], answer: a[i], solution: s[i], split: split[i] as Question['split'] }));
  const [did, dq, ds] = ['id', 'question', 'solution'].map((n) => col(demos, n));
  return {
    train: rows.filter((r) => r.split === 'train'),
    heldOut: rows.filter((r) => r.split === 'heldout'),
    demos: did.map((_, i) => ({ id: did[i], question: dq[i], solution: ds[i] })),
    processScore: taskType === 'arithmetic' ? arithmeticProcessScore : undefined,
  };
}

export { ICRLVR_DEMOS, ICRLVR_QUESTIONS };
