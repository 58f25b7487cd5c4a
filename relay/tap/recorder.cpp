// Recorder: its own thread writes the files; the control thread only queues requests and reads
// status, both under mutex_.
#include "recorder.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iterator>

#include "log.hpp"

namespace latch {
namespace {

uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

void put16(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// The Internet checksum's running sum of `n` bytes.
uint32_t sum16(const uint8_t* p, std::size_t n, uint32_t sum = 0) {
    for (std::size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
    return sum;
}

uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

const uint8_t* address_bytes(const Endpoint& e) {
    const sockaddr* sa = e.sockaddr_ptr();
    if (e.family() == AF_INET)
        return reinterpret_cast<const uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
    return reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
}

// The datagram as the IP packet it arrived in: header, UDP header, payload. Returns its length.
std::size_t build_packet(const TapPacket& p, uint8_t* out) {
    bool v4 = p.from.family() == AF_INET;
    std::size_t ip = v4 ? 20 : 40;
    uint32_t udp_len = 8u + p.wire_len;
    uint8_t* udp = out + ip;
    std::memset(out, 0, ip + 8);
    if (v4) {
        out[0] = 0x45;
        put16(out + 2, static_cast<uint32_t>(ip) + udp_len);
        out[6] = 0x40;  // don't fragment
        out[8] = 64;
        out[9] = IPPROTO_UDP;
        std::memcpy(out + 12, address_bytes(p.from), 4);
        std::memcpy(out + 16, address_bytes(p.to), 4);
        put16(out + 10, fold(sum16(out, 20)));
    } else {
        out[0] = 0x60;
        put16(out + 4, udp_len);
        out[6] = IPPROTO_UDP;
        out[7] = 64;
        std::memcpy(out + 8, address_bytes(p.from), 16);
        std::memcpy(out + 24, address_bytes(p.to), 16);
    }
    put16(udp, p.from.port());
    put16(udp + 2, p.to.port());
    put16(udp + 4, udp_len);
    std::memcpy(udp + 8, p.data, p.len);
    if (!v4 && p.len == p.wire_len) {  // IPv6 requires it; a cut datagram's cannot be known
        uint32_t sum = sum16(out + 8, 32);
        sum += udp_len + IPPROTO_UDP;
        uint16_t c = fold(sum16(udp, 8 + p.len, sum));
        put16(udp + 6, c == 0 ? 0xffff : c);
    }
    return ip + 8 + p.len;
}

}  // namespace

struct Recorder::File {
    pcap_t* dead = nullptr;
    pcap_dumper_t* dumper = nullptr;
    int udp = -1;  // a remote copy's socket
    Endpoint to;   // and where it sends
    std::string path;
    RecordingStatus status;
    bool dirty = false;
    ~File() {
        if (dumper) pcap_dump_close(dumper);
        if (dead) pcap_close(dead);
        if (udp >= 0) ::close(udp);
    }
};

Recorder::Recorder(std::vector<TapRing*> rings) : rings_(std::move(rings)) {
    wall_offset_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
    thread_ = std::thread([this] { run(); });
}

Recorder::~Recorder() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void Recorder::open(uint64_t id, std::string path) {
    {
        std::lock_guard lock(mutex_);
        requests_.push_back({Request::Kind::open, id, std::move(path), {}, 0, {}, {}});
        RecordingStatus& s = status_[id];
        s = RecordingStatus{};
        s.known = true;
    }
    wake_.notify_all();
}

void Recorder::open_remote(uint64_t id, Endpoint to, Endpoint from) {
    {
        std::lock_guard lock(mutex_);
        requests_.push_back({Request::Kind::open, id, {}, {}, 0, to, from});
        RecordingStatus& s = status_[id];
        s = RecordingStatus{};
        s.known = true;
    }
    wake_.notify_all();
}

void Recorder::close(uint64_t id, Epilogue epilogue) {
    {
        std::lock_guard lock(mutex_);
        requests_.push_back({Request::Kind::close, id, {}, std::move(epilogue), 0, {}, {}});
    }
    wake_.notify_all();
}

RecordingStatus Recorder::status(uint64_t id) const {
    std::lock_guard lock(mutex_);
    auto it = status_.find(id);
    return it == status_.end() ? RecordingStatus{} : it->second;
}

RecorderTotals Recorder::totals() const {
    std::lock_guard lock(mutex_);
    return totals_;
}

void Recorder::drain() {
    std::unique_lock lock(mutex_);
    uint64_t ticket = ++tickets_;
    requests_.push_back({Request::Kind::drain, 0, {}, {}, ticket, {}, {}});
    wake_.notify_all();
    drained_.wait(lock, [&] { return done_tickets_ >= ticket || stop_; });
}

void Recorder::run() {
    std::vector<Request> requests;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            // Asleep while nothing is recorded; while something is, a look every 10 ms: the
            // workers never signal (the packet path makes no system call for a copy).
            auto ready = [&] { return stop_ || !requests_.empty(); };
            if (files_.empty())
                wake_.wait(lock, ready);
            else
                wake_.wait_for(lock, std::chrono::milliseconds(10), ready);
            requests.swap(requests_);
            if (stop_ && requests.empty()) break;
        }
        // Opens first, so that the copies that follow an open find their file; closes and
        // drains after the rings, so that what was pushed before them is written.
        for (Request& r : requests)
            if (r.kind == Request::Kind::open) handle(r);
        for (TapRing* ring : rings_) {
            while (const TapPacket* p = ring->front()) {
                write_one(*p);
                ring->pop();
            }
        }
        // Files are flushed every kFlushMs (and before they close): a system call per file
        // every pass would cost more than the copies themselves.
        auto now = std::chrono::steady_clock::now();
        if (now - flushed_ >= std::chrono::milliseconds(kFlushMs) || !requests.empty()) {
            flush_all();
            flushed_ = now;
        }
        if (packets_written_ != published_packets_ || failed_since_publish_ || !requests.empty())
            publish();
        for (Request& r : requests)
            if (r.kind != Request::Kind::open) handle(r);
        requests.clear();
    }
    std::lock_guard lock(mutex_);
    files_.clear();
    drained_.notify_all();
}

void Recorder::handle(Request& r) {
    switch (r.kind) {
        case Request::Kind::open: {
            if (r.path.empty()) return open_remote_copy(r);
            auto f = std::make_unique<File>();
            f->path = r.path;
            f->status.known = f->status.open = true;
            int fd =
                ::open(r.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
            FILE* fp = nullptr;
            if (fd >= 0) {
                ::fchmod(fd, 0640);  // whatever the umask
                fp = ::fdopen(fd, "wb");
                if (fp == nullptr) ::close(fd);
            }
            // A recording's datagrams leave in writes of a few dozen (see flush_all()).
            if (fp != nullptr) std::setvbuf(fp, nullptr, _IOFBF, kFileBuffer);
            std::string error = fp == nullptr ? std::strerror(errno) : "";
            if (fp != nullptr) {
                f->dead = pcap_open_dead(DLT_RAW, 65535);
                f->dumper = f->dead ? pcap_dump_fopen(f->dead, fp) : nullptr;
                if (f->dumper == nullptr) {
                    error = f->dead ? pcap_geterr(f->dead) : "libpcap refused";
                    std::fclose(fp);
                }
            }
            File& file = *f;
            files_[r.id] = std::move(f);
            {
                std::lock_guard lock(mutex_);
                ++totals_.opened;
            }
            if (!error.empty()) fail(file, "cannot create it: " + error);
            return;
        }
        case Request::Kind::close: {
            RecordingStatus final;
            auto it = files_.find(r.id);
            if (it != files_.end()) {
                File& f = *it->second;
                errno = 0;
                if (f.dumper != nullptr &&
                    (pcap_dump_flush(f.dumper) != 0 || std::ferror(pcap_dump_file(f.dumper))))
                    fail(f, errno != 0 ? std::strerror(errno) : "write failed");
                f.status.open = false;
                final = f.status;
                files_.erase(it);  // closes the file
            }
            {
                std::lock_guard lock(mutex_);
                status_.erase(r.id);  // the epilogue has the last word on it
            }
            if (r.epilogue) r.epilogue(final);
            return;
        }
        case Request::Kind::drain: {
            std::lock_guard lock(mutex_);
            done_tickets_ = std::max(done_tickets_, r.ticket);
            drained_.notify_all();
            return;
        }
    }
}

void Recorder::open_remote_copy(const Request& r) {
    auto f = std::make_unique<File>();
    f->path = "udp:" + r.to.to_string();
    f->to = r.to;
    f->status.known = f->status.open = true;
    std::string error;
    f->udp = ::socket(r.to.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->udp < 0) {
        error = std::strerror(errno);
    } else if (r.from.family() == r.to.family()) {
        Endpoint any_port = r.from.with_port(0);
        if (::bind(f->udp, any_port.sockaddr_ptr(), any_port.sockaddr_len()) != 0)
            error = std::string("cannot send from ") + r.from.address_string() + ": " +
                    std::strerror(errno);
    }
    File& file = *f;
    files_[r.id] = std::move(f);
    {
        std::lock_guard lock(mutex_);
        ++totals_.opened;
    }
    if (!error.empty()) fail(file, error);
}

bool Recorder::take_pending_opens() {
    std::vector<Request> opens;
    {
        std::lock_guard lock(mutex_);
        auto first =
            std::stable_partition(requests_.begin(), requests_.end(),
                                  [](const Request& r) { return r.kind != Request::Kind::open; });
        opens.assign(std::make_move_iterator(first), std::make_move_iterator(requests_.end()));
        requests_.erase(first, requests_.end());
    }
    for (Request& r : opens) handle(r);
    return !opens.empty();
}

void Recorder::write_one(const TapPacket& p) {
    auto it = files_.find(p.recording);
    if (it == files_.end()) {
        // An open requested after this pass took its requests: it was asked for before any
        // worker could copy for it, so it waits in requests_ now. Opened here, the first
        // copies are kept; what is left unmatched belongs to a closed (or unknown) recording.
        if (take_pending_opens()) it = files_.find(p.recording);
        if (it == files_.end()) {
            std::lock_guard lock(mutex_);
            ++totals_.unmatched;
            return;
        }
    }
    File& f = *it->second;
    if (f.udp >= 0) {
        // RTCP (RFC 5761's packet types) to the collector's next port, as rtpproxy's copies go.
        bool rtcp = p.len >= 2 && p.data[1] >= 192 && p.data[1] <= 223;
        Endpoint to = rtcp ? f.to.with_port(static_cast<uint16_t>(f.to.port() + 1)) : f.to;
        if (::sendto(f.udp, p.data, p.len, 0, to.sockaddr_ptr(), to.sockaddr_len()) ==
            static_cast<ssize_t>(p.len)) {
            if (f.status.packets == 0) f.status.first_ns = p.at_ns;
            f.status.last_ns = p.at_ns;
            ++f.status.packets;
            f.status.bytes += p.len;
            ++packets_written_;
        }
        return;
    }
    if (f.dumper == nullptr) return;  // failed: the copies go nowhere
    uint8_t packet[40 + 8 + TapPacket::kSnap];
    std::size_t n = build_packet(p, packet);
    uint64_t wall = p.at_ns + wall_offset_ns_;
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(wall / 1'000'000'000);
    h.ts.tv_usec = static_cast<suseconds_t>(wall % 1'000'000'000 / 1000);
    h.caplen = static_cast<bpf_u_int32>(n);
    h.len = static_cast<bpf_u_int32>(n - p.len + p.wire_len);
    errno = 0;
    pcap_dump(reinterpret_cast<u_char*>(f.dumper), &h, packet);
    // stdio writes out when its buffer fills: a failed write shows here, with its errno.
    if (std::ferror(pcap_dump_file(f.dumper))) {
        return fail(f, errno != 0 ? std::strerror(errno) : "write failed");
    }
    f.dirty = true;
    if (f.status.packets == 0) f.status.first_ns = p.at_ns;
    f.status.last_ns = p.at_ns;
    ++f.status.packets;
    f.status.bytes += p.wire_len;
    ++packets_written_;
}

void Recorder::flush_all() {
    for (auto& [id, f] : files_) {
        if (!f->dirty) continue;
        f->dirty = false;
        errno = 0;
        if (f->dumper != nullptr &&
            (pcap_dump_flush(f->dumper) != 0 || std::ferror(pcap_dump_file(f->dumper))))
            fail(*f, errno != 0 ? std::strerror(errno) : "write failed");
    }
}

void Recorder::publish() {
    std::lock_guard lock(mutex_);
    uint64_t open = 0;
    for (auto& [id, f] : files_) {
        status_[id] = f->status;
        open += f->status.open && !f->status.failed;
    }
    totals_.open = open;
    totals_.packets = packets_written_;
    published_packets_ = packets_written_;
    failed_since_publish_ = false;
}

void Recorder::fail(File& f, const std::string& why) {
    if (f.status.failed) return;
    f.status.failed = true;
    f.status.error = why;
    failed_since_publish_ = true;
    if (f.dumper != nullptr) {
        pcap_dump_close(f.dumper);  // what was written stays
        f.dumper = nullptr;
    }
    if (f.udp >= 0) {
        ::close(f.udp);
        f.udp = -1;
    }
    log(LogLevel::warning, "recording {} failed: {}", f.path, why);
    std::lock_guard lock(mutex_);
    ++totals_.failed;
}

}  // namespace latch
