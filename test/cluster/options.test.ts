import { serveClustered } from '../../src/cluster/serveClustered';
import { echo } from '../../src/operators/echo';
import { NEVER } from 'rxjs';

describe('serveClustered options', () => {
  it.each(['shutdown', 'shutdownTimeout', 'shutdownReadWindow', 'startTls', 'upgradeTls'])(
    'refuses serve’s %s option at call time instead of ignoring it',
    (name) => {
      const value = name === 'shutdown' || name === 'shutdownReadWindow' ? NEVER : 1;
      expect(() =>
        serveClustered('tcp:0:interface=127.0.0.1', echo(), { [name]: value } as never),
      ).toThrow(TypeError);
    },
  );
});
