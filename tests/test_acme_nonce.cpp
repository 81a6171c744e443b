#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "minica/acme/nonce.hpp"
#include "minica/detail/ossl.hpp"

using namespace minica;
using namespace minica::acme;

namespace {

// A nonce as a NonceBook writes it, for any epoch and counter (forgeries).
std::string forge(std::uint64_t epoch, std::uint64_t counter) {
    std::string raw;
    for (std::uint64_t v : {epoch, counter})
        for (int shift = 56; shift >= 0; shift -= 8) raw.push_back(static_cast<char>(v >> shift));
    return detail::base64url_encode(raw);
}

// Issues `n` nonces and drops them.
void burn(NonceBook& book, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) book.issue();
}

// 8 threads each try every nonce (from different starting points); returns how
// many times each was accepted.
std::vector<int> consume_from_8_threads(NonceBook& book, const std::vector<std::string>& nonces) {
    std::vector<std::atomic<int>> accepted(nonces.size());
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (std::size_t i = 0; i < nonces.size(); ++i) {
                std::size_t k = (i + t * nonces.size() / 8) % nonces.size();
                if (book.consume(nonces[k])) accepted[k].fetch_add(1);
            }
        });
    for (auto& th : threads) th.join();
    std::vector<int> out;
    for (auto& a : accepted) out.push_back(a.load());
    return out;
}

}  // namespace

TEST_CASE("a nonce is 22 base64url characters and is accepted once") {
    NonceBook book;
    std::string n = book.issue();
    CHECK(n.size() == 22);
    CHECK(detail::base64url_decode(n).has_value());
    CHECK(book.consume(n));
    CHECK_FALSE(book.consume(n));  // replay
    CHECK_FALSE(book.consume(n));
}

TEST_CASE("nonces are distinct and may be consumed in any order") {
    NonceBook book;
    std::vector<std::string> nonces;
    for (int i = 0; i < 100; ++i) nonces.push_back(book.issue());
    for (int i = 99; i >= 0; --i) CHECK(book.consume(nonces[static_cast<std::size_t>(i)]));
    for (const auto& n : nonces) CHECK_FALSE(book.consume(n));
}

TEST_CASE("a nonce from another book (another epoch: a restarted server) is refused") {
    NonceBook before, after;
    CHECK(before.epoch() != after.epoch());
    std::string n = before.issue();
    after.issue();
    CHECK_FALSE(after.consume(n));
    CHECK(before.consume(n));  // still good where it came from
}

TEST_CASE("a nonce with a counter not yet issued is refused, and accepted once it is") {
    NonceBook book(0x0123456789abcdefULL);
    CHECK_FALSE(book.consume(forge(book.epoch(), 1)));  // nothing issued yet
    std::string first = book.issue();
    CHECK(first == forge(book.epoch(), 1));
    std::string ahead = forge(book.epoch(), 2);
    CHECK_FALSE(book.consume(ahead));
    CHECK_FALSE(book.consume(forge(book.epoch(), ~std::uint64_t{0})));
    CHECK_FALSE(book.consume(forge(book.epoch(), 0)));  // counters start at 1
    CHECK(book.issue() == ahead);
    CHECK(book.consume(ahead));
    CHECK_FALSE(book.consume(ahead));
}

TEST_CASE("only the last `window` nonces are acceptable") {
    NonceBook book;
    std::string oldest = book.issue();
    std::string second = book.issue();
    burn(book, NonceBook::window - 2);  // `second` is now the oldest in the window
    CHECK(book.consume(second));
    book.issue();
    CHECK_FALSE(book.consume(oldest));  // window + 1 issued since
}

TEST_CASE("a ring slot reused by a later generation accepts the new nonce and not the old one") {
    NonceBook book;
    std::string old_nonce = book.issue();  // counter 1
    CHECK(book.consume(old_nonce));
    burn(book, NonceBook::window - 1);
    std::string same_slot = book.issue();  // counter window + 1: same bit as counter 1
    CHECK(book.consume(same_slot));
    CHECK_FALSE(book.consume(same_slot));
    CHECK_FALSE(book.consume(old_nonce));
}

TEST_CASE("malformed nonces are refused") {
    NonceBook book;
    std::string n = book.issue();
    CHECK_FALSE(book.consume(""));
    CHECK_FALSE(book.consume(n.substr(0, 21)));
    CHECK_FALSE(book.consume(n + "A"));
    CHECK_FALSE(book.consume(n + "=="));  // padding
    std::string plus = n;
    plus[3] = '+';  // base64, not base64url
    CHECK_FALSE(book.consume(plus));
    // 16 octets leave the last character's 4 low bits unused: they must be zero.
    std::string tail = n;
    tail.back() = tail.back() == 'A' ? 'B' : static_cast<char>(tail.back() + 1);
    CHECK_FALSE(book.consume(tail));
    CHECK_FALSE(book.consume(std::string(1000, 'A')));
    CHECK(book.consume(n));  // none of the above spent it
}

TEST_CASE("8 threads consuming the same nonces accept each exactly once") {
    NonceBook book;
    std::vector<std::string> nonces;
    for (int i = 0; i < 20000; ++i) nonces.push_back(book.issue());
    for (int count : consume_from_8_threads(book, nonces)) REQUIRE(count == 1);
}

TEST_CASE("8 threads consuming nonces across a ring generation boundary accept each exactly once") {
    NonceBook book;
    // Bits of generation 0 set, then nonces with counters 60001..80000 that
    // straddle counter 65536, where the slots come round again.
    for (int i = 0; i < 60000; ++i) book.consume(book.issue());
    std::vector<std::string> nonces;
    for (int i = 0; i < 20000; ++i) nonces.push_back(book.issue());
    for (int count : consume_from_8_threads(book, nonces)) REQUIRE(count == 1);
}

TEST_CASE("concurrent issue and consume: every nonce accepted by its one consumer") {
    NonceBook book;
    std::atomic<int> accepted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 5000; ++i) {  // 40,000 in all: within one window
                std::string n = book.issue();
                if (book.consume(n)) accepted.fetch_add(1);
                if (book.consume(n)) accepted.fetch_add(1000000);  // a replay must never pass
            }
        });
    for (auto& th : threads) th.join();
    CHECK(accepted.load() == 40000);
}
