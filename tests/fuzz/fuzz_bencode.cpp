// libFuzzer target: the bencode decoder. Whatever decodes must encode and decode back to
// the same value.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bencode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    nlohmann::json v;
    try {
        v = latch::bencode_decode(in);
    } catch (const latch::BencodeError&) {
        return 0;
    }
    if (latch::bencode_decode(latch::bencode_encode(v)) != v) std::abort();
    return 0;
}
