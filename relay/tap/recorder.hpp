// Recorder: the thread that writes recorded calls' datagrams to pcap files (with libpcap),
// draining every worker's TapRing. The control thread opens and closes recordings and reads
// their status (a mutex guards what the two threads share); files and rings are the recorder
// thread's alone. A write that fails (a full disk) fails that recording, once, never a call.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tap_ring.hpp"

namespace latch {

struct RecordingStatus {
    bool known = false;  // the recorder has (or had) this recording
    bool open = false;   // its file is being written
    bool failed = false;
    std::string error;      // why it failed
    uint64_t packets = 0;   // written to the file (sent, for a remote copy)
    uint64_t bytes = 0;     // of those datagrams
    uint64_t first_ns = 0;  // the first and last written datagram's arrival (monotonic)
    uint64_t last_ns = 0;
};

struct RecorderTotals {
    uint64_t open = 0;       // recordings being written
    uint64_t opened = 0;     // since start
    uint64_t failed = 0;     // recordings that could not be opened or written
    uint64_t packets = 0;    // written
    uint64_t unmatched = 0;  // copies of a recording already closed or never opened
};

class Recorder {
  public:
    // What to write beside a closed recording, from its final status (the recorder thread).
    using Epilogue = std::function<void(const RecordingStatus&)>;

    explicit Recorder(std::vector<TapRing*> rings);
    ~Recorder();  // stops the thread and closes every file
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    // Control thread. Opens `path` (created, mode 0640, never an existing file) for recording
    // `id`: the status says when that failed. Copies of `id` are written from then on.
    void open(uint64_t id, std::string path);
    // Sends the copies of recording `id` to `to` over UDP instead, from `from`'s address (any
    // port), RTCP to `to`'s port + 1: a live copy for a remote collector. A send that fails
    // loses that copy only.
    void open_remote(uint64_t id, Endpoint to, Endpoint from);
    // Writes what the rings hold of `id` so far, closes the file, then runs `epilogue`.
    void close(uint64_t id, Epilogue epilogue = {});
    RecordingStatus status(uint64_t id) const;
    RecorderTotals totals() const;
    // Waits until every copy pushed before the call is written (tests, and shutdown).
    void drain();

  private:
    struct File;
    struct Request {
        enum class Kind { open, close, drain } kind;
        uint64_t id = 0;
        std::string path;  // empty: a remote copy to `to`
        Epilogue epilogue;
        uint64_t ticket = 0;
        Endpoint to, from;
    };

    void run();
    void handle(Request& r);
    void open_remote_copy(const Request& r);
    void write_one(const TapPacket& p);
    // Handles the opens still waiting in requests_ (the others stay in order); false if none.
    bool take_pending_opens();
    void fail(File& f, const std::string& why);
    void flush_all();
    // What the control thread reads (status(), totals()), brought up to date.
    void publish();

    static constexpr std::size_t kFileBuffer = 16 * 1024;
    static constexpr int kFlushMs = 500;

    std::vector<TapRing*> rings_;
    std::chrono::steady_clock::time_point flushed_{};
    std::map<uint64_t, std::unique_ptr<File>> files_;  // the recorder thread's
    uint64_t wall_offset_ns_ = 0;                      // realtime minus monotonic
    uint64_t packets_written_ = 0;
    uint64_t published_packets_ = 0;
    bool failed_since_publish_ = false;

    mutable std::mutex mutex_;  // guards what follows
    std::condition_variable wake_, drained_;
    std::vector<Request> requests_;
    std::map<uint64_t, RecordingStatus> status_;
    RecorderTotals totals_;
    uint64_t tickets_ = 0, done_tickets_ = 0;
    bool stop_ = false;

    std::thread thread_;
};

}  // namespace latch
