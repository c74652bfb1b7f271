import { InvalidEndpointError } from '../../src/errors';
import {
  clientFamily,
  clientFromString,
  describeEndpoint,
  serverFromString,
  type ClientEndpoint,
  type ServerEndpoint,
} from '../../src/net/endpoints';

describe('serverFromString', () => {
  describe('valid descriptions', () => {
    it.each<[string, ServerEndpoint]>([
      ['tcp:8007', { type: 'tcp', port: 8007, interface: '', backlog: 511 }],
      ['TCP:0', { type: 'tcp', port: 0, interface: '', backlog: 511 }],
      [
        'tcp:port=8007:interface=127.0.0.1:backlog=10',
        { type: 'tcp', port: 8007, interface: '127.0.0.1', backlog: 10 },
      ],
      ['tcp:8007:interface=\\:\\:1', { type: 'tcp', port: 8007, interface: '::1', backlog: 511 }],
      ['tcp:65535:interface=', { type: 'tcp', port: 65535, interface: '', backlog: 511 }],
      ['unix:/tmp/app.sock', { type: 'unix', path: '/tmp/app.sock', backlog: 511 }],
      [
        'unix:address=/tmp/a\\:b.sock:mode=660:backlog=5',
        { type: 'unix', path: '/tmp/a:b.sock', backlog: 5, mode: 0o660 },
      ],
      ['unix:/tmp/x.sock:lockfile=0', { type: 'unix', path: '/tmp/x.sock', backlog: 511 }],
    ])('parses %s', (description, expected) => {
      expect(serverFromString(description)).toEqual(expected);
    });
  });

  describe('invalid descriptions', () => {
    it.each<[string, string]>([
      ['', 'expected TYPE:ARGUMENTS'],
      ['8007', 'expected TYPE:ARGUMENTS'],
      ['tcp', 'expected TYPE:ARGUMENTS'],
      ['sctp:443', 'unknown endpoint type "sctp"'],
      ['ssl:443:certKey=cert.pem', 'certKey= needs privateKey='],
      ['tcp:http', 'port must be an integer'],
      ['tcp:65536', 'port must be an integer'],
      ['tcp:-1', 'port must be an integer'],
      ['tcp:interface=127.0.0.1', 'a port is required'],
      ['tcp:80:81', 'too many positional arguments'],
      ['tcp:80:color=blue', 'unknown argument "color"'],
      ['tcp:80:backlog=many', 'backlog must be an integer'],
      ['unix:', 'a socket path is required'],
      ['unix:/tmp/x.sock:mode=999', 'mode must be octal'],
      ['tcp:80\\', 'unfinished escape'],
    ])('rejects %j with InvalidEndpointError (%s)', (description, reason) => {
      let thrown: unknown;
      try {
        serverFromString(description);
      } catch (error: unknown) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidEndpointError);
      expect((thrown as InvalidEndpointError).description).toBe(description);
      expect((thrown as InvalidEndpointError).reason).toContain(reason);
    });
  });
});

describe('clientFromString', () => {
  describe('valid descriptions', () => {
    it.each<[string, ClientEndpoint]>([
      ['tcp:localhost:8888', { type: 'tcp', host: 'localhost', port: 8888, timeout: 30 }],
      [
        'tcp:host=example.org:port=80:timeout=5',
        { type: 'tcp', host: 'example.org', port: 80, timeout: 5 },
      ],
      ['tcp:example.org:port=80', { type: 'tcp', host: 'example.org', port: 80, timeout: 30 }],
      ['tcp:80:host=example.org', { type: 'tcp', host: 'example.org', port: 80, timeout: 30 }],
      ['tcp:\\:\\:1:80', { type: 'tcp', host: '::1', port: 80, timeout: 30 }],
      [
        'tcp:localhost:80:bindAddress=127.0.0.2',
        { type: 'tcp', host: 'localhost', port: 80, timeout: 30, bindAddress: '127.0.0.2' },
      ],
      ['unix:/tmp/app.sock', { type: 'unix', path: '/tmp/app.sock', timeout: 30 }],
      ['unix:path=/tmp/app.sock:timeout=2', { type: 'unix', path: '/tmp/app.sock', timeout: 2 }],
    ])('parses %s', (description, expected) => {
      expect(clientFromString(description)).toEqual(expected);
    });
  });

  describe('invalid descriptions', () => {
    it.each<[string, string]>([
      ['tcp:localhost', 'a port is required'],
      ['tcp:port=80', 'a host is required'],
      ['tcp:localhost:80:81', 'too many positional arguments'],
      ['tcp:localhost:http', 'port must be an integer'],
      ['tcp:localhost:80:timeout=soon', 'timeout must be an integer'],
      ['tcp:localhost:80:retries=3', 'unknown argument "retries"'],
      ['udp:localhost:80', 'unknown endpoint type "udp"'],
      ['unix:path=', 'a socket path is required'],
    ])('rejects %j with InvalidEndpointError (%s)', (description, reason) => {
      expect(() => clientFromString(description)).toThrow(InvalidEndpointError);
      expect(() => clientFromString(description)).toThrow(reason);
    });
  });

  describe('clientFamily', () => {
    it.each<[string, 4 | 6]>([
      ['tcp:localhost:80', 4],
      ['tcp:127.0.0.1:80', 4],
      ['tcp:\\:\\:1:80', 6],
    ])('connects %s over IPv%d', (description, family) => {
      const endpoint = clientFromString(description);
      expect(endpoint.type === 'tcp' && clientFamily(endpoint)).toBe(family);
    });
  });
});

describe('the TSDoc examples', () => {
  it("default the backlog to 511, not Twisted's 50", () => {
    expect(serverFromString('tcp:port=8007:interface=127.0.0.1')).toEqual({
      type: 'tcp',
      port: 8007,
      interface: '127.0.0.1',
      backlog: 511,
    });
  });

  it('keep the client timeout in seconds, as the endpoint string gives it', () => {
    expect(clientFromString('tcp:localhost:8007')).toEqual({
      type: 'tcp',
      host: 'localhost',
      port: 8007,
      timeout: 30,
    });
    expect(clientFromString('tcp:localhost:8007:timeout=5')).toMatchObject({ timeout: 5 });
  });
});

describe('describeEndpoint', () => {
  it.each<[ServerEndpoint | ClientEndpoint, string]>([
    [serverFromString('tcp:0:interface=127.0.0.1'), 'tcp:port=0:interface=127.0.0.1'],
    [serverFromString('tcp:8007'), 'tcp:port=8007'],
    [clientFromString('tcp:\\:\\:1:80'), 'tcp:host=\\:\\:1:port=80'],
    [serverFromString('unix:/tmp/a\\:b'), 'unix:/tmp/a\\:b'],
  ])('formats %j as %s', (endpoint, text) => {
    expect(describeEndpoint(endpoint)).toBe(text);
  });
});

describe('TLS endpoints', () => {
  describe('serverFromString', () => {
    it.each<[string, ServerEndpoint]>([
      [
        'ssl:8443:privateKey=key.pem:certKey=cert.pem',
        {
          type: 'tls',
          inner: { type: 'tcp', port: 8443, interface: '', backlog: 511 },
          privateKey: 'key.pem',
          certKey: 'cert.pem',
          minVersion: 'TLSv1.2',
        },
      ],
      [
        // Twisted's default: the certificate is in the key file.
        'ssl:port=0:interface=127.0.0.1:privateKey=both.pem',
        {
          type: 'tls',
          inner: { type: 'tcp', port: 0, interface: '127.0.0.1', backlog: 511 },
          privateKey: 'both.pem',
          certKey: 'both.pem',
          minVersion: 'TLSv1.2',
        },
      ],
      [
        'ssl:8443:privateKey=k.pem:certKey=c.pem:extraCertChain=chain.pem:sni=/etc/sni:alpn=h2,http/1.1:minVersion=TLSv1.3:backlog=5',
        {
          type: 'tls',
          inner: { type: 'tcp', port: 8443, interface: '', backlog: 5 },
          privateKey: 'k.pem',
          certKey: 'c.pem',
          extraCertChain: 'chain.pem',
          sni: '/etc/sni',
          alpn: ['h2', 'http/1.1'],
          minVersion: 'TLSv1.3',
        },
      ],
      [
        // Keys from listen's `tls` option.
        'ssl:8443',
        {
          type: 'tls',
          inner: { type: 'tcp', port: 8443, interface: '', backlog: 511 },
          minVersion: 'TLSv1.2',
        },
      ],
      [
        'tls:unix\\:/run/app.sock:privateKey=k.pem',
        {
          type: 'tls',
          inner: { type: 'unix', path: '/run/app.sock', backlog: 511 },
          privateKey: 'k.pem',
          certKey: 'k.pem',
          minVersion: 'TLSv1.2',
        },
      ],
      [
        'tls:tcp\\:8443\\:interface\\=127.0.0.1:privateKey=k.pem:certKey=c.pem',
        {
          type: 'tls',
          inner: { type: 'tcp', port: 8443, interface: '127.0.0.1', backlog: 511 },
          privateKey: 'k.pem',
          certKey: 'c.pem',
          minVersion: 'TLSv1.2',
        },
      ],
      [
        'haproxy:ssl:8443:privateKey=k.pem',
        {
          type: 'haproxy',
          inner: {
            type: 'tls',
            inner: { type: 'tcp', port: 8443, interface: '', backlog: 511 },
            privateKey: 'k.pem',
            certKey: 'k.pem',
            minVersion: 'TLSv1.2',
          },
        },
      ],
    ])('parses %s', (description, expected) => {
      expect(serverFromString(description)).toEqual(expected);
    });

    it.each<[string, string]>([
      ['ssl:8443:privateKey=', 'privateKey= names no file'],
      ['ssl:8443:extraCertChain=chain.pem', 'extraCertChain= needs privateKey='],
      ['ssl:8443:sni=/etc/sni', 'sni= needs privateKey='],
      ['ssl:8443:privateKey=k.pem:alpn=,', 'alpn= names no protocol'],
      ['ssl:8443:privateKey=k.pem:minVersion=TLSv1.1', 'minVersion must be TLSv1.2 or TLSv1.3'],
      ['ssl:8443:privateKey=k.pem:color=blue', 'unknown argument "color"'],
      ['ssl:privateKey=k.pem', 'a port is required'],
      ['tls:privateKey=k.pem', 'tls: needs the endpoint it wraps'],
      [
        'tls:ssl\\:8443\\:privateKey\\=k.pem:privateKey=k.pem',
        'tls: wraps a tcp: or unix: endpoint',
      ],
    ])('rejects %j with InvalidEndpointError (%s)', (description, reason) => {
      expect(() => serverFromString(description)).toThrow(InvalidEndpointError);
      expect(() => serverFromString(description)).toThrow(reason);
    });
  });

  describe('clientFromString', () => {
    it.each<[string, ClientEndpoint]>([
      [
        'tls:host=example.org:port=443',
        { type: 'tls', host: 'example.org', port: 443, timeout: 30, minVersion: 'TLSv1.2' },
      ],
      [
        'tls:example.org:443:trustRoots=/etc/ca:servername=api.example.org:alpn=h2:minVersion=TLSv1.3:timeout=5',
        {
          type: 'tls',
          host: 'example.org',
          port: 443,
          timeout: 5,
          trustRoots: '/etc/ca',
          servername: 'api.example.org',
          alpn: ['h2'],
          minVersion: 'TLSv1.3',
        },
      ],
      [
        'tls:host=localhost:port=8443:certificate=client.pem:privateKey=client.key',
        {
          type: 'tls',
          host: 'localhost',
          port: 8443,
          timeout: 30,
          certificate: 'client.pem',
          privateKey: 'client.key',
          minVersion: 'TLSv1.2',
        },
      ],
      [
        // Twisted's older ssl: client, with its caCertsDir= and certKey=.
        'ssl:localhost:8443:caCertsDir=/etc/ca:certKey=c.pem:privateKey=c.key',
        {
          type: 'tls',
          host: 'localhost',
          port: 8443,
          timeout: 30,
          trustRoots: '/etc/ca',
          certificate: 'c.pem',
          privateKey: 'c.key',
          minVersion: 'TLSv1.2',
        },
      ],
    ])('parses %s', (description, expected) => {
      expect(clientFromString(description)).toEqual(expected);
    });

    it.each<[string, string]>([
      ['tls:host=localhost', 'a port is required'],
      ['tls:port=443', 'a host is required'],
      ['tls:localhost:443:certificate=c.pem', 'needs both certificate= and privateKey='],
      ['tls:localhost:443:alpn=', 'alpn= names no protocol'],
      ['tls:localhost:443:minVersion=SSLv3', 'minVersion must be TLSv1.2 or TLSv1.3'],
      ['tls:localhost:443:verify=no', 'unknown argument "verify"'],
    ])('rejects %j with InvalidEndpointError (%s)', (description, reason) => {
      expect(() => clientFromString(description)).toThrow(InvalidEndpointError);
      expect(() => clientFromString(description)).toThrow(reason);
    });

    it('connects to an IPv6 literal over IPv6', () => {
      const endpoint = clientFromString('tls:\\:\\:1:443');
      expect(endpoint.type === 'tls' && clientFamily(endpoint)).toBe(6);
    });
  });

  describe('describeEndpoint', () => {
    it.each<[ServerEndpoint | ClientEndpoint, string]>([
      [
        serverFromString('ssl:0:interface=127.0.0.1:privateKey=k.pem'),
        'ssl:port=0:interface=127.0.0.1',
      ],
      [serverFromString('tls:unix\\:/tmp/a.sock:privateKey=k.pem'), 'tls:unix\\:/tmp/a.sock'],
      [clientFromString('tls:localhost:8443:trustRoots=ca.pem'), 'tls:host=localhost:port=8443'],
    ])('formats %j as %s, without the key files', (endpoint, text) => {
      expect(describeEndpoint(endpoint)).toBe(text);
    });
  });
});
