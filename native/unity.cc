// The whole addon as one translation unit: node-addon-api's headers are
// parsed once instead of once per file, which makes a build about six times
// cheaper (a fresh clone builds the addon up to three times: the development
// build and the two prebuilds that npm pack makes). The files stay apart for
// reading; names private to a file live in its anonymous namespace, which
// here is shared, so two files must not give a private helper the same name
// (the compiler says so if they do). Every .cc file of native/ is listed here.
#include "addon.cc"
#include "constants.cc"
#include "futex_ring.cc"
#include "futex.cc"
#include "mapping.cc"
#include "msg.cc"
#include "perm.cc"
#include "posix.cc"
#include "sem.cc"
#include "shm.cc"
#include "sigbus.cc"
#include "waits.cc"
