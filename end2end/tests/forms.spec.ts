// Sign-up, sign-out and sign-in: run with JavaScript on and off (see playwright.config.ts).
import { expect, test } from '@playwright/test';
import { open, PASSWORD, signIn, signUp, uniqueEmail } from './helpers';

test('sign up shows the new account on the overview', async ({ page }, info) => {
  const email = uniqueEmail('owner');
  await signUp(page, info, { account: 'Acme Widgets', name: 'Ann Owner', email });
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('account-name')).toHaveText('Acme Widgets');
  await expect(page.getByTestId('role')).toHaveText('Owner');
});

test('sign out, protected page redirects, sign in again', async ({ page }, info) => {
  const email = uniqueEmail('cycle');
  await signUp(page, info, { account: 'Cycle Co', name: 'Cy Owner', email });
  await expect(page.getByTestId('account-name')).toHaveText('Cycle Co');

  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();

  await signIn(page, info, email);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('account-name')).toHaveText('Cycle Co');
});

test('a wrong password shows the error and opens no session', async ({ page, context }, info) => {
  const email = uniqueEmail('wrong');
  await signUp(page, info, { account: 'Wrong Co', name: 'Wes', email });
  await expect(page.getByTestId('account-name')).toHaveText('Wrong Co');
  await context.clearCookies();

  await signIn(page, info, email, 'not the right password');
  await expect(page.getByRole('alert')).toHaveText('Incorrect email or password.');
  await expect(page).toHaveURL(/\/login/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('bad sign-up input is explained next to its field', async ({ page }, info) => {
  await signUp(page, info, { account: 'Short Co', name: 'Sam', email: uniqueEmail('short'), password: 'short' });
  await expect(page.getByText('Use at least 12 characters.')).toBeVisible();
  await expect(page).toHaveURL(/\/signup/);

  const taken = uniqueEmail('taken');
  await signUp(page, info, { account: 'Taken Co', name: 'Tia', email: taken, password: PASSWORD });
  await expect(page.getByTestId('account-name')).toHaveText('Taken Co');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
  await signUp(page, info, { account: 'Again Co', name: 'Tia', email: taken, password: PASSWORD });
  await expect(page.getByText('This email is already registered. Sign in instead.')).toBeVisible();
});

test("the owner switches a user's 2FA in the Users table", async ({ page }, info) => {
  await signUp(page, info, { account: 'Switch Co', name: 'Sam Owner', email: uniqueEmail('switch-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  // The user is added through the server function (its form opens by script).
  const added = await page.request.post('/api/add_user', {
    form: { name: 'Sue Switch', email: uniqueEmail('switch-sue'), two_factor: 'false' },
    headers: { 'sec-fetch-site': 'same-origin', accept: 'application/json' },
  });
  expect(added.status()).toBe(200);
  await open(page, '/users', info);
  const sw = page.getByRole('switch', { name: 'Two-factor authentication for Sue Switch', exact: true });
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  // With the wasm the switch shows the new state before the server has it: wait for its answer.
  const saved = () => page.waitForResponse((r) => r.url().includes('/api/set_user_two_factor'));
  await Promise.all([saved(), sw.click()]);
  await expect(sw).toHaveAttribute('aria-checked', 'true');
  // Stored: a fresh load shows it on, set by the owner.
  await open(page, '/users', info);
  await expect(sw).toHaveAttribute('aria-checked', 'true');
  await Promise.all([saved(), sw.click()]);
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await open(page, '/users', info);
  await expect(sw).toHaveAttribute('aria-checked', 'false');
});
