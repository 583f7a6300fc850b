// The physical limit for moving bytes: memcpy between two hot buffers.
// Usage: memcpy SIZE SECONDS  ->  {"size":..,"count":..,"seconds":..}
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  size_t size = strtoul(argv[1], NULL, 10);
  double seconds = atof(argv[2]);
  char *src = aligned_alloc(64, size + 64), *dst = aligned_alloc(64, size + 64);
  memset(src, 1, size);
  memset(dst, 2, size);
  long count = 0;
  double start = now(), elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 64; i++) {
      memcpy(dst, src, size);
      __asm__ volatile("" : : "r"(dst) : "memory");  // keep every copy
    }
    count += 64;
    elapsed = now() - start;
  }
  printf("{\"size\":%zu,\"count\":%ld,\"seconds\":%.9f}\n", size, count, elapsed);
  return 0;
}
