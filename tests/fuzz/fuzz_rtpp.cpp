// libFuzzer target: the rtpproxy command parser.
#include <cstdint>
#include <string_view>

#include "rtpp_command.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        latch::parse_rtpp(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const latch::RtppError&) {
    }
    return 0;
}
