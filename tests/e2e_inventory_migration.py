#!/usr/bin/env python3
"""A CA made by release 0.1.0 (tests/data/ca-v1: inventory schema version 1)
keeps working with this minica: the first command migrates its inventory to
version 2 in place, `list --json` shows every record the release made
(schemas/list.schema.json, "account": null), the revoked key stays refused,
and the CA signs, revokes and publishes CRLs as before. The fixture is copied
to a private directory first (git keeps no modes; the CA refuses a directory
open to others)."""
import json
import os
import shutil
import sqlite3
import stat
import subprocess

import cli_common as c

FIXTURE = os.path.join(c.SOURCE, "tests", "data", "ca-v1")


class Migration(c.ClassTempDir):
    temp_prefix = "minica-migration-"

    def copy_ca(self, name):
        ca = self.tmp / name
        shutil.copytree(FIXTURE, ca)
        for dirpath, dirnames, filenames in os.walk(ca):
            os.chmod(dirpath, 0o700)
            for f in filenames:
                p = os.path.join(dirpath, f)
                os.chmod(p, 0o400 if f in ("ca-key.pem", "root-key.pem") else 0o600 if f.endswith("key.pem")
                         or f.startswith("inventory.db") else 0o644)
        return ca

    def ok(self, ca, *args):
        r = c.minica(list(args), ca=ca, home=self.tmp)
        self.assertEqual(r.code, 0, r)
        return r

    def user_version(self, ca):
        con = sqlite3.connect(ca / "inventory.db")
        try:
            return con.execute("PRAGMA user_version").fetchone()[0]
        finally:
            con.close()

    def test_list_migrates_and_shows_every_record(self):
        ca = self.copy_ca("list")
        self.assertEqual(self.user_version(ca), 1)
        with open(os.path.join(FIXTURE, "expected-list.json")) as f:
            expected = json.load(f)
        rows = self.ok(ca, "list", "--json").json()
        c.validate(rows, "list")
        self.assertEqual(self.user_version(ca), 2)
        self.assertEqual([{k: v for k, v in r.items() if k != "account"} for r in rows], expected)
        self.assertEqual([r["account"] for r in rows], [None] * len(expected))
        self.assertEqual([r["status"] for r in rows], ["valid", "revoked", "valid"])
        # A second run finds nothing to migrate and lists the same.
        self.assertEqual(self.ok(ca, "list", "--json").json(), rows)

    def test_the_migrated_ca_signs_revokes_and_refuses_the_compromised_key(self):
        ca = self.copy_ca("work")
        out = self.tmp / "work-out"
        # The key the release revoked for keyCompromise stays refused (found
        # through the spki_sha256 the migration computed).
        csr = self.tmp / "compromised.csr"
        subprocess.run(["openssl", "req", "-new", "-key", ca / "out" / "b.test" / "key.pem", "-subj", "/CN=again.test",
                        "-addext", "subjectAltName=DNS:again.test", "-out", csr], check=True, capture_output=True)
        r = c.minica(["sign", "--csr", csr, "--out", out], ca=ca, home=self.tmp)
        self.assertNotEqual(r.code, 0, r)
        self.assertIn("keyCompromise", r.err, r)
        self.ok(ca, "sign", "new.test", "--out", out)
        self.ok(ca, "revoke", out / "new.test" / "cert.pem")
        self.ok(ca, "crl")
        rows = self.ok(ca, "list", "--json").json()
        c.validate(rows, "list")
        self.assertEqual(len(rows), 4)
        self.assertEqual(sum(r["status"] == "revoked" for r in rows), 2)
        con = sqlite3.connect(ca / "inventory.db")
        try:
            self.assertEqual(con.execute("SELECT value FROM meta WHERE key = 'revocations'").fetchone()[0], 2)
            self.assertEqual(con.execute("SELECT count(*) FROM certificates WHERE spki_sha256 IS NULL").fetchone()[0],
                             0)
        finally:
            con.close()
        self.assertEqual(stat.S_IMODE(os.stat(ca / "inventory.db").st_mode), 0o600)


if __name__ == "__main__":
    c.main()
