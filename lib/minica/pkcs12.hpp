// PKCS#12 export: a certificate, its key and chain in one passphrase-protected
// file, for browsers, Windows, Java and macOS keychains.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "minica/certificate.hpp"
#include "minica/key.hpp"

namespace minica {

// PBKDF2-HMAC-SHA256 iterations for the key and certificate bags, and the
// iteration count of the SHA-256 MAC. OWASP's 2023 advice for PBKDF2-SHA256 is
// 600,000; PKCS#12 derives three times (key bag, certificate bag, MAC), so
// this stays fast enough to write or open interactively while being two
// orders of magnitude above OpenSSL's default of 2048.
inline constexpr int pkcs12_iterations = 200'000;

// DER PKCS#12 (PFX) holding `cert`, its `key` and `chain` (intermediates; the
// root is normally left out). Both bags are PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC
// and the MAC is HMAC-SHA256 (what Windows 10+, macOS, Java 11+ and every
// OpenSSL 3 read; no RC2 or 3DES). `friendly_name` labels the key and
// certificate. An empty passphrase or a key that does not match the
// certificate is Error(invalid_argument).
std::string to_pkcs12(const Certificate& cert, const PrivateKey& key, const std::vector<Certificate>& chain,
                      std::string_view passphrase, std::string_view friendly_name);

// What a PKCS#12 file holds: the certificate its key belongs to, the key,
// and the other certificates (the chain), in the file's order.
struct Pkcs12Contents {
    Certificate certificate;
    PrivateKey key;
    std::vector<Certificate> chain;
};
// True when `der` parses as a PKCS#12 (PFX) structure; no passphrase needed.
bool is_pkcs12(std::string_view der);
// Opens a DER PKCS#12 with its passphrase (its MAC checked). `source` names
// it in errors: Error(passphrase) for a wrong passphrase, Error(parse) for
// anything else, and for a file without a certificate and its key.
Pkcs12Contents from_pkcs12(std::string_view der, std::string_view passphrase, std::string_view source);

}  // namespace minica
