// The Content-Security-Policy as a browser enforces it: the console's own scripts (nonced
// hydration script, wasm) run with no violation, anything injected without the nonce does not.
import { expect, test } from '@playwright/test';
import { open, signUp, uniqueEmail } from './helpers';

test('the console runs under its CSP and injected scripts do not', async ({ page }, info) => {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (execute|load|apply)/i.test(m.text())) violations.push(m.text());
  });
  const res = await page.goto('/login');
  const csp = res!.headers()['content-security-policy'];
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}' 'wasm-unsafe-eval'/);
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).toContain("frame-ancestors 'none'");
  expect(res!.headers()['referrer-policy']).toBe('no-referrer');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);

  // A script an attacker manages to insert has no nonce: the browser refuses to run it.
  const ran = await page.evaluate(async () => {
    const s = document.createElement('script');
    s.textContent = 'window.__injected = true;';
    document.body.appendChild(s);
    await new Promise((r) => setTimeout(r, 100));
    return (window as unknown as { __injected?: boolean }).__injected === true;
  });
  expect(ran).toBe(false);
  expect(violations.length).toBeGreaterThan(0); // the refusal above, reported by the browser
  violations.length = 0;

  // The whole signed-in console hydrates without a single violation.
  await signUp(page, info, { account: 'Csp Co', name: 'Cy', email: uniqueEmail('csp') });
  await expect(page).toHaveURL(/\/$/);
  await open(page, '/profile', info);
  await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
  expect(violations).toEqual([]);
});
