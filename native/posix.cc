// POSIX shared-memory and memfd shims: shm_open, shm_unlink, memfd_create,
// the sealing and descriptor fcntls, fallocate, and mmap of a descriptor into
// an ArrayBuffer (whose lifetime native/mapping.cc keeps, as for shmat).
// errno comes back as a negative number; no defaults and no validation
// (TypeScript does both). ftruncate, fstat and close are Node's own (fs).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shim.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// Older headers lack the newest flags; the values are the kernel's ABI.
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

namespace shmkit {
namespace {

// Who holds a new descriptor: the caller (the C-faithful calls), or this
// environment's shmkit object (OwnFd), in one call with the one that made it,
// so that a worker terminated in between leaves nothing open.
enum Ownership { kCaller = 0, kOwned = 1, kOwnedUnlinkUntilKept = 2 };

// shmOpen(name, oflag, mode, ownership) -> fd | -errno
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int oflag = info[1].As<Napi::Number>().Int32Value();
  mode_t mode = info[2].As<Napi::Number>().Uint32Value();
  int ownership = info[3].As<Napi::Number>().Int32Value();
  int fd = ::shm_open(name.c_str(), oflag, mode);
  if (fd == -1) return Errno(info.Env(), errno);
  if (ownership != kCaller) OwnFd(info.Env(), fd, ownership == kOwnedUnlinkUntilKept ? name.c_str() : nullptr);
  return Napi::Number::New(info.Env(), fd);
}

// shmUnlink(name) -> 0 | -errno
Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (::shm_unlink(name.c_str()) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// memfdCreate(name, flags, ownership) -> fd | -errno
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  unsigned int flags = info[1].As<Napi::Number>().Uint32Value();
  int ownership = info[2].As<Napi::Number>().Int32Value();
  int fd = ::memfd_create(name.c_str(), flags);
  if (fd == -1) return Errno(info.Env(), errno);
  if (ownership != kCaller) OwnFd(info.Env(), fd, nullptr);
  return Napi::Number::New(info.Env(), fd);
}

// dupOwned(fd) -> fd | -errno: fcntl(fd, F_DUPFD_CLOEXEC, 0), the new descriptor owned.
Napi::Value DupOwned(const Napi::CallbackInfo& info) {
  int fd = ::fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd == -1) return Errno(info.Env(), errno);
  OwnFd(info.Env(), fd, nullptr);
  return Napi::Number::New(info.Env(), fd);
}

// fcntlInt(fd, cmd, arg) for F_ADD_SEALS, F_GET_SEALS, F_GETFL, F_DUPFD_CLOEXEC -> result | -errno
Napi::Value FcntlInt(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int cmd = info[1].As<Napi::Number>().Int32Value();
  int arg = info[2].As<Napi::Number>().Int32Value();
  int ret = ::fcntl(fd, cmd, arg);
  if (ret == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), ret);
}

// fallocate(fd, length) -> 0 | -errno: gives the file its pages now, so that
// a full tmpfs is ENOSPC here rather than SIGBUS on a later access.
Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  off_t length = static_cast<off_t>(ToU64(info[1]));
  if (::fallocate(fd, 0, 0, length) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// mmap(fd, length, prot, flags, offset) -> [ArrayBuffer, handle, address: bigint] | -errno.
// The kernel always chooses the address.
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t length = static_cast<size_t>(ToU64(info[1]));
  int prot = info[2].As<Napi::Number>().Int32Value();
  int flags = info[3].As<Napi::Number>().Int32Value();
  off_t offset = static_cast<off_t>(ToU64(info[4]));
  if (int err = AdmitMapping(env)) return Errno(env, err);
  void* addr = ::mmap(nullptr, length, prot, flags, fd, offset);
  if (addr == MAP_FAILED) return Errno(env, errno);
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t span = (length + page - 1) / page * page;
  int range = GuardFileRange(addr, span, (prot & PROT_WRITE) != 0, fd, static_cast<uint64_t>(offset));
  if (range < 0) {
    ::munmap(addr, span);
    return Errno(env, -range);
  }
  Napi::Value wrapped = WrapMapping(env, addr, length, MappingKind::kFile, range);
  if (wrapped.IsNumber()) return wrapped;
  Napi::Array result = wrapped.As<Napi::Array>();
  result.Set(2u, U64(env, reinterpret_cast<uintptr_t>(addr)));
  return result;
}

}  // namespace

void InitPosix(Napi::Env env, Napi::Object exports) {
  napi_value c;
  if (napi_get_named_property(env, exports, "constants", &c) != napi_ok) return;
#define SHMKIT_CONSTANT(name) ExportNumber(env, c, #name, static_cast<double>(name))
  SHMKIT_CONSTANT(O_RDONLY);
  SHMKIT_CONSTANT(O_RDWR);
  SHMKIT_CONSTANT(O_CREAT);
  SHMKIT_CONSTANT(O_EXCL);
  SHMKIT_CONSTANT(O_TRUNC);
  SHMKIT_CONSTANT(O_ACCMODE);
  SHMKIT_CONSTANT(PROT_READ);
  SHMKIT_CONSTANT(PROT_WRITE);
  SHMKIT_CONSTANT(PROT_EXEC);
  SHMKIT_CONSTANT(PROT_NONE);
  SHMKIT_CONSTANT(MAP_SHARED);
  SHMKIT_CONSTANT(MAP_PRIVATE);
  SHMKIT_CONSTANT(MAP_POPULATE);
  SHMKIT_CONSTANT(MFD_CLOEXEC);
  SHMKIT_CONSTANT(MFD_ALLOW_SEALING);
  SHMKIT_CONSTANT(MFD_NOEXEC_SEAL);
  SHMKIT_CONSTANT(MFD_EXEC);
  SHMKIT_CONSTANT(F_ADD_SEALS);
  SHMKIT_CONSTANT(F_GET_SEALS);
  SHMKIT_CONSTANT(F_GETFL);
  SHMKIT_CONSTANT(F_DUPFD_CLOEXEC);
  SHMKIT_CONSTANT(F_SEAL_SEAL);
  SHMKIT_CONSTANT(F_SEAL_SHRINK);
  SHMKIT_CONSTANT(F_SEAL_GROW);
  SHMKIT_CONSTANT(F_SEAL_WRITE);
  SHMKIT_CONSTANT(F_SEAL_FUTURE_WRITE);
  SHMKIT_CONSTANT(F_SEAL_EXEC);
#undef SHMKIT_CONSTANT
  Export<ShmOpen>(env, exports, "shmOpen");
  Export<ShmUnlink>(env, exports, "shmUnlink");
  Export<MemfdCreate>(env, exports, "memfdCreate");
  Export<FcntlInt>(env, exports, "fcntlInt");
  Export<DupOwned>(env, exports, "dupOwned");
  Export<Fallocate>(env, exports, "fallocate");
  Export<Mmap>(env, exports, "mmap");
  Export<Munmap>(env, exports, "munmap");
  InitSigbus(env, exports);
}

}  // namespace shmkit
