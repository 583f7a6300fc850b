// The physical limit for a round trip: two processes hand a message back and
// forth through shared memory. Mode "spin" spins on a sequence word (bounded,
// then sched_yield); mode "futex" spins briefly, then sleeps in FUTEX_WAIT and
// is woken by FUTEX_WAKE when it said it sleeps, which is what an adaptive
// wait must do on one CPU. Usage: pingpong SIZE COUNT [spin|futex]
// -> {"median_us":..,"p99_us":..,"count":..}
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct slot {
  _Alignas(64) uint32_t seq;
  uint32_t sleeping;
  _Alignas(64) char data[65536];
};

static int use_futex;

static void await_seq(struct slot *s, uint32_t want) {
  for (int spin = 0; __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != want; spin++) {
    if (!use_futex) {
      if (spin > 2000) sched_yield();  // bounded spin: on one CPU the peer must run
      continue;
    }
    if (spin < 100) continue;
    uint32_t seen = __atomic_load_n(&s->seq, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&s->seq, __ATOMIC_SEQ_CST) == seen && seen != want)
      syscall(SYS_futex, &s->seq, FUTEX_WAIT, seen, NULL, NULL, 0);
    __atomic_store_n(&s->sleeping, 0, __ATOMIC_SEQ_CST);
  }
}

static void publish(struct slot *s, uint32_t seq) {
  __atomic_store_n(&s->seq, seq, __ATOMIC_SEQ_CST);
  if (use_futex && __atomic_load_n(&s->sleeping, __ATOMIC_SEQ_CST)) syscall(SYS_futex, &s->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) return 2;
  size_t size = strtoul(argv[1], NULL, 10);
  int count = atoi(argv[2]), warmup = count / 10 + 10;
  use_futex = argc == 4 && strcmp(argv[3], "futex") == 0;
  struct slot *ping = mmap(NULL, 2 * sizeof(struct slot), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (ping == MAP_FAILED) return 1;
  struct slot *pong = ping + 1;
  char local[65536];
  memset(local, 7, sizeof local);
  pid_t child = fork();
  if (child == 0) {
    for (uint32_t i = 1; i <= (uint32_t)(count + warmup); i++) {
      await_seq(ping, i);
      memcpy(local, ping->data, size);
      memcpy(pong->data, local, size);
      publish(pong, i);
    }
    _exit(0);
  }
  double *samples = malloc(sizeof(double) * count);
  for (uint32_t i = 1; i <= (uint32_t)(count + warmup); i++) {
    double start = now_us();
    memcpy(ping->data, local, size);
    publish(ping, i);
    await_seq(pong, i);
    memcpy(local, pong->data, size);
    if (i > (uint32_t)warmup) samples[i - warmup - 1] = now_us() - start;
  }
  waitpid(child, NULL, 0);
  qsort(samples, count, sizeof(double), cmp);
  printf("{\"median_us\":%.4f,\"p99_us\":%.4f,\"count\":%d}\n", samples[count / 2], samples[(int)(count * 0.99)], count);
  return 0;
}
