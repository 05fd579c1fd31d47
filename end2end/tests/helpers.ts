import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type Browser, type Page, type TestInfo } from '@playwright/test';

let counter = 0;
export function uniqueEmail(tag: string): string {
  counter += 1;
  return `${tag}-${Date.now()}-${process.pid}-${counter}@example.com`;
}

export const PASSWORD = 'correct horse battery';

/** Notes a secret the test typed or saw, for the log scan in global-teardown.ts. */
export function remember(...secrets: string[]): void {
  const dir = process.env.LATCHKEY_E2E_DATA;
  if (dir) appendFileSync(join(dir, 'typed-secrets.txt'), secrets.map((s) => `${s}\n`).join(''));
}

/** Opens a page and, with JavaScript on, waits until the wasm has hydrated it. */
export async function open(page: Page, path: string, info: TestInfo): Promise<void> {
  await page.goto(path);
  if (info.project.name !== 'no-js') {
    await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  }
}

export async function signUp(
  page: Page,
  info: TestInfo,
  who: { account: string; name: string; email: string; password?: string },
): Promise<void> {
  await open(page, '/signup', info);
  await page.getByLabel('Account name').fill(who.account);
  await page.getByLabel('Your name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password ?? PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

export async function signIn(page: Page, info: TestInfo, email: string, password = PASSWORD): Promise<void> {
  await open(page, '/login', info);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Adds a user on the Users page; returns the invitation link. */
export async function addUser(page: Page, name: string, email: string, expectSwitch: 'true' | 'false', setTo?: boolean): Promise<string> {
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Users', exact: true })).toBeVisible();
  await page.getByRole('button', { name: 'Add user' }).click();
  const form = page.locator('section', { has: page.getByRole('heading', { name: 'Add user' }) });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Email').fill(email);
  const toggle = form.getByRole('switch', { name: 'Two-factor authentication' });
  if (expectSwitch === 'true') await expect(toggle).toBeChecked();
  else await expect(toggle).not.toBeChecked();
  if (setTo !== undefined && String(setTo) !== expectSwitch) await toggle.click();
  await form.getByRole('button', { name: 'Create user' }).click();
  const link = (await page.getByTestId('invitation-link').innerText()).trim();
  expect(link).toMatch(/^https?:\/\/[^/]+\/invite\/[A-Za-z0-9_-]{43}$/);
  // With the wasm the form stays open with the link; without, the page shows it once.
  const done = page.getByRole('button', { name: 'Done' });
  if (await done.count()) await done.click();
  return link;
}

/** Accepts an invitation in a fresh browser; returns that page. */
export async function acceptInvite(browser: Browser, link: string, info: TestInfo): Promise<Page> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await open(page, new URL(link).pathname, info);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Set password' }).click();
  return page;
}
