#include "minica/detail/ossl.hpp"

#include <climits>

#include "minica/error.hpp"

namespace minica::detail {

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
