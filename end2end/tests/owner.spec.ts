// The owner's controls: seed rules 2–8, reset and invitation, with codes from an independent TOTP library.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { chooseApp, codeAt, enrollFromPanel, signOut } from './two-factor-helpers';
import { acceptInvite, addUser, open, PASSWORD, signIn, signUp, uniqueEmail } from './helpers';

async function requireTwoFactor(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Settings & Security' }).click();
  await expect(page.getByRole('heading', { name: 'Settings & Security' })).toBeVisible();
  // The header marks the page you are on, also after the router's in-page navigation.
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Settings & Security' })).toHaveAttribute('aria-current', 'page');
  await expect(nav.getByRole('link', { name: 'Overview', exact: true })).not.toHaveAttribute('aria-current', /./);
  const sw = page.getByRole('switch', { name: 'Require two-factor authentication at login' });
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await sw.click();
  await expect(page.getByText('will be asked for an authentication code at login')).toBeVisible();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
}

test('owner requires 2FA: completes it via the QR; Add user then starts ON; admin must enroll and cannot turn it off', async ({ page, browser }, info) => {
  // Three or four people, each signing in (Argon2) in a browser of their own: 20–32 s on a
  // shared 2-core machine, so these two get three times the default 30 s.
  test.slow();
  const owner = uniqueEmail('req-owner');
  await signUp(page, info, { account: 'Required Co', name: 'Olive Owner', email: owner });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview', exact: true })).toHaveAttribute('aria-current', 'page');

  // Before: Add user starts OFF while the account does not require 2FA.
  const adminEmail = uniqueEmail('req-admin');
  const invite = await addUser(page, 'Adam Admin', adminEmail, 'false');

  await requireTwoFactor(page);
  const { key } = await enrollFromPanel(page);
  await expect(page.getByText('Saved.')).toBeVisible();
  await expect(page.getByRole('switch', { name: 'Require two-factor authentication at login' })).toHaveAttribute('aria-checked', 'true');

  // Rule 5: the Add user switch now starts ON.
  await addUser(page, 'Nina New', uniqueEmail('req-new'), 'true');

  // Rule 4: the admin (invited before) must enroll right after the password.
  const admin = await acceptInvite(browser, invite, info);
  await expect(admin).toHaveURL(/\/login\/verify$/);
  await enrollFromPanel(admin);
  await expect(admin).toHaveURL(/\/$/);
  // Rule 8: Profile switch disabled with the note.
  await admin.getByRole('link', { name: 'Profile', exact: true }).click();
  const sw = admin.getByRole('switch', { name: 'Two-factor authentication' });
  await expect(sw).toBeDisabled();
  await expect(sw).toHaveAttribute('aria-checked', 'true');
  await expect(admin.getByText('Contact your account owner to turn it off.', { exact: false })).toBeVisible();
  await admin.context().close();

  // The owner's own next sign-in asks for a token.
  await signOut(page);
  await signIn(page, info, owner);
  await expect(page).toHaveURL(/\/login\/verify$/);
  await page.getByLabel('Authentication code').fill(codeAt(key, 30));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/$/);
  // The owner's Overview: who is protected, who is pending (Nina has not accepted yet).
  await expect(page.getByTestId('protected-count')).toHaveText('2 of 3 users are protected by two-factor authentication.');
  await expect(page.getByText('Nina New (', { exact: false })).toBeVisible();

  // The audit log shows the policy change and the enrollments.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  // Events read in the filter's words, with their key in a tooltip.
  await expect(page.locator('table.audit')).toContainText('Policy change');
  await expect(page.locator('table.audit')).toContainText('Enrollment');
  await expect(page.locator('table.audit')).toContainText('User added');
  await expect(page.locator('table.audit [title="user.added"]').first()).toHaveText('User added');
});

test('abandoning the QR leaves the requirement off', async ({ page }, info) => {
  await signUp(page, info, { account: 'Abandon Co', name: 'Abe', email: uniqueEmail('abandon') });
  await requireTwoFactor(page);
  await chooseApp(page);
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.reload();
  await expect(page.getByRole('switch', { name: 'Require two-factor authentication at login' })).toHaveAttribute('aria-checked', 'false');
});

test('exceptions: an exempted admin signs in without a token; an admin turned on must enroll; reset needs the setup link', async ({ page, browser }, info) => {
  // Three or four people, each signing in (Argon2) in a browser of their own: 20–32 s on a
  // shared 2-core machine, so these two get three times the default 30 s.
  test.slow();
  const owner = uniqueEmail('exc-owner');
  await signUp(page, info, { account: 'Exceptions Co', name: 'Ora', email: owner });

  // Rule 6, ON while the account is OFF: must enroll at next sign-in.
  const onEmail = uniqueEmail('exc-on');
  const onInvite = await addUser(page, 'Otto On', onEmail, 'false', true);
  const onUser = await acceptInvite(browser, onInvite, info);
  await expect(onUser).toHaveURL(/\/login\/verify$/);
  const { key } = await enrollFromPanel(onUser);
  await expect(onUser).toHaveURL(/\/$/);
  await onUser.context().close();

  // Require 2FA for the account; exempt one admin (OFF while ON).
  const offEmail = uniqueEmail('exc-off');
  const offInvite = await addUser(page, 'Effie Exempt', offEmail, 'false');
  const offUser = await acceptInvite(browser, offInvite, info);
  await expect(offUser).toHaveURL(/\/$/);
  await offUser.context().close();
  await requireTwoFactor(page);
  await enrollFromPanel(page);
  await expect(page.getByText('Saved.')).toBeVisible();
  // Required now: the owner's session was upgraded by its own enrollment.
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  const row = page.getByTestId(`user-${offEmail}`);
  // Each row's switch carries its user's name: one switch of that name on the page.
  const effie = page.getByRole('switch', { name: 'Two-factor authentication for Effie Exempt', exact: true });
  await expect(effie).toHaveCount(1);
  await expect(effie).toHaveAttribute('aria-checked', 'true');
  // Off while required exempts her: the console says what that means before it happens.
  await effie.click();
  await expect(row.getByRole('group')).toContainText('Effie Exempt will sign in with only a password');
  await row.getByRole('button', { name: 'Exempt Effie Exempt', exact: true }).click();
  await expect(effie).toHaveAttribute('aria-checked', 'false');
  await expect(row).toContainText('Exempt: signs in with only a password');
  // Where the requirement is stated, she is named.
  await page.getByRole('link', { name: 'Settings & Security' }).click();
  await expect(page.getByTestId('requirement')).toHaveText(
    'Two-factor authentication is required for everyone except Effie Exempt, who signs in with only a password.',
  );
  await page.getByRole('link', { name: 'Users', exact: true }).click();

  const exempt = await (await browser.newContext()).newPage();
  await signIn(exempt, info, offEmail);
  await expect(exempt).toHaveURL(/\/$/);
  await exempt.context().close();

  // Reset the enrolled admin: password alone is refused, the setup link re-enrolls.
  const onRow = page.getByTestId(`user-${onEmail}`);
  // The reset asks first, naming the person; Cancel changes nothing.
  const askReset = page.getByRole('button', { name: 'Reset two-factor authentication for Otto On', exact: true });
  await askReset.click();
  await expect(onRow.getByRole('group')).toContainText("Reset Otto On's two-factor authentication?");
  const confirmReset = onRow.getByRole('button', { name: "Reset Otto On's two-factor authentication", exact: true });
  await expect(confirmReset).toBeFocused();
  await onRow.getByRole('link', { name: 'Cancel' }).click();
  await expect(askReset).toBeFocused();
  await expect(page.getByTestId('setup-link')).toHaveCount(0);
  await expect(onRow).toContainText('Set up');
  await askReset.click();
  await confirmReset.click();
  const setupLink = (await page.getByTestId('setup-link').innerText()).trim();
  // The row says where Otto stands at once, without a reload.
  await expect(onRow).toContainText('Reset, waiting for setup');
  expect(setupLink).toMatch(/\/setup\/[A-Za-z0-9_-]{43}$/);
  const reset = await (await browser.newContext()).newPage();
  await signIn(reset, info, onEmail);
  await expect(reset.getByRole('alert')).toContainText('Use the setup link from your account owner');
  await open(reset, new URL(setupLink).pathname, info);
  await reset.getByLabel('Password').fill(PASSWORD);
  await reset.getByRole('button', { name: 'Continue' }).click();
  await expect(reset).toHaveURL(/\/login\/verify$/);
  await expect(reset.getByTestId('enroll-message')).toContainText('Your two-factor authentication was reset by Ora on ');
  const again = await enrollFromPanel(reset);
  expect(again.key).not.toEqual(key);
  await expect(reset).toHaveURL(/\/$/);
  await reset.context().close();

  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.locator('table.audit')).toContainText('2FA reset');
  await expect(page.locator('table.audit')).toContainText('Per-user 2FA change');
});

test('users: removing asks first and names the person; the list exports as CSV', async ({ page }, info) => {
  await signUp(page, info, { account: 'Export Co', name: 'Oona Owner', email: uniqueEmail('exp-owner') });
  const adaEmail = uniqueEmail('exp-ada');
  await addUser(page, 'Ada Admin', adaEmail, 'false');
  // A name a spreadsheet would run as a formula.
  const formulaEmail = uniqueEmail('exp-formula');
  await addUser(page, '=HYPERLINK("http://evil.example","x")', formulaEmail, 'false', true);

  // Remove: a question that names Ada, focus on its button; Cancel keeps her.
  const ada = page.getByTestId(`user-${adaEmail}`);
  const askRemove = page.getByRole('button', { name: 'Remove user Ada Admin', exact: true });
  await askRemove.click();
  await expect(ada.getByRole('group')).toContainText('Remove Ada Admin?');
  const confirmRemove = page.getByRole('button', { name: 'Remove Ada Admin', exact: true });
  await expect(confirmRemove).toBeFocused();
  await ada.getByRole('link', { name: 'Cancel' }).click();
  await expect(askRemove).toBeFocused();
  await page.reload();
  await expect(ada).toHaveCount(1);

  // The export: a CSV file named for the day, every user, the formula written as text.
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Export CSV' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^latchkey-users-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = readFileSync(await file.path(), 'utf8');
  const lines = csv.trim().split('\n');
  expect(lines[0]).toBe('"Name","Email","Role","Two-factor authentication","Source","Set by","Set at","Methods","Authenticator","Set up by","Last sign-in"');
  expect(lines).toHaveLength(4);
  expect(csv).toContain(`"Ada Admin","${adaEmail}","Admin","Off",`);
  expect(csv).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")","${formulaEmail}","Admin","On","owner","Oona Owner",`);

  // Confirmed, Ada is gone.
  await askRemove.click();
  await confirmRemove.click();
  await expect(ada).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId(`user-${formulaEmail}`)).toHaveCount(1);
  await expect(ada).toHaveCount(0);

  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.locator('table.audit')).toContainText('Users exported');
  await expect(page.locator('table.audit')).toContainText('User removed');
});

test('a link to hand over is copied with one click, and a new one voids the one sent before', async ({ page, context, browser }, info) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signUp(page, info, { account: 'Links Co', name: 'Lin Owner', email: uniqueEmail('links-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.getByLabel('Name').fill('Nia New');
  await page.getByLabel('Email').fill(uniqueEmail('links-nia'));
  await page.getByRole('button', { name: 'Create user' }).click();
  const panel = page.locator('section.hand-over');
  // The panel takes focus, says whom the link is for, and copies it.
  await expect(panel).toBeFocused();
  await expect(panel).toContainText('Nia New was added.');
  const first = (await page.getByTestId('invitation-link').innerText()).trim();
  await panel.getByRole('button', { name: 'Copy link' }).click();
  await expect(panel.getByRole('status')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(first);
  await panel.getByRole('button', { name: 'Done' }).click();
  await expect(panel).toHaveCount(0);

  // Lost the link? A new one, and the first stops working.
  await page.getByRole('button', { name: 'New invitation link for Nia New' }).click();
  await expect(panel).toContainText('A new invitation link for Nia New; the one sent before no longer works');
  const second = (await page.getByTestId('invitation-link').innerText()).trim();
  expect(second).not.toEqual(first);
  const stale = await (await browser.newContext()).newPage();
  await open(stale, new URL(first).pathname, info);
  await stale.getByLabel('Password').fill(PASSWORD);
  await stale.getByRole('button', { name: 'Set password' }).click();
  await expect(stale.getByRole('alert').first()).toContainText('This link is not valid any more');
  await expect(stale).toHaveURL(/\/invite\//);
  await stale.context().close();
  const nia = await acceptInvite(browser, second, info);
  await expect(nia).toHaveURL(/\/$/);
});
