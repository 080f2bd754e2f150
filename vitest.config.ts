import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'daemon/**/*.test.ts', 'ctl/**/*.test.ts', 'shim/**/*.test.ts', 'proto/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
