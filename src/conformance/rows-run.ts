// Rows over every answer of the run: problem+json on each 4xx, no 5xx at all. They run last.
import { check, problemFault } from './expect.ts';
import type { Reply } from './http.ts';
import type { Row } from './types.ts';

const LISTED = 5;

function listing(entries: readonly string[]): string {
  const more = entries.length > LISTED ? `, and ${entries.length - LISTED} more` : '';
  return entries.slice(0, LISTED).join('; ') + more;
}

function where(reply: Reply): string {
  return `${reply.method} ${reply.path} → ${reply.status}`;
}

export const problemsRow: Row = {
  id: 'problem-json',
  name: () => 'every 4xx answer of the run is application/problem+json with a string type and title and the status',
  async run(kit) {
    const faults = kit.client.replies.flatMap((reply) => {
      if (reply.status < 400 || reply.status >= 500) return [];
      const fault = problemFault(reply);
      return fault === undefined ? [] : [`${where(reply)}: ${fault}`];
    });
    check(faults.length === 0, `expected problem details, got ${listing(faults)}`);
  },
};

export const no5xxRow: Row = {
  id: 'no-5xx',
  name: () => 'no 5xx answer during the run',
  async run(kit) {
    const errors = kit.client.replies.filter((reply) => reply.status >= 500).map(where);
    check(errors.length === 0, `expected none, got ${errors.length}: ${listing(errors)}`);
  },
};
