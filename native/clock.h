// Time for the addon's waits, in one place: CLOCK_MONOTONIC nanoseconds, and
// the timespec a system call takes. A wall-clock jump never shortens a wait.
#pragma once

#include <stdint.h>
#include <time.h>

namespace shmkit {

constexpr int64_t kNsPerSec = 1000000000LL;

inline int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

// ns >= 0.
inline struct timespec NsToTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long>(ns % kNsPerSec);
  return ts;
}

// Longer than any process will wait (~31 years); keeps the arithmetic in range.
constexpr double kMaxTimeoutMs = 1e12;

// A timeout in ms (>= 0, capped at kMaxTimeoutMs) as a timespec.
inline struct timespec MsToTimespec(double ms) {
  if (ms > kMaxTimeoutMs) ms = kMaxTimeoutMs;
  if (ms < 0) ms = 0;
  return NsToTimespec(static_cast<int64_t>(ms * 1e6));
}

}  // namespace shmkit
