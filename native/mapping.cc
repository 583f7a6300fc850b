// The lifetime of an attached segment, through Node-API alone.
//
// Node-API runs the finalizer of an external ArrayBuffer on a later event-loop
// turn, never during garbage collection, so a synchronous loop that attaches
// and forgets segments would pile up mappings until shmat fails. A weak
// reference to each ArrayBuffer, though, is cleared during the collection
// itself. So shmat sweeps the registry of this thread's mappings (amortised:
// after as many new mappings as the last sweep left) and, if TypeScript allows
// it, detaches at once the mappings whose ArrayBuffer has been collected. That is only sound where an ArrayBuffer's memory cannot move to
// another ArrayBuffer: Node-API's external buffers are never transferred by
// postMessage or structuredClone (Node copies them), but
// ArrayBuffer.prototype.transfer() moves them, and so do Node's web streams
// on every version (a byte stream takes over an enqueued chunk's memory), so
// TypeScript turns the early path off everywhere (src/sysv/shm.ts; it stays
// here for an embedder whose memory cannot move) and the finalizer alone
// detaches. Then, rather than
// let forgotten mappings exhaust the process's map count (where V8 itself
// aborts), shmat refuses with EAGAIN while more than a bound of them await
// their finalizer. And since every mapping is an area of the process's
// memory, counted against vm.max_map_count with V8's and malloc's own, a new
// mapping is refused (ENOMEM) once the areas come within a margin of the
// limit (AdmitArea): at the limit itself the kernel refuses V8 too, which
// aborts the process.
//
// An explicit shmdt cannot know whether Node's own native work (fs.read,
// crypto.randomFill, zlib on the thread pool) still writes through a raw
// pointer into the buffer: emptying the ArrayBuffer stops JavaScript, not that
// work. So shmdt puts throwaway anonymous memory over the segment in one step
// (mmap MAP_FIXED replaces the mapping, which detaches the segment as shmdt
// does: nattch drops at once) and keeps it there while the ArrayBuffer object
// lives. Node keeps the object of every buffer its pending work uses alive, so
// once it is collected nobody can write there and the placeholder goes.
//
// The same lifetime serves mappings of a file descriptor (mmap of a POSIX
// shared-memory object or a memfd): only the call that finally unmaps differs
// (munmap instead of shmdt), and such a range is also known to the SIGBUS
// guard (native/sigbus.cc) while it is mapped, since a file can shrink under
// its mapping.
//
// The record also owns the descriptors of this environment's
// PosixSharedMemory objects (OwnFd): they are closed when the environment
// ends, since the JavaScript that closes them (detach, or a
// FinalizationRegistry) never runs when a worker ends.
//
// Everything here runs on the JavaScript thread of one environment (Node-API
// finalizers included), so the records need no locking.
#include "shim.h"
#include <algorithm>
#include <atomic>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace shmkit {
namespace {

struct Mapping {
  void* addr;
  size_t length;
  MappingKind kind;
  bool detached = false;       // shmdt done, by shmdt() or by a sweep
  bool memory_freed = false;   // the ArrayBuffer's memory is released everywhere (its finalizer ran)
  bool placeholder = false;    // shmdt left throwaway memory over the range
  napi_ref buffer = nullptr;   // weak: empty once the ArrayBuffer object is collected
  int owners = 3;              // the ArrayBuffer finalizer, the JS handle, the registry (+1: the object's finalizer)
  int range = -1;              // a file's: its range in the SIGBUS guard
};

// Mappings of this process (every environment) whose area is still there,
// the file's or the placeholder's: what shmkit adds to the process's map count.
std::atomic<size_t> g_areas{0};

size_t Span(size_t length) {
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (length + page - 1) / page * page;
}

// Takes the memory away for good: shmdt for a segment, munmap for a file.
int Unmap(Mapping* m) {
  WakeWaitsIn(m->addr, Span(m->length));
  g_areas.fetch_sub(1, std::memory_order_relaxed);
  if (m->kind == MappingKind::kSegment) return ::shmdt(m->addr);
  ForgetFileRange(m->range);
  return ::munmap(m->addr, Span(m->length));
}

// The ArrayBuffer object is gone, so no pending work can write there: free the range.
void DropPlaceholder(napi_env env, Mapping* m) {
  if (!m->placeholder) return;
  m->placeholder = false;
  // The guard kept the range while the placeholder lay there: a SIGBUS raised
  // on another thread before the placeholder went in may reach the handler
  // only after it did, and must still be found. Forgotten before the munmap,
  // so that a mapping another thread makes at the freed address next is never
  // the one forgotten. Nobody faults here any more: the ArrayBuffer object is
  // collected, and Node keeps the object of every buffer its pending work uses.
  if (m->kind == MappingKind::kFile) ForgetFileRange(m->range);
  ::munmap(m->addr, Span(m->length));
  g_areas.fetch_sub(1, std::memory_order_relaxed);
  int64_t ignored;
  napi_adjust_external_memory(env, -static_cast<int64_t>(Span(m->length)), &ignored);
}

// A descriptor that belongs to shmkit's object for it (PosixSharedMemory)
// in some environment: closed when that environment ends (a worker ends,
// however it ends: its JavaScript, which closes it on detach or collection,
// never runs again). `unlink` names an object whose creation has not
// finished: it is removed too, so that an end half way through leaves no
// object of size 0 that every later openOrCreate would refuse.
//
// The number alone does not name the descriptor: a program may close an
// owned descriptor itself (`fs.closeSync(shm.fd)`), and the number then goes
// to the next file opened anywhere in the process, maybe the next shmkit
// object's, maybe of the same file. So the records are one list for the whole
// process, a number owned anew makes any older record of it stale (gone), and
// each object knows its record by a token: its close, and every use of its
// descriptor, reach only its own record (ownedToken, closeOwned, ownedLive).
// A record also keeps the file's identity, for a number that went to a file
// opened by other means: a descriptor that no longer refers to its file is
// forgotten, never closed (or unlinked).
struct OwnedFd {
  napi_env env;
  double token;
  int fd;
  std::string unlink;
  dev_t dev;
  ino_t ino;

  // Whether `fd` still refers to the file it was recorded with.
  bool Same() const {
    struct stat st;
    return ::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
  }
};

// Leaked, as the waits' lists: environments of ending workers may use it while the process exits.
std::mutex g_owned_m;
auto* const g_owned = new std::vector<OwnedFd>;
double g_next_token = 1;

// The record of `fd` (whoever's), or end(); g_owned_m held.
std::vector<OwnedFd>::iterator OwnedRecord(int fd) {
  return std::find_if(g_owned->begin(), g_owned->end(), [fd](const OwnedFd& o) { return o.fd == fd; });
}

struct Registry {
  std::vector<Mapping*> live;
  // Keyed segments made but not yet initialized (a channel's header): removed
  // when the environment ends before keepSegment, like an unfinished name.
  std::vector<int> unfinished;
  size_t sweep_at = 0;
  size_t awaiting = 0;  // collected, not detached, as of the last sweep
  // Set by TypeScript (mappingPolicy) when the addon loads.
  bool reclaim_collected = false;
  size_t min_sweep = 256;
  size_t max_awaiting = 16384;
};

void Release(napi_env env, Mapping* m) {
  if (--m->owners > 0) return;
  if (m->buffer != nullptr) napi_delete_reference(env, m->buffer);
  delete m;
}

Registry* RegistryOf(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<Registry*>(data);
}

// The ArrayBuffer's memory is gone from every JavaScript object: detach.
void OnMemoryFreed(napi_env env, void* data, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  m->memory_freed = true;
  bool explicit_shmdt = m->detached;
  if (!m->detached) {
    m->detached = true;
    Unmap(m);
  }
  // A placeholder's record still needs the weak reference to see the object go.
  if (m->buffer != nullptr && !explicit_shmdt) {
    napi_delete_reference(env, m->buffer);
    m->buffer = nullptr;
  }
  Release(env, m);
}

// The ArrayBuffer object of an explicitly detached mapping was collected.
void OnObjectCollected(napi_env env, void* data, void* hint) {
  Mapping* m = static_cast<Mapping*>(data);
  DropPlaceholder(env, m);
  Release(env, m);
}

// Drops finished records and, when allowed, detaches mappings whose
// ArrayBuffer object has been collected; counts those it may not detach.
void Sweep(napi_env env, Registry* r) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  r->awaiting = 0;
  auto finished = [&](Mapping* m) {
    if (m->placeholder) {
      // Collected means no pending native work holds it (Node keeps those
      // objects alive), and a detached buffer cannot have been transferred.
      if (m->buffer == nullptr) return false;  // only its finalizer can tell
      napi_value value = nullptr;
      napi_get_reference_value(env, m->buffer, &value);
      if (value != nullptr) return false;
      DropPlaceholder(env, m);
    } else if (!m->detached && !m->memory_freed && m->buffer != nullptr) {
      napi_value value = nullptr;
      napi_get_reference_value(env, m->buffer, &value);
      if (value != nullptr) return false;
      if (!r->reclaim_collected) {
        r->awaiting++;
        return false;
      }
      m->detached = true;
      Unmap(m);
    }
    Release(env, m);
    return true;
  };
  r->live.erase(std::remove_if(r->live.begin(), r->live.end(), finished), r->live.end());
  napi_close_handle_scope(env, scope);
  // Amortised: the next sweep after as many new mappings as are left (so the
  // cost per shmat stays constant), but soon enough to stop at the bound.
  size_t live = r->live.size();
  r->sweep_at = live + std::max(r->min_sweep, std::min(live, r->max_awaiting / 4));
}

// mappingPolicy(reclaimCollected: boolean, minSweep: number, maxAwaiting: number)
Napi::Value MappingPolicy(const Napi::CallbackInfo& info) {
  Registry* r = RegistryOf(info.Env());
  r->reclaim_collected = info[0].As<Napi::Boolean>().Value();
  r->min_sweep = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  r->max_awaiting = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  r->sweep_at = r->live.size() + r->min_sweep;
  return info.Env().Undefined();
}

// mappingStats() -> [registered, collected and awaiting their finalizer]
Napi::Value MappingStats(const Napi::CallbackInfo& info) {
  Registry* r = RegistryOf(info.Env());
  Sweep(info.Env(), r);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(r->live.size())));
  result.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(r->awaiting)));
  return result;
}

// The map-count policy (mapCountPolicy, from TypeScript) and what the last
// count found; process-wide, as the map count is.
std::mutex g_count_m;
size_t g_map_limit = 0;    // 0: no check
size_t g_map_margin = 0;   // areas kept free for V8, Node and malloc
std::atomic<size_t> g_check_from{SIZE_MAX};  // shmkit's own areas from which /proc/self/maps is counted
size_t g_count_at = 0;     // ... and the next count, once shmkit's own areas reach it
size_t g_refused = 0;      // the areas counted when the last admission was refused; 0 if it was not

// The lines of /proc/self/maps: the process's memory areas, or -errno.
long CountAreas() {
  int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd == -1) return -errno;
  char chunk[65536];
  long lines = 0;
  for (;;) {
    ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got == -1 && errno == EINTR) continue;
    if (got <= 0) break;
    for (const char* at = chunk; (at = static_cast<const char*>(std::memchr(at, '\n', chunk + got - at))) != nullptr; at++) lines++;
  }
  ::close(fd);
  return lines;
}

// 0, or ENOMEM when the areas come within the margin of the limit. Counting
// reads all of /proc/self/maps (a few milliseconds near 65,530 areas), so it
// happens only once shmkit's own areas are many, and then again only after
// they grew by half the room the last count left: what others map meanwhile
// comes out of the margin.
int AdmitArea() {
  size_t own = g_areas.load(std::memory_order_relaxed) + 2 * GuardSplitPages();
  if (own < g_check_from.load(std::memory_order_relaxed)) return 0;  // the common case: no lock
  std::lock_guard<std::mutex> lock(g_count_m);
  if (g_map_limit == 0 || own < g_count_at) return 0;
  long areas = CountAreas();
  if (areas < 0) {
    g_count_at = own + 256;  // unreadable (no /proc): the kernel's own limit still refuses
    return 0;
  }
  size_t counted = static_cast<size_t>(areas);
  if (counted + g_map_margin >= g_map_limit) {
    g_refused = counted;
    g_count_at = own;  // counted again at the next try: a munmap may have made room
    return ENOMEM;
  }
  g_refused = 0;
  g_count_at = own + std::max<size_t>(1, (g_map_limit - g_map_margin - counted) / 2);
  return 0;
}

// mapCountPolicy(limit, margin, checkFrom): refuse new mappings once the
// process's areas come within `margin` of `limit` (0: never), counted from
// `checkFrom` areas of shmkit's own.
Napi::Value MapCountPolicy(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_count_m);
  g_map_limit = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  g_map_margin = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  g_check_from.store(static_cast<size_t>(info[2].As<Napi::Number>().Int64Value()), std::memory_order_relaxed);
  g_count_at = 0;
  return info.Env().Undefined();
}

// mapCountStats() -> [shmkit's areas in this process, the areas counted at the last refusal (0: the last count admitted)]
Napi::Value MapCountStats(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_count_m);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(g_areas.load(std::memory_order_relaxed))));
  result.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(g_refused)));
  return result;
}

}  // namespace

int AdmitMapping(Napi::Env env) {
  Registry* r = RegistryOf(env);
  if (r->live.size() >= r->sweep_at || r->awaiting > r->max_awaiting) Sweep(env, r);
  if (r->awaiting > r->max_awaiting) return EAGAIN;
  return AdmitArea();
}

Napi::Value WrapMapping(Napi::Env env, void* addr, size_t length, MappingKind kind, int range) {
  Registry* r = RegistryOf(env);
  Mapping* m = new Mapping{addr, length, kind};
  m->range = range;
  g_areas.fetch_add(1, std::memory_order_relaxed);
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, addr, length, OnMemoryFreed, m, &buffer);
  if (status != napi_ok) {
    // Node refuses a buffer longer than it allows (buffer.constants.MAX_LENGTH)
    // by throwing: take the exception back and report EFBIG instead.
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    const int error = pending ? EFBIG : ENOMEM;
    m->owners -= 2;  // no handle, not registered
    if (m->owners == 0) {  // the finalizer has already run
      delete m;
      return Errno(env, error);
    }
    if (status == napi_no_external_buffers_allowed || (status == napi_pending_exception && !pending)) {
      // A V8 sandbox (Electron), or an environment that can no longer run
      // JavaScript (a worker being terminated: Node-API refuses before it
      // takes anything): Node neither took the memory nor will call the finalizer.
      Unmap(m);
      delete m;
      return Errno(env, ENOTSUP);
    }
    // Otherwise Node may already have run the finalizer, or will: it owns the mapping now.
    return Errno(env, error);
  }
  napi_create_reference(env, buffer, 0, &m->buffer);
  r->live.push_back(m);
  Napi::External<Mapping> handle = Napi::External<Mapping>::New(env, m, [](Napi::Env env, Mapping* m) { Release(env, m); });
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Value(env, buffer));
  result.Set(1u, handle);
  return result;
}

namespace {

// shmdt(handle, buffer) or munmap(handle, buffer) -> 0 | -errno. The buffer is
// emptied before the mapping goes, so no JS view ever points at unmapped
// memory, and throwaway memory takes the mapping's place until the buffer
// object is collected.
Napi::Value Detach(const Napi::CallbackInfo& info, MappingKind kind) {
  napi_env env = info.Env();
  // No handle: a worker terminated while shmat or mmap made it (every
  // Node-API call fails then) may still pass what it got.
  if (!info[0].IsExternal()) return Errno(env, EINVAL);
  Mapping* m = info[0].As<Napi::External<Mapping>>().Data();
  if (m == nullptr || m->detached || m->kind != kind) return Errno(env, EINVAL);
  // Detached by someone else (ArrayBuffer.prototype.transfer): the memory may
  // live on in another ArrayBuffer, and its finalizer will detach it.
  bool moved = false;
  if (napi_is_detached_arraybuffer(env, info[1], &moved) != napi_ok || moved) return Errno(env, EBUSY);
  if (napi_detach_arraybuffer(env, info[1]) != napi_ok) return Errno(env, EBUSY);
  m->detached = true;
  size_t span = Span(m->length);
  // A file range stays known to the SIGBUS guard under the placeholder (until
  // DropPlaceholder): thread-pool work may be faulting on a shrunk page right
  // now, and its SIGBUS can reach the handler after the placeholder went in.
  void* over = ::mmap(m->addr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (over == MAP_FAILED) {
    // No memory for the placeholder (strict overcommit): detach plainly. Work
    // still writing into the range then faults on unmapped memory, as it
    // would after a plain munmap in C.
    if (Unmap(m) == -1) return Errno(env, errno);
    return Napi::Number::New(env, 0);
  }
  m->placeholder = true;
  // The file's pages are gone from here: the guard's descriptor goes too (a memfd's memory with it).
  if (m->kind == MappingKind::kFile) ReleaseRangeFile(m->range);
  // Counted as external memory, so that V8 collects (and frees) sooner.
  int64_t ignored;
  napi_adjust_external_memory(env, static_cast<int64_t>(span), &ignored);
  if (napi_add_finalizer(env, info[1], m, OnObjectCollected, nullptr, nullptr) == napi_ok) m->owners++;
  return Napi::Number::New(env, 0);
}

}  // namespace

Napi::Value Shmdt(const Napi::CallbackInfo& info) { return Detach(info, MappingKind::kSegment); }
Napi::Value Munmap(const Napi::CallbackInfo& info) { return Detach(info, MappingKind::kFile); }

namespace {

Mapping* HandleOf(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) return nullptr;
  return info[0].As<Napi::External<Mapping>>().Data();
}

// mappingFault(handle) -> [byte offset in the mapping, si_code] of the first
// fault inside the file the SIGBUS guard met there, or 0: none.
Napi::Value MappingFault(const Napi::CallbackInfo& info) {
  Mapping* m = HandleOf(info);
  uintptr_t at;
  int code;
  if (m == nullptr || m->kind != MappingKind::kFile || !FileRangeFault(m->range, &at, &code)) return Napi::Number::New(info.Env(), 0);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(at - reinterpret_cast<uintptr_t>(m->addr))));
  result.Set(1u, Napi::Number::New(info.Env(), code));
  return result;
}

// reserveRange(handle, start, length) -> 0 | -errno: fallocate(FALLOC_FL_KEEP_SIZE)
// of the mapped file's bytes [start, start + length) of the mapping.
Napi::Value ReserveRange(const Napi::CallbackInfo& info) {
  Mapping* m = HandleOf(info);
  if (m == nullptr || m->kind != MappingKind::kFile || m->detached) return Errno(info.Env(), EINVAL);
  int err = ReserveInFileRange(m->range, ToU64(info[1]), ToU64(info[2]));
  return err == 0 ? Napi::Number::New(info.Env(), 0) : Errno(info.Env(), err);
}

// mappingFileStat(handle) -> [st_size, st_blocks] of the mapped file | -errno.
Napi::Value MappingFileStat(const Napi::CallbackInfo& info) {
  Mapping* m = HandleOf(info);
  if (m == nullptr || m->kind != MappingKind::kFile || m->detached) return Errno(info.Env(), EINVAL);
  struct stat st;
  if (int err = FileRangeStat(m->range, &st)) return Errno(info.Env(), err);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(st.st_size)));
  result.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(st.st_blocks)));
  return result;
}

// ownedToken(fd) -> the token of this environment's record of `fd`, or 0.
Napi::Value OwnedToken(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::lock_guard<std::mutex> guard(g_owned_m);
  auto owned = OwnedRecord(fd);
  bool ours = owned != g_owned->end() && owned->env == info.Env();
  return Napi::Number::New(info.Env(), ours ? owned->token : 0);
}

// ownedLive(fd, token) -> 0 | -EBADF: whether the record `token` of `fd` is
// still there and `fd` still refers to its file (the program did not close it).
Napi::Value OwnedLive(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  double token = info[1].As<Napi::Number>().DoubleValue();
  std::lock_guard<std::mutex> guard(g_owned_m);
  auto owned = OwnedRecord(fd);
  if (owned == g_owned->end() || owned->token != token || !owned->Same()) return Errno(info.Env(), EBADF);
  return Napi::Number::New(info.Env(), 0);
}

// closeOwned(fd, token) -> 0 | -errno: forgets the record `token` of `fd` and
// closes the descriptor; -EBADF, nothing closed, if that record went stale
// (the program closed the descriptor, and the number may be another's now).
Napi::Value CloseOwned(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  double token = info[1].As<Napi::Number>().DoubleValue();
  std::lock_guard<std::mutex> guard(g_owned_m);
  auto owned = OwnedRecord(fd);
  if (owned == g_owned->end() || owned->token != token) return Errno(info.Env(), EBADF);
  bool same = owned->Same();
  g_owned->erase(owned);
  if (!same) return Errno(info.Env(), EBADF);
  if (::close(fd) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// keepName(fd): the object made through owned descriptor `fd` is complete; its name stays when the environment ends.
Napi::Value KeepName(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::lock_guard<std::mutex> guard(g_owned_m);
  auto owned = OwnedRecord(fd);
  if (owned != g_owned->end() && owned->env == info.Env()) owned->unlink.clear();
  return info.Env().Undefined();
}

// keepSegment(shmid): the segment made unfinished (shmCreate) is complete.
Napi::Value KeepSegment(const Napi::CallbackInfo& info) {
  int shmid = info[0].As<Napi::Number>().Int32Value();
  std::vector<int>& unfinished = RegistryOf(info.Env())->unfinished;
  unfinished.erase(std::remove(unfinished.begin(), unfinished.end(), shmid), unfinished.end());
  return info.Env().Undefined();
}

}  // namespace

void OwnUnfinishedSegment(napi_env env, int shmid) { RegistryOf(env)->unfinished.push_back(shmid); }

void OwnFd(napi_env env, int fd, const char* unlink) {
  struct stat st {};
  // fstat of a descriptor just made cannot fail; if it did, the record would match nothing and close nothing.
  if (::fstat(fd, &st) != 0) st.st_ino = 0;
  std::lock_guard<std::mutex> guard(g_owned_m);
  // A record of the same number is stale, in whichever environment: its
  // descriptor was closed by someone else, or the kernel would not reuse it.
  auto owned = OwnedRecord(fd);
  if (owned != g_owned->end()) g_owned->erase(owned);
  g_owned->push_back(OwnedFd{env, g_next_token++, fd, unlink == nullptr ? std::string() : std::string(unlink), st.st_dev, st.st_ino});
}

void InitMapping(Napi::Env env, Napi::Object exports) {
  // The environment ends (a worker exits): the registry lets go of its
  // records, and of the descriptors it owns (an unfinished object's name first).
  auto teardown = [](napi_env env, void* data, void*) {
    Registry* r = static_cast<Registry*>(data);
    for (Mapping* m : r->live) Release(env, m);
    {
      std::lock_guard<std::mutex> guard(g_owned_m);
      auto ours = [env](const OwnedFd& o) {
        if (o.env != env) return false;
        if (o.Same()) {
          if (!o.unlink.empty()) ::shm_unlink(o.unlink.c_str());
          ::close(o.fd);
        }
        return true;
      };
      g_owned->erase(std::remove_if(g_owned->begin(), g_owned->end(), ours), g_owned->end());
    }
    for (int shmid : r->unfinished) ::shmctl(shmid, IPC_RMID, nullptr);
    delete r;
  };
  napi_set_instance_data(env, new Registry(), teardown, nullptr);
  Export<MappingPolicy>(env, exports, "mappingPolicy");
  Export<MappingStats>(env, exports, "mappingStats");
  Export<MapCountPolicy>(env, exports, "mapCountPolicy");
  Export<MapCountStats>(env, exports, "mapCountStats");
  Export<MappingFault>(env, exports, "mappingFault");
  Export<ReserveRange>(env, exports, "reserveRange");
  Export<MappingFileStat>(env, exports, "mappingFileStat");
  Export<OwnedToken>(env, exports, "ownedToken");
  Export<OwnedLive>(env, exports, "ownedLive");
  Export<CloseOwned>(env, exports, "closeOwned");
  Export<KeepName>(env, exports, "keepName");
  Export<KeepSegment>(env, exports, "keepSegment");
}

}  // namespace shmkit
