"""`minica trust --store nss` proven in a real browser: Debian's chromium,
headless, driven through the DevTools protocol by playwright-core
(tests/browser/visit.mjs), with a temporary HOME (its ~/.pki/nssdb is the NSS
database Chromium reads) and a new profile for each visit, in a private mount
namespace (trust_sandbox.py) where Chromium's managed policy directory,
/etc/chromium/policies, may be written.

minica-echo serve --http asks every client for a certificate: the client's
PKCS#12 (`minica export --p12`) is imported into the NSS database with
pk12util, and the AutoSelectCertificateForUrls policy has Chromium present it
without a picker. Then: before `trust install --store nss` the page fails with
ERR_CERT_AUTHORITY_INVALID; after it, it loads over TLS with the HSTS header
and shows the client subject the server verified (a screenshot is kept in
meson-logs/); after `trust uninstall` it fails again."""
import json
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trust_sandbox  # noqa: E402

trust_sandbox.enter(__file__)

from echo_certs import BUILD_ROOT, EchoServer, have, main  # noqa: E402
from trust_sandbox import clean_env  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
VISIT = HERE / "browser" / "visit.mjs"
P12_PASS = "browser-pass"
CLIENT = "browser@example.test"


def run(args, env=None, timeout=120):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env(), errors="replace", stdin=subprocess.DEVNULL)


class Browser(trust_sandbox.SandboxCase):
    @classmethod
    def setUpClass(cls):
        missing = [p for p in ("chromium", "node", "certutil", "pk12util") if not have(p)]
        if missing:
            raise AssertionError(f"not installed: {', '.join(missing)} (bash .ci/install-deps)")
        if not (HERE / "browser/node_modules/playwright-core").is_dir():
            raise AssertionError("playwright-core is not installed in tests/browser (bash .ci/install-deps)")
        cls.tmp = trust_sandbox.TempDir("minica-trust-browser-")
        w = cls.work = cls.tmp.path
        trust_sandbox.mount_overlays(w / "overlay")
        cls.home = w / "home"
        cls.home.mkdir()
        cls.ca = w / "ca"
        cls.mc("init")
        out = w / "out"
        cls.mc("sign", "localhost", "127.0.0.1", "--out", out)
        cls.mc("sign", CLIENT, "--client", "--out", out)
        p12 = w / "client.p12"
        cls.mc("export", out / CLIENT, "--p12", p12, env={"MINICA_P12_PASSPHRASE": P12_PASS})
        cls.srv = EchoServer(out / "localhost/fullchain.pem", out / "localhost/key.pem", cls.ca / "ca.pem", "--http")
        cls.url = f"https://localhost:{cls.srv.port}/"
        # The client certificate in the NSS database, chosen by policy.
        nssdb = cls.home / ".pki/nssdb"
        nssdb.mkdir(parents=True)
        for cmd in (["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"],
                    ["pk12util", "-i", p12, "-d", f"sql:{nssdb}", "-W", P12_PASS]):
            r = run(cmd)
            assert r.returncode == 0, f"{cmd}: {r.stdout}{r.stderr}"
        policies = pathlib.Path("/etc/chromium/policies/managed")
        policies.mkdir(parents=True, exist_ok=True)
        rule = {"pattern": f"https://localhost:{cls.srv.port}", "filter": {"ISSUER": {"CN": "minica root CA"}}}
        (policies / "minica-test.json").write_text(json.dumps({"AutoSelectCertificateForUrls": [json.dumps(rule)]}))
        cls.visits = 0

    def visit(self, screenshot=None):
        """One visit in a new profile: visit.mjs's JSON result."""
        type(self).visits += 1
        profile = self.work / f"profile{self.visits}"
        env = clean_env({"HOME": str(self.home), "NODE_PATH": str(HERE / "browser/node_modules")})
        r = run(["node", VISIT, self.url, profile] + ([screenshot] if screenshot else []), env=env, timeout=90)
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        self.assertTrue(lines, f"visit.mjs said nothing useful: {r.returncode}\n{r.stdout}\n{r.stderr[-2000:]}")
        return json.loads(lines[-1])

    def test_untrusted_then_trusted_with_mtls_then_untrusted_again(self):
        v = self.visit()
        self.assertFalse(v["ok"], v)
        self.assertIn("ERR_CERT_AUTHORITY_INVALID", v["error"])

        r = self.mc("trust", "install", "--store", "nss")
        self.assertRegex(r.stdout, r"nss\s+installed\s+sql:")
        shot = pathlib.Path(BUILD_ROOT) / "meson-logs" / "trust-browser-mtls.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        v = self.visit(screenshot=shot)
        self.assertTrue(v["ok"], v)
        self.assertEqual(v["status"], 200)
        self.assertEqual(v["hsts"], "max-age=31536000")
        self.assertEqual(v["security"]["subjectName"], "localhost")
        self.assertEqual(v["security"]["issuer"], "minica root CA")
        self.assertIn(v["security"]["protocol"], ("TLS 1.3", "TLS 1.2"))
        # the client certificate Chromium presented, as the server verified it
        self.assertIn(f"CN={CLIENT}", v["text"])
        self.assertGreater(shot.stat().st_size, 1000)

        r = self.mc("trust", "uninstall", "--store", "nss")
        self.assertRegex(r.stdout, r"nss\s+removed")
        v = self.visit()
        self.assertFalse(v["ok"], v)
        self.assertIn("ERR_CERT_AUTHORITY_INVALID", v["error"])


if __name__ == "__main__":
    main(sys.modules[__name__])
