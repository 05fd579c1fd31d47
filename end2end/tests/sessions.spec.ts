// Sessions people can see and end: their own in Profile, and the owner's "Sign out everywhere"
// on Users, confirmed first. With JavaScript and without.
import { expect, test } from '@playwright/test';
import { acceptInvite, addUser, open, signIn, signUp, uniqueEmail } from './helpers';

test('a user sees where they are signed in and signs another browser out', async ({ page, browser }, info) => {
  const email = uniqueEmail('sessions');
  await signUp(page, info, { account: 'Session Co', name: 'Sam Owner', email });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  const other = await (await browser.newContext()).newPage();
  await signIn(other, info, email);
  await expect(other.getByRole('heading', { name: 'Overview' })).toBeVisible();

  await open(page, '/profile', info);
  const section = page.locator('section', { has: page.getByRole('heading', { name: 'Sessions' }) });
  const lines = section.getByRole('listitem');
  await expect(lines).toHaveCount(2);
  await expect(lines.filter({ hasText: 'This browser' })).toHaveCount(1);
  await expect(lines.first()).toContainText('last active');
  // Only the other browser has a Sign out of its own, named with its browser.
  const signOut = section.getByRole('button', { name: /^Sign out .+, signed in / });
  await expect(signOut).toHaveCount(1);
  await signOut.click();
  await expect(page.getByRole('status').filter({ hasText: /^Signed out of / })).toBeVisible();
  await expect(lines).toHaveCount(1);
  await expect(section.getByRole('button', { name: 'Sign out of all other sessions' })).toHaveCount(0);

  // That browser is signed out; this one is not.
  await other.reload();
  await expect(other).toHaveURL(/\/login/);
  await open(page, '/profile', info);
  await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
  await other.context().close();
});

test('the owner signs a user out everywhere, after confirming', async ({ page, browser }, info) => {
  await signUp(page, info, { account: 'Everywhere Co', name: 'Eve Owner', email: uniqueEmail('everywhere') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  const link = await addUser(page, 'Ada Admin', uniqueEmail('ada'), 'false');
  const ada = await acceptInvite(browser, link, info);
  await expect(ada).toHaveURL(/\/$/);

  await open(page, '/users', info);
  await page.getByRole('button', { name: 'Sign out everywhere for Ada Admin' }).click();
  await expect(page.getByText('Sign Ada Admin out everywhere?')).toBeVisible();
  // Cancel changes nothing.
  await page.getByRole('link', { name: 'Cancel' }).click();
  await expect(page.getByRole('button', { name: 'Sign out Ada Admin everywhere' })).toHaveCount(0);
  await ada.reload();
  await expect(ada).toHaveURL(/\/$/);

  await page.getByRole('button', { name: 'Sign out everywhere for Ada Admin' }).click();
  await page.getByRole('button', { name: 'Sign out Ada Admin everywhere' }).click();
  await expect(
    page.getByRole('status').filter({ hasText: 'Ada Admin was signed out everywhere (1 session ended).' }),
  ).toBeVisible();
  await ada.reload();
  await expect(ada).toHaveURL(/\/login/);
  await ada.context().close();
});
