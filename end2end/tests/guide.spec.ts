// A console that guides (JavaScript on): focus follows each step, field errors are read out,
// enrollment goes in numbered steps, and recovery codes must be kept before going on.
import { expect, test, type Page } from '@playwright/test';
import { addUser, open, PASSWORD, signIn, signUp, uniqueEmail } from './helpers';
import { chooseApp, codeAt, enrollFromPanel } from './two-factor-helpers';

const REQUIRE_SWITCH = 'Require two-factor authentication at login';

const WIDTHS = [
  { name: 'desktop', width: 1280, height: 900 },
  { name: 'phone', width: 390, height: 844 },
];

/** Follows a header link; on a phone the links sit behind Menu. */
async function go(page: Page, name: string): Promise<void> {
  const menu = page.getByRole('button', { name: 'Menu' });
  if (await menu.isVisible()) await menu.click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
}

for (const size of WIDTHS) {
  test(`${size.name}: focus follows each step, and the keyboard skips to the content`, async ({ page }, info) => {
    await page.setViewportSize({ width: size.width, height: size.height });
    const fay = uniqueEmail('focus-owner');
    await signUp(page, info, { account: 'Focus Co', name: 'Fay Owner', email: fay });
    await expect(page.getByTestId('role')).toHaveText('Owner');
    await open(page, '/', info);
    // The first Tab reaches Skip to content, which takes focus to the page.
    await page.keyboard.press('Tab');
    await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(page.locator('main')).toBeFocused();

    // A navigation focuses the new page's heading.
    await go(page, 'Users');
    await expect(page.getByRole('heading', { name: 'Users', level: 1 })).toBeFocused();
    // Add user focuses its first field; Create user focuses the link to hand over.
    await page.getByRole('button', { name: 'Add user' }).click();
    await expect(page.getByLabel('Name')).toBeFocused();
    await page.getByLabel('Name').fill('Gus Guided');
    // Taken already: refused by the server.
    await page.getByLabel('Email').fill(fay);
    await page.getByRole('button', { name: 'Create user' }).click();
    // A refused field takes focus, described by its error.
    await expect(page.getByLabel('Email')).toBeFocused();
    await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');
    await page.getByLabel('Email').fill(uniqueEmail('focus-gus'));
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect(page.locator('section.hand-over')).toBeFocused();

    // Profile: the switch opens the enrollment and focuses its heading.
    await go(page, 'Profile');
    await expect(page.getByRole('heading', { name: 'Profile', level: 1 })).toBeFocused();
    const sw = page.getByRole('switch', { name: 'Two-factor authentication', exact: true });
    await sw.click();
    await expect(page.getByRole('heading', { name: 'Set up two-factor authentication' })).toBeFocused();
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await expect(page.getByRole('heading', { name: 'Set up your authenticator app' })).toBeFocused();
    // Three numbered steps; the setup key can be copied.
    await expect(page.locator('ol.steps > li')).toHaveCount(3);
    await expect(page.getByRole('button', { name: 'Copy setup key' })).toBeVisible();
    const key = (await page.getByTestId('setup-key').innerText()).trim();
    // A wrong code under the QR code: the field takes focus with its error.
    await page.getByLabel('Authentication code').fill('000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page.getByLabel('Authentication code')).toBeFocused();
    await expect(page.getByText('That code is not valid.', { exact: false })).toBeVisible();
    await page.getByLabel('Authentication code').fill(codeAt(key));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page.getByRole('heading', { name: 'Recovery codes' })).toBeFocused();
    // Cancel is gone once the authenticator is set up; the switch still says what is in effect.
    await expect(page.getByRole('link', { name: 'Cancel' })).toHaveCount(0);

    // The codes must be kept before going on: Download does it.
    const saved = page.getByRole('button', { name: 'I have saved my recovery codes' });
    await expect(saved).toBeDisabled();
    await expect(page.getByText('Download, copy or print them first.')).toBeVisible();
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download' }).click();
    expect((await download).suggestedFilename()).toBe('latchkey-recovery-codes.txt');
    await expect(saved).toBeEnabled();
    await saved.click();
    const on = page.getByRole('status').filter({ hasText: 'Two-factor authentication is on.' });
    await expect(on).toBeFocused();
    await expect(sw).toHaveAttribute('aria-checked', 'true');
  });

  test(`${size.name}: Copy keeps the recovery codes and says so`, async ({ page, context }, info) => {
    await page.setViewportSize({ width: size.width, height: size.height });
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await signUp(page, info, { account: 'Copy Co', name: 'Cal Owner', email: uniqueEmail('copy-owner') });
    await expect(page.getByTestId('role')).toHaveText('Owner');
    await open(page, '/profile', info);
    await page.getByRole('switch', { name: 'Two-factor authentication', exact: true }).click();
    await chooseApp(page);
    const key = (await page.getByTestId('setup-key').innerText()).trim();
    await page.getByLabel('Authentication code').fill(codeAt(key));
    await page.getByRole('button', { name: 'Verify' }).click();
    const saved = page.getByRole('button', { name: 'I have saved my recovery codes' });
    await expect(saved).toBeDisabled();
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Copied' })).toBeVisible();
    const codes = (await page.locator('.recovery-codes li').allInnerTexts()).map((c) => c.trim());
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(codes.join('\n'));
    await expect(saved).toBeEnabled();
    // At 390 px each code stays on one line.
    await page.setViewportSize({ width: 390, height: 844 });
    const heights = await page.locator('.recovery-codes li').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
    expect(Math.max(...heights)).toBeLessThan(2 * Math.min(...heights));
  });

  test(`${size.name}: the code page focuses its field and lets someone else sign in instead`, async ({ page, browser }, info) => {
    await page.setViewportSize({ width: size.width, height: size.height });
    const email = uniqueEmail('notyou-owner');
    await signUp(page, info, { account: 'Shared Co', name: 'Sam Owner', email });
    await expect(page.getByTestId('role')).toHaveText('Owner');
    await open(page, '/profile', info);
    await page.getByRole('switch', { name: 'Two-factor authentication', exact: true }).click();
    await chooseApp(page);
    const key = (await page.getByTestId('setup-key').innerText()).trim();
    await page.getByLabel('Authentication code').fill(codeAt(key));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('link', { name: 'Download' }).click();
    await page.getByRole('button', { name: 'I have saved my recovery codes' }).click();

    const other = await (await browser.newContext()).newPage();
    await signIn(other, info, email, PASSWORD);
    await expect(other).toHaveURL(/\/login\/verify$/);
    await expect(other.getByLabel('Authentication code')).toBeFocused();
    await other.getByRole('button', { name: 'Sign in as someone else' }).click();
    await expect(other).toHaveURL(/\/login$/);
    // The half sign-in is over: its page sends the browser to sign in.
    await other.goto('/login/verify');
    await expect(other).toHaveURL(/\/login$/);
    await other.context().close();
  });
}

/** WCAG relative luminance of a CSS rgb()/rgba() colour. */
function luminance(css: string): number {
  const [r, g, b] = (css.match(/[\d.]+/g) ?? ['0', '0', '0']).slice(0, 3).map((v) => Number(v) / 255);
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

test('controls stand out from what is behind them: 3:1 (WCAG 1.4.11)', async ({ page }, info) => {
  await signUp(page, info, { account: 'Contrast Co', name: 'Cora Owner', email: uniqueEmail('contrast-owner') });
  await expect(page.getByTestId('role')).toHaveText('Owner');
  await open(page, '/users', info);
  await page.getByRole('button', { name: 'Add user' }).click();
  const measured = await page.evaluate(() => {
    const style = (sel: string) => getComputedStyle(document.querySelector(sel) as Element);
    const behind = (sel: string) => {
      let el = (document.querySelector(sel) as Element).parentElement;
      while (el) {
        const bg = getComputedStyle(el).backgroundColor;
        if (bg && !bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') return bg;
        el = el.parentElement;
      }
      return 'rgb(255, 255, 255)';
    };
    return {
      input: [style('#field-name').borderTopColor, behind('#field-name')],
      checkbox: [style('#new-user-2fa').backgroundColor, behind('#new-user-2fa')],
      rowSwitch: [style('table .switch').backgroundColor, behind('table .switch')],
      focus: [style('body').getPropertyValue('--brand').trim(), getComputedStyle(document.body).backgroundColor],
    };
  });
  for (const [what, [fg, bg]] of Object.entries(measured)) {
    const hex = fg.startsWith('#') ? fg : null;
    const color = hex
      ? `rgb(${parseInt(hex.slice(1, 3), 16)}, ${parseInt(hex.slice(3, 5), 16)}, ${parseInt(hex.slice(5, 7), 16)})`
      : fg;
    expect(contrast(color, bg), `${what}: ${fg} on ${bg}`).toBeGreaterThanOrEqual(3);
  }
});

for (const size of WIDTHS) {
  test(`${size.name}: after saving, the console says what follows and links to where to act`, async ({ page, browser }, info) => {
    await signUp(page, info, { account: 'Next Co', name: 'Nell Owner', email: uniqueEmail('next-owner') });
    await expect(page.getByTestId('role')).toHaveText('Owner');
    const email = uniqueEmail('next-ned');
    const link = await addUser(page, 'Ned Next', email, 'false');
    // The invitation says which account and which email.
    const ned = await (await browser.newContext()).newPage();
    await open(ned, new URL(link).pathname, info);
    await expect(ned.getByTestId('invitation-for')).toHaveText(`You were invited to Next Co on Latchkey. You will sign in as ${email}.`);
    await ned.context().close();

    await page.setViewportSize({ width: size.width, height: size.height });
    await open(page, '/settings/security', info);
    // A disabled Save says why.
    const save = page.getByRole('button', { name: 'Save', exact: true });
    await expect(save).toBeDisabled();
    await expect(save).toHaveAccessibleDescription('Nothing to save yet: turn the switch to change the setting.');
    await page.getByRole('switch', { name: REQUIRE_SWITCH, exact: true }).click();
    await save.click();
    await enrollFromPanel(page);
    await open(page, '/settings/security', info);
    const follow = page.getByTestId('follow-up');
    await expect(follow).toContainText('Required since ');
    await expect(follow).toContainText('1 user still has to set up a second factor at their next sign-in.');
    await follow.getByRole('link', { name: 'See who on Users' }).click();
    await expect(page.getByRole('heading', { name: 'Users', level: 1 })).toBeVisible();
    // The owner's own row points to where theirs is changed.
    await page.getByRole('link', { name: 'Change yours in Profile.' }).click();
    await expect(page.getByRole('heading', { name: 'Profile', level: 1 })).toBeVisible();
    await go(page, 'Overview');
    await page.getByRole('link', { name: 'Manage users' }).click();
    await expect(page.getByRole('heading', { name: 'Users', level: 1 })).toBeVisible();
  });
}

for (const size of WIDTHS) {
  test(`${size.name}: an exemption is said before it happens and named where the requirement is stated`, async ({ page }, info) => {
    test.slow();
    await page.setViewportSize({ width: size.width, height: size.height });
    await signUp(page, info, { account: 'Exempt Co', name: 'Eve Owner', email: uniqueEmail('ex-owner') });
    await expect(page.getByTestId('role')).toHaveText('Owner');
    // The requirement on, with the owner's own authenticator.
    await open(page, '/settings/security', info);
    await page.getByRole('switch', { name: REQUIRE_SWITCH, exact: true }).click();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await enrollFromPanel(page);
    // Ben, added while it is required, has it on.
    await go(page, 'Users');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByLabel('Name').fill('Ben Exempt');
    await page.getByLabel('Email').fill(uniqueEmail('ex-ben'));
    await page.getByRole('button', { name: 'Create user' }).click();
    const panel = page.locator('section.hand-over');
    await expect(panel).toBeFocused();
    // The link panel is on screen, not off to the side of a card.
    const box = await panel.boundingBox();
    expect(box && box.x >= 0 && box.x + box.width <= size.width).toBeTruthy();
    await panel.getByRole('button', { name: 'Done' }).click();
    const sw = page.getByRole('switch', { name: 'Two-factor authentication for Ben Exempt', exact: true });
    await expect(sw).toHaveAttribute('aria-checked', 'true');
    await sw.click();
    const question = page.getByRole('group').filter({ hasText: 'Exempt Ben Exempt from the account' });
    await expect(question).toContainText('Ben Exempt will sign in with only a password');
    await expect(page.getByRole('button', { name: 'Exempt Ben Exempt', exact: true })).toBeFocused();
    await page.getByRole('button', { name: 'Exempt Ben Exempt', exact: true }).click();
    await expect(sw).toHaveAttribute('aria-checked', 'false');
    await expect(page.getByText('Exempt: signs in with only a password')).toBeVisible();
    await go(page, 'Overview');
    await expect(page.getByTestId('requirement')).toHaveText(
      'Two-factor authentication is required for everyone except Ben Exempt, who signs in with only a password.',
    );
  });

  test(`${size.name}: a link to hand over is copied and can be replaced`, async ({ page, context }, info) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.setViewportSize({ width: size.width, height: size.height });
    await signUp(page, info, { account: 'Hand Co', name: 'Hal Owner', email: uniqueEmail('hand-owner') });
    await expect(page.getByTestId('role')).toHaveText('Owner');
    await go(page, 'Users');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByLabel('Name').fill('Ida Invited');
    await page.getByLabel('Email').fill(uniqueEmail('hand-ida'));
    await page.getByRole('button', { name: 'Create user' }).click();
    const panel = page.locator('section.hand-over');
    const first = (await page.getByTestId('invitation-link').innerText()).trim();
    await panel.getByRole('button', { name: 'Copy link' }).click();
    await expect(panel.getByRole('status')).toHaveText('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(first);
    await panel.getByRole('button', { name: 'Done' }).click();
    // The row says where Ida stands, and offers a new link.
    await expect(page.getByTestId(/^user-hand-ida/)).toContainText('Invitation pending');
    await page.getByRole('button', { name: 'New invitation link for Ida Invited' }).click();
    await expect(panel).toContainText('A new invitation link for Ida Invited; the one sent before no longer works');
    expect((await page.getByTestId('invitation-link').innerText()).trim()).not.toEqual(first);
  });
}
