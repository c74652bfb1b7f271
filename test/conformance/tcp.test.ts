import { describeConnectionContract, socketHarness } from './connectionContract';

const knownDefects = {
  'reports no pending output from the moment abort() drops it':
    'CoreConnection.pendingWriteBytes returns the Duplex writableLength until close, not 0 once abort() has dropped the output',
};

describeConnectionContract('tcp (accepted by listen, raw Node peer)', socketHarness('tcp'), {
  knownDefects,
});
