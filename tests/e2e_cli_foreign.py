"""The minica CLI on certificates, requests and keys it did not make: chains
openssl signed with every digest the default provider has, CSRs signed with
SHA-384/512, and private keys encrypted in every form openssl writes (PKCS#8
with PBES2 and scrypt, and the traditional PEM form with a DEK-Info cipher).

minica's main() keeps OpenSSL's legacy algorithm tables small (start-up time;
tools/minica/main.cpp) and registers by hand the digests and ciphers that are
still looked up through them: this file is what shows that nothing a user
brings stops working because of it. Each verdict is compared with
`openssl verify` on the same files."""

from cli_common import ClassTempDir, main, minica, openssl_verify, run

# Digests a certificate signature may use. minica must reach the verdict
# `openssl verify` reaches on the same chain, and must accept these:
DIGESTS = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha512-224", "sha512-256", "sha3-224",
           "sha3-256", "sha3-384", "sha3-512"]
MUST_PASS = {("rsa", d) for d in ["sha224", "sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512"]} | \
            {("ec", d) for d in ["sha224", "sha256", "sha384", "sha512"]}
WEAK = {"md5", "sha1"}  # refused as too weak at minica's security level (and openssl's -auth_level 2)
# Ciphers openssl can name in a traditional PEM key's DEK-Info header (those
# of the default provider; DES-CBC, Blowfish, IDEA and SEED need the legacy
# provider, which minica does not load, like openssl itself without config).
TRADITIONAL = ["aes128", "aes192", "aes256", "aria128", "aria192", "aria256", "camellia128", "camellia192",
               "camellia256", "des3"]


class Foreign(ClassTempDir):
    temp_prefix = "minica-cli-foreign-"

    def openssl(self, *args, input=None):
        p = run(["openssl"] + list(args), input=input, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def root(self, key_alg, name):
        """A root made by openssl: RSA (digest chosen per signature) or P-256."""
        key, cert = self.tmp / f"{name}-key.pem", self.tmp / f"{name}.pem"
        opts = ["-newkey", "rsa:2048"] if key_alg == "rsa" else ["-newkey", "ec", "-pkeyopt",
                                                                 "ec_paramgen_curve:P-256"]
        self.openssl("req", "-x509", *opts, "-nodes", "-keyout", key, "-out", cert, "-subj", f"/CN={name}",
                     "-days", "30", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def leaf(self, root, root_key, digest, name):
        """A leaf signed with `digest`, or None when openssl cannot sign with it."""
        key, csr, cert, ext = (self.tmp / f"{name}-key.pem", self.tmp / f"{name}.csr", self.tmp / f"{name}.pem",
                               self.tmp / f"{name}.ext")
        ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:leaf.test\n")
        self.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", key, "-out", csr, "-subj", "/CN=leaf.test")
        p = run(["openssl", "x509", "-req", "-in", csr, "-CA", root, "-CAkey", root_key, "-days", "10",
                 f"-{digest}", "-extfile", ext, "-out", cert], cwd=self.tmp)
        return cert if p.returncode == 0 else None

    def test_chains_signed_with_every_digest(self):
        roots = {"rsa": self.root("rsa", "rsa-root"), "ec": self.root("ec", "ec-root")}
        passed = set()
        for alg, (root, root_key) in roots.items():
            for digest in DIGESTS:
                with self.subTest(signer=alg, digest=digest):
                    cert = self.leaf(root, root_key, digest, f"{alg}-{digest}")
                    if cert is None:
                        self.assertNotIn((alg, digest), MUST_PASS, "openssl could not sign")
                        continue
                    ossl_ok, ossl_out = openssl_verify(root, cert, host="leaf.test")
                    r = minica(["verify", cert, "--roots", root, "--host", "leaf.test"], home=self.tmp)
                    self.assertEqual(r.code, 0 if ossl_ok else 1, f"openssl: {ossl_out}\nminica: {r!r}")
                    if ossl_ok:
                        self.assertIn("OK for server use", r.out)
                        passed.add((alg, digest))
                    elif digest in WEAK:
                        self.assertIn("too weak", ossl_out)
                        self.assertIn("too weak", r.err)
                    # inspect reads the certificate whatever its signature
                    r = minica(["inspect", cert, "--json"], home=self.tmp)
                    self.assertEqual(r.code, 0, r)
        self.assertEqual(MUST_PASS - passed, set())

    def test_csrs_signed_with_sha384_and_sha512(self):
        ca = self.tmp / "ca-csr"
        self.assertEqual(minica(["init", "--key", "ec-p256"], ca=ca, home=self.tmp).code, 0)
        for digest in ("sha384", "sha512", "sha3-256"):
            with self.subTest(digest=digest):
                csr = self.tmp / f"req-{digest}.csr"
                self.openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", self.tmp / f"req-{digest}.key",
                             "-out", csr, "-subj", f"/CN={digest}.test", f"-{digest}",
                             "-addext", f"subjectAltName=DNS:{digest}.test")
                out = self.tmp / f"out-{digest}"
                r = minica(["sign", "--csr", csr, f"{digest}.test", "--out", out], ca=ca, home=self.tmp)
                self.assertEqual(r.code, 0, r)
                ok, why = openssl_verify(ca / "ca.pem", out / f"{digest}.test" / "cert.pem", host=f"{digest}.test")
                self.assertTrue(ok, why)

    def check_key(self, path, passphrase="secret"):
        r = minica(["inspect", path, "--json"], env={"MINICA_PASSPHRASE": passphrase}, home=self.tmp)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.json()["key_type"], "ec-p256", r)
        self.assertTrue(r.json()["encrypted"], r)
        r = minica(["inspect", path], env={"MINICA_PASSPHRASE": "wrong"}, home=self.tmp)
        self.assertEqual(r.code, 1, r)
        self.assertIn("wrong passphrase", r.err)

    def test_traditional_encrypted_keys(self):
        plain = self.tmp / "plain-key.pem"
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain)
        for cipher in TRADITIONAL:
            with self.subTest(cipher=cipher):
                path = self.tmp / f"trad-{cipher}.pem"
                self.openssl("pkey", "-in", plain, "-traditional", f"-{cipher}", "-passout", "pass:secret",
                             "-out", path)
                self.assertIn("DEK-Info:", path.read_text())
                self.check_key(path)

    def test_pkcs8_encrypted_keys(self):
        plain = self.tmp / "p8-plain.pem"
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain)
        forms = {"aes-256-cbc": ["-v2", "aes-256-cbc"], "aes-128-cbc-sha512": ["-v2", "aes-128-cbc", "-v2prf",
                                                                                "hmacWithSHA512"],
                 "camellia-256-cbc": ["-v2", "camellia-256-cbc"], "aria-256-cbc": ["-v2", "aria-256-cbc"],
                 "des3": ["-v2", "des3"], "scrypt": ["-scrypt", "-v2", "aes-256-cbc"]}
        for label, opts in forms.items():
            with self.subTest(form=label):
                path = self.tmp / f"p8-{label}.pem"
                self.openssl("pkcs8", "-topk8", "-in", plain, *opts, "-passout", "pass:secret", "-out", path)
                self.assertIn("BEGIN ENCRYPTED PRIVATE KEY", path.read_text())
                self.check_key(path)


if __name__ == "__main__":
    main()
