// The SIGBUS guard for mappings of files (POSIX shared memory, memfd).
//
// Touching a page of a file mapping that lies past the file's end is SIGBUS,
// and so is touching a page tmpfs cannot supply (/dev/shm full). A segment of
// System V memory never shrinks, but a file can: any process allowed to write
// it may ftruncate it (Node's own fs.ftruncateSync can), and a memfd that a
// sender did not seal against shrinking can shrink under its receiver. Left
// alone, the next access from JavaScript would kill the process.
//
// So while a file range is mapped, a SIGBUS whose address lies in it puts a
// zeroed private page over the faulting page (mmap MAP_FIXED, a plain system
// call, as PulseAudio's memtrap does) and returns: the access is retried and
// succeeds on memory of this process alone. Any other SIGBUS goes to the
// handler that was there before, or kills the process as it would have.
//
// The table of ranges is global (worker threads map too) and read inside the
// signal handler, so it is a fixed array of atomics: no locks, no allocation.
// A range stays in the table until no page of the file is mapped there any
// more (native/mapping.cc forgets it just before the placeholder or the
// mapping itself goes): a fault raised on another thread just before a
// detach replaced the file's pages may reach the handler only afterwards,
// and must still be recognised as ours.
//
// Node's process.on('SIGBUS') makes libuv install its own handler over this
// one, and removing the last listener resets SIGBUS to SIG_DFL. TypeScript
// (src/posix/sigbus-guard.ts) calls sigbusGuardReinstall() after each such
// change: the guard goes back in front and hands on what is not its own to
// whatever libuv left (its handler, which calls the JavaScript listeners, or
// SIG_DFL).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shim.h"
#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>

namespace shmkit {
namespace {

struct Range {
  std::atomic<uintptr_t> start{0};  // 0: free; 1: being filled in
  std::atomic<uintptr_t> end{0};
  std::atomic<int> prot{0};
  std::atomic<uint32_t> singles{0};  // faults met with a page of their own
};

// Each page put over a faulting one alone may split the mapping into two
// more areas: faults on every other page of a large shrunk file would reach
// vm.max_map_count (65530), where every allocation of the process fails
// (malloc's own mmap, and an abort with it). Past this many in a range, a
// fault puts zero pages over the whole rest of the range instead, one area
// that splits nothing past its start: pages past a fault lie past the file's
// end too (or past what tmpfs could supply).
constexpr uint32_t kSinglePages = 1024;

constexpr size_t kRanges = 1 << 16;
Range ranges[kRanges];
std::atomic<size_t> used{0};  // every range in use lies below this index
std::atomic<uint64_t> replaced{0};  // pages replaced so far, for tests and diagnostics
std::once_flag installed;
std::atomic<bool> active{false};  // Install has run
std::mutex reinstalling;          // writers of the slots below (never the handler)

// The handler that was there before, read by the signal handler while a
// JavaScript thread may be replacing it: written into a slot the handler is
// not told about yet, then published by index. Writers are serialised; a
// handler would have to stay inside HandOn across kPrevious reinstalls to see
// a slot rewritten.
constexpr unsigned kPrevious = 16;
struct sigaction previous_slots[kPrevious];
std::atomic<unsigned> previous_at{0};

void HandOn(int sig, siginfo_t* info, void* context) {
  const struct sigaction& previous = previous_slots[previous_at.load(std::memory_order_acquire) % kPrevious];
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  // A fault cannot be ignored: the kernel kills for it as for SIG_DFL.
  bool fault = info != nullptr && info->si_code > 0;
  if (!fault && previous.sa_handler == SIG_IGN) return;
  ::signal(SIGBUS, SIG_DFL);
  // A fault: returning re-runs the access, which faults again and now kills
  // the process as if shmkit were not there (a core dump where enabled). A
  // signal sent by kill() would not come back: send it again.
  if (!fault) ::raise(SIGBUS);
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  int saved = errno;
  if (info != nullptr && info->si_code == BUS_ADRERR) {
    uintptr_t at = reinterpret_cast<uintptr_t>(info->si_addr);
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t count = used.load(std::memory_order_acquire);
    for (size_t i = 0; i < count; i++) {
      uintptr_t start = ranges[i].start.load(std::memory_order_acquire);
      if (start <= 1 || at < start || at >= ranges[i].end.load(std::memory_order_acquire)) continue;
      void* base = reinterpret_cast<void*>(at & ~(static_cast<uintptr_t>(page) - 1));
      int prot = ranges[i].prot.load(std::memory_order_relaxed);
      bool single = ranges[i].singles.fetch_add(1, std::memory_order_relaxed) < kSinglePages;
      if (single && ::mmap(base, page, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
        replaced.fetch_add(1, std::memory_order_relaxed);
        errno = saved;
        return;
      }
      uintptr_t end = ranges[i].end.load(std::memory_order_acquire);
      uintptr_t from = reinterpret_cast<uintptr_t>(base);
      if (end > from && ::mmap(base, end - from, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
        replaced.fetch_add((end - from) / page, std::memory_order_relaxed);
        errno = saved;
        return;
      }
      break;
    }
  }
  HandOn(sig, info, context);
  errno = saved;
}

struct sigaction GuardAction() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  return action;
}

void Install() {
  std::lock_guard<std::mutex> lock(reinstalling);
  struct sigaction action = GuardAction();
  ::sigaction(SIGBUS, &action, &previous_slots[0]);
  previous_at.store(0, std::memory_order_release);
  active.store(true, std::memory_order_release);
}

// sigbusGuardReinstall() -> whether the guard had been replaced and was put
// back. Once the guard is installed, puts it back in front if someone (libuv,
// for process.on/off('SIGBUS')) installed another disposition since, which
// then gets what is not the guard's. Only a disposition that is not the guard
// is taken as the one to hand on to, so the guard never hands on to itself.
Napi::Value SigbusGuardReinstall(const Napi::CallbackInfo& info) {
  if (!active.load(std::memory_order_acquire)) return Napi::Boolean::New(info.Env(), false);
  std::lock_guard<std::mutex> lock(reinstalling);
  struct sigaction current;
  if (::sigaction(SIGBUS, nullptr, &current) != 0) return Napi::Boolean::New(info.Env(), false);
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == OnSigbus) return Napi::Boolean::New(info.Env(), false);
  unsigned next = previous_at.load(std::memory_order_relaxed) + 1;
  previous_slots[next % kPrevious] = current;
  previous_at.store(next, std::memory_order_release);
  // Between another handler's install and this one, a fault on a shrunk page
  // went to it: libuv's handler returns, so the access faults again until
  // the guard is back; SIG_DFL (after the last listener went) would have
  // killed, a window of a few JavaScript statements that only a fault on a
  // thread-pool or worker thread can hit.
  struct sigaction action = GuardAction();
  ::sigaction(SIGBUS, &action, nullptr);
  return Napi::Boolean::New(info.Env(), true);
}

// sigbusReplacedPages() -> pages the guard has replaced in this process
Napi::Value SigbusReplacedPages(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(replaced.load()));
}

}  // namespace

int GuardFileRange(void* addr, size_t span, bool writable) {
  std::call_once(installed, Install);
  uintptr_t start = reinterpret_cast<uintptr_t>(addr);
  for (size_t i = 0; i < kRanges; i++) {
    uintptr_t expected = 0;
    if (!ranges[i].start.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    ranges[i].end.store(start + span, std::memory_order_relaxed);
    ranges[i].prot.store(writable ? PROT_READ | PROT_WRITE : PROT_READ, std::memory_order_relaxed);
    ranges[i].singles.store(0, std::memory_order_relaxed);
    ranges[i].start.store(start, std::memory_order_release);
    size_t seen = used.load(std::memory_order_relaxed);
    while (seen < i + 1 && !used.compare_exchange_weak(seen, i + 1, std::memory_order_acq_rel)) {
    }
    return 0;
  }
  return ENOMEM;
}

void ForgetFileRange(void* addr) {
  uintptr_t start = reinterpret_cast<uintptr_t>(addr);
  size_t count = used.load(std::memory_order_acquire);
  for (size_t i = 0; i < count; i++) {
    if (ranges[i].start.load(std::memory_order_acquire) != start) continue;
    ranges[i].end.store(0, std::memory_order_relaxed);
    ranges[i].start.store(0, std::memory_order_release);
    return;
  }
}

void InitSigbus(Napi::Env env, Napi::Object exports) {
  Export<SigbusReplacedPages>(env, exports, "sigbusReplacedPages");
  Export<SigbusGuardReinstall>(env, exports, "sigbusGuardReinstall");
}

}  // namespace shmkit
