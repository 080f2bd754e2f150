import { expect, it } from 'vitest';
import { formatRecords, parseRecord } from './cri.ts';

const records = (b: Buffer) =>
  b
    .toString('latin1')
    .split('\n')
    .filter(Boolean)
    .map((l) => parseRecord(Buffer.from(l, 'latin1')));

it('formats a read as berth-monitor does: a record a line, the unfinished one P, long lines cut at maxLine; each parses back', () => {
  const got = records(formatRecords('stderr', Buffer.from('one\n\ntwo and a half'), 0));
  expect(got.map((r) => [r?.stream, r?.partial, r?.content.toString()])).toEqual([
    ['stderr', false, 'one'],
    ['stderr', false, ''],
    ['stderr', true, 'two and a half'],
  ]);
  const cut = records(formatRecords('stdout', Buffer.from('abcdefgh\n'), 3));
  expect(cut.map((r) => [r?.partial, r?.content.toString()])).toEqual([
    [true, 'abc'],
    [true, 'def'],
    [false, 'gh'],
  ]);
  expect(Number(cut[0]!.timeNs / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000);
});
