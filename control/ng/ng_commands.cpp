// ng command execution. Control thread only.
#include "ng_commands.hpp"

#include "ng_format.hpp"

namespace latch {
namespace {

int family_of(const std::string& sdp_family) {
    return sdp_family == "IP6" ? AF_INET6 : AF_INET;
}

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

NgCommands::NgCommands(CallControl& calls) : calls_(calls) {
    using namespace std::placeholders;
    handlers_["ping"] = [](NgParams&, const Respond& respond) { respond({{"result", "pong"}}); };
    handlers_["offer"] = std::bind(&NgCommands::offer, this, _1, _2);
    handlers_["answer"] = std::bind(&NgCommands::answer, this, _1, _2);
    handlers_["delete"] = std::bind(&NgCommands::remove, this, _1, _2);
    handlers_["query"] = std::bind(&NgCommands::query, this, _1, _2);
    handlers_["list"] = std::bind(&NgCommands::list, this, _1, _2);
    handlers_["statistics"] = std::bind(&NgCommands::statistics, this, _1, _2);
    for (const char* what : {"start", "stop", "pause"}) {
        handlers_[std::string(what) + " recording"] =
            [this, what](NgParams& p, const Respond& respond) { recording(p, respond, what); };
    }
}

void NgCommands::dispatch(NgRequest& request, const NgServer::Respond& respond) {
    NgParams params;
    try {
        params = read_ng_params(request.dict);
    } catch (const NgParamError& e) {
        return respond(ng_error(e.what()));
    }
    if (request.dict.find("command") == request.dict.end())
        return respond(ng_error("missing key 'command'"));
    auto handler = handlers_.find(params.command);
    if (handler == handlers_.end()) return respond(ng_error("Unrecognized command"));
    Respond counted = [this, command = params.command, respond,
                       once = std::make_shared<bool>(false)](const nlohmann::json& reply) {
        if (*once) return;  // the one reply is counted once
        *once = true;
        ++results_[command][reply.value("result", "?")];
        respond(reply);
    };
    try {
        handler->second(params, counted);
    } catch (const NgParamError& e) {
        counted(ng_error(e.what()));
    } catch (const std::exception& e) {
        counted(ng_internal_error(e.what()));
    }
}

Signal NgCommands::signal_of(const NgParams& p, const Sdp& sdp) const {
    Signal s;
    s.call_id = p.call_id;
    s.from_tag = p.from_tag;
    s.to_tag = p.to_tag;
    s.asymmetric = p.flag("asymmetric") && !p.flag("symmetric");
    s.strict_source = p.flag("strict-source");
    s.media_handover = p.flag("media-handover");
    if (!p.learning.empty()) {
        s.learning = parse_learning_mode(p.learning);
        if (!s.learning) throw NgParamError("'learning' must be heuristic, immediate or off");
    }
    if (p.tos) s.tos = static_cast<uint8_t>(*p.tos);
    s.label = p.label;
    s.from_interface = p.from_interface;
    s.to_interface = p.to_interface;
    // The offerer's leg speaks its SDP's family; "address family" asks for the SDP that goes
    // to the answerer, so it picks the answerer's leg.
    s.offer_family = sdp.connection ? family_of(sdp.connection->family) : AF_UNSPEC;
    s.answer_family = p.address_family.empty() ? s.offer_family : family_of(p.address_family);
    if (p.received_from) {
        if (auto from = Endpoint::parse(*p.received_from, 0)) s.sip_source = *from;
    }
    bool sip_source = p.flag("sip-source-address") && p.received_from && !p.flag("trust-address");
    for (std::size_t i = 0; i < sdp.media.size(); ++i) {
        const SdpMedia& m = sdp.media[i];
        MediaDescription d;
        d.index = i;
        d.transport = m.is_rtp() ? Transport::rtp : Transport::non_rtp;
        d.type = m.type;
        d.proto = m.proto;
        d.rtcp_mux = m.rtcp_mux && !p.rtcp_mux.count("demux");
        if (d.transport == Transport::rtp) d.clock_rates = clock_rates(m);
        d.codecs = codec_list(m);
        if (m.port != 0) {
            std::string address = sip_source ? *p.received_from : sdp.media_address(i)->address;
            auto rtp = Endpoint::parse(address, static_cast<uint16_t>(m.port));
            if (!rtp)
                throw NgParamError("Failed to parse SDP: '" + address + "' is not an IP address");
            d.rtp = *rtp;
            if (m.rtcp_port) {
                const std::string& rtcp_address =
                    m.rtcp_address ? m.rtcp_address->address : address;
                if (auto rtcp = Endpoint::parse(rtcp_address, static_cast<uint16_t>(*m.rtcp_port)))
                    d.rtcp = *rtcp;
            }
        }
        s.media.push_back(d);
    }
    return s;
}

void NgCommands::reply_with_sdp(const CallResult& r, const Sdp& sdp, const NgParams& p,
                                const Respond& respond) const {
    if (r.error == CallError::load_limit && p.supports_load_limit) {
        return respond({{"result", "load limit"}, {"message", r.message}});
    }
    if (r.error != CallError::none) return respond(ng_error(r.message));
    const Interface& iface = *r.call->interfaces[r.recipient];
    SdpRewrite rw;
    rw.relay = {iface.sdp_family(),
                p.media_address.empty() ? iface.sdp_address() : p.media_address};
    rw.replace_origin = p.replace.count("origin") != 0;
    rw.remove_ice = p.ice == "remove";
    for (std::size_t i = 0; i < sdp.media.size() && i < r.snapshot.media.size(); ++i) {
        const auto& flows = r.snapshot.media[i].flows[r.recipient];
        rw.media.push_back(
            {flows[0].local.port(), flows[1].local.is_set() ? flows[1].local.port() : 0u});
    }
    respond({{"result", "ok"}, {"sdp", rewrite_sdp(sdp, rw)}});
}

void NgCommands::offer(NgParams& p, const Respond& respond) {
    signal(p, true, respond);
}

void NgCommands::answer(NgParams& p, const Respond& respond) {
    signal(p, false, respond);
}

void NgCommands::signal(NgParams& p, bool is_offer, const Respond& respond) {
    require(p.call_id, "call-id");
    require(p.from_tag, "from-tag");
    if (!is_offer) require(p.to_tag, "to-tag");
    Sdp sdp = request_sdp(p);
    auto reply = answering(respond, [this, p, sdp, respond](const CallResult& r) {
        reply_with_sdp(r, sdp, p, respond);
        if (r.error != CallError::none || recordings_ == nullptr) return;
        // "record-call" starts the recording with the call (or keeps it going); the metadata
        // of a later offer or answer replaces the earlier one.
        if (p.record_call && recordings_->enabled())
            recordings_->start(p.call_id, p.metadata, [](const RecordingReply&) {});
        else
            recordings_->set_metadata(p.call_id, p.metadata);
    });
    if (is_offer) {
        calls_.offer(signal_of(p, sdp), std::move(reply));
    } else {
        calls_.answer(signal_of(p, sdp), std::move(reply));
    }
}

void NgCommands::remove(NgParams& p, const Respond& respond) {
    require(p.call_id, "call-id");
    bool fatal = p.flag("fatal");
    calls_.remove(p.call_id, p.delete_delay.value_or(0),
                  answering(respond, [this, fatal, respond](const CallResult& r) {
                      if (r.error == CallError::unknown_call && !fatal)
                          return respond({{"result", "ok"}, {"warning", r.message}});
                      if (r.error != CallError::none) return respond(ng_error(r.message));
                      nlohmann::json reply = format_call(*r.call, r.snapshot, calls_.clocks());
                      reply["result"] = "ok";
                      respond(reply);
                  }));
}

void NgCommands::query(NgParams& p, const Respond& respond) {
    require(p.call_id, "call-id");
    calls_.query(p.call_id, answering(respond, [this, respond](const CallResult& r) {
                     if (r.error != CallError::none) return respond(ng_error(r.message));
                     nlohmann::json reply = format_call(*r.call, r.snapshot, calls_.clocks());
                     if (const RecordingInfo* rec =
                             recordings_ ? recordings_->find(r.call->call_id) : nullptr) {
                         RecordingStatus s = recordings_->status(*rec);
                         reply["recording"] = {{"file", rec->file},
                                               {"state", s.failed      ? "failed"
                                                         : rec->paused ? "paused"
                                                                       : "recording"},
                                               {"packets recorded", s.packets},
                                               {"packets not recorded", r.snapshot.recording_drops},
                                               {"metadata", rec->metadata}};
                         if (s.failed) reply["recording"]["error"] = s.error;
                     }
                     reply["result"] = "ok";
                     respond(reply);
                 }));
}

void NgCommands::recording(NgParams& p, const Respond& respond, const char* what) {
    require(p.call_id, "call-id");
    if (recordings_ == nullptr)
        return respond(
            ng_error("recording is not configured here (latchd records with --recording-dir)"));
    auto done = [respond](const RecordingReply& r) {
        if (!r.ok()) return respond(ng_error(r.error));
        nlohmann::json reply = {{"result", "ok"}};
        if (!r.warning.empty()) reply["warning"] = r.warning;
        respond(reply);
    };
    // The whole call is recorded, whichever party a from-tag names.
    if (std::string(what) == "start")
        recordings_->start(p.call_id, p.metadata, done);
    else if (std::string(what) == "stop")
        recordings_->stop(p.call_id, done);
    else
        recordings_->pause(p.call_id, done);
}

void NgCommands::list(const NgParams& p, const Respond& respond) {
    nlohmann::json reply = {{"result", "ok"},
                            {"calls", calls_.list(static_cast<std::size_t>(p.limit))}};
    // latch's own key: which of the calls are recorded, and to which file.
    if (recordings_ != nullptr && recordings_->active() != 0) {
        nlohmann::json recorded = nlohmann::json::object();
        for (const auto& id : reply["calls"]) {
            if (const RecordingInfo* r = recordings_->find(id.get<std::string>()))
                recorded[id.get<std::string>()] = {{"file", r->file},
                                                   {"state", r->paused ? "paused" : "recording"}};
        }
        reply["recorded"] = std::move(recorded);
    }
    respond(reply);
}

void NgCommands::statistics(const NgParams&, const Respond& respond) {
    calls_.collect_worker_stats(
        answering(respond, [this, respond](std::vector<WorkerStats>& stats) {
            ControlReport report = control_report_ ? control_report_() : ControlReport{};
            respond({{"result", "ok"},
                     {"statistics", format_statistics(stats, calls_.calls(), report)}});
        }));
}

}  // namespace latch
