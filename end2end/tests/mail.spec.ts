import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { open, PASSWORD, signUp, uniqueEmail } from './helpers';

/** A message the suite's SMTP server (scripts/smtp-sink.py) received. */
type Mail = { to: string[]; subject: string; text: string; html: string };

/** Every message sent to `address` so far, in order. */
function mailsTo(address: string): Mail[] {
  const dir = join(process.env.LATCHKEY_E2E_DATA ?? '', 'mail');
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as Mail)
    .filter((m) => m.to.includes(address));
}

test('the owner sends an invitation by email, and the user joins from the mailed link', async ({ page, browser }, info) => {
  const owner = uniqueEmail('mail-owner');
  const invitee = uniqueEmail('mail-invitee');
  await signUp(page, info, { account: 'Mailco', name: 'Mia Owner', email: owner });
  await expect(page.getByTestId('role')).toHaveText('Owner');

  // Settings tells the owner that mail is on, and from whom it comes.
  await page.getByRole('link', { name: 'Settings & Security', exact: true }).click();
  await expect(page.getByTestId('mail-status')).toHaveText('Security email is sent from Latchkey <no-reply@latchkey.test>.');

  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await page.getByRole('button', { name: 'Add user' }).click();
  const form = page.locator('section', { has: page.getByRole('heading', { name: 'Add user' }) });
  await form.getByLabel('Name').fill('Ines Invited');
  await form.getByLabel('Email').fill(invitee);
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('invitation-link')).toBeVisible();
  await page.getByRole('button', { name: 'Send invitation by email' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Sent to Ines Invited at ${invitee}.` })).toBeVisible();

  let mail: Mail | undefined;
  await expect
    .poll(() => {
      mail = mailsTo(invitee)[0];
      return mail?.subject;
    }, { timeout: 15_000 })
    .toBe('[Mailco] You are invited to Mailco');
  expect(mail!.text).toContain('Hello Ines Invited,');
  const link = mail!.text.split(/\s+/).find((w) => w.includes('/invite/'));
  expect(link).toMatch(/^http:\/\/localhost:\d+\/invite\/[A-Za-z0-9_-]{43}$/);

  const ctx = await browser.newContext();
  const invited = await ctx.newPage();
  await open(invited, new URL(link!).pathname, info);
  await invited.getByLabel('Password').fill(PASSWORD);
  await invited.getByRole('button', { name: 'Set password' }).click();
  await expect(invited.getByTestId('role')).toHaveText('Admin');
  await ctx.close();
});
