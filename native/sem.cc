// System V semaphore shims. The synchronous ones are one call each, errno
// returned as a negative number, no defaults and no validation (TypeScript
// does both). The asynchronous wait runs semtimedop on a waiter thread
// (native/waits.cc).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "clock.h"
#include "waits.h"
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <algorithm>
#include <cstring>
#include <memory>
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

// semget(key, nsems, flags) -> id | -errno
Napi::Value Semget(const Napi::CallbackInfo& info) {
  key_t key = info[0].As<Napi::Number>().Int32Value();
  int nsems = info[1].As<Napi::Number>().Int32Value();
  int flags = info[2].As<Napi::Number>().Int32Value();
  int id = ::semget(key, nsems, flags);
  if (id == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), id);
}

// semCreate(key, nsems, flags, how, arg) -> semid | [-errno, call, semid]:
// semget of a new set (TypeScript passes IPC_CREAT|IPC_EXCL, or IPC_PRIVATE)
// and its first values in one call, `how` 0: none (all 0), 1: semop of the
// packed triples `arg`, 2: SETALL of the Uint16Array `arg`, 3: SETVAL of
// semaphore 0 to `arg`. As two calls, a worker terminated between them left
// a set at 0 that every opener took for made (a mutex nobody could lock). A
// failed first step removes the set; `call` is 0 for semget (semid -1), 1
// for the first values.
Napi::Value SemCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  key_t key = info[0].As<Napi::Number>().Int32Value();
  int nsems = info[1].As<Napi::Number>().Int32Value();
  int flags = info[2].As<Napi::Number>().Int32Value();
  int how = info[3].As<Napi::Number>().Int32Value();
  int semid = ::semget(key, nsems, flags);
  int err = 0;
  if (semid == -1) {
    err = errno;
  } else if (how == 1) {
    std::vector<struct sembuf> sops = ToSembufs(info[4]);
    if (::semop(semid, sops.data(), sops.size()) == -1) err = errno;
  } else if (how == 2) {
    Napi::Uint16Array given = info[4].As<Napi::Uint16Array>();
    std::vector<unsigned short> values(given.ElementLength());
    for (size_t i = 0; i < values.size(); i++) values[i] = given[i];
    SemUn arg;
    arg.array = values.data();
    if (::semctl(semid, 0, SETALL, arg) == -1) err = errno;
  } else if (how == 3) {
    SemUn arg;
    arg.val = info[4].As<Napi::Number>().Int32Value();
    if (::semctl(semid, 0, SETVAL, arg) == -1) err = errno;
  }
  if (err == 0) return Napi::Number::New(env, semid);
  if (semid != -1) ::semctl(semid, 0, IPC_RMID);
  return StepFailed(env, err, semid == -1 ? 0 : 1, semid);
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

// semop1(semid, semNum, semOp, semFlg) -> 0 | -errno: one operation given
// as numbers, never waiting longer than semop would. Reading numbers costs
// the addon a fraction of what reading a typed array does, and one
// operation is what locks and semaphores do on every call.
Napi::Value Semop1(const Napi::CallbackInfo& info) {
  int semid = info[0].As<Napi::Number>().Int32Value();
  struct sembuf op;
  op.sem_num = static_cast<unsigned short>(info[1].As<Napi::Number>().Int32Value());
  op.sem_op = static_cast<short>(info[2].As<Napi::Number>().Int32Value());
  op.sem_flg = static_cast<short>(info[3].As<Napi::Number>().Int32Value());
  if (::semop(semid, &op, 1) == -1) return Errno(info.Env(), errno);
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
// SETALL needs write permission only: where IPC_STAT is refused for want of
// read permission (EACCES), the size is the one TypeScript found without
// that check, and the kernel's SETALL judges the write permission.
Napi::Value SemctlSetAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int semid = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint16Array given = info[1].As<Napi::Uint16Array>();
  size_t nsems = given.ElementLength();
  size_t seen = 0;
  int err = ArraySize(semid, &seen);
  if (err != 0 && err != EACCES) return Errno(env, err);
  if (err == 0 && seen != nsems) return Errno(env, EINVAL);
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

// The give-back of a SemCall that found a semaphore at its maximum (SEMVMX,
// ERANGE): no system call waits for room below it, so it tries again every
// kRetryNs until it succeeds or fails otherwise (GiveBackLater bounds it).
class SemGiveBack : public WaitCall {
 public:
  SemGiveBack(int semid, std::vector<struct sembuf> inverse) : semid_(semid), inverse_(std::move(inverse)) {}
  bool Timed() const override { return false; }
  // With ts null, "blocks": sleeps (cut short by the thread's signal) and
  // asks to be called again (EINTR). A semop EAGAIN (what an increment gave
  // was taken in the meantime) ends it, as any error but EAGAIN and EINTR
  // does: nothing would undo it exactly.
  int Attempt(struct timespec* ts) override {
    if (::semop(semid_, inverse_.data(), inverse_.size()) == 0) return 0;
    int err = errno;
    if (err == EAGAIN) return ECANCELED;
    if (err != ERANGE) return err;
    if (ts != nullptr) return EAGAIN;
    struct timespec nap = NsToTimespec(kRetryNs);
    nanosleep(&nap, nullptr);
    return EINTR;
  }

 private:
  static constexpr int64_t kRetryNs = 2000000;
  int semid_;
  std::vector<struct sembuf> inverse_;
};

// semtimedop on a waiter thread (native/waits.cc).
class SemCall : public WaitCall {
 public:
  SemCall(int semid, std::vector<struct sembuf> sops) : semid_(semid), sops_(std::move(sops)) {}
  bool Timed() const override { return true; }
  int Attempt(struct timespec* ts) override {
    return ::semtimedop(semid_, sops_.data(), sops_.size(), ts) == 0 ? 0 : errno;
  }
  // Gives back an operation whose environment went away before it saw the
  // result, as TypeScript's giveBack (src/sem/wait-queue.ts) does for a wait
  // aborted as it completed: every non-zero sem_op negated, each keeping its
  // SEM_UNDO (so the undo adjustment returns too), with IPC_NOWAIT, all at
  // once or none. A semaphore at its maximum (a producer keeps it there)
  // has it try again (SemGiveBack, GiveBackLater). It fails, and what the
  // operation did stays done, if that cannot be done exactly (another
  // process already took what an increment gave, or the set is gone) or
  // the maximum stays for as long as a give-back may wait.
  void Revert() override {
    std::vector<struct sembuf> inverse;
    for (const struct sembuf& op : sops_) {
      if (op.sem_op == 0) continue;
      struct sembuf back;
      back.sem_num = op.sem_num;
      back.sem_op = static_cast<short>(-op.sem_op);
      back.sem_flg = static_cast<short>((op.sem_flg & SEM_UNDO) | IPC_NOWAIT);
      inverse.push_back(back);
    }
    if (inverse.empty() || ::semop(semid_, inverse.data(), inverse.size()) == 0 || errno != ERANGE) return;
    GiveBackLater(std::make_unique<SemGiveBack>(semid_, std::move(inverse)));
  }

 private:
  int semid_;
  std::vector<struct sembuf> sops_;
};

// semWaitStart(semid, sops, timeoutMs) -> token | -errno. timeoutMs < 0: no limit.
Napi::Value SemWaitStart(const Napi::CallbackInfo& info) {
  auto* holder = static_cast<WaitsHolder*>(info.Data());
  int semid = info[0].As<Napi::Number>().Int32Value();
  auto call = std::make_unique<SemCall>(semid, ToSembufs(info[1]));
  return StartWait(info.Env(), holder, std::move(call), info[2].As<Napi::Number>().DoubleValue());
}

}  // namespace

void InitSem(Napi::Env env, Napi::Object exports, WaitsHolder* waits) {
  Export<Semget>(env, exports, "semget");
  Export<SemCreate>(env, exports, "semCreate");
  Export<Semop>(env, exports, "semop");
  Export<Semop1>(env, exports, "semop1");
  Export<SemctlCmd>(env, exports, "semctlCmd");
  Export<SemctlSetVal>(env, exports, "semctlSetVal");
  Export<SemctlGetAll>(env, exports, "semctlGetAll");
  Export<SemctlSetAll>(env, exports, "semctlSetAll");
  Export<SemctlStat>(env, exports, "semctlStat");
  Export<SemctlSet>(env, exports, "semctlSet");
  Export<SemctlInfo>(env, exports, "semctlInfo");
  Export<SemWaitStart>(env, exports, "semWaitStart", waits);
}

}  // namespace shmkit
