/**
 * The testing kit: marble helpers, an in-memory connection, a virtual network, the recorder and
 * `chunkings()`. docs/testing.md walks through them.
 *
 * @packageDocumentation
 * @module rxnet/testing
 */

/* Marble testing */
export { observableMatcher, type ComparableError } from './observableMatcher';
export {
  testBehaviour,
  onlyCommands,
  isServerCommand,
  type BehaviourInput,
  type BehaviourExpectation,
} from './testBehaviour';
export { testProtocol, type ProtocolInput, type ProtocolExpectation } from './testProtocol';

/* In-memory connection */
export {
  memoryConnection,
  type MemoryConnection,
  type MemoryConnectionOptions,
  type PeerClose,
  type LocalClose,
} from './memoryConnection';

/* Virtual network */
export {
  VirtualNetwork,
  DEFAULT_MAX_STEPS,
  type VirtualNetworkOptions,
  type VirtualConnectOptions,
  type VirtualLink,
} from './virtualNetwork';

/* Recorder */
export { record, DEFAULT_RECORD_FRAME_MS, type RecordOptions, type Recording } from './recorder';

/* Chunkings */
export { chunkings, rechunk, type Chunking, type RechunkOptions } from './chunkings';

/* Events and commands */
export { made, data, readLost, lost, write, close, abort, startTls } from './events';
