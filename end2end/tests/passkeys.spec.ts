// Passkeys with Chromium's virtual authenticator (CDP WebAuthn): added in Profile, used at
// sign-in in place of a code, removed with a passkey or with a code; and a passkey as the only
// second factor of an invited user.
import { expect, test, type Page } from '@playwright/test';
import { acceptInvite, addUser, open, remember, signIn, signUp, uniqueEmail } from './helpers';
import { codeAt, enrollFromPanel, signOut } from './two-factor-helpers';

/** A platform authenticator with user verification, as a laptop's fingerprint reader. */
async function virtualAuthenticator(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}

test('a passkey added in Profile signs in in place of a code, and goes with a passkey or a code', async ({ page }, info) => {
  test.skip(info.project.name === 'no-js', 'passkeys need JavaScript');
  await virtualAuthenticator(page);
  const email = uniqueEmail('passkey-owner');
  await signUp(page, info, { account: 'Key Co', name: 'Kay Owner', email });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await open(page, '/profile', info);
  // An authenticator app first; then passkeys can be added.
  await expect(page.getByRole('heading', { name: 'Passkeys and security keys' })).toHaveCount(0);
  await page.getByRole('switch', { name: 'Two-factor authentication', exact: true }).click();
  const { key } = await enrollFromPanel(page, -30);
  const section = page.locator('section', { has: page.getByRole('heading', { name: 'Passkeys and security keys' }) });
  await expect(section).toContainText('No passkeys yet.');
  // A second factor is in use: adding one more asks for a current code (or a passkey) first.
  await section.getByRole('button', { name: 'Add a passkey' }).click();
  await expect(section.getByLabel('Passkey name')).toBeFocused();
  await section.getByLabel('Passkey name').fill('This laptop');
  await section.getByRole('button', { name: 'Continue' }).click();
  // Left empty, the code gives way to a passkey, and she has none yet.
  await expect(section.locator('.field-error')).toContainText('You have no passkey');
  await section.getByLabel('Authentication code').fill(codeAt(key, 0));
  await section.getByRole('button', { name: 'Continue' }).click();
  await expect(section.getByRole('status')).toHaveText('Passkey "This laptop" added.');
  await expect(section.locator('.passkey-name')).toHaveText(['This laptop']);

  // Sign in again: the password, then the passkey instead of a code.
  await signOut(page);
  await signIn(page, info, email);
  await expect(page).toHaveURL(/\/login\/verify$/);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();

  // Removing it asks for a code or a passkey: here the passkey itself.
  await open(page, '/profile', info);
  await expect(section).toContainText('last used');
  await section.getByRole('button', { name: 'Remove passkey This laptop' }).click();
  await expect(section.getByLabel('Authentication code')).toBeFocused();
  await section.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await expect(section.getByRole('status')).toHaveText('Passkey "This laptop" removed.');
  await expect(section).toContainText('No passkeys yet.');

  // Another one, confirmed with the app's next code; it goes confirmed with itself.
  await section.getByRole('button', { name: 'Add a passkey' }).click();
  await section.getByLabel('Passkey name').fill('Desk key');
  await section.getByLabel('Authentication code').fill(codeAt(key, 30));
  await section.getByRole('button', { name: 'Continue' }).click();
  await expect(section.locator('.passkey-name')).toHaveText(['Desk key']);
  await section.getByRole('button', { name: 'Remove passkey Desk key' }).click();
  await section.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await expect(section.getByRole('status')).toHaveText('Passkey "Desk key" removed.');
  await expect(section).toContainText('No passkeys yet.');
});

test('an invited user sets up a passkey as their only second factor and signs in with it', async ({ page, browser }, info) => {
  test.skip(info.project.name === 'no-js', 'passkeys need JavaScript');
  await signUp(page, info, { account: 'Pass Co', name: 'Pat Owner', email: uniqueEmail('pass-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  const email = uniqueEmail('pass-pia');
  const link = await addUser(page, 'Pia Passkey', email, 'false', true);
  const pia = await acceptInvite(browser, link, info);
  await virtualAuthenticator(pia);
  await expect(pia).toHaveURL(/\/login\/verify/);
  await expect(pia.getByTestId('enroll-message')).toContainText('add a passkey');
  // The choice: an authenticator app or a passkey. She takes the passkey.
  await expect(pia.getByRole('button', { name: 'Set up an authenticator app' })).toBeVisible();
  await pia.getByRole('button', { name: 'Add a passkey' }).click();
  await pia.getByLabel('Passkey name').fill('Pia laptop');
  await pia.getByRole('button', { name: 'Continue' }).click();
  await expect(pia.getByRole('heading', { name: 'Recovery codes' })).toBeFocused();
  const codes = (await pia.locator('.recovery-codes li').allInnerTexts()).map((c) => c.trim());
  expect(codes).toHaveLength(10);
  remember(...codes);
  const download = pia.waitForEvent('download');
  await pia.getByRole('link', { name: 'Download' }).click();
  await download;
  await pia.getByRole('button', { name: 'I have saved my recovery codes' }).click();
  await expect(pia).toHaveURL(/\/$/);
  await expect(pia.getByRole('heading', { name: 'Overview' })).toBeVisible();

  // The owner sees her method.
  await open(page, '/users', info);
  const row = page.getByRole('row', { name: /Pia Passkey/ });
  await expect(row).toContainText('1 passkey');

  // Next time: no code field, the passkey.
  await signOut(pia);
  await signIn(pia, info, email);
  await expect(pia).toHaveURL(/\/login\/verify$/);
  await expect(pia.getByLabel('Authentication code')).toHaveCount(0);
  await pia.getByRole('button', { name: 'Use a passkey' }).click();
  await expect(pia.getByRole('heading', { name: 'Overview' })).toBeVisible();

  // Her only passkey cannot go while it is her only second factor.
  await open(pia, '/profile', info);
  const section = pia.locator('section', { has: pia.getByRole('heading', { name: 'Passkeys and security keys' }) });
  await section.getByRole('button', { name: 'Remove passkey Pia laptop' }).click();
  await section.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await expect(section.getByRole('alert')).toContainText('only second factor');
  await expect(section.locator('.passkey-name')).toHaveText(['Pia laptop']);
});

test('the owner requires passkeys: a user with only an app code adds one before the Overview', async ({ page, browser }, info) => {
  test.skip(info.project.name === 'no-js', 'passkeys need JavaScript');
  await virtualAuthenticator(page);
  await signUp(page, info, { account: 'Phish Co', name: 'Phil Owner', email: uniqueEmail('phish-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  // The owner's own second factor: a passkey.
  await open(page, '/profile', info);
  await page.getByRole('switch', { name: 'Two-factor authentication', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Set up two-factor authentication' })).toBeFocused();
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByLabel('Passkey name').fill('Phil laptop');
  await page.getByRole('button', { name: 'Continue' }).click();
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download' }).click();
  await download;
  await page.getByRole('button', { name: 'I have saved my recovery codes' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Two-factor authentication is on.' })).toBeVisible();

  // Passkeys can be required only on top of 2FA: first that, confirmed with the passkey.
  await open(page, '/settings/security', info);
  const passkeysSwitch = page.getByRole('switch', { name: 'Require passkeys or security keys' });
  await expect(passkeysSwitch).toBeDisabled();
  await page.getByRole('switch', { name: 'Require two-factor authentication at login' }).click();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await expect(page.locator('#settings-saved')).toHaveText('Saved.');

  // Ida sets up an authenticator app.
  const email = uniqueEmail('phish-ida');
  const link = await addUser(page, 'Ida App', email, 'true');
  const ida = await acceptInvite(browser, link, info);
  const { key } = await enrollFromPanel(ida);
  await expect(ida.getByRole('heading', { name: 'Overview' })).toBeVisible();

  // The owner requires passkeys; the preview counts Ida.
  await open(page, '/settings/security', info);
  await expect(passkeysSwitch).toBeEnabled();
  await passkeysSwitch.click();
  await expect(page.getByText('1 user has only an authenticator app')).toBeVisible();
  const phishing = page.locator('section', { has: page.getByRole('heading', { name: 'Phishing-resistant sign-in' }) });
  await phishing.getByRole('button', { name: 'Apply passkey requirement' }).click();
  await phishing.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await expect(page.locator('#settings-saved')).toHaveText('Saved.');
  await open(page, '/settings/security', info);
  await expect(passkeysSwitch).toHaveAttribute('aria-checked', 'true');

  // Ida's session ended. Her code proves it is her; then she adds a passkey, and only then
  // reaches the Overview.
  await open(ida, '/', info);
  await expect(ida).toHaveURL(/\/login/);
  await virtualAuthenticator(ida);
  await signIn(ida, info, email);
  await ida.getByLabel('Authentication code').fill(codeAt(key, 30));
  await ida.getByRole('button', { name: 'Verify' }).click();
  await expect(ida.getByTestId('passkey-owed')).toContainText('requires a passkey or security key');
  await open(ida, '/', info);
  await expect(ida).toHaveURL(/\/login/);
  await open(ida, '/login/verify', info);
  await ida.getByRole('button', { name: 'Add a passkey' }).click();
  await ida.getByLabel('Passkey name').fill('Ida phone');
  await ida.getByRole('button', { name: 'Continue' }).click();
  await expect(ida.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await open(page, '/users', info);
  await expect(page.getByRole('row', { name: /Ida App/ })).toContainText('App, 1 passkey');
});
