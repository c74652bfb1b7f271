import * as crypto from 'node:crypto';
import {
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  verifyNothing,
  verifyPassword,
} from '../../../examples/iot/password';

// The real functions, wrapped so that a test can see which of them password.ts calls.
jest.mock('node:crypto', () => {
  const actual = jest.requireActual<typeof crypto>('node:crypto');
  return {
    ...actual,
    scrypt: jest.fn(actual.scrypt),
    scryptSync: jest.fn(actual.scryptSync),
    timingSafeEqual: jest.fn(actual.timingSafeEqual),
  };
});

const CHEAP = { N: 1024, r: 8, p: 1 };

describe('password', () => {
  beforeEach(() => {
    jest.clearAllMocks();
  });

  describe('hashPassword', () => {
    it("stores Node's default scrypt cost with the hash unless told otherwise", async () => {
      expect(DEFAULT_SCRYPT_PARAMS).toEqual({ N: 16384, r: 8, p: 1 });
      const hash = await hashPassword('secret');
      expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      expect(hash).not.toContain('secret');
      expect(await verifyPassword('secret', hash)).toBe(true);
    });

    it('salts each hash: one password hashed twice gives two different hashes', async () => {
      const a = await hashPassword('secret', CHEAP);
      const b = await hashPassword('secret', CHEAP);
      expect(a).not.toBe(b);
      expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
    });

    it("uses scrypt's asynchronous form, never the one that blocks the event loop", async () => {
      const async = jest.mocked(crypto.scrypt);
      const sync = jest.mocked(crypto.scryptSync);
      const hash = await hashPassword('secret', CHEAP);
      await verifyPassword('secret', hash);
      expect(async).toHaveBeenCalledTimes(2);
      expect(sync).not.toHaveBeenCalled();
    });
  });

  describe('verifyPassword', () => {
    it('accepts the right password and refuses any other', async () => {
      const hash = await hashPassword('secret', CHEAP);
      expect(await verifyPassword('secret', hash)).toBe(true);
      expect(await verifyPassword('Secret', hash)).toBe(false);
      expect(await verifyPassword('secret ', hash)).toBe(false);
      expect(await verifyPassword('', hash)).toBe(false);
    });

    it('verifies with the cost stored in the hash, whatever the current default', async () => {
      const hash = await hashPassword('secret', { N: 2048, r: 4, p: 2 });
      expect(hash.startsWith('scrypt$2048$4$2$')).toBe(true);
      expect(await verifyPassword('secret', hash)).toBe(true);
    });

    it('compares in constant time', async () => {
      const compare = jest.mocked(crypto.timingSafeEqual);
      const hash = await hashPassword('secret', CHEAP);
      await verifyPassword('secret', hash);
      expect(compare).toHaveBeenCalledTimes(1);
    });

    it.each([
      ['empty', ''],
      ['plain text', 'secret'],
      ['another scheme', 'bcrypt$1$2$3$abc$def'],
      ['a bad cost', 'scrypt$abc$8$1$c2FsdA==$a2V5'],
      ['a cost scrypt refuses', 'scrypt$1000$8$1$c2FsdA==$a2V5'],
      ['no key', 'scrypt$1024$8$1$c2FsdA==$'],
    ])('refuses a malformed hash (%s) instead of throwing', async (_what, hash) => {
      expect(await verifyPassword('secret', hash)).toBe(false);
    });
  });

  describe('verifyNothing', () => {
    it('runs one scrypt verification, so an unknown user costs what a wrong password does', async () => {
      await verifyNothing('warm-up');
      const derive = jest.mocked(crypto.scrypt);
      derive.mockClear();
      await verifyNothing('secret');
      expect(derive).toHaveBeenCalledTimes(1);
    });
  });
});
