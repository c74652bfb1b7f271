/**
 * The connection contract over a connection upgraded by `startTls`: accepted in plain text by
 * `listen`, then upgraded in place (server role) while Node's TLS client takes over the peer's
 * socket. Every case runs after the upgrade, so the swapped transport must keep the whole
 * contract (half-close with close_notify, resets, backpressure, timeouts) that the plain one had.
 */
import { firstValueFrom } from 'rxjs';
import { startTls } from '../../src/index';
import { makeCerts } from '../helpers/certs';
import { describeConnectionContract, tlsPeerHarness, type MakeHarness } from './connectionContract';

const certs = makeCerts();
afterAll(() => certs.remove());

const upgradedHarness: MakeHarness = (options) =>
  tlsPeerHarness(
    'tcp:port=0:interface=127.0.0.1',
    certs.read(certs.ca.cert),
    options,
    (connection) =>
      firstValueFrom(
        startTls(connection, {
          key: certs.read(certs.server.key),
          cert: certs.read(certs.server.cert),
        }),
      ),
  );

describeConnectionContract(
  'tcp upgraded by startTls (server role, Node TLS peer)',
  upgradedHarness,
);
