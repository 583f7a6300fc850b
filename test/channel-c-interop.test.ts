// A C program written from docs/channel-format.md alone feeds a Node receiver
// through a channel: the on-segment format is a real contract.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Channel } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, run } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

const C_SENDER = String.raw`
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum {
  OFF_MAGIC = 0, OFF_VERSION = 4, OFF_CAPACITY = 12, OFF_CLOSED = 28, OFF_CLAIM_LOCK = 64,
  OFF_TAIL = 68, OFF_LOCK_WANTED = 72, OFF_HEAD = 128, OFF_RECV_WAITING = 192, OFF_DATA_FUTEX = 196,
  OFF_SPACE_WAITING = 256, OFF_SPACE_FUTEX = 260, OFF_SENDERS = 4096, SENDER_ENTRY = 16,
  MAX_SENDERS = 256, HEADER_SIZE = 8192, MAGIC = 0x48434B53, VERSION = 2,
  STATE_EMPTY = 0, STATE_COMMITTED = 1, STATE_PADDING = 2,
};

struct sender_entry { int32_t registration, pid, presence[2]; };
struct record { int32_t state, length, writer, span; };

static char *base;
static uint32_t capacity;
static int32_t *word(uint32_t off) { return (int32_t *)(base + off); }
static struct record *record_at(uint32_t pos) { return (struct record *)(base + HEADER_SIZE + pos); }
static struct sender_entry *entry(int slot) { return (struct sender_entry *)(base + OFF_SENDERS + SENDER_ENTRY * slot); }
#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
static int cas(int32_t *p, int32_t expected, int32_t desired) {
  return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static int alive(pid_t pid) {
  /* 0 or below: registering (below 0 names the registrant's presence, which this peer does not check). */
  if (pid <= 0) return 1;
  if (kill(pid, 0) != 0 && errno == ESRCH) return 0;
  char path[64], stat[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = 0;
  char *paren = strrchr(stat, ')');
  return !(paren && (paren[2] == 'Z' || paren[2] == 'X'));
}

static int32_t writer_id(int slot, int32_t registration) { return slot | ((registration & 0xffffff) << 8); }

/* docs/presence.md: a private segment of random size, marked IPC_RMID and kept attached. */
static int32_t presence[2];
static void claim_presence(void) {
  int size = 1 + rand() % 4095;
  int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
  if (id < 0 || shmat(id, NULL, SHM_RDONLY) == (void *)-1) { perror("presence"); exit(1); }
  struct shmid_ds ds;
  shmctl(id, IPC_RMID, NULL);
  shmctl(id, IPC_STAT, &ds);
  presence[0] = id;
  presence[1] = (int32_t)((((uint32_t)ds.shm_ctime & 0xfffff) << 12) | (uint32_t)size);
}

/* Takes a sender entry (a free one, or one whose holder died); returns the writer id. */
static int32_t register_sender(void) {
  for (int pass = 0; pass < 2; pass++) {
    for (int slot = 0; slot < MAX_SENDERS; slot++) {
      int32_t r = LOAD(&entry(slot)->registration);
      if ((r & 1) && (pass == 0 || alive(LOAD(&entry(slot)->pid)))) continue;
      int32_t next = (r & 1) ? r + 2 : r + 1;
      /* registration and pid as one aligned 64-bit pair (registration low): pid
         -(word0 + 1) ("registering", named by our presence) in the same CAS, the
         real pid written last. */
      uint64_t *pair = (uint64_t *)&entry(slot)->registration;
      uint64_t old = LOAD(pair);
      if ((int32_t)(uint32_t)old != r) continue;
      uint64_t want = (uint64_t)(uint32_t)next | ((uint64_t)(uint32_t)(-(presence[0] + 1)) << 32);
      if (__atomic_compare_exchange_n(pair, &old, want, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        STORE(&entry(slot)->presence[0], presence[0]);
        STORE(&entry(slot)->presence[1], presence[1]);
        STORE(&entry(slot)->pid, getpid());
        return writer_id(slot, next);
      }
    }
  }
  return 0;
}

static int writer_alive(int32_t writer) {
  int slot = writer & 0xff;
  int32_t r = LOAD(&entry(slot)->registration);
  return (r & 1) && writer_id(slot, r) == writer && alive(LOAD(&entry(slot)->pid));
}

static void lock(int32_t me) {
  if (cas(word(OFF_CLAIM_LOCK), 0, me)) return;
  /* Say that we wait: a sender that keeps the lock between claims lets go. */
  __atomic_add_fetch(word(OFF_LOCK_WANTED), 1, __ATOMIC_SEQ_CST);
  for (int spin = 0;; spin++) {
    int32_t owner = LOAD(word(OFF_CLAIM_LOCK));
    if ((owner == 0 && cas(word(OFF_CLAIM_LOCK), 0, me)) ||
        (owner != 0 && spin % 64 == 63 && !writer_alive(owner) && cas(word(OFF_CLAIM_LOCK), owner, me))) break;
    if (spin > 100) sched_yield();
  }
  __atomic_sub_fetch(word(OFF_LOCK_WANTED), 1, __ATOMIC_SEQ_CST);
}

static void header(uint32_t pos, int32_t length, int32_t writer, int32_t span) {
  record_at(pos)->length = length;
  record_at(pos)->writer = writer;
  record_at(pos)->span = span;
}

static void wake(uint32_t waiting, uint32_t futex);

/* Claims a record; returns its position, -1 if full, -2 if closed. */
static int64_t claim(int32_t me, uint32_t length) {
  lock(me);
  int64_t result = -1;
  int32_t padding = -1;
  uint32_t tail = LOAD(word(OFF_TAIL));
  uint32_t free_bytes = capacity - (tail - (uint32_t)LOAD(word(OFF_HEAD)));
  uint32_t span = (16 + length + 15) & ~15u;
  uint32_t pos = tail & (capacity - 1);
  if (LOAD(word(OFF_CLOSED))) { result = -2; goto out; }
  if (span > capacity - pos) {
    uint32_t rest = capacity - pos;
    if (rest + 16 > free_bytes) goto out;
    header(pos, 0, me, rest);
    STORE(&record_at(0)->state, STATE_EMPTY);
    padding = pos;
    tail += rest;
    free_bytes -= rest;
    pos = 0;
  }
  if (span + 16 <= free_bytes) {
    STORE(&record_at((pos + span) & (capacity - 1))->state, STATE_EMPTY);
    header(pos, length, me, span);
    tail += span;
    result = pos;
  }
  STORE(word(OFF_TAIL), (int32_t)tail);
  if (padding >= 0) STORE(&record_at(padding)->state, STATE_PADDING);
out:
  STORE(word(OFF_CLAIM_LOCK), 0);
  /* Padding, then no room: only the receiver can free it, by passing the padding. */
  if (padding >= 0 && result == -1) wake(OFF_RECV_WAITING, OFF_DATA_FUTEX);
  return result;
}

static void wake(uint32_t waiting, uint32_t futex) {
  if (LOAD(word(waiting)) && __atomic_exchange_n(word(waiting), 0, __ATOMIC_SEQ_CST)) {
    __atomic_add_fetch(word(futex), 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, word(futex), FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
  }
}

/* Sleeps until the receiver frees space (or 100 ms pass). */
static void wait_for_space(void) {
  int32_t v = LOAD(word(OFF_SPACE_FUTEX));
  STORE(word(OFF_SPACE_WAITING), 1);
  uint32_t used = (uint32_t)LOAD(word(OFF_TAIL)) - (uint32_t)LOAD(word(OFF_HEAD));
  if (used < capacity / 2 || LOAD(word(OFF_CLOSED))) return;
  struct timespec ts = {0, 100 * 1000 * 1000};
  syscall(SYS_futex, word(OFF_SPACE_FUTEX), FUTEX_WAIT, v, &ts, NULL, 0);
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int id = atoi(argv[1]);
  int count = atoi(argv[2]);
  base = shmat(id, NULL, 0);
  if (base == (void *)-1) { perror("shmat"); return 1; }
  if ((uint32_t)LOAD(word(OFF_MAGIC)) != MAGIC || *word(OFF_VERSION) != VERSION) {
    fprintf(stderr, "not a version 2 channel\n");
    return 1;
  }
  capacity = *word(OFF_CAPACITY);
  pid_t me = getpid();
  srand(me);
  claim_presence();
  int32_t writer = register_sender();
  if (writer == 0) return 1;
  char text[256];
  for (int seq = 0; seq < count; seq++) {
    /* Lengths vary so that records wrap and padding appears. */
    int length = snprintf(text, sizeof text, "C%d says %d %.*s", me, seq, seq % 97, "..................................................................................................................");
    int64_t pos;
    while ((pos = claim(writer, length)) == -1) wait_for_space();
    if (pos == -2) { fprintf(stderr, "closed\n"); return 3; }
    memcpy((char *)record_at(pos) + 16, text, length);
    STORE(&record_at(pos)->state, STATE_COMMITTED);
    wake(OFF_RECV_WAITING, OFF_DATA_FUTEX);
  }
  int32_t r = LOAD(&entry(writer & 0xff)->registration);
  cas(&entry(writer & 0xff)->registration, r, r + 1);
  shmdt(base);
  printf("sent %d\n", count);
  return 0;
}
`;

describe('Channel with a C peer', { timeout: 120_000 }, () => {
  it('a C program sends messages that a TypeScript receiver gets, in order, through wrap-around and backpressure', async () => {
    const exe = await compileC('channel-sender', C_SENDER);
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    // No defect is behind the count: 5,000 messages (records of 32 to 128
    // bytes) wrap the 4 KiB ring over 100 times and fill it again and again.
    const count = budget(5_000, 20_000);
    const child = run(exe, [String(channel.id), String(count)], { timeoutMs: 60_000 });
    const dots = '.'.repeat(97);
    for (let seq = 0; seq < count; seq++) {
      const message = new TextDecoder().decode(await receiver.recv({ timeoutMs: 30_000 }));
      assert.match(message, /^C\d+ says /);
      assert.equal(message.replace(/^C\d+/, 'C'), `C says ${seq} ${dots.slice(0, seq % 97)}`);
    }
    const result = await child;
    assertExitedCleanly(result, 'C sender');
    assert.equal(result.stdout, `sent ${count}\n`);
    assert.equal(receiver.tryRecv(), null);
  });

  it('two C senders and a Node sender share the channel; each one’s messages stay in order', async () => {
    const exe = await compileC('channel-sender', C_SENDER);
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    // No defect is behind the count either: 2,000 each keep three senders contending throughout.
    const count = budget(2_000, 5_000);
    const children = [run(exe, [String(channel.id), String(count)]), run(exe, [String(channel.id), String(count)])];
    const sender = channel.sender();
    const sending = (async () => {
      for (let seq = 0; seq < count; seq++) await sender.send(`Node says ${seq}`, { timeoutMs: 30_000 });
    })();
    const next = new Map<string, number>();
    for (let i = 0; i < 3 * count; i++) {
      const message = new TextDecoder().decode(await receiver.recv({ timeoutMs: 30_000 }));
      const [who, , seqText] = message.split(' ');
      assert.equal(Number(seqText), next.get(who!) ?? 0, `${who}: in order, none lost, none twice`);
      next.set(who!, Number(seqText) + 1);
    }
    await sending;
    for (const result of await Promise.all(children)) assertExitedCleanly(result, 'C sender');
    assert.deepEqual([...next.values()], [count, count, count], 'three senders, every message');
  });
});
