// libFuzzer target: the SDP parser and rewriter. Rewriting any SDP that parses must give an
// SDP that parses again, with the same streams.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sdp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    latch::Sdp sdp;
    try {
        sdp = latch::parse_sdp(in);
    } catch (const latch::SdpError&) {
        return 0;
    }
    latch::SdpRewrite rw;
    rw.relay = {size % 2 ? "IP6" : "IP4", size % 2 ? "2001:db8::1" : "203.0.113.1"};
    rw.replace_origin = size % 3 == 0;
    rw.remove_ice = size % 5 == 0;
    for (std::size_t i = 0; i < sdp.media.size(); ++i) {
        rw.media.push_back({static_cast<unsigned>(30000 + 2 * i), static_cast<unsigned>(30001 + 2 * i)});
    }
    std::string out = latch::rewrite_sdp(sdp, rw);
    try {
        latch::Sdp again = latch::parse_sdp(out);
        if (again.media.size() != sdp.media.size()) std::abort();
    } catch (const latch::SdpError&) {
        std::abort();  // the rewriter produced something its own parser refuses
    }
    return 0;
}
