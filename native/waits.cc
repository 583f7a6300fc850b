// The waiter threads: blocking System V calls (semtimedop, msgsnd, msgrcv)
// run on threads of our own and report back through a thread-safe function,
// so the event loop never blocks and libuv's small thread pool is never taken.
//
// Threads: a wait in the kernel needs a thread blocked in the call (the
// kernel offers no other way to wait for a semaphore or a message). How many
// run at once, and which, is decided in TypeScript (src/sysv/wait-threads.ts): it
// starts at most a fixed number of waits and queues the rest. Here a pool
// grows on demand up to that number, with small stacks, and lets a thread go
// after kIdleExit without work: under lock contention waits come and go
// thousands of times a second, and reusing a parked thread saves a thread
// creation (~10-30 µs, as much as the wake-up itself).
//
// Cancellation: a real-time signal queued to the waiting thread interrupts
// the call, which the kernel never restarts (EINTR, for every System V call),
// and an interrupted call has done nothing. The race where the signal lands
// just before the thread enters the kernel is closed in two ways. A timed
// call (semtimedop) reads a timespec the handler zeroes, so it only tries once
// and cannot sleep. An untimed call (msgsnd, msgrcv) has nothing the handler
// could change, so the thread's own timer repeats the signal every
// kRepeatNs until the thread has seen it; the same timer ends an untimed call
// at its deadline. The canceller sets the flag before it signals. Waiter
// threads block every other signal, so Node's own signal handling is
// untouched. Threads are detached; none is ever joined.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "clock.h"
#include "waits.h"
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace shmkit {
// Named, not anonymous: EnvWaits (declared in waits.h) holds these types.
namespace waits_internal {

constexpr int64_t kNsPerMs = 1000000;
constexpr int64_t kChunkNs = 3600LL * 1000 * kNsPerMs;  // an "infinite" timed wait is re-issued hourly
constexpr int64_t kNoSignalChunkNs = 50 * kNsPerMs;     // without a cancel signal, poll the flag
constexpr int64_t kNoSignalPollNs = 5 * kNsPerMs;       // ... and untimed calls every 5 ms
constexpr int64_t kRepeatNs = 2 * kNsPerMs;             // an untimed call's signal repeats until seen
constexpr auto kIdleExit = std::chrono::seconds(5);
constexpr int64_t kExitGraceNs = 1000 * kNsPerMs;       // how long the process's exit waits for cancelled waits
constexpr size_t kStackSize = 128 * 1024;

// One record per pool thread; records are reused, never freed, so a late
// signal's pointer always names valid memory.
struct Worker : CancelTarget {
  std::atomic<struct Job*> current{nullptr};
  timer_t timer{};  // the thread's own timer, while it runs
  bool hasTimer = false;
  std::atomic<bool> armed{false};  // the timer runs; Run stops it after the job
  bool Stopping() const override;
};

struct Job {
  double token;
  std::unique_ptr<WaitCall> call;
  int64_t deadline;  // CLOCK_MONOTONIC ns, or -1 for none
  std::atomic<bool> cancel{false};
  bool running = false;  // guarded by EnvWaits::m
  pthread_t thread{};    // valid while running
  Worker* worker = nullptr;
  int result = 0;
  std::shared_ptr<EnvWaits> owner;
  bool claimed = false;  // dispatch said it has the result (waitClaim); the environment's thread only
};

inline bool Worker::Stopping() const {
  Job* job = current.load();
  return job != nullptr && job->cancel.load();
}

void CallJs(Napi::Env env, Napi::Function dispatch, EnvWaits* ctx, Job* job);
using Tsfn = Napi::TypedThreadSafeFunction<EnvWaits, Job, CallJs>;

}  // namespace waits_internal

// The waits of one Node environment (main thread or a worker).
struct EnvWaits {
  std::mutex m;
  bool alive = true;     // false once the environment or the function goes
  bool hasTsfn = false;  // main thread only
  waits_internal::Tsfn tsfn;
  std::unordered_map<double, waits_internal::Job*> jobs;
  // Results handed to the thread-safe function that JavaScript has not had yet.
  std::unordered_set<waits_internal::Job*> queued;
  double nextToken = 1;
  size_t pending = 0;    // main thread only
  waits_internal::Job* dispatching = nullptr;  // the job whose result dispatch is running with (waitClaim)
  // The dispatch of each copy of shmkit's JavaScript in this environment (a
  // bundle beside a deep import), which share this state: a result is offered
  // to each in turn until one owns its token. The environment's thread only.
  std::vector<napi_ref> dispatchers;
};

namespace {
using namespace waits_internal;

int g_signal = 0;  // 0: no free real-time signal; cancel by polling instead
std::once_flag g_signal_once;

void OnCancelSignal(int, siginfo_t* si, void*) {
  // The timer's signals (SI_TIMER) only interrupt; a canceller's also zeroes the timespec.
  if (si->si_code != SI_QUEUE || si->si_pid != getpid()) return;
  auto* target = static_cast<CancelTarget*>(si->si_value.sival_ptr);
  if (target != nullptr && target->Stopping()) {
    target->ts.tv_sec = 0;
    target->ts.tv_nsec = 0;
  }
}

// Takes the first real-time signal nobody handles (glibc keeps the lowest
// ones for itself; we skip a few more that other libraries like to use).
void InstallSignal() {
  for (int s = SIGRTMIN + 6; s <= SIGRTMAX - 4; s++) {
    struct sigaction old;
    if (sigaction(s, nullptr, &old) != 0) continue;
    if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnCancelSignal;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART (System V calls ignore it anyway)
    sigfillset(&sa.sa_mask);
    if (sigaction(s, &sa, nullptr) == 0) {
      g_signal = s;
      return;
    }
  }
}

// Arms the worker's timer: first at `first` (absolute, CLOCK_MONOTONIC), then
// every kRepeatNs, so a signal that came just before the call is repeated.
void ArmTimer(Worker* w, int64_t first) {
  if (!w->hasTimer) return;
  w->armed.store(true);
  struct itimerspec its;
  its.it_value = NsToTimespec(std::max<int64_t>(first, 1));
  its.it_interval = NsToTimespec(kRepeatNs);
  timer_settime(w->timer, TIMER_ABSTIME, &its, nullptr);
}

void DisarmTimer(Worker* w) {
  if (!w->hasTimer || !w->armed.exchange(false)) return;
  struct itimerspec its;
  std::memset(&its, 0, sizeof its);
  timer_settime(w->timer, 0, &its, nullptr);
}

struct Pool {
  std::mutex m;
  std::condition_variable cv;
  std::deque<Job*> queue;
  int idle = 0;  // threads parked minus jobs queued for them
  std::vector<Worker*> freeWorkers;
};
// Leaked on purpose: parked threads may still use it while the process exits.
Pool* const g_pool = new Pool;

// The give-backs that had to wait (GiveBackLater), as the jobs of an
// environment of their own: never alive, so a finished one is just deleted
// (Deliver, Drop), and in no list that a cleanup or the exit cancels. Leaked
// as g_pool.
WaitsHolder* const g_giveBacks = [] {
  auto* holder = new WaitsHolder(std::make_shared<EnvWaits>());
  (*holder)->alive = false;
  return holder;
}();

// Deletes a job whose result JavaScript will never see. A call that
// succeeded is undone first (WaitCall::Revert): the semaphore units or the
// message it took go back, instead of being lost with an environment that
// went away (a worker that ended, or was terminated, while its wait completed).
void Drop(Job* job) {
  if (job->result == 0) job->call->Revert();
  delete job;
}

void Deliver(Job* job) {
  std::shared_ptr<EnvWaits> owner = std::move(job->owner);
  std::lock_guard<std::mutex> lock(owner->m);
  owner->jobs.erase(job->token);
  job->running = false;
  job->worker = nullptr;
  // The function is used only under the lock and while alive, so its
  // finalization (which clears alive under the same lock) cannot race us.
  // Once queued, the job belongs to CallJs.
  if (owner->alive && owner->tsfn.NonBlockingCall(job) == napi_ok) {
    owner->queued.insert(job);
    return;
  }
  // Dropped under the lock: the process's exit, which waits until no job is
  // left, then also waits for the undoing (OnProcessExit).
  Drop(job);
}

// A timed call: semtimedop in chunks, up to the deadline.
int RunTimed(Job* job, Worker* w) {
  volatile struct timespec* ts = &w->ts;
  for (;;) {
    int64_t now = NowNs();
    // Without a timer, a cancel whose signal cannot be queued (the user's
    // RLIMIT_SIGPENDING used up) is seen only at the end of a chunk.
    int64_t chunk = g_signal != 0 && w->hasTimer ? kChunkNs : kNoSignalChunkNs;
    int64_t end = now + chunk;
    if (job->deadline >= 0 && job->deadline < end) end = job->deadline;
    int64_t wait = std::max<int64_t>(end - now, 0);
    ts->tv_sec = static_cast<time_t>(wait / 1000000000LL);
    ts->tv_nsec = static_cast<long>(wait % 1000000000LL);
    // The timespec must be in memory before the flag is read: a signal
    // after this check finds it and zeroes it.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (job->cancel.load()) return -ECANCELED;
    int err = job->call->Attempt(&w->ts);
    if (err == 0) return 0;
    if (err == EINTR) {
      if (job->cancel.load()) return -ECANCELED;
      continue;  // a stop/continue, or a late signal for an earlier job
    }
    if (err == EAGAIN) {
      // Nothing happened. Either the time ran out, or the wait was
      // cancelled (zeroed timespec), or an operation had IPC_NOWAIT.
      if (job->cancel.load()) return -ECANCELED;
      int64_t after = NowNs();
      if (after >= end) {
        if (job->deadline >= 0 && after >= job->deadline) return -ETIMEDOUT;
        continue;  // the end of a chunk of an unbounded wait
      }
      return -EAGAIN;
    }
    return -err;
  }
}

// An untimed call: blocks until done, or until the timer's or a canceller's
// signal interrupts it. Without a signal of ours, it polls.
int RunUntimed(Job* job, Worker* w) {
  bool poll = g_signal == 0 || !w->hasTimer;
  if (!poll && job->deadline >= 0) ArmTimer(w, job->deadline);
  int result;
  for (;;) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (job->cancel.load()) {
      result = -ECANCELED;
      break;
    }
    int64_t now = NowNs();
    if (job->deadline >= 0 && now >= job->deadline) {
      // One last try without waiting: a limit of 0 means "only if possible now".
      struct timespec zero = {0, 0};
      int err = job->call->Attempt(&zero);
      result = err == EAGAIN ? -ETIMEDOUT : -err;
      break;
    }
    struct timespec zero = {0, 0};
    int err = job->call->Attempt(poll ? &zero : nullptr);
    if (err == 0) {
      result = 0;
      break;
    }
    if (err == EINTR) continue;  // the loop looks at the flag and the clock
    if (err == EAGAIN && poll) {
      int64_t nap = kNoSignalPollNs;
      if (job->deadline >= 0) nap = std::min(nap, std::max<int64_t>(job->deadline - now, 0));
      struct timespec ts = NsToTimespec(nap);
      nanosleep(&ts, nullptr);
      continue;
    }
    result = -err;
    break;
  }
  return result;
}

void Run(Job* job, Worker* w) {
  {
    std::lock_guard<std::mutex> lock(job->owner->m);
    if (job->cancel.load()) {
      job->result = -ECANCELED;
    } else {
      job->running = true;
      job->thread = pthread_self();
      job->worker = w;
    }
  }
  if (!job->running) return;
  w->current.store(job);
  bool timed = job->call->Timed();
  job->result = timed ? RunTimed(job, w) : RunUntimed(job, w);
  {
    // From here no canceller signals this thread or arms its timer for this job.
    std::lock_guard<std::mutex> lock(job->owner->m);
    job->running = false;
    job->worker = nullptr;
  }
  DisarmTimer(w);
  w->current.store(nullptr);
}

void* ThreadMain(void* arg) {
  Job* job = static_cast<Job*>(arg);
  Worker* w;
  {
    std::lock_guard<std::mutex> lock(g_pool->m);
    if (g_pool->freeWorkers.empty()) {
      w = new Worker;
    } else {
      w = g_pool->freeWorkers.back();
      g_pool->freeWorkers.pop_back();
    }
  }
  UnblockCancelSignal();
  if (g_signal != 0) {
    struct sigevent sev;
    std::memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = g_signal;
#ifdef sigev_notify_thread_id
    sev.sigev_notify_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
#else
    sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
#endif
    w->hasTimer = timer_create(CLOCK_MONOTONIC, &sev, &w->timer) == 0;
  }
  for (;;) {
    Run(job, w);
    // Parked before the result goes out: a wait JavaScript starts in answer
    // to it takes this thread instead of creating one, so there are never
    // more threads than the waits TypeScript lets run at once.
    {
      std::lock_guard<std::mutex> lock(g_pool->m);
      g_pool->idle++;
    }
    Deliver(job);
    std::unique_lock<std::mutex> lock(g_pool->m);
    while (g_pool->queue.empty()) {
      if (g_pool->cv.wait_for(lock, kIdleExit) == std::cv_status::timeout && g_pool->queue.empty()) {
        g_pool->idle--;
        if (w->hasTimer) timer_delete(w->timer);
        w->hasTimer = false;
        g_pool->freeWorkers.push_back(w);
        return nullptr;
      }
    }
    job = g_pool->queue.front();
    g_pool->queue.pop_front();
  }
}

// Hands the job to a parked thread, or starts one. Returns 0 or an errno.
int Submit(Job* job) {
  {
    std::lock_guard<std::mutex> lock(g_pool->m);
    if (g_pool->idle > 0) {
      g_pool->idle--;
      g_pool->queue.push_back(job);
      g_pool->cv.notify_one();
      return 0;
    }
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, std::max<size_t>(kStackSize, static_cast<size_t>(PTHREAD_STACK_MIN)));
  pthread_t thread;
  int err = CreateQuietThread(&thread, &attr, ThreadMain, job);
  pthread_attr_destroy(&attr);
  return err;
}

// After a call of a dispatch that failed: whether the result counts as
// received (see Dispatch, below).
bool Failed(napi_env env, Job* job, bool undone) {
  // The call failed. With nothing pending, no JavaScript ran: the
  // environment can no longer call into it. A pending exception is either
  // dispatch's own (a bug: it ran and may have handed the result on; leave
  // it for Node to report) or the termination of a worker, which either
  // stopped the call at its entry or cut dispatch short. Before dispatch
  // claimed the result (waitClaim), nothing of it ran: undone here. After,
  // the result is JavaScript's, which may have given back the operation
  // already (a wait aborted as it completed, src/sem/wait-queue.ts): undone
  // here too, it would have been given back twice, one unit too many. V8
  // reports a termination as a null exception.
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return undone || job->claimed;
  napi_value exception;
  if (napi_get_and_clear_last_exception(env, &exception) != napi_ok) return true;
  napi_valuetype type;
  if (napi_typeof(env, exception, &type) == napi_ok && (type == napi_null || type == napi_undefined)) return undone || job->claimed;
  napi_throw(env, exception);  // dispatch threw: as before, Node reports it
  return true;
}

// Calls dispatch(token, result, value). True if JavaScript received the
// result (or the call was undone here already), false if it never did: then
// the caller undoes the call. Raw Node-API calls only, and never a throw:
// this runs while a worker's environment goes away too (Node's
// FreeEnvironment runs the event loop once more, before the cleanup hooks,
// and so dispatches a result queued just before the end), where JavaScript
// cannot run and every call that needs it fails; node-addon-api would turn
// that failure into a throw, which fails as well: a fatal error that
// aborted the whole process.
bool Dispatch(napi_env env, EnvWaits* ctx, Job* job) {
  napi_value recv, argv[3];
  if (napi_get_undefined(env, &recv) != napi_ok) return false;
  int result = job->result;
  bool undone = false;
  argv[2] = recv;
  if (result == 0 && job->call->Value(env, &argv[2]) != napi_ok) {
    // No value: JavaScript cannot run (the environment is going), or memory
    // ran out. The call is undone, and dispatch, if it can still run, hears
    // of a failure, so that the wait does not stay pending for ever.
    bool pending = false;
    napi_value ignored;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
    job->call->Revert();
    undone = true;
    result = -ENOMEM;
    argv[2] = recv;
  }
  if (napi_create_double(env, job->token, &argv[0]) != napi_ok || napi_create_int32(env, result, &argv[1]) != napi_ok) return undone;
  // By index, over the copies there are now: a dispatch may call waitInit, which appends.
  for (size_t i = 0, n = ctx->dispatchers.size(); i < n; i++) {
    napi_value dispatch, returned;
    if (napi_get_reference_value(env, ctx->dispatchers[i], &dispatch) != napi_ok || dispatch == nullptr) continue;
    ctx->dispatching = job;
    napi_status called = napi_call_function(env, recv, dispatch, 3, argv, &returned);
    ctx->dispatching = nullptr;
    if (called != napi_ok) return Failed(env, job, undone);
    // false: not this copy's token. Anything else (a copy that says nothing) counts as taken.
    bool taken = true;
    napi_valuetype type;
    if (napi_typeof(env, returned, &type) == napi_ok && type == napi_boolean) napi_get_value_bool(env, returned, &taken);
    if (taken) return true;
  }
  // No copy knows the token: nobody will ever see the result.
  return undone;
}


}  // namespace
namespace waits_internal {

// Runs on the environment's thread for each queued result, or with env null
// when the function goes away with results still queued (ctx may then be
// gone: it is not touched). A result JavaScript did not receive is undone.
void CallJs(Napi::Env env, Napi::Function, EnvWaits* ctx, Job* job) {
  if (env == nullptr || ctx == nullptr) {
    Drop(job);
    return;
  }
  if (--ctx->pending == 0 && ctx->hasTsfn) napi_unref_threadsafe_function(env, ctx->tsfn);
  {
    std::lock_guard<std::mutex> lock(ctx->m);
    if (ctx->queued.erase(job) == 0) {
      // The process's exit has undone it already (OnProcessExit).
      delete job;
      return;
    }
  }
  if (!Dispatch(env, ctx, job)) {
    Drop(job);
  } else {
    delete job;
  }
}

}  // namespace waits_internal
namespace {

EnvWaits* StateOf(const Napi::CallbackInfo& info) {
  return static_cast<WaitsHolder*>(info.Data())->get();
}

// waitInit(dispatch): dispatch(token, result, value) is offered every result,
// on the JavaScript thread, and returns whether the token is its own. Called
// once per environment by each copy of the JavaScript.
Napi::Value WaitInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* holder = static_cast<WaitsHolder*>(info.Data());
  EnvWaits* state = holder->get();
  napi_ref ref;
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, info[0], 1, &ref), env.Undefined());
  state->dispatchers.push_back(ref);
  if (state->hasTsfn) return env.Undefined();
  std::call_once(g_signal_once, InstallSignal);
  auto* keep = new WaitsHolder(*holder);
  state->tsfn = Tsfn::New(env, info[0].As<Napi::Function>(), "shmkit:wait", 0, 1, state,
                          [](Napi::Env, WaitsHolder* keep, EnvWaits* state) {
                            {
                              // What is still queued goes to CallJs without an
                              // environment next, which undoes it.
                              std::lock_guard<std::mutex> lock(state->m);
                              state->alive = false;
                              state->queued.clear();
                            }
                            delete keep;
                          },
                          keep);
  state->hasTsfn = true;
  // Idle until a wait is pending: an unused waiter never keeps Node alive.
  state->tsfn.Unref(env);
  return env.Undefined();
}

void CancelLocked(Job* job) {
  job->cancel.store(true);
  if (job->running && g_signal != 0) {
    bool queued = SignalCancel(job->thread, job->worker);
    // An untimed call may not be in the kernel yet: repeat until it has seen
    // the flag. If the user's pending signals are used up (RLIMIT_SIGPENDING),
    // nothing can be queued, tgkill's real-time signals included (EAGAIN);
    // the timer's signal was allocated with the timer, so it goes at once,
    // and its repeats close the gap before the call's entry.
    if (!queued) ArmTimer(job->worker, NowNs());
    else if (!job->call->Timed()) ArmTimer(job->worker, NowNs() + kRepeatNs);
  }
}

// waitCancel(token) -> 1 if the wait was still pending, else 0. Its result
// still arrives through dispatch (ECANCELED, or what happened first).
Napi::Value WaitCancel(const Napi::CallbackInfo& info) {
  EnvWaits* state = StateOf(info);
  double token = info[0].As<Napi::Number>().DoubleValue();
  std::lock_guard<std::mutex> lock(state->m);
  auto it = state->jobs.find(token);
  if (it == state->jobs.end()) return Napi::Number::New(info.Env(), 0);
  CancelLocked(it->second);
  return Napi::Number::New(info.Env(), 1);
}

// waitClaim(): called by dispatch, on the environment's thread, before it acts
// on the result it is running with: from then on that result is
// JavaScript's, and a termination that cuts dispatch short undoes nothing.
Napi::Value WaitClaim(const Napi::CallbackInfo& info) {
  EnvWaits* state = StateOf(info);
  if (state->dispatching != nullptr) state->dispatching->claimed = true;
  return info.Env().Undefined();
}

// When the environment goes (exit, worker termination), its waits are
// cancelled so that no thread stays blocked for a JavaScript that is gone.
void OnEnvCleanup(WaitsHolder* holder) {
  EnvWaits* state = holder->get();
  {
    std::lock_guard<std::mutex> lock(state->m);
    state->alive = false;
    for (auto& entry : state->jobs) CancelLocked(entry.second);
  }
  delete holder;
}

// Every environment's waits, for the process's exit.
std::mutex g_envs_m;
auto* const g_envs = new std::vector<std::weak_ptr<EnvWaits>>;  // leaked, as g_pool
std::once_flag g_exit_once;

// process.exit() on the main thread ends the process through exit(3)
// without running the environment's cleanup hooks, while waiter threads
// still block in the kernel: a message or semaphore unit that arrives during
// the teardown, or a result queued for JavaScript that never runs again, was
// taken and then lost with the process. At exit, every wait is cancelled, what
// completed is undone (WaitCall::Revert) as for an environment that goes
// away, and the exit waits, at most kExitGraceNs in all, until every waiter
// thread has let go of its call and every give-back that had to wait (a
// message for a full queue, GiveBackLater) is done. Those are not
// cancelled: each one still waiting when the grace ends is lost.
void OnProcessExit() {
  std::vector<std::shared_ptr<EnvWaits>> envs;
  {
    std::lock_guard<std::mutex> lock(g_envs_m);
    for (auto& weak : *g_envs)
      if (auto state = weak.lock()) envs.push_back(std::move(state));
  }
  for (auto& state : envs) {
    std::lock_guard<std::mutex> lock(state->m);
    state->alive = false;
    for (auto& entry : state->jobs) CancelLocked(entry.second);
    // Left for CallJs to free, should it ever run: it no longer finds them.
    for (Job* job : state->queued)
      if (job->result == 0) job->call->Revert();
    state->queued.clear();
  }
  int64_t deadline = NowNs() + kExitGraceNs;
  // Last: a thread that finds its environment gone starts its give-back
  // (if it must wait) under the environment's lock, before its job goes.
  envs.push_back(*g_giveBacks);
  for (auto& state : envs) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(state->m);
        if (state->jobs.empty()) break;
      }
      if (NowNs() >= deadline) return;
      struct timespec nap = NsToTimespec(kNsPerMs / 2);
      nanosleep(&nap, nullptr);
    }
  }
}

}  // namespace

bool SignalCancel(pthread_t thread, CancelTarget* target) {
  if (g_signal == 0) return false;
  union sigval value;
  value.sival_ptr = target;
  return pthread_sigqueue(thread, g_signal, value) == 0;
}

void UnblockCancelSignal() {
  std::call_once(g_signal_once, InstallSignal);
  if (g_signal == 0) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, g_signal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int CreateQuietThread(pthread_t* thread, pthread_attr_t* attr, void* (*main)(void*), void* arg) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(thread, attr, main, arg);
  if (err == EINVAL) {  // a stack too small for this libc's static TLS
    pthread_attr_setstacksize(attr, 1024 * 1024);
    err = pthread_create(thread, attr, main, arg);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return err;
}

Napi::Value StartWait(Napi::Env env, WaitsHolder* holder, std::unique_ptr<WaitCall> call, double timeout) {
  EnvWaits* state = holder->get();
  if (!state->hasTsfn) return Errno(env, EINVAL);
  Job* job = new Job;
  job->call = std::move(call);
  job->deadline = timeout < 0 || timeout > kMaxTimeoutMs ? -1 : NowNs() + static_cast<int64_t>(timeout * kNsPerMs);
  job->owner = *holder;
  {
    std::lock_guard<std::mutex> lock(state->m);
    job->token = state->nextToken++;
    state->jobs.emplace(job->token, job);
  }
  double token = job->token;
  if (int err = Submit(job)) {
    std::lock_guard<std::mutex> lock(state->m);
    state->jobs.erase(token);
    delete job;
    return Errno(env, err);
  }
  if (state->pending++ == 0) state->tsfn.Ref(env);
  return Napi::Number::New(env, token);
}

void GiveBackLater(std::unique_ptr<WaitCall> call) {
  EnvWaits* state = g_giveBacks->get();
  Job* job = new Job;
  job->call = std::move(call);
  job->deadline = NowNs() + static_cast<int64_t>(kGiveBackMs * kNsPerMs);
  job->owner = *g_giveBacks;
  // Registered and submitted under the lock: the exit, which waits until no
  // job is left, sees it as soon as the job it undoes is gone.
  std::lock_guard<std::mutex> lock(state->m);
  job->token = state->nextToken++;
  state->jobs.emplace(job->token, job);
  if (Submit(job) != 0) {
    // No thread: what it gives back is lost, as before there was a wait.
    state->jobs.erase(job->token);
    delete job;
  }
}

WaitsHolder* InitWaits(Napi::Env env, Napi::Object exports) {
  auto* holder = new WaitsHolder(std::make_shared<EnvWaits>());
  {
    std::lock_guard<std::mutex> lock(g_envs_m);
    g_envs->erase(std::remove_if(g_envs->begin(), g_envs->end(), [](auto& weak) { return weak.expired(); }), g_envs->end());
    g_envs->push_back(*holder);
  }
  std::call_once(g_exit_once, [] { std::atexit(OnProcessExit); });
  Export<WaitInit>(env, exports, "waitInit", holder);
  Export<WaitCancel>(env, exports, "waitCancel", holder);
  Export<WaitClaim>(env, exports, "waitClaim", holder);
  env.AddCleanupHook(OnEnvCleanup, holder);
  return holder;
}

}  // namespace shmkit
