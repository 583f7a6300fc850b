// System V semaphore shims. The synchronous ones are one call each, errno
// returned as a negative number, no defaults and no validation (TypeScript
// does both). The asynchronous wait runs semtimedop on a thread of our own
// and reports back through a thread-safe function, so the event loop never
// blocks and libuv's small thread pool is never taken.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shim.h"
#include <pthread.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace shmkit {
namespace {

// glibc leaves the definition of semctl's fourth argument to the caller.
union SemUn {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
  struct seminfo* info;
};

// Operations arrive as an Int32Array of (sem_num, sem_op, sem_flg) triples,
// already range-checked in TypeScript.
std::vector<struct sembuf> ToSembufs(const Napi::Value& value) {
  Napi::Int32Array a = value.As<Napi::Int32Array>();
  size_t n = a.ElementLength() / 3;
  std::vector<struct sembuf> sops(n);
  for (size_t i = 0; i < n; i++) {
    sops[i].sem_num = static_cast<unsigned short>(a[3 * i]);
    sops[i].sem_op = static_cast<short>(a[3 * i + 1]);
    sops[i].sem_flg = static_cast<short>(a[3 * i + 2]);
  }
  return sops;
}

// Longer than any process will wait (~31 years); keeps the arithmetic below in range.
constexpr double kMaxTimeoutMs = 1e12;

struct timespec MsToTimespec(double ms) {
  struct timespec ts;
  if (ms > kMaxTimeoutMs) ms = kMaxTimeoutMs;
  double sec = ms / 1000;
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>((ms - static_cast<double>(ts.tv_sec) * 1000) * 1e6);
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  return ts;
}

// semget(key, nsems, flags) -> id | -errno
Napi::Value Semget(const Napi::CallbackInfo& info) {
  key_t key = info[0].As<Napi::Number>().Int32Value();
  int nsems = info[1].As<Napi::Number>().Int32Value();
  int flags = info[2].As<Napi::Number>().Int32Value();
  int id = ::semget(key, nsems, flags);
  if (id == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), id);
}

// semop(semid, sops, timeoutMs) -> 0 | -errno; timeoutMs < 0 means none
// (semop), otherwise semtimedop. Blocks the calling thread, like C.
Napi::Value Semop(const Napi::CallbackInfo& info) {
  int semid = info[0].As<Napi::Number>().Int32Value();
  std::vector<struct sembuf> sops = ToSembufs(info[1]);
  double timeout = info[2].As<Napi::Number>().DoubleValue();
  int r;
  if (timeout < 0) {
    r = ::semop(semid, sops.data(), sops.size());
  } else {
    struct timespec ts = MsToTimespec(timeout);
    r = ::semtimedop(semid, sops.data(), sops.size(), &ts);
  }
  if (r == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// semctlCmd(semid, semnum, cmd) for commands without a buffer (GETVAL,
// GETPID, GETNCNT, GETZCNT, IPC_RMID, unknown ones) -> ret | -errno. A null
// buffer pointer keeps any unknown command memory-safe (the kernel says EFAULT).
Napi::Value SemctlCmd(const Napi::CallbackInfo& info) {
  int semid = info[0].As<Napi::Number>().Int32Value();
  int semnum = info[1].As<Napi::Number>().Int32Value();
  int cmd = info[2].As<Napi::Number>().Int32Value();
  SemUn arg;
  arg.buf = nullptr;
  int r = ::semctl(semid, semnum, cmd, arg);
  if (r == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), r);
}

// semctlSetVal(semid, semnum, value) -> 0 | -errno
Napi::Value SemctlSetVal(const Napi::CallbackInfo& info) {
  int semid = info[0].As<Napi::Number>().Int32Value();
  int semnum = info[1].As<Napi::Number>().Int32Value();
  SemUn arg;
  arg.val = info[2].As<Napi::Number>().Int32Value();
  if (::semctl(semid, semnum, SETVAL, arg) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// The kernel reads or writes sem_nsems values of whatever set the id names
// when it runs. The buffer is sized for the set as IPC_STAT saw it and never
// smaller than the system's SEMMSL, so a set replaced under the same id in
// between cannot make the kernel touch memory beyond it.
int ArraySize(int semid, size_t* nsems) {
  struct semid_ds ds;
  SemUn arg;
  arg.buf = &ds;
  if (::semctl(semid, 0, IPC_STAT, arg) == -1) return errno;
  *nsems = ds.sem_nsems;
  return 0;
}

size_t SafeLength(size_t nsems) {
  struct seminfo si;
  SemUn arg;
  arg.info = &si;
  size_t semmsl = 0;
  if (::semctl(0, 0, IPC_INFO, arg) != -1 && si.semmsl > 0) semmsl = static_cast<size_t>(si.semmsl);
  return std::max(nsems, semmsl);
}

// semctlGetAll(semid) -> number[] | -errno
Napi::Value SemctlGetAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int semid = info[0].As<Napi::Number>().Int32Value();
  size_t nsems = 0;
  if (int err = ArraySize(semid, &nsems)) return Errno(env, err);
  std::vector<unsigned short> values(SafeLength(nsems), 0);
  SemUn arg;
  arg.array = values.data();
  if (::semctl(semid, 0, GETALL, arg) == -1) return Errno(env, errno);
  Napi::Array result = Napi::Array::New(env, nsems);
  for (size_t i = 0; i < nsems; i++) result.Set(static_cast<uint32_t>(i), Napi::Number::New(env, values[i]));
  return result;
}

// semctlSetAll(semid, Uint16Array values) -> 0 | -errno. The values must
// cover the whole set (TypeScript checks; EINVAL here if the set differs).
Napi::Value SemctlSetAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int semid = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint16Array given = info[1].As<Napi::Uint16Array>();
  size_t nsems = 0;
  if (int err = ArraySize(semid, &nsems)) return Errno(env, err);
  if (nsems != given.ElementLength()) return Errno(env, EINVAL);
  std::vector<unsigned short> values(SafeLength(nsems), 0);
  for (size_t i = 0; i < nsems; i++) values[i] = given[i];
  SemUn arg;
  arg.array = values.data();
  if (::semctl(semid, 0, SETALL, arg) == -1) return Errno(env, errno);
  return Napi::Number::New(env, 0);
}

// semctlStat(id, cmd) for IPC_STAT, SEM_STAT, SEM_STAT_ANY -> [ret, fields] | -errno
Napi::Value SemctlStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  int cmd = info[1].As<Napi::Number>().Int32Value();
  struct semid_ds ds;
  std::memset(&ds, 0, sizeof ds);
  SemUn arg;
  arg.buf = &ds;
  int ret = ::semctl(id, 0, cmd, arg);
  if (ret == -1) return Errno(env, errno);
  Napi::Object o = PermObject(env, ds.sem_perm);
  o.Set("sem_otime", Napi::Number::New(env, static_cast<double>(ds.sem_otime)));
  o.Set("sem_ctime", Napi::Number::New(env, static_cast<double>(ds.sem_ctime)));
  o.Set("sem_nsems", Napi::Number::New(env, static_cast<double>(ds.sem_nsems)));
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, ret));
  result.Set(1u, o);
  return result;
}

// semctlSet(id, uid, gid, mode) -> 0 | -errno
Napi::Value SemctlSet(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  struct semid_ds ds;
  std::memset(&ds, 0, sizeof ds);
  ds.sem_perm.uid = info[1].As<Napi::Number>().Uint32Value();
  ds.sem_perm.gid = info[2].As<Napi::Number>().Uint32Value();
  ds.sem_perm.mode = info[3].As<Napi::Number>().Uint32Value();
  SemUn arg;
  arg.buf = &ds;
  if (::semctl(id, 0, IPC_SET, arg) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// semctlInfo(cmd) for IPC_INFO and SEM_INFO -> [ret, struct seminfo] | -errno
Napi::Value SemctlInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int cmd = info[0].As<Napi::Number>().Int32Value();
  if (cmd != IPC_INFO && cmd != SEM_INFO) return Errno(env, EINVAL);
  struct seminfo si;
  std::memset(&si, 0, sizeof si);
  SemUn arg;
  arg.info = &si;
  int ret = ::semctl(0, 0, cmd, arg);
  if (ret == -1) return Errno(env, errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("semmap", Napi::Number::New(env, si.semmap));
  o.Set("semmni", Napi::Number::New(env, si.semmni));
  o.Set("semmns", Napi::Number::New(env, si.semmns));
  o.Set("semmnu", Napi::Number::New(env, si.semmnu));
  o.Set("semmsl", Napi::Number::New(env, si.semmsl));
  o.Set("semopm", Napi::Number::New(env, si.semopm));
  o.Set("semume", Napi::Number::New(env, si.semume));
  o.Set("semusz", Napi::Number::New(env, si.semusz));
  o.Set("semvmx", Napi::Number::New(env, si.semvmx));
  o.Set("semaem", Napi::Number::New(env, si.semaem));
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, ret));
  result.Set(1u, o);
  return result;
}

// ---------------------------------------------------------------------------
// Asynchronous waits.
//
// Threads: a wait in the kernel needs a thread blocked in semtimedop (the
// kernel offers no other way to wait for a semaphore). How many run at once,
// and which, is decided in TypeScript (src/sem/wait-threads.ts): it starts at
// most a fixed number of waits and queues the rest. Here a pool grows on
// demand up to that number, with small stacks, and lets a thread go after
// kIdleExit without work: under lock contention waits come and go thousands
// of times a second, and reusing a parked thread saves a thread creation
// (~10-30 µs, as much as the wake-up itself).
//
// Cancellation (AbortSignal, timeouts are the kernel's): a real-time signal
// queued to the waiting thread interrupts semtimedop, which the kernel never
// restarts (EINTR), and an interrupted semop has done nothing. The race
// where the signal lands just before the thread enters the kernel is closed
// by the handler zeroing the timespec the call is about to read, so that call
// only tries once and cannot sleep. The canceller sets the flag before it
// signals. Waiter threads block every other signal, so Node's own signal
// handling is untouched. Threads are detached; none is ever joined.
// ---------------------------------------------------------------------------

struct EnvWaits;

constexpr int64_t kNsPerMs = 1000000;
constexpr int64_t kChunkNs = 3600LL * 1000 * kNsPerMs;  // an "infinite" wait is re-issued hourly
constexpr int64_t kNoSignalChunkNs = 50 * kNsPerMs;     // without a cancel signal, poll the flag
constexpr auto kIdleExit = std::chrono::seconds(5);
constexpr size_t kStackSize = 128 * 1024;

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

struct Job {
  double token;
  int semid;
  std::vector<struct sembuf> sops;
  int64_t deadline;  // CLOCK_MONOTONIC ns, or -1 for none
  std::atomic<bool> cancel{false};
  bool running = false;    // guarded by EnvWaits::m
  pthread_t thread{};      // valid while running
  struct Worker* worker = nullptr;
  int result = 0;
  std::shared_ptr<EnvWaits> owner;
};

// One record per pool thread; records are reused, never freed, so a late
// signal's pointer always names valid memory.
struct Worker {
  std::atomic<Job*> current{nullptr};
  struct timespec ts;
};

void CallJs(Napi::Env env, Napi::Function dispatch, EnvWaits* ctx, Job* job);
using Tsfn = Napi::TypedThreadSafeFunction<EnvWaits, Job, CallJs>;

// The waits of one Node environment (main thread or a worker).
struct EnvWaits {
  std::mutex m;
  bool alive = true;     // false once the environment or the function goes
  bool hasTsfn = false;  // main thread only
  Tsfn tsfn;
  std::unordered_map<double, Job*> jobs;
  double nextToken = 1;
  size_t pending = 0;    // main thread only
};

int g_signal = 0;  // 0: no free real-time signal; cancel by polling instead
std::once_flag g_signal_once;

void OnCancelSignal(int, siginfo_t* si, void*) {
  if (si->si_code != SI_QUEUE || si->si_pid != getpid()) return;
  Worker* w = static_cast<Worker*>(si->si_value.sival_ptr);
  if (w == nullptr) return;
  Job* job = w->current.load();
  if (job != nullptr && job->cancel.load()) {
    w->ts.tv_sec = 0;
    w->ts.tv_nsec = 0;
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
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: the wait must return EINTR
    sigfillset(&sa.sa_mask);
    if (sigaction(s, &sa, nullptr) == 0) {
      g_signal = s;
      return;
    }
  }
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

void Deliver(Job* job) {
  std::shared_ptr<EnvWaits> owner = std::move(job->owner);
  std::lock_guard<std::mutex> lock(owner->m);
  owner->jobs.erase(job->token);
  job->running = false;
  job->worker = nullptr;
  // The function is used only under the lock and while alive, so its
  // finalization (which clears alive under the same lock) cannot race us.
  if (!owner->alive || owner->tsfn.NonBlockingCall(job) != napi_ok) delete job;
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
  if (job->running) {
    w->current.store(job);
    volatile struct timespec* ts = &w->ts;
    for (;;) {
      int64_t now = NowNs();
      int64_t chunk = g_signal != 0 ? kChunkNs : kNoSignalChunkNs;
      int64_t end = now + chunk;
      if (job->deadline >= 0 && job->deadline < end) end = job->deadline;
      int64_t wait = std::max<int64_t>(end - now, 0);
      ts->tv_sec = static_cast<time_t>(wait / 1000000000LL);
      ts->tv_nsec = static_cast<long>(wait % 1000000000LL);
      // The timespec must be in memory before the flag is read: a signal
      // after this check finds it and zeroes it.
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (job->cancel.load()) {
        job->result = -ECANCELED;
        break;
      }
      int r = ::semtimedop(job->semid, job->sops.data(), job->sops.size(), &w->ts);
      if (r == 0) {
        job->result = 0;
        break;
      }
      int err = errno;
      if (err == EINTR) {
        if (job->cancel.load()) {
          job->result = -ECANCELED;
          break;
        }
        continue;  // a stop/continue, or a late signal for an earlier job
      }
      if (err == EAGAIN) {
        // Nothing happened. Either the time ran out, or the wait was
        // cancelled (zeroed timespec), or an operation had IPC_NOWAIT.
        if (job->cancel.load()) {
          job->result = -ECANCELED;
          break;
        }
        int64_t after = NowNs();
        if (after >= end) {
          if (job->deadline >= 0 && after >= job->deadline) {
            job->result = -ETIMEDOUT;
            break;
          }
          continue;  // the end of a chunk of an unbounded wait
        }
        job->result = -EAGAIN;
        break;
      }
      job->result = -err;
      break;
    }
    w->current.store(nullptr);
  }
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
  if (g_signal != 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, g_signal);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
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
  // Waiters take no signal but ours: Node's own (SIGCHLD, SIGINT...) keep
  // going to threads that handle them, and semtimedop sees no stray EINTR.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, ThreadMain, job);
  if (err == EINVAL) {  // a stack too small for this libc's static TLS
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    err = pthread_create(&thread, &attr, ThreadMain, job);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return err;
}

void CallJs(Napi::Env env, Napi::Function dispatch, EnvWaits* ctx, Job* job) {
  if (env != nullptr && ctx != nullptr) {
    if (--ctx->pending == 0 && ctx->hasTsfn) ctx->tsfn.Unref(env);
    if (!dispatch.IsEmpty()) {
      dispatch.Call({Napi::Number::New(env, job->token), Napi::Number::New(env, job->result)});
    }
  }
  delete job;
}

EnvWaits* StateOf(const Napi::CallbackInfo& info) {
  return static_cast<std::shared_ptr<EnvWaits>*>(info.Data())->get();
}

// semWaitInit(dispatch): dispatch(token, result) receives every result, on
// the JavaScript thread. Called once per environment.
Napi::Value SemWaitInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* holder = static_cast<std::shared_ptr<EnvWaits>*>(info.Data());
  EnvWaits* state = holder->get();
  if (state->hasTsfn) return env.Undefined();
  std::call_once(g_signal_once, InstallSignal);
  auto* keep = new std::shared_ptr<EnvWaits>(*holder);
  state->tsfn = Tsfn::New(env, info[0].As<Napi::Function>(), "shmkit:semwait", 0, 1, state,
                          [](Napi::Env, std::shared_ptr<EnvWaits>* keep, EnvWaits* state) {
                            {
                              std::lock_guard<std::mutex> lock(state->m);
                              state->alive = false;
                            }
                            delete keep;
                          },
                          keep);
  state->hasTsfn = true;
  // Idle until a wait is pending: an unused waiter never keeps Node alive.
  state->tsfn.Unref(env);
  return env.Undefined();
}

// semWaitStart(semid, sops, timeoutMs) -> token | -errno. timeoutMs < 0: no limit.
Napi::Value SemWaitStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* holder = static_cast<std::shared_ptr<EnvWaits>*>(info.Data());
  EnvWaits* state = holder->get();
  if (!state->hasTsfn) return Errno(env, EINVAL);
  Job* job = new Job;
  job->semid = info[0].As<Napi::Number>().Int32Value();
  job->sops = ToSembufs(info[1]);
  double timeout = info[2].As<Napi::Number>().DoubleValue();
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

void CancelLocked(Job* job) {
  job->cancel.store(true);
  if (job->running && g_signal != 0) {
    union sigval value;
    value.sival_ptr = job->worker;
    // If the queue of pending signals is full, a plain signal still
    // interrupts the wait (only the timespec trick needs the value).
    if (pthread_sigqueue(job->thread, g_signal, value) != 0) pthread_kill(job->thread, g_signal);
  }
}

// semWaitCancel(token) -> 1 if the wait was still pending, else 0. Its
// result still arrives through dispatch (ECANCELED, or what happened first).
Napi::Value SemWaitCancel(const Napi::CallbackInfo& info) {
  EnvWaits* state = StateOf(info);
  double token = info[0].As<Napi::Number>().DoubleValue();
  std::lock_guard<std::mutex> lock(state->m);
  auto it = state->jobs.find(token);
  if (it == state->jobs.end()) return Napi::Number::New(info.Env(), 0);
  CancelLocked(it->second);
  return Napi::Number::New(info.Env(), 1);
}

// When the environment goes (exit, worker termination), its waits are
// cancelled so that no thread stays blocked for a JavaScript that is gone.
void OnEnvCleanup(std::shared_ptr<EnvWaits>* holder) {
  EnvWaits* state = holder->get();
  {
    std::lock_guard<std::mutex> lock(state->m);
    state->alive = false;
    for (auto& entry : state->jobs) CancelLocked(entry.second);
  }
  delete holder;
}

}  // namespace

void InitSem(Napi::Env env, Napi::Object exports) {
  exports.Set("semget", Napi::Function::New(env, Semget, "semget"));
  exports.Set("semop", Napi::Function::New(env, Semop, "semop"));
  exports.Set("semctlCmd", Napi::Function::New(env, SemctlCmd, "semctlCmd"));
  exports.Set("semctlSetVal", Napi::Function::New(env, SemctlSetVal, "semctlSetVal"));
  exports.Set("semctlGetAll", Napi::Function::New(env, SemctlGetAll, "semctlGetAll"));
  exports.Set("semctlSetAll", Napi::Function::New(env, SemctlSetAll, "semctlSetAll"));
  exports.Set("semctlStat", Napi::Function::New(env, SemctlStat, "semctlStat"));
  exports.Set("semctlSet", Napi::Function::New(env, SemctlSet, "semctlSet"));
  exports.Set("semctlInfo", Napi::Function::New(env, SemctlInfo, "semctlInfo"));

  auto* holder = new std::shared_ptr<EnvWaits>(std::make_shared<EnvWaits>());
  exports.Set("semWaitInit", Napi::Function::New(env, SemWaitInit, "semWaitInit", holder));
  exports.Set("semWaitStart", Napi::Function::New(env, SemWaitStart, "semWaitStart", holder));
  exports.Set("semWaitCancel", Napi::Function::New(env, SemWaitCancel, "semWaitCancel", holder));
  env.AddCleanupHook(OnEnvCleanup, holder);
}

}  // namespace shmkit
