// Names: classification, canonical forms, refusals, name constraints.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "minica/error.hpp"
#include "minica/names.hpp"

using namespace minica;

namespace {

enum class Want { dns, ip, email, uri, error };

struct Case {
    std::string input;
    Want want;
    std::string expected;  // canonical value, or a substring of the error
};

std::string label(char c, std::size_t n) { return std::string(n, c); }

// 3 * 63 + 61 + 3 dots = 253 octets.
const std::string name253 = label('a', 63) + "." + label('b', 63) + "." + label('c', 63) + "." + label('d', 61);
const std::string name254 = label('a', 63) + "." + label('b', 63) + "." + label('c', 63) + "." + label('d', 62);

const std::vector<Case> cases = {
    // ---- DNS: case, trailing dot, LDH
    {"example.com", Want::dns, "example.com"},
    {"Example.COM", Want::dns, "example.com"},
    {"example.com.", Want::dns, "example.com"},
    {"WWW.Example.Com.", Want::dns, "www.example.com"},
    {"localhost", Want::dns, "localhost"},
    {"a-b.example", Want::dns, "a-b.example"},
    {"123.example", Want::dns, "123.example"},
    {"ab--cd.example", Want::dns, "ab--cd.example"},
    {"r3---sn-abc.googlevideo.com", Want::dns, "r3---sn-abc.googlevideo.com"},
    {"a..b", Want::error, "empty label"},
    {".example.com", Want::error, "empty label"},
    {"example.com..", Want::error, "empty label"},
    {".", Want::error, "empty name"},
    {"-x.test", Want::error, "starts with a hyphen"},
    {"x-.test", Want::error, "ends with a hyphen"},
    {"x.-y-.test", Want::error, "starts with a hyphen"},
    {"a_b.example", Want::error, "underscores"},
    {"_acme-challenge.example.com", Want::error, "underscores"},
    {"exa mple.com", Want::error, "whitespace"},
    {" example.com", Want::error, "whitespace"},
    {"example.com ", Want::error, "whitespace"},
    {"example.com\n", Want::error, "whitespace or control"},
    {"example.com/path", Want::error, "character \"/\""},
    {"exa!mple.com", Want::error, "character \"!\""},
    {"", Want::error, "empty name"},
    // ---- DNS: lengths
    {label('a', 63) + ".test", Want::dns, label('a', 63) + ".test"},
    {label('a', 64) + ".test", Want::error, "64 octets long (at most 63)"},
    {name253, Want::dns, name253},
    {name253 + ".", Want::dns, name253},
    {name254, Want::error, "254 octets long (at most 253)"},
    // ---- DNS: IDN
    {"bücher.example", Want::dns, "xn--bcher-kva.example"},
    {"BÜCHER.example", Want::dns, "xn--bcher-kva.example"},
    {"ÉXAMPLE.com", Want::dns, "xn--xample-9ua.com"},
    {"straße.de", Want::dns, "xn--strae-oqa.de"},  // non-transitional, as browsers
    {"bücher\xe3\x80\x82" "example", Want::dns, "xn--bcher-kva.example"},  // U+3002 full stop
    {"公司.cn", Want::dns, "xn--55qx5d.cn"},
    {"xn--bcher-kva.example", Want::dns, "xn--bcher-kva.example"},
    {"XN--BCHER-KVA.Example", Want::dns, "xn--bcher-kva.example"},
    {"xn--zz.example", Want::error, "not a valid A-label"},
    {"xn--abc-.example", Want::error, "not a valid A-label"},
    {"xn--ls8h.la", Want::error, "not a valid A-label"},  // emoji: disallowed in IDNA2008
    {"\xf0\x9f\x92\xa9.la", Want::error, "not a valid internationalized label"},
    {"a\xe2\x80\x8d" "b.com", Want::error, "not a valid internationalized label"},  // ZWJ, CONTEXTJ
    {"\xff.example", Want::error, "not a valid internationalized label"},       // not UTF-8
    // ---- DNS: wildcards
    {"*.example.com", Want::dns, "*.example.com"},
    {"*.EXAMPLE.com.", Want::dns, "*.example.com"},
    {"*.bücher.example", Want::dns, "*.xn--bcher-kva.example"},
    {"*.a.b.example", Want::dns, "*.a.b.example"},
    {"*.com", Want::error, "directly over a single label"},
    {"*", Want::error, "lone"},
    {"*.", Want::error, "lone"},
    {"*.*.x", Want::error, "whole leftmost label"},
    {"f*.x.com", Want::error, "whole leftmost label"},
    {"f*o.example.com", Want::error, "whole leftmost label"},
    {"*x.example.com", Want::error, "whole leftmost label"},
    {"x.*.com", Want::error, "whole leftmost label"},
    {"a.*.b", Want::error, "whole leftmost label"},
    {"example.*", Want::error, "whole leftmost label"},
    // ---- numbers that are neither IP addresses nor host names
    {"1.2.3.999", Want::error, "not a valid IPv4 address"},
    {"1.2.3", Want::error, "not a valid IPv4 address"},
    {"01.2.3.4", Want::error, "not a valid IPv4 address"},
    {"1.2.3.04", Want::error, "not a valid IPv4 address"},
    {"256.1.1.1", Want::error, "not a valid IPv4 address"},
    {"1.2.3.4.5", Want::error, "not a valid IPv4 address"},
    {"1.2.3.4.", Want::error, "not a valid IPv4 address"},
    {"example.123", Want::error, "last label \"123\" is numeric"},
    {"example.0x1f", Want::error, "last label \"0x1f\" is numeric"},
    // ---- IPv4
    {"1.2.3.4", Want::ip, "1.2.3.4"},
    {"0.0.0.0", Want::ip, "0.0.0.0"},
    {"255.255.255.255", Want::ip, "255.255.255.255"},
    {"10.0.0.1", Want::ip, "10.0.0.1"},
    {"127.0.0.1", Want::ip, "127.0.0.1"},
    // ---- IPv6, RFC 5952 output
    {"::1", Want::ip, "::1"},
    {"::", Want::ip, "::"},
    {"2001:DB8:0:0:0:0:0:1", Want::ip, "2001:db8::1"},
    {"2001:0db8:0000:0000:0000:0000:0000:0001", Want::ip, "2001:db8::1"},
    {"2001:db8::0:1", Want::ip, "2001:db8::1"},
    {"2001:db8:0:0:1:0:0:1", Want::ip, "2001:db8::1:0:0:1"},   // first of equal runs
    {"2001:db8:0:1:0:0:0:1", Want::ip, "2001:db8:0:1::1"},      // longest run
    {"2001:db8:0:1:1:1:1:1", Want::ip, "2001:db8:0:1:1:1:1:1"}, // one zero group stays
    {"fe80::1", Want::ip, "fe80::1"},
    {"1:0:0:0:0:0:0:0", Want::ip, "1::"},
    {"::ffff:1.2.3.4", Want::error, "IPv4 address written as IPv6 (write 1.2.3.4)"},
    {"::FFFF:0102:0304", Want::error, "IPv4 address written as IPv6 (write 1.2.3.4)"},
    {"::1.2.3.4", Want::error, "IPv4 address written as IPv6 (write 1.2.3.4)"},
    {"::0.0.0.1", Want::ip, "::1"},  // loopback, not an IPv4-compatible address
    {"fe80::1%eth0", Want::error, "zone identifiers"},
    {"fe80::1%1", Want::error, "zone identifiers"},
    {"[::1]", Want::error, "without brackets"},
    {"1::2::3", Want::error, "not a valid IPv6 address"},
    {":::1", Want::error, "not a valid IPv6 address"},
    {"2001:db8::g", Want::error, "character \":\""},
    {"1:2:3:4:5:6:7:8:9", Want::error, "not a valid IPv6 address"},
    {"::ffff:1.2.3.256", Want::error, "not a valid IPv6 address"},
    // ---- email
    {"alice@example.com", Want::email, "alice@example.com"},
    {"Alice@Example.COM", Want::email, "Alice@example.com"},
    {"alice@example.com.", Want::email, "alice@example.com"},
    {"bob@bücher.example", Want::email, "bob@xn--bcher-kva.example"},
    {"a.b+tag@x.test", Want::email, "a.b+tag@x.test"},
    {"o'brien_x-y@x.test", Want::email, "o'brien_x-y@x.test"},
    {label('l', 64) + "@x.test", Want::email, label('l', 64) + "@x.test"},
    {label('l', 65) + "@x.test", Want::error, "65 octets long (at most 64)"},
    {"@example.com", Want::error, "local part (before '@') is empty"},
    {"alice@", Want::error, "domain (after '@') is empty"},
    {"a@b@c.test", Want::error, "exactly one '@'"},
    {"alice@*.example.com", Want::error, "wildcard is not allowed"},
    {"a..b@x.test", Want::error, "two dots"},
    {".a@x.test", Want::error, "start or end with a dot"},
    {"a.@x.test", Want::error, "start or end with a dot"},
    {"al ice@x.test", Want::error, "whitespace"},
    {"a\"b@x.test", Want::error, "not allowed in the local part"},
    {"a(b)@x.test", Want::error, "not allowed in the local part"},
    {"\xc3\xa4lice@x.test", Want::error, "must be ASCII"},
    {"alice@-x.test", Want::error, "starts with a hyphen"},
    {"alice@x_y.test", Want::error, "underscores"},
    {"alice@1.2.3.4", Want::error, "an IP address is not a host name"},
    // ---- URI
    {"spiffe://example.org/ns/x", Want::uri, "spiffe://example.org/ns/x"},
    {"https://x.test/p", Want::uri, "https://x.test/p"},
    {"HTTPS://X.test/Path?Q=1#F", Want::uri, "https://X.test/Path?Q=1#F"},
    {"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", Want::uri, "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
    {"mailto:alice@example.com", Want::uri, "mailto:alice@example.com"},
    {"https://[::1]:8443/", Want::uri, "https://[::1]:8443/"},
    {"https://[::1/", Want::error, "character \"[\""},
    {"https://user@x.test:8443/p%20q", Want::uri, "https://user@x.test:8443/p%20q"},
    {"git+ssh://x.test/repo", Want::uri, "git+ssh://x.test/repo"},
    {"https://10.0.0.1/", Want::uri, "https://10.0.0.1/"},
    {"spiffe:", Want::error, "nothing after the scheme"},
    {"https://", Want::error, "must name a host"},
    {"https:///path", Want::error, "must name a host"},
    {"https://x.test/a b", Want::error, "whitespace"},
    {"https://x.test/\xc3\xa4", Want::error, "must be ASCII"},
    {"https://x.test/%zz", Want::error, "%XX escape"},
    {"https://x.test/%2", Want::error, "%XX escape"},
    {"https://x.test/<x>", Want::error, "character \"<\""},
    {"https://x_y.test/", Want::error, "underscores"},
    {"https://*.x.test/", Want::error, "wildcard is not allowed"},
    {"example.com:443", Want::error, "host:port"},
    {"localhost:8080", Want::error, "host:port"},
    {"1http://x.test/", Want::error, "character \":\""},
};

void run_case(const Case& c) {
    CAPTURE(c.input);
    if (c.want == Want::error) {
        try {
            auto id = parse_identity(c.input);
            FAIL_CHECK("accepted as " << static_cast<int>(id.kind) << " \"" << id.value << "\"");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::invalid_argument);
            std::string msg = e.what();
            CHECK_MESSAGE(msg.find(c.expected) != std::string::npos, msg);
            CHECK_MESSAGE(msg.rfind("invalid name \"", 0) == 0, msg);
        }
        return;
    }
    Identity id = parse_identity(c.input);
    CHECK(id.value == c.expected);
    switch (c.want) {
        case Want::dns: CHECK(id.kind == NameKind::dns); break;
        case Want::ip:
            CHECK(id.kind == NameKind::ip);
            REQUIRE(id.ip.has_value());
            CHECK(id.ip->to_string() == c.expected);
            break;
        case Want::email: CHECK(id.kind == NameKind::email); break;
        case Want::uri: CHECK(id.kind == NameKind::uri); break;
        case Want::error: break;
    }
    // Canonical forms are fixed points.
    Identity again = parse_identity(id.value);
    CHECK(again.value == id.value);
    CHECK(again.kind == id.kind);
}

void expect_invalid(auto&& fn, const std::string& part) {
    try {
        fn();
        FAIL_CHECK("no error, expected: " << part);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
        CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, e.what());
    }
}

void expect_outside(const NameConstraints& nc, const std::vector<std::string>& names, const std::string& part) {
    CAPTURE(names.front());
    try {
        nc.check(parse_identities(names));
        FAIL_CHECK("names accepted, expected: " << part);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
        std::string msg = e.what();
        CHECK_MESSAGE(msg.find(part) != std::string::npos, msg);
        CHECK_MESSAGE(msg.find("is outside the name constraints: ") != std::string::npos, msg);
    }
}

void expect_inside(const NameConstraints& nc, const std::vector<std::string>& names) {
    CAPTURE(names.front());
    CHECK_NOTHROW(nc.check(parse_identities(names)));
}

}  // namespace

TEST_CASE("parse_identity: table of good and bad names") {
    CHECK(cases.size() >= 80);
    for (const auto& c : cases) run_case(c);
}

TEST_CASE("parse_identity: error message quotes the input") {
    try {
        parse_identity("1.2.3.999");
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).rfind("invalid name \"1.2.3.999\": ", 0) == 0);
    }
    try {
        parse_identity(std::string("a\x01" "b.test"));
        FAIL("accepted");
    } catch (const Error& e) {
        // control characters are escaped in messages
        CHECK(std::string(e.what()).find("\"a\\x01b.test\"") != std::string::npos);
    }
}

TEST_CASE("canonical_* validators") {
    CHECK(canonical_dns_name("*.Example.com") == "*.example.com");
    expect_invalid([] { canonical_dns_name("*.example.com", false); }, "wildcard is not allowed");
    CHECK(canonical_dns_name("bücher.example", false) == "xn--bcher-kva.example");
    CHECK(canonical_email("X@Bücher.Example") == "X@xn--bcher-kva.example");
    expect_invalid([] { canonical_email("example.com"); }, "local part and a domain");
    CHECK(canonical_uri("SPIFFE://example.org/A") == "spiffe://example.org/A");
    expect_invalid([] { canonical_uri("example.org/x"); }, "starts with a scheme");
    expect_invalid([] { canonical_dns_name(""); }, "empty name");
}

TEST_CASE("parse_ip") {
    auto v4 = parse_ip("192.0.2.1");
    REQUIRE(v4);
    CHECK(v4->is_v4());
    CHECK(v4->bytes == std::vector<std::uint8_t>{192, 0, 2, 1});
    auto v6 = parse_ip("2001:db8::1");
    REQUIRE(v6);
    CHECK(!v6->is_v4());
    CHECK(v6->bytes.size() == 16);
    CHECK(v6->bytes[0] == 0x20);
    CHECK(v6->bytes[15] == 1);
    CHECK(!parse_ip("1.2.3.999"));
    CHECK(!parse_ip("01.2.3.4"));
    CHECK(!parse_ip("1.2.3"));
    CHECK(!parse_ip(""));
    CHECK(!parse_ip("fe80::1%eth0"));
    CHECK(!parse_ip("[::1]"));
    CHECK(!parse_ip("example.com"));
    CHECK(!parse_ip(" 1.2.3.4"));
    CHECK(!parse_ip(std::string(60, ':')));
    CHECK(IpAddress{}.to_string() == "<invalid IP address>");
}

TEST_CASE("SubjectAltNames: add, dedup, all, primary") {
    SubjectAltNames n;
    CHECK(n.empty());
    CHECK(n.primary().empty());
    n.add("spiffe://example.org/x");
    CHECK(n.primary() == "spiffe://example.org/x");
    n.add("alice@example.com");
    CHECK(n.primary() == "alice@example.com");
    n.add("::1");
    CHECK(n.primary() == "::1");
    n.add("Example.COM.");
    n.add("example.com");         // duplicate after canonicalisation
    n.add("0:0:0:0:0:0:0:1");     // duplicate of ::1
    n.add("alice@EXAMPLE.com");   // duplicate: domain is case-insensitive
    n.add("Alice@example.com");   // not a duplicate: local part keeps case
    n.add("SPIFFE://example.org/x");
    n.add("bücher.example");
    CHECK(n.primary() == "example.com");
    CHECK(n.size() == 6);
    CHECK(n.all() == std::vector<std::string>{"example.com", "xn--bcher-kva.example", "::1", "alice@example.com",
                                              "Alice@example.com", "spiffe://example.org/x"});
    CHECK_THROWS_AS(n.add("a..b"), Error);
    CHECK(n.size() == 6);

    auto m = parse_identities({"example.com", "1.2.3.4", "1.2.3.4", "EXAMPLE.com"});
    CHECK(m.dns == std::vector<std::string>{"example.com"});
    REQUIRE(m.ip.size() == 1);
    CHECK(m.ip[0].to_string() == "1.2.3.4");
    CHECK(parse_identities({}).empty());
}

TEST_CASE("IpNetwork") {
    NameConstraints nc;
    nc.permit("10.0.0.0/8");
    nc.permit("fd00::/8");
    nc.permit("192.168.1.128/25");
    nc.permit("0.0.0.0/0");
    nc.permit("2001:db8::1/128");
    REQUIRE(nc.permitted_ip.size() == 5);
    const auto& a = nc.permitted_ip[0];
    CHECK(a.prefix_len() == 8);
    CHECK(a.to_string() == "10.0.0.0/8");
    CHECK(a.contains(*parse_ip("10.255.1.2")));
    CHECK(!a.contains(*parse_ip("11.0.0.1")));
    CHECK(!a.contains(*parse_ip("::ffff:10.0.0.1")));  // v6 never in a v4 range
    const auto& b = nc.permitted_ip[1];
    CHECK(b.prefix_len() == 8);
    CHECK(b.to_string() == "fd00::/8");
    CHECK(b.contains(*parse_ip("fd12:3456::1")));
    CHECK(!b.contains(*parse_ip("fe80::1")));
    CHECK(!b.contains(*parse_ip("10.0.0.1")));
    const auto& c = nc.permitted_ip[2];
    CHECK(c.prefix_len() == 25);
    CHECK(c.to_string() == "192.168.1.128/25");
    CHECK(c.contains(*parse_ip("192.168.1.200")));
    CHECK(!c.contains(*parse_ip("192.168.1.127")));
    CHECK(nc.permitted_ip[3].prefix_len() == 0);
    CHECK(nc.permitted_ip[3].contains(*parse_ip("8.8.8.8")));
    CHECK(nc.permitted_ip[4].prefix_len() == 128);
    CHECK(nc.permitted_ip[4].to_string() == "2001:db8::1/128");
    CHECK(nc.permitted_ip[4].contains(*parse_ip("2001:db8::1")));
    CHECK(!nc.permitted_ip[4].contains(*parse_ip("2001:db8::2")));

    expect_invalid([] { NameConstraints().permit("10.0.0.1/8"); }, "host bits are set (did you mean 10.0.0.0/8?)");
    expect_invalid([] { NameConstraints().permit("fd00::1/8"); }, "did you mean fd00::/8?");
    expect_invalid([] { NameConstraints().permit("10.0.0.0/33"); }, "from 0 to 32");
    expect_invalid([] { NameConstraints().permit("fd00::/129"); }, "from 0 to 128");
    expect_invalid([] { NameConstraints().permit("10.0.0.0/"); }, "prefix length");
    expect_invalid([] { NameConstraints().permit("10.0.0.0/08"); }, "prefix length");
    expect_invalid([] { NameConstraints().permit("10.0.0/8"); }, "address/prefix-length");
    expect_invalid([] { NameConstraints().permit("10.0.0.1"); }, "needs a prefix length");
}

TEST_CASE("NameConstraints: parsing specs") {
    NameConstraints nc;
    CHECK(nc.empty());
    nc.permit("Example.COM");
    nc.permit(".example.org.");
    nc.permit("bücher.example");
    nc.permit("@Example.net");
    nc.permit("@.mail.example.net");
    nc.permit("example.com");  // duplicate
    nc.exclude("secret.example.com");
    nc.exclude("10.0.0.0/8");
    nc.exclude("@evil.example.com");
    CHECK(!nc.empty());
    CHECK(nc.permitted_dns == std::vector<std::string>{"example.com", ".example.org", "xn--bcher-kva.example"});
    CHECK(nc.permitted_email == std::vector<std::string>{"example.net", ".mail.example.net"});
    CHECK(nc.excluded_dns == std::vector<std::string>{"secret.example.com"});
    CHECK(nc.excluded_email == std::vector<std::string>{"evil.example.com"});
    REQUIRE(nc.excluded_ip.size() == 1);
    CHECK(nc.excluded_ip[0].to_string() == "10.0.0.0/8");

    expect_invalid([] { NameConstraints().permit(""); }, "empty");
    expect_invalid([] { NameConstraints().permit("*.example.com"); }, "wildcard");
    expect_invalid([] { NameConstraints().permit("a..b"); }, "empty label");
    expect_invalid([] { NameConstraints().permit("user@example.com"); }, "@example.com");
    expect_invalid([] { NameConstraints().permit("@"); }, "email domain");
    expect_invalid([] { NameConstraints().exclude("ex ample.com"); }, "whitespace");
    try {
        NameConstraints().permit("a_b.com");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).rfind("invalid name constraint \"a_b.com\": ", 0) == 0);
    }
}

TEST_CASE("dns_within") {
    CHECK(dns_within("example.com", "example.com"));
    CHECK(dns_within("a.example.com", "example.com"));
    CHECK(dns_within("A.Example.COM", "example.com"));
    CHECK(dns_within("a.b.example.com", "example.com"));
    CHECK(!dns_within("badexample.com", "example.com"));
    CHECK(!dns_within("example.com.evil", "example.com"));
    CHECK(!dns_within("com", "example.com"));
    CHECK(!dns_within("example.com", ".example.com"));
    CHECK(dns_within("a.example.com", ".example.com"));
    CHECK(dns_within("example.com.", "example.com"));
    CHECK(dns_within("example.com", "example.com."));
    // wildcards match as their base; "*.x" is strictly below "x"
    CHECK(dns_within("*.example.com", "example.com"));
    CHECK(dns_within("*.example.com", ".example.com"));
    CHECK(dns_within("*.a.example.com", "example.com"));
    CHECK(dns_within("*.a.example.com", ".a.example.com"));
    CHECK(!dns_within("*.example.com", "a.example.com"));
    CHECK(!dns_within("*.example.com", ".a.example.com"));
    CHECK(dns_within("anything.test", ""));
}

TEST_CASE("NameConstraints::check: DNS") {
    NameConstraints nc;
    nc.permit("example.com");
    nc.permit(".example.org");
    nc.exclude("secret.example.com");
    nc.exclude(".internal.example.com");

    expect_inside(nc, {"example.com", "www.example.com", "a.b.example.com", "x.example.org", "*.example.org"});
    expect_inside(nc, {"*.a.example.com"});
    expect_inside(nc, {"internal.example.com"});  // ".internal" excludes strictly below only
    expect_outside(nc, {"example.net"}, "not within any permitted DNS subtree (example.com, .example.org)");
    expect_outside(nc, {"example.org"}, "not within any permitted DNS subtree");
    expect_outside(nc, {"notexample.com"}, "not within any permitted DNS subtree");
    expect_outside(nc, {"secret.example.com"}, "within the excluded DNS subtree secret.example.com");
    expect_outside(nc, {"a.secret.example.com"}, "excluded DNS subtree secret.example.com");
    expect_outside(nc, {"*.secret.example.com"}, "excluded DNS subtree secret.example.com");
    expect_outside(nc, {"db.internal.example.com"}, "excluded DNS subtree .internal.example.com");
    expect_outside(nc, {"*.internal.example.com"}, "excluded DNS subtree .internal.example.com");
    // The wildcard would be valid for secret.example.com: refused (stricter than RFC 5280).
    expect_outside(nc, {"*.example.com"}, "the wildcard covers the excluded name secret.example.com");
    // The first bad name is named, whatever comes before it.
    expect_outside(nc, {"www.example.com", "evil.test"}, "name \"evil.test\"");
}

TEST_CASE("NameConstraints::check: IP") {
    NameConstraints nc;
    nc.permit("10.0.0.0/8");
    nc.permit("fd00::/8");
    nc.exclude("10.1.0.0/16");
    expect_inside(nc, {"10.0.0.1", "10.255.255.255", "fd00::1"});
    expect_outside(nc, {"192.168.0.1"}, "not within any permitted IP range (10.0.0.0/8, fd00::/8)");
    expect_outside(nc, {"10.1.2.3"}, "within the excluded IP range 10.1.0.0/16");
    expect_outside(nc, {"fe80::1"}, "not within any permitted IP range");
    expect_outside(nc, {"2001:db8::1"}, "not within any permitted IP range");
    // DNS is unconstrained when only IP subtrees exist
    expect_inside(nc, {"anything.test", "alice@anything.test"});

    NameConstraints ex;
    ex.exclude("192.168.0.0/16");
    expect_inside(ex, {"10.0.0.1", "::1"});
    expect_outside(ex, {"192.168.7.7"}, "excluded IP range 192.168.0.0/16");
}

TEST_CASE("NameConstraints::check: email") {
    NameConstraints nc;
    nc.permit("@example.com");
    nc.permit("@.corp.example.org");
    nc.exclude("@bad.corp.example.org");
    expect_inside(nc, {"alice@example.com", "bob@eng.corp.example.org"});
    expect_inside(nc, {"ALICE@EXAMPLE.COM"});
    expect_outside(nc, {"alice@example.net"}, "not within any permitted email domain");
    // "@example.com" is that exact domain (RFC 5280 / OpenSSL reading)
    expect_outside(nc, {"alice@mail.example.com"}, "not within any permitted email domain");
    expect_outside(nc, {"alice@corp.example.org"}, "not within any permitted email domain");
    expect_outside(nc, {"x@bad.corp.example.org"}, "excluded email domain bad.corp.example.org");
    // excluded "@domain" also covers subdomains (Go's reading), to be safe
    expect_outside(nc, {"x@sub.bad.corp.example.org"}, "excluded email domain bad.corp.example.org");
    // Emails are not DNS names: DNS subtrees do not constrain them.
    NameConstraints dns_only;
    dns_only.permit("example.com");
    expect_inside(dns_only, {"alice@elsewhere.test"});

    NameConstraints hint;
    hint.permit("@example.com");
    expect_outside(hint, {"a@x.example.com"}, "use @.example.com for subdomains");

    // A full-mailbox constraint, as found in some certificates.
    NameConstraints mailbox;
    mailbox.permitted_email = {"alice@example.com"};
    expect_inside(mailbox, {"alice@EXAMPLE.com"});
    expect_outside(mailbox, {"bob@example.com"}, "not within any permitted email domain");
}

TEST_CASE("NameConstraints::check: URIs are checked by host") {
    NameConstraints nc;
    nc.permit("example.org");
    nc.exclude("evil.example.org");
    expect_inside(nc, {"spiffe://example.org/ns/a", "https://www.example.org:8443/x", "https://u@example.org/"});
    expect_outside(nc, {"spiffe://example.net/ns/a"}, "its host is not within any permitted DNS subtree");
    expect_outside(nc, {"https://evil.example.org/"}, "its host is within the excluded DNS subtree");
    expect_outside(nc, {"urn:uuid:1234"}, "has no authority host");

    NameConstraints ip;
    ip.permit("10.0.0.0/8");
    expect_inside(ip, {"https://10.1.2.3/x"});
    expect_outside(ip, {"https://[fd00::1]:8443/"}, "its host is not within any permitted IP range");
    expect_outside(ip, {"urn:x:y"}, "has no authority host");

    NameConstraints none;
    none.exclude("@example.com");
    expect_inside(none, {"urn:uuid:1234", "https://example.com/"});
}

TEST_CASE("NameConstraints::check: mixed types") {
    NameConstraints nc;
    nc.permit("example.com");
    nc.permit("10.0.0.0/8");
    nc.permit("@example.com");
    expect_inside(nc, {"www.example.com", "10.0.0.5", "ops@example.com", "https://api.example.com/"});
    expect_outside(nc, {"www.example.com", "192.168.0.1"}, "name \"192.168.0.1\"");
    expect_outside(nc, {"www.example.com", "10.0.0.5", "ops@other.test"}, "name \"ops@other.test\"");
    // No constraints at all: anything goes.
    expect_inside(NameConstraints{}, {"a.test", "1.2.3.4", "x@y.test", "urn:a:b"});
    CHECK_NOTHROW(nc.check(SubjectAltNames{}));
}
