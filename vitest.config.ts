import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{shared,client,server,web}/src/**/*.test.{ts,tsx}', 'server/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
