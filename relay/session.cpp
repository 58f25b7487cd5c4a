// Session set-up, re-signalling, teardown and snapshots. Worker thread only.
#include "session.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "kernel_path.hpp"
#include "udp_socket.hpp"

namespace latch {
namespace {

// How many pairs to try when ports of our slice are held by some other program.
constexpr int kMaxBindAttempts = 32;

// What the kernel path measured of a flow's stream since it took it over; null while it has not.
const latch_rtp_quality* kernel_share(const Flow& flow) {
    return flow.kernel_flow ? &flow.kernel.quality : nullptr;
}

int open_flow(Flow& flow, const Endpoint& local, SessionEnv& env) {
    int rc = flow.socket.open(*env.sockets, local, &flow, env.config->is_floating(local));
    if (rc == 0) flow.local = local;
    return rc;
}

// Marks the flow's outgoing packets (DSCP for the call's media). Best effort: a refused
// option leaves the packets unmarked but still relayed.
void set_tos(const PolledUdp& socket, int family, uint8_t tos) {
    if (!socket) return;
    int value = tos;
    if (family == AF_INET6) {
        setsockopt(socket.fd(), IPPROTO_IPV6, IPV6_TCLASS, &value, sizeof value);
    } else {
        setsockopt(socket.fd(), IPPROTO_IP, IP_TOS, &value, sizeof value);
    }
}

void set_tos(Flow& flow, uint8_t tos) {
    flow.tos = tos;
    set_tos(flow.socket, flow.local.family(), tos);
    set_tos(flow.connected, flow.local.family(), tos);
}

Endpoint expected_rtcp(const LegSpec& leg, bool rtcp_mux) {
    if (leg.expected_rtcp.is_set() || !leg.expected_rtp.is_set()) return leg.expected_rtcp;
    if (rtcp_mux || leg.expected_rtp.port() == 0) return leg.expected_rtp;
    return leg.expected_rtp.with_port(static_cast<uint16_t>(leg.expected_rtp.port() + 1));
}

}  // namespace

Session::~Session() = default;

WorkerFailure Session::open_media(const MediaSpec& spec, SessionEnv& env) {
    auto media = std::make_unique<Media>();
    media->transport = spec.transport;
    media->rtcp_mux = spec.rtcp_mux;
    // RTP media always get their RTCP socket, so that rtcp-mux may be dropped by a later
    // answer or re-offer without new ports.
    bool rtcp_socket = spec.transport == Transport::rtp;

    for (int leg = 0; leg < kLegs; ++leg) {
        const Endpoint& local = spec.legs[leg].local;
        if (!local.is_set()) {
            close_media(*media, *env.pool);
            return {WorkerError::no_local_address, {}};
        }
        auto& flows = media->flows[leg];
        if (spec.ports[leg] != 0) {
            // A restored call: these ports or none (another program may hold them now).
            uint16_t port = spec.ports[leg];
            int rc = env.pool->claim(port) ? open_flow(flows[0], local.with_port(port), env)
                                           : UV_EADDRINUSE;
            if (rc == 0 && rtcp_socket) {
                rc = open_flow(flows[1], local.with_port(static_cast<uint16_t>(port + 1)), env);
                if (rc != 0) flows[0].socket.reset();
            }
            if (rc != 0) {
                if (env.pool->owns(port) && !flows[0].socket) env.pool->release(port);
                close_media(*media, *env.pool);
                return {WorkerError::port_unavailable,
                        fmt::format("{}: {}", local.with_port(port).to_string(), uv_strerror(rc))};
            }
            media->ports[leg] = port;
        }
        for (int attempt = 0; media->ports[leg] == 0; ++attempt) {
            auto port = env.pool->acquire();
            if (!port || attempt == kMaxBindAttempts) {
                if (port) env.pool->release(*port);
                close_media(*media, *env.pool);
                return {WorkerError::no_ports, {}};
            }
            int rc = open_flow(flows[0], local.with_port(*port), env);
            if (rc == 0 && rtcp_socket) {
                rc = open_flow(flows[1], local.with_port(static_cast<uint16_t>(*port + 1)), env);
                if (rc != 0) flows[0].socket.reset();
            }
            if (rc == 0) {
                media->ports[leg] = *port;
                break;
            }
            env.pool->release(*port);
            if (rc == UV_EMFILE || rc == UV_ENFILE) {
                // Connected sockets are a saving, never a cost to calls: they make room.
                if (env.shed_connected && env.shed_connected() > 0) continue;
                close_media(*media, *env.pool);
                return {WorkerError::no_descriptors, {}};
            }
            if (rc != UV_EADDRINUSE && rc != UV_EACCES) {
                close_media(*media, *env.pool);
                return {WorkerError::cannot_bind, local.address_string() + ": " + uv_strerror(rc)};
            }
        }
    }
    for (int leg = 0; leg < kLegs; ++leg) {
        for (int c = 0; c < kComponents; ++c) {
            Flow& flow = media->flows[leg][c];
            flow.peer = &media->flows[1 - leg][c];
            flow.rtp = c == 1 ? &media->flows[leg][0] : nullptr;
            flow.session = this;
            flow.component = static_cast<uint8_t>(c);
            flow.transport = spec.transport;
            flow.rtcp_mux = spec.rtcp_mux;
        }
    }
    media_.push_back(std::move(media));
    return {};
}

WorkerFailure Session::apply(const SessionSpec& spec, SessionEnv& env, uint64_t now_ms) {
    learned_log_ = env.learned;
    standby_ = spec.standby;
    recording_ = spec.recording;
    tap_ = env.tap;
    tapped_total_ = env.tapped;
    tap_drops_total_ = env.tap_drops;
    std::size_t before = media_.size();
    for (std::size_t i = before; i < spec.media.size(); ++i) {
        if (auto error = open_media(spec.media[i], env)) {
            for (std::size_t j = before; j < media_.size(); ++j) close_media(*media_[j], *env.pool);
            media_.resize(before);
            return error;
        }
    }
    uint64_t window = spec.learning_window_ms.value_or(env.config->learning_window_ms);
    std::size_t n = std::min(media_.size(), spec.media.size());
    for (std::size_t i = 0; i < n; ++i) {
        Media& media = *media_[i];
        if (media.transport == Transport::rtp) media.rtcp_mux = spec.media[i].rtcp_mux;
        bool tos_changed = media.tos != spec.media[i].tos;
        media.tos = spec.media[i].tos;
        for (int leg = 0; leg < kLegs; ++leg) {
            media.flows[leg][0].quality.set_clock_rates(spec.media[i].legs[leg].clock_rates);
            for (auto& flow : media.flows[leg]) {
                flow.measured = env.config->quality_figures;
                flow.rtcp_mux = media.rtcp_mux;
                flow.connect_failed = false;
                if (tos_changed) set_tos(flow, media.tos);
            }
            const LegSpec& ls = spec.media[i].legs[leg];
            media.flows[leg][0].latch.reset(ls.expected_rtp, ls.policy, now_ms, window,
                                            ls.sip_source);
            media.flows[leg][1].latch.reset(expected_rtcp(ls, media.rtcp_mux), ls.policy, now_ms,
                                            window, ls.sip_source);
            for (int c = 0; c < kComponents; ++c) {
                media.flows[leg][c].latch.restore(ls.learned[c].source, ls.learned[c].state);
            }
        }
    }
    last_signal_ms_ = now_ms;
    return {};
}

void Session::close_media(Media& media, PortPool& pool) {
    for (int leg = 0; leg < kLegs; ++leg) {
        for (auto& flow : media.flows[leg]) {
            flow.connected.reset();
            flow.socket.reset();
        }
        // The descriptors are closed at once, so the ports are free again right away.
        if (media.ports[leg] != 0) pool.release(media.ports[leg]);
        media.ports[leg] = 0;
    }
}

void Session::sync_kernel(const SessionEnv& env, uint64_t now_ms) {
    kernel_ = env.kernel;
    tally_ = env.tally;
    if (kernel_ == nullptr) return;
    // Every latch first, so that each flow sees its peer's settled destination.
    for_each_flow([&](Flow& flow) { flow.latch.settle(now_ms); });
    bool settled = true;
    for_each_flow([&](Flow& flow) {
        if (!kernel_sync(flow, *kernel_, !standby_ && recording_ == 0, *tally_)) settled = false;
    });
    kernel_pending_ = !settled;
}

void Session::clear_kernel() {
    if (kernel_ == nullptr) return;
    for_each_flow([&](Flow& flow) { kernel_clear(flow, *kernel_, *tally_); });
    kernel_pending_ = false;
}

void Session::harvest_kernel(uint64_t now_ms) {
    if (kernel_ == nullptr) return;
    kernel_harvest_ms_ = now_ms;
    for_each_flow([&](Flow& flow) { kernel_harvest(flow, *kernel_, *tally_); });
}

void Session::sample_quality(uint64_t now_ms, uint64_t min_interval_ms) {
    for (auto& media : media_) {
        if (media->transport != Transport::rtp) continue;
        // The stream's round trip: the relay's to each party, from RTCP; where only one is
        // known, the other is taken to be the same.
        int64_t a = media->flows[0][0].quality.party_rtt_us();
        int64_t b = media->flows[1][0].quality.party_rtt_us();
        int64_t rtt = a >= 0 && b >= 0 ? a + b : a >= 0 ? 2 * a : b >= 0 ? 2 * b : -1;
        for (auto& leg : media->flows) {
            Flow& flow = leg[0];
            flow.quality.sample(now_ms, min_interval_ms, rtt, kernel_share(flow));
        }
    }
}

bool Session::in_kernel() const {
    bool any = false;
    for_each_flow([&](const Flow& flow) { any = any || flow.kernel_flow || flow.kernel.lock; });
    return any;
}

void Session::close(PortPool& pool) {
    for (auto& media : media_) close_media(*media, pool);
    media_.clear();
}

int Session::shed_connected(int most) {
    int closed = 0;
    for_each_flow([&](Flow& flow) {
        if (!flow.connected || closed == most) return;
        flow.connected.reset();
        flow.connect_failed = true;  // until the next signalling
        ++closed;
    });
    return closed;
}

void Session::connect_flows(SessionEnv& env) {
    for_each_flow([&](Flow& flow) {
        if (!flow.wants_connect) return;
        flow.wants_connect = false;
        const Endpoint* to = flow.latch.destination();
        if (to == nullptr || !flow.socket || flow.connected_toward(*to)) return;
        // The old one goes first: it would keep the new one from binding.
        flow.connected.reset();
        // The descriptors near the limit are kept for new calls' sockets.
        int rc = flow.connected.open_connected(*env.sockets, flow.socket.fd(), flow.local, *to,
                                               connected_tag(&flow), env.connected_fd_limit);
        if (rc != 0) {
            flow.connect_failed = true;  // the first socket serves on, as before
            return;
        }
        flow.connected_to = *to;
        if (flow.tos != 0) set_tos(flow.connected, flow.local.family(), flow.tos);
    });
}

uint64_t Session::last_activity_ms() const {
    uint64_t last = last_signal_ms_;
    for_each_flow([&](const Flow& flow) { last = std::max(last, flow.counters.last_packet_ms); });
    return last;
}

SessionSnapshot Session::snapshot(unsigned worker) const {
    SessionSnapshot snap;
    snap.id = id_;
    snap.worker = worker;
    snap.created_ms = created_ms_;
    snap.last_signal_ms = last_signal_ms_;
    snap.recording = recording_;
    snap.recorded = tapped_;
    snap.recording_drops = tap_drops_;
    for (const auto& media : media_) {
        MediaSnapshot ms;
        ms.transport = media->transport;
        ms.rtcp_mux = media->rtcp_mux;
        for (int leg = 0; leg < kLegs; ++leg) {
            for (int c = 0; c < kComponents; ++c) {
                const Flow& flow = media->flows[leg][c];
                FlowSnapshot& fs = ms.flows[leg][c];
                fs.local = flow.local;
                fs.expected = flow.latch.expected();
                fs.learned = flow.latch.learned();
                fs.state = flow.latch.state();
                if (flow.connected) fs.connected = flow.connected_to;
                fs.kernel = flow.kernel_flow;
                fs.counters = flow.counters;
                if (c == 0 && media->transport == Transport::rtp)
                    fs.quality = flow.quality.figures(kernel_share(flow));
                snap.last_packet_ms = std::max(snap.last_packet_ms, flow.counters.last_packet_ms);
            }
        }
        snap.media.push_back(ms);
    }
    return snap;
}

}  // namespace latch
