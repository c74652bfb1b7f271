import { isIP } from 'node:net';
import { InvalidEndpointError } from '../errors';

/**
 * How long a client waits for a connection before failing, in seconds, the unit of an endpoint
 * string's `timeout=30` (as in Twisted). The `connectTimeout` option of `connect`, which overrides
 * it, is in milliseconds.
 *
 * @defaultValue 30
 */
export const DEFAULT_CONNECT_TIMEOUT = 30;

/**
 * How many not-yet-accepted connections the kernel queues. Node's default, not Twisted's 50: with
 * 50, a burst of a few hundred connects overflows the queue and the overflow waits seconds for SYN
 * retransmits (measured by the fan-out benchmark). `backlog=50` in the description restores Twisted's.
 *
 * @defaultValue 511
 */
export const DEFAULT_BACKLOG = 511;

/** A TCP server endpoint: `tcp:8007`, `tcp:port=8007:interface=127.0.0.1:backlog=1024`. */
export interface TcpServerEndpoint {
  /** Tells the kinds of {@link ServerEndpoint} apart. */
  readonly type: 'tcp';
  /** The port to listen on; 0 lets the kernel choose one. */
  readonly port: number;
  /** The address to bind; `''` is every IPv4 interface, as in Twisted's `TCP4ServerEndpoint`. */
  readonly interface: string;
  /**
   * How many not-yet-accepted connections the kernel queues: {@link DEFAULT_BACKLOG} (511) unless
   * `backlog=N` says otherwise.
   */
  readonly backlog: number;
}

/** A Unix socket server endpoint: `unix:/var/run/app.sock:mode=660`. */
export interface UnixServerEndpoint {
  /** Tells the kinds of {@link ServerEndpoint} apart. */
  readonly type: 'unix';
  /** The socket file to create. */
  readonly path: string;
  /**
   * How many not-yet-accepted connections the kernel queues: {@link DEFAULT_BACKLOG} (511) unless
   * `backlog=N` says otherwise.
   */
  readonly backlog: number;
  /** Permissions to give the socket file once bound; the umask decides when absent. */
  readonly mode?: number;
}

/** The lowest TLS version a TLS endpoint accepts. */
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * A TLS server endpoint: `ssl:8443:privateKey=key.pem:certKey=cert.pem` (TCP), or `tls:` wrapping
 * another stream endpoint, `tls:unix\:/run/app.sock:privateKey=key.pem:certKey=cert.pem`.
 */
export interface TlsServerEndpoint {
  /** Tells the kinds of {@link ServerEndpoint} apart. */
  readonly type: 'tls';
  /** The endpoint TLS runs over. */
  readonly inner: TcpServerEndpoint | UnixServerEndpoint;
  /**
   * A PEM file with the private key. Absent only when the keys come from `listen`'s `tls` option
   * (keys held in memory); `listen` refuses a TLS endpoint with neither.
   */
  readonly privateKey?: string;
  /**
   * A PEM file with the certificate (and any chain after it); Twisted's default is the
   * `privateKey` file, which may hold both.
   */
  readonly certKey?: string;
  /** A PEM file of intermediate certificates sent after the certificate. */
  readonly extraCertChain?: string;
  /**
   * A directory of `SERVERNAME.pem` files, each a private key and its certificate chain, chosen by
   * the client's SNI (as txsni does); a name without a file gets `privateKey`/`certKey`.
   */
  readonly sni?: string;
  /** ALPN protocols in order of preference (`alpn=h2,http/1.1`). */
  readonly alpn?: readonly string[];
  /** The lowest TLS version accepted. @defaultValue `'TLSv1.2'` */
  readonly minVersion: TlsMinVersion;
}

/**
 * A server endpoint behind a proxy that speaks the PROXY protocol (v1 or v2), in Twisted's
 * grammar: `haproxy:` followed by the endpoint it wraps, `haproxy:tcp:8080` or
 * `haproxy:ssl:8443:privateKey=key.pem`. Each connection's `remote` is the original client.
 */
export interface HaproxyServerEndpoint {
  /** Tells the kinds of {@link ServerEndpoint} apart. */
  readonly type: 'haproxy';
  /** The endpoint the proxy connects to. */
  readonly inner: TcpServerEndpoint | UnixServerEndpoint | TlsServerEndpoint;
}

/** Where a server listens. */
export type ServerEndpoint =
  TcpServerEndpoint | UnixServerEndpoint | TlsServerEndpoint | HaproxyServerEndpoint;

/** The endpoint whose socket a server binds: the innermost of a `haproxy:` or `tls:` endpoint. */
export function boundEndpoint(endpoint: ServerEndpoint): TcpServerEndpoint | UnixServerEndpoint {
  return endpoint.type === 'tcp' || endpoint.type === 'unix'
    ? endpoint
    : boundEndpoint(endpoint.inner);
}

/** A TCP client endpoint: `tcp:localhost:8007`, `tcp:host=example.org:port=80:timeout=30`. */
export interface TcpClientEndpoint {
  /** Tells the kinds of {@link ClientEndpoint} apart. */
  readonly type: 'tcp';
  /** A host name or an IP address. */
  readonly host: string;
  /** The server's port. */
  readonly port: number;
  /**
   * How long to wait for the connection, in seconds (as `timeout=` in the string). The
   * `connectTimeout` option of `connect`, in milliseconds, overrides it.
   */
  readonly timeout: number;
  /** A local address to connect from (Twisted's `bindAddress`). */
  readonly bindAddress?: string;
}

/** A Unix socket client endpoint: `unix:/var/run/app.sock`, `unix:path=/tmp/x.sock:timeout=5`. */
export interface UnixClientEndpoint {
  /** Tells the kinds of {@link ClientEndpoint} apart. */
  readonly type: 'unix';
  /** The server's socket file. */
  readonly path: string;
  /**
   * How long to wait for the connection, in seconds (as `timeout=` in the string). The
   * `connectTimeout` option of `connect`, in milliseconds, overrides it.
   */
  readonly timeout: number;
}

/**
 * A TLS client endpoint: `tls:host=example.org:port=443[:trustRoots=ca.pem]` or Twisted's older
 * `ssl:example.org:443[:caCertsDir=DIR]`. The server's certificate is always verified, against
 * `trustRoots` when given (a PEM file or a directory of them), else Node's bundled roots.
 */
export interface TlsClientEndpoint {
  /** Tells the kinds of {@link ClientEndpoint} apart. */
  readonly type: 'tls';
  /** A host name or an IP address. */
  readonly host: string;
  /** The server's port. */
  readonly port: number;
  /** How long to wait for the connection, in seconds, the handshake included. */
  readonly timeout: number;
  /** A local address to connect from (Twisted's `bindAddress`). */
  readonly bindAddress?: string;
  /** A PEM file, or a directory of PEM files, of the certificates to trust. */
  readonly trustRoots?: string;
  /** A client certificate (PEM file), with `privateKey`. */
  readonly certificate?: string;
  /** The client certificate's private key (PEM file). */
  readonly privateKey?: string;
  /** The name sent as SNI and checked against the certificate. @defaultValue the host, unless it is an IP address */
  readonly servername?: string;
  /** ALPN protocols to offer. */
  readonly alpn?: readonly string[];
  /** @defaultValue `'TLSv1.2'` */
  readonly minVersion: TlsMinVersion;
}

/** Where a client connects. */
export type ClientEndpoint = TcpClientEndpoint | UnixClientEndpoint | TlsClientEndpoint;

/**
 * Parses a server endpoint description in Twisted's grammar (`serverFromString`).
 *
 * Arguments are separated by `:` and are positional or `key=value`; `\` escapes the next
 * character, so `unix:C\:/x.sock` keeps its colon. Supported: `tcp:PORT[:interface=ADDR]
 * [:backlog=N]` and `unix:PATH[:backlog=N][:mode=OCTAL]`. A TCP server binds IPv4 (every interface
 * unless `interface` says otherwise), as Twisted's `TCP4ServerEndpoint` does. The backlog defaults
 * to {@link DEFAULT_BACKLOG} (511, Node's default), not Twisted's 50.
 *
 * ## Example
 * ```ts
 * import { serverFromString } from 'rxnet';
 *
 * serverFromString('tcp:port=8007:interface=127.0.0.1');
 * // { type: 'tcp', port: 8007, interface: '127.0.0.1', backlog: 511 }
 * ```
 *
 * @param description The endpoint description.
 * @returns The parsed endpoint.
 * @throws {@link InvalidEndpointError} when the description does not follow the grammar, names an
 * unknown type or keyword, or has a bad port or number.
 */
export function serverFromString(description: string): ServerEndpoint {
  // Twisted's haproxy parser takes the rest of the description, unescaped, as the wrapped endpoint.
  const haproxy = /^haproxy:/i.exec(description);
  if (haproxy !== null) {
    const inner = serverFromString(description.slice(haproxy[0].length));
    if (inner.type === 'haproxy') {
      throw new InvalidEndpointError(description, 'haproxy: cannot wrap another haproxy: endpoint');
    }
    return { type: 'haproxy', inner };
  }
  const { type, args, kwargs } = parseDescription(description);
  const fail = (reason: string): never => {
    throw new InvalidEndpointError(description, reason);
  };
  if (type === 'ssl' || type === 'tls') {
    const { privateKey, certKey, extraCertChain, sni, alpn, minVersion, ...rest } = kwargs;
    let inner: TcpServerEndpoint | UnixServerEndpoint;
    if (type === 'ssl') {
      const { port = positional(args, 0), interface: host = '', backlog, ...unknown } = rest;
      checkArgs(fail, args, 1, unknown);
      inner = {
        type: 'tcp',
        port: toPort(fail, port),
        interface: host,
        backlog: toInteger(fail, 'backlog', backlog, DEFAULT_BACKLOG),
      };
    } else {
      const { endpoint = positional(args, 0), ...unknown } = rest;
      checkArgs(fail, args, 1, unknown);
      if (endpoint === undefined) fail('tls: needs the endpoint it wraps, such as tls:tcp\\:8443');
      const wrapped = serverFromString(endpoint!);
      inner =
        wrapped.type === 'tcp' || wrapped.type === 'unix'
          ? wrapped
          : fail('tls: wraps a tcp: or unix: endpoint');
    }
    // Without privateKey= the keys come from listen's `tls` option, so nothing may name a file.
    if (privateKey === '') fail('privateKey= names no file');
    if (privateKey === undefined) {
      if (certKey !== undefined) fail('certKey= needs privateKey=');
      if (extraCertChain !== undefined) fail('extraCertChain= needs privateKey=');
      if (sni !== undefined) fail('sni= needs privateKey= for clients that ask for no known name');
    }
    const endpoint: TlsServerEndpoint = {
      type: 'tls',
      inner,
      ...(privateKey === undefined ? {} : { privateKey, certKey: certKey ?? privateKey }),
      minVersion: toMinVersion(fail, minVersion),
      ...(extraCertChain === undefined ? {} : { extraCertChain }),
      ...(sni === undefined ? {} : { sni }),
      ...(alpn === undefined ? {} : { alpn: toAlpn(fail, alpn) }),
    };
    return endpoint;
  }
  if (type === 'tcp') {
    const { port = positional(args, 0), interface: host = '', backlog, ...rest } = kwargs;
    checkArgs(fail, args, 1, rest);
    return {
      type,
      port: toPort(fail, port),
      interface: host,
      backlog: toInteger(fail, 'backlog', backlog, DEFAULT_BACKLOG),
    };
  }
  if (type === 'unix') {
    const { address = positional(args, 0), backlog, mode, lockfile: _lockfile, ...rest } = kwargs;
    checkArgs(fail, args, 1, rest);
    const endpoint: UnixServerEndpoint = {
      type,
      path: toPath(fail, address),
      backlog: toInteger(fail, 'backlog', backlog, DEFAULT_BACKLOG),
    };
    return mode === undefined ? endpoint : { ...endpoint, mode: toMode(fail, mode) };
  }
  return fail(
    `unknown endpoint type ${JSON.stringify(type)}; expected tcp, unix, ssl, tls or haproxy`,
  );
}

/**
 * Parses a client endpoint description in Twisted's grammar (`clientFromString`).
 *
 * Supported: `tcp:HOST:PORT`, `tcp:host=HOST:port=PORT[:timeout=SECONDS][:bindAddress=ADDR]` (and
 * mixes such as `tcp:HOST:port=PORT`), `unix:PATH[:timeout=SECONDS]` or `unix:path=PATH`. The
 * timeout is in seconds, as in Twisted, and defaults to {@link DEFAULT_CONNECT_TIMEOUT} seconds;
 * the `connectTimeout` option of `connect`, which overrides it, is in milliseconds.
 *
 * ## Example
 * ```ts
 * import { clientFromString } from 'rxnet';
 *
 * clientFromString('tcp:localhost:8007');
 * // { type: 'tcp', host: 'localhost', port: 8007, timeout: 30 }  (timeout in seconds)
 * ```
 *
 * @param description The endpoint description.
 * @returns The parsed endpoint.
 * @throws {@link InvalidEndpointError} when the description does not follow the grammar, names an
 * unknown type or keyword, lacks a host, port or path, or has a bad number.
 */
export function clientFromString(description: string): ClientEndpoint {
  const { type, args, kwargs } = parseDescription(description);
  const fail = (reason: string): never => {
    throw new InvalidEndpointError(description, reason);
  };
  if (type === 'tls' || type === 'ssl') {
    const hostFirst = args.length === 2 || kwargs['host'] === undefined;
    const {
      host = hostFirst ? positional(args, 0) : undefined,
      port = hostFirst ? positional(args, 1) : positional(args, 0),
      timeout,
      bindAddress,
      trustRoots,
      caCertsDir,
      certificate,
      certKey,
      privateKey,
      servername,
      alpn,
      minVersion,
      ...rest
    } = kwargs;
    checkArgs(fail, args, 2, rest);
    const roots = trustRoots ?? caCertsDir;
    const cert = certificate ?? certKey;
    if ((cert === undefined) !== (privateKey === undefined)) {
      fail('a client certificate needs both certificate= and privateKey=');
    }
    return {
      type: 'tls',
      host: host === undefined || host === '' ? fail('a host is required') : host,
      port: toPort(fail, port),
      timeout: toInteger(fail, 'timeout', timeout, DEFAULT_CONNECT_TIMEOUT),
      minVersion: toMinVersion(fail, minVersion),
      ...(bindAddress === undefined ? {} : { bindAddress }),
      ...(roots === undefined ? {} : { trustRoots: roots }),
      ...(cert === undefined ? {} : { certificate: cert, privateKey: privateKey! }),
      ...(servername === undefined ? {} : { servername }),
      ...(alpn === undefined ? {} : { alpn: toAlpn(fail, alpn) }),
    };
  }
  if (type === 'tcp') {
    // Twisted's _parseClientTCP: two positionals are host and port; one is the host, or the port
    // when host= is given.
    const hostFirst = args.length === 2 || kwargs['host'] === undefined;
    const {
      host = hostFirst ? positional(args, 0) : undefined,
      port = hostFirst ? positional(args, 1) : positional(args, 0),
      timeout,
      bindAddress,
      ...rest
    } = kwargs;
    checkArgs(fail, args, 2, rest);
    const endpoint: TcpClientEndpoint = {
      type,
      host: host === undefined || host === '' ? fail('a host is required') : host,
      port: toPort(fail, port),
      timeout: toInteger(fail, 'timeout', timeout, DEFAULT_CONNECT_TIMEOUT),
    };
    return bindAddress === undefined ? endpoint : { ...endpoint, bindAddress };
  }
  if (type === 'unix') {
    const { path = positional(args, 0), timeout, checkPID: _checkPID, ...rest } = kwargs;
    checkArgs(fail, args, 1, rest);
    return {
      type,
      path: toPath(fail, path),
      timeout: toInteger(fail, 'timeout', timeout, DEFAULT_CONNECT_TIMEOUT),
    };
  }
  return fail(`unknown endpoint type ${JSON.stringify(type)}; expected tcp, unix, tls or ssl`);
}

/** Formats an endpoint for messages, in the same grammar (key files are not repeated). */
export function describeEndpoint(endpoint: ServerEndpoint | ClientEndpoint): string {
  if (endpoint.type === 'unix') {
    return `unix:${escape(endpoint.path)}`;
  }
  if (endpoint.type === 'haproxy') {
    return `haproxy:${describeEndpoint(endpoint.inner)}`;
  }
  if (endpoint.type === 'tls') {
    if ('host' in endpoint) {
      return `tls:host=${escape(endpoint.host)}:port=${endpoint.port}`;
    }
    return endpoint.inner.type === 'tcp'
      ? `ssl:${describeEndpoint(endpoint.inner).slice('tcp:'.length)}`
      : `tls:${escape(describeEndpoint(endpoint.inner))}`;
  }
  if ('host' in endpoint) {
    return `tcp:host=${escape(endpoint.host)}:port=${endpoint.port}`;
  }
  return endpoint.interface === ''
    ? `tcp:port=${endpoint.port}`
    : `tcp:port=${endpoint.port}:interface=${escape(endpoint.interface)}`;
}

/** The IP family to connect with: 4 unless the host is an IPv6 literal (Twisted's TCP4ClientEndpoint). */
export function clientFamily(endpoint: TcpClientEndpoint | TlsClientEndpoint): 4 | 6 {
  return isIP(endpoint.host) === 6 ? 6 : 4;
}

interface Parsed {
  readonly type: string;
  readonly args: readonly string[];
  readonly kwargs: Readonly<Record<string, string>>;
}

/**
 * Twisted's `_tokenize` and `_parse`: after a `=`, only `:` ends the value, so `a=b=c` gives
 * `a` the value `b=c`.
 */
function parseDescription(description: string): Parsed {
  const args: string[] = [];
  const kwargs: Record<string, string> = Object.create(null) as Record<string, string>;
  let parts: string[] = [];
  let current = '';
  let operators = ':=';
  const add = (): void => {
    parts.push(current);
    if (parts.length === 1) {
      args.push(parts[0]!);
    } else {
      kwargs[parts[0]!] = parts[1]!;
    }
    parts = [];
    current = '';
    operators = ':=';
  };
  for (let i = 0; i < description.length; i += 1) {
    const char = description[i]!;
    if (char === '\\') {
      i += 1;
      if (i === description.length) {
        throw new InvalidEndpointError(description, 'it ends with an unfinished escape');
      }
      current += description[i];
    } else if (char === ':' && operators.includes(':')) {
      add();
    } else if (char === '=' && operators.includes('=')) {
      parts.push(current);
      current = '';
      operators = ':';
    } else {
      current += char;
    }
  }
  add();
  const [type = '', ...rest] = args;
  if (rest.length === 0 && Object.keys(kwargs).length === 0) {
    throw new InvalidEndpointError(description, 'expected TYPE:ARGUMENTS, such as tcp:8007');
  }
  return { type: type.toLowerCase(), args: rest, kwargs };
}

function positional(args: readonly string[], index: number): string | undefined {
  return args[index];
}

function checkArgs(
  fail: (reason: string) => never,
  args: readonly string[],
  maxPositional: number,
  unknown: Readonly<Record<string, string>>,
): void {
  const names = Object.keys(unknown);
  if (names.length > 0) {
    fail(`unknown argument ${names.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  if (args.length > maxPositional) {
    fail(`too many positional arguments (${args.length}, at most ${maxPositional})`);
  }
}

function toPort(fail: (reason: string) => never, value: string | undefined): number {
  if (value === undefined) {
    return fail('a port is required');
  }
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  return port <= 65535 ? port : fail(`port must be an integer from 0 to 65535, got "${value}"`);
}

function toInteger(
  fail: (reason: string) => never,
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) {
    return fallback;
  }
  return /^\d{1,9}$/.test(value)
    ? Number(value)
    : fail(`${name} must be an integer, got "${value}"`);
}

function toMode(fail: (reason: string) => never, value: string): number {
  return /^[0-7]{1,4}$/.test(value)
    ? parseInt(value, 8)
    : fail(`mode must be octal, such as 660, got "${value}"`);
}

function toPath(fail: (reason: string) => never, value: string | undefined): string {
  return value === undefined || value === '' ? fail('a socket path is required') : value;
}

function toMinVersion(fail: (reason: string) => never, value: string | undefined): TlsMinVersion {
  if (value === undefined) return 'TLSv1.2';
  return value === 'TLSv1.2' || value === 'TLSv1.3'
    ? value
    : fail(`minVersion must be TLSv1.2 or TLSv1.3, got "${value}"`);
}

/** `h2,http/1.1` as a list; empty items are dropped, and at least one protocol must be left. */
function toAlpn(fail: (reason: string) => never, value: string): readonly string[] {
  const protocols = value.split(',').filter((item) => item !== '');
  return protocols.length > 0 ? protocols : fail('alpn= names no protocol');
}

function escape(value: string): string {
  return value.replace(/[\\:=]/g, (char) => `\\${char}`);
}
