import { describeConnectionContract, socketHarness } from './connectionContract';

// A Unix socket cannot send a RST: the reset cases are skipped, and abort() ends with EOF.
describeConnectionContract('unix (accepted by listen, raw Node peer)', socketHarness('unix'), {
  canReset: false,
});
