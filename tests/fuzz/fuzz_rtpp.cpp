// libFuzzer target: the rtpproxy protocol exactly as latchd runs it: the input is one datagram
// to the rtpproxy UDP socket of a ControlPlane (cookie, command parser, the calls it drives,
// the reply). Property: a datagram with a cookie and a command gets exactly one reply, which
// starts with the cookie and ends with a line end.
#include <cstdint>
#include <string_view>

#include "fuzz_plane.hpp"
#include "rtpp_command.hpp"
#include "rtpp_server.hpp"

using namespace std::chrono_literals;
using latch::fuzz::violated;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view datagram(reinterpret_cast<const char*>(data), size);
    // The parser alone first: whatever the input, it parses or says why.
    try {
        latch::parse_rtpp(datagram);
    } catch (const latch::RtppError&) {
    }
    if (size == 0) return 0;  // an empty datagram is not even read
    auto& plane = latch::fuzz::plane();
    std::size_t space = datagram.find(' ');
    bool owed =
        space != 0 && space != std::string_view::npos && size <= latch::RtppServer::kMaxCommand;
    auto reply = plane.exchange(false, datagram, owed ? 5000ms : 0ms);
    if (!owed) {
        if (reply) violated("a datagram without a cookie was answered", datagram);
        return 0;
    }
    if (!reply) violated("a command with a cookie got no reply", datagram);
    std::string_view cookie = datagram.substr(0, space + 1);
    if (reply->compare(0, cookie.size(), cookie) != 0)
        violated("the reply does not start with the cookie", *reply);
    if (reply->back() != '\n') violated("the reply does not end with a line end", *reply);
    if (plane.stray(false, 0ms)) violated("a command got a second reply", datagram);
    return 0;
}
