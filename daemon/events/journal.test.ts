import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Journal, type JournalRecord } from './journal.ts';

const record = (seq: number, topic = '/tasks/start'): JournalRecord => ({
  seq,
  timestamp: 1_700_000_000_000 + seq,
  namespace: 'n',
  topic,
  event: { type_url: 'containerd.events.TaskStart', value: Buffer.from(`payload ${seq}`) },
});

describe('Journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-journal-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const reopen = (maxBytes = 64 * 1024) => {
    const kept: JournalRecord[] = [];
    const warnings: string[] = [];
    const journal = Journal.open(dir, { maxBytes, warn: (m) => warnings.push(m) }, (r) => kept.push(r));
    return { journal, kept, warnings };
  };
  const readAll = async (j: Journal, from = 1) => {
    const got: JournalRecord[] = [];
    await j.read(from, j.nextSeq, (r) => void got.push(r));
    return got;
  };

  it('gives back what was appended, in order, and goes on numbering after a reopen', async () => {
    const { journal } = reopen();
    expect(journal.nextSeq).toBe(1);
    for (let s = 1; s <= 5; s++) journal.append(record(s));
    expect((await readAll(journal, 3)).map((r) => r.seq)).toEqual([3, 4, 5]);
    journal.close();
    const again = reopen();
    expect(again.kept).toEqual([1, 2, 3, 4, 5].map((s) => record(s)));
    expect(again.journal.nextSeq).toBe(6);
    again.journal.close();
  });

  it('drops a torn or damaged tail on open, keeps what precedes it, and appends after it', async () => {
    const { journal } = reopen();
    for (let s = 1; s <= 3; s++) journal.append(record(s));
    journal.close();
    const [file] = readdirSync(dir);
    const path = join(dir, file);
    const whole = statSync(path).size;
    truncateSync(path, whole - 5); // a crash in the middle of the last record
    const torn = reopen();
    expect(torn.kept.map((r) => r.seq)).toEqual([1, 2]);
    expect(torn.warnings).toHaveLength(1);
    expect(torn.journal.nextSeq).toBe(3);
    torn.journal.append(record(3, '/tasks/exit'));
    torn.journal.close();
    appendFileSync(path, Buffer.from('\x10\x00\x00\x00garbage that is not a record'));
    const garbage = reopen();
    expect(garbage.kept.map((r) => `${r.seq} ${r.topic}`)).toEqual(['1 /tasks/start', '2 /tasks/start', '3 /tasks/exit']);
    expect((await readAll(garbage.journal)).map((r) => r.seq)).toEqual([1, 2, 3]);
    garbage.journal.close();
    expect(statSync(path).size).toBeLessThan(whole + 8);
  });

  it('a record whose checksum does not match ends what is read, not the daemon', () => {
    const { journal } = reopen();
    for (let s = 1; s <= 3; s++) journal.append(record(s));
    journal.close();
    const [file] = readdirSync(dir);
    const bytes = readFileSync(join(dir, file));
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(join(dir, file), bytes);
    const again = reopen();
    expect(again.kept.map((r) => r.seq)).toEqual([1, 2]);
    again.journal.close();
  });

  it('stays within its bound, keeping the newest events, and its seq survives the oldest files going', async () => {
    const maxBytes = 64 * 1024;
    const { journal } = reopen(maxBytes);
    for (let s = 1; s <= 20_000; s++) journal.append(record(s));
    const total = () => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(total()).toBeLessThanOrEqual(maxBytes);
    const kept = await readAll(journal);
    expect(kept[kept.length - 1].seq).toBe(20_000);
    expect(kept.length).toBeGreaterThan(300); // at least three of the four segments' worth
    expect(kept.map((r) => r.seq)).toEqual(kept.map((_, i) => kept[0].seq + i));
    expect(journal.oldestSeq).toBe(kept[0].seq);
    journal.close();
    // every record gone but the newest segment's name: the numbering still goes on
    for (const f of readdirSync(dir)) truncateSync(join(dir, f), 0);
    const again = reopen(maxBytes);
    expect(again.journal.nextSeq).toBeGreaterThan(kept[0].seq);
    expect(again.journal.nextSeq).toBeLessThanOrEqual(20_001);
    again.journal.close();
  });
});
