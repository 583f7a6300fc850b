// Shared helpers for the shims: every shim reports failure as a negative errno
// number and leaves naming, validation and messages to TypeScript.
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <sys/stat.h>

struct ipc_perm;  // <sys/ipc.h>, included where its fields are read

namespace shmkit {

inline Napi::Value Errno(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

// The failure of a call that makes an object in several steps (shmCreate,
// semCreate): [-errno, which step failed, the object's id (-1 if none was made)].
inline Napi::Value StepFailed(Napi::Env env, int err, uint32_t step, int id) {
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Napi::Number::New(env, -err));
  result.Set(1u, Napi::Number::New(env, step));
  result.Set(2u, Napi::Number::New(env, id));
  return result;
}

// Sizes and addresses arrive as JS numbers (validated in TypeScript) or bigints.
inline uint64_t ToU64(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return static_cast<uint64_t>(v.As<Napi::Number>().DoubleValue());
}

inline Napi::Value U64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// Exports: raw Node-API calls, whose failure is ignored. A worker terminated
// while it loads the addon fails every call that needs JavaScript, and
// node-addon-api turns a failed call into a throw, which fails as well: a
// fatal error that ends the whole process. The worker is going away; a
// partial module object is harmless there.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
napi_value ExportedCall(napi_env env, napi_callback_info info) {
  Napi::CallbackInfo call(env, info);
  return F(call);
}

// exports[name] = a function running F, with info.Data() == data.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void Export(napi_env env, napi_value exports, const char* name, void* data = nullptr) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, ExportedCall<F>, data, &fn) == napi_ok)
    napi_set_named_property(env, exports, name, fn);
}

// object[name] = value, as Export does it.
inline void ExportNumber(napi_env env, napi_value object, const char* name, double value) {
  napi_value number;
  if (napi_create_double(env, value, &number) == napi_ok) napi_set_named_property(env, object, name, number);
}

// The address of the 32-bit word at byteOffset in an ArrayBuffer, or nullptr
// if it is not inside it or not aligned (a bad offset must never reach the
// kernel). For the futex shims (futex.cc, futex_ring.cc).
inline uint32_t* FutexWordAt(const Napi::Value& buffer, const Napi::Value& offset) {
  if (!buffer.IsArrayBuffer() || !offset.IsNumber()) return nullptr;
  Napi::ArrayBuffer ab = buffer.As<Napi::ArrayBuffer>();
  double off = offset.As<Napi::Number>().DoubleValue();
  size_t length = ab.ByteLength();
  if (!(off >= 0) || off + 4 > static_cast<double>(length) || static_cast<size_t>(off) % 4 != 0) return nullptr;
  return reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(ab.Data()) + static_cast<size_t>(off));
}

void InitShm(Napi::Env env, Napi::Object exports);

// struct ipc_perm's fields, with their C names but __key/__seq as key/seq.
Napi::Object PermObject(Napi::Env env, const ::ipc_perm& perm);
void InitConstants(Napi::Env env, Napi::Object exports);
struct EnvWaits;  // native/waits.cc
void InitSem(Napi::Env env, Napi::Object exports, std::shared_ptr<EnvWaits>* waits);
void InitMsg(Napi::Env env, Napi::Object exports, std::shared_ptr<EnvWaits>* waits);
void InitFutex(Napi::Env env, Napi::Object exports);
// Wakes this process's futex waiter threads asleep on a word in [addr, addr + length).
void WakeWaitsIn(void* addr, size_t length);
void InitFutexRing(Napi::Env env, Napi::Object exports);

// What a mapping maps: a System V segment (shmat) or a file descriptor (mmap).
enum class MappingKind { kSegment, kFile };

// 0, EAGAIN while too many forgotten mappings await their finalizer, or
// ENOMEM when the process's memory areas come within the margin TypeScript
// set (mapCountPolicy) of vm.max_map_count (called before shmat or mmap maps
// anything).
int AdmitMapping(Napi::Env env);
// A mapping as [ArrayBuffer, handle] (native/mapping.cc), or -errno (Node-API
// owns the buffer's lifetime: its finalizer detaches or unmaps it). A kFile
// mapping must already be known to the SIGBUS guard: `range` is what
// GuardFileRange returned (-1 for a segment).
Napi::Value WrapMapping(Napi::Env env, void* addr, size_t length, MappingKind kind, int range = -1);
// Descriptor `fd` belongs to this environment's shmkit object: closed when
// the environment ends unless closeOwned closed it first, and the object named
// `unlink` (or none: nullptr) removed then unless keepName kept it.
void OwnFd(napi_env env, int fd, const char* unlink);
// Segment `shmid`, keyed and new, is removed when this environment ends unless keepSegment kept it.
void OwnUnfinishedSegment(napi_env env, int shmid);
Napi::Value Shmdt(const Napi::CallbackInfo& info);
Napi::Value Munmap(const Napi::CallbackInfo& info);
void InitMapping(Napi::Env env, Napi::Object exports);

// The SIGBUS guard (native/sigbus.cc): while a file's range is guarded, a
// SIGBUS there (the file shrank under the mapping, or tmpfs had no page to
// give) puts a zeroed private page over the fault instead of killing the
// process. GuardFileRange (the range mapped from `fd` at file offset
// `offset`) returns the range's index, or -errno: -ENOMEM when its table is
// full, -EMFILE when the guard cannot keep a descriptor of the file.
int GuardFileRange(void* addr, size_t span, bool writable, int fd, uint64_t offset);
// The file's pages are no longer mapped in the range: the guard lets go of its descriptor.
void ReleaseRangeFile(int index);
// The range is gone (ReleaseRangeFile included).
void ForgetFileRange(int index);
// The first fault inside the file that the guard met in the range: its page and si_code.
bool FileRangeFault(int index, uintptr_t* at, int* code);
// fallocate(FALLOC_FL_KEEP_SIZE) of `length` bytes at `start` in the range: 0 or the errno.
int ReserveInFileRange(int index, uint64_t start, uint64_t length);
// fstat of the range's file: 0 or the errno.
int FileRangeStat(int index, struct stat* st);
// Pages the guard replaced one at a time so far: each may have split an area in three.
size_t GuardSplitPages();
void InitSigbus(Napi::Env env, Napi::Object exports);
void InitPosix(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
