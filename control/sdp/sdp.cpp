// SDP parsing and rewriting. Any thread.
#include "sdp.hpp"

#include "text.hpp"

#include <fmt/format.h>

#include <charconv>

namespace latch {
namespace {

std::optional<unsigned> port_number(std::string_view text) {
    // "49170" or "49170/2" (a port count)
    text = text.substr(0, text.find('/'));
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v > 65535) return std::nullopt;
    return v;
}

std::optional<unsigned> number(std::string_view text) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

// "<payload type> <encoding>/<clock rate>[/<channels>]"
std::optional<SdpRtpmap> parse_rtpmap(std::string_view text) {
    auto words = split_words(text);
    if (words.size() != 2) return std::nullopt;
    std::string_view codec = words[1];
    std::size_t slash = codec.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    std::string_view rate = codec.substr(slash + 1);
    rate = rate.substr(0, rate.find('/'));
    auto type = number(words[0]);
    auto clock = number(rate);
    if (!type || *type > 127 || !clock || *clock == 0) return std::nullopt;
    return SdpRtpmap{*type, std::string(codec.substr(0, slash)), *clock};
}

[[noreturn]] void fail(std::size_t line, std::string_view what) {
    throw SdpError(fmt::format("line {}: {}", line + 1, what));
}

SdpAddress parse_address(std::size_t line, std::string_view net, std::string_view family,
                         std::string_view address) {
    if (net != "IN") fail(line, "network type is not IN");
    if (family != "IP4" && family != "IP6") fail(line, "address type is not IP4 or IP6");
    std::string addr(address.substr(0, address.find('/')));  // drop a multicast TTL
    if (addr.empty()) fail(line, "empty address");
    return {std::string(family), addr};
}

bool is_ice_attribute(std::string_view line) {
    for (std::string_view prefix :
         {"a=candidate:", "a=ice-ufrag:", "a=ice-pwd:", "a=ice-options:", "a=remote-candidates:",
          "a=ice-lite", "a=ice-mismatch", "a=end-of-candidates", "a=ice-pacing:"}) {
        if (line.rfind(prefix, 0) == 0) return true;
    }
    return false;
}

bool is_unspecified(const std::string& address) {
    return address == "0.0.0.0" || address == "::";
}

}  // namespace

bool SdpMedia::is_rtp() const {
    return proto.find("RTP/") != std::string::npos;
}

const SdpAddress* Sdp::media_address(std::size_t i) const {
    if (media.at(i).connection) return &*media[i].connection;
    return connection ? &*connection : nullptr;
}

Sdp parse_sdp(std::string_view body) {
    Sdp sdp;
    if (body.empty()) throw SdpError("empty SDP");
    std::size_t first_nl = body.find('\n');
    sdp.eol = (first_nl != std::string_view::npos && first_nl > 0 && body[first_nl - 1] == '\r')
                  ? "\r\n"
                  : "\n";
    std::size_t pos = 0;
    while (pos < body.size()) {
        std::size_t nl = body.find('\n', pos);
        std::string_view line =
            body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl == std::string_view::npos ? body.size() : nl + 1;
        if (line.empty()) continue;  // tolerate blank lines (and a missing final line end)
        sdp.lines.emplace_back(line);
    }
    if (sdp.lines.empty() || sdp.lines[0] != "v=0")
        throw SdpError("the SDP does not start with its version line (v=0)");

    for (std::size_t i = 0; i < sdp.lines.size(); ++i) {
        const std::string& line = sdp.lines[i];
        if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
            fail(i, "not a type=value line");
        }
        std::string_view value = std::string_view(line).substr(2);
        auto words = split_words(value);
        switch (line[0]) {
            case 'o':
                if (words.size() != 6) fail(i, "o= needs 6 fields");
                sdp.origin = parse_address(i, words[3], words[4], words[5]);
                break;
            case 'c':
                if (words.size() != 3) fail(i, "c= needs 3 fields");
                if (sdp.media.empty()) {
                    sdp.connection = parse_address(i, words[0], words[1], words[2]);
                } else {
                    sdp.media.back().connection = parse_address(i, words[0], words[1], words[2]);
                }
                break;
            case 'm': {
                if (words.size() < 4) fail(i, "m= needs media, port, protocol and formats");
                auto port = port_number(words[1]);
                if (!port) fail(i, "m= port is not a number from 0 to 65535");
                SdpMedia m;
                m.type = std::string(words[0]);
                m.port = *port;
                m.proto = std::string(words[2]);
                for (std::size_t w = 3; w < words.size(); ++w) m.formats.emplace_back(words[w]);
                sdp.media.push_back(std::move(m));
                break;
            }
            case 'a':
                if (sdp.media.empty()) break;
                if (value.rfind("rtcp:", 0) == 0) {
                    auto rtcp = split_words(value.substr(5));
                    auto port = rtcp.empty() ? std::nullopt : port_number(rtcp[0]);
                    if (!port) fail(i, "a=rtcp port is not a number");
                    sdp.media.back().rtcp_port = *port;
                    if (rtcp.size() == 4)
                        sdp.media.back().rtcp_address = parse_address(i, rtcp[1], rtcp[2], rtcp[3]);
                } else if (value == "rtcp-mux") {
                    sdp.media.back().rtcp_mux = true;
                } else if (value.rfind("rtpmap:", 0) == 0) {
                    // A malformed one is left alone: it only costs that type its jitter.
                    if (auto map = parse_rtpmap(value.substr(7)))
                        sdp.media.back().rtpmaps.push_back(std::move(*map));
                }
                break;
            default:
                break;
        }
    }
    // RFC 4566 requires each of these once per session; a body without them is not a session
    // description at all, and a call set up from it would relay nothing anyone described.
    bool seen_o = false, seen_s = false, seen_t = false;
    for (const std::string& line : sdp.lines) {
        if (line[0] == 'm') break;  // o=, s= and t= are session-level lines
        seen_o |= line[0] == 'o';
        seen_s |= line[0] == 's';
        seen_t |= line[0] == 't';
    }
    if (!seen_o) throw SdpError("the SDP has no origin line (o=)");
    if (!seen_s) throw SdpError("the SDP has no session name line (s=)");
    if (!seen_t) throw SdpError("the SDP has no timing line (t=)");
    if (sdp.media.empty()) throw SdpError("the SDP has no media line (m=)");
    for (std::size_t i = 0; i < sdp.media.size(); ++i) {
        if (sdp.media[i].port != 0 && !sdp.media_address(i)) {
            throw SdpError(fmt::format("media {} has no connection address (c=)", i + 1));
        }
    }
    return sdp;
}

std::string rewrite_sdp(const Sdp& sdp, const SdpRewrite& rw) {
    std::string out;
    out.reserve(sdp.lines.size() * 40 + 64);
    auto emit = [&](std::string_view line) {
        out += line;
        out += sdp.eol;
    };
    auto connection_line = [&](const std::string& original_address) {
        const std::string& family =
            is_unspecified(original_address)
                ? (original_address == "::" ? std::string("IP6") : std::string("IP4"))
                : rw.relay.family;
        const std::string& address =
            is_unspecified(original_address) ? original_address : rw.relay.address;
        return "c=IN " + family + " " + address;
    };
    int media_index = -1;
    bool media_had_rtcp = false;
    auto close_media = [&]() {
        // a=rtcp goes at the end of each RTP media section that did not have one.
        if (media_index < 0) return;
        const SdpMedia& m = sdp.media[static_cast<std::size_t>(media_index)];
        const SdpMediaRewrite& r = rw.media.at(static_cast<std::size_t>(media_index));
        if (!media_had_rtcp && m.is_rtp() && m.port != 0 && r.rtcp_port != 0) {
            emit(fmt::format("a=rtcp:{}", r.rtcp_port));
        }
    };

    for (const std::string& line : sdp.lines) {
        std::string_view value = std::string_view(line).substr(2);
        if (rw.remove_ice && is_ice_attribute(line)) continue;
        switch (line[0]) {
            case 'o':
                if (rw.replace_origin) {
                    auto words = split_words(value);
                    emit(fmt::format("o={} {} {} IN {} {}", words[0], words[1], words[2],
                                     rw.relay.family, rw.relay.address));
                    continue;
                }
                break;
            case 'c': {
                auto words = split_words(value);
                emit(connection_line(std::string(words[2].substr(0, words[2].find('/')))));
                continue;
            }
            case 'm': {
                close_media();
                ++media_index;
                media_had_rtcp = false;
                const SdpMedia& m = sdp.media[static_cast<std::size_t>(media_index)];
                // The port is the m= line's second word, found as the parser split it.
                auto [word_start, word_end] = word_span(value, 1);
                std::size_t port_start = 2 + word_start, port_end = 2 + word_end;
                std::string port_text = line.substr(port_start, port_end - port_start);
                std::size_t slash = port_text.find('/');
                std::string count = slash == std::string::npos ? "" : port_text.substr(slash);
                unsigned port =
                    m.port == 0 ? 0 : rw.media.at(static_cast<std::size_t>(media_index)).port;
                emit(line.substr(0, port_start) + std::to_string(port) + count +
                     line.substr(port_end));
                continue;
            }
            case 'a':
                if (media_index >= 0 && value.rfind("rtcp:", 0) == 0) {
                    media_had_rtcp = true;
                    const auto& r = rw.media.at(static_cast<std::size_t>(media_index));
                    const SdpMedia& m = sdp.media[static_cast<std::size_t>(media_index)];
                    if (r.rtcp_port == 0 || m.port == 0) continue;  // nothing to announce
                    if (m.rtcp_address && !is_unspecified(m.rtcp_address->address)) {
                        emit(fmt::format("a=rtcp:{} IN {} {}", r.rtcp_port, rw.relay.family,
                                         rw.relay.address));
                    } else {
                        emit(fmt::format("a=rtcp:{}", r.rtcp_port));
                    }
                    continue;
                }
                break;
            default:
                break;
        }
        emit(line);
    }
    close_media();
    return out;
}

ClockRates clock_rates(const SdpMedia& media) {
    ClockRates rates;
    for (const std::string& format : media.formats) {
        auto type = number(format);
        if (!type || *type > 127) continue;
        unsigned rate = static_clock_rate(static_cast<uint8_t>(*type));
        for (const SdpRtpmap& map : media.rtpmaps) {
            if (map.payload_type == *type) rate = map.clock_rate;
        }
        if (rate != 0 && !rates.set(static_cast<uint8_t>(*type), rate)) break;
    }
    return rates;
}

std::string codec_list(const SdpMedia& media) {
    std::string out;
    std::size_t n = 0;
    for (const std::string& format : media.formats) {
        if (++n > 32) break;
        if (!out.empty()) out += ", ";
        out += format;
        auto type = number(format);
        bool named = false;
        for (const SdpRtpmap& map : media.rtpmaps) {
            if (type && map.payload_type == *type && !named) {
                out += " " + map.encoding + "/" + std::to_string(map.clock_rate);
                named = true;
            }
        }
        // RFC 3551's static types that phones send without an rtpmap line.
        static const std::pair<unsigned, const char*> kStatic[] = {
            {0, "PCMU/8000"}, {3, "GSM/8000"}, {4, "G723/8000"}, {8, "PCMA/8000"},
            {9, "G722/8000"}, {13, "CN/8000"}, {18, "G729/8000"}};
        for (const auto& [number_of, name] : kStatic) {
            if (!named && type && *type == number_of) {
                out += std::string(" ") + name;
                named = true;
            }
        }
    }
    return out;
}

}  // namespace latch
