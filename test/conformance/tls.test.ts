import { makeCerts } from '../helpers/certs';
import { describeConnectionContract, tlsHarness } from './connectionContract';

const certs = makeCerts();
afterAll(() => certs.remove());

describeConnectionContract(
  'tls (accepted by listen on ssl:, Node TLS peer)',
  tlsHarness({ key: certs.server.key, cert: certs.server.cert, ca: certs.ca.cert }),
);
