#include "minica/acme/nonce.hpp"

#include <openssl/rand.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"

namespace minica::acme {

namespace {

constexpr std::size_t nonce_octets = 16;  // epoch[8] || counter[8]
constexpr std::size_t nonce_chars = 22;   // base64url of 16 octets, unpadded

void put_be64(std::uint64_t v, unsigned char* out) {
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<unsigned char>(v);
}

std::uint64_t get_be64(std::string_view in) {
    std::uint64_t v = 0;
    for (unsigned char c : in.substr(0, 8)) v = v << 8 | c;
    return v;
}

std::uint64_t random_epoch() {
    unsigned char b[8];
    if (RAND_bytes(b, sizeof b) != 1) throw_openssl(ErrorKind::crypto, "drawing a nonce epoch");
    return get_be64(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
}

}  // namespace

NonceBook::NonceBook() : epoch_(random_epoch()) {}

std::string NonceBook::issue() {
    std::uint64_t counter = issued_.fetch_add(1) + 1;
    unsigned char raw[nonce_octets];
    put_be64(epoch_, raw);
    put_be64(counter, raw + 8);
    return detail::base64url_encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

bool NonceBook::consume(std::string_view nonce) {
    if (nonce.size() != nonce_chars) return false;  // before decoding: no work for junk
    auto raw = detail::base64url_decode(nonce);
    if (!raw || raw->size() != nonce_octets || get_be64(*raw) != epoch_) return false;
    std::uint64_t counter = get_be64(std::string_view(*raw).substr(8));
    std::uint64_t issued = issued_.load();
    if (counter == 0 || counter > issued || issued - counter >= window) return false;

    // The slot's generation only grows, and a bit is set only under the
    // generation it belongs to, so the successful compare-and-swap is the
    // one moment a counter is consumed: nobody can consume it again. An
    // older generation in the slot is left-over bits, replaced wholesale; a
    // newer one means this counter fell out of the window meanwhile. (The
    // generation is 32 bits: past 2^48 issues it wraps and every nonce is
    // refused, never accepted twice.)
    auto& slot = seen_[(counter / group_bits) % slots];
    const std::uint64_t generation = (counter / window) & 0xffffffffu;
    const std::uint64_t bit = std::uint64_t{1} << (counter % group_bits);
    std::uint64_t current = slot.load();
    for (;;) {
        std::uint64_t held = current >> group_bits;
        std::uint64_t next;
        if (held > generation) return false;
        if (held == generation) {
            if (current & bit) return false;  // replay
            next = current | bit;
        } else {
            next = generation << group_bits | bit;
        }
        if (slot.compare_exchange_weak(current, next)) return true;
    }
}

}  // namespace minica::acme
