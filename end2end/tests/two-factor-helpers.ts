import { expect, type Page } from '@playwright/test';
import * as OTPAuth from 'otpauth';
import { remember } from './helpers';

/** The code an authenticator app shows for `setupKey`, `offsetSeconds` from now. */
export function codeAt(setupKey: string, offsetSeconds = 0): string {
  const totp = new OTPAuth.TOTP({
    secret: OTPAuth.Secret.fromBase32(setupKey.replace(/\s+/g, '')),
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
  });
  const code = totp.generate({ timestamp: Date.now() + offsetSeconds * 1000 });
  remember(code);
  return code;
}

/** In an open enrollment panel, chooses the authenticator app where passkeys are offered too. */
export async function chooseApp(page: Page): Promise<void> {
  const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
  const choose = page.getByRole('button', { name: 'Set up an authenticator app' });
  await expect(qr.or(choose).first()).toBeVisible();
  if (await choose.isVisible()) await choose.click();
  await expect(qr).toBeVisible();
}

/** Completes an open enrollment panel: the app chosen, QR shown, code from the setup key,
 * recovery codes saved. */
export async function enrollFromPanel(page: Page, offsetSeconds = 0): Promise<{ key: string; codes: string[] }> {
  const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
  await chooseApp(page);
  await expect.poll(() => qr.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  const key = (await page.getByTestId('setup-key').innerText()).trim();
  expect(key.replace(/\s+/g, '')).toMatch(/^[A-Z2-7]{32}$/);
  await page.getByLabel('Authentication code').fill(codeAt(key, offsetSeconds));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('heading', { name: 'Recovery codes' })).toBeVisible();
  const codes = (await page.locator('.recovery-codes li').allInnerTexts()).map((c) => c.trim());
  expect(codes).toHaveLength(10);
  remember(key.replace(/\s+/g, ''), ...codes);
  // The codes are kept (downloaded) before the console lets the person go on.
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download' }).click();
  await download;
  await page.getByRole('button', { name: 'I have saved my recovery codes' }).click();
  return { key, codes };
}

export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
}
