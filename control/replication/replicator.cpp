// Replicator. Control thread only.
#include "replicator.hpp"

#include <hiredis/hiredis.h>

#include <memory>

#include "guard.hpp"
#include "log.hpp"

namespace latch {

Replicator::Replicator(uv_loop_t* loop, RedisTarget target, std::string instance, uint64_t ttl_s)
    : loop_(loop),
      instance_(std::move(instance)),
      prefix_("latch:" + instance_ + ":call:"),
      ttl_s_(ttl_s),
      link_(loop, std::move(target), [this] { rewrite_all(); }) {}

void Replicator::start() {
    link_.start();
    // Expiry is pushed back at a third of the records' life: a live call's record never
    // expires, a dead instance's records go after the calls would have timed out.
    uint64_t every = std::max<uint64_t>(1, ttl_s_ / 3) * 1000;
    refresh_timer_ = make_uv_handle<uv_timer_t>();
    uv_timer_init(loop_, refresh_timer_.get());
    refresh_timer_->data = this;
    uv_timer_start(
        refresh_timer_.get(),
        [](uv_timer_t* t) noexcept {
            if (auto* self = static_cast<Replicator*>(t->data)) guarded("record refresh", [self] { self->refresh(); });
        },
        every, every);
}

void Replicator::stop() {
    refresh_timer_.reset();
    link_.close();  // a stop deletes nothing: the records are what the next start restores
}

void Replicator::write(const Call& call, const SessionSnapshot& snapshot) {
    std::string record = to_json(record_of(call, snapshot, instance_));
    deleted_.erase(call.call_id);
    send(call.call_id, record);
    records_[call.call_id] = std::move(record);
}

void Replicator::send(const std::string& call_id, const std::string& record) {
    bool sent = link_.command({"SET", key(call_id), record, "EX", std::to_string(ttl_s_)}, [this](const redisReply* r) {
        if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
            dirty_ = true;
        } else {
            ++counters_.writes;
        }
    });
    if (!sent) dirty_ = true;
}

void Replicator::call_ended(const Call& call, const SessionSnapshot&, CallEnd) {
    records_.erase(call.call_id);
    send_delete(call.call_id);
}

void Replicator::send_delete(const std::string& call_id) {
    deleted_.insert(call_id);
    link_.command({"DEL", key(call_id)}, [this, call_id](const redisReply* r) {
        if (r != nullptr && r->type != REDIS_REPLY_ERROR) {
            ++counters_.deletes;
            deleted_.erase(call_id);
        }
    });
}

void Replicator::rewrite_all() {
    dirty_ = false;
    for (const auto& [call_id, record] : records_) send(call_id, record);
    std::vector<std::string> gone(deleted_.begin(), deleted_.end());
    for (const auto& call_id : gone) send_delete(call_id);
    if (!records_.empty() || !gone.empty()) {
        ++counters_.rewrites;
        log(LogLevel::info, "Redis: wrote the records of {} calls again, deleted {}", records_.size(), gone.size());
    }
}

void Replicator::refresh() {
    if (!link_.ready()) return;
    if (dirty_) return rewrite_all();
    for (const auto& [call_id, record] : records_) link_.command({"EXPIRE", key(call_id), std::to_string(ttl_s_)});
}

ReplicationCounters Replicator::counters() const {
    ReplicationCounters c = counters_;
    c.records = records_.size();
    c.redis = link_.counters();
    c.connected = link_.ready();
    return c;
}

std::vector<CallRecord> Replicator::load(int timeout_ms) {
    std::vector<CallRecord> found;
    const RedisTarget& t = link_.target();
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    std::unique_ptr<redisContext, void (*)(redisContext*)> c(redisConnectWithTimeout(t.host.c_str(), t.port, tv),
                                                             redisFree);
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
        return Reply(static_cast<redisReply*>(redisCommandArgv(c.get(), static_cast<int>(args.size()), args.data(),
                                                              lengths.data())),
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
        if (auto why = error(run({"SELECT", std::to_string(t.db)})); !why.empty()) return failed(why);
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
    for (const auto& key_name : keys) {
        Reply r = run({"GET", key_name});
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
    log(LogLevel::info, "Redis {}: {} calls of instance {} to restore", t.to_string(), found.size(), instance_);
    return found;
}

}  // namespace latch
