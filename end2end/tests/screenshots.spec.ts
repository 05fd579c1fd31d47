// The README's pictures of the console, taken from a real run: `scripts/screenshots.sh` sets
// LATCHKEY_SCREENSHOTS to the folder they go to. Skipped in the test suite.
import { expect, test } from '@playwright/test';
import { join } from 'node:path';
import { addUser, open, signUp } from './helpers';

// Each run of scripts/screenshots.sh starts on a fresh database: the people can keep their names.

const dir = process.env.LATCHKEY_SCREENSHOTS;

test('screenshots of the main pages', async ({ page }, info) => {
  test.skip(!dir || info.project.name !== 'js', 'only from scripts/screenshots.sh');
  await page.setViewportSize({ width: 1100, height: 760 });
  await open(page, '/login', info);
  await page.screenshot({ path: join(dir!, 'sign-in.png') });
  await signUp(page, info, { account: 'Acme Analytics', name: 'Olga Owner', email: 'olga@acme.example' });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await addUser(page, 'Ada Admin', 'ada@acme.example', 'false');
  await addUser(page, 'Ben Builder', 'ben@acme.example', 'false', true);
  await addUser(page, 'Cy Clerk', 'cy@acme.example', 'false');
  await open(page, '/', info);
  await expect(page.getByTestId('protection-picture')).toBeVisible();
  await page.screenshot({ path: join(dir!, 'overview.png'), fullPage: true });
  await open(page, '/users', info);
  await page.getByRole('button', { name: 'Remove user Ada Admin', exact: true }).click();
  await page.screenshot({ path: join(dir!, 'users.png'), fullPage: true });
  await open(page, '/settings/security', info);
  await page.getByRole('switch', { name: 'Require two-factor authentication at login' }).click();
  await page.screenshot({ path: join(dir!, 'settings-security.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await open(page, '/users', info);
  await page.screenshot({ path: join(dir!, 'users-phone.png'), fullPage: true });
});
