// berth-shim-runc-v2: `start` (find or start the shim for a container, print its address),
// `delete` (clean up after a dead shim), or, with no action, the serving process itself.
// Every task create waits for this program twice, so the V8 compile cache is on and each action
// loads only what it uses.
import module from 'node:module';

if (!process.env.NODE_DISABLE_COMPILE_CACHE) {
  try {
    module.enableCompileCache?.();
  } catch {
    // no cache: slower, not wrong
  }
}

const { parseArgs } = await import('./args.ts');

function fail(message: string, code = 1): never {
  process.stderr.write(`berth-shim-runc-v2: ${message}\n`);
  process.exit(code);
}

let args: ReturnType<typeof parseArgs>;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  fail((err as Error).message, 2);
}

try {
  switch (args.action) {
    case 'start': {
      const { start } = await import('./start.ts');
      const line = await start(args);
      process.stdout.write(`${line}\n`, () => process.exit(0));
      break;
    }
    case 'delete': {
      const { deleteCommand } = await import('./delete.ts');
      const out = await deleteCommand(args);
      process.stdout.write(out, () => process.exit(0));
      break;
    }
    case '': {
      const { serve } = await import('./serve.ts');
      await serve(args);
      break;
    }
    case 'warm': {
      const { serveWarm } = await import('./serve.ts');
      await serveWarm(args);
      break;
    }
    default:
      fail(`unknown action ${JSON.stringify(args.action)}`, 2);
  }
} catch (err) {
  fail((err as Error).message);
}
