// libcurl against the fixture's loopback HTTPS server: the CA, the client
// certificate and its key all handed to curl from memory (CURLOPT_*_BLOB,
// curl >= 7.71), so nothing touches the disk.
#include <iostream>
#include <string>

#include <curl/curl.h>

#include <minica/testing.hpp>

namespace mt = minica::testing;

namespace {

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

struct Result {
    CURLcode code;
    long status;
    std::string body;
};

// GET url, trusting only `ca_pem`; with a client certificate when `identity` is given.
Result get(const std::string& url, const std::string& ca_pem, const mt::LeafCert* identity) {
    std::string cert_pem = identity ? identity->fullchain_pem() : "";
    std::string key_pem = identity ? identity->key_pem() : "";
    curl_blob ca{const_cast<char*>(ca_pem.data()), ca_pem.size(), CURL_BLOB_COPY};
    curl_blob cert{cert_pem.data(), cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{key_pem.data(), key_pem.size(), CURL_BLOB_COPY};

    Result r{CURLE_OK, 0, {}};
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CAINFO, nullptr);  // not the system bundle:
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);  // only the test CA
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
    if (identity) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
    r.code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(curl);
    return r;
}

}  // namespace

int main() try {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mt::TestCA ca;
    mt::TlsServer server(ca, {.require_client_cert = true,
                              .handler = mt::http_handler([](const mt::HttpRequest& req) {
                                  return mt::HttpResponse{.body = "hello " + req.client_certificate->common_name() +
                                                                  ", you asked for " + req.target + "\n"};
                              })});
    auto alice = ca.issue({.names = {"alice.example.test"}, .profile = minica::Profile::client});

    Result ok = get(server.url() + "/status", ca.cert_pem(), &alice);
    std::cout << "with the CA and a client certificate: HTTP " << ok.status << ": " << ok.body;

    Result anonymous = get(server.url() + "/status", ca.cert_pem(), nullptr);
    std::cout << "without a client certificate: " << curl_easy_strerror(anonymous.code) << "\n";

    mt::TestCA stranger;
    Result untrusted = get(server.url() + "/status", stranger.cert_pem(), &alice);
    std::cout << "trusting another CA: " << curl_easy_strerror(untrusted.code) << "\n";

    curl_global_cleanup();
    bool as_expected = ok.code == CURLE_OK && ok.status == 200 &&
                       ok.body == "hello alice.example.test, you asked for /status\n" &&
                       anonymous.code != CURLE_OK && untrusted.code == CURLE_PEER_FAILED_VERIFICATION;
    return as_expected ? 0 : 1;
} catch (const std::exception& e) {
    std::cerr << "curl_client: " << e.what() << "\n";
    return 1;
}
