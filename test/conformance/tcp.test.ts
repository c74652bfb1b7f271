import { describeConnectionContract, socketHarness } from './connectionContract';

describeConnectionContract('tcp (accepted by listen, raw Node peer)', socketHarness('tcp'));
