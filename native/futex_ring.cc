// The channel's futex waits through io_uring (Linux 6.7+, IORING_OP_FUTEX_WAIT):
// the main thread queues the wait itself and libuv polls the ring's file
// descriptor (readable while completions wait), so a wake-up from another
// process reaches JavaScript with one thread switch instead of two (the
// waiter thread of futex.cc, then the thread-safe function's async handle),
// two to three times faster here (native/README.md). One ring per Node
// environment, used only from its JavaScript thread, so the rings need no
// locks. Whether to use it, and what to do when it cannot be
// had (older kernels, seccomp profiles that forbid io_uring), is decided in
// TypeScript (src/sysv/futex.ts); results are 0 or a negative errno.
#include "shim.h"
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>
#include <atomic>
#include <cstring>
#include <vector>

namespace shmkit {
namespace {

// Not in the 6.1 kernel headers we build against; the ABI is fixed.
constexpr uint8_t kOpFutexWait = 51;
constexpr uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32, shared (no FUTEX2_PRIVATE)
constexpr uint64_t kMatchAny = 0xffffffffULL;
// user_data of the cancel requests, whose completions carry nothing for JavaScript.
constexpr uint64_t kTagCancel = 1ULL << 62;
// A token is the client's number (one per copy of the library's JavaScript
// that opened the ring: a bundle and a deep import are two) above 40 bits of
// sequence; both stay below 2^53, exact as a JavaScript number.
constexpr unsigned kClientShift = 40;
constexpr uint64_t kSequenceMask = (1ULL << kClientShift) - 1;
constexpr size_t kMaxClients = (1ULL << (53 - kClientShift)) - 1;
constexpr unsigned kEntries = 64;
constexpr unsigned kCqEntries = 4096;

int RingSetup(unsigned entries, struct io_uring_params* p) {
  return static_cast<int>(::syscall(SYS_io_uring_setup, entries, p));
}
int RingEnter(int fd, unsigned submit, unsigned min_complete, unsigned flags) {
  return static_cast<int>(::syscall(SYS_io_uring_enter, fd, submit, min_complete, flags, nullptr, 0));
}
int RingRegister(int fd, unsigned op, void* arg, unsigned nr) {
  return static_cast<int>(::syscall(SYS_io_uring_register, fd, op, arg, nr));
}

template <typename T>
std::atomic<T>* AtomicAt(T* p) {
  return reinterpret_cast<std::atomic<T>*>(p);
}

struct Ring {
  napi_env env = nullptr;
  bool closing = false;  // the environment is going away: JavaScript is never called again
  int fd = -1;
  void* rings = nullptr;
  size_t rings_size = 0;
  struct io_uring_sqe* sqes = nullptr;
  size_t sqes_size = 0;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask, *cq_dropped;
  unsigned dropped_seen = 0;
  struct io_uring_cqe* cqes = nullptr;
  uv_poll_t* poll = nullptr;  // set once the ring is open
  std::vector<napi_ref> clients;  // each client's dispatch(token, result); client n is clients[n - 1]
  napi_async_context context = nullptr;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  uint64_t next_sequence = 1;
  // Waits queued whose completion has not come; the poll handle is ref'd
  // while there is one. After dropped completions the ring forgets every
  // wait queued so far (below): completions of waits whose sequence is below
  // forgotten_below are not counted (sequences grow; 2^40 of them do not
  // wrap in practice).
  uint32_t pending = 0;
  uint64_t forgotten_below = 0;
  // The completions one poll callback reaps, kept to spare an allocation per wake-up.
  std::vector<std::pair<uint64_t, int>> done;
};

// One free submission entry, or nullptr (the submission queue is full: it
// never is, since every call submits what it queued at once).
struct io_uring_sqe* RingNextSqe(Ring* r, unsigned* tail) {
  unsigned head = AtomicAt(r->sq_head)->load(std::memory_order_acquire);
  if (*tail - head >= kEntries) return nullptr;
  unsigned index = *tail & *r->sq_mask;
  struct io_uring_sqe* sqe = &r->sqes[index];
  std::memset(sqe, 0, sizeof *sqe);
  r->sq_array[index] = index;
  ++*tail;
  return sqe;
}

// Submits what was queued from `from` up to `tail`: 0 or -errno. A
// submission the kernel refused whole (EAGAIN, EBUSY: no memory, or
// completions it cannot post) is taken back off the queue.
int RingSubmit(Ring* r, unsigned from, unsigned tail) {
  AtomicAt(r->sq_tail)->store(tail, std::memory_order_release);
  int n;
  do n = RingEnter(r->fd, tail - from, 0, 0);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return 0;
  int err = errno;
  if (AtomicAt(r->sq_head)->load(std::memory_order_acquire) == from) AtomicAt(r->sq_tail)->store(from, std::memory_order_release);
  return -err;
}

// Queues one entry, filled in by `fill`, and submits it: 0 or -errno
// (EBUSY: the submission queue is full, which it never is).
template <typename Fill>
int RingSubmitOne(Ring* r, Fill fill) {
  unsigned from = *r->sq_tail;
  unsigned tail = from;
  struct io_uring_sqe* sqe = RingNextSqe(r, &tail);
  if (sqe == nullptr) return -EBUSY;
  fill(sqe);
  return RingSubmit(r, from, tail);
}

void RingUnmap(Ring* r) {
  // Closing the ring cancels its waits only later, in a kernel worker: until
  // then a FUTEX_WAKE can still be spent on a wait whose thread is gone (a
  // terminated worker's), and a notify(1) reaches no live waiter. A cancel
  // request takes every wait off its word's queue as it is submitted.
  if (r->fd >= 0 && r->sqes && r->rings) {
    RingSubmitOne(r, [](struct io_uring_sqe* cancel) {
      cancel->opcode = IORING_OP_ASYNC_CANCEL;
      cancel->cancel_flags = IORING_ASYNC_CANCEL_ANY;
      cancel->user_data = kTagCancel;
    });
  }
  if (r->sqes) ::munmap(r->sqes, r->sqes_size);
  if (r->rings) ::munmap(r->rings, r->rings_size);
  if (r->fd >= 0) ::close(r->fd);
  r->sqes = nullptr;
  r->rings = nullptr;
  r->fd = -1;
}

// 0, or -errno: the ring, with FUTEX_WAIT supported.
int RingOpenFd(Ring* r) {
  struct io_uring_params p;
  std::memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  p.cq_entries = kCqEntries;
  r->fd = RingSetup(kEntries, &p);
  if (r->fd < 0) return -errno;
  // Completions that find the queue full wait in the kernel (NODROP), and
  // one mapping holds both queues (SINGLE_MMAP): both since Linux 5.5/5.4,
  // long before FUTEX_WAIT.
  if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_SINGLE_MMAP)) return -EOPNOTSUPP;
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  r->rings_size = sq_size > cq_size ? sq_size : cq_size;
  void* rings = ::mmap(nullptr, r->rings_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (rings == MAP_FAILED) return -errno;
  r->rings = rings;
  r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
  void* sqes = ::mmap(nullptr, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) return -errno;
  r->sqes = static_cast<struct io_uring_sqe*>(sqes);
  char* base = static_cast<char*>(rings);
  r->sq_head = reinterpret_cast<unsigned*>(base + p.sq_off.head);
  r->sq_tail = reinterpret_cast<unsigned*>(base + p.sq_off.tail);
  r->sq_mask = reinterpret_cast<unsigned*>(base + p.sq_off.ring_mask);
  r->sq_flags = reinterpret_cast<unsigned*>(base + p.sq_off.flags);
  r->sq_array = reinterpret_cast<unsigned*>(base + p.sq_off.array);
  r->cq_head = reinterpret_cast<unsigned*>(base + p.cq_off.head);
  r->cq_tail = reinterpret_cast<unsigned*>(base + p.cq_off.tail);
  r->cq_mask = reinterpret_cast<unsigned*>(base + p.cq_off.ring_mask);
  r->cqes = reinterpret_cast<struct io_uring_cqe*>(base + p.cq_off.cqes);
  r->cq_dropped = reinterpret_cast<unsigned*>(base + p.cq_off.overflow);
  r->dropped_seen = *r->cq_dropped;

  // Ask the kernel whether it knows FUTEX_WAIT (6.7+); older ones would
  // fail every wait with EINVAL.
  constexpr unsigned kProbeOps = 256;
  std::vector<uint8_t> probe_bytes(sizeof(struct io_uring_probe) + kProbeOps * sizeof(struct io_uring_probe_op));
  auto* probe = reinterpret_cast<struct io_uring_probe*>(probe_bytes.data());
  if (RingRegister(r->fd, IORING_REGISTER_PROBE, probe, kProbeOps) < 0) return -errno;
  if (probe->last_op < kOpFutexWait || !(probe->ops[kOpFutexWait].flags & IO_URING_OP_SUPPORTED)) return -EOPNOTSUPP;

  return 0;
}

void RingDispatch(Ring* r, uint64_t token, int result) {
  napi_env env = r->env;
  uint64_t client = token >> kClientShift;
  if (client == 0 || client > r->clients.size()) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[2];
  if (napi_get_reference_value(env, r->clients[client - 1], &fn) == napi_ok && fn != nullptr && napi_get_global(env, &recv) == napi_ok &&
      napi_create_double(env, static_cast<double>(token), &argv[0]) == napi_ok && napi_create_int32(env, result, &argv[1]) == napi_ok) {
    // As a callback from the event loop: microtasks run after it, as for any I/O.
    if (napi_make_callback(env, r->context, recv, fn, 2, argv, nullptr) != napi_ok) {
      bool pending = false;
      napi_value error;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &error) == napi_ok)
        napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

void RingOnReadable(uv_poll_t* handle, int status, int events) {
  Ring* r = static_cast<Ring*>(handle->data);
  std::vector<std::pair<uint64_t, int>>& done = r->done;
  done.clear();
  for (;;) {
    unsigned head = *r->cq_head;
    unsigned tail = AtomicAt(r->cq_tail)->load(std::memory_order_acquire);
    for (; head != tail; ++head) {
      const struct io_uring_cqe& cqe = r->cqes[head & *r->cq_mask];
      if (cqe.user_data & kTagCancel) continue;
      done.emplace_back(cqe.user_data, cqe.res);
    }
    AtomicAt(r->cq_head)->store(head, std::memory_order_release);
    // Completions that did not fit wait in the kernel until asked for.
    if (!(AtomicAt(r->sq_flags)->load(std::memory_order_acquire) & IORING_SQ_CQ_OVERFLOW)) break;
    RingEnter(r->fd, 0, 0, IORING_ENTER_GETEVENTS);
  }
  for (const auto& [token, result] : done) {
    if ((token & kSequenceMask) < r->forgotten_below) continue;  // forgotten after a drop
    if (--r->pending == 0) uv_unref(reinterpret_cast<uv_handle_t*>(r->poll));
    if (!r->closing) RingDispatch(r, token, result);
  }
  // Completions the kernel had no memory to keep (even NODROP drops them
  // then, and counts them) never come, and which ones is not known. So the
  // ring cancels every wait still queued and forgets them all, and every
  // client is told to take each of its waits as woken (a token with sequence
  // 0): wake-ups may be spurious, and callers check again. A drop is seen at
  // the next completion; every channel wait has a timer of at most 100 ms.
  unsigned dropped = AtomicAt(r->cq_dropped)->load(std::memory_order_acquire);
  if (dropped != r->dropped_seen) {
    r->dropped_seen = dropped;
    RingSubmitOne(r, [](struct io_uring_sqe* cancel) {
      cancel->opcode = IORING_OP_ASYNC_CANCEL;
      cancel->cancel_flags = IORING_ASYNC_CANCEL_ANY;
      cancel->user_data = kTagCancel;
    });
    if (r->pending != 0) uv_unref(reinterpret_cast<uv_handle_t*>(r->poll));
    r->pending = 0;
    r->forgotten_below = r->next_sequence & kSequenceMask;
    for (uint64_t client = 1; client <= r->clients.size() && !r->closing; client++) RingDispatch(r, client << kClientShift, 0);
  }
}

void RingOnPollClosed(uv_handle_t* handle) {
  Ring* r = static_cast<Ring*>(handle->data);
  delete reinterpret_cast<uv_poll_t*>(handle);
  RingUnmap(r);
  napi_remove_async_cleanup_hook(r->cleanup);
  delete r;
}

// The environment goes away: no JavaScript runs again; the ring is closed
// once libuv let go of the poll handle.
void RingOnEnvCleanup(napi_async_cleanup_hook_handle handle, void* data) {
  Ring* r = static_cast<Ring*>(data);
  r->closing = true;
  r->cleanup = handle;
  for (napi_ref ref : r->clients) napi_delete_reference(r->env, ref);
  r->clients.clear();
  if (r->context != nullptr) napi_async_destroy(r->env, r->context);
  r->context = nullptr;
  if (r->poll == nullptr) {
    RingUnmap(r);
    napi_remove_async_cleanup_hook(handle);
    delete r;
    return;
  }
  uv_poll_stop(r->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(r->poll), RingOnPollClosed);
}

Ring* RingOfCall(const Napi::CallbackInfo& info) { return static_cast<Ring*>(info.Data()); }

// futexRingOpen(dispatch) -> client | -errno. Sets up this environment's
// ring at the first call; dispatch(token, result) then gets the results of
// the waits this client starts, on this thread.
Napi::Value RingOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring* r = RingOfCall(info);
  if (!info[0].IsFunction()) return Errno(env, EINVAL);
  if (r->closing) return Errno(env, EBADF);
  if (r->poll == nullptr) {
    int err = RingOpenFd(r);
    if (err != 0) {
      RingUnmap(r);
      return Napi::Number::New(env, err);
    }
    uv_loop_t* loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      RingUnmap(r);
      return Errno(env, EINVAL);
    }
    r->poll = new uv_poll_t;
    r->poll->data = r;
    if (uv_poll_init(loop, r->poll, r->fd) != 0) {
      delete r->poll;
      r->poll = nullptr;
      RingUnmap(r);
      return Errno(env, EINVAL);
    }
    uv_poll_start(r->poll, UV_READABLE, RingOnReadable);
    uv_unref(reinterpret_cast<uv_handle_t*>(r->poll));  // only a pending wait keeps the process alive
    napi_value name;
    napi_create_string_utf8(env, "shmkit.futexRing", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, nullptr, name, &r->context);
  }
  if (r->clients.size() >= kMaxClients) return Errno(env, EMFILE);
  napi_ref ref;
  if (napi_create_reference(env, info[0], 1, &ref) != napi_ok) return Errno(env, ENOMEM);
  r->clients.push_back(ref);
  return Napi::Number::New(env, static_cast<double>(r->clients.size()));
}

// futexRingWait(client, buffer, byteOffset, expected) -> token | -errno. Sleeps
// while the word holds `expected`; the result (0, -EAGAIN: the word had
// changed, -ECANCELED) comes to dispatch. Time limits are kept in
// TypeScript, with a timer that cancels: cheaper than a linked timeout.
Napi::Value RingWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring* r = RingOfCall(info);
  if (r->poll == nullptr || r->closing) return Errno(env, EBADF);
  double client = info[0].As<Napi::Number>().DoubleValue();
  if (!(client >= 1 && client <= static_cast<double>(r->clients.size()))) return Errno(env, EBADF);
  uint32_t* addr = FutexWordAt(info[1], info[2]);
  if (addr == nullptr) return Errno(env, EINVAL);
  uint32_t expected = info[3].As<Napi::Number>().Uint32Value();
  uint64_t sequence = r->next_sequence++ & kSequenceMask;
  if (sequence == 0) sequence = r->next_sequence++ & kSequenceMask;  // 0 means "all of them" (RingOnReadable)
  uint64_t token = (static_cast<uint64_t>(client) << kClientShift) | sequence;
  int err = RingSubmitOne(r, [&](struct io_uring_sqe* wait) {
    wait->opcode = kOpFutexWait;
    wait->fd = kFutex2SizeU32;
    wait->addr = reinterpret_cast<uint64_t>(addr);
    wait->off = expected;
    wait->addr3 = kMatchAny;
    wait->user_data = token;
  });
  if (err != 0) return Napi::Number::New(env, err);
  if (r->pending++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(r->poll));
  return Napi::Number::New(env, static_cast<double>(token));
}

// futexRingCancel(token) -> 0 | -errno: ends a pending wait early; its
// result (-ECANCELED, or what it ended with first) still comes to dispatch.
// A token that is not pending is ignored by the kernel (ENOENT). -EAGAIN or
// -EBUSY: the kernel could not take the request now (no memory); try again.
Napi::Value RingCancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring* r = RingOfCall(info);
  if (r->poll == nullptr || r->closing) return Errno(env, EBADF);
  uint64_t token = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(env, RingSubmitOne(r, [&](struct io_uring_sqe* cancel) {
                             cancel->opcode = IORING_OP_ASYNC_CANCEL;
                             cancel->addr = token;
                             cancel->user_data = kTagCancel | token;
                           }));
}

}  // namespace

void InitFutexRing(Napi::Env env, Napi::Object exports) {
  Ring* r = new Ring;
  r->env = env;
  napi_add_async_cleanup_hook(env, RingOnEnvCleanup, r, &r->cleanup);
  Export<RingOpen>(env, exports, "futexRingOpen", r);
  Export<RingWait>(env, exports, "futexRingWait", r);
  Export<RingCancel>(env, exports, "futexRingCancel", r);
}

}  // namespace shmkit
