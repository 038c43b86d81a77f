import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDemosJsonl, loadQuestionsJsonl } from '../../../lib/tasks/jsonl';

describe('tasks/jsonl', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dlab-jsonl-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads questions; numeric ids and answers become strings; blank lines are skipped', () => {
    const p = file('q.jsonl', '{"id":"a","question":"2+2=","answer":"4"}\n\n{"id":7,"question":"x?","answer":72,"solution":"s"}\n');
    assert.deepEqual(loadQuestionsJsonl(p), [
      { id: 'a', question: '2+2=', answer: '4' },
      { id: '7', question: 'x?', answer: '72', solution: 's' },
    ]);
  });

  it('reads a demo pool', () => {
    const p = file('d.jsonl', '{"id":"d0","question":"1+1=","solution":"1+1=2\\nAnswer: 2"}\r\n');
    assert.deepEqual(loadDemosJsonl(p), [{ id: 'd0', question: '1+1=', solution: '1+1=2\nAnswer: 2' }]);
  });

  it('a bad line names the file, the line number and the field', () => {
    const p = file('bad.jsonl', '{"id":"a","question":"q","answer":"1"}\n{"id":"b","question":"q"}\n');
    assert.throws(() => loadQuestionsJsonl(p), (e: Error) => e.message.includes(`${p}:2:`) && /field "answer".*found nothing \(missing\)/.test(e.message));
    const d = file('bad-demo.jsonl', '{"id":"a","question":"q","solution":5}\n');
    assert.throws(() => loadDemosJsonl(d), (e: Error) => e.message.includes(`${d}:1:`) && /field "solution": expected a non-empty string, found 5/.test(e.message));
  });

  it('invalid JSON, a non-object line and a duplicate id are refused with their line numbers', () => {
    assert.throws(() => loadQuestionsJsonl(file('j.jsonl', '{"id":"a",\n')), /j\.jsonl:1: .*invalid JSON/);
    assert.throws(() => loadQuestionsJsonl(file('arr.jsonl', '\n[1,2]\n')), /arr\.jsonl:2: expected a JSON object, found \[1,2\]/);
    const dup = '{"id":"a","question":"q","answer":"1"}\n{"id":"a","question":"r","answer":"2"}\n';
    assert.throws(() => loadQuestionsJsonl(file('dup.jsonl', dup)), /dup\.jsonl:2: field "id".*"a" again \(first on line 1\)/);
  });
});
