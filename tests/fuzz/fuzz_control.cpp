// libFuzzer target: the ng control path exactly as latchd runs it: the input is one datagram to
// the ng socket of a ControlPlane (framing, keys, SDP, the call directory, a real worker with
// real sockets on 127.0.0.1, the reply encoded and sent). Properties: a request with a cookie
// gets exactly one reply, which decodes, carries the cookie and a result, in the request's
// encoding; a decodable request gets the same treatment once more in the other encoding.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "bencode.hpp"
#include "fuzz_plane.hpp"
#include "ng_codec.hpp"

namespace {

using namespace std::chrono_literals;
using latch::fuzz::violated;

// Cookies sent so far: a cookie sent again is a retransmission, answered from the reply cache
// with the first request's reply (in that request's encoding).
std::set<std::string>& seen() {
    static std::set<std::string> cookies;
    return cookies;
}

// Sends `datagram` and checks the one reply it must (or must not) get.
void check(std::string_view datagram) {
    auto& plane = latch::fuzz::plane();
    latch::NgParsed sent = latch::parse_ng(datagram);
    bool owed = !std::holds_alternative<latch::NgNoCookie>(sent);
    auto reply = plane.exchange(true, datagram, owed ? 5000ms : 0ms);
    if (!owed) {
        if (reply) violated("a datagram without a cookie was answered", datagram);
        return;
    }
    if (!reply) violated("a request with a cookie got no reply", datagram);
    latch::NgParsed got = latch::parse_ng(*reply);
    auto* decoded = std::get_if<latch::NgRequest>(&got);
    if (decoded == nullptr) violated("the reply does not decode", *reply);
    if (!decoded->dict.contains("result") || !decoded->dict["result"].is_string())
        violated("the reply has no result", *reply);
    const std::string& cookie = std::holds_alternative<latch::NgRequest>(sent)
                                    ? std::get<latch::NgRequest>(sent).cookie
                                    : std::get<latch::NgBadRequest>(sent).cookie;
    if (decoded->cookie != cookie) violated("the reply carries another cookie", *reply);
    bool fresh = seen().insert(cookie).second;
    if (auto* request = std::get_if<latch::NgRequest>(&sent);
        fresh && request && decoded->encoding != request->encoding) {
        violated("the reply is not in the request's encoding", *reply);
    }
    if (plane.stray(true, 0ms)) violated("a request got a second reply", datagram);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 60000) return 0;  // more than a UDP datagram carries
    std::string_view datagram(reinterpret_cast<const char*>(data), size);
    check(datagram);
    // The same dictionary in the other encoding, under a cookie of its own.
    latch::NgParsed parsed = latch::parse_ng(datagram);
    if (auto* request = std::get_if<latch::NgRequest>(&parsed)) {
        auto other = request->encoding == latch::NgEncoding::json ? latch::NgEncoding::bencode
                                                                  : latch::NgEncoding::json;
        std::string again;
        try {
            again = latch::encode_ng(request->cookie + "x", other, request->dict);
        } catch (const latch::BencodeError&) {
            return 0;  // a JSON float or null has no bencode form: nothing to send
        }
        check(again);
    }
    return 0;
}
