import { describe, expect, it } from 'vitest';
import { expandShorthand } from './cli.ts';

describe('Docker’s words for image commands', () => {
  const argv = (...words: string[]) => ['node', 'berth', ...words];
  it('spells pull, push, rmi and tag out as images subcommands, after the global flags', () => {
    expect(expandShorthand(argv('pull', 'busybox'))).toEqual(argv('images', 'pull', 'busybox'));
    expect(expandShorthand(argv('-n', 'pull', 'rmi', 'a', 'b'))).toEqual(argv('-n', 'pull', 'images', 'rm', 'a', 'b'));
    expect(expandShorthand(argv('--address', '/s.sock', 'tag', 'a', 'b'))).toEqual(argv('--address', '/s.sock', 'images', 'tag', 'a', 'b'));
    expect(expandShorthand(argv('push', '--plain-http', 'r/x:1'))).toEqual(argv('images', 'push', '--plain-http', 'r/x:1'));
  });
  it('leaves every other command line as it is', () => {
    for (const words of [['images', 'pull', 'x'], ['run', 'img', 'pull'], ['--help'], []]) expect(expandShorthand(argv(...words))).toEqual(argv(...words));
  });
});
