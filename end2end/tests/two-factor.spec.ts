// A user's own second factor, with codes computed here from the setup key shown on the page.
import { expect, test, type Page } from '@playwright/test';
import { acceptInvite, addUser, open, signIn, signUp, uniqueEmail } from './helpers';
import { codeAt, enrollFromPanel, signOut } from './two-factor-helpers';

/** Turns 2FA on in Profile through the enrollment panel; returns the setup key and recovery codes. */
async function enrollInProfile(page: Page): Promise<{ key: string; codes: string[] }> {
  await page.getByRole('link', { name: 'Profile', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
  const toggle = page.getByRole('switch', { name: 'Two-factor authentication' });
  await expect(toggle).toHaveAttribute('aria-checked', 'false');
  await toggle.click();
  const result = await enrollFromPanel(page);
  await expect(toggle).toHaveAttribute('aria-checked', 'true');
  return result;
}

test('turn 2FA on in Profile, then sign in with password and code; the code works once', async ({ page, browser }, info) => {
  const email = uniqueEmail('tfa');
  await signUp(page, info, { account: 'Two Factor Co', name: 'Tess', email });
  await expect(page.getByTestId('two-factor-state')).toHaveText('Off');
  const { key } = await enrollInProfile(page);
  await signOut(page);

  await signIn(page, info, email);
  await expect(page).toHaveURL(/\/login\/verify$/);
  const code = codeAt(key, 30);
  await page.getByLabel('Authentication code').fill(code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('two-factor-state')).toHaveText('On');

  // The same code in another browser is refused.
  const other = await browser.newContext();
  const p2 = await other.newPage();
  await signIn(p2, info, email);
  await expect(p2).toHaveURL(/\/login\/verify$/);
  await p2.getByLabel('Authentication code').fill(code);
  await p2.getByRole('button', { name: 'Verify' }).click();
  await expect(p2.getByText('That code was already used.', { exact: false })).toBeVisible();
  await p2.goto('/');
  await expect(p2).toHaveURL(/\/login$/);
  await other.close();
});

test('a recovery code signs in once', async ({ page, context }, info) => {
  const email = uniqueEmail('recovery');
  await signUp(page, info, { account: 'Recovery Co', name: 'Rey', email });
  const { codes } = await enrollInProfile(page);
  await signOut(page);

  for (const attempt of ['first', 'second']) {
    await signIn(page, info, email);
    await expect(page).toHaveURL(/\/login\/verify$/);
    await page.getByRole('link', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').fill(codes[0]);
    await page.getByRole('button', { name: 'Verify' }).click();
    if (attempt === 'first') {
      await expect(page).toHaveURL(/\/$/);
      await signOut(page);
    } else {
      await expect(page.getByText('That recovery code is not valid or was already used.')).toBeVisible();
    }
  }
  await context.clearCookies();
});

test('five wrong codes lock the code check', async ({ page }, info) => {
  const email = uniqueEmail('lock');
  await signUp(page, info, { account: 'Lock Co', name: 'Lou', email });
  const { key } = await enrollInProfile(page);
  await signOut(page);
  await signIn(page, info, email);
  await expect(page).toHaveURL(/\/login\/verify$/);
  const right = codeAt(key, 30);
  const wrong = right === '000000' ? '111111' : '000000';
  for (let i = 1; i <= 5; i++) {
    await page.getByLabel('Authentication code').fill(wrong);
    await page.getByRole('button', { name: 'Verify' }).click();
    if (i < 5) {
      await expect(page.getByText('That code is not valid.', { exact: false })).toBeVisible();
    }
  }
  await expect(page.getByRole('alert')).toContainText('Too many attempts. Try again in');
  // Even the right code is refused while locked.
  await page.getByLabel('Authentication code').fill(right);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('alert')).toContainText('Too many attempts. Try again in');
  await expect(page).toHaveURL(/\/login\/verify$/);
});

test('the QR endpoint answers 404 without a session', async ({ request }) => {
  const res = await request.get('/two-factor/qr.svg');
  expect(res.status()).toBe(404);
  expect(res.headers()['cache-control']).toBe('no-store');
});

test('an admin turns 2FA on in Profile (seed rule 7) and off again with a current code', async ({ page, browser }, info) => {
  await signUp(page, info, { account: 'Admin Profile Co', name: 'Pat Owner', email: uniqueEmail('ap-owner') });
  const adminEmail = uniqueEmail('ap-admin');
  const invite = await addUser(page, 'Ada Admin', adminEmail, 'false');
  const admin = await acceptInvite(browser, invite, info);
  await expect(admin).toHaveURL(/\/$/);
  await expect(admin.getByTestId('role')).toHaveText('Admin');
  // The admin's Overview is made from who they are alone: loaded again, it is the server's kept
  // copy of its first render with a fresh nonce, and it hydrates like a render.
  await open(admin, '/', info);
  await expect(admin.getByTestId('two-factor-state')).toHaveText('Off');
  const { key } = await enrollInProfile(admin);
  // Who they are now, not the copy kept of them before.
  await open(admin, '/', info);
  await expect(admin.getByTestId('two-factor-state')).toHaveText('On');
  await admin.getByRole('link', { name: 'Profile', exact: true }).click();
  await expect(admin.getByRole('heading', { name: 'Profile' })).toBeVisible();
  // Off again: needs a current code.
  await admin.getByRole('switch', { name: 'Two-factor authentication' }).click();
  await admin.getByLabel('Authentication code').fill(codeAt(key, 30));
  await admin.getByRole('button', { name: 'Turn off' }).click();
  await expect(admin.getByRole('switch', { name: 'Two-factor authentication' })).toHaveAttribute('aria-checked', 'false');
  await signOut(admin);
  await signIn(admin, info, adminEmail);
  await expect(admin).toHaveURL(/\/$/);
  await admin.context().close();
});
