// System V message-queue shims: one call each, errno returned as a negative
// number, no defaults and no validation (TypeScript does both). msgsnd and
// msgrcv also run on a waiter thread (native/waits.cc), so that a wait never
// blocks the event loop.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "waits.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace shmkit {
namespace {

// struct msgbuf's layout: a long, then the bytes. Allocated with malloc so
// that a size nobody can back fails with ENOMEM instead of aborting.
struct MsgBuf {
  long mtype;
  char mtext[1];
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using MsgPtr = std::unique_ptr<MsgBuf, FreeDeleter>;

MsgPtr Allocate(size_t size) {
  return MsgPtr(static_cast<MsgBuf*>(std::malloc(offsetof(MsgBuf, mtext) + (size > 0 ? size : 1))));
}

// A message to send: mtype and a copy of the bytes (the caller's buffer may
// change or go while a thread waits to send it).
MsgPtr ToMsgBuf(const Napi::Value& type, const Napi::Value& data, size_t* size) {
  Napi::Uint8Array bytes = data.As<Napi::Uint8Array>();
  *size = bytes.ByteLength();
  MsgPtr msg = Allocate(*size);
  if (!msg) return msg;
  msg->mtype = static_cast<long>(type.As<Napi::Number>().DoubleValue());
  if (*size > 0) std::memcpy(msg->mtext, bytes.Data(), *size);
  return msg;
}

// [mtype, ArrayBuffer of the received bytes] in *result. Raw Node-API calls
// that return their failure: a wait's result may be made while its
// environment goes away, where they fail and a throw would be fatal (waits.h).
napi_status Received(napi_env env, const MsgBuf* msg, size_t length, napi_value* result) {
  void* bytes = nullptr;
  napi_value data, type, pair;
  napi_status status = napi_create_arraybuffer(env, length, &bytes, &data);
  if (status != napi_ok) return status;
  if (length > 0) std::memcpy(bytes, msg->mtext, length);
  if ((status = napi_create_double(env, static_cast<double>(msg->mtype), &type)) != napi_ok) return status;
  if ((status = napi_create_array_with_length(env, 2, &pair)) != napi_ok) return status;
  if ((status = napi_set_element(env, pair, 0, type)) != napi_ok) return status;
  if ((status = napi_set_element(env, pair, 1, data)) != napi_ok) return status;
  *result = pair;
  return napi_ok;
}

// msgget(key, flags) -> id | -errno
Napi::Value Msgget(const Napi::CallbackInfo& info) {
  key_t key = info[0].As<Napi::Number>().Int32Value();
  int flags = info[1].As<Napi::Number>().Int32Value();
  int id = ::msgget(key, flags);
  if (id == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), id);
}

// msgsnd(msqid, mtype, Uint8Array data, flags) -> 0 | -errno. Blocks like C.
Napi::Value Msgsnd(const Napi::CallbackInfo& info) {
  int msqid = info[0].As<Napi::Number>().Int32Value();
  size_t size;
  MsgPtr msg = ToMsgBuf(info[1], info[2], &size);
  if (!msg) return Errno(info.Env(), ENOMEM);
  int flags = info[3].As<Napi::Number>().Int32Value();
  if (::msgsnd(msqid, msg.get(), size, flags) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// msgrcv(msqid, msgsz, msgtyp, flags) -> [mtype, ArrayBuffer] | -errno. Blocks like C.
Napi::Value Msgrcv(const Napi::CallbackInfo& info) {
  int msqid = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  long type = static_cast<long>(info[2].As<Napi::Number>().DoubleValue());
  int flags = info[3].As<Napi::Number>().Int32Value();
  MsgPtr msg = Allocate(size);
  if (!msg) return Errno(info.Env(), ENOMEM);
  ssize_t n = ::msgrcv(msqid, msg.get(), size, type, flags);
  if (n == -1) return Errno(info.Env(), errno);
  napi_value result;
  napi_status status = Received(info.Env(), msg.get(), static_cast<size_t>(n), &result);
  NAPI_THROW_IF_FAILED(info.Env(), status, Napi::Value());
  return Napi::Value(info.Env(), result);
}

// msgrcvInto(msqid, buf, msgtyp, flags) -> bytes received | -errno: the
// message lands in buf, a struct msgbuf (mtype, then msgsz = the rest of
// buf's bytes), which the caller reuses: no allocation here, and none in
// JavaScript but the copy it keeps. Blocks like C.
Napi::Value MsgrcvInto(const Napi::CallbackInfo& info) {
  int msqid = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  long type = static_cast<long>(info[2].As<Napi::Number>().DoubleValue());
  int flags = info[3].As<Napi::Number>().Int32Value();
  if (buf.ByteLength() < offsetof(MsgBuf, mtext)) return Errno(info.Env(), EINVAL);
  ssize_t n = ::msgrcv(msqid, buf.Data(), buf.ByteLength() - offsetof(MsgBuf, mtext), type, flags);
  if (n == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// msgctlCmd(msqid, cmd) for commands without a buffer (IPC_RMID, unknown
// ones) -> ret | -errno. A null buffer keeps an unknown command memory-safe.
Napi::Value MsgctlCmd(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  int cmd = info[1].As<Napi::Number>().Int32Value();
  int r = ::msgctl(id, cmd, nullptr);
  if (r == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), r);
}

// msgctlStat(id, cmd) for IPC_STAT, MSG_STAT, MSG_STAT_ANY -> [ret, fields] | -errno
Napi::Value MsgctlStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  int cmd = info[1].As<Napi::Number>().Int32Value();
  struct msqid_ds ds;
  std::memset(&ds, 0, sizeof ds);
  int ret = ::msgctl(id, cmd, &ds);
  if (ret == -1) return Errno(env, errno);
  Napi::Object o = PermObject(env, ds.msg_perm);
  o.Set("msg_stime", Napi::Number::New(env, static_cast<double>(ds.msg_stime)));
  o.Set("msg_rtime", Napi::Number::New(env, static_cast<double>(ds.msg_rtime)));
  o.Set("msg_ctime", Napi::Number::New(env, static_cast<double>(ds.msg_ctime)));
  o.Set("msg_cbytes", Napi::Number::New(env, static_cast<double>(ds.msg_cbytes)));
  o.Set("msg_qnum", Napi::Number::New(env, static_cast<double>(ds.msg_qnum)));
  o.Set("msg_qbytes", Napi::Number::New(env, static_cast<double>(ds.msg_qbytes)));
  o.Set("msg_lspid", Napi::Number::New(env, ds.msg_lspid));
  o.Set("msg_lrpid", Napi::Number::New(env, ds.msg_lrpid));
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, ret));
  result.Set(1u, o);
  return result;
}

// msgctlSet(id, uid, gid, mode, qbytes) -> 0 | -errno
Napi::Value MsgctlSet(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  struct msqid_ds ds;
  std::memset(&ds, 0, sizeof ds);
  ds.msg_perm.uid = info[1].As<Napi::Number>().Uint32Value();
  ds.msg_perm.gid = info[2].As<Napi::Number>().Uint32Value();
  ds.msg_perm.mode = info[3].As<Napi::Number>().Uint32Value();
  ds.msg_qbytes = static_cast<msglen_t>(info[4].As<Napi::Number>().DoubleValue());
  if (::msgctl(id, IPC_SET, &ds) == -1) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// msgctlInfo(cmd) for IPC_INFO and MSG_INFO -> [ret, struct msginfo] | -errno
Napi::Value MsgctlInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int cmd = info[0].As<Napi::Number>().Int32Value();
  if (cmd != IPC_INFO && cmd != MSG_INFO) return Errno(env, EINVAL);
  struct msginfo mi;
  std::memset(&mi, 0, sizeof mi);
  int ret = ::msgctl(0, cmd, reinterpret_cast<struct msqid_ds*>(&mi));
  if (ret == -1) return Errno(env, errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("msgpool", Napi::Number::New(env, mi.msgpool));
  o.Set("msgmap", Napi::Number::New(env, mi.msgmap));
  o.Set("msgmax", Napi::Number::New(env, mi.msgmax));
  o.Set("msgmnb", Napi::Number::New(env, mi.msgmnb));
  o.Set("msgmni", Napi::Number::New(env, mi.msgmni));
  o.Set("msgssz", Napi::Number::New(env, mi.msgssz));
  o.Set("msgtql", Napi::Number::New(env, mi.msgtql));
  o.Set("msgseg", Napi::Number::New(env, mi.msgseg));
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, ret));
  result.Set(1u, o);
  return result;
}

// msgsnd on a waiter thread: blocks while the queue is full. No Revert: a
// message that went in was sent, whether or not its sender lived to hear
// it (as with a process that sends and exits).
class SendCall : public WaitCall {
 public:
  SendCall(int msqid, MsgPtr msg, size_t size, int flags) : msqid_(msqid), msg_(std::move(msg)), size_(size), flags_(flags) {}
  bool Timed() const override { return false; }
  int Attempt(struct timespec* ts) override {
    int flags = ts != nullptr ? flags_ | IPC_NOWAIT : flags_;
    return ::msgsnd(msqid_, msg_.get(), size_, flags) == 0 ? 0 : errno;
  }

 private:
  int msqid_;
  MsgPtr msg_;
  size_t size_;
  int flags_;
};

// The mtext a waiting receive holds while it waits: msgsz, if smaller.
// MSGMAX may be hundreds of MiB, and up to 32 receives per thread of
// JavaScript wait at once: a buffer of msgsz each would hold that much
// address space per wait (8 GiB at 256 MiB), which vm.overcommit_memory=2 or
// RLIMIT_AS refuse, only to wait. As msgrcvNow in src/sysv/msg.ts.
constexpr size_t kWaitBytes = 64 * 1024;

// msgrcv on a waiter thread: blocks until a message of the wanted type comes.
//
// It waits with a buffer of at most kWaitBytes, and without MSG_NOERROR:
// MSG_NOERROR would cut a longer message to kWaitBytes instead of the
// caller's msgsz. A message longer than that buffer makes msgrcv fail with
// E2BIG and stays on the queue (ipc/msg.c: a message on the queue is
// refused before it is taken; one that comes while we sleep wakes us with
// E2BIG and is queued, or handed to a receiver with room for it), for every
// msgtyp, negative and MSG_EXCEPT included, and for MSG_COPY, which takes
// nothing anyway. It is then taken without waiting (IPC_NOWAIT), by a
// fresh msgrcv of the same type with a buffer for it: first one of what
// the queue holds (msg_cbytes, when that is less than msgsz), without
// MSG_NOERROR still; if that is too small too (another receiver took the
// message, and a longer one came), one of msgsz with the caller's flags,
// the call as the caller made it: E2BIG then is the caller's own (longer
// than msgsz without MSG_NOERROR; the message stays), and MSG_NOERROR cuts
// at msgsz. If the message is no longer there (another receiver took it
// between the two calls), nothing was taken and the receive waits again
// with its small buffer. So every message is taken once, whole or cut at
// msgsz as one msgrcv of msgsz bytes would take it, and a receive that
// only waits holds kWaitBytes.
class ReceiveCall : public WaitCall {
 public:
  ReceiveCall(int msqid, MsgPtr wait, size_t size, long type, int flags)
      : msqid_(msqid), wait_(std::move(wait)), size_(size), type_(type), flags_(flags) {}
  static size_t WaitSize(size_t size) { return size < kWaitBytes ? size : kWaitBytes; }
  bool Timed() const override { return false; }
  int Attempt(struct timespec* ts) override {
    bool once = ts != nullptr && (flags_ & IPC_NOWAIT) == 0;
    int flags = once ? flags_ | IPC_NOWAIT : flags_;
    for (;;) {
      int err = Receive(flags);
      if (err != kGone) return once && err == ENOMSG ? EAGAIN : err;
      // The message was gone when we came back for it: nothing was taken. A
      // blocking call goes back to the waiter thread's loop as if
      // interrupted (EINTR), which looks at the cancel flag and the
      // deadline before it waits again; one that must not wait tries again
      // at once (another message of the type may be behind the one taken).
      if ((flags & IPC_NOWAIT) == 0) return EINTR;
    }
  }
  napi_status Value(napi_env env, napi_value* result) override { return Received(env, Holding().get(), length_, result); }
  // Puts a message whose environment went away before it saw it back on the
  // queue: msgsnd of the same type and bytes (length_ of them, from the
  // buffer that received it). It goes to the end of the
  // queue (the kernel has no way to put it back at its old place) and the
  // queue's msg_lspid becomes ours. A full queue (a producer keeps it full)
  // has it wait for room on a thread of its own, a blocking msgsnd among the
  // other senders, for at most kGiveBackMs or the exit's grace
  // (GiveBackLater). Lost are only a message that never finds room in
  // that time and one whose queue was removed (or refuses us), as if the
  // environment had received it and exited. A MSG_COPY receive took nothing.
  void Revert() override {
#ifdef MSG_COPY
    if ((flags_ & MSG_COPY) != 0) return;
#endif
    MsgPtr& msg = Holding();
    if (::msgsnd(msqid_, msg.get(), length_, IPC_NOWAIT) == 0 || errno != EAGAIN) return;
    GiveBackLater(std::make_unique<SendCall>(msqid_, std::move(msg), length_, 0));
  }

 private:
  // Receive's answer when the longer message it found was gone when it came back for it.
  static constexpr int kGone = -1;

  // The buffer the message is in: whole_ if a retry took it.
  MsgPtr& Holding() { return whole_ ? whole_ : wait_; }

  // One receive (see the class): 0 with the message in Holding() and its
  // length in length_, an errno, or kGone.
  int Receive(int flags) {
    whole_.reset();
    size_t waitSize = WaitSize(size_);
    bool small = waitSize < size_;
    ssize_t n = ::msgrcv(msqid_, wait_.get(), waitSize, type_, small ? flags & ~MSG_NOERROR : flags);
    if (n >= 0) {
      length_ = static_cast<size_t>(n);
      return 0;
    }
    if (!small || errno != E2BIG) return errno;
    // No message is longer than all the queue holds. Without a stat (the
    // queue is gone, or our read permission), msgsz; msgrcv then says why.
    size_t holds = size_;
    struct msqid_ds ds;
    if (::msgctl(msqid_, IPC_STAT, &ds) == 0 && static_cast<size_t>(ds.msg_cbytes) < holds) holds = static_cast<size_t>(ds.msg_cbytes);
    // Everything on the queue fits the small buffer: the long one is gone.
    if (holds <= waitSize) return kGone;
    if (holds < size_) {
      int err = Take(holds, (flags | IPC_NOWAIT) & ~MSG_NOERROR);
      if (err != E2BIG) return err;
    }
    return Take(size_, flags | IPC_NOWAIT);
  }

  // msgrcv without waiting into a new buffer of `size` bytes, kept in whole_
  // if it took a message: 0, an errno, or kGone (ENOMSG: nothing to take).
  int Take(size_t size, int flags) {
    MsgPtr buf = Allocate(size);
    if (!buf) return ENOMEM;  // nothing was taken: the message stays
    ssize_t n = ::msgrcv(msqid_, buf.get(), size, type_, flags);
    if (n < 0) return errno == ENOMSG ? kGone : errno;
    whole_ = std::move(buf);
    length_ = static_cast<size_t>(n);
    return 0;
  }

  int msqid_;
  MsgPtr wait_;   // WaitSize(size_) bytes of mtext, for the whole wait
  MsgPtr whole_;  // the message, when it was longer than wait_
  size_t size_;   // the caller's msgsz
  long type_;
  int flags_;
  size_t length_ = 0;
};

// msgSendStart(msqid, mtype, data, flags, timeoutMs) -> token | -errno; the
// result is msgsnd's. timeoutMs < 0: no limit.
Napi::Value MsgSendStart(const Napi::CallbackInfo& info) {
  int msqid = info[0].As<Napi::Number>().Int32Value();
  size_t size;
  MsgPtr msg = ToMsgBuf(info[1], info[2], &size);
  if (!msg) return Errno(info.Env(), ENOMEM);
  int flags = info[3].As<Napi::Number>().Int32Value();
  auto call = std::make_unique<SendCall>(msqid, std::move(msg), size, flags);
  return StartWait(info.Env(), static_cast<WaitsHolder*>(info.Data()), std::move(call), info[4].As<Napi::Number>().DoubleValue());
}

// msgReceiveStart(msqid, msgsz, msgtyp, flags, timeoutMs) -> token | -errno;
// on success the value is [mtype, ArrayBuffer]. It allocates at most
// kWaitBytes of mtext here, not msgsz (see ReceiveCall).
Napi::Value MsgReceiveStart(const Napi::CallbackInfo& info) {
  int msqid = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  long type = static_cast<long>(info[2].As<Napi::Number>().DoubleValue());
  int flags = info[3].As<Napi::Number>().Int32Value();
  // The buffer it waits with; a longer one only for a message that needs it (ReceiveCall).
  MsgPtr msg = Allocate(ReceiveCall::WaitSize(size));
  if (!msg) return Errno(info.Env(), ENOMEM);
  auto call = std::make_unique<ReceiveCall>(msqid, std::move(msg), size, type, flags);
  return StartWait(info.Env(), static_cast<WaitsHolder*>(info.Data()), std::move(call), info[4].As<Napi::Number>().DoubleValue());
}

}  // namespace

void InitMsg(Napi::Env env, Napi::Object exports, WaitsHolder* waits) {
  Export<Msgget>(env, exports, "msgget");
  Export<Msgsnd>(env, exports, "msgsnd");
  Export<Msgrcv>(env, exports, "msgrcv");
  Export<MsgrcvInto>(env, exports, "msgrcvInto");
  Export<MsgctlCmd>(env, exports, "msgctlCmd");
  Export<MsgctlStat>(env, exports, "msgctlStat");
  Export<MsgctlSet>(env, exports, "msgctlSet");
  Export<MsgctlInfo>(env, exports, "msgctlInfo");
  Export<MsgSendStart>(env, exports, "msgSendStart", waits);
  Export<MsgReceiveStart>(env, exports, "msgReceiveStart", waits);
}

}  // namespace shmkit
