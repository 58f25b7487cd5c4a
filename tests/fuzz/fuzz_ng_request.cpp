// libFuzzer target: ng framing (cookie, bencode or JSON dictionary) and the reading of its
// keys, then the encoding of a reply in the request's encoding.
#include <cstdint>
#include <string_view>

#include "ng_codec.hpp"
#include "ng_params.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto parsed = latch::parse_ng(in);
    if (auto* request = std::get_if<latch::NgRequest>(&parsed)) {
        try {
            latch::read_ng_params(request->dict);
        } catch (const latch::NgParamError&) {
        }
        (void)latch::encode_ng(request->cookie, request->encoding, request->dict);
    } else if (auto* bad = std::get_if<latch::NgBadRequest>(&parsed)) {
        (void)latch::encode_ng(bad->cookie, bad->encoding, latch::ng_error(bad->reason));
    }
    return 0;
}
