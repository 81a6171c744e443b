// Policy: name allow-list, key types, profiles, validity; policy.json.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "minica/error.hpp"
#include "minica/policy.hpp"

using namespace minica;
using namespace std::chrono_literals;

namespace {

std::chrono::days days(int n) { return std::chrono::days{n}; }

void expect_refused(auto&& fn, const std::string& part) {
    try {
        fn();
        FAIL_CHECK("not refused, expected: " << part);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
        CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, e.what());
    }
}

void expect_bad_json(const std::string& json, const std::string& part) {
    CAPTURE(json);
    try {
        Policy::from_json(json, "test.json");
        FAIL_CHECK("accepted, expected: " << part);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::parse);
        std::string msg = e.what();
        CHECK_MESSAGE(msg.rfind("reading policy from test.json: ", 0) == 0, msg);
        CHECK_MESSAGE(msg.find(part) != std::string::npos, msg);
    }
}

Policy with_names(std::vector<std::string> names) {
    Policy p;
    p.allowed_names = std::move(names);
    return p;
}

// A scratch directory removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "minica-policy-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all, ec);
        std::filesystem::remove_all(path, ec);
    }
};

}  // namespace

TEST_CASE("defaults") {
    Policy p;
    CHECK(p.allowed_names.empty());
    CHECK(p.max_validity == days(397));
    CHECK(p.key_types.size() == 6);
    CHECK(p.profiles.size() == 4);  // server, client, both, email
    // Empty allow-list: any name.
    CHECK_NOTHROW(p.check(parse_identities({"anything.test", "1.2.3.4", "a@b.test", "urn:x:y"}), KeyType::ec_p256,
                          Profile::server, days(397)));
}

TEST_CASE("to_json writes the documented format") {
    Policy p;
    p.allowed_names = {"example.com", "10.0.0.0/8"};
    p.max_validity = days(90);
    p.key_types = {KeyType::ec_p256, KeyType::ed25519};
    p.profiles = {Profile::server};
    CHECK(p.to_json() ==
          "{\n"
          "  \"allowed_names\": [\n"
          "    \"example.com\",\n"
          "    \"10.0.0.0/8\"\n"
          "  ],\n"
          "  \"max_validity_days\": 90,\n"
          "  \"key_types\": [\n"
          "    \"ec-p256\",\n"
          "    \"ed25519\"\n"
          "  ],\n"
          "  \"profiles\": [\n"
          "    \"server\"\n"
          "  ]\n"
          "}\n");
    CHECK(Policy{}.to_json().find("\"allowed_names\": []") != std::string::npos);
}

TEST_CASE("JSON round trip") {
    Policy p;
    p.allowed_names = {"example.com", ".example.org", "10.0.0.0/8", "fd00::/8", "@example.com",
                       "@.corp.example.com", "spiffe://example.org/ns/", "xn--bcher-kva.example"};
    p.max_validity = days(30);
    p.key_types = {KeyType::rsa_4096, KeyType::ec_p384};
    p.profiles = {Profile::client, Profile::both};
    Policy q = Policy::from_json(p.to_json());
    CHECK(q.allowed_names == p.allowed_names);
    CHECK(q.max_validity == p.max_validity);
    CHECK(q.key_types == p.key_types);
    CHECK(q.profiles == p.profiles);
    CHECK(q.to_json() == p.to_json());

    Policy d = Policy::from_json(Policy{}.to_json());
    CHECK(d.to_json() == Policy{}.to_json());
}

TEST_CASE("from_json: canonical entries, defaults for missing keys") {
    Policy p = Policy::from_json(R"({"allowed_names": ["Example.COM.", "bücher.example", "SPIFFE://example.org/a",
                                                        "@Example.com", "FD00::/8"]})");
    CHECK(p.allowed_names == std::vector<std::string>{"example.com", "xn--bcher-kva.example", "spiffe://example.org/a",
                                                      "@example.com", "fd00::/8"});
    CHECK(p.max_validity == days(397));
    CHECK(p.key_types.size() == 6);
    CHECK(p.profiles.size() == 4);  // server, client, both, email

    Policy e = Policy::from_json("{}");
    CHECK(e.allowed_names.empty());
    Policy one = Policy::from_json(R"({"max_validity_days": 1, "key_types": ["ed25519"], "profiles": ["both"]})");
    CHECK(one.max_validity == days(1));
    CHECK(one.key_types == std::vector<KeyType>{KeyType::ed25519});
    CHECK(one.profiles == std::vector<Profile>{Profile::both});
    CHECK(Policy::from_json(R"({"max_validity_days": 3650})").max_validity == days(3650));
}

TEST_CASE("from_json: every kind of bad JSON") {
    expect_bad_json("", "parse error");
    expect_bad_json("{", "parse error");
    expect_bad_json(R"({"max_validity_days": 30)", "parse error");
    expect_bad_json(R"({"max_validity_days": 30,})", "parse error");
    expect_bad_json(R"({"max_validity_days": 30} x)", "parse error");
    expect_bad_json("// comment\n{}", "parse error");
    expect_bad_json("[]", "top level must be an object, not array");
    expect_bad_json("null", "top level must be an object, not null");
    expect_bad_json("\"policy\"", "top level must be an object");
    expect_bad_json(R"({"allowed_name": []})", "unknown key \"allowed_name\"");
    expect_bad_json(R"({"max_validity_days": 30, "max_validity_days": 3000})", "duplicate key \"max_validity_days\"");
    // wrong types
    expect_bad_json(R"({"allowed_names": "example.com"})", "\"allowed_names\" must be an array of strings");
    expect_bad_json(R"({"allowed_names": [1]})", "\"allowed_names\"[0] must be a string, not number");
    expect_bad_json(R"({"allowed_names": [null]})", "must be a string, not null");
    expect_bad_json(R"({"max_validity_days": "30"})", "\"max_validity_days\" must be an integer, not string");
    expect_bad_json(R"({"max_validity_days": 30.5})", "must be an integer, not a fraction");
    expect_bad_json(R"({"max_validity_days": 30.0})", "must be an integer");
    expect_bad_json(R"({"max_validity_days": true})", "must be an integer, not boolean");
    expect_bad_json(R"({"key_types": "ec-p256"})", "\"key_types\" must be an array of strings");
    expect_bad_json(R"({"profiles": {"server": true}})", "\"profiles\" must be an array of strings");
    // values out of range
    expect_bad_json(R"({"max_validity_days": 0})", "from 1 to 3650, not 0");
    expect_bad_json(R"({"max_validity_days": -5})", "from 1 to 3650, not -5");
    expect_bad_json(R"({"max_validity_days": 3651})", "from 1 to 3650, not 3651");
    expect_bad_json(R"({"max_validity_days": 18446744073709551615})", "from 1 to 3650");
    expect_bad_json(R"({"max_validity_days": 1e400})", "1e400");
    expect_bad_json(R"({"key_types": []})", "at least one key type");
    expect_bad_json(R"({"profiles": []})", "at least one profile");
    expect_bad_json(R"({"key_types": ["ec-p521"]})", "unknown key type \"ec-p521\"");
    expect_bad_json(R"({"key_types": ["ec-p256", "ec-p256"]})", "\"ec-p256\" is listed twice");
    expect_bad_json(R"({"profiles": ["server", "ca"]})", "unknown profile \"ca\"");
    expect_bad_json(R"({"profiles": ["both", "both"]})", "listed twice");
    expect_bad_json(R"({"allowed_names": ["a..b"]})", "invalid allowed name \"a..b\"");
    expect_bad_json(R"({"allowed_names": ["*.example.com"]})", "wildcard");
    expect_bad_json(R"({"allowed_names": ["10.0.0.1/8"]})", "did you mean 10.0.0.0/8?");
    expect_bad_json(R"({"allowed_names": [""]})", "invalid allowed name \"\"");
    expect_bad_json(R"({"allowed_names": ["example.com", "Example.COM."]})",
                    "\"Example.COM.\" is listed twice (as \"example.com\")");
    expect_bad_json(R"({"allowed_names": ["fd00::1"]})", "needs a prefix length");
    expect_bad_json(R"({"allowed_names": ["fd00::zz/8"]})", "address/prefix-length");
    expect_bad_json(R"({"allowed_names": ["example.com:443"]})", "host:port");
    expect_bad_json(R"({"allowed_names": ["https://"]})", "not a valid URI prefix");
    expect_bad_json("{\"allowed_names\": [\"\xff\"]}", "parse error");  // not UTF-8
    // a nested duplicate is not confused with the top level
    expect_bad_json(R"({"allowed_names": [], "x": {"allowed_names": 1}})", "unknown key \"x\"");
}

TEST_CASE("check_names: DNS, IP, email and URI entries") {
    Policy p = with_names({"example.com", ".example.org", "10.0.0.0/8", "fd00::/8", "@example.com",
                           "@.corp.example.net", "spiffe://example.org/ns/a", "https://api.example.com/"});
    auto ok = [&](std::vector<std::string> names) {
        CAPTURE(names.front());
        CHECK_NOTHROW(p.check_names(parse_identities(names)));
    };
    ok({"example.com", "www.example.com", "*.example.com", "x.example.org", "*.example.org"});
    ok({"10.1.2.3", "fd00::1"});
    ok({"alice@example.com", "bob@eng.corp.example.net"});
    ok({"spiffe://example.org/ns/a", "spiffe://example.org/ns/a/sa/b", "spiffe://example.org/ns/a?x",
        "SPIFFE://example.org/ns/a", "https://api.example.com/v1"});

    expect_refused([&] { p.check_names(parse_identities({"www.example.com", "example.net"})); },
                   "name \"example.net\" is not allowed by the policy (allowed: example.com, .example.org, "
                   "10.0.0.0/8, fd00::/8, @example.com, @.corp.example.net, spiffe://example.org/ns/a, "
                   "https://api.example.com/)");
    expect_refused([&] { p.check_names(parse_identities({"example.org"})); }, "name \"example.org\" is not allowed");
    expect_refused([&] { p.check_names(parse_identities({"badexample.com"})); }, "not allowed");
    expect_refused([&] { p.check_names(parse_identities({"11.0.0.1"})); }, "name \"11.0.0.1\" is not allowed");
    expect_refused([&] { p.check_names(parse_identities({"fe80::1"})); }, "is not allowed");
    expect_refused([&] { p.check_names(parse_identities({"a@mail.example.com"})); }, "is not allowed");
    expect_refused([&] { p.check_names(parse_identities({"a@corp.example.net"})); }, "is not allowed");
    // URI prefixes match at a boundary
    expect_refused([&] { p.check_names(parse_identities({"spiffe://example.org/ns/ab"})); }, "is not allowed");
    expect_refused([&] { p.check_names(parse_identities({"spiffe://example.org/ns"})); }, "is not allowed");
    expect_refused([&] { p.check_names(parse_identities({"https://api.example.com.evil.test/"})); }, "not allowed");
    // a DNS entry admits neither URIs nor emails at that domain
    expect_refused([&] { p.check_names(parse_identities({"https://www.example.com/"})); }, "is not allowed");
    expect_refused([&] { p.check_names(parse_identities({"a@www.example.org"})); }, "is not allowed");

    Policy host = with_names({"spiffe://example.org"});
    CHECK_NOTHROW(host.check_names(parse_identities({"spiffe://example.org/a"})));
    expect_refused([&] { host.check_names(parse_identities({"spiffe://example.org.evil.test/a"})); }, "not allowed");
    Policy urn = with_names({"urn:example:"});
    CHECK_NOTHROW(urn.check_names(parse_identities({"urn:example:abc"})));

    // Only DNS entries: every IP is refused.
    Policy dns_only = with_names({"example.com"});
    expect_refused([&] { dns_only.check_names(parse_identities({"10.0.0.1"})); }, "is not allowed");
    CHECK_NOTHROW(dns_only.check_names(SubjectAltNames{}));

    // An invalid entry set by hand is reported, not silently ignored.
    Policy broken = with_names({"a..b"});
    CHECK_THROWS_AS(broken.check_names(parse_identities({"x.test"})), Error);
}

TEST_CASE("check: key type, profile, validity") {
    Policy p;
    p.key_types = {KeyType::ec_p256, KeyType::ed25519};
    p.profiles = {Profile::server};
    p.max_validity = days(90);
    p.allowed_names = {"example.com"};
    auto names = parse_identities({"www.example.com"});
    CHECK_NOTHROW(p.check(names, KeyType::ec_p256, Profile::server, days(90)));
    CHECK_NOTHROW(p.check(names, KeyType::ed25519, Profile::server, days(1)));
    expect_refused([&] { p.check(names, KeyType::rsa_2048, Profile::server, days(30)); },
                   "key type \"rsa-2048\" is not allowed by the policy (allowed: ec-p256, ed25519)");
    expect_refused([&] { p.check(names, KeyType::ec_p256, Profile::client, days(30)); },
                   "profile \"client\" is not allowed by the policy (allowed: server)");
    expect_refused([&] { p.check(names, KeyType::ec_p256, Profile::both, days(30)); }, "profile \"both\"");
    // a policy from before the email profile: says how to go on
    expect_refused([&] { p.check(parse_identities({"carol@example.com"}), KeyType::ec_p256, Profile::email, days(30)); },
                   "profile \"email\" is not allowed by the policy (allowed: server); add \"email\" to its profiles, "
                   "or ask for the client profile (--client)");
    expect_refused([&] { p.check(names, KeyType::ec_p256, Profile::server, days(91)); },
                   "validity of 91 days is not allowed by the policy (at most 90 days)");
    expect_refused([&] { p.check(names, KeyType::ec_p256, Profile::server, days(0)); }, "at least 1 day");
    expect_refused([&] { p.check(parse_identities({"www.example.net"}), KeyType::ec_p256, Profile::server, days(30)); },
                   "name \"www.example.net\" is not allowed by the policy (allowed: example.com)");
}

TEST_CASE("load") {
    TempDir dir;
    auto file = dir.path / "policy.json";
    {
        std::ofstream out(file);
        out << R"({"allowed_names": ["example.com"], "max_validity_days": 30, "key_types": ["ec-p256"],)"
            << R"( "profiles": ["server"]})";
    }
    Policy p = Policy::load(file);
    CHECK(p.allowed_names == std::vector<std::string>{"example.com"});
    CHECK(p.max_validity == days(30));

    try {
        Policy::load(dir.path / "missing.json");
        FAIL("loaded a missing file");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::not_found);
        CHECK(std::string(e.what()).find("missing.json") != std::string::npos);
    }

    try {
        Policy::load(dir.path);  // a directory: no JSON to read
        FAIL("loaded a directory");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::io);
        CHECK(std::string(e.what()) == "reading policy from " + dir.path.string() + ": Is a directory");
    }

    auto bad = dir.path / "bad.json";
    {
        std::ofstream out(bad);
        out << R"({"max_validity_days": 0})";
    }
    try {
        Policy::load(bad);
        FAIL("loaded a bad policy");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::parse);
        CHECK(std::string(e.what()) == "reading policy from " + bad.string() +
                                           ": \"max_validity_days\" must be from 1 to 3650, not 0");
    }

    if (geteuid() != 0) {  // root reads anything
        std::filesystem::permissions(file, std::filesystem::perms::none);
        try {
            Policy::load(file);
            FAIL("read an unreadable file");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::io);
            CHECK(std::string(e.what()).find("Permission denied") != std::string::npos);
        }
    }
}
