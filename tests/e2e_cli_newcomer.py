"""The minica CLI as a newcomer meets it. minica-echo: --version as minica's,
usage errors in minica's one-line form, a warning for a server certificate
without serverAuth."""
import os
import pathlib
import pty
import re
import signal
import subprocess
import time
import unittest

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cli_common import BUILD, MINICA, ClassTempDir, clean_env, main, minica, snapshot, validate

ECHO = os.path.join(BUILD, "tools", "minica-echo", "minica-echo")


def eku(path):
    cert = x509.load_pem_x509_certificate(pathlib.Path(path).read_bytes())
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


class NewcomerCase(ClassTempDir):
    temp_prefix = "minica-newcomer-"

    def ok(self, args, **kw):
        r = minica(args, **kw)
        self.assertEqual(r.code, 0, r)
        return r

    def refused(self, args, code, message, **kw):
        """Exit `code`, one line on stderr containing `message`, nothing
        written under the class's temporary directory."""
        before = snapshot(self.tmp)
        kw.setdefault("cwd", self.tmp)
        r = minica(args, **kw)
        self.assertEqual(r.code, code, r)
        self.assertEqual(len(r.err.strip().splitlines()), 1, r)
        self.assertIn(message, r.err, r)
        self.assertEqual(snapshot(self.tmp), before, r)
        return r

    def new_ca(self, name, *init_args):
        ca = self.tmp / name
        self.ok(["init", *init_args], ca=ca)
        return ca


class Echo(NewcomerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ca = cls.tmp / "ca"
        r = minica(["init"], ca=cls.ca)
        assert r.code == 0, r

    def test_minica_echo_version_reads_as_minica_version(self):
        version = self.ok(["--version"]).out.split()[-1]
        p = subprocess.run([ECHO, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual((p.returncode, p.stdout), (0, f"minica-echo {version}\n"), p)

    def test_minica_echo_usage_errors_read_as_minica_errors(self):
        p = subprocess.run([ECHO, "serve", "--cert", "c", "--key", "k", "--ca", "a", "--nope"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p)
        self.assertRegex(lines[0], r"^minica-echo: .*--nope")

    def serve_log(self, name, profile):
        """Starts minica-echo serve with a new certificate of `profile`, stops it; its stderr."""
        self.ok(["sign", name, f"--{profile}", "--out", self.tmp / "out"], ca=self.ca)
        d = self.tmp / "out" / name
        p = subprocess.Popen([ECHO, "serve", "--cert", d / "fullchain.pem", "--key", d / "key.pem",
                              "--ca", self.ca / "ca.pem", "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("listening on", p.stdout.readline())
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
        return err

    def test_echo_warns_of_a_client_only_server_certificate(self):
        warned = [l for l in self.serve_log("client.test", "client").splitlines() if "serverAuth" in l]
        self.assertEqual(len(warned), 1, warned)
        self.assertIn("clientAuth and no serverAuth: it is not for a server", warned[0])
        self.assertNotIn("serverAuth", self.serve_log("server.test", "server"))

if __name__ == "__main__":
    main()
