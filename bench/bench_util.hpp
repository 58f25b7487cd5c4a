// Small helpers shared by the benchmark programs: CPU pinning and the kernel's accounting of
// CPU time and memory (/proc).
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace latch::bench {

void pin_thread(pthread_t thread, int cpu);

// Busy and total jiffies of one CPU from /proc/stat; irq and softirq count as busy,
// idle and iowait as idle.
struct CpuJiffies {
    uint64_t busy = 0;
    uint64_t total = 0;
};
CpuJiffies cpu_jiffies(int cpu);
// Busy share of the CPU between two samples (0..1).
double busy_share(const CpuJiffies& before, const CpuJiffies& after);

// User+system CPU seconds a process has used, all its threads (from /proc/PID/stat).
double process_cpu_seconds(pid_t pid);
// Resident set size of a process in KiB (VmRSS), 0 when unknown.
uint64_t process_rss_kib(pid_t pid);

// p in [0, 1]; sorts v. 0 for an empty vector.
double percentile(std::vector<double>& v, double p);

}  // namespace latch::bench
