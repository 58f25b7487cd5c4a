// SDP (RFC 4566) as much as a media relay needs: connection addresses, media ports, RTCP
// ports, rtcp-mux and ICE lines, with every other line kept verbatim so that the rewritten
// body differs only where it must. Pure functions; any thread.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "stream_quality.hpp"

namespace latch {

class SdpError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct SdpAddress {
    std::string family;   // "IP4" or "IP6"
    std::string address;  // as written
};

// An a=rtpmap line: a payload type's encoding and clock rate.
struct SdpRtpmap {
    unsigned payload_type = 0;
    std::string encoding;  // PCMU, opus, telephone-event...
    unsigned clock_rate = 0;
};

struct SdpMedia {
    std::string type;                      // audio, video, image...
    unsigned port = 0;                     // 0: disabled stream
    std::string proto;                     // RTP/AVP, udptl...
    std::vector<std::string> formats;      // the m= line's formats (payload types for RTP)
    std::vector<SdpRtpmap> rtpmaps;        // well-formed a=rtpmap lines only
    std::optional<SdpAddress> connection;  // media-level c=
    std::optional<unsigned> rtcp_port;     // a=rtcp:
    std::optional<SdpAddress> rtcp_address;
    bool rtcp_mux = false;
    bool is_rtp() const;  // an RTP profile (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVP...)
};

struct Sdp {
    std::vector<std::string> lines;  // without line ends
    std::string eol = "\r\n";        // the body's line end, kept on output
    std::optional<SdpAddress> origin;
    std::optional<SdpAddress> connection;  // session-level c=
    std::vector<SdpMedia> media;
    // The address media of stream i is sent to: media-level c=, else session-level.
    const SdpAddress* media_address(std::size_t i) const;
};

// Throws SdpError with the line number and what is wrong.
Sdp parse_sdp(std::string_view body);

// The clock rates of a stream's payload types in the m= line's order (rtpmap, else RFC 3551's
// static types), as many as the table holds.
ClockRates clock_rates(const SdpMedia& media);
// The stream's formats as its SDP names them: "0 PCMU/8000, 101 telephone-event/8000" (a
// format without rtpmap by its number alone), at most 32 of them.
std::string codec_list(const SdpMedia& media);

struct SdpMediaRewrite {
    unsigned port = 0;       // relay RTP port (ignored for port-0 streams)
    unsigned rtcp_port = 0;  // relay RTCP port; 0: no a=rtcp line
};

struct SdpRewrite {
    SdpAddress relay;  // the address written into c= lines (and o= with replace_origin)
    bool replace_origin = false;
    bool remove_ice = false;
    std::vector<SdpMediaRewrite> media;  // one per m= line
};

// The body with relay addresses and ports. Connection addresses 0.0.0.0 / :: (hold) stay.
std::string rewrite_sdp(const Sdp& sdp, const SdpRewrite& rewrite);

}  // namespace latch
