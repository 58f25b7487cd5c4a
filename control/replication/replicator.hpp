// Replicator: the call observer that keeps every call's record in Redis: written when a call is
// created, signalled or learns a source, deleted when it ends (a SIGTERM deletes nothing), its
// expiry pushed back while the call lives. Changes are gathered for kFlushMs and go out in one
// pipeline, a call's latest record once: a burst of commands costs Redis, and the control
// loop's wake-ups for its answers, one round trip. Redis down or slow never holds a call up:
// the records are kept here and all written again once Redis is back. Also reads this
// instance's records back at start-up. Control thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "call_events.hpp"
#include "call_record.hpp"
#include "redis_link.hpp"
#include "timer.hpp"

namespace latch {

struct ReplicationCounters {
    uint64_t records = 0;           // calls whose record is kept now
    uint64_t writes = 0;            // records written
    uint64_t deletes = 0;           // records deleted
    uint64_t rewrites = 0;          // times every record was written again (Redis back)
    uint64_t restored = 0;          // calls restored at start-up
    uint64_t restore_failures = 0;  // records read that could not become calls again
    uint64_t skipped = 0;           // records that do not parse (foreign, corrupt, newer)
    uint64_t followed = 0;          // records a standby read as they changed
    bool active = true;             // this instance writes (it holds the floating address)
    RedisCounters redis;
    bool connected = false;
};

// What a standby does with the records it follows (see Replicator::follow).
struct FollowHooks {
    std::function<void(CallRecord)> record;                              // written (new or changed)
    std::function<void(const std::string& call_id)> gone;                // deleted
    std::function<void(const std::unordered_set<std::string>&)> synced;  // every call-id there is
};

class Replicator final : public CallObserver {
  public:
    // Records are "latch:<instance>:call:<call-id>"; they expire `ttl_s` after the last write
    // or refresh (the idle timeout and some).
    // `find` gives the call layer's call of a call-id (nullptr: gone), for the records written
    // at a flush: a record is built once per flush, from the call as it is then.
    using FindCall = std::function<const Call*(const std::string& call_id)>;
    Replicator(uv_loop_t* loop, RedisTarget target, std::string instance, uint64_t ttl_s,
               FindCall find);
    void start();
    void stop();

    // The active instance writes the records; a standby (this host does not hold the floating
    // address) writes nothing and follows them instead: every record written or deleted is
    // told to `hooks`, and every 10 s, and whenever its subscription (re)starts, the whole set.
    void set_active(bool active);
    bool active() const { return active_; }
    void follow(FollowHooks hooks) { hooks_ = std::move(hooks); }

    // This instance's records, read at start-up before anything is served; those that do not
    // parse are skipped, logged and counted. Waits for Redis at most `timeout_ms`; Redis down
    // means nothing to restore (logged).
    std::vector<CallRecord> load(int timeout_ms);
    // What became of a restored call (counted).
    void restored(bool ok) { ++(ok ? counters_.restored : counters_.restore_failures); }

    void call_created(const Call& call, const SessionSnapshot& snapshot) override {
        write(call, snapshot);
    }
    void call_signalled(const Call& call, int, const SessionSnapshot& snapshot) override {
        write(call, snapshot);
    }
    void call_learned(const Call& call, const SessionSnapshot& snapshot) override {
        write(call, snapshot);
    }
    void call_recording_changed(const Call& call, const SessionSnapshot& snapshot) override {
        write(call, snapshot);
    }
    void call_ended(const Call& call, const SessionSnapshot&, CallEnd) override;

    ReplicationCounters counters() const;
    std::string key(const std::string& call_id) const { return prefix_ + call_id; }
    const std::string& instance() const { return instance_; }

    static constexpr uint64_t kFlushMs = 5;

  private:
    struct Entry {
        SessionSnapshot snapshot;  // the session as last reported
        std::string record;        // as last sent
        bool written = false;      // Redis may hold a version of it
        bool pending = false;      // changed since the last flush
    };
    void write(const Call& call, const SessionSnapshot& snapshot);
    void schedule_flush();
    void flush();
    void send(const std::string& call_id, Entry& entry);
    void send_delete(const std::string& call_id);
    void rewrite_all();
    void refresh();
    void publish(const std::string& what, const std::string& call_id);
    void on_event(std::string_view message);
    void fetch(const std::string& call_id, std::function<void()> then = {});
    // Reads every record there is, tells `hooks_.record` of each and `hooks_.synced` of all.
    void resync();
    struct Resync {
        uint64_t generation;
        std::unordered_set<std::string> ids;
    };
    void scan_page(std::shared_ptr<Resync> sync, const std::string& cursor);

    uv_loop_t* loop_;
    FindCall find_;
    std::string instance_;
    std::string prefix_;
    uint64_t ttl_s_;
    RedisLink link_;
    RedisLink sub_;  // a standby's subscription to the records' events
    std::string channel_;
    bool active_ = true;
    FollowHooks hooks_;
    uint64_t resyncs_ = 0;  // a resync's generation: a newer one makes an older one moot
    std::unordered_map<std::string, Entry> records_;  // by call-id: the live calls
    std::vector<std::string> pending_;                // call-ids changed since the last flush
    std::unordered_set<std::string> deleted_;  // ended, and Redis may still hold their record
    bool dirty_ = false;  // a write was lost: everything is written again when Redis is back
    Timer refresh_timer_;
    Timer flush_timer_;
    ReplicationCounters counters_;
};

}  // namespace latch
