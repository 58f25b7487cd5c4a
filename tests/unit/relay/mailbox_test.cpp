// Mailbox under concurrent posting: every item arrives exactly once, in each producer's order,
// and the loop closes cleanly. Built into the ThreadSanitizer run in CI.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "mailbox.hpp"

using latch::Mailbox;

namespace {
struct Item {
    int producer;
    int sequence;
};
}  // namespace

TEST_CASE("mailbox delivers concurrent posts exactly once and in order", "[mailbox]") {
    constexpr int kProducers = 4;
    constexpr int kPerProducer = 20000;

    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    Mailbox<Item> box;
    std::vector<int> next(kProducers, 0);
    int received = 0;
    bool out_of_order = false;
    std::size_t largest_batch = 0;
    box.open(&loop, [&](std::vector<Item>& batch) {
        largest_batch = std::max(largest_batch, batch.size());
        for (const Item& item : batch) {
            if (item.sequence != next[item.producer]) out_of_order = true;
            next[item.producer] = item.sequence + 1;
            ++received;
        }
        if (received == kProducers * kPerProducer) box.close();
    });

    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&box, p] {
            for (int i = 0; i < kPerProducer; ++i) box.post(Item{p, i});
        });
    }
    // The mailbox's handle keeps the loop alive until the handler closes it.
    uv_run(&loop, UV_RUN_DEFAULT);
    for (auto& t : producers) t.join();

    CHECK(received == kProducers * kPerProducer);
    CHECK_FALSE(out_of_order);
    for (int p = 0; p < kProducers; ++p) CHECK(next[p] == kPerProducer);
    CHECK_FALSE(box.post(Item{0, 0}));  // closed
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("mailbox close delivers what was already queued", "[mailbox]") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    Mailbox<int> box;
    int sum = 0;
    box.open(&loop, [&](std::vector<int>& batch) {
        for (int v : batch) sum += v;
    });
    CHECK(box.post(1));
    CHECK(box.post(2));
    box.close();
    CHECK(sum == 3);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}
