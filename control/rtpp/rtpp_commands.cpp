// rtpproxy command execution and timeout notifications. Control thread only.
#include "rtpp_commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

#include "log.hpp"

namespace latch {
namespace {

// A timeout notification in flight: the libuv handle first, so that the handle wrapper can
// close it and free the whole struct, requests included, after their callbacks have run.
template <typename Handle>
struct Notification {
    Handle handle;
    uv_connect_t connect;
    uv_write_t write;
    char payload[512];
    std::size_t length;
};

template <typename Conn>
void finish(Conn* conn) noexcept {
    UvCloser{}(conn);
}

template <typename Conn>
void on_written(uv_write_t* req, int) noexcept {
    finish(static_cast<Conn*>(req->data));
}

template <typename Conn>
void on_connected(uv_connect_t* req, int status) noexcept {
    auto* conn = static_cast<Conn*>(req->data);
    if (status < 0) {
        guarded("timeout notification", [&] {
            log(LogLevel::warning, "timeout notification not delivered: {}", uv_strerror(status));
        });
        return finish(conn);
    }
    uv_buf_t buf = uv_buf_init(conn->payload, static_cast<unsigned>(conn->length));
    conn->write.data = conn;
    if (uv_write(&conn->write, reinterpret_cast<uv_stream_t*>(&conn->handle), &buf, 1,
                 &on_written<Conn>) != 0) {
        finish(conn);
    }
}

template <typename Conn>
Conn* prepare(const std::string& tag) {
    auto conn = make_uv_handle<Conn>();
    std::size_t n = std::min(tag.size(), sizeof conn->payload - 1);
    std::memcpy(conn->payload, tag.data(), n);
    conn->payload[n] = '\n';
    conn->length = n + 1;
    conn->connect.data = conn.get();
    return conn.release();  // owned by its callbacks from here on
}

std::string result_of(const std::string& reply) {
    return !reply.empty() && reply[0] == 'E' ? "error" : "ok";
}

int relay_error_code(WorkerError error) {
    switch (error) {
        case WorkerError::cannot_bind:
        case WorkerError::no_local_address:
            return kRtppCannotListen;
        case WorkerError::shutting_down:
            return kRtppDraining;
        case WorkerError::internal:
            return kRtppInternal;
        default:
            return kRtppCannotCreateSession;
    }
}

}  // namespace

std::string rtpp_error(int code) {
    return "E" + std::to_string(code);
}

RtppCommands::RtppCommands(uv_loop_t* loop, CallControl& calls,
                           const std::vector<Interface>& interfaces, uint32_t idle_timeout_ms)
    : loop_(loop), calls_(calls), interfaces_(interfaces), idle_timeout_ms_(idle_timeout_ms) {}

void RtppCommands::call_ended(const Call& call, const SessionSnapshot&, CallEnd why) {
    if (why == CallEnd::timed_out) notify(call);
}

void RtppCommands::execute(std::string_view line, const Respond& respond) {
    std::string name;
    for (char ch : line.substr(0, line.find_first_of(" \t"))) {
        if (name.empty() || (name == "V" && (ch == 'F' || ch == 'f'))) {
            name += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        }
    }
    Respond counted = [this, name, respond](const std::string& reply) {
        ++results_[name.empty() ? "?" : name][result_of(reply)];
        respond(reply);
    };
    RtppCommand c;
    try {
        c = parse_rtpp(line);
    } catch (const RtppError& e) {
        log(LogLevel::debug, "rtpproxy command refused (E{}): {}", e.code, e.why);
        return counted(rtpp_error(e.code));
    }
    switch (c.op) {
        case RtppOp::version:
            return counted(kRtppVersion);
        case RtppOp::feature:
            return counted(rtpp_feature_supported(c.feature) ? "1" : "0");
        case RtppOp::update:
        case RtppOp::lookup:
            return update_or_lookup(c, counted);
        case RtppOp::remove:
            return remove(c, counted);
        case RtppOp::query:
            return query(c, counted);
        case RtppOp::info:
            return info(c, counted);
        case RtppOp::get_stats:
            return get_stats(c, counted);
        case RtppOp::delete_all:
            return delete_all(counted);
        case RtppOp::record:
        case RtppOp::copy:
            return record(c, counted);
    }
}

void RtppCommands::update_or_lookup(const RtppCommand& c, const Respond& respond) {
    bool is_update = c.op == RtppOp::update;
    Signal s;
    s.call_id = c.call_id;
    s.from_tag = c.from.tag;
    s.to_tag = c.to.tag;
    s.asymmetric = c.asymmetric;
    s.offer_family = s.answer_family = c.ipv6 ? AF_INET6 : AF_INET;
    s.from_interface = c.from_interface;
    s.to_interface = c.to_interface;
    if (!c.local_address.empty()) {
        auto it = std::find_if(interfaces_.begin(), interfaces_.end(), [&](const Interface& i) {
            return i.bind.address_string() == c.local_address;
        });
        if (it == interfaces_.end()) return respond(rtpp_error(kRtppUnknownInterface));
        s.from_interface = s.to_interface = it->name;
    }
    auto address = Endpoint::parse(c.address, c.port);
    if (!address || (address->family() == AF_INET6) != c.ipv6)
        return respond(rtpp_error(kRtppBadAddress));
    MediaDescription media;
    media.index = c.from.media - 1;
    if (c.port != 0) media.rtp = *address;  // port 0: the stream is disabled
    s.media = {media};

    auto done =
        answering(respond, [this, c, is_update, index = media.index, respond](const CallResult& r) {
            switch (r.error) {
                case CallError::none:
                    break;
                case CallError::unknown_call:
                case CallError::unknown_tag:
                    return respond(is_update ? rtpp_error(kRtppSessionUnknown) : "0");
                case CallError::unknown_interface:
                    return respond(rtpp_error(kRtppUnknownInterface));
                case CallError::relay:
                    return respond(rtpp_error(relay_error_code(r.relay_error)));
                case CallError::load_limit:
                    return respond(rtpp_error(kRtppOverload));
                case CallError::standby:
                    return respond(rtpp_error(kRtppDraining));
            }
            if (index >= r.snapshot.media.size())
                return respond(rtpp_error(kRtppCannotCreateSession));
            const Interface& iface = *r.call->interfaces[r.recipient];
            uint16_t port = r.snapshot.media[index].flows[r.recipient][0].local.port();
            if (is_update && !c.notify_socket.empty()) {
                calls_.set_timeout_notification(c.call_id, c.notify_socket, c.notify_tag);
            }
            respond(fmt::format("{} {}{}", port, iface.sdp_address(),
                                iface.bind.family() == AF_INET6 ? " 6" : ""));
        });
    if (is_update) {
        calls_.offer(std::move(s), std::move(done));
    } else {
        calls_.answer(std::move(s), std::move(done));
    }
}

void RtppCommands::remove(const RtppCommand& c, const Respond& respond) {
    calls_.remove(
        c.call_id, 0, answering(respond, [respond](const CallResult& r) {
            respond(r.error == CallError::unknown_call ? rtpp_error(kRtppSessionUnknown) : "0");
        }));
}

void RtppCommands::query(const RtppCommand& c, const Respond& respond) {
    calls_.query(
        c.call_id, answering(respond, [this, c, respond](const CallResult& r) {
            if (r.error != CallError::none) return respond(rtpp_error(kRtppSessionUnknown));
            int caller = std::max(0, r.call->leg_of(c.from.tag));
            uint64_t from_caller = 0, from_callee = 0, relayed = 0, dropped = 0;
            for (const auto& m : r.snapshot.media) {
                for (int leg = 0; leg < kLegs; ++leg) {
                    for (const auto& f : m.flows[leg]) {
                        (leg == caller ? from_caller : from_callee) += f.counters.packets_in;
                        relayed += f.counters.packets_out;
                        dropped += f.counters.total_drops();
                    }
                }
            }
            uint64_t now = calls_.clocks().monotonic_ms;
            uint64_t last = std::max(r.snapshot.last_packet_ms, r.snapshot.last_signal_ms);
            uint64_t idle = now > last ? now - last : 0;
            uint64_t ttl = idle >= idle_timeout_ms_ ? 0 : (idle_timeout_ms_ - idle) / 1000;
            if (!c.verbose) {
                return respond(
                    fmt::format("{} {} {} {} {}", ttl, from_caller, from_callee, relayed, dropped));
            }
            std::string out =
                fmt::format("ttl={} npkts_ina={} npkts_ino={} nrelayed={} ndropped={}", ttl,
                            from_caller, from_callee, relayed, dropped);
            // The verbose form adds the first RTP stream's quality figures each way (the
            // caller's stream "ina", the callee's "ino"), as far as they are measured.
            for (const auto& m : r.snapshot.media) {
                if (m.transport != Transport::rtp) continue;
                for (int leg : {caller, 1 - caller}) {
                    const QualityFigures& q = m.flows[leg][0].quality;
                    if (q.ssrc == 0) continue;
                    const char* side = leg == caller ? "ina" : "ino";
                    out += fmt::format(" nexpected_{0}={1} nlost_{0}={2} jitter_{0}_us={3}", side,
                                       q.expected, q.lost, q.jitter_us);
                    if (q.mos.samples != 0) {
                        unsigned mos = q.mos.average_mos_x10();
                        out += fmt::format(" mos_{}={}.{}", side, mos / 10, mos % 10);
                    }
                }
                break;
            }
            respond(out);
        }));
}

void RtppCommands::info(const RtppCommand&, const Respond& respond) {
    calls_.collect_worker_stats(answering(respond, [respond](std::vector<WorkerStats>& stats) {
        const WorkerStats all = total(stats);
        respond(
            fmt::format("sessions created: {}\nactive sessions: {}\nactive streams: {}\n"
                        "packets received: {}\npackets transmitted: {}",
                        all.sessions_created, all.sessions, all.streams, all.totals.packets_in,
                        all.totals.packets_out));
    }));
}

void RtppCommands::get_stats(const RtppCommand& c, const Respond& respond) {
    calls_.collect_worker_stats(
        answering(respond, [this, c, respond](std::vector<WorkerStats>& stats) {
            const WorkerStats sum = total(stats);
            uint64_t commands = 0, errors = 0;
            for (const auto& [name, results] : results_) {
                for (const auto& [result, n] : results) {
                    commands += n;
                    if (result == "error") errors += n;
                }
            }
            const std::vector<std::pair<std::string, uint64_t>> all = {
                {"nsess_created", sum.sessions_created},
                {"nsess_timeout", sum.sessions_timed_out},
                {"nsess_active", sum.sessions},
                {"nstreams_active", sum.streams},
                {"npkt_rcvd", sum.totals.packets_in},
                {"npkt_relayed", sum.totals.packets_out},
                {"npkt_dropped", sum.totals.total_drops()},
                {"ncmds_rcvd", commands},
                {"ncmds_errs", errors},
                {"nnotify_sent", notifications_sent_},
            };
            std::vector<std::pair<std::string, uint64_t>> chosen;
            for (const auto& want : c.names) {
                auto it = std::find_if(all.begin(), all.end(),
                                       [&](const auto& kv) { return kv.first == want; });
                if (it == all.end()) return respond(rtpp_error(kRtppUnsupported));
                chosen.push_back(*it);
            }
            if (c.names.empty()) chosen = all;
            std::string out;
            for (const auto& [name, value] : chosen) {
                if (!out.empty()) out += ' ';
                out += c.verbose ? fmt::format("{}={}", name, value) : std::to_string(value);
            }
            respond(out);
        }));
}

void RtppCommands::record(const RtppCommand& c, const Respond& respond) {
    if (recordings_ == nullptr || !recordings_->enabled()) {
        log(LogLevel::debug, "rtpproxy R for {}: latchd records nothing (no --recording-dir)",
            c.call_id);
        return respond(rtpp_error(kRtppUnsupported));
    }
    if (calls_.find(c.call_id) == nullptr) return respond(rtpp_error(kRtppSessionUnknown));
    auto done = [respond](const RecordingReply& r) {
        respond(r.ok() ? "0" : rtpp_error(kRtppInternal));
    };
    if (c.op == RtppOp::copy && c.copy_target.rfind("udp:", 0) == 0) {
        auto to = Endpoint::parse(c.copy_target.substr(4));
        if (!to || to->port() == 0) return respond(rtpp_error(kRtppBadAddress));
        return recordings_->start_copy(c.call_id, *to, done);
    }
    // R, or C to a file: recorded into --recording-dir, whatever name C gave (a path from the
    // network never decides where latchd writes).
    recordings_->start(c.call_id, "", done);
}

void RtppCommands::delete_all(const Respond& respond) {
    auto ids = calls_.list(calls_.calls());
    if (ids.empty()) return respond("0");
    auto remaining = std::make_shared<std::size_t>(ids.size());
    for (const auto& id : ids) {
        calls_.remove(id, 0, [remaining, respond](const CallResult&) {
            if (--*remaining == 0) respond("0");
        });
    }
}

void RtppCommands::notify(const Call& call) {
    const std::string& where = call.notify_socket;
    if (where.empty()) return;
    ++notifications_sent_;
    if (where.rfind("unix:", 0) == 0) {
        auto* conn = prepare<Notification<uv_pipe_t>>(call.notify_tag);
        uv_pipe_init(loop_, &conn->handle, 0);
        uv_pipe_connect(&conn->connect, &conn->handle, where.substr(5).c_str(),
                        &on_connected<Notification<uv_pipe_t>>);
        return;
    }
    std::string address = where.rfind("tcp:", 0) == 0 ? where.substr(4) : where;
    auto ep = Endpoint::parse(address);
    if (!ep) {
        log(LogLevel::warning,
            "call {}: timeout notification socket '{}' is not unix:PATH or tcp:ADDR:PORT",
            call.call_id, where);
        return;
    }
    auto* conn = prepare<Notification<uv_tcp_t>>(call.notify_tag);
    uv_tcp_init(loop_, &conn->handle);
    if (uv_tcp_connect(&conn->connect, &conn->handle, ep->sockaddr_ptr(),
                       &on_connected<Notification<uv_tcp_t>>) != 0) {
        finish(conn);
    }
}

}  // namespace latch
