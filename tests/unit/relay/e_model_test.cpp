// The E-model against G.107's published MOS-R mapping and G.113's loss figures.
#include "e_model.hpp"

#include <catch2/catch.hpp>

using namespace latch;

TEST_CASE("R maps to MOS as G.107 Annex B tabulates it", "[quality][emodel]") {
    CHECK(mos_from_r(93.2) == Approx(4.41).margin(0.005));
    CHECK(mos_from_r(90) == Approx(4.34).margin(0.005));
    CHECK(mos_from_r(80) == Approx(4.02).margin(0.01));
    CHECK(mos_from_r(70) == Approx(3.60).margin(0.005));
    CHECK(mos_from_r(60) == Approx(3.10).margin(0.005));
    CHECK(mos_from_r(50) == Approx(2.58).margin(0.005));
    CHECK(mos_from_r(-5) == 1);
    CHECK(mos_from_r(120) == 4.5);
}

TEST_CASE("a clean G.711 link scores as G.107's defaults do, less packetisation",
          "[quality][emodel]") {
    Impairments clean;
    CHECK(effective_delay_ms(clean) == Approx(20));
    CHECK(r_factor(clean) == Approx(93.2 - 0.48));
    CHECK(mos_x10(clean) == 44);
}

TEST_CASE("random loss impairs G.711 as G.113's Bpl says", "[quality][emodel]") {
    // Ie-eff = 95 * Ppl / (Ppl + 25.1): 2 % loss costs 7.0, 5 % costs 15.8.
    Impairments two;
    two.loss_percent = 2;
    CHECK(r_factor(two) == Approx(93.2 - 0.48 - 95 * 2 / 27.1).margin(0.01));
    Impairments five;
    five.loss_percent = 5;
    CHECK(r_factor(five) == Approx(93.2 - 0.48 - 95 * 5 / 30.1).margin(0.01));
    CHECK(mos_x10(five) <= 39);
    Impairments all;
    all.loss_percent = 100;
    CHECK(mos_x10(all) < 20);
    // G.729 starts lower and suffers loss more.
    Impairments g729;
    g729.codec = codec_impairment(18);
    CHECK(r_factor(g729) == Approx(93.2 - 0.48 - 11));
    g729.loss_percent = 5;
    CHECK(r_factor(g729) < r_factor(five));
}

TEST_CASE("delay costs little until 177.3 ms one way, then much more", "[quality][emodel]") {
    auto r_at = [](double rtt_ms) {
        Impairments in;
        in.rtt_ms = rtt_ms;
        return r_factor(in);
    };
    // One way 150 ms (RTT 260 plus the 20 ms frame): Id 3.6.
    CHECK(93.2 - r_at(260) == Approx(3.6).margin(0.01));
    // One way 300 ms: Id = 7.2 + 0.11 * 122.7 = 20.7.
    CHECK(93.2 - r_at(560) == Approx(20.7).margin(0.01));
    // Jitter counts twice, as the buffer that absorbs it.
    Impairments jittery;
    jittery.jitter_ms = 30;
    CHECK(effective_delay_ms(jittery) == Approx(80));
    CHECK(r_factor(jittery) < r_factor(Impairments{}));
}
