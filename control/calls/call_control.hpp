// CallControl: the call directory and the life of each call, whichever control protocol
// drives it (ng, rtpproxy): offers, answers, deletes and queries become commands to the call's
// worker, one at a time per call, and come back as structured results; what happens to calls
// (created, signalled, learned, ended) goes to the observers. Control thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "call.hpp"
#include "call_events.hpp"
#include "call_record.hpp"
#include "interfaces.hpp"
#include "relay.hpp"

namespace latch {

// One stream of a party's session description (an m= line, or an rtpproxy U/L stream).
struct MediaDescription {
    std::size_t index = 0;  // the stream's position in the call, from 0
    Transport transport = Transport::rtp;
    std::string type = "audio";
    std::string proto = "RTP/AVP";
    Endpoint rtp;   // where the party receives RTP; unset or 0.0.0.0: nothing (hold, port 0)
    Endpoint rtcp;  // unset: the RTP port + 1
    bool rtcp_mux = false;
    ClockRates clock_rates;  // its payload types' clock rates (rtpmap, static types)
    std::string codecs;      // its formats as the SDP names them, for recordings' metadata
};

// An offer (from_tag is the offerer) or an answer (to_tag is the answerer).
struct Signal {
    std::string call_id, from_tag, to_tag;
    std::vector<MediaDescription> media;
    std::optional<LearningMode> learning;  // unset: the daemon's default
    bool asymmetric = false;
    bool strict_source = false;
    bool media_handover = false;
    std::optional<uint8_t> tos;
    std::string label;    // names the party whose SDP this is; empty: as it was
    Endpoint sip_source;  // where the signalling came from (ng received-from); unset: unknown
    // Used when an offer creates the call: the legs' interfaces, and the address family each
    // prefers (AF_UNSPEC: any).
    std::string from_interface, to_interface;
    int offer_family = AF_UNSPEC, answer_family = AF_UNSPEC;
};

enum class CallError {
    none,
    unknown_call,
    unknown_tag,
    unknown_interface,
    relay,
    load_limit,
    standby
};

struct CallResult {
    CallError error = CallError::none;
    WorkerError relay_error = WorkerError::none;  // error == relay: the worker's reason
    std::string message;                          // the error, or a warning
    const Call* call = nullptr;                   // valid during the callback only
    int recipient = 0;         // offer/answer: the leg whose relay ports go into the reply
    SessionSnapshot snapshot;  // offer, answer, query, delete

    static CallResult failed(CallError error, std::string message);
    static CallResult relay_failed(const WorkerFailure& why);  // CallError::relay, with the code
};
using CallDone = std::function<void(const CallResult&)>;

class CallControl {
  public:
    CallControl(uv_loop_t* loop, Relay& relay, const std::vector<Interface>& interfaces,
                LearningMode default_learning = LearningMode::heuristic);
    ~CallControl();

    void offer(Signal signal, CallDone done);
    void answer(Signal signal, CallDone done);
    // Ends the call now, or after `delay_seconds` (the result then carries its counters as
    // they are now). An unknown call is CallError::unknown_call.
    void remove(const std::string& call_id, int64_t delay_seconds, CallDone done);
    void query(const std::string& call_id, CallDone done);
    // Copies the call's relayed datagrams to `recording` from now on (0: no more), and keeps
    // `state` with the call (its record carries it); observers hear of it once the worker has
    // done so. The result carries the session's snapshot (its recording counters).
    void set_recording(const std::string& call_id, uint64_t recording, CallRecording state,
                       CallDone done);
    // A recorded call's metadata string changed (an offer or answer carried a new one): its
    // record takes it with the next write, which that signalling causes anyway.
    void set_recording_metadata(const std::string& call_id, const std::string& metadata);
    // Rebuilds a call kept elsewhere (its record, read back from Redis): its session on the
    // worker that owns its ports, on those very ports, with the sources it had learned. The
    // observers hear of it as created. A call of that call-id already here is left alone.
    void restore(const CallRecord& record, CallDone done);
    // A standby's copy of a call the active instance serves (record.spec.standby is set):
    // restored if new, brought up to date if known. Its sockets wait on the floating address.
    void mirror(const CallRecord& record, CallDone done);
    // Every call becomes a standby's copy (this instance lost the floating address), or every
    // copy becomes a call it serves (it took the address over): no new learning window either way.
    void set_standby(bool standby);
    std::vector<std::string> list(std::size_t limit) const;
    // Asks every worker for its counters; `done` runs with the replies.
    void collect_worker_stats(std::function<void(std::vector<WorkerStats>&)> done);
    // At shutdown: closes the handles the calls hold (delete-delay timers), so that the loop
    // can run out. The calls themselves stay until the control plane goes.
    void close();
    // Worker replies (command results, idle timeouts) arrive here.
    void on_worker_reply(WorkerReply& reply);

    std::size_t calls() const { return calls_.size(); }
    // New calls are refused (CallError::load_limit) while `max_calls` are active or more than
    // `max_packet_rate` packets/s are relayed; 0 disables a limit.
    void set_limits(uint64_t max_calls, uint64_t max_packet_rate) {
        max_calls_ = max_calls;
        max_packet_rate_ = max_packet_rate;
    }
    // For offers and answers from now on (a reload): the learning mode where a request names
    // none, and the learning window.
    void set_learning_defaults(LearningMode mode, uint32_t window_ms) {
        default_learning_ = mode;
        learning_window_ms_ = window_ms;
    }
    // The relayed packet rate, as last measured (once a second, from the workers' counters).
    void report_packet_rate(double packets_per_second) { packet_rate_ = packets_per_second; }
    double packet_rate() const { return packet_rate_; }
    // `observer` hears of every call from now on; it must outlive the calls.
    void add_observer(CallObserver& observer) { observers_.push_back(&observer); }
    // Observer callbacks that threw (each is logged).
    uint64_t observer_failures() const { return observer_failures_; }
    // Records where to tell of the call's idle timeout (rtpproxy's notify socket and tag).
    void set_timeout_notification(const std::string& call_id, std::string socket, std::string tag);
    const Call* find(const std::string& call_id) const;
    Clocks clocks() const;

  private:
    using Then = std::function<void(WorkerReply&)>;

    static void deliver(const CallDone& done, const CallResult& result) noexcept;
    void signal(Signal s, bool is_offer, CallDone done);
    void send(const Call& call, Op op, Then then);
    // For a command whose reply carries the session's snapshot (query, record): the call's
    // result with it, or the failure; the call is released after.
    Then snapshot_reply(const std::string& call_id, CallDone done);
    // Runs `retry` after the call's current command when one is under way; false otherwise
    // (and the call is then marked busy for the caller's command).
    bool wait_if_busy(Call& call, std::function<void()> retry);
    void release(const std::string& call_id);
    void erase(const std::string& call_id);
    void describe_leg(Call& call, int leg, const Signal& s);
    // The call's session spec as a record has it, on this instance's interfaces. False if an
    // interface of the record is not configured here.
    bool adopt(Call& call, const CallRecord& record);
    // Tells every observer; one that throws is logged and counted, the others still hear.
    void notify(const char* what, const std::function<void(CallObserver&)>& event);
    // Ends the call for good: observers hear why, then it is forgotten.
    void end(const std::string& call_id, const SessionSnapshot& final, CallEnd why);

    uv_loop_t* loop_;
    Relay& relay_;
    const std::vector<Interface>& interfaces_;
    std::unordered_map<std::string, std::unique_ptr<Call>> calls_;
    std::unordered_map<SessionId, std::string> call_of_session_;
    std::unordered_map<uint64_t, Then> pending_;
    uint64_t next_request_ = 1;
    SessionId next_session_ = 1;
    unsigned next_worker_ = 0;
    LearningMode default_learning_;
    std::optional<uint32_t> learning_window_ms_;  // unset: the relay's configured window
    bool standby_ = false;                        // a standby takes no new calls (set_standby)
    uint64_t max_calls_ = 0;
    uint64_t max_packet_rate_ = 0;
    double packet_rate_ = 0;
    std::vector<CallObserver*> observers_;
    uint64_t observer_failures_ = 0;
};

}  // namespace latch
