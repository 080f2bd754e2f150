import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type Berthd, startBerthd } from './harness.ts';
import { loadRunImage } from './run-image.ts';

/**
 * A static helper a test container runs to race a walk of its snapshot (renameat2
 * RENAME_EXCHANGE, for ever): `/helper/race HOST`, with `dir/helper` bind-mounted at /helper.
 */

// For N < 8: a regular file /race/aN and a device node /race/bN (/dev/zero's numbers), a directory
// /race/dN (with a file) and a symlink /race/sN -> HOST; then swap each aN and bN, dN and sN, for ever
export const regularBody = 'a regular file, never a device: 64 bytes of it......................';
const raceSource = `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
int main(int argc, char **argv) {
  const char *body = "${regularBody}";
  char a[8][32], b[8][32], d[8][32], s[8][32], inner[64];
  if (argc != 2 || mkdir("/race", 0755) != 0) return 2;
  for (int i = 0; i < 8; i++) {
    snprintf(a[i], sizeof a[i], "/race/a%d", i);
    snprintf(b[i], sizeof b[i], "/race/b%d", i);
    snprintf(d[i], sizeof d[i], "/race/d%d", i);
    snprintf(s[i], sizeof s[i], "/race/s%d", i);
    snprintf(inner, sizeof inner, "%s/inner", d[i]);
    if (mkdir(d[i], 0755) != 0 || symlink(argv[1], s[i]) != 0) return 1;
    int fd = open(inner, O_CREAT | O_WRONLY, 0644);
    if (fd < 0 || write(fd, "inner\\n", 6) != 6 || close(fd) != 0) return 1;
    fd = open(a[i], O_CREAT | O_WRONLY, 0644);
    if (fd < 0 || write(fd, body, strlen(body)) != (ssize_t)strlen(body) || close(fd) != 0) return 1;
    if (mknod(b[i], S_IFCHR | 0644, makedev(1, 5)) != 0) return 1;
  }
  for (;;)
    for (int i = 0; i < 8; i++)
      if (renameat2(AT_FDCWD, a[i], AT_FDCWD, b[i], RENAME_EXCHANGE) != 0 ||
          renameat2(AT_FDCWD, d[i], AT_FDCWD, s[i], RENAME_EXCHANGE) != 0)
        return 1;
}
`;

/** Compiles the helper into dir/helper/race (dir/race.c its source). */
export function buildRaceHelper(dir: string): void {
  fs.mkdirSync(join(dir, 'helper'));
  fs.writeFileSync(join(dir, 'race.c'), raceSource);
  const cc = spawnSync('cc', ['-static', '-O2', '-o', join(dir, 'helper', 'race'), join(dir, 'race.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc: ${cc.stderr}`);
}

/**
 * A berthd with the run image, and a scratch dir holding the built helper: what a test that races
 * a walk of a running container's snapshot starts from. close() removes the racing container
 * (named `racer`), the daemon and the scratch dir.
 */
export async function startRaceRig(prefix: string): Promise<{ b: Berthd; image: string; scratch: string; close(): Promise<void> }> {
  const b = await startBerthd();
  const scratch = fs.mkdtempSync(prefix);
  const close = async () => {
    b.berth(['tasks', 'kill', '-s', 'KILL', 'racer']);
    b.berth(['tasks', 'rm', '-f', 'racer']);
    b.berth(['containers', 'rm', 'racer']);
    await b.cleanup();
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  try {
    const image = await loadRunImage(b);
    buildRaceHelper(scratch);
    return { b, image, scratch, close };
  } catch (err) {
    await close();
    throw err;
  }
}
