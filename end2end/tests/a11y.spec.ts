// Every page for every person: axe-core finds no serious or critical WCAG 2.1 A/AA violation, at
// desktop width and on a 390 px phone, and no page scrolls sideways on the phone.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { addUser, open, signUp, uniqueEmail } from './helpers';
import { chooseApp } from './two-factor-helpers';

const WIDTHS = [
  { name: 'desktop', width: 1280, height: 900 },
  { name: 'phone', width: 390, height: 844 },
];

async function check(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  const bad = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(bad, `${what}: ${bad.join('\n')}`).toEqual([]);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${what} scrolls sideways by ${overflow} px`).toBeLessThanOrEqual(0);
}

for (const size of WIDTHS) {
  test(`no serious accessibility violations, ${size.name}`, async ({ page }, info) => {
    await page.setViewportSize({ width: size.width, height: size.height });
    for (const path of ['/login', '/signup']) {
      await open(page, path, info);
      await check(page, `${path} (${size.name})`);
    }
    await signUp(page, info, { account: 'Axe Co', name: 'Ada Owner', email: uniqueEmail(`axe-${size.name}`) });
    await expect(page.getByTestId('role')).toHaveText('Owner');
    await page.setViewportSize({ width: 1280, height: 900 });
    await addUser(page, 'Ben Admin', uniqueEmail(`axe-ben-${size.name}`), 'false');
    await page.setViewportSize({ width: size.width, height: size.height });
    if (size.width < 640) {
      // The header's links fold behind Menu, which opens them and says so.
      await open(page, '/', info);
      const menu = page.getByRole('button', { name: 'Menu' });
      await expect(page.getByRole('link', { name: 'Users', exact: true })).toBeHidden();
      await menu.click();
      await expect(menu).toHaveAttribute('aria-expanded', 'true');
      await page.getByRole('link', { name: 'Users', exact: true }).click();
      await expect(page.getByRole('heading', { name: 'Users', exact: true })).toBeVisible();
      await expect(menu).toHaveAttribute('aria-expanded', 'false');
    }
    for (const path of ['/', '/users', '/settings/security', '/audit', '/profile']) {
      await open(page, path, info);
      await check(page, `${path} (${size.name})`);
    }
    // The requirement's impact preview and the enrollment panel.
    await open(page, '/settings/security', info);
    await page.getByRole('switch', { name: 'Require two-factor authentication at login' }).click();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect(page.getByRole('button', { name: 'Set up an authenticator app' })).toBeVisible();
    await check(page, `enrollment choice (${size.name})`);
    await chooseApp(page);
    await check(page, `enrollment (${size.name})`);
  });
}

/** Presses Tab until the focused element is `name` (by its accessible name); at most 60 times. */
async function tabTo(page: Page, role: 'button' | 'switch' | 'link' | 'textbox', name: string): Promise<void> {
  const target = page.getByRole(role, { name, exact: true });
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
  }
  throw new Error(`Tab never reached the ${role} "${name}"`);
}

test('the owner adds, switches and removes a user with the keyboard alone', async ({ page }, info) => {
  await signUp(page, info, { account: 'Keys Co', name: 'Kim Owner', email: uniqueEmail('keys-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await open(page, '/users', info);

  await tabTo(page, 'button', 'Add user');
  await page.keyboard.press('Enter');
  // The form opens with focus in its first field.
  await expect(page.getByRole('textbox', { name: 'Name' })).toBeFocused();
  await page.keyboard.type('Kai Keys');
  await page.keyboard.press('Tab');
  const email = uniqueEmail('keys-kai');
  await page.keyboard.type(email);
  await tabTo(page, 'button', 'Create user');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('invitation-link')).toBeVisible();
  await tabTo(page, 'button', 'Done');
  await page.keyboard.press('Enter');

  const sw = page.getByRole('switch', { name: 'Two-factor authentication for Kai Keys', exact: true });
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await tabTo(page, 'switch', 'Two-factor authentication for Kai Keys');
  await page.keyboard.press('Space');
  await expect(sw).toHaveAttribute('aria-checked', 'true');

  await tabTo(page, 'button', 'Remove user Kai Keys');
  await page.keyboard.press('Enter');
  // Focus is on the confirming button: Enter removes.
  await expect(page.getByRole('button', { name: 'Remove Kai Keys', exact: true })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId(`user-${email}`)).toHaveCount(0);
});
