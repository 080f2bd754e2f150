// The berth command-line client. Every berth command starts a process, so startup time matters:
// bin/berth runs this module bundled (dist/berth/main.cjs, see ctl/bundle.ts), V8's compile cache
// (kept by Node in the OS temp dir, keyed by file contents) is switched on before anything else is
// loaded, and the gRPC modules are imported only by commands that call the daemon.
import module from 'node:module';

if (!process.env.NODE_DISABLE_COMPILE_CACHE) {
  try {
    module.enableCompileCache?.();
  } catch {
    // no cache: slower, not wrong
  }
}

// `berth content ls | head -1` closes stdout early; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

// `berth run` goes the fast way when its command line allows (fast-run.ts: no commander);
// everything else, and what the fast way leaves, goes to the full CLI. No top-level await: the
// bundle is CommonJS.
const argv = process.argv;
const fast = argv.includes('run') ? import('./fast-run.ts').then(({ fastRun }) => fastRun(argv)) : Promise.resolve(undefined);
void fast.then(async (fastCode) => {
  const code: number = fastCode ?? (await import('./cli.ts').then(({ run }) => run(argv)));
  // The fast path's `berth run` has closed what it opened and ends without Node's teardown
  // (joining V8's and libuv's threads, 3-6 ms after every run); the rest goes through 'exit'.
  // That teardown is also where Node writes the compile cache: it is written here instead (at
  // once when every module came from it).
  const exitNow = fastCode === undefined ? undefined : (await import('../native/index.ts')).exitNow;
  const exit = (c: number) => {
    if (!exitNow) process.exit(c);
    module.flushCompileCache?.();
    exitNow(c);
  };
  // Exit as soon as what was written has been flushed: the gRPC channel and a stdin that was
  // never read must not keep the process alive.
  flushed(process.stdout, () => flushed(process.stderr, () => exit(code)));
});

function flushed(stream: NodeJS.WriteStream, then: () => void) {
  if (stream.writableLength === 0) then();
  else stream.write('', then);
}
