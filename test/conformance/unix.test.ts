import { describeConnectionContract, socketHarness } from './connectionContract';

const knownDefects = {
  'reports no pending output from the moment abort() drops it':
    'CoreConnection.pendingWriteBytes returns the Duplex writableLength until close, not 0 once abort() has dropped the output',
};

// A Unix socket cannot send a RST: the reset cases are skipped, and abort() ends with EOF.
describeConnectionContract('unix (accepted by listen, raw Node peer)', socketHarness('unix'), {
  canReset: false,
  knownDefects,
});
