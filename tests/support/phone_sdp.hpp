// The SDP a simple phone sends: one audio stream of G.711 on `port` at `address`. Test thread.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace latch::test {

inline std::string audio_sdp(uint16_t port, const std::string& address = "127.0.0.1") {
    return fmt::format(
        "v=0\r\no=- 1 1 IN IP4 {0}\r\ns=-\r\nc=IN IP4 {0}\r\nt=0 0\r\nm=audio {1} RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        address, port);
}

}  // namespace latch::test
