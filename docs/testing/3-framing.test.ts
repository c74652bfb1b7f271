import { from, lastValueFrom, toArray } from 'rxjs';
import { lines } from 'rxnet';
import { chunkings } from 'rxnet/testing';

describe('lines', () => {
  it.each(chunkings('hello\nclose\n'))('decodes two lines $name', async ({ chunks }) => {
    const decoded = await lastValueFrom(
      from(chunks).pipe(lines({ delimiter: '\n', encoding: 'utf8' }), toArray()),
    );
    expect(decoded).toEqual(['hello', 'close']);
  });
});
