import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/**/*.test.ts',
      'daemon/**/*.test.ts',
      'ctl/**/*.test.ts',
      'api/**/*.test.ts',
      'core/**/*.test.ts',
      'transport/**/*.test.ts',
      'native/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // removes the host-wide iptables chains CNI and berthd make on first use, if the run made them
    globalSetup: ['test/support/global-network.ts'],
    // The JSON report is what .ci/run reads to print its closing "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
});
