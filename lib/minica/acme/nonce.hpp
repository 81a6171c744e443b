// ACME anti-replay nonces (RFC 8555 §6.5): a bounded book of the nonces a
// server process issued, each accepted once. Internal (not installed).
//
// A nonce is base64url(epoch[8] || counter[8]), 22 characters. The epoch is
// drawn at random when the book is made, so a restarted server refuses
// every nonce of its previous life (badNonce, and the client retries with
// the fresh nonce that answer carries, §6.5). The counter counts issue()
// calls; consume() accepts a nonce of this epoch whose counter was issued,
// is among the last `window` issued, and was not consumed before. What was
// consumed is one bit per counter in a ring of `window` bits, each 32-bit
// group tagged with the generation (counter / window) it holds, so a bit
// is reset lazily, by compare-and-swap, when its slot comes round again:
// no clean-up on issue, no lock, no allocation per nonce, 16 KiB in all.
//
// Deliberate choices:
// - Nonces are predictable (anyone holding one can write the next): they
//   stop replays, since a replayed JWS carries a nonce already spent, and a
//   new JWS needs the account key. A guessed nonce can only spend one that
//   another client will then have refused (and retry). Boulder encrypts its
//   counter to rule even that out; not worth a cipher per request here.
// - A client that holds a nonce while 65,536 others are issued gets
//   badNonce and retries; nonces do not expire by time.
//
// Several replicas (README): a NonceBook lives in one process, and a nonce
// is only good at the replica that issued it. A replica refuses the others'
// nonces (a different epoch), and a client retrying a badNonce would be sent
// to yet another replica by a round-robin balancer, so replicas need either
// (a) sticky routing: the balancer sends a client to one replica for the
// whole exchange, by source address (ACME clients keep no cookies), and the
// replica's random epoch makes a nonce from another replica fail cleanly;
// or (b) Boulder's scheme: the epoch doubles as the replica's prefix, and a
// replica that receives a nonce with another's prefix asks that replica to
// consume it; or (c) one shared store consuming nonces atomically (a row
// deleted by `DELETE ... RETURNING`, a Redis `DEL`), at one write per
// request. minica serve is a single process and uses none of these.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace minica::acme {

class NonceBook {
public:
    // How many of the most recent nonces stay acceptable.
    static constexpr std::uint64_t window = std::uint64_t{1} << 16;

    // A random epoch from the OS CSPRNG (Error(crypto) when none is drawn).
    NonceBook();
    // A chosen epoch (tests; a replica given its prefix).
    explicit NonceBook(std::uint64_t epoch) noexcept : epoch_(epoch) {}
    NonceBook(const NonceBook&) = delete;
    NonceBook& operator=(const NonceBook&) = delete;

    // A fresh nonce. Thread-safe.
    std::string issue();
    // Whether `nonce` is one of this book's, recent, and never consumed
    // before; marks it consumed. False for anything malformed (wrong length,
    // not strict base64url). Thread-safe: of concurrent calls with one
    // nonce, at most one returns true.
    bool consume(std::string_view nonce);

    std::uint64_t epoch() const noexcept { return epoch_; }

private:
    static constexpr std::uint64_t group_bits = 32;  // low half of a slot; the high half is the generation
    static constexpr std::size_t slots = window / group_bits;

    std::uint64_t epoch_;
    std::atomic<std::uint64_t> issued_{0};  // the last counter issued; counters start at 1
    std::array<std::atomic<std::uint64_t>, slots> seen_{};
};

}  // namespace minica::acme
