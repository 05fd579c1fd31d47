import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The suite starts its own release server on a free port with a fresh SQLite database.
const port = Number(process.env.LATCHKEY_E2E_PORT ?? 3217);
// localhost, not 127.0.0.1: WebAuthn (passkeys) refuses IP addresses, and the console's
// relying party is the host of its public URL.
const baseURL = `http://localhost:${port}`;
const bin = process.env.LATCHKEY_E2E_BIN ?? '../target/release/server';
const dataDir = process.env.LATCHKEY_E2E_DATA ?? mkdtempSync(join(tmpdir(), 'latchkey-e2e-'));
process.env.LATCHKEY_E2E_DATA = dataDir; // workers re-read this file; keep one database
const testClock = process.env.LATCHKEY_E2E_TEST_CLOCK === '1' ? ' --test-clock' : '';
// The suite's own SMTP server (scripts/smtp-sink.py, Debian's python3-aiosmtpd): every mail the
// console sends lands in ${dataDir}/mail as JSON, for mail.spec.ts and the secret scan.
const smtpPort = Number(process.env.LATCHKEY_E2E_SMTP_PORT ?? port + 1);

const chromium = {
  browserName: 'chromium' as const,
  launchOptions: {
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  },
};

export default defineConfig({
  testDir: './tests',
  globalTeardown: './global-teardown.ts',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  retries: 0,
  reporter: process.env.CI ? [['list']] : [['list']],
  use: { baseURL, trace: 'retain-on-failure' },
  projects: [
    { name: 'js', use: { ...chromium, javaScriptEnabled: true } },
    // Every flow must work before (or without) the wasm: run the flow specs with JavaScript off.
    { name: 'no-js', testMatch: /(forms|flows|sessions|deadline|mail|password)\.spec\.ts/, use: { ...chromium, javaScriptEnabled: false } },
  ],
  webServer: [{
    command: `/usr/bin/python3 ../scripts/smtp-sink.py ${smtpPort} ${dataDir}/mail`,
    port: smtpPort,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'ignore',
    stderr: 'pipe',
  }, {
    // The test command's build has the test clock (LATCHKEY_E2E_TEST_CLOCK=1): --test-clock lets
    // a browser context shift the clock it is served with (the x-latchkey-clock-shift header),
    // to stand after a deadline. A production build (scripts/screenshots.sh) refuses the flag.
    // Everything the server logs (at debug) goes to a file that global-teardown.ts scans for
    // the passwords, codes and keys the tests typed.
    command: `RUST_LOG=debug ${bin} --listen 127.0.0.1:${port} --public-url ${baseURL} --data-dir ${dataDir} --sign-ups-per-address 1000${testClock} --smtp-url smtp://127.0.0.1:${smtpPort} --mail-from 'Latchkey <no-reply@latchkey.test>' > ${dataDir}/server.log 2>&1`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  }],
});
