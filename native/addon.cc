#include "waits.h"

namespace shmkit {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitConstants(env, exports);
  InitShm(env, exports);
  InitMapping(env, exports);
  WaitsHolder* waits = InitWaits(env, exports);
  InitSem(env, exports, waits);
  InitMsg(env, exports, waits);
  InitFutex(env, exports);
  InitFutexRing(env, exports);
  InitPosix(env, exports);
  return exports;
}

NODE_API_MODULE(shmkit, Init)

}  // namespace shmkit
