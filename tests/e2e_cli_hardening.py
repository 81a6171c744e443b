"""Hardening (issue 12): input OpenSSL refuses is refused at construction with
a message (never an abort), and every CA rule holds at its edges. Each test
here failed on the code before its fix."""
import ipaddress
import json
import os
import pathlib
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cli_common import ClassTempDir, main, minica


def der_of(pem_path):
    return subprocess.run(["openssl", "x509", "-in", pem_path, "-outform", "DER"], capture_output=True,
                          check=True).stdout


class Refusals(ClassTempDir):
    temp_prefix = "minica-hardening-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ca = cls.tmp / "ca"
        assert minica(["init"], ca=cls.ca).code == 0
        assert minica(["sign", "a.example.test", "--out", cls.tmp / "out"], ca=cls.ca).code == 0
        cls.leaf = cls.tmp / "out" / "a.example.test" / "cert.pem"

    def test_certificate_openssl_refuses_is_refused_not_aborted(self):
        """The length of the SPKI's algorithm OID changed (7 -> 12, swallowing
        the curve's OID header): the outer DER is still well formed, so the
        field walk accepted it, but OpenSSL's d2i_X509 refuses it. Every verb that reads it says so and exits 1;
        before, the parse error was thrown inside std::call_once and the
        static binary aborted (exit 134)."""
        der = bytearray(der_of(self.leaf))
        ec_public_key = bytes.fromhex("06072a8648ce3d0201")
        i = der.find(ec_public_key)
        self.assertGreater(i, 0)
        der[i + 1] = 0x0C
        bad = self.tmp / "bad.der"
        bad.write_bytes(bytes(der))
        ours = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", bad, "-noout"], capture_output=True)
        self.assertNotEqual(ours.returncode, 0, "openssl must refuse the crafted certificate")
        for args in (["inspect", bad], ["verify", bad], ["revoke", bad]):
            r = minica(args, ca=self.ca, cwd=self.tmp)
            self.assertEqual(r.code, 1, r)
            self.assertIn("bad.der", r.err, r)


    def new_ca(self, name, *args):
        ca = self.tmp / name
        r = minica(["init", *args], ca=ca)
        self.assertEqual(r.code, 0, r)
        return ca

    def csr(self, name, sans, extra=()):
        key = ec.generate_private_key(ec.SECP256R1())
        b = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        for ext, critical in extra:
            b = b.add_extension(ext, critical=critical)
        p = self.tmp / name
        p.write_bytes(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        key_path = self.tmp / (name + ".key")
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return p

    def refused(self, args, message, ca):
        r = minica(args, ca=ca, cwd=self.tmp)
        self.assertEqual(r.code, 1, r)
        self.assertIn(message, r.err, r)
        return r

    def test_ipv4_in_ipv6_is_refused(self):
        """Under --exclude 10.0.0.0/8, ::ffff:10.1.2.3 was issued, and Go
        accepts that certificate for 10.1.2.3. Refused, from the command line
        and from a CSR, mapped and compatible forms."""
        ca = self.new_ca("v4v6-ca", "--exclude", "10.0.0.0/8")
        for name in ("::ffff:10.1.2.3", "::ffff:a01:203", "::10.1.2.3"):
            self.refused(["sign", name, "--out", self.tmp / "v4v6"], "IPv4 address written as IPv6", ca)
        csr = self.csr("v4v6.csr", [x509.IPAddress(ipaddress.ip_address("::ffff:10.1.2.3"))])
        self.refused(["sign", "--csr", csr, "--out", self.tmp / "v4v6"], "IPv4 address written as IPv6", ca)
        self.assertEqual(minica(["list", "--json"], ca=ca).json(), [])
        # ::1 and ordinary IPv6 addresses are still fine.
        self.assertEqual(minica(["sign", "::1", "fd00::1", "--out", self.tmp / "v6ok"], ca=ca).code, 0)

    def test_uri_dot_segments_and_encoded_separators_are_refused(self):
        ca = self.new_ca("spiffe-ca")
        os.chmod(ca / "policy.json", 0o644)
        (ca / "policy.json").write_text(json.dumps({"allowed_names": ["spiffe://example.org/ns/tenant-a/"]}))
        out = self.tmp / "spiffe-out"
        for uri in ("spiffe://example.org/ns/tenant-a/../tenant-b/sa/admin",
                    "spiffe://example.org/ns/tenant-a/%2e%2e/tenant-b/sa/admin",
                    "spiffe://example.org/ns/tenant-a/%2E%2E%2Ftenant-b",
                    "spiffe://example.org/ns/tenant-a/./sa"):
            self.refused(["sign", uri, "--out", out], "is refused", ca)
        csr = self.csr("dots.csr", [x509.UniformResourceIdentifier(
            "spiffe://example.org/ns/tenant-a/../tenant-b/sa/admin")])
        self.refused(["sign", "--csr", csr, "--out", out], "dot-segment", ca)
        self.assertEqual(minica(["sign", "spiffe://example.org/ns/tenant-a/sa/web", "--out", out], ca=ca).code, 0)

    def test_uri_without_authority_meets_dns_constraints(self):
        ca = self.new_ca("noauth-ca", "--exclude", "secret.example.com")
        for uri in ("https:secret.example.com", "https:/secret.example.com/"):
            self.refused(["sign", uri, "--out", self.tmp / "noauth"], "no authority host", ca)
        self.assertEqual(minica(["sign", "https://public.example.com/", "--out", self.tmp / "noauth"], ca=ca).code, 0)
        self.refused(["sign", "https://secret.example.com/x", "--out", self.tmp / "noauth2"], "excluded", ca)

    def test_duplicate_csr_extensions_are_refused(self):
        """A second basicConstraints (CA:TRUE) after CA:FALSE, or a second EKU
        (codeSigning) after serverAuth, in a correctly signed request: the
        request is malformed and refused; before, the first of each was read."""
        ca = self.new_ca("dup-ca")

        def der_len(n):
            if n < 0x80:
                return bytes([n])
            b = n.to_bytes((n.bit_length() + 7) // 8, "big")
            return bytes([0x80 | len(b)]) + b

        placeholder = bytes.fromhex("06032a0304")  # OID 1.2.3.4, as long as id-ce-*
        for label, first, second_oid, second_value in (
                ("basicConstraints", x509.BasicConstraints(ca=False, path_length=None), "551d13", "30030101ff"),
                ("extendedKeyUsage", x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), "551d25",
                 "300a06082b06010505070303")):
            key = ec.generate_private_key(ec.SECP256R1())
            req = (x509.CertificateSigningRequestBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dup.example.test")]))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("dup.example.test")]), critical=False)
                   .add_extension(first, critical=False)
                   .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"),
                                                             bytes.fromhex(second_value)), critical=False)
                   .sign(key, hashes.SHA256()))
            tbs = req.tbs_certrequest_bytes
            self.assertEqual(tbs.count(placeholder), 1)
            tbs = tbs.replace(placeholder, bytes.fromhex("0603" + second_oid))
            sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
            body = tbs + bytes.fromhex("300a06082a8648ce3d040302") + b"\x03" + der_len(len(sig) + 1) + b"\x00" + sig
            path = self.tmp / f"dup-{label}.der"
            path.write_bytes(b"\x30" + der_len(len(body)) + body)
            ok = subprocess.run(["openssl", "req", "-inform", "DER", "-in", path, "-verify", "-noout"],
                                capture_output=True, text=True)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)  # a valid signature: only the duplicate is wrong
            self.refused(["sign", "--csr", path, "--out", self.tmp / "dup-out"], "twice", ca)
        self.assertEqual(minica(["list", "--json"], ca=ca).json(), [])

    def test_renew_refuses_revoked_and_compromised_keys_never_return(self):
        ca = self.new_ca("renew-ca")
        out = self.tmp / "renew-out"
        self.assertEqual(minica(["sign", "r.example.test", "--out", out], ca=ca).code, 0)
        cert = out / "r.example.test" / "cert.pem"
        self.assertEqual(minica(["revoke", cert, "--reason", "keyCompromise"], ca=ca).code, 0)
        self.refused(["renew", cert, "--force"], "not renewed", ca)
        self.refused(["renew", cert, "--reuse-key", "--force"], "not renewed", ca)
        # The compromised key, presented again in a CSR, is refused too.
        key = out / "r.example.test" / "key.pem"
        csr = self.tmp / "compromised.csr"
        subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=r2.example.test",
                        "-addext", "subjectAltName=DNS:r2.example.test", "-out", csr], check=True,
                       capture_output=True)
        self.refused(["sign", "--csr", csr, "--out", self.tmp / "renew-out2"], "keyCompromise", ca)
        self.assertEqual(len(minica(["list", "--json"], ca=ca).json()), 1)

    def test_cn_is_never_an_ip_address(self):
        """Under --permit example.com --permit 10.0.0.0/8 an IP-only
        certificate got CN=10.1.2.3 and failed OpenSSL verification (the CN is
        checked as a DNS name)."""
        ca = self.new_ca("cn-ca", "--permit", "example.com", "--permit", "10.0.0.0/8")
        out = self.tmp / "cn-out"
        self.assertEqual(minica(["sign", "10.1.2.3", "--out", out], ca=ca).code, 0)
        leaf = out / "10.1.2.3" / "cert.pem"
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        self.assertEqual(list(cert.subject), [])
        v = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", ca / "ca.pem", "-verify_ip", "10.1.2.3",
                            leaf], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # An email-only certificate carries its address as CN.
        self.assertEqual(minica(["sign", "carol@example.com", "--client", "--out", out], ca=ca).code, 0)
        mail = x509.load_pem_x509_certificate((out / "carol@example.com" / "cert.pem").read_bytes())
        self.assertEqual(mail.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "carol@example.com")

    def test_verify_checks_revocation(self):
        """`verify` printed OK for a certificate this CA had revoked and
        published. Now: the inventory answers at once, the published CRL too,
        a foreign CA's CRL with --crl; an expired published CRL is a warning."""
        ca = self.new_ca("verify-ca")
        out = self.tmp / "verify-out"
        for n in ("gone.test", "kept.test"):
            self.assertEqual(minica(["sign", n, "--out", out], ca=ca).code, 0)
        gone, kept = out / "gone.test" / "cert.pem", out / "kept.test" / "cert.pem"
        self.assertEqual(minica(["verify", gone], ca=ca).code, 0)
        self.assertEqual(minica(["revoke", gone, "--reason", "keyCompromise"], ca=ca).code, 0)
        # Not yet published: the inventory is authoritative.
        r = self.refused(["verify", gone], "certificate revoked on", ca)
        self.assertIn("keyCompromise", r.err)
        self.assertIn("inventory", r.err)
        r = minica(["verify", "--json", gone], ca=ca)
        self.assertEqual(r.code, 1, r)
        j = json.loads(r.out)
        self.assertFalse(j["ok"])
        self.assertEqual(j["revoked"]["reason"], "keyCompromise")
        self.assertEqual(minica(["verify", kept], ca=ca).code, 0)
        # Published: a foreign verifier (--roots, no inventory) sees it through --crl.
        self.assertEqual(minica(["crl"], ca=ca).code, 0)
        self.assertEqual(minica(["verify", "--roots", ca / "ca.pem", gone], ca=ca).code, 0)  # no CRL given
        r = self.refused(["verify", "--roots", ca / "ca.pem", "--crl", ca / "crl.pem", gone], "revoked on", ca)
        self.assertIn("keyCompromise", r.err)
        self.assertEqual(minica(["verify", "--roots", ca / "ca.pem", "--crl", ca / "crl.pem", kept], ca=ca).code, 0)
        # An expired published CRL: a warning when the inventory answered.
        import datetime
        ca_cert = x509.load_pem_x509_certificate((ca / "ca.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((ca / "ca-key.pem").read_bytes(), None)
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3)
        old = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject).last_update(past)
               .next_update(past + datetime.timedelta(days=1))
               .add_extension(x509.CRLNumber(99), critical=False)
               .sign(ca_key, hashes.SHA256()))
        (ca / "crl.pem").write_bytes(old.public_bytes(serialization.Encoding.PEM))
        r = minica(["verify", kept], ca=ca)
        self.assertEqual(r.code, 0, r)
        self.assertIn("expired", r.err)
        r = minica(["verify", "--json", kept], ca=ca)
        self.assertEqual(r.code, 0, r)
        self.assertTrue(any("expired" in w for w in json.loads(r.out)["warnings"]))
        self.refused(["verify", gone], "revoked on", ca)  # the inventory still answers
        # A foreign verifier with only that expired CRL: fails (nothing else answers).
        r = self.refused(["verify", "--roots", ca / "ca.pem", "--crl", ca / "crl.pem", kept], "CRL has expired", ca)

    def test_revoked_intermediate_stops_issuing_and_is_on_the_root_crl(self):
        """Revoking the issuing intermediate said "Publish it with: minica crl",
        the CRL listed nothing and the CA kept issuing under it."""
        ca = self.new_ca("inter-ca", "--intermediate")
        out = self.tmp / "inter-out"
        self.assertEqual(minica(["sign", "before.test", "--out", out], ca=ca).code, 0)
        inter = x509.load_pem_x509_certificate((ca / "ca.pem").read_bytes())
        serial = format(inter.serial_number, "X")
        r = minica(["revoke", serial, "--reason", "cACompromise"], ca=ca)
        self.assertEqual(r.code, 0, r)
        self.assertIn("root-crl.pem", r.out)
        self.refused(["sign", "after.test", "--out", out], "was revoked", ca)
        self.assertFalse((out / "after.test").exists())
        self.assertEqual(minica(["crl"], ca=ca).code, 0)
        root = x509.load_pem_x509_certificate((ca / "root.pem").read_bytes())
        crl = x509.load_pem_x509_crl((ca / "root-crl.pem").read_bytes())
        self.assertTrue(crl.is_signature_valid(root.public_key()))
        self.assertIsNotNone(crl.get_revoked_certificate_by_serial_number(inter.serial_number))
        # verify says so for a leaf under it
        r = self.refused(["verify", out / "before.test" / "cert.pem"], "revoked on", ca)
        self.assertIn("depth 1", r.err)

    def test_ca_directory_and_keys_open_to_others_are_refused(self):
        ca = self.new_ca("perm-ca")
        out = self.tmp / "perm-out"
        os.chmod(ca, 0o777)
        try:
            self.refused(["sign", "p.example.test", "--out", out], "chmod go-w", ca)
        finally:
            os.chmod(ca, 0o700)
        os.chmod(ca / "ca-key.pem", 0o644)
        try:
            self.refused(["sign", "p.example.test", "--out", out], "chmod 400", ca)
        finally:
            os.chmod(ca / "ca-key.pem", 0o400)
        self.assertEqual(minica(["sign", "p.example.test", "--out", out], ca=ca).code, 0)


FINDINGS = pathlib.Path(__file__).resolve().parent.parent / "fuzz" / "findings"


class FuzzFindings(ClassTempDir):
    """What the fuzz targets found (fuzz/findings/README.md), through the CLI."""
    temp_prefix = "minica-findings-"

    def openssl(self, *args, data=None):
        return subprocess.run(["openssl", *map(str, args)], input=data, capture_output=True)

    def test_san_that_is_not_utf8_is_printed_escaped(self):
        """A dNSName with a byte that is not UTF-8: `inspect --json` threw
        nlohmann's type_error 316 (exit 1); plain `inspect` printed the raw byte."""
        f = FINDINGS / "certificate-san-invalid-utf8.der"
        r = minica(["inspect", "--json", f], cwd=self.tmp)
        self.assertEqual(r.code, 0, r)
        dns = json.loads(r.out)["names"]["dns"]
        self.assertTrue(any("\\x9f" in d for d in dns), dns)
        r = minica(["inspect", f], cwd=self.tmp)
        self.assertEqual(r.code, 0, r)
        self.assertIn("\\x9f", r.out)

    def test_control_characters_in_names_never_reach_the_terminal(self):
        """SAN and subject with ESC, newline and a C1 control (U+009B, CSI)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil\u009b31m\nFAKE: ok")])
        import datetime
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("a\x1b[2J\nb.test"),
                                                            x509.UniformResourceIdentifier("https://x.test/\r\n")]),
                               critical=False)
                .sign(key, hashes.SHA256()))
        f = self.tmp / "evil.pem"
        f.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        for args in (["inspect", f], ["inspect", "--json", f]):
            r = minica(args, cwd=self.tmp)
            self.assertEqual(r.code, 0, r)
            for c in ("\x1b", "\r", "\u009b"):
                self.assertNotIn(c, r.out, args)
            if "--json" not in args:
                self.assertNotIn("\nFAKE", r.out)
                self.assertIn("\\x1b", r.out)

    def test_spki_pin_is_the_one_openssl_computes(self):
        """The SPKI's BIT STRING has nonzero padding bits: OpenSSL reads it and
        encodes it with them cleared; minica hashed the bytes as read."""
        leaf = self.tmp / "ca-for-pin"
        self.assertEqual(minica(["init"], ca=leaf).code, 0)
        der = bytearray(der_of(leaf / "ca.pem"))
        point = der.find(bytes.fromhex("03420004"))  # the P-256 key's BIT STRING, 0 unused bits
        self.assertGreater(point, 0)
        der[point + 2] = 4  # 4 unused bits...
        der[point + 3 + 64] |= 0x0F  # ...that are not zero
        f = self.tmp / "padding.der"
        f.write_bytes(bytes(der))
        self.assertEqual(self.openssl("x509", "-inform", "DER", "-in", f, "-noout").returncode, 0)

        def tlv(b, i):  # (tag, start of content, end) of the DER TLV at b[i]
            n = b[i + 1]
            if n < 0x80:
                return b[i], i + 2, i + 2 + n
            k = n & 0x7F
            return b[i], i + 2 + k, i + 2 + k + int.from_bytes(b[i + 2:i + 2 + k], "big")

        der = bytes(der)
        _, c, _ = tlv(der, 0)  # Certificate
        _, i, _ = tlv(der, c)  # TBSCertificate
        for _ in range(6):  # [0] version, serial, signature, issuer, validity, subject
            i = tlv(der, i)[2]
        _, s, spki_end = tlv(der, i)  # SubjectPublicKeyInfo
        _, _, alg_end = tlv(der, s)
        _, bits, bits_end = tlv(der, alg_end)
        unused = der[bits]
        self.assertGreater(unused, 0)
        spki = bytearray(der[i:spki_end])
        spki[bits_end - 1 - i] &= (0xFF << unused) & 0xFF  # what OpenSSL writes back: padding bits zero
        import base64
        import hashlib
        want = "sha256//" + base64.b64encode(hashlib.sha256(bytes(spki)).digest()).decode()
        r = minica(["inspect", "--json", f], cwd=self.tmp)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(json.loads(r.out)["spki_pin"], want)

    def test_key_pem_openssl_refuses_is_refused(self):
        """BEGIN, base64 and END on one line: OpenSSL refuses it; minica's
        PKCS#8 fast path read it as a key."""
        f = self.tmp / "key-pem-on-one-line.key"
        f.write_bytes((FINDINGS / f.name).read_bytes()[1:])  # the first byte is fuzz_key's mode (0: PEM)
        self.assertNotEqual(self.openssl("pkey", "-in", f, "-noout").returncode, 0)
        r = minica(["inspect", f], cwd=self.tmp)
        self.assertEqual(r.code, 1, r)
        self.assertIn("key-pem-on-one-line.key", r.err)


if __name__ == "__main__":
    main()
