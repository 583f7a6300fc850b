// struct ipc_perm as a JS object, shared by the segment and semaphore shims.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shim.h"
#include <sys/ipc.h>

namespace shmkit {

Napi::Object PermObject(Napi::Env env, const ::ipc_perm& perm) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("key", Napi::Number::New(env, perm.__key));
  o.Set("uid", Napi::Number::New(env, perm.uid));
  o.Set("gid", Napi::Number::New(env, perm.gid));
  o.Set("cuid", Napi::Number::New(env, perm.cuid));
  o.Set("cgid", Napi::Number::New(env, perm.cgid));
  o.Set("mode", Napi::Number::New(env, perm.mode));
  o.Set("seq", Napi::Number::New(env, perm.__seq));
  return o;
}

}  // namespace shmkit
