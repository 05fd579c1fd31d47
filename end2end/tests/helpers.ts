import { expect, type Page, type TestInfo } from '@playwright/test';

let counter = 0;
export function uniqueEmail(tag: string): string {
  counter += 1;
  return `${tag}-${Date.now()}-${process.pid}-${counter}@example.com`;
}

export const PASSWORD = 'correct horse battery';

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
