// PrivateKey::from_pem, without a passphrase and with "fuzz", differentially
// against OpenSSL's PEM_read_bio_PrivateKey with the same passphrase.
//
// The first byte picks how the rest is read: 0 (mod 5) as PEM text as it is;
// 1-4 as DER, wrapped in a PEM block labelled PRIVATE KEY, ENCRYPTED PRIVATE
// KEY, EC PRIVATE KEY or RSA PRIVATE KEY, so that mutations reach the DER
// (minica's own PKCS#8 reader for EC and Ed25519 keys, key.cpp pkey_from_pkcs8)
// and not only the base64 around it.
// Promises: a key minica accepts, OpenSSL reads too, with the same public key
// (EVP_PKEY_eq); the key survives its accessors and a PEM round trip.
#include <cstring>
#include <optional>

#include <openssl/pem.h>

#include "common.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/key.hpp"

namespace {

constexpr std::string_view kPassphrase = "fuzz";

// OpenSSL's passphrase callback: "fuzz" when `u` is set, else none (never a prompt).
int passphrase_cb(char* buf, int size, int, void* u) {
    if (u == nullptr) return 0;
    auto len = static_cast<int>(kPassphrase.size());
    if (len > size) return 0;
    std::memcpy(buf, kPassphrase.data(), kPassphrase.size());
    return len;
}

std::string pem_text(const std::uint8_t* data, std::size_t size) {
    static constexpr const char* labels[] = {"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY",
                                             "RSA PRIVATE KEY"};
    std::string_view rest = fuzz::as_text(data + 1, size - 1);
    unsigned mode = data[0] % 5;
    if (mode == 0) return std::string(rest);
    return minica::detail::pem_encode(labels[mode - 1], rest);
}

void check(const std::string& pem, std::optional<std::string_view> passphrase) {
    std::optional<minica::PrivateKey> key;
    fuzz::attempt("PrivateKey::from_pem", [&] { key = minica::PrivateKey::from_pem(pem, "input", passphrase); });

    minica::detail::BioPtr bio = minica::detail::mem_bio(pem);
    static char with_passphrase;
    minica::detail::Ptr<EVP_PKEY> theirs(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_cb, passphrase ? &with_passphrase : nullptr));
    fuzz::clear_openssl_errors();
    if (!key) return;

    std::string with = passphrase ? " (with the passphrase)" : " (without a passphrase)";
    fuzz::require(theirs != nullptr, "minica accepted a key PEM_read_bio_PrivateKey refuses" + with);
    fuzz::require(EVP_PKEY_eq(key->native(), theirs.get()) == 1,
                  "minica's key and OpenSSL's differ (EVP_PKEY_eq)" + with);
    fuzz::attempt("accessors", [&] {
        (void)key->bits();
        (void)key->public_key_der();
        (void)key->spki_pin();
    });
    fuzz::attempt("to_pem() round trip", [&] {
        minica::PrivateKey again = minica::PrivateKey::from_pem(key->to_pem());
        fuzz::require(again.type() == key->type() && again.same_public_key(key->native()),
                      "from_pem(to_pem()) is not the same key");
    });
    fuzz::clear_openssl_errors();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string pem = pem_text(data, size);
    check(pem, std::nullopt);
    check(pem, kPassphrase);
    return 0;
}
