import type { Address } from '../types';

/**
 * An address as one short string: `127.0.0.1:8007`, `[::1]:8007` (brackets, as a URL writes an
 * IPv6 host), a Unix socket's path, a memory address's name. Shared by the wiretap's lines and the
 * metrics' `server` label, so a server reads the same in both; not public API.
 */
export function describeAddress(address: Address): string {
  switch (address._tag) {
    case 'TcpAddress':
      return address.family === 'IPv6'
        ? `[${address.hostname}]:${address.port}`
        : `${address.hostname}:${address.port}`;
    case 'UnixAddress':
      return address.path;
    case 'MemoryAddress':
      return address.name;
  }
}
