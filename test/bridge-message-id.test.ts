// The receiving side's sequence tracking: gaps counted per origin,
// duplicates and the bridge's own messages told apart, and the bounded
// memory of origins (the least recently heard of is forgotten first).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostOf, messageId, newOrigin, SequenceTracker } from '../src/bridge/message-id.js';

describe('bridge: SequenceTracker', () => {
  it('counts gaps per origin, drops duplicates and its own ids, delivers ids it cannot parse', () => {
    const t = new SequenceTracker('me');
    assert.deepEqual(t.judge(messageId('a', 1)), { verdict: 'deliver', gap: 0 });
    assert.deepEqual(t.judge(messageId('b', 5)), { verdict: 'deliver', gap: 0 });
    assert.deepEqual(t.judge(messageId('a', 4)), { verdict: 'deliver', gap: 2 });
    assert.deepEqual(t.judge(messageId('a', 4)), { verdict: 'duplicate', gap: 0 });
    assert.deepEqual(t.judge(messageId('b', 6)), { verdict: 'deliver', gap: 0 });
    assert.deepEqual(t.judge(messageId('b', 9)), { verdict: 'deliver', gap: 2 });
    assert.deepEqual(t.judge(messageId('me', 3)), { verdict: 'own', gap: 0 });
    assert.deepEqual(t.judge(undefined), { verdict: 'deliver', gap: 0 });
    assert.deepEqual(t.judge('no-colon'), { verdict: 'deliver', gap: 0 });
  });

  it("a bridge both ways with a durable consumer knows its earlier runs' messages as its own, and no other host's", () => {
    // Its messages the consumer had not taken before a restart come back to the next run.
    const host = hostOf('hostA');
    assert.equal(hostOf('hostA'), host, 'the same name, the same host part');
    assert.notEqual(hostOf('hostB'), host);
    const earlier = newOrigin(host);
    const now = newOrigin(host);
    assert.notEqual(earlier, now, 'each run an origin of its own');
    assert.ok(now.startsWith(`${host}.`));
    const t = new SequenceTracker(now, host);
    assert.deepEqual(t.judge(messageId(earlier, 7)), { verdict: 'own', gap: 0 });
    assert.deepEqual(t.judge(messageId(now, 1)), { verdict: 'own', gap: 0 });
    assert.deepEqual(t.judge(messageId(newOrigin(hostOf('hostB')), 1)), { verdict: 'deliver', gap: 0 });
    assert.deepEqual(t.judge(messageId(newOrigin(), 1)), { verdict: 'deliver', gap: 0 });
  });

  it('remembers the 1024 origins heard of last: one heard of again is not forgotten before quieter ones', () => {
    const t = new SequenceTracker();
    t.judge(messageId('busy', 1));
    for (let i = 0; i < 1023; i++) t.judge(messageId(`o${i}`, 1));
    // 1024 origins, 'busy' the oldest; heard of again, it becomes the newest.
    assert.deepEqual(t.judge(messageId('busy', 2)), { verdict: 'deliver', gap: 0 });
    t.judge(messageId('new1', 1));
    t.judge(messageId('new2', 1));
    // o0 and o1 were forgotten, not 'busy': its gap is still counted.
    assert.deepEqual(t.judge(messageId('busy', 5)), { verdict: 'deliver', gap: 2 });
    assert.deepEqual(t.judge(messageId('o0', 1)), { verdict: 'deliver', gap: 0 });
    assert.deepEqual(t.judge(messageId('o3', 1)), { verdict: 'duplicate', gap: 0 }); // (o2 made way for o0)
  });
});
