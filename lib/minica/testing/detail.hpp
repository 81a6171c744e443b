// Internal to the fixture's sources (not installed): what more than one of
// testing/*.cpp needs.
#pragma once

#include <optional>
#include <string>

#include "minica/certificate.hpp"

typedef struct ssl_st SSL;

namespace minica::testing::detail {

// Why one side of a TLS connection stopped: the certificate refusal recorded
// by minica's verify callback, else the first OpenSSL reason on the queue.
// Drains the queue.
std::string describe_failure(const SSL* ssl, int ssl_error);

// The certificate the peer presented, if any.
std::optional<Certificate> peer_cert_of(const SSL* ssl);

}  // namespace minica::testing::detail
