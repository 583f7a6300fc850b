// Values of the System V constants, read from the system headers so that
// TypeScript never types a number of its own.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shim.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

namespace shmkit {

void InitConstants(Napi::Env env, Napi::Object exports) {
  napi_value c;
  if (napi_create_object(env, &c) != napi_ok) return;
#define SHMKIT_CONSTANT(name) ExportNumber(env, c, #name, static_cast<double>(name))
  SHMKIT_CONSTANT(IPC_PRIVATE);
  SHMKIT_CONSTANT(IPC_CREAT);
  SHMKIT_CONSTANT(IPC_EXCL);
  SHMKIT_CONSTANT(IPC_NOWAIT);
  SHMKIT_CONSTANT(IPC_RMID);
  SHMKIT_CONSTANT(IPC_SET);
  SHMKIT_CONSTANT(IPC_STAT);
  SHMKIT_CONSTANT(IPC_INFO);
  SHMKIT_CONSTANT(SHM_RDONLY);
  SHMKIT_CONSTANT(SHM_RND);
  SHMKIT_CONSTANT(SHM_REMAP);
  SHMKIT_CONSTANT(SHM_EXEC);
  SHMKIT_CONSTANT(SHM_LOCK);
  SHMKIT_CONSTANT(SHM_UNLOCK);
  SHMKIT_CONSTANT(SHM_INFO);
  SHMKIT_CONSTANT(SHM_STAT);
  SHMKIT_CONSTANT(SHM_STAT_ANY);
  SHMKIT_CONSTANT(SHM_DEST);
  SHMKIT_CONSTANT(SHM_LOCKED);
  SHMKIT_CONSTANT(SHM_HUGETLB);
  SHMKIT_CONSTANT(SHM_NORESERVE);
  SHMKIT_CONSTANT(SEM_UNDO);
  SHMKIT_CONSTANT(GETVAL);
  SHMKIT_CONSTANT(SETVAL);
  SHMKIT_CONSTANT(GETALL);
  SHMKIT_CONSTANT(SETALL);
  SHMKIT_CONSTANT(GETPID);
  SHMKIT_CONSTANT(GETNCNT);
  SHMKIT_CONSTANT(GETZCNT);
  SHMKIT_CONSTANT(SEM_INFO);
  SHMKIT_CONSTANT(SEM_STAT);
  SHMKIT_CONSTANT(SEM_STAT_ANY);
  SHMKIT_CONSTANT(MSG_NOERROR);
  SHMKIT_CONSTANT(MSG_EXCEPT);
  SHMKIT_CONSTANT(MSG_COPY);
  SHMKIT_CONSTANT(MSG_INFO);
  SHMKIT_CONSTANT(MSG_STAT);
  SHMKIT_CONSTANT(MSG_STAT_ANY);
#undef SHMKIT_CONSTANT
  ExportNumber(env, c, "PAGE_SIZE", static_cast<double>(sysconf(_SC_PAGESIZE)));
  ExportNumber(env, c, "SHMLBA", static_cast<double>(SHMLBA));
  napi_set_named_property(env, exports, "constants", c);
}

}  // namespace shmkit
