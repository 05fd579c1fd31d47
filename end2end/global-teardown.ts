import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASSWORD } from './tests/helpers';

/**
 * After the whole suite: the server's log must not contain any password, code, setup key or
 * recovery code the tests typed or saw, nor any cookie value. 6-digit codes count only as whole
 * numbers outside the timestamp that starts each line (timestamps have 6-digit fractions).
 */
export default async function globalTeardown(): Promise<void> {
  const dir = process.env.LATCHKEY_E2E_DATA;
  if (!dir) throw new Error('LATCHKEY_E2E_DATA is not set');
  const log = readFileSync(join(dir, 'server.log'), 'utf8');
  const typed = join(dir, 'typed-secrets.txt');
  const secrets = new Set([PASSWORD]);
  if (existsSync(typed)) {
    for (const s of readFileSync(typed, 'utf8').split('\n')) if (s.trim()) secrets.add(s.trim());
  }
  const found: string[] = [];
  for (const line of log.split('\n')) {
    const body = line.slice(line.indexOf(' ') + 1);
    if (/latchkey_(session|pending|device)=/.test(body)) found.push(`cookie: ${line}`);
    for (const s of secrets) {
      const hit = /^\d{6}$/.test(s)
        ? new RegExp(`(^|[^0-9.])${s}($|[^0-9.])`).test(body)
        : body.includes(s);
      if (hit) found.push(`${JSON.stringify(s)}: ${line}`);
    }
  }
  if (found.length > 0) throw new Error(`secrets in the server log:\n${found.join('\n')}`);
  console.log(`log scan: ${log.length} bytes of server log, ${secrets.size} secrets, none found`);
  // Nor in any mail the console sent (scripts/smtp-sink.py keeps each as JSON).
  const mailDir = join(dir, 'mail');
  const mails = existsSync(mailDir) ? readdirSync(mailDir).filter((n) => n.endsWith('.json') && !n.startsWith('.')) : [];
  for (const name of mails) {
    const raw = readFileSync(join(mailDir, name), 'utf8');
    for (const s of secrets) {
      const hit = /^\d{6}$/.test(s) ? new RegExp(`(^|[^0-9.])${s}($|[^0-9.])`).test(raw) : raw.includes(s);
      if (hit) found.push(`${JSON.stringify(s)} in mail ${name}`);
    }
  }
  if (found.length > 0) throw new Error(`secrets in mail:\n${found.join('\n')}`);
  console.log(`mail scan: ${mails.length} mails, none holds a secret`);
}
