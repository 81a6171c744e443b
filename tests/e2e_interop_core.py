"""Every chain the library issues, for every key type x profile x {root,
intermediate}, verifies under real, independent verifiers: OpenSSL
(`openssl verify -x509_strict`), GnuTLS (`certtool --verify`) and pyca
cryptography's strict web-PKI verifier (`x509.verification`). Each verifier
is also shown to refuse the wrong purpose and the wrong name, so the test
can fail."""
import datetime
import ipaddress
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

from cryptography import x509
from cryptography.x509 import verification as xv

BUILD = os.environ["MINICA_BUILD_ROOT"]
ISSUER = os.path.join(BUILD, "tests", "interop_issue")
HOST = "app.test"


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        p = run([ISSUER, cls.tmp.name])
        if p.returncode != 0:
            raise RuntimeError("interop_issue failed: " + p.stderr)
        cls.chains = json.loads(p.stdout)
        assert len(cls.chains) == 6 * 3 * 2, len(cls.chains)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def purposes(self, c):
        return {"server": ["server"], "client": ["client"], "both": ["server", "client"]}[c["profile"]]

    def openssl(self, c, purpose, host=HOST, ip=None):
        d = c["dir"]
        args = ["openssl", "verify", "-x509_strict", "-auth_level", "2",
                "-purpose", "sslserver" if purpose == "server" else "sslclient", "-CAfile", c["root"]]
        if c["via"] == "intermediate":
            args += ["-untrusted", os.path.join(d, "chain.pem")]
        if host:
            args += ["-verify_hostname", host]
        if ip:
            args += ["-verify_ip", ip]
        p = run(args + [os.path.join(d, "leaf.pem")])
        return p.returncode == 0 and p.stdout.strip().endswith(": OK"), p.stdout + p.stderr

    def gnutls(self, c, purpose, host=HOST):
        oid = "1.3.6.1.5.5.7.3.1" if purpose == "server" else "1.3.6.1.5.5.7.3.2"
        args = ["certtool", "--verify", "--verify-profile=medium", "--load-ca-certificate", c["root"],
                "--infile", os.path.join(c["dir"], "fullchain.pem"), "--verify-purpose", oid]
        if host:
            args += ["--verify-hostname", host]
        p = run(args)
        return p.returncode == 0 and "Chain verification output: Verified" in p.stdout, p.stdout[-600:] + p.stderr

    def pyca(self, c, purpose, host=HOST):
        load = lambda f: x509.load_pem_x509_certificates(pathlib.Path(f).read_bytes())
        root = load(c["root"])
        leaf = load(os.path.join(c["dir"], "leaf.pem"))[0]
        inter = load(os.path.join(c["dir"], "chain.pem")) if c["via"] == "intermediate" else []
        builder = xv.PolicyBuilder().store(xv.Store(root)).time(datetime.datetime.now(datetime.timezone.utc))
        try:
            if purpose == "server":
                name = xv.DNSName(host) if not host[0].isdigit() else xv.IPAddress(ipaddress.ip_address(host))
                builder.build_server_verifier(name).verify(leaf, inter)
            else:
                builder.build_client_verifier().verify(leaf, inter)
            return True, ""
        except Exception as e:  # VerificationError or UnsupportedGeneralNameType
            return False, repr(e)

    def test_openssl_accepts_and_refuses(self):
        for c in self.chains:
            for purpose in self.purposes(c):
                with self.subTest(c=c["dir"], purpose=purpose):
                    ok, out = self.openssl(c, purpose, host=HOST if purpose == "server" else None)
                    self.assertTrue(ok, out)
            with self.subTest(c=c["dir"], check="names"):
                if "server" in self.purposes(c):
                    self.assertTrue(self.openssl(c, "server", host="x.wild.test")[0])
                    self.assertTrue(self.openssl(c, "server", host="xn--bcher-kva.test")[0])
                    self.assertTrue(self.openssl(c, "server", host=None, ip="::1")[0])
                    self.assertFalse(self.openssl(c, "server", host="other.test")[0])
                    self.assertFalse(self.openssl(c, "server", host="a.b.wild.test")[0])
                else:
                    self.assertFalse(self.openssl(c, "server")[0])

    def test_gnutls_accepts_and_refuses(self):
        for c in self.chains:
            for purpose in self.purposes(c):
                with self.subTest(c=c["dir"], purpose=purpose):
                    ok, out = self.gnutls(c, purpose, host=HOST if purpose == "server" else None)
                    self.assertTrue(ok, out)
            with self.subTest(c=c["dir"], check="refusals"):
                if "server" in self.purposes(c):
                    self.assertFalse(self.gnutls(c, "server", host="other.test")[0])
                if c["profile"] == "server":
                    self.assertFalse(self.gnutls(c, "client", host=None)[0])

    def test_pyca_accepts_and_refuses(self):
        for c in self.chains:
            if c["key_type"] == "ed25519":
                # The CA/B web-PKI profile pyca enforces permits only RSA and
                # ECDSA signatures; Ed25519 chains must be refused, not crash.
                ok, out = self.pyca(c, self.purposes(c)[0])
                self.assertFalse(ok)
                continue
            for purpose in self.purposes(c):
                with self.subTest(c=c["dir"], purpose=purpose):
                    ok, out = self.pyca(c, purpose)
                    self.assertTrue(ok, out)
            with self.subTest(c=c["dir"], check="refusals"):
                if "server" in self.purposes(c):
                    self.assertTrue(self.pyca(c, "server", host="127.0.0.1")[0])
                    self.assertFalse(self.pyca(c, "server", host="other.test")[0])
                else:
                    self.assertFalse(self.pyca(c, "server")[0])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
