// Replicator. Control thread only.
#include "replicator.hpp"

#include <hiredis/hiredis.h>

#include <memory>

#include "guard.hpp"
#include "log.hpp"

namespace latch {

Replicator::Replicator(uv_loop_t* loop, RedisTarget target, std::string instance, uint64_t ttl_s,
                       FindCall find)
    : loop_(loop),
      find_(std::move(find)),
      instance_(std::move(instance)),
      prefix_("latch:" + instance_ + ":call:"),
      ttl_s_(ttl_s),
      link_(loop, target,
            [this] {
                if (active_) {
                    rewrite_all();
                } else {
                    resync();  // the subscription may have been ready first
                }
            }),
      sub_(loop, target, [this] { resync(); }),
      channel_("latch:" + instance_ + ":events") {
    sub_.subscribe(channel_, [this](std::string_view message) { on_event(message); });
}

void Replicator::start() {
    link_.start();
    if (!active_) sub_.start();
    // Expiry is pushed back at a third of the records' life: a live call's record never
    // expires, a dead instance's records go after the calls would have timed out.
    uint64_t every = std::max<uint64_t>(1, ttl_s_ / 3) * 1000;
    refresh_timer_.start(loop_, every, every, "record refresh", [this] { refresh(); });
}

void Replicator::stop() {
    refresh_timer_.stop();
    flush_timer_.stop();
    sub_.close();
    link_.close();  // a stop deletes nothing: the records are what the next start restores
}

void Replicator::write(const Call& call, const SessionSnapshot& snapshot) {
    Entry& entry = records_[call.call_id];
    entry.snapshot = snapshot;
    if (!entry.pending) {
        entry.pending = true;
        pending_.push_back(call.call_id);
    }
    schedule_flush();
}

void Replicator::call_ended(const Call& call, const SessionSnapshot&, CallEnd) {
    auto it = records_.find(call.call_id);
    if (it == records_.end()) return;
    bool written = it->second.written;
    records_.erase(it);  // a pending write of it is dropped at the flush
    // Created and ended between two flushes: Redis never had it. A standby's copy ends when
    // its record is gone: nothing to delete.
    if (!written || !active_) return;
    deleted_.insert(call.call_id);
    schedule_flush();
}

void Replicator::schedule_flush() {
    if (!flush_timer_.active())
        flush_timer_.start(loop_, kFlushMs, 0, "record flush", [this] { flush(); });
}

void Replicator::set_active(bool active) {
    if (active == active_) return;
    active_ = active;
    if (active) {
        sub_.close();
        // What it followed is its own now: written under its name again (and the expiry
        // pushed back), so that the calls outlive the instance that is gone.
        if (link_.ready()) rewrite_all();
    } else {
        pending_.clear();  // the active instance writes from now on
        for (auto& [id, entry] : records_) entry.pending = false;
        sub_.start();
    }
}

void Replicator::flush() {
    if (!active_) return;
    std::vector<std::string> changed;
    changed.swap(pending_);
    if (!link_.ready()) {  // written with everything else when Redis is back
        for (const auto& call_id : changed) {
            if (auto it = records_.find(call_id); it != records_.end()) it->second.pending = false;
        }
        dirty_ = true;
        return;
    }
    for (const auto& call_id : changed) {
        auto it = records_.find(call_id);
        if (it == records_.end()) continue;  // ended meanwhile
        Entry& entry = it->second;
        entry.pending = false;
        const Call* call = find_(call_id);
        if (call == nullptr) continue;
        std::string record = to_json(record_of(*call, entry.snapshot, instance_));
        if (record == entry.record) continue;  // created and signalled by one offer: one record
        entry.record = std::move(record);
        send(call_id, entry);
    }
    std::vector<std::string> gone(deleted_.begin(), deleted_.end());
    for (const auto& call_id : gone) send_delete(call_id);
}

void Replicator::publish(const std::string& what, const std::string& call_id) {
    link_.command({"PUBLISH", channel_, what + " " + call_id});
}

void Replicator::send(const std::string& call_id, Entry& entry) {
    entry.written = true;
    bool sent = link_.command({"SET", key(call_id), entry.record, "EX", std::to_string(ttl_s_)},
                              [this](const redisReply* r) {
                                  if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
                                      dirty_ = true;
                                  } else {
                                      ++counters_.writes;
                                  }
                              });
    if (!sent) {
        dirty_ = true;
        return;
    }
    publish("set", call_id);
}

void Replicator::send_delete(const std::string& call_id) {
    bool sent = link_.command({"DEL", key(call_id)}, [this, call_id](const redisReply* r) {
        if (r == nullptr || r->type == REDIS_REPLY_ERROR) return;  // tried again at the next flush
        ++counters_.deletes;
        deleted_.erase(call_id);
    });
    if (sent) publish("del", call_id);
}

void Replicator::rewrite_all() {
    dirty_ = false;
    pending_.clear();
    for (auto& [call_id, entry] : records_) {
        entry.pending = false;
        const Call* call = find_(call_id);
        if (call == nullptr) continue;
        entry.record = to_json(record_of(*call, entry.snapshot, instance_));
        send(call_id, entry);
    }
    std::vector<std::string> gone(deleted_.begin(), deleted_.end());
    for (const auto& call_id : gone) send_delete(call_id);
    if (!records_.empty() || !gone.empty()) {
        ++counters_.rewrites;
        log(LogLevel::info, "Redis: wrote the records of {} calls again, deleted {}",
            records_.size(), gone.size());
    }
}

void Replicator::refresh() {
    if (!link_.ready()) return;
    if (!active_) return resync();
    if (dirty_) return rewrite_all();
    for (const auto& [call_id, entry] : records_) {
        if (entry.written) link_.command({"EXPIRE", key(call_id), std::to_string(ttl_s_)});
    }
}

void Replicator::on_event(std::string_view message) {
    auto space = message.find(' ');
    if (space == std::string_view::npos || active_) return;
    std::string call_id(message.substr(space + 1));
    if (message.substr(0, space) == "del") {
        if (hooks_.gone) hooks_.gone(call_id);
    } else {
        fetch(call_id);
    }
}

void Replicator::fetch(const std::string& call_id, std::function<void()> then) {
    link_.command({"GET", key(call_id)}, [this, call_id, then](const redisReply* r) {
        if (r != nullptr && r->type == REDIS_REPLY_STRING && !active_) {
            try {
                CallRecord record = parse_call_record(std::string_view(r->str, r->len));
                if (record.call_id != call_id)
                    throw RecordError("it names another call than its key");
                ++counters_.followed;
                if (hooks_.record) hooks_.record(std::move(record));
            } catch (const RecordError& e) {
                ++counters_.skipped;
                log(LogLevel::warning, "Redis record {} skipped: {}", key(call_id), e.what());
            }
        }
        if (then) then();
    });
}

void Replicator::resync() {
    if (active_ || !link_.ready()) return;
    scan_page(std::make_shared<Resync>(Resync{++resyncs_, {}}), "0");
}

void Replicator::scan_page(std::shared_ptr<Resync> sync, const std::string& cursor) {
    // SCAN page by page, then every record fetched; the set is told once all have answered.
    link_.command(
        {"SCAN", cursor, "MATCH", prefix_ + "*", "COUNT", "1000"},
        [this, sync](const redisReply* r) {
            if (sync->generation != resyncs_ || active_) return;  // a newer one runs, or moot
            if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return;
            for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
                std::string k(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
                sync->ids.insert(k.substr(prefix_.size()));
            }
            std::string next(r->element[0]->str, r->element[0]->len);
            if (next != "0") return scan_page(sync, next);
            auto left = std::make_shared<std::size_t>(sync->ids.size());
            auto done = [this, sync, left] {
                if (--*left == 0 && sync->generation == resyncs_ && !active_ && hooks_.synced)
                    hooks_.synced(sync->ids);
            };
            if (sync->ids.empty()) {
                if (hooks_.synced) hooks_.synced(sync->ids);
                return;
            }
            for (const auto& call_id : sync->ids) fetch(call_id, done);
        });
}

ReplicationCounters Replicator::counters() const {
    ReplicationCounters c = counters_;
    c.records = records_.size();
    c.redis = link_.counters();
    c.connected = link_.ready();
    c.active = active_;
    return c;
}

std::vector<CallRecord> Replicator::load(int timeout_ms) {
    std::vector<CallRecord> found;
    const RedisTarget& t = link_.target();
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    std::unique_ptr<redisContext, void (*)(redisContext*)> c(
        redisConnectWithTimeout(t.host.c_str(), t.port, tv), redisFree);
    auto failed = [&](const std::string& why) {
        log(LogLevel::warning, "Redis {}: no calls restored ({})", t.to_string(), why);
        return std::vector<CallRecord>{};
    };
    if (!c || c->err) return failed(c ? c->errstr : "out of memory");
    redisSetTimeout(c.get(), tv);
    using Reply = std::unique_ptr<redisReply, void (*)(void*)>;
    auto run = [&](const std::vector<std::string>& argv) {
        std::vector<const char*> args;
        std::vector<size_t> lengths;
        for (const auto& a : argv) {
            args.push_back(a.data());
            lengths.push_back(a.size());
        }
        return Reply(static_cast<redisReply*>(redisCommandArgv(
                         c.get(), static_cast<int>(args.size()), args.data(), lengths.data())),
                     freeReplyObject);
    };
    auto error = [&](const Reply& r) -> std::string {
        if (!r) return c->errstr;
        if (r->type == REDIS_REPLY_ERROR) return r->str;
        return {};
    };
    if (!t.password.empty()) {
        if (auto why = error(run({"AUTH", t.password})); !why.empty()) return failed(why);
    }
    if (t.db != 0) {
        if (auto why = error(run({"SELECT", std::to_string(t.db)})); !why.empty())
            return failed(why);
    }
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
        Reply r = run({"SCAN", cursor, "MATCH", prefix_ + "*", "COUNT", "1000"});
        if (auto why = error(r); !why.empty()) return failed(why);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return failed("SCAN answered oddly");
        cursor.assign(r->element[0]->str, r->element[0]->len);
        for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
            keys.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
        }
    } while (cursor != "0");
    // All the GETs in one pipeline: one round trip, not one per call.
    for (const auto& key_name : keys) {
        const char* argv[] = {"GET", key_name.data()};
        const size_t lengths[] = {3, key_name.size()};
        if (redisAppendCommandArgv(c.get(), 2, argv, lengths) != REDIS_OK) return failed(c->errstr);
    }
    for (const auto& key_name : keys) {
        void* raw = nullptr;
        if (redisGetReply(c.get(), &raw) != REDIS_OK) return failed(c->errstr);
        Reply r(static_cast<redisReply*>(raw), freeReplyObject);
        if (auto why = error(r); !why.empty()) return failed(why);
        if (r->type != REDIS_REPLY_STRING) continue;  // expired meanwhile
        try {
            CallRecord record = parse_call_record(std::string_view(r->str, r->len));
            if (record.instance != instance_ || key(record.call_id) != key_name) {
                throw RecordError("it names another call or instance than its key");
            }
            found.push_back(std::move(record));
        } catch (const RecordError& e) {
            ++counters_.skipped;
            log(LogLevel::warning, "Redis record {} skipped: {}", key_name, e.what());
        }
    }
    log(LogLevel::info, "Redis {}: {} calls of instance {} to restore", t.to_string(), found.size(),
        instance_);
    return found;
}

}  // namespace latch
