// KernelPath: loading, attaching (a TCX link where the kernel has them, which goes with the
// process; else a tc filter, made inert by the heartbeat when the process dies), the heartbeat,
// and the maps' system calls.
#include "kernel_path.hpp"

#include <fmt/format.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

#include "log.hpp"

#ifdef LATCH_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

// The skeleton holds the program's object as one string literal, longer than the 64 KiB
// that -Wpedantic has compilers warn about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
#include "latch_fwd.skel.h"
#pragma GCC diagnostic pop
#endif

namespace latch {

std::optional<KernelMode> parse_kernel_mode(std::string_view word) {
    if (word == "auto") return KernelMode::automatic;
    if (word == "on") return KernelMode::on;
    if (word == "off") return KernelMode::off;
    return std::nullopt;
}

const char* kernel_mode_name(KernelMode mode) {
    switch (mode) {
        case KernelMode::automatic:
            return "auto";
        case KernelMode::on:
            return "on";
        case KernelMode::off:
            return "off";
    }
    return "?";
}

namespace {

// A device that holds one of the relay's addresses, or why an address has none.
struct Placement {
    Endpoint address;
    std::string device;  // empty: userspace, for `why`
    unsigned ifindex = 0;
    std::string why;
};

bool is_ethernet(const std::string& device) {
    std::ifstream type("/sys/class/net/" + device + "/type");
    int value = -1;
    return (type >> value) && value == ARPHRD_ETHER;
}

std::vector<Placement> place(const std::vector<Endpoint>& addresses) {
    std::vector<Placement> placed;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) list = nullptr;
    for (const Endpoint& address : addresses) {
        bool seen = false;
        for (const auto& p : placed) seen = seen || p.address.same_address(address);
        if (seen) continue;
        Placement p{address, {}, 0, {}};
        if (address.is_unspecified_address()) {
            p.why = "the wildcard address is on no one device";
        } else {
            const ifaddrs* found = nullptr;
            for (const ifaddrs* a = list; a != nullptr && found == nullptr; a = a->ifa_next) {
                if (a->ifa_addr != nullptr &&
                    (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6) &&
                    Endpoint::from_sockaddr(a->ifa_addr).same_address(address))
                    found = a;
            }
            if (found == nullptr) {
                p.why = "no device here holds it";
            } else if ((found->ifa_flags & IFF_LOOPBACK) != 0) {
                p.why = fmt::format("{} is loopback", found->ifa_name);
            } else if (!is_ethernet(found->ifa_name)) {
                p.why = fmt::format("{} is not an Ethernet device", found->ifa_name);
            } else {
                p.device = found->ifa_name;
                p.ifindex = if_nametoindex(found->ifa_name);
                if (p.ifindex == 0) p.why = fmt::format("{} is gone", found->ifa_name);
            }
        }
        placed.push_back(std::move(p));
    }
    if (list != nullptr) freeifaddrs(list);
    return placed;
}

bool forwarding(const std::string& device, int family) {
    std::ifstream f(fmt::format("/proc/sys/net/{}/conf/{}/forwarding",
                                family == AF_INET6 ? "ipv6" : "ipv4", device));
    int value = 0;
    return (f >> value) && value != 0;
}

uint64_t monotonic_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000000ULL + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace

#ifdef LATCH_HAVE_BPF

namespace {

// Kernels from 6.6 on: tc's ingress as a BPF link, which the kernel removes when its last
// descriptor closes (the process exits, however it exits). Debian 12's headers predate it.
constexpr uint32_t kTcxIngress = 46;  // BPF_TCX_INGRESS
// The legacy tc filter's identity on its device, so that a successor replaces it.
constexpr uint32_t kTcHandle = 0x4c41;
constexpr uint32_t kTcPriority = 0x4c41;

int libbpf_to_log(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[512];
    int n = vsnprintf(line, sizeof line, format, args);
    std::string_view text(line, n > 0 ? std::min<std::size_t>(n, sizeof line - 1) : 0);
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    log(LogLevel::debug, "{}", text);  // libbpf names itself
    return 0;
}

int tcx_attach(int prog_fd, unsigned ifindex) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.link_create.prog_fd = static_cast<uint32_t>(prog_fd);
    attr.link_create.target_ifindex = ifindex;
    attr.link_create.attach_type = kTcxIngress;
    long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
    return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace

struct KernelPath::Impl {
    struct Attachment {
        std::string device;
        unsigned ifindex = 0;
        int link_fd = -1;           // a TCX link
        bool created_hook = false;  // a tc filter, on a clsact qdisc made for it
    };
    latch_fwd* skel = nullptr;
    int flows = -1, locks = -1, alive = -1;
    std::vector<Attachment> attached;

    ~Impl() { detach(); }

    // "tcx" or "tc filter"; throws with the kernel's reason.
    std::string attach(const std::string& device, unsigned ifindex) {
        int prog = bpf_program__fd(skel->progs.latch_ingress);
        Attachment a{device, ifindex};
        int fd = tcx_attach(prog, ifindex);
        if (fd >= 0) {
            a.link_fd = fd;
            attached.push_back(a);
            return "tcx";
        }
        if (fd == -EPERM) throw std::runtime_error(std::strerror(EPERM));
        bpf_tc_hook hook{};
        hook.sz = sizeof hook;
        hook.ifindex = static_cast<int>(ifindex);
        hook.attach_point = BPF_TC_INGRESS;
        int rc = bpf_tc_hook_create(&hook);
        if (rc != 0 && rc != -EEXIST) throw std::runtime_error(std::strerror(-rc));
        a.created_hook = rc == 0;
        bpf_tc_opts opts{};
        opts.sz = sizeof opts;
        opts.handle = kTcHandle;
        opts.priority = kTcPriority;
        opts.prog_fd = prog;
        opts.flags = BPF_TC_F_REPLACE;  // a predecessor's, left behind by a crash
        rc = bpf_tc_attach(&hook, &opts);
        if (rc != 0) {
            if (a.created_hook) bpf_tc_hook_destroy(&hook);
            throw std::runtime_error(std::strerror(-rc));
        }
        attached.push_back(a);
        return "tc filter";
    }

    void detach() {
        for (auto& a : attached) {
            if (a.link_fd >= 0) {
                ::close(a.link_fd);
                continue;
            }
            bpf_tc_hook hook{};
            hook.sz = sizeof hook;
            hook.ifindex = static_cast<int>(a.ifindex);
            hook.attach_point = BPF_TC_INGRESS;
            bpf_tc_opts opts{};
            opts.sz = sizeof opts;
            opts.handle = kTcHandle;
            opts.priority = kTcPriority;
            bpf_tc_detach(&hook, &opts);
            if (a.created_hook) bpf_tc_hook_destroy(&hook);
        }
        attached.clear();
        if (skel != nullptr) latch_fwd__destroy(skel);
        skel = nullptr;
    }

    void alive_until(uint64_t ns) const {
        uint32_t zero = 0;
        bpf_map_update_elem(alive, &zero, &ns, BPF_ANY);
    }
};

std::unique_ptr<KernelPath> KernelPath::open(KernelMode mode,
                                             const std::vector<Endpoint>& addresses,
                                             uv_loop_t* loop) {
    if (mode == KernelMode::off) {
        log(LogLevel::info, "kernel path: off; media is forwarded in userspace");
        return nullptr;
    }
    // Addresses on no device the program serves (loopback, say) are no fault; a program the
    // kernel refuses is worth a warning.
    auto unavailable = [mode](const std::string& why,
                              LogLevel level = LogLevel::warning) -> std::unique_ptr<KernelPath> {
        if (mode == KernelMode::on) throw std::runtime_error("kernel path: " + why);
        log(level, "kernel path unavailable ({}): media is forwarded in userspace", why);
        return nullptr;
    };
    std::vector<Placement> placed = place(addresses);
    bool any = false;
    for (const auto& p : placed) any = any || !p.device.empty();
    if (!any) {
        std::string why;
        for (const auto& p : placed)
            why +=
                fmt::format("{}{}: {}", why.empty() ? "" : "; ", p.address.address_string(), p.why);
        return unavailable(why, LogLevel::info);
    }
    libbpf_set_print(libbpf_to_log);
    auto impl = std::make_unique<Impl>();
    impl->skel = latch_fwd__open_and_load();
    if (impl->skel == nullptr) {
        int e = errno;
        return unavailable(fmt::format("the BPF program does not load: {}{}", std::strerror(e),
                                       e == EPERM ? " (it needs CAP_BPF and CAP_NET_ADMIN)" : ""));
    }
    impl->flows = bpf_map__fd(impl->skel->maps.latch_flows);
    impl->locks = bpf_map__fd(impl->skel->maps.latch_locks);
    impl->alive = bpf_map__fd(impl->skel->maps.latch_alive);
    impl->alive_until(monotonic_ns() + LATCH_ALIVE_GRACE_NS);
    std::vector<std::string> lines;
    std::vector<Served> served;
    std::vector<std::string> devices;
    for (auto& p : placed) {
        if (p.device.empty()) {
            lines.push_back(fmt::format("{}: userspace ({})", p.address.address_string(), p.why));
            continue;
        }
        std::string how;
        for (const auto& d : devices) {
            if (d.rfind(p.device + " ", 0) == 0) how = "attached";
        }
        if (how.empty()) {
            try {
                how = impl->attach(p.device, p.ifindex);
                devices.push_back(fmt::format("{} ({})", p.device, how));
            } catch (const std::exception& e) {
                if (mode == KernelMode::on) {
                    throw std::runtime_error(
                        fmt::format("kernel path: cannot attach to {}: {}", p.device, e.what()));
                }
                lines.push_back(fmt::format("{}: userspace ({}: {})", p.address.address_string(),
                                            p.device, e.what()));
                continue;
            }
        }
        served.push_back({p.address, p.ifindex, forwarding(p.device, p.address.family())});
        lines.push_back(fmt::format("{}: kernel, on {}", p.address.address_string(), p.device));
    }
    if (served.empty()) {
        std::string why;
        for (const auto& l : lines) why += (why.empty() ? "" : "; ") + l;
        return unavailable(why);
    }
    for (const auto& l : lines) log(LogLevel::info, "kernel path: {}", l);
    std::unique_ptr<KernelPath> path(new KernelPath(std::move(impl)));
    path->served_ = std::move(served);
    path->devices_ = std::move(devices);
    // A TCX link goes with the process: the program never has to fall silent on its own, and a
    // control thread that a flood starves of its core must not turn it off. A tc filter stays
    // after a crash: it acts only while the heartbeat goes on.
    bool filters = false;
    for (const auto& a : path->impl_->attached) filters = filters || a.link_fd < 0;
    if (filters) {
        path->heartbeat_.start(loop, 1000, 1000, "kernel path heartbeat",
                               [p = path.get()] { p->beat(); });
    } else {
        path->impl_->alive_until(UINT64_MAX);
    }
    return path;
}

void KernelPath::beat() {
    if (impl_ && impl_->skel != nullptr) impl_->alive_until(monotonic_ns() + LATCH_ALIVE_GRACE_NS);
}

void KernelPath::close() {
    heartbeat_.stop();
    if (!impl_) return;
    if (impl_->skel != nullptr) impl_->alive_until(0);
    impl_->detach();
}

bool KernelPath::put_flow(const latch_flow_key& key, const latch_flow_action& action) noexcept {
    return bpf_map_update_elem(impl_->flows, &key, &action, BPF_ANY) == 0;
}

bool KernelPath::read_flow(const latch_flow_key& key, latch_flow_action& action) const noexcept {
    return bpf_map_lookup_elem(impl_->flows, &key, &action) == 0;
}

void KernelPath::remove_flow(const latch_flow_key& key) noexcept {
    bpf_map_delete_elem(impl_->flows, &key);
}

bool KernelPath::put_lock(const latch_lock_key& key, const latch_lock_value& value) noexcept {
    return bpf_map_update_elem(impl_->locks, &key, &value, BPF_ANY) == 0;
}

bool KernelPath::read_lock(const latch_lock_key& key, latch_lock_value& value) const noexcept {
    return bpf_map_lookup_elem(impl_->locks, &key, &value) == 0;
}

void KernelPath::remove_lock(const latch_lock_key& key) noexcept {
    bpf_map_delete_elem(impl_->locks, &key);
}

#else  // built without libbpf: never opened

struct KernelPath::Impl {};

std::unique_ptr<KernelPath> KernelPath::open(KernelMode mode, const std::vector<Endpoint>&,
                                             uv_loop_t*) {
    const char* why = "latchd was built without it (clang, bpftool and libbpf-dev)";
    if (mode == KernelMode::on) throw std::runtime_error(std::string("kernel path: ") + why);
    if (mode == KernelMode::automatic) {
        log(LogLevel::warning, "kernel path unavailable ({}): media is forwarded in userspace",
            why);
    }
    (void)monotonic_ns;
    (void)place;
    (void)forwarding;
    return nullptr;
}
void KernelPath::beat() {}
void KernelPath::close() {
    heartbeat_.stop();
}
bool KernelPath::put_flow(const latch_flow_key&, const latch_flow_action&) noexcept {
    return false;
}
bool KernelPath::read_flow(const latch_flow_key&, latch_flow_action&) const noexcept {
    return false;
}
void KernelPath::remove_flow(const latch_flow_key&) noexcept {}
bool KernelPath::put_lock(const latch_lock_key&, const latch_lock_value&) noexcept {
    return false;
}
bool KernelPath::read_lock(const latch_lock_key&, latch_lock_value&) const noexcept {
    return false;
}
void KernelPath::remove_lock(const latch_lock_key&) noexcept {}

#endif

KernelPath::KernelPath(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KernelPath::~KernelPath() {
    close();
}

unsigned KernelPath::ifindex_of(const Endpoint& local) const {
    for (const auto& s : served_) {
        if (s.address.same_address(local)) return s.ifindex;
    }
    return 0;
}

bool KernelPath::forwards(const Endpoint& local) const {
    for (const auto& s : served_) {
        if (s.address.same_address(local)) return s.forwards;
    }
    return false;
}

}  // namespace latch
