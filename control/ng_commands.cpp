// ng command execution. Control thread only.
#include "ng_commands.hpp"

#include <chrono>

#include "log.hpp"
#include "ng_format.hpp"

namespace latch {
namespace {

int64_t wall_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

nlohmann::json ok() { return {{"result", "ok"}}; }

int family_of(const std::string& sdp_family) { return sdp_family == "IP6" ? AF_INET6 : AF_INET; }

// The request's SDP, parsed; a missing or unparseable body is the request's error.
Sdp request_sdp(const NgParams& p) {
    if (!p.sdp) throw NgParamError("missing key 'sdp'");
    try {
        return parse_sdp(*p.sdp);
    } catch (const SdpError& e) {
        throw NgParamError(std::string("Failed to parse SDP: ") + e.what());
    }
}

}  // namespace

NgCommands::NgCommands(uv_loop_t* loop, Relay& relay, const DaemonConfig& config)
    : loop_(loop), relay_(relay), config_(config) {}

NgCommands::~NgCommands() = default;

Clocks NgCommands::clocks() const { return Clocks{uv_now(loop_), wall_now_us()}; }

void NgCommands::count(const std::string& command, const nlohmann::json& reply) {
    ++results_[command][reply.value("result", "?")];
}

void NgCommands::dispatch(NgRequest& request, const NgServer::Respond& respond) {
    NgParams params;
    try {
        params = read_ng_params(request.dict);
    } catch (const NgParamError& e) {
        return respond(ng_error(e.what()));
    }
    if (request.dict.find("command") == request.dict.end()) return respond(ng_error("missing key 'command'"));
    std::string command = params.command;
    run(std::move(params), [this, command, respond](const nlohmann::json& reply) {
        count(command, reply);
        respond(reply);
    });
}

void NgCommands::run(NgParams p, const Respond& respond) {
    try {
        const std::string& c = p.command;
        if (c == "ping") return respond({{"result", "pong"}});
        if (c == "offer") return offer(p, respond);
        if (c == "answer") return answer(p, respond);
        if (c == "delete") return remove(p, respond);
        if (c == "query") return query(p, respond);
        if (c == "list") return list(p, respond);
        if (c == "statistics") return statistics(respond);
        respond(ng_error("Unrecognized command"));
    } catch (const NgParamError& e) {
        respond(ng_error(e.what()));
    }
}

bool NgCommands::wait_if_busy(Call& call, NgParams& p, const Respond& respond) {
    if (!call.busy) {
        call.busy = true;
        return false;
    }
    call.waiting.push_back([this, p, respond]() { run(p, respond); });
    return true;
}

void NgCommands::release(const std::string& call_id) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    Call& call = *it->second;
    call.busy = false;
    if (call.waiting.empty()) return;
    auto next = std::move(call.waiting.front());
    call.waiting.pop_front();
    next();
}

void NgCommands::erase(const std::string& call_id) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    auto waiting = std::move(it->second->waiting);
    call_of_session_.erase(it->second->session);
    calls_.erase(it);
    for (auto& next : waiting) next();
}

void NgCommands::send(const Call& call, Op op, Then then) {
    uint64_t request = next_request_++;
    WorkerCommand command{request, op, call.session, op == Op::create || op == Op::update ? call.spec : SessionSpec{}};
    pending_.emplace(request, std::move(then));
    if (!relay_.post(call.worker, std::move(command))) {
        WorkerReply refused;
        refused.request = request;
        refused.op = op;
        refused.status = ReplyStatus::error;
        refused.error = "relay is shutting down";
        on_worker_reply(refused);
    }
}

void NgCommands::on_worker_reply(WorkerReply& reply) {
    if (reply.request == 0) {
        if (reply.status != ReplyStatus::timed_out) return;
        auto it = call_of_session_.find(reply.session);
        if (it == call_of_session_.end()) return;
        if (auto call = calls_.find(it->second); call != calls_.end()) {
            log(LogLevel::info, "call {} ended after {} s without media: {}", it->second,
                relay_.config().idle_timeout_ms / 1000, call_summary(*call->second, reply.snapshot));
        }
        erase(std::string(it->second));
        return;
    }
    auto it = pending_.find(reply.request);
    if (it == pending_.end()) return;
    Then then = std::move(it->second);
    pending_.erase(it);
    then(reply);
}

const Interface* NgCommands::pick_interface(const std::string& name, int family) const {
    const Interface* i = find_interface(config_.interfaces, name, family);
    if (!i) throw NgParamError("Unknown interface '" + name + "'");
    return i;
}

void NgCommands::describe_leg(Call& call, int leg, const Sdp& sdp, const NgParams& p) {
    for (std::size_t i = 0; i < sdp.media.size(); ++i) {
        const SdpMedia& m = sdp.media[i];
        if (i >= call.spec.media.size()) {
            MediaSpec ms;
            ms.transport = m.is_rtp() ? Transport::rtp : Transport::non_rtp;
            for (int l = 0; l < kLegs; ++l) ms.legs[l].local = call.interfaces[l]->bind;
            call.spec.media.push_back(ms);
            call.media.push_back(CallMedia{m.type, m.proto, {}, {}});
        }
        MediaSpec& ms = call.spec.media[i];
        CallMedia& info = call.media[i];
        LegSpec& ls = ms.legs[leg];

        std::string address = m.port != 0 ? sdp.media_address(i)->address : std::string();
        if (p.flag("sip-source-address") && p.received_from && !p.flag("trust-address")) {
            address = *p.received_from;
        }
        ls.expected_rtp = Endpoint{};
        ls.expected_rtcp = Endpoint{};
        if (m.port != 0) {
            auto ep = Endpoint::parse(address, static_cast<uint16_t>(m.port));
            if (!ep) throw NgParamError("Failed to parse SDP: '" + address + "' is not an IP address");
            ls.expected_rtp = *ep;
            if (m.rtcp_port) {
                const std::string& rtcp_addr = m.rtcp_address ? m.rtcp_address->address : address;
                auto rtcp = Endpoint::parse(rtcp_addr, static_cast<uint16_t>(*m.rtcp_port));
                if (rtcp) ls.expected_rtcp = *rtcp;
            }
        }
        ls.mode = p.flag("asymmetric") ? LatchMode::asymmetric : LatchMode::symmetric;
        if (p.tos) ms.tos = static_cast<uint8_t>(*p.tos);
        info.signalled[leg] = true;
        info.rtcp_mux[leg] = m.rtcp_mux && !p.rtcp_mux.count("demux");
        int other = 1 - leg;
        ms.rtcp_mux = info.rtcp_mux[leg] && (!info.signalled[other] || info.rtcp_mux[other]);
    }
}

std::string NgCommands::rewritten_sdp(const Call& call, int leg, const Sdp& sdp, const NgParams& p,
                                      const SessionSnapshot& snap) const {
    const Interface& iface = *call.interfaces[leg];
    SdpRewrite rw;
    rw.relay = {iface.sdp_family(), p.media_address.empty() ? iface.sdp_address() : p.media_address};
    rw.replace_origin = p.replace.count("origin") != 0;
    rw.remove_ice = p.ice == "remove";
    for (std::size_t i = 0; i < sdp.media.size() && i < snap.media.size(); ++i) {
        const auto& flows = snap.media[i].flows[leg];
        rw.media.push_back({flows[0].local.port(), flows[1].local.is_set() ? flows[1].local.port() : 0u});
    }
    return rewrite_sdp(sdp, rw);
}

void NgCommands::offer(NgParams& p, const Respond& respond) {
    require(p.call_id, "call-id");
    require(p.from_tag, "from-tag");
    Sdp sdp = request_sdp(p);

    auto found = calls_.find(p.call_id);
    bool fresh = found == calls_.end();
    Call* call = fresh ? nullptr : found->second.get();
    int leg = 0;
    if (fresh) {
        // The offerer's leg speaks its SDP's family; "address family" asks for the SDP that
        // goes to the answerer, so it picks the answerer's leg.
        int offer_family = sdp.connection ? family_of(sdp.connection->family) : AF_UNSPEC;
        int answer_family = p.address_family.empty() ? offer_family : family_of(p.address_family);
        auto created = std::make_unique<Call>();
        created->interfaces = {pick_interface(p.from_interface, offer_family),
                               pick_interface(p.to_interface, answer_family)};
        created->call_id = p.call_id;
        created->session = next_session_++;
        created->worker = next_worker_++ % relay_.worker_count();
        created->tags[0] = p.from_tag;
        created->created_us = wall_now_us();
        created->busy = true;
        call = created.get();
        call_of_session_[call->session] = p.call_id;
        calls_.emplace(p.call_id, std::move(created));
    } else {
        if (wait_if_busy(*call, p, respond)) return;
        leg = call->leg_of(p.from_tag);
        if (leg < 0) {
            release(p.call_id);
            throw NgParamError("from-tag '" + p.from_tag + "' is not a party of call '" + p.call_id + "'");
        }
        call->delete_timer.reset();  // a re-offer revives a call whose delete was delayed
    }

    try {
        describe_leg(*call, leg, sdp, p);
    } catch (...) {
        fresh ? erase(p.call_id) : release(p.call_id);
        throw;
    }
    call->last_signal_us = wall_now_us();
    Op op = call->on_worker ? Op::update : Op::create;
    send(*call, op, [this, p, sdp, leg, respond](WorkerReply& r) {
        auto it = calls_.find(p.call_id);
        if (r.status != ReplyStatus::ok || it == calls_.end()) {
            respond(ng_error(r.status == ReplyStatus::ok ? "call ended meanwhile" : r.error));
            if (it != calls_.end() && !it->second->on_worker) {
                erase(p.call_id);
            } else {
                release(p.call_id);
            }
            return;
        }
        Call& c = *it->second;
        c.on_worker = true;
        nlohmann::json reply = ok();
        reply["sdp"] = rewritten_sdp(c, 1 - leg, sdp, p, r.snapshot);
        respond(reply);
        release(p.call_id);
    });
}

void NgCommands::answer(NgParams& p, const Respond& respond) {
    require(p.call_id, "call-id");
    require(p.from_tag, "from-tag");
    require(p.to_tag, "to-tag");
    Sdp sdp = request_sdp(p);
    auto found = calls_.find(p.call_id);
    if (found == calls_.end()) throw NgParamError("Unknown call-id");
    Call& call = *found->second;
    if (wait_if_busy(call, p, respond)) return;
    int offerer = call.leg_of(p.from_tag);
    if (offerer < 0) {
        release(p.call_id);
        throw NgParamError("Unknown from-tag '" + p.from_tag + "'");
    }
    int answerer = 1 - offerer;
    call.tags[answerer] = p.to_tag;  // a later answer from another fork takes over the leg
    try {
        describe_leg(call, answerer, sdp, p);
    } catch (...) {
        release(p.call_id);
        throw;
    }
    call.last_signal_us = wall_now_us();
    send(call, Op::update, [this, p, sdp, offerer, respond](WorkerReply& r) {
        auto it = calls_.find(p.call_id);
        if (r.status != ReplyStatus::ok || it == calls_.end()) {
            respond(ng_error(r.status == ReplyStatus::ok ? "call ended meanwhile" : r.error));
            release(p.call_id);
            return;
        }
        nlohmann::json reply = ok();
        reply["sdp"] = rewritten_sdp(*it->second, offerer, sdp, p, r.snapshot);
        respond(reply);
        release(p.call_id);
    });
}

void NgCommands::remove(NgParams& p, const Respond& respond) {
    require(p.call_id, "call-id");
    auto found = calls_.find(p.call_id);
    if (found == calls_.end()) {
        if (p.flag("fatal")) throw NgParamError("Unknown call-id");
        return respond({{"result", "ok"}, {"warning", "Unknown call-id"}});
    }
    Call& call = *found->second;
    if (wait_if_busy(call, p, respond)) return;
    int64_t delay = p.delete_delay.value_or(0);
    Op op = delay > 0 ? Op::query : Op::remove;
    send(call, op, [this, p, delay, respond](WorkerReply& r) {
        auto it = calls_.find(p.call_id);
        if (it == calls_.end()) return respond({{"result", "ok"}, {"warning", "Unknown call-id"}});
        Call& c = *it->second;
        if (r.status != ReplyStatus::ok) {
            respond(ng_error(r.error));
            erase(p.call_id);
            return;
        }
        nlohmann::json reply = format_call(c, r.snapshot, clocks());
        reply["result"] = "ok";
        respond(reply);
        if (delay == 0) {
            log(LogLevel::info, "call {} deleted: {}", p.call_id, call_summary(c, r.snapshot));
            return erase(p.call_id);
        }
        // Keep the call for the delay (late media, a retransmitted BYE), then delete it
        // through the ordinary path, which queues behind any command then under way.
        c.on_delete_timer = [this, call_id = p.call_id]() {
            if (auto again = calls_.find(call_id); again != calls_.end()) again->second->delete_timer.reset();
            NgParams later;
            later.command = "delete";
            later.call_id = call_id;
            run(std::move(later), [call_id](const nlohmann::json&) {
                log(LogLevel::debug, "call {} deleted after its delete-delay", call_id);
            });
        };
        c.delete_timer = make_uv_handle<uv_timer_t>();
        uv_timer_init(loop_, c.delete_timer.get());
        c.delete_timer->data = &c.on_delete_timer;
        uv_timer_start(
            c.delete_timer.get(),
            [](uv_timer_t* t) noexcept {
                if (auto* fire = static_cast<std::function<void()>*>(t->data)) {
                    auto run_it = *fire;  // the call (and *fire) may be gone when it returns
                    run_it();
                }
            },
            static_cast<uint64_t>(delay) * 1000, 0);
        release(p.call_id);
    });
}

void NgCommands::query(NgParams& p, const Respond& respond) {
    require(p.call_id, "call-id");
    auto found = calls_.find(p.call_id);
    if (found == calls_.end()) throw NgParamError("Unknown call-id");
    if (wait_if_busy(*found->second, p, respond)) return;
    send(*found->second, Op::query, [this, p, respond](WorkerReply& r) {
        auto it = calls_.find(p.call_id);
        if (r.status != ReplyStatus::ok || it == calls_.end()) {
            respond(ng_error(it == calls_.end() ? "Unknown call-id" : r.error));
            release(p.call_id);
            return;
        }
        nlohmann::json reply = format_call(*it->second, r.snapshot, clocks());
        reply["result"] = "ok";
        respond(reply);
        release(p.call_id);
    });
}

void NgCommands::list(const NgParams& p, const Respond& respond) {
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& [id, call] : calls_) {
        if (static_cast<int64_t>(ids.size()) >= p.limit) break;
        ids.push_back(id);
    }
    respond({{"result", "ok"}, {"calls", ids}});
}

void NgCommands::collect_worker_stats(std::function<void(std::vector<WorkerStats>&)> done) {
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
            if (--gather->remaining == 0) gather->done(gather->stats);
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

void NgCommands::statistics(const Respond& respond) {
    collect_worker_stats([this, respond](std::vector<WorkerStats>& stats) {
        nlohmann::json control = nlohmann::json::object();
        for (const auto& [command, results] : results_) {
            for (const auto& [result, n] : results) control["commands"][command][result] = n;
        }
        if (server_) {
            const NgServerCounters& c = server_->counters();
            control["requests"] = c.requests;
            control["bad requests"] = c.bad_requests;
            control["dropped without cookie"] = c.dropped;
            control["retransmissions"] = c.retransmissions;
            control["duplicates in flight"] = c.duplicates_in_flight;
        }
        respond({{"result", "ok"}, {"statistics", format_statistics(stats, calls_.size(), control)}});
    });
}

}  // namespace latch
