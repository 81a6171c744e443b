#!/usr/bin/env python3
"""minica crl --url: where the CRL is served, recorded in <ca-dir>/publication.json,
and carried by every leaf issued from then on as its CRL Distribution Point.
OpenSSL is the judge: `openssl x509 -text` shows the extension, and
`openssl verify -crl_download -crl_check` fetches the CRL from the URL (a
python http.server on 127.0.0.1) and refuses the leaf once it is revoked."""
import functools
import http.server
import json
import os
import subprocess
import threading

import cli_common as c

CHECK_CHAIN = "/work/shared/tools/check-chain.sh"


class CrlUrl(c.ClassTempDir):
    temp_prefix = "minica-crl-url-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.served = cls.tmp / "served"
        cls.served.mkdir()
        handler = functools.partial(QuietHandler, directory=str(cls.served))
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        cls.port = cls.server.server_address[1]
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        super().tearDownClass()

    def ok(self, ca, *args):
        r = c.minica(list(args), ca=ca, cwd=self.tmp)
        self.assertEqual(r.code, 0, r)
        return r

    def serve_crl(self, ca, name):
        """Publishes ca/crl.pem as DER at /<name>, as a web server would."""
        p = c.run(["openssl", "crl", "-in", ca / "crl.pem", "-outform", "DER", "-out", self.served / name])
        self.assertEqual(p.returncode, 0, p.stderr)

    def openssl_text(self, cert):
        p = c.run(["openssl", "x509", "-in", cert, "-noout", "-text"])
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def crl_download_verify(self, ca, cert):
        p = c.run(["openssl", "verify", "-x509_strict", "-crl_download", "-crl_check", "-purpose", "sslserver",
                   "-CAfile", ca / "ca.pem", cert])
        return p.returncode, p.stdout + p.stderr

    def test_leaves_carry_the_url_and_openssl_fetches_the_crl_there(self):
        ca = self.tmp / "ca"
        out = self.tmp / "out"
        self.ok(ca, "init", "--name", "CDP Test CA")
        self.ok(ca, "sign", "before.test", "--out", out)
        url = f"http://127.0.0.1:{self.port}/ca.crl"

        # Refused before anything is written: https, and --no-url beside --url.
        before = c.snapshot(ca)
        r = c.minica(["crl", "--url", f"https://127.0.0.1:{self.port}/ca.crl"], ca=ca, cwd=self.tmp)
        self.assertEqual(r.code, 1, r)
        self.assertIn("https", r.err)
        r = c.minica(["crl", "--url", url, "--no-url"], ca=ca, cwd=self.tmp)
        self.assertEqual(r.code, 2, r)
        r = c.minica(["crl", "--root-url", url], ca=ca, cwd=self.tmp)  # a root CA has no root CRL
        self.assertEqual(r.code, 1, r)
        self.assertEqual(c.snapshot(ca), before)

        r = self.ok(ca, "crl", "--url", url)
        self.assertIn(url, r.out)
        pub = ca / "publication.json"
        self.assertEqual(c.mode(pub), 0o644)
        doc = json.loads(pub.read_text())
        self.assertEqual(doc, {"crl_url": url})
        c.validate(doc, "publication")
        self.serve_crl(ca, "ca.crl")

        self.ok(ca, "sign", "x.test", "--out", out)
        leaf = out / "x.test" / "cert.pem"
        text = self.openssl_text(leaf)
        self.assertIn("X509v3 CRL Distribution Points", text)
        self.assertIn("URI:" + url, text)
        self.assertNotIn("X509v3 CRL Distribution Points", self.openssl_text(out / "before.test" / "cert.pem"))

        code, said = self.crl_download_verify(ca, leaf)
        self.assertEqual(code, 0, said)
        self.assertTrue(said.strip().endswith(": OK"), said)

        # inspect: text and JSON (schema-checked).
        r = self.ok(ca, "inspect", leaf)
        self.assertIn(url, r.out)
        j = self.ok(ca, "inspect", "--json", leaf).json()
        c.validate(j, "certificate")
        self.assertEqual(j["crl_distribution_points"], [url])
        j = self.ok(ca, "inspect", "--json", out / "before.test" / "cert.pem").json()
        c.validate(j, "certificate")
        self.assertNotIn("crl_distribution_points", j)

        # Every verifier still takes a leaf with a CDP.
        self.ok(ca, "sign", "z.test", "--out", out)
        if os.access(CHECK_CHAIN, os.X_OK):
            # The first run builds its Go verifier: more time than c.run gives.
            p = subprocess.run([CHECK_CHAIN, "--ca", ca / "ca.pem", "--leaf", out / "z.test" / "fullchain.pem",
                                "--host", "z.test"], capture_output=True, text=True, timeout=600)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        # Revoked, re-published, served again: the download finds it.
        self.ok(ca, "revoke", leaf, "--reason", "keyCompromise")
        self.ok(ca, "crl")
        self.assertEqual(json.loads(pub.read_text()), {"crl_url": url})  # kept by a plain crl
        self.serve_crl(ca, "ca.crl")
        code, said = self.crl_download_verify(ca, leaf)
        self.assertNotEqual(code, 0, said)
        self.assertIn("certificate revoked", said)
        code, said = self.crl_download_verify(ca, out / "z.test" / "cert.pem")
        self.assertEqual(code, 0, said)

        # The inventory is as it was: three leaves, one revoked.
        rows = self.ok(ca, "list", "--json").json()
        c.validate(rows, "list")
        self.assertEqual(len(rows), 3)
        self.assertEqual([r["status"] for r in rows].count("revoked"), 1)

        # renew carries it too; --no-url forgets it.
        self.ok(ca, "renew", out / "before.test" / "cert.pem", "--force")
        self.assertIn("URI:" + url, self.openssl_text(out / "before.test" / "cert.pem"))
        self.ok(ca, "crl", "--no-url")
        self.assertFalse(pub.exists())
        self.ok(ca, "sign", "after.test", "--out", out)
        self.assertNotIn("CRL Distribution Points", self.openssl_text(out / "after.test" / "cert.pem"))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    c.main()
