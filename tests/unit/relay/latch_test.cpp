// Latching decisions, table-driven: each row is a signalled address, a mode and a sequence of
// packets with the verdict each must get, then where media toward the endpoint must go.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "latch.hpp"

using namespace latch;

namespace {

constexpr uint64_t kStart = 1000;
constexpr uint64_t kWindow = 3000;
constexpr uint64_t kAfterWindow = kStart + kWindow + 1;

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

struct Step {
    const char* source;
    bool can_teach;
    uint64_t at_ms;
    Verdict verdict;
};

struct Row {
    const char* name;
    const char* expected;  // "" for none
    LatchMode mode;
    std::vector<Step> steps;
    const char* destination;  // "" for none
    LatchState state;
};

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::accept: return "accept";
        case Verdict::learned: return "learned";
        case Verdict::foreign: return "foreign";
        case Verdict::not_learnable: return "not_learnable";
    }
    return "?";
}

}  // namespace

TEST_CASE("latching decisions", "[latch]") {
    const auto sym = LatchMode::symmetric;
    const std::vector<Row> rows = {
        {"exact match confirms at once", "10.0.0.1:5000", sym,
         {{"10.0.0.1:5000", true, kStart + 10, Verdict::learned},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::foreign},
          {"10.0.0.1:5000", true, kStart + 30, Verdict::accept}},
         "10.0.0.1:5000", LatchState::confirmed},
        {"other port (symmetric NAT) is learned, then locked after the window", "10.0.0.1:5000", sym,
         {{"10.0.0.1:6000", true, kStart + 10, Verdict::learned},
          {"10.0.0.1:6000", true, kStart + 30, Verdict::accept},
          {"192.0.2.9:7000", true, kAfterWindow, Verdict::foreign},
          {"10.0.0.1:6000", true, kAfterWindow + 5, Verdict::accept}},
         "10.0.0.1:6000", LatchState::confirmed},
        {"other address is learned but a better match displaces it in the window", "10.0.0.1:5000", sym,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::learned},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::learned},
          {"192.0.2.9:7000", true, kStart + 30, Verdict::foreign},
          {"10.0.0.1:5000", true, kStart + 40, Verdict::learned},
          {"10.0.0.1:6000", true, kStart + 50, Verdict::foreign}},
         "10.0.0.1:5000", LatchState::confirmed},
        {"a source of equal rank does not displace the first", "10.0.0.1:5000", sym,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::learned},
          {"192.0.2.10:7000", true, kStart + 20, Verdict::foreign}},
         "192.0.2.9:7000", LatchState::learning},
        {"after the window a stranger cannot claim an unlearned stream", "10.0.0.1:5000", sym,
         {{"192.0.2.9:7000", true, kAfterWindow, Verdict::foreign}},
         "10.0.0.1:5000", LatchState::unlearned},
        {"after the window a late sender on the signalled address is learned", "10.0.0.1:5000", sym,
         {{"192.0.2.9:7000", true, kAfterWindow, Verdict::foreign},
          {"10.0.0.1:6000", true, kAfterWindow + 1, Verdict::learned},
          {"10.0.0.1:5000", true, kAfterWindow + 2, Verdict::foreign}},
         "10.0.0.1:6000", LatchState::confirmed},
        {"asymmetric never learns and accepts anyone", "10.0.0.1:5000", LatchMode::asymmetric,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::accept},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::accept},
          {"192.0.2.9:7000", true, kAfterWindow, Verdict::accept}},
         "10.0.0.1:5000", LatchState::unlearned},
        {"SSRC 0 or non-RTP never teaches, but passes from the learned source", "10.0.0.1:5000", sym,
         {{"10.0.0.1:6000", false, kStart + 10, Verdict::not_learnable},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::learned},
          {"10.0.0.1:6000", false, kStart + 30, Verdict::accept},
          {"10.0.0.1:5000", false, kStart + 40, Verdict::not_learnable}},
         "10.0.0.1:6000", LatchState::learning},
        {"a source with port 0 is never learned (nothing can be sent back to it)", "10.0.0.1:5000", sym,
         {{"10.0.0.1:0", true, kStart + 10, Verdict::not_learnable},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::learned}},
         "10.0.0.1:6000", LatchState::learning},
        {"without a signalled address nothing is sent until a source is learned", "", sym,
         {}, "", LatchState::unlearned},
        {"without a signalled address the first source is learned", "", sym,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::learned},
          {"192.0.2.10:7000", true, kStart + 20, Verdict::foreign}},
         "192.0.2.9:7000", LatchState::learning},
        {"0.0.0.0 (hold) is no destination", "0.0.0.0:5000", sym, {}, "", LatchState::unlearned},
    };

    for (const auto& row : rows) {
        SECTION(row.name) {
            Latch latch;
            Endpoint expected = row.expected[0] ? ep(row.expected) : Endpoint{};
            latch.reset(expected, row.mode, kStart, kWindow);
            for (std::size_t i = 0; i < row.steps.size(); ++i) {
                const Step& s = row.steps[i];
                INFO("step " << i << " from " << s.source);
                Verdict v = latch.on_packet(ep(s.source), s.can_teach, s.at_ms);
                CHECK(std::string(verdict_name(v)) == verdict_name(s.verdict));
            }
            const Endpoint* dest = latch.destination();
            if (row.destination[0]) {
                REQUIRE(dest != nullptr);
                CHECK(dest->to_string() == row.destination);
            } else {
                CHECK(dest == nullptr);
            }
            CHECK(static_cast<int>(latch.state()) == static_cast<int>(row.state));
        }
    }
}

TEST_CASE("re-signalling the same address keeps the learned source as a candidate", "[latch]") {
    Latch latch;
    latch.reset(ep("10.0.0.1:5000"), LatchMode::symmetric, kStart, kWindow);
    CHECK(latch.on_packet(ep("10.0.0.1:6000"), true, kStart + 1) == Verdict::learned);
    CHECK(latch.on_packet(ep("10.0.0.1:6000"), true, kAfterWindow) == Verdict::accept);
    CHECK(latch.state() == LatchState::confirmed);

    latch.reset(ep("10.0.0.1:5000"), LatchMode::symmetric, kAfterWindow + 10, kWindow);
    CHECK(latch.state() == LatchState::learning);
    CHECK(latch.destination()->to_string() == "10.0.0.1:6000");  // media keeps flowing
    CHECK(latch.on_packet(ep("10.0.0.1:5000"), true, kAfterWindow + 20) == Verdict::learned);
    CHECK(latch.state() == LatchState::confirmed);
}

TEST_CASE("re-signalling a new address forgets the learned source", "[latch]") {
    Latch latch;
    latch.reset(ep("10.0.0.1:5000"), LatchMode::symmetric, kStart, kWindow);
    CHECK(latch.on_packet(ep("10.0.0.1:5000"), true, kStart + 1) == Verdict::learned);
    latch.reset(ep("10.0.0.2:5002"), LatchMode::symmetric, kStart + 100, kWindow);
    CHECK(latch.state() == LatchState::unlearned);
    CHECK(latch.destination()->to_string() == "10.0.0.2:5002");
    CHECK(latch.on_packet(ep("10.0.0.1:5000"), true, kStart + 110) == Verdict::learned);
    CHECK(latch.on_packet(ep("10.0.0.2:5002"), true, kStart + 120) == Verdict::learned);
    CHECK(latch.destination()->to_string() == "10.0.0.2:5002");
}
