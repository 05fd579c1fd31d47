// A deadline to set up 2FA, with JavaScript and without: before it a new user signs in with the
// password and sees a banner on every page; a browser whose clock is shifted past it (the test
// server's --test-clock, per browser context) must set up first. **Set up now** ends it.
import { expect, test } from '@playwright/test';
import { acceptInvite, addUser, open, PASSWORD, signIn, signUp, uniqueEmail } from './helpers';
import { codeAt, enrollFromPanel } from './two-factor-helpers';

const DAY = 86_400;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** The UTC day `days` from now: as a date field takes it, and in words. */
function dayFromNow(days: number): { iso: string; words: string } {
  const d = new Date(Date.now() + days * DAY * 1000);
  return { iso: d.toISOString().slice(0, 10), words: `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}` };
}

test('before the deadline a banner asks to set up; after it, sign-in requires it', async ({ page, browser }, info) => {
  await signUp(page, info, { account: 'Later Co', name: 'Lea Owner', email: uniqueEmail('later-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  // Require 2FA (the owner sets up her own app on the way), then give everyone ten days.
  await open(page, '/settings/security', info);
  await page.getByRole('switch', { name: 'Require two-factor authentication at login', exact: true }).click();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const owner = await enrollFromPanel(page);
  await open(page, '/settings/security', info);
  const by = dayFromNow(10);
  await page.getByLabel('Enroll by').fill(by.iso);
  await page.getByLabel('Days for new users to set up').fill('0');
  // A later deadline lets people in with a password for longer: it needs the owner's code.
  await page.getByLabel('Code to confirm').fill(codeAt(owner.key, 30));
  await page.getByRole('button', { name: 'Save deadline' }).click();
  await expect(page.getByText('Saved.').first()).toBeVisible();
  await open(page, '/settings/security', info);
  await expect(page.getByTestId('deadline-rule')).toContainText(`by ${by.words}`);
  await expect(page.getByLabel('Enroll by')).toHaveValue(by.iso);

  // Dee, added now, signs in with her password and is reminded on every page.
  const email = uniqueEmail('later-dee');
  const link = await addUser(page, 'Dee Later', email, 'true');
  const dee = await acceptInvite(browser, link, info);
  await expect(dee.getByRole('heading', { name: 'Overview' })).toBeVisible();
  const banner = dee.getByRole('region', { name: 'Two-factor authentication deadline' });
  await expect(banner).toContainText(`Set up two-factor authentication by ${by.words}.`);
  await open(dee, '/profile', info);
  await expect(banner).toBeVisible();
  await open(page, '/users', info);
  await expect(page.getByRole('row', { name: /Dee Later/ })).toContainText('Due in 10 days');
  await open(page, '/', info);
  await expect(page.getByTestId('protected-count')).toContainText('1 user is due to set it up before the deadline.');

  // Eleven days on (this browser's clock only), the password is not enough.
  const later = await browser.newContext({ extraHTTPHeaders: { 'x-latchkey-clock-shift': String(11 * DAY) } });
  const late = await later.newPage();
  await signIn(late, info, email, PASSWORD);
  await expect(late).toHaveURL(/\/login\/verify/);
  await expect(late.getByTestId('enroll-message')).toContainText('requires two-factor authentication');
  // Nine days on, it still is.
  const sooner = await browser.newContext({ extraHTTPHeaders: { 'x-latchkey-clock-shift': String(9 * DAY) } });
  const soon = await sooner.newPage();
  await signIn(soon, info, email, PASSWORD);
  await expect(soon.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(soon.getByRole('region', { name: 'Two-factor authentication deadline' })).toBeVisible();

  // Set up now: the enrollment in Profile; then no banner.
  await banner.getByRole('button', { name: 'Set up now' }).click();
  const { key } = await enrollFromPanel(dee);
  await expect(dee.getByRole('heading', { name: 'Profile' })).toBeVisible();
  await expect(banner).toHaveCount(0);
  await open(dee, '/', info);
  await expect(dee.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(banner).toHaveCount(0);
  // From now on a code is asked for, also before the deadline.
  const again = await (await browser.newContext({ extraHTTPHeaders: { 'x-latchkey-clock-shift': String(9 * DAY) } })).newPage();
  await signIn(again, info, email, PASSWORD);
  await expect(again).toHaveURL(/\/login\/verify/);
  await again.getByLabel('Authentication code').fill(codeAt(key, 9 * DAY));
  await again.getByRole('button', { name: 'Verify' }).click();
  await expect(again.getByRole('heading', { name: 'Overview' })).toBeVisible();
});
