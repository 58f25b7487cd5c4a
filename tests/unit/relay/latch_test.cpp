// Latching decisions, table-driven: each row is a signalled address, a mode and a sequence of
// packets with the verdict each must get, then where media toward the endpoint must go.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "latch.hpp"

using namespace latch;

namespace {

constexpr uint64_t kStart = 1000;
constexpr uint64_t kWindow = 3000;
constexpr uint64_t kAfterWindow = kStart + kWindow + 1;

Endpoint ep(const char* text) {
    return *Endpoint::parse(text);
}

struct Step {
    const char* source;
    bool can_teach;
    uint64_t at_ms;
    Verdict verdict;
};

struct Row {
    const char* name;
    const char* expected;  // "" for none
    LatchPolicy policy;
    std::vector<Step> steps;
    const char* destination;  // "" for none
    LatchState state;
};

PacketFacts rtp(uint16_t seq, uint32_t ssrc = 0x1234) {
    return PacketFacts{ssrc != 0, true, ssrc, seq};
}

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::accept:
            return "accept";
        case Verdict::learned:
            return "learned";
        case Verdict::foreign:
            return "foreign";
        case Verdict::not_learnable:
            return "not_learnable";
        case Verdict::unproven:
            return "unproven";
    }
    return "?";
}

}  // namespace

TEST_CASE("latching decisions", "[latch]") {
    const LatchPolicy sym;
    const LatchPolicy asym{LearningMode::heuristic, true, false, false};
    const LatchPolicy immediate{LearningMode::immediate, false, false, false};
    const LatchPolicy off{LearningMode::off, false, false, false};
    const LatchPolicy strict{LearningMode::heuristic, false, true, false};
    const LatchPolicy strict_asym{LearningMode::heuristic, true, true, false};
    const LatchPolicy handover{LearningMode::heuristic, false, false, true};
    const std::vector<Row> rows = {
        {"exact match confirms at once",
         "10.0.0.1:5000",
         sym,
         {{"10.0.0.1:5000", true, kStart + 10, Verdict::learned},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::foreign},
          {"10.0.0.1:5000", true, kStart + 30, Verdict::accept}},
         "10.0.0.1:5000",
         LatchState::confirmed},
        {"other port (symmetric NAT) is learned, then locked after the window",
         "10.0.0.1:5000",
         sym,
         {{"10.0.0.1:6000", true, kStart + 10, Verdict::learned},
          {"10.0.0.1:6000", true, kStart + 30, Verdict::accept},
          {"192.0.2.9:7000", true, kAfterWindow, Verdict::foreign},
          {"10.0.0.1:6000", true, kAfterWindow + 5, Verdict::accept}},
         "10.0.0.1:6000",
         LatchState::confirmed},
        {"one packet from another address teaches nothing; better matches win in the window",
         "10.0.0.1:5000",
         sym,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::unproven},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::learned},
          {"192.0.2.9:7000", true, kStart + 30, Verdict::foreign},
          {"10.0.0.1:5000", true, kStart + 40, Verdict::learned},
          {"10.0.0.1:6000", true, kStart + 50, Verdict::foreign}},
         "10.0.0.1:5000",
         LatchState::confirmed},
        {"a stranger spraying many sources before the phone starts gets nowhere",
         "10.0.0.1:5000",
         sym,
         {{"192.0.2.9:7000", true, kStart + 1, Verdict::unproven},
          {"192.0.2.9:7002", true, kStart + 2, Verdict::unproven},
          {"192.0.2.9:7004", true, kStart + 3, Verdict::unproven},
          {"192.0.2.10:7000", true, kStart + 40, Verdict::unproven},
          {"10.0.0.1:5000", true, kStart + 50, Verdict::learned}},
         "10.0.0.1:5000",
         LatchState::confirmed},
        {"after the window a stranger cannot claim an unlearned stream",
         "10.0.0.1:5000",
         sym,
         {{"192.0.2.9:7000", true, kAfterWindow, Verdict::foreign}},
         "10.0.0.1:5000",
         LatchState::unlearned},
        {"after the window a late sender on the signalled address is learned",
         "10.0.0.1:5000",
         sym,
         {{"192.0.2.9:7000", true, kAfterWindow, Verdict::foreign},
          {"10.0.0.1:6000", true, kAfterWindow + 1, Verdict::learned},
          {"10.0.0.1:5000", true, kAfterWindow + 2, Verdict::foreign}},
         "10.0.0.1:6000",
         LatchState::confirmed},
        {"asymmetric never learns and accepts anyone",
         "10.0.0.1:5000",
         asym,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::accept},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::accept},
          {"192.0.2.9:7000", true, kAfterWindow, Verdict::accept}},
         "10.0.0.1:5000",
         LatchState::unlearned},
        {"SSRC 0 or non-RTP never teaches, but passes from the learned source",
         "10.0.0.1:5000",
         sym,
         {{"10.0.0.1:6000", false, kStart + 10, Verdict::not_learnable},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::learned},
          {"10.0.0.1:6000", false, kStart + 30, Verdict::accept},
          {"10.0.0.1:5000", false, kStart + 40, Verdict::not_learnable}},
         "10.0.0.1:6000",
         LatchState::learning},
        {"a source with port 0 is never learned (nothing can be sent back to it)",
         "10.0.0.1:5000",
         sym,
         {{"10.0.0.1:0", true, kStart + 10, Verdict::not_learnable},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::learned}},
         "10.0.0.1:6000",
         LatchState::learning},
        {"without a signalled address nothing is sent until a source is learned",
         "",
         sym,
         {},
         "",
         LatchState::unlearned},
        {"without a signalled address one packet teaches nothing",
         "",
         sym,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::unproven}},
         "",
         LatchState::unlearned},
        {"0.0.0.0 (hold) is no destination", "0.0.0.0:5000", sym, {}, "", LatchState::unlearned},
        {"immediate locks the very first source",
         "10.0.0.1:5000",
         immediate,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::learned},
          {"10.0.0.1:5000", true, kStart + 20, Verdict::foreign}},
         "192.0.2.9:7000",
         LatchState::confirmed},
        {"learning off accepts anyone and sends where signalled",
         "10.0.0.1:5000",
         off,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::accept},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::accept}},
         "10.0.0.1:5000",
         LatchState::unlearned},
        {"strict source refuses strangers even in the window",
         "10.0.0.1:5000",
         strict,
         {{"192.0.2.9:7000", true, kStart + 10, Verdict::foreign},
          {"10.0.0.1:6000", true, kStart + 20, Verdict::learned}},
         "10.0.0.1:6000",
         LatchState::learning},
        {"strict asymmetric accepts only the signalled endpoint",
         "10.0.0.1:5000",
         strict_asym,
         {{"10.0.0.1:6000", true, kStart + 10, Verdict::foreign},
          {"10.0.0.1:5000", true, kStart + 20, Verdict::accept}},
         "10.0.0.1:5000",
         LatchState::unlearned},
        {"media handover lets any new source take over (unsafe)",
         "10.0.0.1:5000",
         handover,
         {{"10.0.0.1:5000", true, kStart + 10, Verdict::learned},
          {"192.0.2.9:7000", true, kAfterWindow, Verdict::learned}},
         "192.0.2.9:7000",
         LatchState::confirmed},
    };

    for (const auto& row : rows) {
        SECTION(row.name) {
            Latch latch;
            Endpoint expected = row.expected[0] ? ep(row.expected) : Endpoint{};
            latch.reset(expected, row.policy, kStart, kWindow);
            for (std::size_t i = 0; i < row.steps.size(); ++i) {
                const Step& s = row.steps[i];
                INFO("step " << i << " from " << s.source);
                // Each source is its own stream (its own SSRC): rebinding has a test of its own.
                auto ssrc = static_cast<uint32_t>(std::hash<std::string>{}(s.source) | 1u);
                PacketFacts facts{s.can_teach, true, s.can_teach ? ssrc : 0u,
                                  static_cast<uint16_t>(i + 1)};
                Verdict v = latch.on_packet(ep(s.source), facts, s.at_ms);
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
    latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
    CHECK(latch.on_packet(ep("10.0.0.1:6000"), rtp(1), kStart + 1) == Verdict::learned);
    CHECK(latch.on_packet(ep("10.0.0.1:6000"), rtp(2), kAfterWindow) == Verdict::accept);
    CHECK(latch.state() == LatchState::confirmed);

    latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kAfterWindow + 10, kWindow);
    CHECK(latch.state() == LatchState::learning);
    CHECK(latch.destination()->to_string() == "10.0.0.1:6000");  // media keeps flowing
    CHECK(latch.on_packet(ep("10.0.0.1:5000"), rtp(3), kAfterWindow + 20) == Verdict::learned);
    CHECK(latch.state() == LatchState::confirmed);
}

TEST_CASE("re-signalling a new address forgets the learned source", "[latch]") {
    Latch latch;
    latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
    CHECK(latch.on_packet(ep("10.0.0.1:5000"), rtp(1), kStart + 1) == Verdict::learned);
    latch.reset(ep("10.0.0.2:5002"), LatchPolicy{}, kStart + 100, kWindow);
    CHECK(latch.state() == LatchState::unlearned);
    CHECK(latch.destination()->to_string() == "10.0.0.2:5002");
    // The old source is now a stranger to prove itself, and the new address wins at once.
    CHECK(latch.on_packet(ep("10.0.0.1:5000"), rtp(2), kStart + 110) == Verdict::unproven);
    CHECK(latch.on_packet(ep("10.0.0.2:5002"), rtp(3), kStart + 120) == Verdict::learned);
    CHECK(latch.destination()->to_string() == "10.0.0.2:5002");
}

TEST_CASE("a NAT rebinding is followed, a stranger copying the stream is not", "[latch]") {
    auto confirmed = [](const LatchPolicy& policy) {
        Latch latch;
        latch.reset(ep("10.0.0.1:5000"), policy, kStart, kWindow);
        REQUIRE(latch.on_packet(ep("10.0.0.1:6000"), rtp(10), kStart + 1) == Verdict::learned);
        REQUIRE(latch.on_packet(ep("10.0.0.1:6000"), rtp(11), kAfterWindow) == Verdict::accept);
        REQUIRE(latch.state() == LatchState::confirmed);
        return latch;
    };
    SECTION("same address, same SSRC, next sequence numbers, new port: followed") {
        Latch latch = confirmed(LatchPolicy{});
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), rtp(12), kAfterWindow + 1) == Verdict::learned);
        CHECK(latch.destination()->to_string() == "10.0.0.1:7000");
        // A late packet of the old mapping (behind the stream) does not move it back.
        CHECK(latch.on_packet(ep("10.0.0.1:6000"), rtp(11), kAfterWindow + 2) == Verdict::foreign);
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), rtp(13), kAfterWindow + 3) == Verdict::accept);
    }
    SECTION("another address copying SSRC and sequence: refused") {
        Latch latch = confirmed(LatchPolicy{});
        for (uint16_t seq = 12; seq < 40; ++seq) {
            CHECK(latch.on_packet(ep("127.0.0.9:6000"), rtp(seq), kAfterWindow + seq) ==
                  Verdict::foreign);
        }
        CHECK(latch.destination()->to_string() == "10.0.0.1:6000");
    }
    SECTION("another SSRC, a sequence far ahead or behind, RTCP: refused") {
        Latch latch = confirmed(LatchPolicy{});
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), rtp(12, 0x9999), kAfterWindow + 1) ==
              Verdict::foreign);
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), rtp(11 + Latch::kRebindSeqWindow + 1),
                              kAfterWindow + 2) == Verdict::foreign);
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), rtp(11), kAfterWindow + 3) == Verdict::foreign);
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), PacketFacts{true, false, 0x1234, 0},
                              kAfterWindow + 4) == Verdict::foreign);
    }
    SECTION("a rebinding inside the learning window is followed too") {
        Latch latch;
        latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
        REQUIRE(latch.on_packet(ep("10.0.0.1:6000"), rtp(10), kStart + 1) == Verdict::learned);
        REQUIRE(latch.state() == LatchState::learning);
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), rtp(11), kStart + 2) == Verdict::learned);
        CHECK(latch.on_packet(ep("10.0.0.1:8000"), rtp(50, 0x9999), kStart + 3) ==
              Verdict::foreign);
        CHECK(latch.destination()->to_string() == "10.0.0.1:7000");
    }
    SECTION("strict source never rebinds") {
        Latch latch = confirmed(LatchPolicy{LearningMode::heuristic, false, true, false});
        CHECK(latch.on_packet(ep("10.0.0.1:7000"), rtp(12), kAfterWindow + 1) == Verdict::foreign);
    }
}

TEST_CASE("a source off the signalled address is learned once it has proven a steady stream",
          "[latch][probation]") {
    Latch latch;
    latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
    // A phone behind a NAT that announced its private address: 20 ms apart, one SSRC.
    CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(100), kStart + 20) == Verdict::unproven);
    CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(101), kStart + 40) == Verdict::unproven);
    CHECK(latch.destination()->to_string() == "10.0.0.1:5000");  // nothing sent to it yet
    CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(102), kStart + 60) == Verdict::learned);
    CHECK(latch.destination()->to_string() == "192.0.2.9:7000");
    CHECK(latch.state() == LatchState::learning);
    // Still displaced by the signalled address within the window.
    CHECK(latch.on_packet(ep("10.0.0.1:5000"), rtp(7, 0x77), kStart + 80) == Verdict::learned);
    CHECK(latch.state() == LatchState::confirmed);
}

TEST_CASE("bursts, changing SSRCs and jumps in sequence prove nothing", "[latch][probation]") {
    SECTION("a burst: three packets within a millisecond") {
        Latch latch;
        latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
        for (uint16_t seq = 1; seq <= 20; ++seq) {
            CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(seq), kStart + 5) == Verdict::unproven);
        }
        CHECK(latch.state() == LatchState::unlearned);
    }
    SECTION("a new SSRC with every packet, paced like media") {
        Latch latch;
        latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
        for (uint16_t i = 1; i <= 20; ++i) {
            CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(i, 0x5000u + i), kStart + 20u * i) ==
                  Verdict::unproven);
        }
        CHECK(latch.state() == LatchState::unlearned);
    }
    SECTION("sequence numbers that jump") {
        Latch latch;
        latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
        for (uint16_t i = 1; i <= 20; ++i) {
            CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(static_cast<uint16_t>(i * 1000)),
                                  kStart + 20u * i) == Verdict::unproven);
        }
        CHECK(latch.state() == LatchState::unlearned);
    }
    SECTION("a stranger on many ports cannot push out a phone halfway through its proof") {
        Latch latch;
        latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
        CHECK(latch.on_packet(ep("198.51.100.7:4000"), rtp(1, 0xAA), kStart + 20) ==
              Verdict::unproven);
        CHECK(latch.on_packet(ep("198.51.100.7:4000"), rtp(2, 0xAA), kStart + 40) ==
              Verdict::unproven);
        for (uint16_t port = 9000; port < 9050; ++port) {
            CHECK(latch.on_packet(ep(("192.0.2.9:" + std::to_string(port)).c_str()),
                                  rtp(port, port), kStart + 41) == Verdict::unproven);
        }
        CHECK(latch.on_packet(ep("198.51.100.7:4000"), rtp(3, 0xAA), kStart + 60) ==
              Verdict::learned);
    }
}

TEST_CASE("RTCP follows the address its RTP stream learned, in the window or long after",
          "[latch][rtcp]") {
    const PacketFacts rtcp{true, false, 0x1234, 0, true};
    Latch rtp_latch, rtcp_latch;
    // The phone announces 10.0.0.1 but sends from 192.0.2.9 (another address of the same host).
    rtp_latch.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
    rtcp_latch.reset(ep("10.0.0.1:5001"), LatchPolicy{}, kStart, kWindow);
    // An early RTCP packet, before its RTP has proven anything: not learned.
    CHECK(rtcp_latch.on_packet(ep("192.0.2.9:7001"), rtcp, kStart + 5, &rtp_latch) ==
          Verdict::unproven);
    for (uint16_t seq = 1; seq <= 3; ++seq)
        rtp_latch.on_packet(ep("192.0.2.9:7000"), rtp(seq), kStart + 20u * seq);
    REQUIRE(rtp_latch.destination()->to_string() == "192.0.2.9:7000");
    CHECK(rtp_latch.on_packet(ep("192.0.2.9:7000"), rtp(4), kAfterWindow) == Verdict::accept);
    REQUIRE(rtp_latch.state() == LatchState::confirmed);
    // Its reports start 5 s into the call, after the window: learned from the RTP's address.
    CHECK(rtcp_latch.on_packet(ep("192.0.2.9:7001"), rtcp, kStart + 5000, &rtp_latch) ==
          Verdict::learned);
    CHECK(rtcp_latch.state() == LatchState::confirmed);
    CHECK(rtcp_latch.destination()->to_string() == "192.0.2.9:7001");
    // A stranger's RTCP is refused, before and after.
    CHECK(rtcp_latch.on_packet(ep("203.0.113.66:7001"), rtcp, kStart + 5100, &rtp_latch) ==
          Verdict::foreign);
    // Another port of the same address does not move a confirmed RTCP stream.
    CHECK(rtcp_latch.on_packet(ep("192.0.2.9:7003"), rtcp, kStart + 5200, &rtp_latch) ==
          Verdict::foreign);

    SECTION("a stranger's RTCP before the phone's RTP is not learned") {
        Latch fresh_rtp, fresh_rtcp;
        fresh_rtp.reset(ep("10.0.0.1:5000"), LatchPolicy{}, kStart, kWindow);
        fresh_rtcp.reset(ep("10.0.0.1:5001"), LatchPolicy{}, kStart, kWindow);
        for (int i = 0; i < 10; ++i) {
            CHECK(fresh_rtcp.on_packet(ep("203.0.113.66:7001"), rtcp, kStart + 20u * i,
                                       &fresh_rtp) == Verdict::unproven);
        }
        CHECK(fresh_rtcp.state() == LatchState::unlearned);
    }
}

TEST_CASE(
    "where the phone may still send from its signalled address, a stranger must keep its stream up "
    "longer",
    "[latch][probation]") {
    for (const char* signalled : {"203.0.113.5:5000", "127.0.0.1:5000", "[2001:db8::5]:5000"}) {
        INFO(signalled);
        SECTION(std::string("the phone arrives in time: ") + signalled) {
            Latch latch;
            latch.reset(ep(signalled), LatchPolicy{}, kStart, kWindow);
            // A steady, well-paced stream from elsewhere, for most of a second: still unproven.
            for (uint16_t seq = 1; seq <= 40; ++seq) {
                CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(seq), kStart + 20u * seq) ==
                      Verdict::unproven);
            }
            CHECK(latch.destination()->to_string() == signalled);
            CHECK(latch.on_packet(ep(signalled), rtp(1, 0x77), kStart + 820) == Verdict::learned);
            CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(41), kStart + 840) == Verdict::foreign);
        }
        SECTION(std::string("the stranger is the phone after all: ") + signalled) {
            Latch latch;
            latch.reset(ep(signalled), LatchPolicy{}, kStart, kWindow);
            uint16_t seq = 1;
            for (uint64_t t = 20; t < Latch::kPatientProofMs + 20; t += 20, ++seq) {
                CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(seq), kStart + t) ==
                      Verdict::unproven);
            }
            CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(seq),
                                  kStart + Latch::kPatientProofMs + 20) == Verdict::learned);
            CHECK(latch.destination()->to_string() == "192.0.2.9:7000");
        }
    }
    SECTION("a short learning window shortens the wait to a third of it") {
        Latch latch;
        latch.reset(ep("203.0.113.5:5000"), LatchPolicy{}, kStart, 300);
        CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(1), kStart + 10) == Verdict::unproven);
        CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(2), kStart + 60) == Verdict::unproven);
        CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(3), kStart + 110) == Verdict::learned);
    }
}

TEST_CASE("a source on the SIP message's address ranks with the signalled address", "[latch]") {
    Latch latch;
    // The SDP names 203.0.113.5, the INVITE came from 198.51.100.20 (a host with two addresses).
    latch.reset(ep("203.0.113.5:5000"), LatchPolicy{}, kStart, kWindow, ep("198.51.100.20:5060"));
    CHECK(latch.on_packet(ep("192.0.2.9:7000"), rtp(1, 0x99), kStart + 5) == Verdict::unproven);
    CHECK(latch.on_packet(ep("198.51.100.20:40000"), rtp(1), kStart + 10) == Verdict::learned);
    CHECK(latch.destination()->to_string() == "198.51.100.20:40000");
    CHECK(latch.state() == LatchState::learning);
    // The signalled address itself still wins in the window.
    CHECK(latch.on_packet(ep("203.0.113.5:5000"), rtp(1, 0x55), kStart + 20) == Verdict::learned);
    CHECK(latch.state() == LatchState::confirmed);

    SECTION("a late sender there is learned after the window, as one on the signalled address") {
        Latch late;
        late.reset(ep("203.0.113.5:5000"), LatchPolicy{}, kStart, kWindow,
                   ep("198.51.100.20:5060"));
        CHECK(late.on_packet(ep("198.51.100.20:40000"), rtp(1), kAfterWindow) == Verdict::learned);
        CHECK(late.state() == LatchState::confirmed);
    }
}
