// CallControl: call directory, per-call command queue, worker round trips. Control thread only.
#include "call_control.hpp"

#include <chrono>

#include "guard.hpp"
#include "log.hpp"

namespace latch {
namespace {

int64_t wall_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

CallControl::CallControl(uv_loop_t* loop, Relay& relay, const std::vector<Interface>& interfaces,
                         LearningMode default_learning)
    : loop_(loop), relay_(relay), interfaces_(interfaces), default_learning_(default_learning) {}

CallControl::~CallControl() = default;

CallResult CallResult::failed(CallError error, std::string message) {
    CallResult r;
    r.error = error;
    r.message = std::move(message);
    return r;
}

CallResult CallResult::relay_failed(const WorkerFailure& why) {
    CallResult r = failed(CallError::relay, why.text());
    r.relay_error = why.code;
    return r;
}

void CallControl::notify(const char* what, const std::function<void(CallObserver&)>& event) {
    for (CallObserver* observer : observers_) {
        try {
            event(*observer);
        } catch (const std::exception& e) {
            ++observer_failures_;
            guarded(what, [&] {
                log(LogLevel::error, "call observer failed on {}: {}", what, e.what());
            });
        }
    }
}

void CallControl::end(const std::string& call_id, const SessionSnapshot& final, CallEnd why) {
    if (const Call* call = find(call_id)) {
        notify("call ended", [&](CallObserver& o) { o.call_ended(*call, final, why); });
    }
    erase(call_id);
}

void CallControl::deliver(const CallDone& done, const CallResult& result) noexcept {
    // The caller's continuation may fail (a reply it cannot build); the call's own bookkeeping
    // after it (releasing the call for its next command) must still run.
    guarded("call result", [&] { done(result); });
}

Clocks CallControl::clocks() const {
    return Clocks{uv_now(loop_), wall_now_us()};
}

const Call* CallControl::find(const std::string& call_id) const {
    auto it = calls_.find(call_id);
    return it == calls_.end() ? nullptr : it->second.get();
}

void CallControl::set_timeout_notification(const std::string& call_id, std::string socket,
                                           std::string tag) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    it->second->notify_socket = std::move(socket);
    it->second->notify_tag = std::move(tag);
}

std::vector<std::string> CallControl::list(std::size_t limit) const {
    std::vector<std::string> ids;
    for (const auto& [id, call] : calls_) {
        if (ids.size() >= limit) break;
        ids.push_back(id);
    }
    return ids;
}

bool CallControl::wait_if_busy(Call& call, std::function<void()> retry) {
    if (!call.busy) {
        call.busy = true;
        return false;
    }
    call.waiting.push_back(std::move(retry));
    return true;
}

void CallControl::release(const std::string& call_id) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    Call& call = *it->second;
    call.busy = false;
    if (call.waiting.empty()) return;
    auto next = std::move(call.waiting.front());
    call.waiting.pop_front();
    next();
}

void CallControl::erase(const std::string& call_id) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    auto waiting = std::move(it->second->waiting);
    call_of_session_.erase(it->second->session);
    calls_.erase(it);
    for (auto& next : waiting) next();  // they run again and find the call gone
}

void CallControl::send(const Call& call, Op op, Then then) {
    uint64_t request = next_request_++;
    SessionSpec spec;
    if (op == Op::create || op == Op::update) {
        spec = call.spec;
        spec.learning_window_ms = learning_window_ms_;
    }
    if (op == Op::standby) spec.standby = call.spec.standby;
    if (op == Op::record) spec.recording = call.spec.recording;
    WorkerCommand command{request, op, call.session, std::move(spec)};
    pending_.emplace(request, std::move(then));
    if (!relay_.post(call.worker, std::move(command))) {
        WorkerReply refused;
        refused.request = request;
        refused.op = op;
        refused.status = ReplyStatus::error;
        refused.failure = {WorkerError::shutting_down, {}};
        on_worker_reply(refused);
    }
}

void CallControl::on_worker_reply(WorkerReply& reply) {
    if (reply.request == 0) {  // unsolicited: an idle timeout or a learning report
        auto it = call_of_session_.find(reply.session);
        if (it == call_of_session_.end()) return;
        std::string call_id = it->second;
        if (reply.status == ReplyStatus::timed_out)
            return end(call_id, reply.snapshot, CallEnd::timed_out);
        if (reply.op == Op::learned) {
            const Call* call = find(call_id);
            if (call)
                notify("call learned",
                       [&](CallObserver& o) { o.call_learned(*call, reply.snapshot); });
        }
        return;
    }
    auto it = pending_.find(reply.request);
    if (it == pending_.end()) return;
    Then then = std::move(it->second);
    pending_.erase(it);
    guarded("worker reply", [&] { then(reply); });
}

void CallControl::describe_leg(Call& call, int leg, const Signal& s) {
    if (!s.label.empty()) call.labels[leg] = s.label;
    for (const MediaDescription& m : s.media) {
        while (call.spec.media.size() <= m.index) {
            MediaSpec ms;
            ms.transport = m.transport;
            for (int l = 0; l < kLegs; ++l) ms.legs[l].local = call.interfaces[l]->bind;
            call.spec.media.push_back(ms);
            call.media.push_back(CallMedia{m.type, m.proto, {}, {}});
        }
        MediaSpec& ms = call.spec.media[m.index];
        CallMedia& info = call.media[m.index];
        LegSpec& ls = ms.legs[leg];
        ls.expected_rtp = m.rtp;
        ls.expected_rtcp = m.rtcp;
        ls.policy = LatchPolicy{s.learning.value_or(default_learning_), s.asymmetric,
                                s.strict_source, s.media_handover};
        ls.sip_source = s.sip_source;
        if (s.tos) ms.tos = *s.tos;
        info.signalled[leg] = true;
        info.rtcp_mux[leg] = m.rtcp_mux;
        info.clock_rates[leg] = m.clock_rates;
        info.codecs[leg] = m.codecs;
        int other = 1 - leg;
        for (int l = 0; l < kLegs; ++l) ms.legs[l].clock_rates = info.sent_by(l);
        ms.rtcp_mux = info.rtcp_mux[leg] && (!info.signalled[other] || info.rtcp_mux[other]);
    }
}

void CallControl::offer(Signal s, CallDone done) {
    signal(std::move(s), true, std::move(done));
}

void CallControl::answer(Signal s, CallDone done) {
    signal(std::move(s), false, std::move(done));
}

void CallControl::signal(Signal s, bool is_offer, CallDone done) {
    auto found = calls_.find(s.call_id);
    bool fresh = found == calls_.end();
    Call* call = nullptr;
    int leg = 0;
    if (fresh) {
        if (!is_offer)
            return deliver(done, CallResult::failed(CallError::unknown_call, "Unknown call-id"));
        if (standby_) {
            // Its calls would be copies nobody writes down: the active instance takes them.
            return deliver(
                done,
                CallResult::failed(CallError::standby,
                                   "this relay is a standby; the active instance takes new calls"));
        }
        if (max_calls_ != 0 && calls_.size() >= max_calls_) {
            return deliver(done, CallResult::failed(CallError::load_limit,
                                                    "load limit: " + std::to_string(calls_.size()) +
                                                        " calls active, the limit is " +
                                                        std::to_string(max_calls_)));
        }
        if (max_packet_rate_ != 0 && packet_rate_ > static_cast<double>(max_packet_rate_)) {
            return deliver(
                done,
                CallResult::failed(
                    CallError::load_limit,
                    "load limit: " + std::to_string(static_cast<uint64_t>(packet_rate_)) +
                        " packets/s relayed, the limit is " + std::to_string(max_packet_rate_)));
        }
        const Interface* from = find_interface(interfaces_, s.from_interface, s.offer_family);
        const Interface* to = find_interface(interfaces_, s.to_interface, s.answer_family);
        if (!from || !to) {
            return deliver(
                done, CallResult::failed(CallError::unknown_interface,
                                         "Unknown interface '" +
                                             (from ? s.to_interface : s.from_interface) + "'"));
        }
        auto created = std::make_unique<Call>();
        created->interfaces = {from, to};
        created->call_id = s.call_id;
        created->session = next_session_++;
        created->worker = next_worker_++ % relay_.worker_count();
        created->tags[0] = s.from_tag;
        created->created_us = wall_now_us();
        created->busy = true;
        call = created.get();
        call_of_session_[call->session] = s.call_id;
        calls_.emplace(s.call_id, std::move(created));
    } else {
        call = found->second.get();
        if (wait_if_busy(*call, [this, s, is_offer, done]() { signal(s, is_offer, done); })) return;
        int from_leg = call->leg_of(s.from_tag);
        if (from_leg < 0) {
            release(s.call_id);
            return deliver(done, CallResult::failed(
                                     CallError::unknown_tag,
                                     is_offer ? "from-tag '" + s.from_tag +
                                                    "' is not a party of call '" + s.call_id + "'"
                                              : "Unknown from-tag '" + s.from_tag + "'"));
        }
        if (is_offer) {
            leg = from_leg;
            call->delete_timer.stop();  // a re-offer revives a call whose delete was delayed
        } else {
            leg = 1 - from_leg;
            call->tags[leg] = s.to_tag;  // a later answer from another fork takes over the leg
        }
    }
    describe_leg(*call, leg, s);
    call->last_signal_us = wall_now_us();
    send(*call, call->on_worker ? Op::update : Op::create,
         [this, call_id = s.call_id, leg, done](WorkerReply& r) {
             auto it = calls_.find(call_id);
             if (r.status != ReplyStatus::ok || it == calls_.end()) {
                 deliver(done, r.status == ReplyStatus::ok
                                   ? CallResult::failed(CallError::relay, "call ended meanwhile")
                                   : CallResult::relay_failed(r.failure));
                 if (it == calls_.end()) return;
                 if (!it->second->on_worker) {
                     erase(call_id);  // never created: nobody heard of it
                 } else if (r.failure.code == WorkerError::unknown_session) {
                     end(call_id, r.snapshot, CallEnd::failed);  // the worker lost it
                 } else {
                     release(call_id);  // the re-offer failed; the call goes on as it was
                 }
                 return;
             }
             Call& signalled = *it->second;
             bool created = !signalled.on_worker;
             signalled.on_worker = true;
             if (created)
                 notify("call created",
                        [&](CallObserver& o) { o.call_created(signalled, r.snapshot); });
             notify("call signalled",
                    [&](CallObserver& o) { o.call_signalled(signalled, leg, r.snapshot); });
             CallResult result;
             result.call = &signalled;
             result.recipient = 1 - leg;  // the description goes to the other party
             result.snapshot = std::move(r.snapshot);
             deliver(done, result);
             release(call_id);
         });
}

void CallControl::remove(const std::string& call_id, int64_t delay, CallDone done) {
    auto found = calls_.find(call_id);
    if (found == calls_.end())
        return deliver(done, CallResult::failed(CallError::unknown_call, "Unknown call-id"));
    if (wait_if_busy(*found->second,
                     [this, call_id, delay, done]() { remove(call_id, delay, done); }))
        return;
    send(*found->second, delay > 0 ? Op::query : Op::remove,
         [this, call_id, delay, done](WorkerReply& r) {
             auto it = calls_.find(call_id);
             if (it == calls_.end())
                 return deliver(done,
                                CallResult::failed(CallError::unknown_call, "Unknown call-id"));
             Call& c = *it->second;
             if (r.status != ReplyStatus::ok) {
                 deliver(done, CallResult::relay_failed(r.failure));
                 return end(call_id, r.snapshot, CallEnd::failed);
             }
             CallResult result;
             result.call = &c;
             result.snapshot = std::move(r.snapshot);
             if (delay == 0) {
                 // Observers hear of the end before the reply goes out: whoever reads the reply
                 // finds the call's end already told (a replica's record already gone).
                 notify("call ended", [&](CallObserver& o) {
                     o.call_ended(c, result.snapshot, CallEnd::deleted);
                 });
                 deliver(done, result);
                 return erase(call_id);
             }
             deliver(done, result);
             // Keep the call for the delay (late media, a retransmitted BYE), then delete it
             // through the ordinary path, which queues behind any command then under way.
             c.delete_timer.start(loop_, static_cast<uint64_t>(delay) * 1000, 0,
                                  "delete-delay timer", [this, call_id]() {
                                      if (auto again = calls_.find(call_id); again != calls_.end())
                                          again->second->delete_timer.stop();
                                      remove(call_id, 0, [call_id](const CallResult&) {
                                          log(LogLevel::debug,
                                              "call {} deleted after its delete-delay", call_id);
                                      });
                                  });
             release(call_id);
         });
}

void CallControl::query(const std::string& call_id, CallDone done) {
    auto found = calls_.find(call_id);
    if (found == calls_.end())
        return deliver(done, CallResult::failed(CallError::unknown_call, "Unknown call-id"));
    if (wait_if_busy(*found->second, [this, call_id, done]() { query(call_id, done); })) return;
    send(*found->second, Op::query, snapshot_reply(call_id, std::move(done)));
}

CallControl::Then CallControl::snapshot_reply(const std::string& call_id, CallDone done) {
    return [this, call_id, done = std::move(done)](WorkerReply& r) {
        auto it = calls_.find(call_id);
        if (it == calls_.end())
            return deliver(done, CallResult::failed(CallError::unknown_call, "Unknown call-id"));
        if (r.status != ReplyStatus::ok) {
            deliver(done, CallResult::relay_failed(r.failure));
        } else {
            CallResult result;
            result.call = it->second.get();
            result.snapshot = std::move(r.snapshot);
            deliver(done, result);
        }
        release(call_id);
    };
}

void CallControl::set_recording(const std::string& call_id, uint64_t recording, CallRecording state,
                                CallDone done) {
    auto found = calls_.find(call_id);
    if (found == calls_.end())
        return deliver(done, CallResult::failed(CallError::unknown_call, "Unknown call-id"));
    if (wait_if_busy(*found->second, [this, call_id, recording, state, done]() {
            set_recording(call_id, recording, state, done);
        }))
        return;
    Call& call = *found->second;
    call.spec.recording = recording;
    call.recording = std::move(state);
    // Observers (the call's record in Redis) hear of it once the worker copies, or stopped.
    send(call, Op::record,
         snapshot_reply(call_id, [this, done = std::move(done)](const CallResult& r) {
             if (r.error == CallError::none && r.call != nullptr)
                 notify("call recording",
                        [&](CallObserver& o) { o.call_recording_changed(*r.call, r.snapshot); });
             deliver(done, r);
         }));
}

void CallControl::set_recording_metadata(const std::string& call_id, const std::string& metadata) {
    auto found = calls_.find(call_id);
    if (found != calls_.end() && found->second->recording.on)
        found->second->recording.metadata = metadata;
}

void CallControl::close() {
    for (auto& [id, call] : calls_) call->delete_timer.stop();
}

void CallControl::collect_worker_stats(std::function<void(std::vector<WorkerStats>&)> done) {
    struct Gather {
        std::vector<WorkerStats> stats;
        unsigned remaining;
        std::function<void(std::vector<WorkerStats>&)> done;
    };
    auto gather = std::make_shared<Gather>(Gather{{}, relay_.worker_count(), std::move(done)});
    for (unsigned w = 0; w < relay_.worker_count(); ++w) {
        uint64_t request = next_request_++;
        pending_.emplace(request, [gather](WorkerReply& r) {
            if (r.status == ReplyStatus::ok) gather->stats.push_back(r.stats);
            if (--gather->remaining == 0)
                guarded("worker statistics", [&] { gather->done(gather->stats); });
        });
        WorkerCommand command{request, Op::stats, 0, {}};
        if (!relay_.post(w, std::move(command))) {
            WorkerReply refused;
            refused.request = request;
            refused.status = ReplyStatus::error;
            on_worker_reply(refused);
        }
    }
}

}  // namespace latch
