// The waiter threads (native/waits.cc): a blocking System V call run off the
// JavaScript thread, cancellable, its result delivered back on it. Semaphore
// waits (sem.cc) and message-queue waits (msg.cc) share them.
#pragma once
#include "shim.h"
#include <pthread.h>
#include <time.h>
#include <memory>

namespace shmkit {

// One blocking call. Timed calls (semtimedop) give up by themselves after the
// time they are given; untimed ones (msgsnd, msgrcv) block until they are
// done or a signal interrupts them, which the threads arrange for time limits
// and cancellation. An interrupted call must have done nothing.
class WaitCall {
 public:
  virtual ~WaitCall() = default;
  virtual bool Timed() const = 0;
  // Timed: one attempt that waits at most *ts. Untimed: ts null blocks, a
  // non-null ts asks for one attempt without waiting (IPC_NOWAIT). Returns 0,
  // or the errno; "would have to wait" is EAGAIN for both kinds.
  virtual int Attempt(struct timespec* ts) = 0;
  // What a successful call passes to JavaScript besides its token and 0, in
  // *result. Raw Node-API calls only, and no throw: it may run while the
  // environment is going away (a worker ends), where JavaScript cannot run,
  // every call that needs it fails, and node-addon-api would turn the
  // failure into a throw that fails too, a fatal error. A failure is
  // returned; the caller then undoes the call (Revert).
  virtual napi_status Value(napi_env env, napi_value* result) { return napi_get_undefined(env, result); }
  // Undoes a call that succeeded but whose result JavaScript never received
  // (its environment went away, or the process exited, first): what it took goes back, so nothing
  // is lost with an environment nobody can reach. It never blocks the
  // thread it runs on (IPC_NOWAIT): a give-back that has to wait for room
  // (a full queue) goes to GiveBackLater. What cannot be given back exactly
  // is lost, as if the environment had taken it and exited. Runs on a
  // waiter thread or on the environment's thread, once, for a call whose
  // result was 0.
  virtual void Revert() {}
};

// What the waiter threads' cancel signal (a real-time signal the addon
// installs once) acts on: its handler, run on the signalled thread, zeroes
// `ts` when Stopping() says so. A wait that writes `ts`, then checks its own
// flags, then passes `ts` to the kernel therefore cannot sleep on a cancel
// whose signal came between the check and the call; one already in the
// kernel ends with EINTR. Stopping() runs in the handler: atomics only.
struct CancelTarget {
  virtual ~CancelTarget() = default;
  virtual bool Stopping() const = 0;
  struct timespec ts = {0, 0};
};

// Queues the cancel signal to `thread`, which must be running and have it
// unblocked (UnblockCancelSignal), for `target`. False when nothing could be
// queued: no real-time signal was free, or the user's pending signals are
// used up (RLIMIT_SIGPENDING, EAGAIN). The caller then has to end the wait
// some other way.
bool SignalCancel(pthread_t thread, CancelTarget* target);

// Installs the cancel signal if it is not yet, and unblocks it on the calling thread.
void UnblockCancelSignal();

// pthread_create with every signal blocked in the new thread until it
// unblocks one (the cancel signal): Node's own (SIGCHLD, SIGINT...) keep going to the
// threads that handle them, and waits see no stray EINTR.
int CreateQuietThread(pthread_t* thread, pthread_attr_t* attr, void* (*main)(void*), void* arg);

// The waits of one Node environment; passed as the data of the functions below.
struct EnvWaits;
using WaitsHolder = std::shared_ptr<EnvWaits>;

// Registers waitInit(dispatch) and waitCancel(token) (also under their old
// names semWaitInit and semWaitCancel) and returns the holder that functions
// starting waits take as their data.
WaitsHolder* InitWaits(Napi::Env env, Napi::Object exports);

// Finishes a give-back (WaitCall::Revert) that has to wait, such as a
// message for a full queue: `call` (untimed) runs on a waiter thread of its
// own until it succeeds or fails, for at most kGiveBackMs, and at the
// process's exit at most until the exit's grace ends (then what it holds is
// lost with the process). Nothing is reported; its own Revert never runs.
constexpr double kGiveBackMs = 10000;
void GiveBackLater(std::unique_ptr<WaitCall> call);

// Starts `call` on a waiter thread of the environment: its token, or -errno.
// timeoutMs < 0: no limit (then it ends with ETIMEDOUT). Results reach
// dispatch(token, result, value) on the JavaScript thread.
Napi::Value StartWait(Napi::Env env, WaitsHolder* holder, std::unique_ptr<WaitCall> call, double timeoutMs);

}  // namespace shmkit
