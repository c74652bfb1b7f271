/**
 * Password hashing for the gateway's accounts (PROTOCOL.md §9.4): scrypt from `node:crypto`, a
 * fresh salt per password, and the cost parameters stored with the hash so they can be raised
 * later without breaking existing accounts. The book stored passwords in plain text (§9.3).
 *
 * The async `scrypt` runs on libuv's thread pool: a login never blocks the event loop that serves
 * every other connection.
 *
 * @packageDocumentation
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt's cost parameters. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelisation. */
  readonly p: number;
}

/**
 * The cost used for new passwords: Node's own default (N = 2^14, r = 8, p = 1), about 16 MiB and
 * a few tens of milliseconds per hash.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 16384, r: 8, p: 1 };

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const PREFIX = 'scrypt';

function derive(
  password: string,
  salt: Buffer,
  params: ScryptParams,
  keyBytes: number,
): Promise<Buffer> {
  // 128 * N * r is scrypt's working set; without headroom over it Node refuses the larger costs.
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, { ...params, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

/**
 * Hashes a password as `scrypt$N$r$p$<salt base64>$<key base64>`.
 *
 * @param password - The plain password.
 * @param params - The cost; {@link DEFAULT_SCRYPT_PARAMS} unless given.
 * @returns The encoded hash, safe to store.
 */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return [
    PREFIX,
    params.N,
    params.r,
    params.p,
    salt.toString('base64'),
    key.toString('base64'),
  ].join('$');
}

/**
 * Checks a password against a hash made by {@link hashPassword}, comparing in constant time.
 * A malformed hash verifies as false rather than throwing.
 *
 * @param password - The password offered at login.
 * @param encoded - The stored hash.
 * @returns Whether the password matches.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  const salt = Buffer.from(parts[4] as string, 'base64');
  const expected = Buffer.from(parts[5] as string, 'base64');
  if (expected.length === 0) return false;
  let key: Buffer;
  try {
    key = await derive(password, salt, { N, r, p }, expected.length);
  } catch {
    return false;
  }
  return timingSafeEqual(key, expected);
}

let dummy: Promise<string> | undefined;

/**
 * Spends the time of one verification on nothing, so that an unknown user name takes as long to
 * refuse as a wrong password (the refusal does not tell which one was wrong).
 *
 * @param password - The password offered at login.
 */
export async function verifyNothing(password: string): Promise<void> {
  dummy ??= hashPassword('\u0000no account\u0000');
  await verifyPassword(password, await dummy);
}
