import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { acceptInvite, addUser, open, PASSWORD, remember, signIn, signUp, uniqueEmail } from './helpers';
import { codeAt, enrollFromPanel } from './two-factor-helpers';

const NEW_PASSWORD = 'a brand new passphrase';

/** On a password link's page: sets `NEW_PASSWORD`, and lands on the sign-in page. */
async function setNewPassword(page: Page, info: TestInfo, link: string): Promise<void> {
  await open(page, new URL(link).pathname, info);
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Set new password' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your password was changed. Sign in with your new password.' })).toBeVisible();
  await expect(page).toHaveURL(/\/login\?password=changed$/);
}

test('the owner hands a password link; the new password still asks for the code', async ({ page, browser }, info) => {
  test.slow();
  remember(NEW_PASSWORD);
  const owner = uniqueEmail('pw-owner');
  const adam = uniqueEmail('pw-adam');
  await signUp(page, info, { account: 'Pass Co', name: 'Pia Owner', email: owner });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  const invite = await addUser(page, 'Adam Admin', adam, 'false', true);
  const admin = await acceptInvite(browser, invite, info);
  await expect(admin).toHaveURL(/\/login\/verify$/);
  const { key } = await enrollFromPanel(admin);
  await expect(admin).toHaveURL(/\/$/);

  // Users → Reset password, confirmed by name → the Password link.
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await page.getByRole('button', { name: 'Reset password for Adam Admin', exact: true }).click();
  await page.getByRole('button', { name: "Reset Adam Admin's password", exact: true }).click();
  const link = (await page.getByTestId('password-link').innerText()).trim();
  expect(link).toMatch(/^https?:\/\/[^/]+\/password\/reset\/[A-Za-z0-9_-]{43}$/);

  // Adam sets a new password in another browser: that signs nobody in; his session ends.
  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  await setNewPassword(other, info, link);
  await admin.reload();
  await expect(admin).toHaveURL(/\/login/);
  await admin.context().close();
  // The old password no longer works; the new one asks for the code.
  await signIn(other, info, adam);
  await expect(other.getByRole('alert').filter({ hasText: 'Incorrect email or password.' })).toBeVisible();
  await signIn(other, info, adam, NEW_PASSWORD);
  await expect(other).toHaveURL(/\/login\/verify$/);
  await other.getByLabel('Authentication code').fill(codeAt(key, 30));
  await other.getByRole('button', { name: 'Verify' }).click();
  await expect(other.getByTestId('role')).toHaveText('Admin');
  // The link worked once.
  const again = await ctx.newPage();
  await open(again, new URL(link).pathname, info);
  await again.getByLabel('New password', { exact: true }).fill('yet another passphrase');
  await again.getByLabel('Confirm new password').fill('yet another passphrase');
  await again.getByRole('button', { name: 'Set new password' }).click();
  await expect(again.getByText('This password link is not valid any more.', { exact: false })).toBeVisible();
  await ctx.close();
});

test('forgot password: the emailed link sets a new one', async ({ page, browser }, info) => {
  remember(NEW_PASSWORD);
  const owner = uniqueEmail('pw-forgot');
  await signUp(page, info, { account: 'Forgetful Co', name: 'Finn Owner', email: owner });
  await expect(page.getByTestId('role')).toHaveText('Owner');

  const ctx = await browser.newContext();
  const anon = await ctx.newPage();
  await open(anon, '/login', info);
  await anon.getByRole('link', { name: 'Forgot password?' }).click();
  await expect(anon).toHaveURL(/\/password\/forgot$/);
  await anon.getByLabel('Email').fill(owner);
  await anon.getByRole('button', { name: 'Send reset link' }).click();
  await expect(anon.getByTestId('reset-sent')).toContainText('If an account uses that email, a link to set a new password is on its way.');

  const dir = join(process.env.LATCHKEY_E2E_DATA ?? '', 'mail');
  let link: string | undefined;
  await expect
    .poll(() => {
      const mails = readdirSync(dir)
        .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
        .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as { to: string[]; subject: string; text: string })
        .filter((m) => m.to.includes(owner) && m.subject === '[Forgetful Co] Reset your password');
      link = mails[0]?.text.split(/\s+/).find((w) => w.includes('/password/reset/'));
      return link;
    }, { timeout: 15_000 })
    .toBeTruthy();

  await setNewPassword(anon, info, link!);
  await signIn(anon, info, owner, NEW_PASSWORD);
  await expect(anon.getByTestId('role')).toHaveText('Owner');
  // The owner's other browser was signed out.
  await page.reload();
  await expect(page).toHaveURL(/\/login/);
  await ctx.close();
});
