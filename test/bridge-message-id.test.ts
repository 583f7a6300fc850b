// The receiving side's sequence tracking: gaps counted per origin,
// duplicates and the bridge's own messages told apart, and the bounded
// memory of origins (the least recently heard of is forgotten first).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { messageId, SequenceTracker } from '../src/bridge/message-id.js';

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

  it('remembers the 1024 origins heard of last: a busy origin stays while quiet ones are forgotten', () => {
    const t = new SequenceTracker();
    t.judge(messageId('busy', 1));
    t.judge(messageId('quiet', 1));
    for (let i = 0; i < 1100; i++) {
      t.judge(messageId(`o${i}`, 1));
      // The busy origin is heard of between the others: it is never the oldest.
      assert.equal(t.judge(messageId('busy', i + 2)).verdict, 'deliver');
    }
    // Still known: a repeat is a duplicate, and its next message has no gap.
    assert.deepEqual(t.judge(messageId('busy', 2)), { verdict: 'duplicate', gap: 0 });
    assert.deepEqual(t.judge(messageId('busy', 1102)), { verdict: 'deliver', gap: 0 });
    // Forgotten: its old id looks new again (delivered, no gap counted).
    assert.deepEqual(t.judge(messageId('quiet', 1)), { verdict: 'deliver', gap: 0 });
    assert.deepEqual(t.judge(messageId('o0', 1)), { verdict: 'deliver', gap: 0 });
    // Heard of lately: remembered.
    assert.deepEqual(t.judge(messageId('o1099', 1)), { verdict: 'duplicate', gap: 0 });
  });
});
