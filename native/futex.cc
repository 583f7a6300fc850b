// Futex shims for the channel: a synchronous FUTEX_WAKE, and waiters that run
// FUTEX_WAIT on their own thread and report back through a thread-safe
// function, so a wait never blocks the event loop nor occupies libuv's pool.
// Shared (not FUTEX_PRIVATE_FLAG) futexes: the words live in shared mappings
// that other processes wait on too. Results are 0 or a negative errno; what a
// result means is decided in TypeScript.
#include "clock.h"
#include "shim.h"
#include "waits.h"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <linux/futex.h>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace shmkit {
namespace {

// A wait longer than this is done in slices, so a waiter told to quit while
// its wake-up cannot reach it (the mapping was detached) still ends soon.
constexpr int64_t kSliceNs = 200 * 1000 * 1000;
constexpr size_t kWaiterStackSize = 64 * 1024;

long Futex(void* addr, int op, uint32_t val, const struct timespec* timeout) {
  return ::syscall(SYS_futex, addr, op, val, timeout, nullptr, 0);
}

// The cancel signal's target (waits.h): a cancel or close sets `cancel`, a
// mapping that goes away sets `wake`, and the handler then zeroes `ts`.
struct Waiter : CancelTarget {
  std::mutex mu;
  std::condition_variable cv;
  std::condition_variable left;  // the thread left FUTEX_WAIT (waiting_on back to null)
  bool pending = false;  // a wait is queued or running
  bool quit = false;
  bool finalized = false;  // the thread-safe function is gone (environment teardown)
  std::atomic<bool> cancel{false};
  std::atomic<bool> wake{false};  // end the wait as if woken (WakeWaitsIn)
  uint32_t* addr = nullptr;
  uint32_t expected = 0;
  int64_t deadline_ns = -1;  // -1: no time limit
  uint32_t* waiting_on = nullptr;  // the word the thread is in FUTEX_WAIT on, for cancel/quit
  Napi::ThreadSafeFunction tsfn;
  pthread_t thread{};
  bool started = false;
  bool Stopping() const override { return cancel.load() || wake.load(); }
};

using WaiterPtr = std::shared_ptr<Waiter>;

// Every environment's waiters, for WakeWaitsIn. Leaked: waiter threads of
// ending workers may still look here while the process exits.
std::mutex g_waiters_m;
auto* const g_waiters = new std::vector<std::weak_ptr<Waiter>>;

void Register(const WaiterPtr& w) {
  std::lock_guard<std::mutex> guard(g_waiters_m);
  auto gone = [](const std::weak_ptr<Waiter>& weak) { return weak.expired(); };
  g_waiters->erase(std::remove_if(g_waiters->begin(), g_waiters->end(), gone), g_waiters->end());
  g_waiters->push_back(w);
}

// How long a canceller waits for the signalled thread to leave FUTEX_WAIT
// before it wakes the word instead. The thread leaves within microseconds
// when it gets a CPU; on a machine with several runnable threads per CPU it
// may not get one for tens of milliseconds (20 ms was too short there).
constexpr auto kLeaveWait = std::chrono::milliseconds(100);

// Ends the thread's FUTEX_WAIT once cancel or wake is set, and returns once
// the thread has left the word's queue: a notify(1) sent right after a
// cancel or a detach must reach a live waiter, not this one. The cancel
// signal reaches this thread alone, so no other waiter on the word, in this
// process or another, sees a wake-up nobody sent. Without a signal to queue
// (none free, or RLIMIT_SIGPENDING used up), or if the thread does not run
// within kLeaveWait, a FUTEX_WAKE of the word wakes every waiter on it
// instead; each treats it as possibly spurious. `lock` holds w->mu.
void Kick(Waiter* w, std::unique_lock<std::mutex>& lock) {
  uint32_t* addr = w->waiting_on;
  if (addr == nullptr) return;
  if (SignalCancel(w->thread, w) && w->left.wait_for(lock, kLeaveWait, [w] { return w->waiting_on == nullptr; })) return;
  if (w->waiting_on != nullptr) Futex(w->waiting_on, FUTEX_WAKE, INT_MAX, nullptr);
}

int WaitOnce(Waiter* w, uint32_t* addr, uint32_t expected, int64_t deadline_ns) {
  volatile struct timespec* ts = &w->ts;
  for (;;) {
    int64_t slice = kSliceNs;
    if (deadline_ns >= 0) {
      int64_t left = deadline_ns - NowNs();
      if (left <= 0) return w->cancel.load() ? -ECANCELED : -ETIMEDOUT;
      if (left < slice) slice = left;
    }
    struct timespec t = NsToTimespec(slice);
    ts->tv_sec = t.tv_sec;
    ts->tv_nsec = t.tv_nsec;
    // The timespec must be in memory before the flags are read: a signal
    // after this check finds it and zeroes it (waits.h, CancelTarget).
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (w->cancel.load()) return -ECANCELED;
    if (w->wake.load()) return 0;
    if (Futex(addr, FUTEX_WAIT, expected, &w->ts) == 0) return 0;
    int err = errno;
    if (err == EINTR || err == ETIMEDOUT) continue;  // the loop re-checks the flags and the deadline
    return -err;  // EAGAIN: the word had changed already; EFAULT: unmapped
  }
}

void* WaiterMain(void* arg) {
  WaiterPtr* owned = static_cast<WaiterPtr*>(arg);
  WaiterPtr w = *owned;
  delete owned;
  UnblockCancelSignal();
  std::unique_lock<std::mutex> lock(w->mu);
  for (;;) {
    w->cv.wait(lock, [&] { return w->pending || w->quit; });
    if (w->quit) break;
    uint32_t* addr = w->addr;
    uint32_t expected = w->expected;
    int64_t deadline = w->deadline_ns;
    w->waiting_on = addr;
    lock.unlock();
    int result = WaitOnce(w.get(), addr, expected, deadline);
    lock.lock();
    w->waiting_on = nullptr;
    w->left.notify_all();
    w->pending = false;
    if (w->quit) break;
    if (w->finalized) continue;
    w->tsfn.NonBlockingCall([result](Napi::Env env, Napi::Function callback) {
      // At environment teardown (a result queued after the waiter was closed)
      // JavaScript can no longer run and the call fails; node-addon-api would
      // turn that failure into a throw, which then fails too: a fatal error.
      // The raw calls drop a result nobody can take; an exception the callback
      // throws stays pending and Node reports it as before.
      if (env == nullptr || callback.IsEmpty()) return;
      napi_value arg;
      if (napi_create_int32(env, result, &arg) != napi_ok) return;
      napi_value recv;
      if (napi_get_undefined(env, &recv) != napi_ok) return;
      napi_call_function(env, recv, callback, 1, &arg, nullptr);
    });
  }
  // Under the lock: the finalizer takes it too, so the function is released
  // only if it still exists (at teardown Node finalizes it on its own).
  if (!w->finalized) w->tsfn.Release();
  return nullptr;
}

void Quit(Waiter* w) {
  std::unique_lock<std::mutex> lock(w->mu);
  if (w->quit) return;
  w->quit = true;
  w->cancel.store(true);
  w->cv.notify_all();
  Kick(w, lock);
}

// futexWaiterNew(callback) -> handle | -errno. callback(result) runs on the
// main thread after each wait. The thread holds the process open only while
// a wait is pending (the function is unref'd when idle).
Napi::Value WaiterNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WaiterPtr w = std::make_shared<Waiter>();
  WaiterPtr* for_finalizer = new WaiterPtr(w);
  w->tsfn = Napi::ThreadSafeFunction::New(
      env, info[0].As<Napi::Function>(), "shmkit.futexWaiter", 0, 1, for_finalizer,
      [](Napi::Env, void*, WaiterPtr* p) {
        // Runs once the thread released the function, or at environment teardown.
        {
          std::lock_guard<std::mutex> guard((*p)->mu);
          (*p)->finalized = true;
        }
        Quit(p->get());
        if ((*p)->started) ::pthread_detach((*p)->thread);
        delete p;
      },
      static_cast<void*>(nullptr));
  w->tsfn.Unref(env);
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setstacksize(&attr, kWaiterStackSize);
  WaiterPtr* for_thread = new WaiterPtr(w);
  int err = CreateQuietThread(&w->thread, &attr, WaiterMain, for_thread);
  ::pthread_attr_destroy(&attr);
  if (err != 0) {
    delete for_thread;
    w->quit = true;
    w->tsfn.Release();
    return Errno(env, err);
  }
  w->started = true;
  Register(w);
  return Napi::External<WaiterPtr>::New(env, new WaiterPtr(w), [](Napi::Env, WaiterPtr* p) {
    Quit(p->get());
    delete p;
  });
}

// The waiter of a handle, or nullptr for anything else (as a worker being
// terminated may pass: its futexWaiterNew could not make the handle).
Waiter* HandleOf(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  WaiterPtr* p = v.As<Napi::External<WaiterPtr>>().Data();
  return p == nullptr ? nullptr : p->get();
}

// futexWaiterWait(handle, buffer, byteOffset, expected, timeoutMs) -> 0 | -errno.
// timeoutMs < 0 waits without limit. EBUSY: a wait is still pending.
Napi::Value WaiterWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Waiter* w = HandleOf(info[0]);
  if (w == nullptr) return Errno(env, EBADF);
  uint32_t* addr = FutexWordAt(info[1], info[2]);
  if (addr == nullptr) return Errno(env, EINVAL);
  uint32_t expected = info[3].As<Napi::Number>().Uint32Value();
  double timeout_ms = info[4].As<Napi::Number>().DoubleValue();
  std::lock_guard<std::mutex> guard(w->mu);
  if (w->quit || w->finalized) return Errno(env, EBADF);
  if (w->pending) return Errno(env, EBUSY);
  w->addr = addr;
  w->expected = expected;
  w->deadline_ns = timeout_ms < 0 ? -1 : NowNs() + static_cast<int64_t>(timeout_ms * 1e6);
  w->cancel.store(false);
  w->wake.store(false);
  w->pending = true;
  w->tsfn.Ref(env);
  w->cv.notify_all();
  return Napi::Number::New(env, 0);
}

// futexWaiterIdle(handle): called by the callback's owner once a result was
// taken, so an idle waiter does not keep the process alive.
Napi::Value WaiterIdle(const Napi::CallbackInfo& info) {
  Waiter* w = HandleOf(info[0]);
  if (w == nullptr) return info.Env().Undefined();
  std::lock_guard<std::mutex> guard(w->mu);
  if (!w->finalized) w->tsfn.Unref(info.Env());
  return info.Env().Undefined();
}

// futexWaiterCancel(handle): ends a pending wait early; its callback still
// runs (with -ECANCELED or 0).
Napi::Value WaiterCancel(const Napi::CallbackInfo& info) {
  Waiter* w = HandleOf(info[0]);
  if (w == nullptr) return info.Env().Undefined();
  std::unique_lock<std::mutex> lock(w->mu);
  if (w->pending) {
    w->cancel.store(true);
    Kick(w, lock);
  }
  return info.Env().Undefined();
}

// futexWaiterClose(handle): stops the thread; a pending wait reports nothing.
Napi::Value WaiterClose(const Napi::CallbackInfo& info) {
  Waiter* w = HandleOf(info[0]);
  if (w == nullptr) return info.Env().Undefined();
  Quit(w);
  std::lock_guard<std::mutex> guard(w->mu);
  if (!w->finalized) w->tsfn.Unref(info.Env());
  return info.Env().Undefined();
}

// futexWake(buffer, byteOffset, count) -> number woken | -errno
Napi::Value Wake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* addr = FutexWordAt(info[0], info[1]);
  if (addr == nullptr) return Errno(env, EINVAL);
  int count = info[2].As<Napi::Number>().Int32Value();
  long r = Futex(addr, FUTEX_WAKE, static_cast<uint32_t>(count), nullptr);
  if (r < 0) return Errno(env, errno);
  return Napi::Number::New(env, static_cast<double>(r));
}

// futexWaitSync(buffer, byteOffset, expected, timeoutMs) -> 0 | -errno.
// Blocks the calling thread; for worker threads and C-like tools only.
Napi::Value WaitSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* addr = FutexWordAt(info[0], info[1]);
  if (addr == nullptr) return Errno(env, EINVAL);
  uint32_t expected = info[2].As<Napi::Number>().Uint32Value();
  double timeout_ms = info[3].As<Napi::Number>().DoubleValue();
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ms >= 0) {
    ts = MsToTimespec(timeout_ms);
    tsp = &ts;
  }
  if (Futex(addr, FUTEX_WAIT, expected, tsp) == 0) return Napi::Number::New(env, 0);
  return Errno(env, errno);
}

// processAlive(pid) -> 0 (exists) | -errno (ESRCH: no such process). EPERM
// means it exists under another user; TypeScript decides what that means.
Napi::Value Kill0(const Napi::CallbackInfo& info) {
  int pid = info[0].As<Napi::Number>().Int32Value();
  if (::kill(pid, 0) == 0) return Napi::Number::New(info.Env(), 0);
  return Errno(info.Env(), errno);
}

// schedYield(): gives the CPU to another runnable thread, for bounded spin loops.
Napi::Value SchedYield(const Napi::CallbackInfo& info) {
  ::sched_yield();
  return info.Env().Undefined();
}

}  // namespace

// A waiter asleep on a word of a mapping that goes away without JavaScript's
// say (a worker's memory at its termination: beforeUnmap never runs) would
// stay queued on the word, where it is still the segment's for every other
// process, until its slice ends: a notify(1) meant for a live waiter would
// wake it instead. So the mapping wakes such waiters while the word is still
// its own: each such wait ends as if woken (result 0), and its owner re-checks.
void WakeWaitsIn(void* addr, size_t length) {
  std::vector<WaiterPtr> waiters;
  {
    std::lock_guard<std::mutex> guard(g_waiters_m);
    for (auto& weak : *g_waiters)
      if (WaiterPtr w = weak.lock()) waiters.push_back(std::move(w));
  }
  auto* begin = static_cast<char*>(addr);
  for (auto& w : waiters) {
    std::unique_lock<std::mutex> lock(w->mu);
    auto* word = reinterpret_cast<char*>(w->waiting_on);
    if (word >= begin && word < begin + length) {
      w->wake.store(true);
      Kick(w.get(), lock);
    }
  }
}

void InitFutex(Napi::Env env, Napi::Object exports) {
  Export<Wake>(env, exports, "futexWake");
  Export<WaitSync>(env, exports, "futexWaitSync");
  Export<WaiterNew>(env, exports, "futexWaiterNew");
  Export<WaiterWait>(env, exports, "futexWaiterWait");
  Export<WaiterIdle>(env, exports, "futexWaiterIdle");
  Export<WaiterCancel>(env, exports, "futexWaiterCancel");
  Export<WaiterClose>(env, exports, "futexWaiterClose");
  Export<Kill0>(env, exports, "kill0");
  Export<SchedYield>(env, exports, "schedYield");
}

}  // namespace shmkit
