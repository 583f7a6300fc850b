// System V shared-memory shims: one function per system call, errno returned
// as a negative number, no defaults and no validation (TypeScript does both).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shim.h"
#include <cstring>
#include <dlfcn.h>
#include <sys/ipc.h>
#include <sys/shm.h>

namespace shmkit {
namespace {

Napi::Value Ftok(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int proj = info[1].As<Napi::Number>().Int32Value();
  errno = 0;
  key_t key = ::ftok(path.c_str(), proj);
  if (key == -1 && errno != 0) return Errno(info.Env(), errno);
  // As uint32 so that -errno stays distinguishable; TypeScript makes it a key_t.
  return Napi::Number::New(info.Env(), static_cast<uint32_t>(key));
}

Napi::Value Shmget(const Napi::CallbackInfo& info) {
  key_t key = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(ToU64(info[1]));
  int flags = info[2].As<Napi::Number>().Int32Value();
  int id = ::shmget(key, size, flags);
  if (id == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), id);
}

// shmat, then the segment's real size: 0, or the errno (nothing stays
// attached). The segment is attached by then, so its id stays valid for
// IPC_STAT even if it is removed meanwhile.
int AttachSized(int shmid, const void* want, int flags, void** addr, size_t* size) {
  *addr = ::shmat(shmid, want, flags);
  if (*addr == reinterpret_cast<void*>(-1)) return errno;
  struct shmid_ds ds;
  if (::shmctl(shmid, IPC_STAT, &ds) == -1) {
    int err = errno;
    ::shmdt(*addr);
    return err;
  }
  *size = ds.shm_segsz;
  return 0;
}

// An attached segment as [ArrayBuffer, handle, address: bigint], or -errno
// (WrapMapping has then given the memory back, or Node will).
Napi::Value WrapSegment(Napi::Env env, void* addr, size_t size) {
  Napi::Value wrapped = WrapMapping(env, addr, size, MappingKind::kSegment);
  if (wrapped.IsNumber()) return wrapped;
  Napi::Array result = wrapped.As<Napi::Array>();
  result.Set(2u, U64(env, reinterpret_cast<uintptr_t>(addr)));
  return result;
}

// AdmitMapping, then AttachSized: 0 or the errno (nothing stays attached).
int Attach(Napi::Env env, int shmid, const void* want, int flags, void** addr, size_t* size) {
  if (int err = AdmitMapping(env)) return err;
  return AttachSized(shmid, want, flags, addr, size);
}

// shmat(shmid, addr: bigint, flags) -> [ArrayBuffer, handle, address: bigint] | -errno
Napi::Value Shmat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int shmid = info[0].As<Napi::Number>().Int32Value();
  void* want = reinterpret_cast<void*>(static_cast<uintptr_t>(ToU64(info[1])));
  int flags = info[2].As<Napi::Number>().Int32Value();
  void* addr = nullptr;
  size_t size = 0;
  if (int err = Attach(env, shmid, want, flags, &addr, &size)) return Errno(env, err);
  return WrapSegment(env, addr, size);
}

// shmCreate(key, size, flags, shmflg, remove, unfinished) -> [ArrayBuffer, handle,
// address: bigint, shmid] | [-errno, call, shmid]: shmget of a new segment (TypeScript
// passes IPC_CREAT|IPC_EXCL, or IPC_PRIVATE), shmat, and with `remove`
// IPC_RMID, in one call. As separate calls, a worker terminated between two
// of them (no JavaScript runs again, not even a finally) left the segment in
// the system. A failure after shmget removes the new segment; `call` says
// which failed: 0 shmget (shmid -1), 1 shmat, 2 shmctl. With `unfinished`
// (and not `remove`), the segment is removed when the environment ends
// before keepSegment: its maker initializes it after this call (a channel's
// header), and one that ends before would leave a key nobody can use.
Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  key_t key = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(ToU64(info[1]));
  int flags = info[2].As<Napi::Number>().Int32Value();
  int shmflg = info[3].As<Napi::Number>().Int32Value();
  bool remove = info[4].As<Napi::Boolean>().Value();
  bool unfinished = info[5].As<Napi::Boolean>().Value();
  int shmid = ::shmget(key, size, flags);
  if (shmid == -1) return StepFailed(env, errno, 0, shmid);
  void* addr = nullptr;
  size_t real = 0;
  if (int err = Attach(env, shmid, nullptr, shmflg, &addr, &real)) {
    ::shmctl(shmid, IPC_RMID, nullptr);
    return StepFailed(env, err, 1, shmid);
  }
  if (remove && ::shmctl(shmid, IPC_RMID, nullptr) == -1) {
    int err = errno;
    ::shmdt(addr);
    ::shmctl(shmid, IPC_RMID, nullptr);
    return StepFailed(env, err, 2, shmid);
  }
  Napi::Value wrapped = WrapSegment(env, addr, real);
  if (wrapped.IsNumber()) {
    // The segment is new and nobody else's yet.
    if (!remove) ::shmctl(shmid, IPC_RMID, nullptr);
    return StepFailed(env, -wrapped.As<Napi::Number>().Int32Value(), 1, shmid);
  }
  if (unfinished && !remove) OwnUnfinishedSegment(env, shmid);
  Napi::Array result = wrapped.As<Napi::Array>();
  result.Set(3u, Napi::Number::New(env, shmid));
  return result;
}

// node_api_create_external_sharedarraybuffer, experimental in Node-API: Node
// 22, 24 and 26 have it, Node 20 does not. Looked up at run time, so that one
// binary, built for NAPI_VERSION 8, loads everywhere and says ENOSYS where
// the function is missing.
using CreateExternalSab = napi_status (*)(napi_env, void*, size_t, void (*)(void*, void*), void*, napi_value*);

CreateExternalSab ExternalSabMaker() {
  static CreateExternalSab maker =
      reinterpret_cast<CreateExternalSab>(::dlsym(RTLD_DEFAULT, "node_api_create_external_sharedarraybuffer"));
  return maker;
}

// Runs once no thread holds the SharedArrayBuffer, on whichever thread frees
// it: shmdt is all it does, and that is safe from any thread.
void DetachShared(void* data, void* /*hint*/) { ::shmdt(data); }

// shmatShared(shmid) -> SharedArrayBuffer | -errno: the segment attached once
// more, read-write, as a SharedArrayBuffer that worker threads share through
// postMessage. Nothing detaches it but the finalizer: the views of a
// SharedArrayBuffer cannot be emptied, so no shmdt may pull the memory from
// under a thread that still holds one. -ENOSYS: this Node.js cannot make one;
// -ENOTSUP: it refused outside memory (a V8 sandbox). Not counted by
// AdmitMapping: V8 frees a SharedArrayBuffer's memory with the collection
// itself, not on a later turn as Node-API's ArrayBuffer finalizers, so the
// collector keeps up with a loop that makes and forgets them (100,000 in one
// loop: test/shm-shared-buffer.test.ts).
Napi::Value ShmatShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int shmid = info[0].As<Napi::Number>().Int32Value();
  CreateExternalSab make = ExternalSabMaker();
  if (make == nullptr) return Errno(env, ENOSYS);
  void* addr = nullptr;
  size_t size = 0;
  if (int err = AttachSized(shmid, nullptr, 0, &addr, &size)) return Errno(env, err);
  napi_value result;
  if (make(env, addr, size, DetachShared, nullptr, &result) != napi_ok) {
    ::shmdt(addr);
    // A pending exception (the sandbox's refusal) would otherwise surface later.
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return Errno(env, ENOTSUP);
  }
  return Napi::Value(env, result);
}

Napi::Object StatObject(Napi::Env env, const struct shmid_ds& ds) {
  Napi::Object o = PermObject(env, ds.shm_perm);
  o.Set("shm_segsz", Napi::Number::New(env, static_cast<double>(ds.shm_segsz)));
  o.Set("shm_atime", Napi::Number::New(env, static_cast<double>(ds.shm_atime)));
  o.Set("shm_dtime", Napi::Number::New(env, static_cast<double>(ds.shm_dtime)));
  o.Set("shm_ctime", Napi::Number::New(env, static_cast<double>(ds.shm_ctime)));
  o.Set("shm_cpid", Napi::Number::New(env, ds.shm_cpid));
  o.Set("shm_lpid", Napi::Number::New(env, ds.shm_lpid));
  o.Set("shm_nattch", Napi::Number::New(env, static_cast<double>(ds.shm_nattch)));
  return o;
}

// shmctlStat(id, cmd) for IPC_STAT, SHM_STAT, SHM_STAT_ANY -> [ret, fields] | -errno
Napi::Value ShmctlStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  int cmd = info[1].As<Napi::Number>().Int32Value();
  struct shmid_ds ds;
  std::memset(&ds, 0, sizeof ds);
  int ret = ::shmctl(id, cmd, &ds);
  if (ret == -1) return Errno(env, errno);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, ret));
  result.Set(1u, StatObject(env, ds));
  return result;
}

// shmctlSet(id, uid, gid, mode) -> 0 | -errno
Napi::Value ShmctlSet(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  struct shmid_ds ds;
  std::memset(&ds, 0, sizeof ds);
  ds.shm_perm.uid = info[1].As<Napi::Number>().Uint32Value();
  ds.shm_perm.gid = info[2].As<Napi::Number>().Uint32Value();
  ds.shm_perm.mode = info[3].As<Napi::Number>().Uint32Value();
  if (::shmctl(id, IPC_SET, &ds) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// shmctlCmd(id, cmd) for IPC_RMID, SHM_LOCK, SHM_UNLOCK -> ret | -errno
Napi::Value ShmctlCmd(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  int cmd = info[1].As<Napi::Number>().Int32Value();
  int ret = ::shmctl(id, cmd, nullptr);
  if (ret == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), ret);
}

// shmctlInfo(cmd) for IPC_INFO and SHM_INFO -> [ret, fields] | -errno
Napi::Value ShmctlInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int cmd = info[0].As<Napi::Number>().Int32Value();
  Napi::Object o = Napi::Object::New(env);
  int ret;
  if (cmd == IPC_INFO) {
    struct shminfo si;
    std::memset(&si, 0, sizeof si);
    ret = ::shmctl(0, IPC_INFO, reinterpret_cast<struct shmid_ds*>(&si));
    if (ret == -1) return Errno(env, errno);
    o.Set("shmmax", U64(env, si.shmmax));
    o.Set("shmmin", U64(env, si.shmmin));
    o.Set("shmmni", U64(env, si.shmmni));
    o.Set("shmseg", U64(env, si.shmseg));
    o.Set("shmall", U64(env, si.shmall));
  } else if (cmd == SHM_INFO) {
    struct shm_info si;
    std::memset(&si, 0, sizeof si);
    ret = ::shmctl(0, SHM_INFO, reinterpret_cast<struct shmid_ds*>(&si));
    if (ret == -1) return Errno(env, errno);
    o.Set("used_ids", Napi::Number::New(env, si.used_ids));
    o.Set("shm_tot", U64(env, si.shm_tot));
    o.Set("shm_rss", U64(env, si.shm_rss));
    o.Set("shm_swp", U64(env, si.shm_swp));
    o.Set("swap_attempts", U64(env, si.swap_attempts));
    o.Set("swap_successes", U64(env, si.swap_successes));
  } else {
    return Errno(env, EINVAL);
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, ret));
  result.Set(1u, o);
  return result;
}

Napi::Value Strerror(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ::strerror(info[0].As<Napi::Number>().Int32Value()));
}

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports) {
  Export<Ftok>(env, exports, "ftok");
  Export<Shmget>(env, exports, "shmget");
  Export<Shmat>(env, exports, "shmat");
  Export<ShmCreate>(env, exports, "shmCreate");
  Export<ShmatShared>(env, exports, "shmatShared");
  Export<Shmdt>(env, exports, "shmdt");
  Export<ShmctlStat>(env, exports, "shmctlStat");
  Export<ShmctlSet>(env, exports, "shmctlSet");
  Export<ShmctlCmd>(env, exports, "shmctlCmd");
  Export<ShmctlInfo>(env, exports, "shmctlInfo");
  Export<Strerror>(env, exports, "strerror");
}

}  // namespace shmkit
