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

// msgrcv on a waiter thread: blocks until a message of the wanted type comes.
class ReceiveCall : public WaitCall {
 public:
  ReceiveCall(int msqid, MsgPtr msg, size_t size, long type, int flags)
      : msqid_(msqid), msg_(std::move(msg)), size_(size), type_(type), flags_(flags) {}
  bool Timed() const override { return false; }
  int Attempt(struct timespec* ts) override {
    bool once = ts != nullptr && (flags_ & IPC_NOWAIT) == 0;
    ssize_t n = ::msgrcv(msqid_, msg_.get(), size_, type_, once ? flags_ | IPC_NOWAIT : flags_);
    if (n >= 0) {
      length_ = static_cast<size_t>(n);
      return 0;
    }
    int err = errno;
    return once && err == ENOMSG ? EAGAIN : err;
  }
  napi_status Value(napi_env env, napi_value* result) override { return Received(env, msg_.get(), length_, result); }
  // Puts a message whose environment went away before it saw it back on the
  // queue: msgsnd of the same type and bytes. It goes to the end of the
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
    if (::msgsnd(msqid_, msg_.get(), length_, IPC_NOWAIT) == 0 || errno != EAGAIN) return;
    GiveBackLater(std::make_unique<SendCall>(msqid_, std::move(msg_), length_, 0));
  }

 private:
  int msqid_;
  MsgPtr msg_;
  size_t size_;
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
// on success the value is [mtype, ArrayBuffer].
Napi::Value MsgReceiveStart(const Napi::CallbackInfo& info) {
  int msqid = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  long type = static_cast<long>(info[2].As<Napi::Number>().DoubleValue());
  int flags = info[3].As<Napi::Number>().Int32Value();
  MsgPtr msg = Allocate(size);
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
