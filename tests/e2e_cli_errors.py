"""The minica CLI refuses bad input with one clear line ("minica: ..."), a
non-zero exit (1 refused or failed, 2 usage) and NO file created or changed:
each case snapshots the whole working tree (paths, contents, modes) before
and after.

Unwritable output: the tests run as root, for whom chmod does not stop a
write. They use a path below a regular file (ENOTDIR) and, where the file
system supports it, a directory made immutable with `chattr +i` (EPERM even
for root)."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cli_common import minica, snapshot, main


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="minica-cli-errors-")
        cls.root = pathlib.Path(cls._tmp.name)
        # One CA shared by the cases that need one (they never change it).
        cls.ca = cls.root / "ca"
        cls.out = cls.root / "out"
        r = minica(["init", "--permit", "example.test", "--permit", "10.0.0.0/8", "--exclude", "no.example.test"],
                   ca=cls.ca)
        assert r.code == 0, r
        r = minica(["sign", "a.example.test", "--out", cls.out], ca=cls.ca)
        assert r.code == 0, r
        cls.enc = cls.root / "enc-ca"
        r = minica(["init", "--encrypt"], ca=cls.enc, env={"MINICA_PASSPHRASE": "right"})
        assert r.code == 0, r

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["chattr", "-R", "-i", cls.root], capture_output=True)
        cls._tmp.cleanup()

    def refused(self, args, message, code=1, **kw):
        """Runs minica; asserts the exit code, one line on stderr containing
        `message`, no OpenSSL error-queue dump, and nothing changed on disk."""
        before = snapshot(self.root)
        kw.setdefault("cwd", self.root)
        r = minica(args, **kw)
        after = snapshot(self.root)
        self.assertEqual(r.code, code, r)
        lines = r.err.strip().splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertTrue(lines[0].startswith("minica: "), r)
        self.assertIn(message, lines[0], r)
        self.assertNotRegex(lines[0], r"error:[0-9A-F]{8}:", r)  # OpenSSL's raw queue only with -v
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        self.assertEqual(changed, set(), f"{args} changed files: {sorted(changed)}")
        return r

    # ---- the CA ------------------------------------------------------------------

    def test_existing_ca_is_never_touched(self):
        r = self.refused(["init"], f"a CA already exists in {self.ca}", ca=self.ca)
        self.refused(["init", "--key", "rsa-2048", "--intermediate"], "already exists", ca=self.ca)
        # a stray CA key alone also counts
        d = self.root / "half-ca"
        d.mkdir()
        (d / "ca-key.pem").write_text("not a key\n")
        r2 = self.refused(["init"], "already exists", ca=d)
        self.assertIn("without ca.pem", r2.err)
        self.assertIn(str(self.ca), r.err)

    def test_missing_ca_key(self):
        d = self.root / "nokey-ca"
        shutil.copytree(self.ca, d)
        (d / "ca-key.pem").unlink()
        self.refused(["sign", "x.example.test", "--out", self.root / "nokey-out"], "ca-key.pem", ca=d)
        self.refused(["crl"], "ca-key.pem", ca=d)

    def test_mismatched_ca_key(self):
        other = self.root / "other-ca"
        self.assertEqual(minica(["init"], ca=other).code, 0)
        d = self.root / "mismatch-ca"
        shutil.copytree(self.ca, d)
        os.chmod(d / "ca-key.pem", 0o600)
        shutil.copyfile(other / "ca-key.pem", d / "ca-key.pem")
        os.chmod(d / "ca-key.pem", 0o400)
        self.refused(["sign", "x.example.test", "--out", self.root / "mm-out"], "does not match", ca=d)
        self.refused(["revoke", "01"], "does not match", ca=d)

    def test_passphrases(self):
        out = self.root / "enc-out"
        self.refused(["sign", "x.test", "--out", out], "wrong passphrase", ca=self.enc,
                     env={"MINICA_PASSPHRASE": "wrong"})
        # no terminal and no other source: a clear refusal, never a hang
        self.refused(["sign", "x.test", "--out", out], "MINICA_PASSPHRASE", ca=self.enc)
        self.refused(["sign", "x.test", "--out", out], "is set but empty", ca=self.enc, env={"MINICA_PASSPHRASE": ""})
        empty = self.root / "empty-pass"
        empty.write_text("\n")
        self.refused(["sign", "x.test", "--out", out, "--passphrase-file", empty], "empty", ca=self.enc)
        self.refused(["sign", "x.test", "--out", out, "--passphrase-file", self.root / "nope"], "nope", ca=self.enc)
        self.refused(["init", "--encrypt"], "MINICA_PASSPHRASE", ca=self.root / "enc-new")
        self.assertFalse((self.root / "enc-new").exists())
        # --p12 without a passphrase: refused before anything (not even a CA) is made
        self.refused(["sign", "p.test", "--p12", "--out", out], "MINICA_P12_PASSPHRASE", ca=self.root / "p12-ca")
        self.refused(["export", self.out / "a.example.test", "--p12", self.root / "x.p12"], "MINICA_P12_PASSPHRASE")

    # ---- names and policy -----------------------------------------------------------

    def test_malformed_names(self):
        fresh = self.root / "names-ca"  # must not be created by a refused sign
        for name in ["a..b", "*.*.x", "-x.test", "a" * 64 + ".test", "*.com", "1.2.3.999", "x_y.test", "",
                     "*", "foo@", "http://", "*x.test"]:
            with self.subTest(name=name):
                # "--" ends the options, so "-x.test" reaches the name check
                r = self.refused(["sign", "--out", self.root / "names-out", "--", name], "invalid name", ca=fresh)
                self.assertIn(f'"{name}"', r.err)
                self.refused(["csr", "--out", self.root / "names-out", "--", name], "invalid name")
        self.assertFalse(fresh.exists())
        # a good name next to a bad one: still nothing at all
        self.refused(["sign", "good.test", "a..b", "--out", self.root / "names-out"], "a..b", ca=fresh)

    def test_outside_name_constraints(self):
        for name in ["other.test", "no.example.test", "x.no.example.test", "192.168.1.1"]:
            with self.subTest(name=name):
                self.refused(["sign", name, "--out", self.root / "nc-out"], "outside the name constraints", ca=self.ca)
        self.refused(["sign", "ok.example.test", "evil.test", "--out", self.root / "nc-out"], "evil.test", ca=self.ca)

    def test_policy(self):
        d = self.root / "policy-ca"
        shutil.copytree(self.ca, d)
        (d / "policy.json").write_text('{"allowed_names": ["example.test"], "max_validity_days": 30,'
                                       ' "key_types": ["ec-p256"], "profiles": ["server"]}\n')
        out = self.root / "policy-out"
        self.refused(["sign", "x.example.test", "--days", "31", "--out", out], "at most 30 days", ca=d)
        self.refused(["sign", "x.example.test", "--key", "rsa-2048", "--out", out], "rsa-2048", ca=d)
        self.refused(["sign", "x.example.test", "--client", "--out", out], "client", ca=d)
        self.refused(["sign", "10.1.1.1", "--out", out], "policy", ca=d)
        (d / "policy.json").write_text('{"allowed_names": ["example.test"], "max_validity_days": ')
        self.refused(["sign", "x.example.test", "--out", out], "policy", ca=d)
        (d / "policy.json").write_text('{"max_validity_days": 30, "bogus": 1}')
        self.refused(["sign", "x.example.test", "--out", out], "bogus", ca=d)

    # ---- CSRs ------------------------------------------------------------------------

    def csr(self, name, ca_true=False, bad_signature=False, dns="x.example.test"):
        k = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateSigningRequestBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False))
        if ca_true:
            b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        der = bytearray(b.sign(k, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
        if bad_signature:
            der[-3] ^= 0x01  # inside the ECDSA signature's s value
        p = self.root / name
        p.write_bytes(bytes(der))
        return p

    def test_bad_csrs(self):
        out = self.root / "csr-out"
        self.refused(["sign", "--csr", self.csr("bad-sig.der", bad_signature=True), "--out", out], "signature",
                     ca=self.ca)
        self.refused(["sign", "--csr", self.csr("ca-true.der", ca_true=True), "--out", out], "CA", ca=self.ca)
        self.refused(["sign", "--csr", self.csr("evil.der", dns="evil.test"), "--out", out],
                     "outside the name constraints", ca=self.ca)
        self.refused(["sign", "--csr", self.csr("long.der"), "--days", "400", "--out", out], "at most 397 days",
                     ca=self.ca)
        junk = self.root / "junk.csr"
        junk.write_text("-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n")
        self.refused(["sign", "--csr", junk, "--out", out], "junk.csr", ca=self.ca)
        self.refused(["sign", "--csr", self.root / "missing.csr", "--out", out], "missing.csr", ca=self.ca)
        self.refused(["inspect", junk], "junk.csr")

    # ---- files ---------------------------------------------------------------------

    def test_existing_leaf_needs_force(self):
        r = self.refused(["sign", "a.example.test", "--out", self.out], "already exist", ca=self.ca)
        self.assertIn("--force", r.err)
        # only one of the four files present: still nothing written
        part = self.root / "partial"
        (part / "b.example.test").mkdir(parents=True)
        (part / "b.example.test" / "fullchain.pem").write_text("keep me\n")
        r = self.refused(["sign", "b.example.test", "--out", part], "fullchain.pem already exists", ca=self.ca)
        self.refused(["csr", "a.example.test", "--out", self.out], "already exist")
        self.refused(["renew", self.out / "a.example.test" / "cert.pem"], "already exist", ca=self.ca)
        self.refused(["export", self.out / "a.example.test", "--p12", self.out / "a.example.test" / "cert.pem"],
                     "already exists", env={"MINICA_P12_PASSPHRASE": "x"})

    def test_unwritable_output(self):
        afile = self.root / "a-file"
        afile.write_text("I am a file\n")
        self.refused(["sign", "x.example.test", "--out", afile], "not a directory", ca=self.ca)
        self.refused(["sign", "x.example.test", "--out", afile / "sub"], "not a directory", ca=self.ca)
        self.refused(["csr", "x.test", "--out", afile], "not a directory")
        self.refused(["crl", "--out", afile / "crl.pem"], "not a directory", ca=self.ca)
        # nothing created, not even a CA, when sign would create one
        self.refused(["sign", "x.test", "--out", afile], "not a directory", ca=self.root / "never-ca")
        self.assertFalse((self.root / "never-ca").exists())
        locked = self.root / "locked"
        locked.mkdir()
        if subprocess.run(["chattr", "+i", locked], capture_output=True).returncode != 0:
            self.skipTest("chattr +i is not supported here")
        try:
            self.refused(["sign", "x.example.test", "--out", locked], "locked", ca=self.ca)
            self.refused(["init"], "locked", ca=locked / "ca")
        finally:
            subprocess.run(["chattr", "-i", locked], capture_output=True)

    def test_write_failure_records_nothing(self):
        """Files that cannot be made durable (fsync fails while the inventory
        commits): minica says nothing was issued, exits 1, leaves no output
        behind (not even the directory it created) and the inventory records
        nothing: the certificate nobody received is withdrawn. fsync fails (EIO)
        through an LD_PRELOAD shim; SQLite's syncs are fdatasync and still succeed."""
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            self.skipTest("needs a C compiler for the fsync shim")
        work = pathlib.Path(tempfile.mkdtemp(prefix="minica-eio-", dir=self.root))
        src, shim = work / "eio.c", work / "eio.so"
        src.write_text("#include <errno.h>\nint fsync(int fd) { (void)fd; errno = EIO; return -1; }\n")
        subprocess.run([cc, "-shared", "-fPIC", "-O2", src, "-o", shim], check=True)
        ca = work / "ca"
        self.assertEqual(minica(["init"], ca=ca).code, 0)
        out = work / "out"
        # In sanitizer builds the shim is loaded before the sanitizer runtime: allowed here.
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = {"LD_PRELOAD": str(shim), "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
        r = minica(["sign", "w.example.test", "--out", out], ca=ca, env=env)
        self.assertEqual(r.code, 1, r)
        lines = r.err.strip().splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertIn("Input/output error (nothing was issued)", lines[0], r)
        self.assertFalse(out.exists(), "the output directory minica created is removed again")
        self.assertEqual(minica(["list", "--json"], ca=ca).json(), [])
        self.assertTrue(all(not p.name.startswith(".") for p in ca.iterdir()), sorted(ca.iterdir()))

    def test_output_that_cannot_be_created_changes_no_ca(self):
        """An output directory that cannot be created (under /proc, or below a
        regular file; CI runs as root, so a mode-0500 directory would be
        writable): sign and renew exit 1, say why, and the CA directory is
        unchanged: file contents and modes, and the inventory's rows."""
        ca = self.root / "unwritable-ca"
        self.assertEqual(minica(["init"], ca=ca).code, 0)
        first = self.root / "unwritable-first"
        self.assertEqual(minica(["sign", "u.example.test", "--out", first], ca=ca).code, 0)
        afile = self.root / "a-plain-file"
        afile.write_text("not a directory\n")

        def state():
            files = {p.name: (p.read_bytes(), p.stat().st_mode) for p in sorted(ca.iterdir())
                     if p.is_file() and not p.name.startswith("inventory.db")}
            return files, minica(["list", "--json"], ca=ca).json()

        before = state()
        for args in (["sign", "x.example.test", "--out", "/proc/nowhere"],
                     ["sign", "x.example.test", "--out", afile / "sub"],
                     ["renew", first / "u.example.test" / "cert.pem", "--out", "/proc/nowhere"],
                     ["renew", first / "u.example.test" / "cert.pem", "--out", afile / "sub"]):
            r = minica(args, ca=ca, cwd=self.root)
            self.assertEqual(r.code, 1, r)
            lines = r.err.strip().splitlines()
            self.assertEqual(len(lines), 1, r)
            self.assertTrue("/proc/nowhere" in lines[0] or "not a directory" in lines[0], r)
            self.assertEqual(state(), before, args)

    def test_broken_ca_directory(self):
        d = self.root / "noinv-ca"
        shutil.copytree(self.ca, d)
        (d / "inventory.db").unlink()
        self.refused(["sign", "x.example.test", "--out", self.root / "noinv-out"], "inventory", ca=d)
        self.refused(["list"], "inventory", ca=d)
        d2 = self.root / "badinv-ca"
        shutil.copytree(self.ca, d2)
        (d2 / "inventory.db").write_bytes(b"garbage" * 100)
        self.refused(["list"], "inventory", ca=d2)
        self.refused(["list"], "no CA in", ca=self.root / "nothing-here")
        self.refused(["verify", self.out / "a.example.test" / "cert.pem"], "no CA in", ca=self.root / "nothing-here")
        # ca.pem corrupt
        d3 = self.root / "badcert-ca"
        shutil.copytree(self.ca, d3)
        (d3 / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        self.refused(["sign", "x.example.test", "--out", self.root / "bc-out"], "ca.pem", ca=d3)

    # ---- other refusals -------------------------------------------------------------

    def test_revoke_and_verify_refusals(self):
        self.refused(["revoke", "DEADBEEF"], "DEADBEEF", ca=self.ca)
        self.refused(["revoke", "xyz"], "invalid serial", ca=self.ca)
        self.refused(["revoke", self.root / "nope" / "cert.pem"], "no such file", ca=self.ca)
        other = self.root / "foreign-ca"
        self.assertEqual(minica(["init"], ca=other).code, 0)
        self.assertEqual(minica(["sign", "f.test", "--out", self.root / "foreign-out"], ca=other).code, 0)
        self.refused(["revoke", self.root / "foreign-out" / "f.test" / "cert.pem"], "not issued by", ca=self.ca)
        self.refused(["renew", self.root / "foreign-out" / "f.test" / "cert.pem", "--out", self.root / "r-out"],
                     "not issued by", ca=self.ca)
        cert = self.out / "a.example.test" / "cert.pem"
        self.refused(["verify", cert, "--host", "b.example.test"], "hostname mismatch", ca=self.ca)
        self.refused(["verify", cert, "--purpose", "client"], "purpose", ca=self.ca)
        self.refused(["verify", cert, "--roots", other / "ca.pem"], "local issuer", ca=self.ca)
        # revoking twice
        d = self.root / "rev-ca"
        shutil.copytree(self.ca, d)
        self.assertEqual(minica(["revoke", cert], ca=d).code, 0)
        self.refused(["revoke", cert], "already revoked", ca=d)

    def test_usage_errors_exit_2(self):
        out = self.root / "usage-out"
        cases = [
            ["sign"],
            ["sign", "x.test", "--server", "--client"],
            ["sign", "x.test", "--both", "--server"],
            ["sign", "x.test", "--key", "dsa-1024"],
            ["sign", "--csr", "x.csr", "--key", "ec-p256"],
            ["sign", "x.test", "--days", "0"],
            ["sign", "x.test", "--p12-passphrase-file", "f"],
            ["init", "--passphrase-file", "f"],
            ["init", "--path-len", "-1"],
            ["verify", "x.pem", "--host", "a", "--ip", "1.2.3.4"],
            ["revoke", "01", "--reason", "because"],
            ["frobnicate"],
            ["-v", "-q", "list"],
            ["list", "--bogus"],
            ["export", "dir"],
        ]
        for args in cases:
            with self.subTest(args=args):
                self.refused(args + ["--out", out] if args[:1] == ["sign"] else args, "", code=2, ca=self.ca)
        # A bare `minica` exits 2 too, with the usage on stdout (as git does):
        # tests/e2e_cli_newcomer.py.

    def test_verbose_shows_openssl_queue(self):
        junk = self.root / "junk.pem"
        junk.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        r = minica(["-v", "inspect", junk])
        self.assertEqual(r.code, 1, r)
        self.assertIn("minica: OpenSSL: error:", r.err)


if __name__ == "__main__":
    main()
