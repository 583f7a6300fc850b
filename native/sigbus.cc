// The SIGBUS guard for mappings of files (POSIX shared memory, memfd).
//
// Touching a page of a file mapping is SIGBUS when the page lies past the
// file's end, and also when the kernel cannot supply a page inside it: tmpfs
// has no room for it (/dev/shm full: ENOSPC), it could not be read back from
// swap (EIO), or the memory under it is poisoned (a hardware error). A
// segment of System V memory never shrinks, but a file can: any process
// allowed to write it may ftruncate it (Node's own fs.ftruncateSync can), and
// a memfd that a sender did not seal against shrinking can shrink under its
// receiver. Left alone, the next access from JavaScript would kill the process.
//
// So while a file range is mapped, a SIGBUS whose address lies in it puts a
// zeroed private page over the faulting page (mmap MAP_FIXED, a plain system
// call, as PulseAudio's memtrap does) and returns: the access is retried and
// succeeds on memory of this process alone. Any other SIGBUS goes to the
// handler that was there before, or kills the process as it would have.
//
// The two causes differ, and the handler tells them apart by the file's size
// now (fstat of a descriptor the guard keeps for each file it covers):
// - Past the end (a shrink): the page is gone from the file for everyone, so
//   zeros are what every process sees there; nothing is recorded.
// - Inside the file (ENOSPC, EIO, poison): the file still has that page, and
//   other processes still see what it holds. What this process writes on the
//   private page never reaches them, and what it reads there is not the file.
//   The fault is recorded on the range (the first page, the cause), and the
//   library's next call on the mapping throws (src/posix/mapping.ts): that is
//   how a write through a view or `bytes` to a full /dev/shm is not lost
//   silently. Only the faulting page is ever replaced here.
//
// The table of ranges is global (worker threads map too) and read inside the
// signal handler, so it is a fixed array of atomics: no locks, no allocation.
// A range stays in the table until no page of the file is mapped there any
// more (native/mapping.cc forgets it just before the placeholder or the
// mapping itself goes): a fault raised on another thread just before a
// detach replaced the file's pages may reach the handler only afterwards,
// and must still be recognised as ours. Its file's descriptor goes earlier,
// with the file's pages (ReleaseRangeFile): a memfd's memory must go at
// detach, not when the collector frees the emptied buffer; a late fault then
// finds no descriptor and is taken as past the end, on memory that is
// throwaway anyway.
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
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace shmkit {
namespace {

struct Range {
  std::atomic<uintptr_t> start{0};  // 0: free; 1: being filled in
  std::atomic<uintptr_t> end{0};
  std::atomic<int> prot{0};
  std::atomic<uint32_t> singles{0};  // faults past the end met with a page of their own
  // The file: the guard's own descriptor of it, plus one (0: none, or no
  // longer mapped here; so the table is all zeros at start, in .bss, not a
  // 5 MiB initialized .data section of the addon), its identity (the number
  // could be reused after a close racing the handler), and the file offset
  // the range starts at.
  std::atomic<int> fd1{0};
  std::atomic<uint64_t> dev{0};
  std::atomic<uint64_t> ino{0};
  std::atomic<uint64_t> offset{0};
  // Faults inside the file: the last page replaced (to see runs), and the
  // first one, with its si_code, for TypeScript (0: none).
  std::atomic<uintptr_t> last_inside{0};
  std::atomic<uintptr_t> failed_at{0};
  std::atomic<int> failed_code{0};
};

// Each page put over a faulting one alone may split the mapping into two
// more areas: faults on every other page of a large shrunk file would reach
// vm.max_map_count (65530), where every allocation of the process fails
// (malloc's own mmap, and an abort with it). Past this many in a range, a
// fault past the file's end puts zero pages over the whole rest of the range
// instead, one area that splits nothing past its start: pages past the end
// of a file are all past it.
constexpr uint32_t kSinglePages = 1024;

// Inside the file no page but the faulting one may be replaced: the pages
// after it may hold data (a writer put it there before /dev/shm filled). A
// page next to the last one replaced in its range joins that area (a fill
// or a copy, page after page) and costs no new area; past this many pages
// replaced elsewhere in the process, a fault inside a file is handed on as
// if shmkit were not there (SIGBUS, as in C) rather than let the areas reach
// vm.max_map_count. Each has been recorded and reported before that.
constexpr uint32_t kScatteredPages = 4096;

constexpr size_t kRanges = 1 << 16;
Range ranges[kRanges];
std::atomic<size_t> used{0};  // every range in use lies below this index
// Where a search for a free range starts: below it, every range was in use at
// the last look. Only a hint (the search wraps around), so that a process with
// thousands of ranges mapped does not try each one, a locked instruction per
// slot, for every new mapping: 20,000 mmaps of one memfd took 1.2 s, 0.19 s so.
std::atomic<size_t> free_from{0};
std::atomic<uint64_t> replaced{0};  // pages replaced so far, for tests and diagnostics
std::atomic<uint64_t> inside_faults{0};  // faults inside a file, for TypeScript's cheap check
std::atomic<uint32_t> scattered{0};      // pages inside a file replaced apart from the last one
std::atomic<size_t> split{0};            // pages replaced one at a time (areas split), for the map count
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

// Whether the page at `base` of range `r` lies inside its file now: a
// fault there is the kernel failing to supply it, not a shrink. Unknown (no
// descriptor any more, or its number reused) counts as past the end.
bool InsideFile(const Range& r, uintptr_t base, int code, size_t page) {
  if (code == BUS_MCEERR_AR) return true;  // poisoned memory: the page exists
  int fd = r.fd1.load(std::memory_order_acquire) - 1;
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) return false;
  if (static_cast<uint64_t>(st.st_dev) != r.dev.load(std::memory_order_relaxed) ||
      static_cast<uint64_t>(st.st_ino) != r.ino.load(std::memory_order_relaxed)) {
    return false;
  }
  uint64_t at = r.offset.load(std::memory_order_relaxed) + (base - r.start.load(std::memory_order_relaxed));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  return at / page < (size + page - 1) / page;
}

// Puts private memory over the fault at `at` in range `r`; whether the access may be retried.
bool Replace(Range& r, uintptr_t at, int code, size_t page) {
  uintptr_t from = at & ~(static_cast<uintptr_t>(page) - 1);
  void* base = reinterpret_cast<void*>(from);
  int prot = r.prot.load(std::memory_order_relaxed);
  if (InsideFile(r, from, code, page)) {
    uintptr_t last = r.last_inside.exchange(from, std::memory_order_relaxed);
    bool run = last != 0 && (from == last + page || from + page == last);
    if (!run && scattered.fetch_add(1, std::memory_order_relaxed) >= kScatteredPages) return false;
    if (::mmap(base, page, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) return false;
    if (!run) split.fetch_add(1, std::memory_order_relaxed);
    if (r.failed_at.load(std::memory_order_acquire) == 0) {
      r.failed_code.store(code, std::memory_order_relaxed);
      uintptr_t none = 0;
      r.failed_at.compare_exchange_strong(none, from, std::memory_order_acq_rel);
    }
    replaced.fetch_add(1, std::memory_order_relaxed);
    inside_faults.fetch_add(1, std::memory_order_release);
    return true;
  }
  if (code != BUS_ADRERR) return false;
  bool single = r.singles.fetch_add(1, std::memory_order_relaxed) < kSinglePages;
  if (single && ::mmap(base, page, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
    replaced.fetch_add(1, std::memory_order_relaxed);
    split.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  uintptr_t end = r.end.load(std::memory_order_acquire);
  if (end > from && ::mmap(base, end - from, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
    replaced.fetch_add((end - from) / page, std::memory_order_relaxed);
    return true;
  }
  return false;
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  int saved = errno;
  if (info != nullptr && (info->si_code == BUS_ADRERR || info->si_code == BUS_MCEERR_AR)) {
    uintptr_t at = reinterpret_cast<uintptr_t>(info->si_addr);
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t count = used.load(std::memory_order_acquire);
    for (size_t i = 0; i < count; i++) {
      uintptr_t start = ranges[i].start.load(std::memory_order_acquire);
      if (start <= 1 || at < start || at >= ranges[i].end.load(std::memory_order_acquire)) continue;
      if (Replace(ranges[i], at, info->si_code, page)) {
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

// sigbusInsideFaults() -> faults inside a file met so far in this process:
// TypeScript asks a mapping for its record only when this moved.
Napi::Value SigbusInsideFaults(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(inside_faults.load(std::memory_order_acquire)));
}

// The guard's descriptors, one per file however many ranges map it (a loop
// may map one memfd thousands of times): {dev, ino} -> {fd, ranges}. Only
// JavaScript threads use it, under the lock; the handler reads a range's copy.
std::mutex files_m;
auto* const files = new std::map<std::pair<uint64_t, uint64_t>, std::pair<int, size_t>>;

void ReleaseFile(std::pair<uint64_t, uint64_t> id) {
  std::lock_guard<std::mutex> lock(files_m);
  auto file = files->find(id);
  if (file == files->end() || --file->second.second > 0) return;
  ::close(file->second.first);
  files->erase(file);
}

}  // namespace

int GuardFileRange(void* addr, size_t span, bool writable, int fd, uint64_t offset) {
  std::call_once(installed, Install);
  struct stat st;
  if (::fstat(fd, &st) != 0) return -errno;
  std::pair<uint64_t, uint64_t> id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  int own;
  {
    std::lock_guard<std::mutex> lock(files_m);
    auto file = files->find(id);
    if (file == files->end()) {
      own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (own == -1) return -errno;
      file = files->emplace(id, std::make_pair(own, size_t{0})).first;
    }
    own = file->second.first;
    file->second.second++;
  }
  uintptr_t start = reinterpret_cast<uintptr_t>(addr);
  const size_t from = free_from.load(std::memory_order_relaxed) % kRanges;
  for (size_t n = 0; n < kRanges; n++) {
    const size_t i = (from + n) % kRanges;
    uintptr_t expected = 0;
    if (ranges[i].start.load(std::memory_order_relaxed) != 0) continue;
    if (!ranges[i].start.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    free_from.store(i + 1, std::memory_order_relaxed);
    ranges[i].end.store(start + span, std::memory_order_relaxed);
    ranges[i].prot.store(writable ? PROT_READ | PROT_WRITE : PROT_READ, std::memory_order_relaxed);
    ranges[i].singles.store(0, std::memory_order_relaxed);
    ranges[i].dev.store(id.first, std::memory_order_relaxed);
    ranges[i].ino.store(id.second, std::memory_order_relaxed);
    ranges[i].offset.store(offset, std::memory_order_relaxed);
    ranges[i].last_inside.store(0, std::memory_order_relaxed);
    ranges[i].failed_code.store(0, std::memory_order_relaxed);
    ranges[i].failed_at.store(0, std::memory_order_relaxed);
    ranges[i].fd1.store(own + 1, std::memory_order_relaxed);
    ranges[i].start.store(start, std::memory_order_release);
    size_t seen = used.load(std::memory_order_relaxed);
    while (seen < i + 1 && !used.compare_exchange_weak(seen, i + 1, std::memory_order_acq_rel)) {
    }
    return static_cast<int>(i);
  }
  ReleaseFile(id);
  return -ENOMEM;
}

void ReleaseRangeFile(int index) {
  if (index < 0) return;
  Range& r = ranges[index];
  if (r.fd1.exchange(0, std::memory_order_acq_rel) == 0) return;
  ReleaseFile({r.dev.load(std::memory_order_relaxed), r.ino.load(std::memory_order_relaxed)});
}

void ForgetFileRange(int index) {
  if (index < 0) return;
  ReleaseRangeFile(index);
  ranges[index].end.store(0, std::memory_order_relaxed);
  ranges[index].start.store(0, std::memory_order_release);
  // Freed below the hint: the next search starts here.
  size_t hint = free_from.load(std::memory_order_relaxed);
  while (static_cast<size_t>(index) < hint && !free_from.compare_exchange_weak(hint, index, std::memory_order_relaxed)) {
  }
}

bool FileRangeFault(int index, uintptr_t* at, int* code) {
  if (index < 0) return false;
  uintptr_t first = ranges[index].failed_at.load(std::memory_order_acquire);
  if (first == 0) return false;
  *at = first;
  *code = ranges[index].failed_code.load(std::memory_order_relaxed);
  return true;
}

int ReserveInFileRange(int index, uint64_t start, uint64_t length) {
  if (index < 0) return EINVAL;
  int fd = ranges[index].fd1.load(std::memory_order_acquire) - 1;
  if (fd < 0) return EBADF;
  off_t at = static_cast<off_t>(ranges[index].offset.load(std::memory_order_relaxed) + start);
  // KEEP_SIZE: a file shrunk under the mapping is never grown back by a write here.
  int result;
  do {
    result = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, at, static_cast<off_t>(length));
  } while (result == -1 && errno == EINTR);
  return result == -1 ? errno : 0;
}

size_t GuardSplitPages() { return split.load(std::memory_order_relaxed); }

int FileRangeStat(int index, struct stat* st) {
  if (index < 0) return EINVAL;
  int fd = ranges[index].fd1.load(std::memory_order_acquire) - 1;
  if (fd < 0) return EBADF;
  return ::fstat(fd, st) == -1 ? errno : 0;
}

void InitSigbus(Napi::Env env, Napi::Object exports) {
  Export<SigbusReplacedPages>(env, exports, "sigbusReplacedPages");
  Export<SigbusGuardReinstall>(env, exports, "sigbusGuardReinstall");
  Export<SigbusInsideFaults>(env, exports, "sigbusInsideFaults");
}

}  // namespace shmkit
