// System V semaphore shims (filled in by the semaphore work).
#include "shim.h"

namespace shmkit {

void InitSem(Napi::Env env, Napi::Object exports) {}

}  // namespace shmkit
