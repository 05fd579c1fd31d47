// Every flow that changes something, run with JavaScript on and off (see playwright.config.ts):
// without the wasm, switches and buttons are real form controls, each step is a page, and the
// page a form returns to shows what it did (recovery codes, a link, "Saved.") once.
import { expect, test } from '@playwright/test';
import { acceptInvite, addUser, open, signUp, uniqueEmail } from './helpers';
import { codeAt, enrollFromPanel } from './two-factor-helpers';

const REQUIRE = 'Require two-factor authentication at login';

test('the owner requires 2FA, setting up her own authenticator on the way, and stops requiring it', async ({ page }, info) => {
  await signUp(page, info, { account: 'Rule Co', name: 'Rita Owner', email: uniqueEmail('rule-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await open(page, '/settings/security', info);
  const sw = page.getByRole('switch', { name: REQUIRE, exact: true });
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await expect(page.getByRole('button', { name: 'Save', exact: true })).toBeDisabled();

  await sw.click();
  await expect(sw).toHaveAttribute('aria-checked', 'true');
  await expect(page.getByText('When you save, you will be asked for an authentication code at login.')).toBeVisible();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  // She has no second factor: the requirement takes effect once hers is set up.
  await expect(page.getByText('the requirement takes effect when it is set up.')).toBeVisible();
  const { key } = await enrollFromPanel(page);
  await expect(page.getByRole('heading', { name: 'Recovery codes' })).toHaveCount(0);
  await open(page, '/settings/security', info);
  await expect(sw).toHaveAttribute('aria-checked', 'true');

  // Turning it off asks for a code; Cancel changes nothing.
  await sw.click();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Stop requiring two-factor authentication' })).toBeVisible();
  await page.getByRole('link', { name: 'Cancel' }).click();
  await expect(sw).toHaveAttribute('aria-checked', 'true');
  await expect(page.getByRole('button', { name: 'Stop requiring two-factor authentication' })).toHaveCount(0);

  await sw.click();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  // With the wasm, Save moves focus to the code it asks for.
  const scripted = info.project.name !== 'no-js';
  if (scripted) await expect(page.getByLabel('Authentication code')).toBeFocused();
  // A wrong code is explained next to the field and changes nothing.
  await page.getByLabel('Authentication code').fill('000000');
  await page.getByRole('button', { name: 'Stop requiring two-factor authentication' }).click();
  await expect(page.getByText('That code is not valid. Check your authenticator app and try again.')).toBeVisible();
  await page.getByLabel('Authentication code').fill(codeAt(key, 30));
  await page.getByRole('button', { name: 'Stop requiring two-factor authentication' }).click();
  const saved = page.getByRole('status').filter({ hasText: 'Saved.' });
  await expect(saved).toBeVisible();
  // ... and the confirmation to the status that says it was saved.
  if (scripted) await expect(saved).toBeFocused();
  await open(page, '/settings/security', info);
  await expect(sw).toHaveAttribute('aria-checked', 'false');
});

test('the owner adds a user, switches their 2FA, resets it and removes them, confirming each', async ({ page }, info) => {
  await signUp(page, info, { account: 'Team Co', name: 'Tom Owner', email: uniqueEmail('team-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  const email = uniqueEmail('team-ada');
  const link = await addUser(page, 'Ada Admin', email, 'false', true);
  expect(link).toContain('/invite/');
  await open(page, '/users', info);
  const row = page.getByTestId(`user-${email}`);
  const sw = page.getByRole('switch', { name: 'Two-factor authentication for Ada Admin', exact: true });
  // Created with the switch turned on.
  await expect(sw).toHaveAttribute('aria-checked', 'true');
  // The switch shows the asked state at once; the page is loaded again once the server saved it.
  const saved = page.waitForResponse((r) => r.url().includes('/api/set_user_two_factor'));
  await sw.click();
  await saved;
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await open(page, '/users', info);
  await expect(sw).toHaveAttribute('aria-checked', 'false');

  // Reset: asked first, by name; Cancel leaves everything as it was.
  await page.getByRole('button', { name: 'Reset two-factor authentication for Ada Admin' }).click();
  await expect(page.getByText("Reset Ada Admin's two-factor authentication?", { exact: false })).toBeVisible();
  await page.getByRole('link', { name: 'Cancel' }).click();
  await expect(page.getByText("Reset Ada Admin's two-factor authentication?", { exact: false })).toHaveCount(0);
  await expect(row.getByText('Invitation pending')).toBeVisible();
  await page.getByRole('button', { name: 'Reset two-factor authentication for Ada Admin' }).click();
  await page.getByRole('button', { name: "Reset Ada Admin's two-factor authentication" }).click();
  await expect(page.getByTestId('setup-link')).toContainText('/setup/');

  await open(page, '/users', info);
  await page.getByRole('button', { name: 'Remove user Ada Admin' }).click();
  await expect(page.getByText('Remove Ada Admin? They lose access to the account at once.')).toBeVisible();
  await page.getByRole('button', { name: 'Remove Ada Admin', exact: true }).click();
  await expect(row).toHaveCount(0);
  await open(page, '/users', info);
  await expect(row).toHaveCount(0);
});

test('a user turns 2FA on in Profile, regenerates the recovery codes and turns it off', async ({ page }, info) => {
  await signUp(page, info, { account: 'Self Co', name: 'Sol Owner', email: uniqueEmail('self-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await open(page, '/profile', info);
  const sw = page.getByRole('switch', { name: 'Two-factor authentication', exact: true });
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await sw.click();
  // Three codes in a row: each must be of a later 30-second step than the one before.
  const { key, codes } = await enrollFromPanel(page, -30);
  await expect(sw).toHaveAttribute('aria-checked', 'true');

  await page.getByRole('button', { name: 'Regenerate recovery codes' }).click();
  await page.getByLabel('Authentication code').fill(codeAt(key, 0));
  await page.getByRole('button', { name: 'Regenerate recovery codes' }).click();
  await expect(page.getByRole('heading', { name: 'Recovery codes' })).toBeVisible();
  const fresh = (await page.locator('.recovery-codes li').allInnerTexts()).map((c) => c.trim());
  expect(fresh).toHaveLength(10);
  expect(fresh.filter((c) => codes.includes(c))).toHaveLength(0);
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download' }).click();
  await download;
  await page.getByRole('button', { name: 'I have saved my recovery codes' }).click();
  await expect(page.getByRole('heading', { name: 'Recovery codes' })).toHaveCount(0);

  await sw.click();
  await page.getByLabel('Authentication code').fill(codeAt(key, 30));
  await page.getByRole('button', { name: 'Turn off' }).click();
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await open(page, '/profile', info);
  await expect(sw).toHaveAttribute('aria-checked', 'false');
});

test('a new user whose 2FA is on sets it up while signing in', async ({ page, browser }, info) => {
  await signUp(page, info, { account: 'Join Co', name: 'Jo Owner', email: uniqueEmail('join-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  const link = await addUser(page, 'Jay Joiner', uniqueEmail('join-jay'), 'false', true);
  const jay = await acceptInvite(browser, link, info);
  await expect(jay).toHaveURL(/\/login\/verify/);
  await expect(jay.getByTestId('enroll-message')).toContainText('requires two-factor authentication');
  await enrollFromPanel(jay);
  await expect(jay).toHaveURL(/\/$/);
  await expect(jay.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(jay.getByTestId('two-factor-state')).toHaveText('On');
});

test('the owner filters the audit log by event type and by user', async ({ page }, info) => {
  const lou = uniqueEmail('log-owner');
  const lee = uniqueEmail('log-lee');
  await signUp(page, info, { account: 'Log Co', name: 'Lou Owner', email: lou });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await addUser(page, 'Lee Logged', lee, 'false');
  await open(page, '/audit', info);
  const events = page.getByRole('region', { name: 'Audit events' });
  await expect(events.getByText('Account created')).toBeVisible();
  await expect(events.getByText('User added')).toBeVisible();

  // With the wasm a filter applies as it changes; without, the Filter button sends the form.
  const apply = async () => {
    if (info.project.name === 'no-js') await page.getByRole('button', { name: 'Filter' }).click();
  };
  await page.getByLabel('Event type').selectOption({ label: 'User added' });
  await apply();
  await expect(page).toHaveURL(/\/audit\?event=user\.added(&user=0)?$/);
  await expect(events.getByText('User added')).toBeVisible();
  await expect(events.getByText('Account created')).toHaveCount(0);
  // The filter is in the address: a reload keeps it.
  await open(page, page.url(), info);
  await expect(page.getByLabel('Event type')).toHaveValue('user.added');
  await expect(events.getByText('Account created')).toHaveCount(0);

  await page.getByLabel('Event type').selectOption({ label: 'All events' });
  await page.getByLabel('User').selectOption({ label: `Lou Owner (${lou})` });
  await apply();
  await expect(events.getByText('Account created')).toBeVisible();
  await expect(events.getByText('User added')).toBeVisible();
  await page.getByLabel('User').selectOption({ label: `Lee Logged (${lee})` });
  await apply();
  await expect(events.getByText('Account created')).toHaveCount(0);
  await expect(events.getByText('User added')).toBeVisible();
  // Nothing to show is said.
  await page.getByLabel('Event type').selectOption({ label: 'Lockout' });
  await apply();
  await expect(events.getByText('No events match these filters.')).toBeVisible();
});
