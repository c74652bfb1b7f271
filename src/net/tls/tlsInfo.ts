import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { TlsCertificate, TlsInfo } from '../../types';

/**
 * What a finished handshake settled, read at once: Node forgets a TLS socket's protocol, cipher
 * and peer certificate when it closes, while `connection.tls` must outlive the socket.
 *
 * @param authorized Whether the peer's certificate was verified (the caller knows which side it is
 * and what it checked).
 * @internal
 */
export function tlsInfoOf(socket: TLSSocket, authorized: boolean): TlsInfo {
  const peer = socket.getPeerX509Certificate();
  // A server's `servername` is what the client sent, `false` when it sent none.
  const servername = (socket as TLSSocket & { servername?: string | false | null }).servername;
  return {
    protocol: socket.getProtocol() ?? 'unknown',
    cipher: socket.getCipher().name,
    alpnProtocol: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : undefined,
    servername: typeof servername === 'string' && servername !== '' ? servername : undefined,
    authorized,
    peerCertificate: peer === undefined ? undefined : certificateOf(peer),
  };
}

function certificateOf(certificate: X509Certificate): TlsCertificate {
  return {
    subject: certificate.subject,
    issuer: certificate.issuer,
    subjectAltName: certificate.subjectAltName,
    validFrom: certificate.validFrom,
    validTo: certificate.validTo,
    fingerprint256: certificate.fingerprint256,
    serialNumber: certificate.serialNumber,
  };
}
