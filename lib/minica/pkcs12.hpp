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

}  // namespace minica
