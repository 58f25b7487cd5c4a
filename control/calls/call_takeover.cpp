// CallControl, the calls kept elsewhere: restored from their records (a restart), copied on a
// standby as the active instance's records change, and taken over with the floating address.
// Control thread only.
#include "call_control.hpp"

namespace latch {

bool CallControl::adopt(Call& call, const CallRecord& record) {
    for (int leg = 0; leg < kLegs; ++leg) {
        call.interfaces[leg] = find_interface(interfaces_, record.interfaces[leg]);
        if (call.interfaces[leg] == nullptr || call.interfaces[leg]->name != record.interfaces[leg])
            return false;
    }
    call.tags = record.tags;
    call.labels = record.labels;
    call.spec = record.spec;
    for (MediaSpec& m : call.spec.media) {
        for (int leg = 0; leg < kLegs; ++leg) m.legs[leg].local = call.interfaces[leg]->bind;
    }
    call.media = record.media;
    call.created_us = record.created_us;
    call.last_signal_us = record.last_signal_us;
    call.notify_socket = record.notify_socket;
    call.notify_tag = record.notify_tag;
    call.recording = record.recording;
    return true;
}

void CallControl::mirror(const CallRecord& record, CallDone done) {
    auto found = calls_.find(record.call_id);
    if (found == calls_.end()) return restore(record, std::move(done));
    Call& call = *found->second;
    if (!call.spec.standby)
        return deliver(done,
                       CallResult::failed(CallError::relay, "call is served here, not a copy"));
    if (wait_if_busy(call, [this, record, done]() { mirror(record, done); })) return;
    if (!adopt(call, record)) {
        release(record.call_id);
        return deliver(done, CallResult::failed(CallError::unknown_interface,
                                                "Unknown interface in the record"));
    }
    send(call, call.on_worker ? Op::update : Op::create,
         [this, call_id = record.call_id, done](WorkerReply& r) {
             auto it = calls_.find(call_id);
             if (it == calls_.end())
                 return deliver(done, CallResult::failed(CallError::relay, "call ended meanwhile"));
             if (r.status != ReplyStatus::ok) {
                 deliver(done, CallResult::relay_failed(r.failure));
                 return release(call_id);
             }
             Call& copy = *it->second;
             bool created = !copy.on_worker;
             copy.on_worker = true;
             // The copy's sources are the record's: observers (a standby's own replication, kept
             // for the day it takes over) hear of them as learned.
             if (created)
                 notify("call created", [&](CallObserver& o) { o.call_created(copy, r.snapshot); });
             notify("call learned", [&](CallObserver& o) { o.call_learned(copy, r.snapshot); });
             CallResult result;
             result.call = &copy;
             result.snapshot = std::move(r.snapshot);
             deliver(done, result);
             release(call_id);
         });
}

void CallControl::set_standby(bool standby) {
    standby_ = standby;
    for (auto& [id, call] : calls_) {
        call->spec.standby = standby;
        if (!standby) {  // served from now on: later signalling learns as any does
            for (MediaSpec& m : call->spec.media) {
                m.ports = {};
                for (auto& leg : m.legs) leg.learned = {};
            }
        }
        if (call->on_worker) send(*call, Op::standby, [](WorkerReply&) {});
    }
}

void CallControl::restore(const CallRecord& record, CallDone done) {
    if (calls_.count(record.call_id) != 0) {
        return deliver(done, CallResult::failed(CallError::relay,
                                                "call '" + record.call_id + "' is here already"));
    }
    auto call = std::make_unique<Call>();
    call->call_id = record.call_id;
    if (!adopt(*call, record)) {
        return deliver(done, CallResult::failed(CallError::unknown_interface,
                                                "Unknown interface in the record"));
    }
    // The worker whose slice holds the call's ports.
    call->worker = relay_.worker_for_port(record.spec.media.at(0).ports[0]);
    if (call->worker >= relay_.worker_count()) {
        CallResult r =
            CallResult::failed(CallError::relay, "the call's ports are outside this relay's range");
        r.relay_error = WorkerError::port_unavailable;
        return deliver(done, r);
    }
    call->session = next_session_++;
    call->busy = true;
    Call& c = *call;
    call_of_session_[c.session] = c.call_id;
    calls_.emplace(c.call_id, std::move(call));
    send(c, Op::create, [this, call_id = record.call_id, done](WorkerReply& r) {
        auto it = calls_.find(call_id);
        if (it == calls_.end())
            return deliver(done, CallResult::failed(CallError::relay, "call ended meanwhile"));
        if (r.status != ReplyStatus::ok) {
            deliver(done, CallResult::relay_failed(r.failure));
            return erase(call_id);
        }
        Call& restored = *it->second;
        restored.on_worker = true;
        // Ports and sources were for this one creation: later signalling opens learning as
        // any offer or answer does, and new media take free ports. (A standby's copy keeps
        // them: each update from the record restores them again.)
        if (!restored.spec.standby) {
            for (MediaSpec& m : restored.spec.media) {
                m.ports = {};
                for (auto& leg : m.legs) leg.learned = {};
            }
        }
        notify("call created", [&](CallObserver& o) { o.call_created(restored, r.snapshot); });
        CallResult result;
        result.call = &restored;
        result.snapshot = std::move(r.snapshot);
        deliver(done, result);
        release(call_id);
    });
}

}  // namespace latch
