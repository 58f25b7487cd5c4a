#include "bench_util.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace latch::bench {

void pin_thread(pthread_t thread, int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(thread, sizeof set, &set);
}

CpuJiffies cpu_jiffies(int cpu) {
    std::ifstream stat("/proc/stat");
    std::string line, name = "cpu" + std::to_string(cpu);
    while (std::getline(stat, line)) {
        std::istringstream in(line);
        std::string label;
        in >> label;
        if (label != name) continue;
        uint64_t v[8] = {};  // user nice system idle iowait irq softirq steal
        for (auto& x : v) in >> x;
        uint64_t total = 0;
        for (auto x : v) total += x;
        return {total - v[3] - v[4], total};
    }
    return {};
}

double busy_share(const CpuJiffies& before, const CpuJiffies& after) {
    if (after.total <= before.total) return 0;
    return static_cast<double>(after.busy - before.busy) / static_cast<double>(after.total - before.total);
}

double process_cpu_seconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = text.rfind(')');  // the command name may hold spaces
    if (paren == std::string::npos) return 0;
    std::istringstream in(text.substr(paren + 2));
    std::string field;
    uint64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14 and 15: utime, stime
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

uint64_t process_rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
    }
    return 0;
}

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    // Reports ask for several percentiles of one vector: sort it only the first time.
    if (!std::is_sorted(v.begin(), v.end())) std::sort(v.begin(), v.end());
    auto index = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(v.size() - 1, index)];
}

}  // namespace latch::bench
