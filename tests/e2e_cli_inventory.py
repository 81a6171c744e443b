#!/usr/bin/env python3
"""End-to-end tests of the inventory and revocation (issue 6), through the
built `minica` and `minica-echo` programs:

1. every kind of issuance (sign, sign --csr, renew, an intermediate) is
   recorded completely: `list --json` (schemas/list.schema.json) matches the
   certificate file field by field, the recorded PEM is the file's, serials
   are unique and the store enforces it;
2. `crl` writes a v2 CRL (growing CRL number, AKI, thisUpdate/nextUpdate,
   reason codes) that `openssl crl -verify` accepts and `openssl verify
   -crl_check` applies; `renew` keeps names, profile and key type (new key
   unless --reuse-key);
3. 50 `minica sign` processes at once: 50 serials, rows and directories;
4. `minica sign` killed with SIGKILL at spread-out moments: the CA stays
   usable, the inventory holds no trace or a complete record, no file under
   a final name is partial;
5. a truncated, zeroed or garbage inventory.db is a clear error naming the
   file for list, sign, revoke and crl: never a crash, never an empty list;
6. `minica-echo serve --crl` refuses a client once `minica revoke` + `minica
   crl` list it, and still serves the others.

Run: MINICA_BUILD_ROOT=build MINICA_SOURCE_ROOT=. python3 tests/e2e_cli_inventory.py
"""
import datetime
import hashlib
import json
import os
import pathlib
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

import inventory_common as ic  # noqa: E402
from inventory_common import SLOW  # noqa: E402

LEAF_FILES = ("cert.pem", "key.pem", "chain.pem", "fullchain.pem")  # of an intermediate's leaf
ROOT_LEAF_FILES = ("cert.pem", "key.pem", "fullchain.pem")  # a root CA's leaf has no chain.pem
# write_file_atomic's temporary names, ".<final name>.tmp-<random>": a process
# killed between creating and renaming one leaves it behind, which is allowed
# (it never carries a final name). Where O_TMPFILE works there are none.
TEMP_RX = re.compile(r"^\.(cert|key|chain|fullchain)\.pem\.tmp-[0-9A-Za-z_-]+$")
CA_FILES = {"ca.pem", "ca-key.pem", "chain.pem", "root.pem", "root-key.pem", "policy.json", "inventory.db",
            "inventory.db-wal", "inventory.db-shm", "crl.pem", "root-crl.pem"}


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="minica-inv-")
        self.tmp = pathlib.Path(self._tmp.name)
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=10)
            except Exception:
                pass
        self._tmp.cleanup()

    # ---- running minica -------------------------------------------------------------
    def assert_no_crash(self, r):
        self.assertGreaterEqual(r.code, 0, f"killed by signal {-r.code}: {r!r}")
        self.assertIsNone(ic.sanitizer_report(r.err), f"sanitizer report: {r!r}")

    def m(self, ca, *args, **kw):
        r = ic.run_minica(ca, args, self.home, **kw)
        self.assert_no_crash(r)
        return r

    def ok(self, ca, *args, **kw):
        r = self.m(ca, *args, **kw)
        self.assertEqual(r.code, 0, repr(r))
        return r

    def fails(self, ca, *args, code=1, **kw):
        r = self.m(ca, *args, **kw)
        self.assertEqual(r.code, code, repr(r))
        self.assertTrue(r.err.startswith("minica: "), repr(r))
        return r

    def listing(self, ca, *extra):
        r = self.ok(ca, "list", "--json", *extra)
        rows = r.json()
        ic.validate(rows, "list")
        return rows

    def init_ca(self, name="ca", *extra):
        ca = self.tmp / name
        self.ok(ca, "init", "--name", f"Inventory Test {name}", *extra)
        return ca

    # ---- checks ---------------------------------------------------------------------
    def check_row(self, row, cert, profile):
        """One list --json element describes `cert` exactly."""
        want = {
            "serial": ic.serial_hex(cert),
            "subject": ic.subject_line(cert.subject),
            "names": ic.san_names(cert),
            "key_type": ic.key_type(cert),
            "profile": profile,
            "not_before": ic.rfc3339(cert.not_valid_before_utc),
            "not_after": ic.rfc3339(cert.not_valid_after_utc),
            "fingerprint_sha256": ic.fingerprint(cert),
            "status": "valid",
            "revoked_at": None,
            "reason": None,
            "account": None,
        }
        self.assertEqual(row, want)

    def check_new_row(self, ca, before, cert, profile):
        """list --json is `before` plus one row, for `cert`; returns the rows."""
        rows = self.listing(ca)
        self.assertEqual(rows[:len(before)], before, "earlier rows changed")
        self.assertEqual(len(rows), len(before) + 1, rows)
        self.check_row(rows[-1], cert, profile)
        return rows

    def check_db_consistent(self, ca, rows=None):
        """Read-only look at inventory.db (no minica may be running): every row
        has its PEM, and the PEM is the certificate the row describes."""
        db = ic.inventory_rows(ca)
        serials = [r["serial"] for r in db]
        self.assertEqual(len(serials), len(set(serials)), "duplicate serials")
        for r in db:
            self.assertIsNotNone(r["pem"], f"row {r['serial']} has no PEM")
            cert = x509.load_pem_x509_certificate(r["pem"].encode())
            self.assertEqual(ic.serial_hex(cert), r["serial"])
            self.assertEqual(ic.fingerprint(cert), r["fingerprint_sha256"])
            self.assertEqual(ic.san_names(cert), json.loads(r["names"]))
            self.assertEqual(ic.key_type(cert), r["key_type"])
            self.assertEqual(int(cert.not_valid_before_utc.timestamp()), r["not_before"])
            self.assertEqual(int(cert.not_valid_after_utc.timestamp()), r["not_after"])
        if rows is not None:
            self.assertEqual(serials, [r["serial"] for r in rows])
        return db

    def check_leaf_dir(self, d, ca_cert, with_key=True):
        """A complete output directory of sign/renew; returns the leaf."""
        leaf = ic.parse_cert_file(d / "cert.pem")
        self.assertEqual(len(leaf), 1)
        leaf = leaf[0]
        leaf.verify_directly_issued_by(ca_cert)
        full = ic.parse_cert_file(d / "fullchain.pem")
        # chain.pem only when there are intermediates: never an empty one.
        chain = ic.load_certs(d / "chain.pem") if (d / "chain.pem").exists() else []
        self.assertEqual(full, [leaf] + chain)
        if chain:
            self.assertEqual(chain[0], ca_cert, "chain.pem holds the issuing intermediate")
        else:
            self.assertTrue(ca_cert.subject == ca_cert.issuer, "only a root CA's leaf has no chain.pem")
        if with_key:
            key = ic.load_key(d / "key.pem")
            self.assertEqual(ic.spki(key), ic.spki(leaf))
            self.assertEqual(os.stat(d / "key.pem").st_mode & 0o777, 0o600)
        else:
            self.assertFalse((d / "key.pem").exists())
        return leaf


# ---- 1. every issuance is recorded ------------------------------------------------------

class IssuanceRecords(Base):
    def test_sign_records_every_field(self):
        ca = self.init_ca()
        ca_cert = ic.load_cert(ca / "ca.pem")
        self.assertEqual(self.listing(ca), [], "a root CA records nothing at init")
        out = self.tmp / "out"
        rows = []
        cases = [
            (["a.test", "www.a.test", "127.0.0.1", "::1", "--server"], "a.test", "server", "ec-p256"),
            (["b.test", "--client", "--key", "rsa-2048"], "b.test", "client", "rsa-2048"),
            (["c.test", "--both", "--key", "ed25519"], "c.test", "both", "ed25519"),
            (["d.test", "--key", "ec-p384"], "d.test", "server", "ec-p384"),
        ]
        for args, first, profile, kt in cases:
            with self.subTest(args=args):
                r = self.ok(ca, "sign", *args, "--out", out)
                leaf = self.check_leaf_dir(out / first, ca_cert)
                self.assertIn(ic.serial_hex(leaf), r.out, "sign prints the serial")
                self.assertEqual(ic.key_type(leaf), kt)
                self.assertEqual(ic.eku(leaf), ic.PROFILE_EKU[profile])
                rows = self.check_new_row(ca, rows, leaf, profile)
        db = self.check_db_consistent(ca, rows)
        for row, (args, first, _, _) in zip(db, cases):
            self.assertEqual(row["pem"].strip(), (out / first / "cert.pem").read_text().strip())

    def test_sign_csr_is_recorded(self):
        ca = self.init_ca()
        ca_cert = ic.load_cert(ca / "ca.pem")
        key = ec.generate_private_key(ec.SECP384R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr.test")]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("csr.test"), x509.DNSName("alt.csr.test")]),
                              critical=False)
               .sign(key, hashes.SHA384()))
        (self.tmp / "req.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        out = self.tmp / "out"
        self.ok(ca, "sign", "--csr", self.tmp / "req.pem", "--client", "--out", out)
        leaf = self.check_leaf_dir(out / "csr.test", ca_cert, with_key=False)
        self.assertEqual(ic.spki(leaf), ic.spki(key), "the CSR's key is certified")
        self.assertEqual(ic.san_names(leaf), ["csr.test", "alt.csr.test"])
        rows = self.check_new_row(ca, [], leaf, "client")
        self.assertEqual(rows[0]["key_type"], "ec-p384")
        # NAMEs given with --csr override the request's names.
        self.ok(ca, "sign", "other.test", "--csr", self.tmp / "req.pem", "--out", out)
        leaf2 = self.check_leaf_dir(out / "other.test", ca_cert, with_key=False)
        self.assertEqual(ic.san_names(leaf2), ["other.test"])
        rows = self.check_new_row(ca, rows, leaf2, "server")
        self.check_db_consistent(ca, rows)

    def test_renew_same_names_profile_key_type(self):
        ca = self.init_ca()
        ca_cert = ic.load_cert(ca / "ca.pem")
        out = self.tmp / "out"
        self.ok(ca, "sign", "r.test", "10.0.0.7", "--both", "--key", "rsa-2048", "--out", out)
        old = self.check_leaf_dir(out / "r.test", ca_cert)
        rows = self.check_new_row(ca, [], old, "both")

        # A new key (the default), written under --out.
        r = self.ok(ca, "renew", out / "r.test" / "cert.pem", "--out", self.tmp / "new")
        new = self.check_leaf_dir(self.tmp / "new" / "r.test", ca_cert)
        self.assertIn(ic.serial_hex(new), r.out)
        self.assertNotEqual(new.serial_number, old.serial_number)
        self.assertEqual(ic.san_names(new), ic.san_names(old))
        self.assertEqual(new.subject, old.subject)
        self.assertEqual(ic.eku(new), ic.eku(old))
        self.assertEqual(ic.key_type(new), "rsa-2048")
        self.assertNotEqual(ic.spki(new), ic.spki(old), "renew makes a new key by default")
        rows = self.check_new_row(ca, rows, new, "both")

        # --reuse-key: the same SPKI.
        self.ok(ca, "renew", out / "r.test" / "cert.pem", "--reuse-key", "--out", self.tmp / "same")
        same = self.check_leaf_dir(self.tmp / "same" / "r.test", ca_cert)
        self.assertEqual(ic.spki(same), ic.spki(old), "--reuse-key keeps the key")
        self.assertEqual(ic.san_names(same), ic.san_names(old))
        rows = self.check_new_row(ca, rows, same, "both")

        # In place, over the old files (needs --force: nothing is lost silently).
        self.fails(ca, "renew", out / "r.test" / "cert.pem")
        self.assertEqual(len(self.listing(ca)), len(rows), "a refused renew records nothing")
        self.ok(ca, "renew", out / "r.test" / "cert.pem", "--force")
        inplace = self.check_leaf_dir(out / "r.test", ca_cert)
        self.assertNotEqual(inplace.serial_number, old.serial_number)
        self.assertNotEqual(ic.spki(inplace), ic.spki(old))
        rows = self.check_new_row(ca, rows, inplace, "both")

        # A client certificate renews as a client certificate, same key type.
        self.ok(ca, "sign", "alice@example.test", "--client", "--key", "ed25519", "--out", out)
        cl = self.check_leaf_dir(out / "alice@example.test", ca_cert)
        rows = self.check_new_row(ca, rows, cl, "client")
        self.ok(ca, "renew", out / "alice@example.test" / "cert.pem", "--out", self.tmp / "new")
        cl2 = self.check_leaf_dir(self.tmp / "new" / "alice@example.test", ca_cert)
        self.assertEqual(ic.key_type(cl2), "ed25519")
        self.assertEqual(ic.eku(cl2), ic.PROFILE_EKU["client"])
        self.assertEqual(ic.san_names(cl2), ["alice@example.test"])
        rows = self.check_new_row(ca, rows, cl2, "client")
        self.check_db_consistent(ca, rows)

    def test_intermediate_is_recorded(self):
        ca = self.init_ca("ica", "--intermediate", "--key", "ec-p384")
        inter = ic.load_certs(ca / "ca.pem")[0]
        root = ic.load_cert(ca / "root.pem")
        inter.verify_directly_issued_by(root)
        rows = self.listing(ca)
        self.assertEqual(len(rows), 1, rows)
        self.check_row(rows[0], inter, "ca")
        out = self.tmp / "out"
        self.ok(ca, "sign", "leaf.test", "--out", out)
        leaf = self.check_leaf_dir(out / "leaf.test", inter)
        rows = self.check_new_row(ca, rows, leaf, "server")
        self.assertEqual(ic.load_certs(out / "leaf.test" / "chain.pem"), [inter])
        self.check_db_consistent(ca, rows)

    def test_store_enforces_serial_uniqueness(self):
        ca = self.init_ca()
        out = self.tmp / "out"
        for n in ("u1.test", "u2.test", "u3.test"):
            self.ok(ca, "sign", n, "--out", out)
        rows = self.listing(ca)
        self.assertEqual(len({r["serial"] for r in rows}), 3)
        # Try to record a duplicate serial in a copy of the inventory: the
        # schema itself refuses it (UNIQUE), whatever the code above does.
        copy = self.tmp / "copy.db"
        shutil.copyfile(ca / "inventory.db", copy)
        con = sqlite3.connect(copy)
        try:
            cols = "serial, subject, names, key_type, profile, not_before, not_after, fingerprint_sha256"
            with self.assertRaises(sqlite3.IntegrityError):
                con.execute(f"INSERT INTO certificates ({cols}) SELECT {cols} FROM certificates LIMIT 1")
        finally:
            con.close()

    def test_list_filters(self):
        ca = self.init_ca()
        out = self.tmp / "out"
        self.ok(ca, "sign", "long.test", "--out", out)
        self.ok(ca, "sign", "short.test", "--days", "10", "--out", out)
        self.ok(ca, "sign", "mid.test", "--days", "20", "--out", out)
        rows = self.listing(ca, "--expiring", "30")
        self.assertEqual([r["names"] for r in rows], [["short.test"], ["mid.test"]], "soonest first")
        self.assertEqual(self.listing(ca, "--revoked"), [])
        self.ok(ca, "revoke", out / "mid.test" / "cert.pem")
        rev = self.listing(ca, "--revoked")
        self.assertEqual([r["names"] for r in rev], [["mid.test"]])
        self.assertEqual(rev[0]["status"], "revoked")
        self.assertEqual(rev[0]["reason"], "unspecified")
        self.assertEqual([r["names"] for r in self.listing(ca, "--revoked", "--expiring", "15")], [])
        text = self.ok(ca, "list").out
        self.assertRegex(text, r"short\.test")
        self.assertRegex(text, r"revoked")


# ---- 2. revocation and CRLs --------------------------------------------------------------

class RevocationAndCrl(Base):
    def crl_info(self, path, issuer):
        crl = ic.load_crl(path)
        self.assertEqual(ic.der_crl_version(crl), 1, "a v2 CRL")
        self.assertTrue(crl.is_signature_valid(issuer.public_key()))
        self.assertEqual(crl.issuer, issuer.subject)
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        self.assertEqual(aki.key_identifier, ic.ski(issuer), "AKI is the issuing CA's SKI")
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        self.assertIsNotNone(crl.next_update_utc)
        self.assertLess(crl.last_update_utc, crl.next_update_utc)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLessEqual(crl.last_update_utc, now + datetime.timedelta(minutes=1))
        self.assertGreater(crl.next_update_utc, now)
        return crl, number

    def entries(self, crl):
        out = {}
        for e in crl:
            try:
                reason = e.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
            except x509.ExtensionNotFound:
                reason = None
            out[ic.serial_hex(e.serial_number)] = (reason, e.revocation_date_utc)
        return out

    def openssl_crl_verify(self, crl, ca_file):
        p = ic.run_tool(["openssl", "crl", "-in", crl, "-noout", "-verify", "-CAfile", ca_file])
        return p.returncode == 0 and "verify OK" in (p.stdout + p.stderr), p.stdout + p.stderr

    def openssl_verify(self, ca_file, leaf, crl, untrusted=None, purpose="sslserver"):
        args = ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", ca_file,
                "-crl_check", "-CRLfile", crl]
        if untrusted:
            args += ["-untrusted", untrusted]
        p = ic.run_tool(args + [leaf])
        return p.returncode == 0 and p.stdout.strip().endswith(": OK"), p.stdout + p.stderr

    def test_crl_of_a_root_ca(self):
        ca = self.init_ca()
        ca_cert = ic.load_cert(ca / "ca.pem")
        out = self.tmp / "out"
        names = ["good.test", "kc.test", "sup.test", "cess.test", "plain.test"]
        for n in names:
            self.ok(ca, "sign", n, "--out", out)
        serial = {n: ic.serial_hex(ic.load_cert(out / n / "cert.pem")) for n in names}

        # An empty CRL first.
        crl0 = self.tmp / "crl0.pem"
        r = self.ok(ca, "crl", "--out", crl0)
        self.assertIn(str(crl0), r.out)
        c0, n0 = self.crl_info(crl0, ca_cert)
        self.assertEqual(len(c0), 0)
        ok, why = self.openssl_verify(ca / "ca.pem", out / "kc.test" / "cert.pem", crl0)
        self.assertTrue(ok, why)

        # Revoke by file, by serial in odd spellings, with several reasons.
        self.ok(ca, "revoke", out / "kc.test" / "cert.pem", "--reason", "keyCompromise")
        s = serial["sup.test"].lower().rjust(len(serial["sup.test"]) + (len(serial["sup.test"]) % 2), "0")
        self.ok(ca, "revoke", ":".join(s[i:i + 2] for i in range(0, len(s), 2)), "--reason", "superseded")
        self.ok(ca, "revoke", "0x" + serial["cess.test"], "--reason", "cessationOfOperation")
        self.ok(ca, "revoke", serial["plain.test"])
        rows = {r["names"][0]: r for r in self.listing(ca)}
        want_reason = {"kc.test": "keyCompromise", "sup.test": "superseded", "cess.test": "cessationOfOperation",
                       "plain.test": "unspecified"}
        for n, reason in want_reason.items():
            self.assertEqual(rows[n]["status"], "revoked")
            self.assertEqual(rows[n]["reason"], reason)
            self.assertIsNotNone(rows[n]["revoked_at"])
        self.assertEqual(rows["good.test"]["status"], "valid")
        self.assertEqual(sorted(r["names"][0] for r in self.listing(ca, "--revoked")), sorted(want_reason))

        # Revoking twice, an unknown serial, another CA's certificate: refused.
        r = self.fails(ca, "revoke", serial["kc.test"])
        self.assertIn("already revoked", r.err)
        r = self.fails(ca, "revoke", "1234ABCD")
        self.assertIn("1234ABCD", r.err)
        other = self.init_ca("other")
        self.ok(other, "sign", "stranger.test", "--out", self.tmp / "other-out")
        r = self.fails(ca, "revoke", self.tmp / "other-out" / "stranger.test" / "cert.pem")
        self.assertIn("not issued by", r.err)
        self.fails(ca, "revoke", serial["good.test"], "--reason", "noSuchReason", code=2)
        self.assertEqual(self.listing(ca, "--revoked").__len__(), 4, "refusals changed nothing")

        # Two CRLs: the number grows, both list the same entries.
        crl1, crl2 = self.tmp / "crl1.pem", ca / "crl.pem"
        self.ok(ca, "crl", "--out", crl1, "--days", "3")
        self.ok(ca, "crl")  # default: <ca-dir>/crl.pem, 7 days
        c1, n1 = self.crl_info(crl1, ca_cert)
        c2, n2 = self.crl_info(crl2, ca_cert)
        self.assertGreater(n1, n0)
        self.assertGreater(n2, n1)
        self.assertEqual(c1.next_update_utc - c1.last_update_utc, datetime.timedelta(days=3))
        self.assertEqual(c2.next_update_utc - c2.last_update_utc, datetime.timedelta(days=7))
        # Re-running crl over the same file: allowed (an earlier CRL of this CA), number grows again.
        self.ok(ca, "crl", "--out", crl1)
        c1b, n1b = self.crl_info(crl1, ca_cert)
        self.assertGreater(n1b, n2)
        for c in (c1, c2, c1b):
            e = self.entries(c)
            self.assertEqual(set(e), {serial[n] for n in want_reason})
            self.assertEqual(e[serial["kc.test"]][0], "key_compromise")
            self.assertEqual(e[serial["sup.test"]][0], "superseded")
            self.assertEqual(e[serial["cess.test"]][0], "cessation_of_operation")
            # RFC 5280 5.3.1: unspecified SHOULD be left out (or said).
            self.assertIn(e[serial["plain.test"]][0], (None, "unspecified"))
            for n in want_reason:
                self.assertEqual(ic.rfc3339(e[serial[n]][1]), rows[n]["revoked_at"])

        # openssl: the CRL's signature, a revoked and a valid certificate.
        for c in (crl1, crl2):
            ok, why = self.openssl_crl_verify(c, ca / "ca.pem")
            self.assertTrue(ok, why)
        for n in want_reason:
            ok, why = self.openssl_verify(ca / "ca.pem", out / n / "cert.pem", crl2)
            self.assertFalse(ok, f"{n} must be refused: {why}")
            self.assertIn("certificate revoked", why)
        ok, why = self.openssl_verify(ca / "ca.pem", out / "good.test" / "cert.pem", crl2)
        self.assertTrue(ok, why)
        # Another CA's CRL is not accepted for this CA.
        ok, _ = self.openssl_crl_verify(crl2, other / "ca.pem")
        self.assertFalse(ok)

        # crl does not replace a file that is not one of this CA's CRLs.
        (self.tmp / "precious.txt").write_text("keep me\n")
        self.fails(ca, "crl", "--out", self.tmp / "precious.txt")
        self.assertEqual((self.tmp / "precious.txt").read_text(), "keep me\n")
        self.fails(ca, "crl", "--out", other / "ca.pem")

    def test_crl_of_an_intermediate(self):
        ca = self.init_ca("ica", "--intermediate")
        inter = ic.load_certs(ca / "ca.pem")[0]
        out = self.tmp / "out"
        for n in ("keep.test", "drop.test"):
            self.ok(ca, "sign", n, "--client", "--out", out)
        self.ok(ca, "revoke", out / "drop.test" / "cert.pem", "--reason", "affiliationChanged")
        # The intermediate's own record can be revoked, but it belongs on the
        # root's CRL, not on the intermediate's own.
        inter_row = [r for r in self.listing(ca) if r["profile"] == "ca"]
        self.assertEqual(len(inter_row), 1)
        self.ok(ca, "crl")
        crl, n = self.crl_info(ca / "crl.pem", inter)
        self.assertEqual(set(self.entries(crl)),
                         {ic.serial_hex(ic.load_cert(out / "drop.test" / "cert.pem"))})
        self.assertEqual(self.entries(crl)[ic.serial_hex(ic.load_cert(out / "drop.test" / "cert.pem"))][0],
                         "affiliation_changed")
        ok, why = self.openssl_crl_verify(ca / "crl.pem", ca / "ca.pem")
        self.assertTrue(ok, why)
        ok, why = self.openssl_verify(ca / "root.pem", out / "drop.test" / "cert.pem", ca / "crl.pem",
                                      untrusted=ca / "chain.pem", purpose="sslclient")
        self.assertFalse(ok, why)
        self.assertIn("certificate revoked", why)
        ok, why = self.openssl_verify(ca / "root.pem", out / "keep.test" / "cert.pem", ca / "crl.pem",
                                      untrusted=ca / "chain.pem", purpose="sslclient")
        self.assertTrue(ok, why)
        root = ic.load_certs(ca / "root.pem")[0]
        root_crl, _ = self.crl_info(ca / "root-crl.pem", root)  # both levels, every time
        self.assertEqual(self.entries(root_crl), {})
        self.ok(ca, "revoke", inter_row[0]["serial"], "--reason", "cACompromise")
        self.ok(ca, "crl")
        crl2, n2 = self.crl_info(ca / "crl.pem", inter)
        self.assertGreater(n2, n)
        self.assertNotIn(inter_row[0]["serial"], self.entries(crl2))
        # The revoked intermediate is on the root's CRL, signed by the root...
        root_crl, _ = self.crl_info(ca / "root-crl.pem", root)
        self.assertEqual(self.entries(root_crl)[inter_row[0]["serial"]][0], "ca_compromise")
        ok, why = self.openssl_crl_verify(ca / "root-crl.pem", ca / "root.pem")
        self.assertTrue(ok, why)
        # ...so a client checking the whole chain refuses even a leaf that was not revoked...
        both = self.tmp / "both-crls.pem"
        both.write_text((ca / "crl.pem").read_text() + (ca / "root-crl.pem").read_text())
        p = ic.run_tool(["openssl", "verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", ca / "root.pem",
                         "-crl_check_all", "-CRLfile", both, "-untrusted", ca / "chain.pem",
                         out / "keep.test" / "cert.pem"])
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("certificate revoked", p.stdout + p.stderr)
        # ...and the CA issues nothing more under it.
        r = self.fails(ca, "sign", "late.test", "--out", out)
        self.assertIn("was revoked", r.err)
        self.assertFalse((out / "late.test").exists())

    def test_root_crl_where_the_root_key_lives(self):
        """The root key moved offline: `crl` writes the intermediate's CRL and
        says how to make the root's; --root-key makes it where the key is."""
        ca = self.init_ca("offline", "--intermediate")
        inter_row = [r for r in self.listing(ca) if r["profile"] == "ca"][0]
        self.ok(ca, "revoke", inter_row["serial"], "--reason", "superseded")
        offline = self.tmp / "offline-root-key.pem"
        os.rename(ca / "root-key.pem", offline)
        r = self.ok(ca, "crl")
        self.assertIn("--root-key", r.out)
        self.assertFalse((ca / "root-crl.pem").exists())
        self.ok(ca, "crl", "--root-key", offline)
        root = ic.load_certs(ca / "root.pem")[0]
        root_crl, _ = self.crl_info(ca / "root-crl.pem", root)
        self.assertIn(inter_row["serial"], self.entries(root_crl))


# ---- 3. concurrency -----------------------------------------------------------------------

class Concurrency(Base):
    N = 50

    def test_fifty_signers_at_once(self):
        ca = self.init_ca()
        ca_cert = ic.load_cert(ca / "ca.pem")
        out = self.tmp / "out"
        names = [f"c{i:02d}.test" for i in range(self.N)]
        t0 = time.monotonic()
        procs = []
        for n in names:
            p = ic.spawn_minica(ca, ["sign", n, "--client" if len(procs) % 2 else "--server", "--out", out], self.home)
            procs.append(p)
            self.procs.append(p)
        deadline = t0 + 150 * SLOW
        results = []
        for n, p in zip(names, procs):
            try:
                o, e = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except ic.subprocess.TimeoutExpired:
                self.fail(f"sign {n} did not finish within {150 * SLOW:.0f} s")
            results.append(ic.Run([n], p.returncode, o, e))
        elapsed = time.monotonic() - t0
        for r in results:
            self.assert_no_crash(r)
            self.assertEqual(r.code, 0, repr(r))
        rows = self.listing(ca)
        self.assertEqual(len(rows), self.N)
        self.assertEqual(len({r["serial"] for r in rows}), self.N, "distinct serials")
        by_name = {r["names"][0]: r for r in rows}
        self.assertEqual(sorted(by_name), names)
        for i, n in enumerate(names):
            d = out / n
            self.assertEqual(sorted(os.listdir(d)), sorted(ROOT_LEAF_FILES), f"{d} is complete, no temp files")
            leaf = self.check_leaf_dir(d, ca_cert)
            self.check_row(by_name[n], leaf, "client" if i % 2 else "server")
        self.check_db_consistent(ca, rows)
        print(f"\n  {self.N} concurrent signs took {elapsed:.1f} s", file=sys.stderr)

    def test_concurrent_crls_get_distinct_numbers(self):
        ca = self.init_ca()
        ca_cert = ic.load_cert(ca / "ca.pem")
        self.ok(ca, "sign", "x.test", "--out", self.tmp / "out")
        self.ok(ca, "revoke", self.tmp / "out" / "x.test" / "cert.pem")
        procs = [ic.spawn_minica(ca, ["crl", "--out", self.tmp / f"crl{i}.pem"], self.home) for i in range(6)]
        self.procs += procs
        for p in procs:
            o, e = p.communicate(timeout=120 * SLOW)
            self.assert_no_crash(ic.Run(["crl"], p.returncode, o, e))
            self.assertEqual(p.returncode, 0, e)
        numbers = []
        for i in range(6):
            crl = ic.load_crl(self.tmp / f"crl{i}.pem")
            self.assertTrue(crl.is_signature_valid(ca_cert.public_key()))
            self.assertEqual(len(crl), 1)
            numbers.append(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
        self.assertEqual(len(set(numbers)), 6, f"CRL numbers handed out twice: {numbers}")

    def test_concurrent_signs_on_first_use(self):
        """Several `minica sign` at once where no CA exists yet (sign creates
        one on first use in its default location, as mkcert does): every one
        succeeds, under one CA."""
        home = self.tmp / "fresh-home"
        home.mkdir()
        ca = home / ".local" / "share" / "minica"
        out = self.tmp / "out"
        names = [f"f{i}.test" for i in range(8)]
        procs = [ic.spawn_minica(None, ["sign", n, "--out", out], home) for n in names]
        self.procs += procs
        results = []
        for n, p in zip(names, procs):
            o, e = p.communicate(timeout=120 * SLOW)
            r = ic.Run(["sign", n], p.returncode, o, e)
            self.assert_no_crash(r)
            results.append(r)
        failed = [r for r in results if r.code != 0]
        self.assertEqual(failed, [], f"{len(failed)} of {len(names)} first-use signs failed; CA dir holds "
                                     f"{sorted(os.listdir(ca)) if ca.exists() else 'nothing'}")
        ca_cert = ic.load_cert(ca / "ca.pem")
        rows = self.listing(ca)
        self.assertEqual(sorted(r["names"][0] for r in rows), names)
        for n in names:
            self.check_leaf_dir(out / n, ca_cert)

    def test_concurrent_inits(self):
        """`minica init` run several times at once on a new directory: one
        wins, the others are refused, and the winner's CA is what stays (a
        loser must never remove what the winner made)."""
        rounds, per_round = 40, 8
        t0 = time.monotonic()
        for rnd in range(rounds):
            if rnd >= 5 and time.monotonic() - t0 > 10 * SLOW:
                break
            ca = self.tmp / f"race{rnd}" / "ca"
            procs = [ic.spawn_minica(ca, ["init", "--name", f"Racer {rnd}-{i}"], self.home) for i in range(per_round)]
            self.procs += procs
            won = []
            for i, p in enumerate(procs):
                o, e = p.communicate(timeout=60 * SLOW)
                self.assert_no_crash(ic.Run(["init"], p.returncode, o, e))
                if p.returncode == 0:
                    won.append(i)
                else:
                    self.assertIn("already exists", e)
            self.assertEqual(len(won), 1, f"round {rnd}: winners {won}")
            left = sorted(os.listdir(ca)) if ca.exists() else "nothing"
            self.assertTrue((ca / "ca.pem").exists(),
                            f"round {rnd}: init of Racer {rnd}-{won[0]} succeeded, but the CA directory holds {left}")
            cert = ic.load_cert(ca / "ca.pem")
            self.assertEqual(ic.subject_line(cert.subject), f"CN=Racer {rnd}-{won[0]}")
            self.assertEqual(ic.spki(ic.load_key(ca / "ca-key.pem")), ic.spki(cert))
            self.assertEqual(self.listing(ca), [])


# ---- 4. crash safety ------------------------------------------------------------------------

class CrashSafety(Base):
    ROUNDS = 25

    def outcome_of(self, d, rows_before, rows_after, name):
        """Checks the killed sign's traces; returns a label for the summary."""
        new = rows_after[len(rows_before):]
        self.assertEqual(rows_after[:len(rows_before)], rows_before, "earlier rows changed")
        self.assertLessEqual(len(new), 1, new)
        if new:
            self.assertEqual(new[0]["names"], [name])
        present, temps = [], []
        if d.exists():
            for f in os.listdir(d):
                if f in LEAF_FILES:
                    present.append(f)
                elif TEMP_RX.match(f):
                    temps.append(f)
                else:
                    self.fail(f"unexpected file {d / f}")
        if present:
            # Files are written only after the record is committed.
            self.assertTrue(new, f"{d}: files {present} but no inventory record")
        cert = None
        if "cert.pem" in present:
            certs = ic.parse_cert_file(d / "cert.pem")
            self.assertEqual(len(certs), 1)
            cert = certs[0]
            self.assertEqual(ic.fingerprint(cert), new[0]["fingerprint_sha256"])
            self.assertEqual(ic.serial_hex(cert), new[0]["serial"])
        if "key.pem" in present:
            key = ic.load_key(d / "key.pem")
            self.assertIsNotNone(cert, "key.pem is written after cert.pem")
            self.assertEqual(ic.spki(key), ic.spki(cert))
        if "chain.pem" in present:
            self.assertEqual(ic.parse_cert_file(d / "chain.pem"), [self.inter])
        if "fullchain.pem" in present:
            self.assertEqual(ic.parse_cert_file(d / "fullchain.pem"), [cert, self.inter])
        if not new:
            label = "no record"
        elif len(present) == len(LEAF_FILES):
            label = "complete"
        elif present:
            label = "record + some files"
        else:
            label = "record, no files"
        return label, temps

    SWEEP = 10

    @staticmethod
    def next_delay(i, rounds, sweep, spread, history, before="no record", after="complete"):
        """The first `sweep` kills sweep 0..spread evenly; the rest aim between
        the last kill that came too early (`before`: nothing happened yet) and
        the first that came too late (`after`: it had finished), where the
        interesting states are (record committed, files being written)."""
        if i < sweep or not history:
            return spread * i / (sweep - 1)
        lo = max([d for d, label in history if label == before], default=0.0)
        hi = min([d for d, label in history if label == after], default=spread)
        if hi <= lo:
            lo, hi = hi, lo
        lo, hi = max(0.0, lo - 0.005), hi + 0.005
        return lo + (hi - lo) * ((i - sweep) + 0.5) / (rounds - sweep)

    def test_sigkill_at_spread_out_moments(self):
        # An intermediate CA, so chain.pem and fullchain.pem have something to be half of.
        ca = self.init_ca("ca", "--intermediate")
        ca_cert = ic.load_certs(ca / "ca.pem")[0]
        self.inter = ca_cert
        out = self.tmp / "out"
        # How long one sign takes here: the kills spread over all of it.
        durations = []
        for i in range(3):
            r = self.ok(ca, "sign", f"warm{i}.test", "--out", out)
            durations.append(r.seconds)
        typical = statistics.median(durations)
        spread = min(max(0.08 * SLOW, 1.3 * typical), 3.0)
        rows = self.listing(ca)
        outcomes, temp_files, killed, history = {}, [], [], []
        t0 = time.monotonic()
        budget = 75 * SLOW
        rounds = 0
        for i in range(self.ROUNDS):
            if time.monotonic() - t0 > budget:
                break
            rounds += 1
            name = f"k{i:02d}.test"
            delay = self.next_delay(i, self.ROUNDS, self.SWEEP, spread, history)
            p = ic.spawn_minica(ca, ["sign", name, "--out", out], self.home)
            self.procs.append(p)
            time.sleep(delay)
            p.kill()
            o, e = p.communicate(timeout=30)
            if p.returncode == 0:
                pass  # it finished before the kill: must then be complete
            else:
                self.assertEqual(p.returncode, -9, f"round {i}: exit {p.returncode}\n{e}")
            self.assertIsNone(ic.sanitizer_report(e), e)

            # The CA still answers, and lists no half record.
            after = self.listing(ca)
            label, temps = self.outcome_of(out / name, rows, after, name)
            if p.returncode == 0:
                self.assertEqual(label, "complete")
            outcomes[label] = outcomes.get(label, 0) + 1
            history.append((delay, label))
            temp_files += [str(out / name / t) for t in temps]
            killed.append((name, label))
            # No stray file in the CA directory either.
            for f in os.listdir(ca):
                self.assertIn(f, CA_FILES, f"unexpected {ca / f} after the kill")
            # And the next sign works.
            nxt = f"n{i:02d}.test"
            self.ok(ca, "sign", nxt, "--out", out)
            self.check_leaf_dir(out / nxt, ca_cert)
            rows = self.listing(ca)
            self.assertEqual(rows[-1]["names"], [nxt])

        self.assertGreaterEqual(rounds, 8, "too few rounds in the time budget")
        # Every record is complete (no minica runs now; the last list closed the WAL).
        self.check_db_consistent(ca, rows)
        # A killed sign that left files behind: `sign --force` finishes the job.
        partial = [n for n, label in killed if label in ("record + some files", "record, no files")][:4]
        for n in partial:
            self.ok(ca, "sign", n, "--out", out, "--force")
            self.check_leaf_dir(out / n, ca_cert)
        # The CA's CRL still works too.
        self.ok(ca, "revoke", out / "n00.test" / "cert.pem")
        self.ok(ca, "crl")
        print(f"\n  {rounds} kills (ms, outcome): {[(round(d * 1000), label[:9]) for d, label in sorted(history)]} "
              f"(a sign takes ~{typical * 1000:.0f} ms): "
              f"{outcomes}; temporary files left by kills: {len(temp_files)}"
              + (f" e.g. {temp_files[0]}" if temp_files else ""), file=sys.stderr)

    def test_sigkill_during_first_use(self):
        """`minica sign` with no CA yet in its default location creates one:
        killed while it does, the directory must not be left half-made (the
        next sign works). Each round has its own HOME, so its own default."""
        def first_use(i):
            home = self.tmp / f"first-home{i}"
            home.mkdir(exist_ok=True)
            return home, home / ".local" / "share" / "minica"

        def sign(home, *args):
            r = ic.run_minica(None, ["sign", *args], home)
            self.assert_no_crash(r)
            return r

        timing_home, _ = first_use("-timing")
        r = sign(timing_home, "t.test", "--out", self.tmp / "timing")
        self.assertEqual(r.code, 0, repr(r))
        base = r.seconds
        spread = min(max(0.08 * SLOW, 1.3 * base), 3.0)
        rounds, bad, history = 14, [], []
        t0 = time.monotonic()
        for i in range(rounds):
            if time.monotonic() - t0 > 40 * SLOW:
                break
            home, ca = first_use(i)
            out = self.tmp / f"out{i}"
            p = ic.spawn_minica(None, ["sign", "k.test", "--out", out], home)
            self.procs.append(p)
            delay = self.next_delay(i, rounds, 8, spread, history, before="nothing", after="complete")
            time.sleep(delay)
            p.kill()
            _, e = p.communicate(timeout=30)
            self.assertIsNone(ic.sanitizer_report(e), e)
            left = sorted(os.listdir(ca)) if ca.exists() else []
            history.append((delay, "complete" if "ca.pem" in left else "partial" if left else "nothing"))
            before = (ca / "ca.pem").read_bytes() if (ca / "ca.pem").exists() else None
            r = sign(home, "next.test", "--out", out)
            if r.code != 0:
                bad.append(f"killed after {delay * 1000:.0f} ms, left {left}: {r.err.strip()}")
                continue
            if before is not None:
                self.assertEqual((ca / "ca.pem").read_bytes(), before, "a complete CA is kept")
            self.check_leaf_dir(out / "next.test", ic.load_cert(ca / "ca.pem"))
            self.check_db_consistent(ca, self.listing(ca))
        print(f"\n  first-use kills: {[(round(d * 1000), label) for d, label in sorted(history)]}", file=sys.stderr)
        self.assertEqual(bad, [], "the CA directory was left unusable")

    def test_interrupted_init_is_set_aside_by_sign(self):
        """What a killed init leaves (CA files without ca.pem, and the inventory
        it was building under a temporary name) does not block `sign`: it is
        moved aside, never deleted, even twice in one second. `init` refuses
        and says why, changing nothing (tests/e2e_cli_errors.py). Only in the
        default location, the one sign creates a CA in."""
        home = self.tmp / "half-home"
        ca = home / ".local" / "share" / "minica"
        moved = []
        for round_ in range(2):
            ca.mkdir(parents=True, exist_ok=True)
            for f in list(ca.iterdir()):
                if f.is_file():
                    f.unlink()
            (ca / "ca-key.pem").write_text(f"leftover {round_}\n")
            (ca / ".inventory.db.tmp-0123abcd").write_bytes(b"partial")
            r = ic.run_minica(None, ["sign", f"r{round_}.test", "--out", self.tmp / "o-sign"], home)
            self.assertEqual(r.code, 0, repr(r))
            self.assertIn("interrupted CA creation", r.err)
            self.assertTrue((ca / "ca.pem").exists())
            self.assertFalse((ca / ".inventory.db.tmp-0123abcd").exists())
            moved = sorted(p for p in ca.iterdir() if p.name.startswith("interrupted-init-"))
            self.assertEqual(len(moved), round_ + 1, moved)
        # Both rounds' leftovers are kept, each in its own directory.
        kept = sorted((m / "ca-key.pem").read_text() for m in moved)
        self.assertEqual(kept, ["leftover 0\n", "leftover 1\n"])
        for m in moved:
            self.assertEqual((m / ".inventory.db.tmp-0123abcd").read_bytes(), b"partial")
        self.check_db_consistent(ca, self.listing(ca))

    def test_sigkill_while_ca_is_busy(self):
        """Kill signers while others wait for the write lock: the waiting ones finish."""
        ca = self.init_ca()
        out = self.tmp / "out"
        ca_cert = ic.load_cert(ca / "ca.pem")
        procs = []
        for i in range(12):
            p = ic.spawn_minica(ca, ["sign", f"b{i:02d}.test", "--out", out], self.home)
            self.procs.append(p)
            procs.append(p)
        time.sleep(0.03 * SLOW)
        for p in procs[::2]:
            p.kill()
        for i, p in enumerate(procs):
            o, e = p.communicate(timeout=120 * SLOW)
            self.assertIsNone(ic.sanitizer_report(e), e)
            if i % 2:
                self.assertEqual(p.returncode, 0, e)
                self.check_leaf_dir(out / f"b{i:02d}.test", ca_cert)
            else:
                self.assertIn(p.returncode, (0, -9), e)
        rows = self.listing(ca)
        names = [r["names"][0] for r in rows]
        for i in range(1, 12, 2):
            self.assertIn(f"b{i:02d}.test", names)
        self.ok(ca, "sign", "after.test", "--out", out)
        self.check_db_consistent(ca, self.listing(ca))


# ---- 5. a damaged inventory -------------------------------------------------------------------

class CorruptInventory(Base):
    def setUp(self):
        super().setUp()
        self.ca = self.init_ca()
        self.out = self.tmp / "out"
        for i in range(8):
            self.ok(self.ca, "sign", f"d{i}.test", f"{i}.example.test", "--out", self.out)
        self.ok(self.ca, "revoke", self.out / "d0.test" / "cert.pem")
        self.rows = self.listing(self.ca)
        self.assertFalse((self.ca / "inventory.db-wal").exists(), "the WAL is gone once minica exits")
        self.pristine = (self.ca / "inventory.db").read_bytes()
        self.serial = self.rows[3]["serial"]

    def variants(self):
        data = self.pristine
        size = len(data)
        page = int.from_bytes(data[16:18], "big")
        page = 65536 if page == 1 else page
        pages = size // page
        rnd = __import__("random").Random(6)
        garbage = bytes(rnd.getrandbits(8) for _ in range(size))
        v = {
            "empty": b"",
            "truncated to 50 bytes": data[:50],
            "truncated to 100 bytes": data[:100],
            "truncated to 1000 bytes": data[:1000],
            "truncated to one page": data[:page],
            "truncated by one page": data[:size - page],
            "truncated to half": data[:size // 2],
            "truncated by one byte": data[:-1],
            "garbage": garbage,
            "header kept, garbage after": data[:100] + garbage[100:],
            "zeroed": bytes(size),
            "first page zeroed": bytes(page) + data[page:],
            "last page garbage": data[:size - page] + garbage[:page],
        }
        if pages >= 3:
            v["middle page zeroed"] = data[:page] + bytes(page) + data[2 * page:]
        return v

    def restore(self, content):
        for suffix in ("-wal", "-shm"):
            try:
                os.unlink(str(self.ca / "inventory.db") + suffix)
            except FileNotFoundError:
                pass
        db = self.ca / "inventory.db"
        os.chmod(db, 0o600)
        db.write_bytes(content)

    def check_refused(self, what, r, db_before):
        self.assertGreaterEqual(r.code, 0, f"{what}: killed by a signal: {r!r}")
        self.assertIsNone(ic.sanitizer_report(r.err), f"{what}: {r!r}")
        self.assertEqual(r.code, 1, f"{what}: {r!r}")
        self.assertIn(str(self.ca / "inventory.db"), r.err, f"{what}: the error names the file: {r!r}")
        self.assertRegex(r.err, r"^minica: ", what)
        self.assertEqual(len(r.err.strip().splitlines()), 1, f"{what}: one clear line: {r!r}")
        self.assertEqual(r.out.strip(), "", f"{what}: nothing listed: {r!r}")
        self.assertEqual((self.ca / "inventory.db").read_bytes(), db_before, f"{what}: the damaged file is kept as is")

    def test_damaged_inventory_is_a_clear_error(self):
        crl = self.tmp / "crl.pem"
        t0 = time.monotonic()
        for label, content in self.variants().items():
            self.assertLess(time.monotonic() - t0, 90 * SLOW, "time budget")
            commands = [
                ("list", ["list"]),
                ("list --json", ["list", "--json"]),
                ("list --revoked", ["list", "--revoked", "--json"]),
                ("sign", ["sign", "new.test", "--out", self.out]),
                ("revoke", ["revoke", self.serial]),
                ("crl", ["crl", "--out", crl]),
            ]
            for what, args in commands:
                with self.subTest(damage=label, command=what):
                    self.restore(content)
                    r = ic.run_minica(self.ca, args, self.home)
                    self.check_refused(f"{label}: {what}", r, content)
                    self.assertFalse((self.out / "new.test").exists(), f"{label}: sign wrote nothing")
                    self.assertFalse(crl.exists(), f"{label}: crl wrote nothing")
        # Restored, the CA works again, with every record.
        self.restore(self.pristine)
        self.assertEqual(self.listing(self.ca), self.rows)
        self.ok(self.ca, "sign", "new.test", "--out", self.out)

    def test_damage_with_a_pending_wal(self):
        """A WAL left by a crash disables the header's page-count check: the
        damage must still be found."""
        db = self.ca / "inventory.db"
        for label, damage in [("truncated by one page", lambda d, pg: d[:-pg]),
                              ("truncated to 3 pages", lambda d, pg: d[:3 * pg]),
                              ("last page zeroed", lambda d, pg: d[:-pg] + bytes(pg))]:
            with self.subTest(damage=label):
                self.restore(self.pristine)
                # A writer that dies after committing, before any checkpoint.
                ic.run_tool([sys.executable, "-c",
                             "import sqlite3, os, sys\n"
                             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                             "c.execute('PRAGMA wal_autocheckpoint=0')\n"
                             "c.execute(\"UPDATE meta SET value = value + 1 WHERE key = 'crl_number'\")\n"
                             "os._exit(0)\n", db], check=True)
                self.assertGreater(os.path.getsize(str(db) + "-wal"), 0)
                page = int.from_bytes(self.pristine[16:18], "big")
                db.write_bytes(damage(self.pristine, page))
                for args in (["list", "--json"], ["sign", "new.test", "--out", self.out], ["crl", "--out", self.tmp / "c.pem"]):
                    r = ic.run_minica(self.ca, args, self.home)
                    self.assert_no_crash(r)
                    self.assertEqual(r.code, 1, f"{label}: {r!r}")
                    self.assertIn(str(db), r.err)
                    self.assertEqual(r.out.strip(), "", f"{label}: {r!r}")
                self.assertFalse((self.out / "new.test").exists())
        self.restore(self.pristine)
        self.assertEqual(self.listing(self.ca), self.rows)

    def test_damage_in_a_large_inventory(self):
        """Past 4 MiB minica skips PRAGMA quick_check at open: a damaged page
        met while listing must still fail the listing, not shorten it."""
        db = self.ca / "inventory.db"
        n = 6000
        con = sqlite3.connect(db, isolation_level=None)
        try:
            con.execute("BEGIN")
            row = con.execute("SELECT subject, names, key_type, profile, not_before, not_after "
                              "FROM certificates WHERE status = 'valid' ORDER BY id LIMIT 1").fetchone()
            pem = con.execute("SELECT pem FROM pems ORDER BY id LIMIT 1").fetchone()[0]
            for i in range(n):
                fp = hashlib.sha256(str(i).encode()).hexdigest().upper()
                fp = ":".join(fp[j:j + 2] for j in range(0, 64, 2))
                cur = con.execute("INSERT INTO certificates (serial, subject, names, key_type, profile, not_before, "
                                  "not_after, fingerprint_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                  (format(0xF00D0000 + i, "X"), *row, fp))
                con.execute("INSERT INTO pems (id, pem) VALUES (?, ?)", (cur.lastrowid, pem))
            con.execute("COMMIT")
        finally:
            con.close()
        self.assertFalse(os.path.exists(str(db) + "-wal"))
        big = db.read_bytes()
        self.assertGreater(len(big), 4 << 20, "past the quick_check limit")
        self.assertEqual(len(self.listing(self.ca)), len(self.rows) + n)
        page = int.from_bytes(big[16:18], "big")
        fp = hashlib.sha256(str(n // 2).encode()).hexdigest().upper()
        at = big.find(":".join(fp[j:j + 2] for j in range(0, 64, 2)).encode())
        self.assertGreater(at, page)
        start = at // page * page
        damaged = big[:start] + bytes(page) + big[start + page:]
        self.restore(damaged)
        r = ic.run_minica(self.ca, ["list", "--json"], self.home)
        self.check_refused("large inventory, a certificates page zeroed: list --json", r, damaged)
        r = ic.run_minica(self.ca, ["list"], self.home)
        self.check_refused("large inventory, a certificates page zeroed: list", r, damaged)

    def test_missing_or_foreign_inventory(self):
        # Missing: an error, not a fresh empty inventory (that would forget revocations).
        os.unlink(self.ca / "inventory.db")
        for args in (["list", "--json"], ["sign", "new.test", "--out", self.out], ["revoke", self.serial], ["crl"]):
            r = self.m(self.ca, *args)
            self.assertEqual(r.code, 1, repr(r))
            self.assertIn(str(self.ca / "inventory.db"), r.err)
            self.assertEqual(r.out.strip(), "")
            self.assertFalse((self.ca / "inventory.db").exists(), f"{args[0]} recreated the inventory")
        # Some other application's SQLite database.
        con = sqlite3.connect(self.ca / "inventory.db")
        con.execute("CREATE TABLE certificates (x)")
        con.commit()
        con.close()
        foreign = (self.ca / "inventory.db").read_bytes()
        for args in (["list", "--json"], ["sign", "new.test", "--out", self.out], ["revoke", self.serial], ["crl"]):
            r = ic.run_minica(self.ca, args, self.home)
            self.check_refused(f"foreign db: {args[0]}", r, foreign)

    def test_damaged_pem_is_caught(self):
        """A PEM altered inside an intact database: list still lists (it never
        reads PEMs), but revoke, which reads the record, refuses it."""
        data = bytearray(self.pristine)
        target = self.rows[5]
        pem = None
        for m in re.finditer(rb"-----BEGIN CERTIFICATE-----\n(.+?)-----END CERTIFICATE-----", data, re.S):
            cert = x509.load_pem_x509_certificate(bytes(m.group(0)) + b"\n")
            if ic.serial_hex(cert) == target["serial"]:
                pem = m
        self.assertIsNotNone(pem, "the PEM is stored as text")
        # Flip one base64 character inside the body (the second line): same
        # length, still base64, so the PEM reads but is not the certificate
        # recorded.
        i = pem.start(1) + 100
        self.assertNotIn(data[i], b"\n-")
        data[i] = ord("A") if data[i] != ord("A") else ord("B")
        self.restore(bytes(data))
        r = self.m(self.ca, "revoke", target["serial"])
        self.assertEqual(r.code, 1, repr(r))
        self.assertIn("corrupt record " + target["serial"] + " (the PEM does not match the recorded fingerprint)", r.err)
        self.assertIn(str(self.ca / "inventory.db"), r.err)
        rows = self.listing(self.ca)
        self.assertEqual(rows, self.rows, "the refused revoke changed nothing")


# ---- 6. the echo server uses minica's CRLs ------------------------------------------------------

@unittest.skipUnless(os.access(ic.ECHO, os.X_OK), "minica-echo not built")
class EchoWithCrl(Base):
    def setUp(self):
        super().setUp()
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        super().tearDown()

    def serve(self, *args):
        s = ic.EchoServer(*args)
        self.servers.append(s)
        return s

    def test_revoked_client_is_refused(self):
        ca = self.init_ca()
        out = self.tmp / "out"
        self.ok(ca, "sign", "localhost", "127.0.0.1", "--server", "--out", out)
        self.ok(ca, "sign", "alice", "--client", "--out", out)
        self.ok(ca, "sign", "bob", "--client", "--key", "rsa-2048", "--out", out)
        crl = self.tmp / "crl.pem"
        self.ok(ca, "crl", "--out", crl)
        n1 = ic.load_crl(crl).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        srv_args = (out / "localhost" / "fullchain.pem", out / "localhost" / "key.pem", ca / "ca.pem", "--crl", crl)
        client = {n: (out / n / "fullchain.pem", out / n / "key.pem") for n in ("alice", "bob")}

        srv = self.serve(*srv_args)
        for n in ("alice", "bob"):
            r = ic.echo_connect(srv.address, ca / "ca.pem", *client[n], text=f"hi from {n}\n")
            self.assertEqual(r.returncode, 0, f"{n}: {r.stderr}")
            self.assertEqual(r.stdout, f"hi from {n}\n")
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertIsNone(ic.sanitizer_report(srv.log()), srv.log())

        self.ok(ca, "revoke", out / "alice" / "cert.pem", "--reason", "keyCompromise")
        self.ok(ca, "crl", "--out", crl)
        n2 = ic.load_crl(crl).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        self.assertGreater(n2, n1)

        srv = self.serve(*srv_args)
        r = ic.echo_connect(srv.address, ca / "ca.pem", *client["alice"], text="let me in\n")
        self.assertEqual(r.returncode, 6, f"a refused client certificate is exit 6: {r.stderr}")
        self.assertNotIn("let me in", r.stdout)
        self.assertRegex(r.stderr, r"(?i)revoked", "the client is told why")
        self.assertTrue(srv.wait_log(r"(?i)revoked.*CN=alice|CN=alice.*revoked"), srv.log())
        r = ic.echo_connect(srv.address, ca / "ca.pem", *client["bob"], text="still here\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "still here\n")
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertIsNone(ic.sanitizer_report(srv.log()), srv.log())


if __name__ == "__main__":
    ic.main()
