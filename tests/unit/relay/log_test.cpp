// Log lines carry network-supplied text (call-IDs, tags): it must not be able to forge lines.
#include <catch2/catch.hpp>

#include "log.hpp"

using namespace latch;

TEST_CASE("log text: printable ASCII stays, everything else is escaped", "[unit]") {
    std::string out = "call ";
    append_escaped(out, "a1b2@host;tag=x-Y_z.9 ~!");
    CHECK(out == "call a1b2@host;tag=x-Y_z.9 ~!");

    out.clear();
    append_escaped(out, "id\n2026-01-01T00:00:00.000Z latchd[error] forged\r\x1b[2J");
    CHECK(out == "id\\x0a2026-01-01T00:00:00.000Z latchd[error] forged\\x0d\\x1b[2J");
    CHECK(out.find('\n') == std::string::npos);

    out.clear();
    append_escaped(out, std::string_view("\xe0\x00\x7f\\", 4));
    CHECK(out == "\\xe0\\x00\\x7f\\x5c");
}
