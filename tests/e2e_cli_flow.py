"""The minica CLI end to end, as a person uses it: init -> sign (server,
client, both; DNS, wildcard, IDN, IPv4, IPv6, email, URI) -> verify, for every
key type, with a root or an intermediate issuing; then csr / sign --csr,
PKCS#12, encrypted CAs, name constraints, revoke / crl, renew and list. Every
chain is also checked by `openssl verify -x509_strict` and pyca cryptography's
x509.verification; every --json output against its schema; every file's mode."""
import base64
import hashlib
import json
import os
import pathlib
import re
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from cli_common import (ClassTempDir, KEY_TYPES, MINICA, minica, mode, openssl_verify, pyca_verify, run, snapshot, validate, main)

SERVER = ["app.test", "*.wild.test", "bücher.test", "127.0.0.1", "::1", "admin@app.test", "spiffe://app.test/svc"]
CLIENT = ["alice@app.test", "spiffe://app.test/alice", "alice.app.test"]
BOTH = ["both.test", "10.1.2.3"]
# With an intermediate for these; a root issues directly for the others.
VIA_INTERMEDIATE = {"ec-p384", "ed25519", "rsa-3072"}


def load_certs(path):
    return x509.load_pem_x509_certificates(pathlib.Path(path).read_bytes())


def spki_pin(cert):
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


class Flow(ClassTempDir):
    temp_prefix = "minica-cli-flow-"

    def ok(self, args, **kw):
        r = minica(args, **kw)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.err.strip(), "", r)
        return r

    def assert_modes(self, expected):
        for path, m in expected.items():
            self.assertEqual(oct(mode(path)), oct(m), str(path))

    # ---- the whole flow, per key type -----------------------------------------

    def flow(self, kt):
        inter = kt in VIA_INTERMEDIATE
        ca = self.tmp / f"ca-{kt}"
        out = self.tmp / f"out-{kt}"
        r = self.ok(["init", "--key", kt] + (["--intermediate"] if inter else []), ca=ca)
        self.assertIn(str(ca), r.out)
        self.assertIn("Expires", r.out)
        modes = {ca / "ca.pem": 0o644, ca / "ca-key.pem": 0o400, ca / "policy.json": 0o644,
                 ca / "inventory.db": 0o600}
        if inter:
            modes.update({ca / "root.pem": 0o644, ca / "root-key.pem": 0o400, ca / "chain.pem": 0o644})
        self.assert_modes(modes)
        anchor = ca / ("root.pem" if inter else "ca.pem")
        ca_json = self.ok(["inspect", "--json", ca / "ca.pem"]).json()
        validate(ca_json, "certificate")
        self.assertEqual(ca_json["key_type"], kt)
        self.assertTrue(ca_json["is_ca"])
        self.assertEqual(ca_json["self_signed"], not inter)

        cases = [("server", SERVER, "app.test"), ("client", CLIENT, "alice@app.test"), ("both", BOTH, "both.test")]
        for profile, names, dirname in cases:
            with self.subTest(kt=kt, profile=profile):
                r = self.ok(["sign", *names, f"--{profile}", "--key", kt, "--out", out], ca=ca)
                d = out / dirname
                for f in ["cert.pem", "key.pem", "fullchain.pem"] + (["chain.pem"] if inter else []):
                    self.assertIn(str(d / f), r.out)
                self.assertRegex(r.out, r"Expires \d{4}-\d\d-\d\dT")
                self.assert_modes({d / "cert.pem": 0o644, d / "key.pem": 0o600, d / "fullchain.pem": 0o644, d: 0o755})
                if inter:
                    self.assert_modes({d / "chain.pem": 0o644})
                leaf = load_certs(d / "cert.pem")[0]
                full = load_certs(d / "fullchain.pem")
                self.assertEqual(full[0], leaf)
                self.assertEqual(len(full), 2 if inter else 1)
                # A root CA's leaf has no intermediates: no chain.pem (an empty one is no PEM).
                self.assertEqual((d / "chain.pem").exists(), inter)

                cj = self.ok(["inspect", "--json", d / "cert.pem"]).json()
                validate(cj, "certificate")
                self.assertEqual(cj["key_type"], kt)
                self.assertFalse(cj["is_ca"])
                self.assertEqual(cj["spki_pin"], spki_pin(leaf))
                self.assertEqual(cj["fingerprint_sha256"], leaf.fingerprint(hashes.SHA256()).hex(":").upper())
                eku = {"server": ["serverAuth"], "client": ["clientAuth"], "both": ["serverAuth", "clientAuth"]}
                self.assertEqual(cj["extended_key_usage"], eku[profile])
                ku = ["digitalSignature"] + (["keyEncipherment"] if kt.startswith("rsa") else [])
                self.assertEqual(cj["key_usage"], ku)
                kj = self.ok(["inspect", "--json", d / "key.pem"]).json()
                validate(kj, "key")
                self.assertEqual((kj["key_type"], kj["encrypted"], kj["spki_pin"]), (kt, False, cj["spki_pin"]))
                if inter:
                    chj = self.ok(["inspect", "--json", d / "fullchain.pem"]).json()
                    validate(chj, "chain")
                    self.assertEqual(chj["certificates"][0], cj)

                untrusted = str(d / "chain.pem") if inter else None
                inters = [d / "chain.pem"] if inter else []
                if profile in ("server", "both"):
                    checks = ([("host", "app.test"), ("host", "x.wild.test"), ("host", "xn--bcher-kva.test"),
                               ("ip", "127.0.0.1"), ("ip", "::1")] if profile == "server"
                              else [("host", "both.test"), ("ip", "10.1.2.3")])
                    for kind, name in checks:
                        v = self.ok(["verify", d / "fullchain.pem", f"--{kind}", name], ca=ca)
                        self.assertIn("OK", v.out)
                        self.ok(["verify", d / "cert.pem", f"--{kind}", name], ca=ca)  # CA dir adds its chain
                        good, why = openssl_verify(anchor, d / "cert.pem", untrusted, "server", **{kind: name})
                        self.assertTrue(good, why)
                        good, why = pyca_verify(anchor, d / "cert.pem", inters, "server", name)
                        # The web-PKI profile pyca enforces has no Ed25519: refused, not crashed.
                        self.assertEqual(good, kt != "ed25519", why)
                    if profile == "server":
                        self.ok(["verify", d / "cert.pem", "--host", "bücher.test"], ca=ca)  # U-label in, A-label match
                    wrong = minica(["verify", d / "cert.pem", "--host", "other.test"], ca=ca)
                    self.assertEqual(wrong.code, 1, wrong)
                    self.assertIn("hostname mismatch", wrong.err)
                    self.assertFalse(openssl_verify(anchor, d / "cert.pem", untrusted, "server", host="other.test")[0])
                    self.assertFalse(openssl_verify(anchor, d / "cert.pem", untrusted, "server", host="a.b.wild.test")[0])
                    self.assertFalse(pyca_verify(anchor, d / "cert.pem", inters, "server", "other.test")[0])
                if profile in ("client", "both"):
                    self.ok(["verify", d / "fullchain.pem", "--purpose", "client"], ca=ca)
                    good, why = openssl_verify(anchor, d / "cert.pem", untrusted, "client")
                    self.assertTrue(good, why)
                    good, why = pyca_verify(anchor, d / "cert.pem", inters, "client")
                    self.assertEqual(good, kt != "ed25519", why)
                if profile == "client":
                    bad = minica(["verify", d / "cert.pem", "--purpose", "server"], ca=ca)
                    self.assertEqual(bad.code, 1, bad)
                    self.assertIn("purpose", bad.err)
                    self.assertFalse(openssl_verify(anchor, d / "cert.pem", untrusted, "server")[0])
                # verify --json, for a pass and for a failure
                vj = minica(["verify", "--json", d / "cert.pem"], ca=ca)
                self.assertEqual(vj.code, 0, vj)
                validate(vj.json(), "verify")
                self.assertEqual(len(vj.json()["chain"]), 3 if inter else 2)
                vj = minica(["verify", "--json", d / "cert.pem", "--roots", d / "cert.pem"], ca=ca)
                self.assertEqual(vj.code, 1, vj)
                validate(vj.json(), "verify")
                self.assertFalse(vj.json()["ok"])

        records = self.ok(["list", "--json"], ca=ca).json()
        validate(records, "list")
        self.assertEqual(sorted(r["profile"] for r in records),
                         sorted(["server", "client", "both"] + (["ca"] if inter else [])))
        self.assertTrue(all(r["key_type"] == kt and r["status"] == "valid" for r in records))
        text = self.ok(["list"], ca=ca).out
        for r in records:
            self.assertIn(r["serial"], text)

    def test_flow_ec_p256(self):
        self.flow("ec-p256")

    def test_flow_ec_p384(self):
        self.flow("ec-p384")

    def test_flow_ed25519(self):
        self.flow("ed25519")

    def test_flow_rsa_2048(self):
        self.flow("rsa-2048")

    def test_flow_rsa_3072(self):
        self.flow("rsa-3072")

    def test_flow_rsa_4096(self):
        self.flow("rsa-4096")

    # ---- the other verbs --------------------------------------------------------

    def test_sign_creates_a_ca_in_the_default_location_when_there_is_none(self):
        home = self.tmp / "auto-home"
        home.mkdir()
        ca = home / ".local" / "share" / "minica"
        out = self.tmp / "auto-out"
        r = self.ok(["sign", "auto.test", "--out", out], home=home)
        self.assertIn(f"Created a new CA in {ca}", r.out)
        self.assertTrue((ca / "ca.pem").exists())
        self.assert_modes({ca / "ca-key.pem": 0o400, out / "auto.test" / "key.pem": 0o600})
        good, why = openssl_verify(ca / "ca.pem", out / "auto.test" / "cert.pem", host="auto.test")
        self.assertTrue(good, why)
        r = self.ok(["sign", "second.test", "--out", out], home=home)
        self.assertNotIn("Created a new CA", r.out)

    def test_output_directory_names(self):
        ca = self.tmp / "dirs-ca"
        out = self.tmp / "dirs-out"
        self.ok(["init"], ca=ca)
        for first, dirname in [("*.wild.test", "_wildcard.wild.test"), ("::1", "__1"), ("fd00::2", "fd00__2"),
                               ("spiffe://dirs.test/svc", "spiffe___dirs.test_svc"),
                               ("bücher.test", "xn--bcher-kva.test"), ("ops@dirs.test", "ops@dirs.test")]:
            with self.subTest(first=first):
                r = self.ok(["sign", first, "extra.test", "--out", out], ca=ca)
                self.assertIn(str(out / dirname / "cert.pem"), r.out)
                self.assertTrue((out / dirname / "key.pem").exists())

    def test_ca_directory_resolution(self):
        home = self.tmp / "home"
        home.mkdir()
        # default: ~/.local/share/minica; the output directory defaults to the current one
        self.ok(["sign", "h.test"], cwd=home, home=home)
        self.assertTrue((home / ".local/share/minica/ca.pem").exists())
        self.assertTrue((home / "h.test/cert.pem").exists())
        # $XDG_DATA_HOME/minica
        xdg = self.tmp / "xdg"
        self.ok(["init"], home=home, env={"XDG_DATA_HOME": str(xdg)})
        self.assertTrue((xdg / "minica/ca.pem").exists())
        # $MINICA_CA_DIR beats XDG; --ca-dir beats both (before or after the verb)
        env_dir, flag_dir = self.tmp / "env-ca", self.tmp / "flag-ca"
        self.ok(["init"], home=home, env={"XDG_DATA_HOME": str(xdg), "MINICA_CA_DIR": str(env_dir)})
        self.assertTrue((env_dir / "ca.pem").exists())
        self.ok(["--ca-dir", flag_dir, "init"], home=home, env={"MINICA_CA_DIR": str(env_dir)})
        self.assertTrue((flag_dir / "ca.pem").exists())
        self.ok(["list", "--ca-dir", flag_dir, "-q"], home=home)

    def test_csr_then_sign_csr(self):
        ca = self.tmp / "csr-ca"
        self.ok(["init", "--intermediate"], ca=ca)
        out = self.tmp / "csr-out"
        r = self.ok(["csr", "svc.test", "10.9.8.7", "--key", "ec-p384", "--out", out])
        d = out / "svc.test"
        self.assert_modes({d / "key.pem": 0o600, d / "csr.pem": 0o644})
        self.assertIn(str(d / "csr.pem"), r.out)
        cj = self.ok(["inspect", "--json", d / "csr.pem"]).json()
        validate(cj, "csr")
        self.assertEqual((cj["key_type"], cj["signature_valid"], cj["requests_ca"]), ("ec-p384", True, False))
        self.assertEqual(cj["names"]["dns"], ["svc.test"])
        self.assertEqual(cj["names"]["ip"], ["10.9.8.7"])
        text = self.ok(["inspect", d / "csr.pem"]).out
        self.assertIn("DNS:svc.test", text)

        signed = self.tmp / "csr-signed"
        r = self.ok(["sign", "--csr", d / "csr.pem", "--client", "--out", signed], ca=ca)
        sd = signed / "svc.test"
        self.assertFalse((sd / "key.pem").exists())  # the key stays with whoever made the request
        self.assert_modes({sd / "cert.pem": 0o644, sd / "fullchain.pem": 0o644})
        cert = self.ok(["inspect", "--json", sd / "cert.pem"]).json()
        key = self.ok(["inspect", "--json", d / "key.pem"]).json()
        self.assertEqual(cert["spki_pin"], key["spki_pin"])
        self.assertEqual(cert["extended_key_usage"], ["clientAuth"])
        self.assertEqual(cert["names"]["ip"], ["10.9.8.7"])
        good, why = openssl_verify(ca / "root.pem", sd / "cert.pem", ca / "chain.pem", "client")
        self.assertTrue(good, why)

        # An external CSR: its extensions are never copied; NAMEs override its names.
        k = ec.generate_private_key(ec.SECP256R1())
        req = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ext.test")]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("ext.test")]), critical=False)
               .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
                              critical=False)
               .add_extension(x509.OCSPNoCheck(), critical=False)
               .sign(k, hashes.SHA256()))
        (self.tmp / "ext.csr").write_bytes(req.public_bytes(serialization.Encoding.PEM))
        self.ok(["sign", "--csr", self.tmp / "ext.csr", "--out", signed], ca=ca)
        c = load_certs(signed / "ext.test" / "cert.pem")[0]
        oids = {e.oid.dotted_string for e in c.extensions}
        self.assertNotIn("1.3.6.1.4.1.55555.1", oids)
        self.assertNotIn(x509.oid.ExtensionOID.OCSP_NO_CHECK.dotted_string, oids)
        self.ok(["sign", "--csr", self.tmp / "ext.csr", "other.test", "--out", signed], ca=ca)
        c = load_certs(signed / "other.test" / "cert.pem")[0]
        self.assertEqual(c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName), ["other.test"])

    def check_p12(self, p12, cert_pem, key_pem, chain, password):
        data = pathlib.Path(p12).read_bytes()
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode())
        self.assertEqual(cert, load_certs(cert_pem)[0])
        mine = serialization.load_pem_private_key(pathlib.Path(key_pem).read_bytes(), None)
        pub = lambda k: k.public_key().public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(pub(key), pub(mine))
        self.assertEqual(extra, chain)
        with self.assertRaises(ValueError):
            pkcs12.load_key_and_certificates(data, b"wrong")
        info = run(["openssl", "pkcs12", "-info", "-noout", "-passin", f"pass:{password}", "-in", p12])
        self.assertEqual(info.returncode, 0, info.stderr)
        self.assertIn("MAC: sha256", info.stderr)
        self.assertIn("PBES2, PBKDF2, AES-256-CBC", info.stderr)
        self.assertNotIn("RC2", info.stderr)
        self.assertNotIn("3DES", info.stderr)
        bad = run(["openssl", "pkcs12", "-info", "-noout", "-passin", "pass:wrong", "-in", p12])
        self.assertNotEqual(bad.returncode, 0)

    def test_pkcs12(self):
        ca = self.tmp / "p12-ca"
        self.ok(["init", "--intermediate", "--key", "ec-p384"], ca=ca)
        out = self.tmp / "p12-out"
        self.ok(["sign", "me@p12.test", "--client", "--p12", "--out", out], ca=ca,
                env={"MINICA_P12_PASSPHRASE": "correct horse"})
        d = out / "me@p12.test"
        self.assert_modes({d / "cert.p12": 0o600, d / "key.pem": 0o600})
        chain = load_certs(ca / "chain.pem")
        self.check_p12(d / "cert.p12", d / "cert.pem", d / "key.pem", chain, "correct horse")
        friendly = pkcs12.load_pkcs12((d / "cert.p12").read_bytes(), b"correct horse").cert.friendly_name
        self.assertEqual(friendly, b"me@p12.test")

        # export: from the directory or the certificate; passphrase from a file
        pw = self.tmp / "p12-pass"
        pw.write_text("battery staple\n")
        r = self.ok(["export", d, "--p12", self.tmp / "exported.p12", "--p12-passphrase-file", pw])
        self.assertIn(str(self.tmp / "exported.p12"), r.out)
        self.assert_modes({self.tmp / "exported.p12": 0o600})
        self.check_p12(self.tmp / "exported.p12", d / "cert.pem", d / "key.pem", chain, "battery staple")
        self.ok(["export", d / "fullchain.pem", "--key", d / "key.pem", "--p12", self.tmp / "e2.p12",
                 "--name", "Me"], env={"MINICA_P12_PASSPHRASE": "x y z"})
        self.check_p12(self.tmp / "e2.p12", d / "cert.pem", d / "key.pem", chain, "x y z")

    def test_encrypted_ca(self):
        ca = self.tmp / "enc-ca"
        env = {"MINICA_PASSPHRASE": "s3cret pass"}
        self.ok(["init", "--encrypt", "--intermediate", "--key", "ec-p256"], ca=ca, env=env)
        for f in ["ca-key.pem", "root-key.pem"]:
            self.assertIn(b"BEGIN ENCRYPTED PRIVATE KEY", (ca / f).read_bytes())
        kj = self.ok(["inspect", "--json", ca / "ca-key.pem"], env=env).json()
        validate(kj, "key")
        self.assertTrue(kj["encrypted"])
        out = self.tmp / "enc-out"
        self.ok(["sign", "enc.test", "--out", out], ca=ca, env=env)
        pw = self.tmp / "enc-pass"
        pw.write_text("s3cret pass\n")
        self.ok(["sign", "enc2.test", "--out", out, "--passphrase-file", pw], ca=ca)
        serial = self.ok(["inspect", "--json", out / "enc.test/cert.pem"]).json()["serial"]
        self.ok(["revoke", serial, "--passphrase-file", pw], ca=ca)
        self.ok(["crl", "--passphrase-file", pw], ca=ca)
        self.ok(["renew", out / "enc2.test/cert.pem", "--force"], ca=ca, env=env)
        # with --passphrase-file given at init
        ca2 = self.tmp / "enc-ca2"
        self.ok(["init", "--encrypt", "--passphrase-file", pw], ca=ca2)
        self.assertIn(b"BEGIN ENCRYPTED PRIVATE KEY", (ca2 / "ca-key.pem").read_bytes())

    def test_name_constraints(self):
        ca = self.tmp / "nc-ca"
        self.ok(["init", "--permit", "example.test", "--permit", "10.0.0.0/8", "--permit", "@example.test",
                 "--exclude", "bad.example.test"], ca=ca)
        j = self.ok(["inspect", "--json", ca / "ca.pem"]).json()
        validate(j, "certificate")
        self.assertEqual(j["name_constraints"]["permitted"],
                         {"dns": ["example.test"], "ip": ["10.0.0.0/8"], "email": ["example.test"]})
        self.assertEqual(j["name_constraints"]["excluded"]["dns"], ["bad.example.test"])
        out = self.tmp / "nc-out"
        self.ok(["sign", "www.example.test", "10.1.1.1", "--out", out], ca=ca)
        good, why = openssl_verify(ca / "ca.pem", out / "www.example.test/cert.pem", host="www.example.test")
        self.assertTrue(good, why)
        good, why = pyca_verify(ca / "ca.pem", out / "www.example.test/cert.pem", name="www.example.test")
        self.assertTrue(good, why)
        # with --intermediate both carry the constraints: the root is what a
        # machine trusts (minica trust installs it)
        ca2 = self.tmp / "nc-ca2"
        self.ok(["init", "--intermediate", "--permit", ".corp.test"], ca=ca2)
        for f in ("ca.pem", "root.pem"):
            j = self.ok(["inspect", "--json", ca2 / f]).json()
            self.assertEqual(j["name_constraints"]["permitted"]["dns"], [".corp.test"], f)
        r = minica(["sign", "a.other.test", "--out", out], ca=ca2)
        self.assertEqual(r.code, 1, r)
        self.ok(["sign", "a.corp.test", "--out", out], ca=ca2)
        good, why = openssl_verify(ca2 / "root.pem", out / "a.corp.test/cert.pem", ca2 / "chain.pem",
                                   host="a.corp.test")
        self.assertTrue(good, why)

    def test_revoke_and_crl(self):
        ca = self.tmp / "crl-ca"
        self.ok(["init"], ca=ca)
        out = self.tmp / "crl-out"
        for n in ["keep.test", "drop1.test", "drop2.test"]:
            self.ok(["sign", n, "--out", out], ca=ca)
        s1 = self.ok(["inspect", "--json", out / "drop1.test/cert.pem"]).json()["serial"]
        colons = ":".join(s1[i:i + 2] for i in range(0, len(s1), 2)).lower()
        r = self.ok(["revoke", colons], ca=ca)
        self.assertIn(s1, r.out)
        self.ok(["revoke", out / "drop2.test/cert.pem", "--reason", "keyCompromise"], ca=ca)

        revoked = self.ok(["list", "--revoked", "--json"], ca=ca).json()
        validate(revoked, "list")
        self.assertEqual(sorted(r["names"][0] for r in revoked), ["drop1.test", "drop2.test"])
        self.assertEqual({r["reason"] for r in revoked}, {"unspecified", "keyCompromise"})
        validate(self.ok(["list", "--json"], ca=ca).json(), "list")

        r = self.ok(["crl"], ca=ca)
        crl = ca / "crl.pem"
        self.assertIn(str(crl), r.out)
        self.assert_modes({crl: 0o644})
        j = self.ok(["inspect", "--json", crl]).json()
        validate(j, "crl")
        self.assertEqual(len(j["revoked"]), 2)
        first = j["number"]
        good, why = openssl_verify(ca / "ca.pem", out / "keep.test/cert.pem", host="keep.test", crl=crl)
        self.assertTrue(good, why)
        bad, why = openssl_verify(ca / "ca.pem", out / "drop2.test/cert.pem", host="drop2.test", crl=crl)
        self.assertFalse(bad)
        self.assertIn("revoked", why)
        p = run(["openssl", "crl", "-in", crl, "-noout", "-CAfile", ca / "ca.pem"])
        self.assertIn("verify OK", p.stdout + p.stderr)
        # a newer CRL replaces the CA's own older one, with a larger number
        self.ok(["crl", "--days", "2"], ca=ca)
        self.assertGreater(self.ok(["inspect", "--json", crl]).json()["number"], first)
        self.assertIn("CRL", self.ok(["inspect", crl]).out)
        # --out elsewhere
        self.ok(["crl", "--out", self.tmp / "elsewhere.crl"], ca=ca)
        validate(self.ok(["inspect", "--json", self.tmp / "elsewhere.crl"]).json(), "crl")

    def test_renew(self):
        ca = self.tmp / "renew-ca"
        self.ok(["init", "--intermediate"], ca=ca)
        out = self.tmp / "renew-out"
        self.ok(["sign", "bob@renew.test", "renew.test", "--client", "--key", "ec-p384", "--out", out], ca=ca)
        d = out / "bob@renew.test"
        before = self.ok(["inspect", "--json", d / "cert.pem"]).json()
        # in place, with --force: new serial and key, same names, profile and key type
        r = self.ok(["renew", d / "cert.pem", "--force", "--days", "30"], ca=ca)
        self.assertIn("new key", r.out)
        after = self.ok(["inspect", "--json", d / "cert.pem"]).json()
        self.assertNotEqual(after["serial"], before["serial"])
        self.assertNotEqual(after["spki_pin"], before["spki_pin"])
        for k in ["names", "key_type", "extended_key_usage"]:
            self.assertEqual(after[k], before[k])
        self.assertEqual(self.ok(["inspect", "--json", d / "key.pem"]).json()["spki_pin"], after["spki_pin"])
        good, why = openssl_verify(ca / "root.pem", d / "cert.pem", ca / "chain.pem", "client")
        self.assertTrue(good, why)
        # --reuse-key into a new --out: same key, copied along
        new = self.tmp / "renew-new"
        self.ok(["renew", d / "cert.pem", "--reuse-key", "--out", new], ca=ca)
        nd = new / "bob@renew.test"
        again = self.ok(["inspect", "--json", nd / "cert.pem"]).json()
        self.assertEqual(again["spki_pin"], after["spki_pin"])
        self.assertEqual((nd / "key.pem").read_bytes(), (d / "key.pem").read_bytes())
        self.assert_modes({nd / "key.pem": 0o600, nd / "cert.pem": 0o644})
        # --reuse-key in place leaves key.pem alone
        key_before = snapshot(d)["key.pem"]
        self.ok(["renew", d / "cert.pem", "--reuse-key", "--force"], ca=ca)
        self.assertEqual(snapshot(d)["key.pem"], key_before)
        records = self.ok(["list", "--json"], ca=ca).json()
        self.assertEqual([r["profile"] for r in records].count("client"), 4)

    def test_list_filters(self):
        ca = self.tmp / "list-ca"
        out = self.tmp / "list-out"
        self.ok(["init"], ca=ca)
        self.ok(["sign", "short.test", "--days", "10", "--out", out], ca=ca)
        self.ok(["sign", "long.test", "--out", out], ca=ca)
        soon = self.ok(["list", "--expiring", "30", "--json"], ca=ca).json()
        validate(soon, "list")
        self.assertEqual([r["names"] for r in soon], [["short.test"]])
        self.assertEqual(self.ok(["list", "--revoked", "--json"], ca=ca).json(), [])
        self.assertIn("No certificates revoked", self.ok(["list", "--revoked"], ca=ca).out)

    def test_inspect_text(self):
        ca = self.tmp / "text-ca"
        out = self.tmp / "text-out"
        self.ok(["init", "--intermediate", "--path-len", "0", "--days", "100"], ca=ca)
        r = minica(["sign", "text.test", "192.0.2.1", "--key", "rsa-2048", "--out", out], ca=ca)
        self.assertEqual(r.code, 0, r)  # 397 days > the CA's 100: shortened, and said so
        self.assertIn("warning: the certificate's validity is shortened to end with the CA's", r.err)
        c = load_certs(out / "text.test/cert.pem")[0]
        t = self.ok(["inspect", out / "text.test/cert.pem"]).out
        for s in ["CN=text.test", "DNS:text.test", "IP:192.0.2.1", "rsa-2048 (2048 bits)", "digitalSignature",
                  "keyEncipherment", "serverAuth", format(c.serial_number, "X"),
                  c.fingerprint(hashes.SHA256()).hex(":").upper(), spki_pin(c), "not after"]:
            self.assertIn(s, t)
        t = self.ok(["inspect", out / "text.test/fullchain.pem"]).out
        self.assertIn("Chain of 2 certificates", t)
        self.assertIn("path length 0", t)
        t = self.ok(["inspect", out / "text.test/key.pem"]).out
        self.assertIn("rsa-2048", t)
        # DER works too
        der = self.tmp / "cert.der"
        der.write_bytes(c.public_bytes(serialization.Encoding.DER))
        self.assertEqual(self.ok(["inspect", "--json", der]).json()["serial"], format(c.serial_number, "X"))
        ij = self.ok(["inspect", "--json", ca / "ca.pem"]).json()
        self.assertEqual(ij["path_len"], 0)

    def test_modes_ignore_the_umask(self):
        ca = self.tmp / "umask-ca"
        out = self.tmp / "umask-out"
        for umask in (0o000, 0o077):
            old = os.umask(umask)
            try:
                if not (ca / "ca.pem").exists():
                    self.ok(["init"], ca=ca)
                self.ok(["sign", f"u{umask}.test", "--out", out, "--p12"], ca=ca, env={"MINICA_P12_PASSPHRASE": "pw"})
            finally:
                os.umask(old)
            d = out / f"u{umask}.test"
            self.assert_modes({d / "cert.pem": 0o644, d / "key.pem": 0o600, d / "cert.p12": 0o600,
                               ca / "ca-key.pem": 0o400})

    def on_terminal(self, args, answers, ca):
        """Runs minica on a pseudo-terminal, typing each answer after each prompt."""
        import pty
        import select
        pid, fd = pty.fork()
        if pid == 0:  # the child: a hermetic environment, the CA directory given
            env = {k: v for k, v in os.environ.items() if not k.startswith("MINICA_")}
            env["MINICA_CA_DIR"] = str(ca)
            os.execve(MINICA, [MINICA] + [str(a) for a in args], env)
        out = b""
        pending = list(answers)
        answered = 0
        while True:
            ready, _, _ = select.select([fd], [], [], 60)
            if not ready:
                os.kill(pid, 9)
                break
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            # One answer per prompt, typed once the prompt is there (echo is
            # off by then). Not "ends with a colon": after an answer the
            # terminal shows only the newline (ECHONL), and typing the next
            # answer before the next prompt would race minica restoring echo.
            if pending and out.count(b"Enter ") > answered and out.endswith(b": "):
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered += 1
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    def test_passphrase_prompt_on_a_terminal(self):
        ca = self.tmp / "tty-ca"
        code, out = self.on_terminal(["init", "--encrypt"], ["tty secret", "tty secret"], ca)
        self.assertEqual(code, 0, out)
        self.assertIn("Enter a passphrase for the new CA key:", out)
        self.assertIn("again:", out)
        self.assertNotIn("tty secret", out)  # no echo
        self.assertIn(b"ENCRYPTED PRIVATE KEY", (ca / "ca-key.pem").read_bytes())
        code, out = self.on_terminal(["sign", "tty.test", "--out", self.tmp / "tty-out"], ["tty secret"], ca)
        self.assertEqual(code, 0, out)
        self.assertIn("Issued a server certificate", out)
        code, out = self.on_terminal(["init", "--encrypt"], ["one", "two"], self.tmp / "tty-ca2")
        self.assertEqual(code, 1, out)
        self.assertIn("the two entries differ", out)
        self.assertFalse((self.tmp / "tty-ca2").exists())

    def test_help_and_version(self):
        r = minica(["--help"])
        self.assertEqual(r.code, 0, r)
        for verb in ["init", "sign", "csr", "inspect", "verify", "export", "list", "revoke", "crl", "renew"]:
            self.assertIn(verb, r.out)
            self.assertEqual(minica([verb, "--help"]).code, 0, verb)
        r = minica(["--version"])
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.out, r"minica \d+\.\d+")
        # minica sets up only the verb it finds on the command line: a CA
        # directory named like a verb is a directory, global flags may come
        # first or after, and an unknown verb is still a usage error.
        work = self.tmp / "verb-named"
        work.mkdir()
        self.assertEqual(minica(["--ca-dir", "list", "-q", "init"], cwd=work).code, 0)
        r = minica(["-q", "--ca-dir", "list", "sign", "v.test", "--out", "out"], cwd=work)
        self.assertEqual(r.code, 0, r)
        self.assertTrue((work / "list" / "ca.pem").exists())
        self.assertTrue((work / "out" / "v.test" / "cert.pem").exists())
        r = minica(["list", "--ca-dir", "list", "--json"], cwd=work)
        self.assertEqual(r.code, 0, r)
        self.assertEqual([c["names"] for c in r.json()], [["v.test"]])
        r = minica(["nosuchverb"], cwd=work)
        self.assertEqual(r.code, 2, r)


if __name__ == "__main__":
    main()
