#include <openssl/rand.h>

#include "minica/acme/resources.hpp"
#include "minica/acme/store.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/text.hpp"

namespace minica::acme {

namespace {
std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw Error(ErrorKind::crypto, "RAND_bytes failed");
    return out;
}
}  // namespace

EabKey new_eab_key(AcmeStore& store, std::optional<std::string> kid) {
    EabKey k;
    if (kid) {
        // What clients pass on a command line and in a JSON header: no
        // quoting, no separators (uacme splits KEYID:KEY on the colon).
        const bool ok = !kid->empty() && kid->size() <= 64 && kid->front() != '-' &&
                        kid->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
                            std::string::npos;
        if (!ok) throw Error(ErrorKind::invalid_argument, "EAB key id " + quote(*kid) + ": 1 to 64 of A-Z a-z 0-9 _ -, not starting with -");
        k.kid = *kid;
    } else {
        // Never starting with '-': on a command line (certbot --eab-kid ID)
        // it would read as an option.
        do k.kid = new_token();
        while (k.kid.front() == '-');
    }
    do k.hmac_key = random_bytes(32);
    while (detail::base64url_encode(k.hmac_key).front() == '-');
    k.created_at = now();
    store.insert_eab(k);
    return k;
}

}  // namespace minica::acme
