#include "minica/detail/ossl.hpp"

#include <climits>

#include "minica/error.hpp"

namespace minica::detail {

const EVP_MD* digest(const char* name) {
    static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    static EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
    static EVP_MD* sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    std::string_view n(name);
    const EVP_MD* md = n == "SHA256" ? sha256 : n == "SHA384" ? sha384 : n == "SHA1" ? sha1 : nullptr;
    if (md == nullptr) throw_openssl(ErrorKind::crypto, "fetching digest " + std::string(n));
    return md;
}

unsigned digest_into(const char* name, std::string_view data, unsigned char* out) {
    unsigned len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, digest(name), nullptr) != 1)
        throw_openssl(ErrorKind::crypto, std::string("computing ") + name);
    return len;
}

BioPtr mem_bio(std::string_view data) {
    if (data.size() > INT_MAX) throw Error(ErrorKind::invalid_argument, "input too large");
    BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio) throw_openssl(ErrorKind::crypto, "allocating a memory BIO");
    return bio;
}

std::string bio_string(BIO* bio) {
    char* p = nullptr;
    long n = BIO_get_mem_data(bio, &p);
    return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace minica::detail
