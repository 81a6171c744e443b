"""`minica trust` against real clients, in a private mount namespace
(trust_sandbox.py) so the machine's own trust stores are never touched.

System store (Debian's update-ca-certificates): before `install`, curl,
Python's default SSL context, Go's crypto/tls with the system pool and
`openssl s_client -verify_return_error` all refuse `minica-echo serve --http`,
and Node refuses without NODE_EXTRA_CA_CERTS; after `install` each connects
(Node with the NODE_EXTRA_CA_CERTS install printed), without being told about
the CA; after `uninstall` each refuses again and the bundle is byte for byte
what it was. A user without permission gets one line with the exact sudo
command (which then works with sudo's reset environment), and nothing
changes. NSS through certutil, and Java through keytool with a real Java
client. Every server needs a client certificate (minica-echo is mTLS), which
each probe presents: that tells a client nothing about the server's CA."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trust_sandbox  # noqa: E402

trust_sandbox.enter(__file__)

from cli_common import validate  # noqa: E402
from echo_certs import MINICA, EchoServer, have, main  # noqa: E402
from trust_sandbox import bundle, clean_env  # noqa: E402

GO_PROBE = r"""package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Go's crypto/tls with the system pool: RootCAs is nil.
func main() {
	cert, err := tls.LoadX509KeyPair(os.Args[2], os.Args[3])
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	r, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	io.Copy(io.Discard, r.Body)
	fmt.Println(r.Status)
}
"""

PY_PROBE = r"""import ssl, sys, urllib.request
ctx = ssl.create_default_context()
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10).status)
"""

NODE_PROBE = r"""const https = require('https'), fs = require('fs');
https.get(process.argv[1], {cert: fs.readFileSync(process.argv[2]), key: fs.readFileSync(process.argv[3]), timeout: 10000},
  r => { console.log(r.statusCode); process.exit(r.statusCode === 200 ? 0 : 1); })
  .on('error', e => { console.log(e.code || e.message); process.exit(1); });
"""

JAVA_PROBE = r"""import java.io.FileInputStream;
import java.net.URL;
import java.security.KeyStore;
import javax.net.ssl.*;

// The JDK's default trust store (cacerts), a client certificate from PKCS#12.
public class Probe {
    public static void main(String[] a) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(new FileInputStream(a[1]), a[2].toCharArray());
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, a[2].toCharArray());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init((KeyStore) null);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        HttpsURLConnection c = (HttpsURLConnection) new URL(a[0]).openConnection();
        c.setSSLSocketFactory(ctx.getSocketFactory());
        c.setConnectTimeout(10000);
        c.setReadTimeout(10000);
        System.out.println(c.getResponseCode());
    }
}
"""

P12_PASS = "probe-pass"


def run(args, env=None, input="", timeout=60, cwd=None):
    return subprocess.run([str(a) for a in args], input=input, capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env(), cwd=cwd, errors="replace")


class TrustStores(trust_sandbox.SandboxCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = trust_sandbox.TempDir("minica-trust-system-")
        w = cls.work = cls.tmp.path
        w.chmod(0o755)  # the unprivileged case reads the CA from here
        cls.hook_log = trust_sandbox.mount_overlays(w / "overlay")
        cls.home = w / "home"
        cls.home.mkdir()
        cls.ca = w / "ca"
        cls.mc("init")
        cls.ca.chmod(0o755)
        out = w / "out"
        cls.mc("sign", "localhost", "127.0.0.1", "--out", out)
        cls.mc("sign", "probe@example.test", "--client", "--out", out)
        cls.client = out / "probe@example.test"
        cls.mc("export", cls.client, "--p12", w / "client.p12", env={"MINICA_P12_PASSPHRASE": P12_PASS})
        cls.srv = EchoServer(out / "localhost/fullchain.pem", out / "localhost/key.pem", cls.ca / "ca.pem", "--http")
        cls.url = f"https://localhost:{cls.srv.port}/"
        cls.go = None
        if have("go"):
            (w / "probe.go").write_text(GO_PROBE)
            r = run(["go", "build", "-o", w / "goprobe", w / "probe.go"], timeout=300,
                    env=clean_env({"HOME": str(cls.home), "GOCACHE": str(w / "gocache"), "GOPATH": str(w / "gopath"),
                                   "GOFLAGS": "-mod=mod", "GO111MODULE": "off"}))
            assert r.returncode == 0, r.stdout + r.stderr
            cls.go = w / "goprobe"
        (w / "probe.py").write_text(PY_PROBE)
        (w / "Probe.java").write_text(JAVA_PROBE)
        cls.anchor_pem = (cls.ca / "ca.pem").read_text()

    # ---- the clients ---------------------------------------------------------------

    def probes(self, node_extra=None):
        """Each client's (connected, what it said), told nothing about the CA."""
        cert, key = str(self.client / "cert.pem"), str(self.client / "key.pem")
        out = {}
        r = run(["curl", "-sS", "--max-time", "10", "--cert", cert, "--key", key, "-o", "/dev/null",
                 "-w", "%{http_code}", self.url])
        out["curl"] = (r.returncode == 0 and r.stdout == "200", r.stdout + r.stderr)
        r = run(["/usr/bin/python3", self.work / "probe.py", self.url, cert, key])
        out["python"] = (r.returncode == 0, r.stdout + r.stderr[-300:])
        r = run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.srv.port}", "-servername", "localhost",
                 "-verify_return_error", "-cert", cert, "-key", key], input="")
        out["openssl"] = (r.returncode == 0 and "Verify return code: 0 (ok)" in r.stdout, r.stderr[-300:])
        if self.go:
            r = run([self.go, self.url, cert, key])
            out["go"] = (r.returncode == 0, r.stdout)
        env = clean_env({"NODE_EXTRA_CA_CERTS": node_extra} if node_extra else None)
        r = run(["node", "-e", NODE_PROBE, self.url, cert, key], env=env)
        out["node"] = (r.returncode == 0, r.stdout + r.stderr[-300:])
        return out

    def assert_all(self, probes, connected):
        for name, (ok, said) in probes.items():
            with self.subTest(client=name, expected=connected):
                self.assertEqual(ok, connected, said)

    # ---- the system store ------------------------------------------------------------

    def test_system_store_install_status_uninstall(self):
        before = bundle()
        local = sorted(os.listdir("/usr/local/share/ca-certificates"))
        self.assertNotIn(self.anchor_pem, before)
        self.assert_all(self.probes(), False)

        r = self.mc("trust", "install", "--store", "system")
        self.assertRegex(r.stdout, r"system\s+installed\s+/usr/local/share/ca-certificates/"
                                   r"minica-[0-9a-f]{16}-minica-root-ca\.crt")
        anchor_id = re.search(r"(minica-[0-9a-f]{16}-minica-root-ca)\.crt", r.stdout).group(1)
        node_extra = re.search(r"export NODE_EXTRA_CA_CERTS=(\S+)", r.stdout).group(1)
        self.assertEqual(node_extra, str(self.ca / "ca.pem"))
        self.assertIn("no name constraints", r.stdout)
        self.assertIn(self.anchor_pem, bundle())
        self.assertIn(f"+/etc/ssl/certs/{anchor_id}.pem", self.hook_log.read_text())
        self.assert_all(self.probes(node_extra=node_extra), True)

        self.assertRegex(self.mc("trust", "install", "--store", "system").stdout, r"system\s+unchanged")
        j = json.loads(self.mc("trust", "status", "--store", "system", "--json").stdout)
        validate(j, "trust")
        self.assertEqual([(s["store"], s["state"]) for s in j["stores"]], [("system", "present")])
        self.assertTrue(j["ok"])

        r = self.mc("trust", "uninstall", "--store", "system")
        self.assertRegex(r.stdout, r"system\s+removed")
        self.assertEqual(bundle(), before)  # exactly what install added, nothing else
        self.assertEqual(sorted(os.listdir("/usr/local/share/ca-certificates")), local)
        self.assertFalse(os.path.lexists(f"/etc/ssl/certs/{anchor_id}.pem"))
        self.assertIn(f"-/etc/ssl/certs/{anchor_id}.pem", self.hook_log.read_text())
        self.assert_all(self.probes(), False)
        r = self.mc("trust", "status", "--store", "system", check=False)
        self.assertEqual(r.returncode, 1, r)
        self.assertRegex(r.stdout, r"system\s+absent")

    def test_without_permission_one_line_with_the_sudo_command_and_nothing_changed(self):
        if not have("setpriv"):
            self.skipTest("setpriv (util-linux) not found")
        # A copy of minica that user nobody may run, wherever the build is.
        exe = self.work / "minica-copy"
        shutil.copy(MINICA, exe)
        exe.chmod(0o755)
        nobody_home = self.work / "nobody-home"
        nobody_home.mkdir()
        os.chown(nobody_home, 65534, 65534)
        before = bundle()
        local = sorted(os.listdir("/usr/local/share/ca-certificates"))
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", exe, "--ca-dir", self.ca]
        env = clean_env({"HOME": str(nobody_home)})

        r = run(as_nobody + ["trust", "install", "--store", "system"], env=env)
        self.assertEqual(r.returncode, 1, r)
        sudo = f"sudo {exe} trust install --store system --ca-dir {self.ca}"
        line = [l for l in r.stdout.splitlines() if l.strip().startswith("system")]
        self.assertEqual(len(line), 1, r.stdout)
        self.assertIn("failed", line[0])
        self.assertIn("needs root", line[0])
        self.assertTrue(line[0].endswith("run: " + sudo), line[0])
        self.assertEqual(bundle(), before)
        self.assertEqual(sorted(os.listdir("/usr/local/share/ca-certificates")), local)

        # With the default stores: the system store is skipped with the same
        # command; the user's own NSS database is done.
        r = run(as_nobody + ["trust", "install"], env=env)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"system\s+skipped\s+.*run: " + re.escape(sudo.replace("install --store system",
                                                                                          "install --store system")))
        if have("certutil"):
            self.assertRegex(r.stdout, r"nss\s+installed\s+sql:" + re.escape(str(nobody_home / ".pki/nssdb")))
        self.assertEqual(bundle(), before)

        # The printed command works with sudo's environment (another HOME, no MINICA_CA_DIR).
        root_env = clean_env({"HOME": str(self.work / "root-home")})
        r = run(sudo.split()[1:], env=root_env)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(self.anchor_pem, bundle())
        r = run(sudo.replace("install", "uninstall").split()[1:], env=root_env)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(bundle(), before)

    def test_intermediate_ca_installs_its_constrained_root(self):
        ca = self.work / "ca-constrained"
        r = run([MINICA, "--ca-dir", ca, "init", "--intermediate", "--permit", "example.test"],
                env=clean_env({"HOME": str(self.home)}))
        self.assertEqual(r.returncode, 0, r)
        r = run([MINICA, "--ca-dir", ca, "trust", "install", "--store", "system", "--dry-run", "--json"],
                env=clean_env({"HOME": str(self.home)}))
        self.assertEqual(r.returncode, 0, r)
        j = json.loads(r.stdout)
        validate(j, "trust")
        self.assertEqual(j["anchor"]["path"], str(ca / "root.pem"))
        self.assertTrue(j["anchor"]["name_constraints"])
        self.assertEqual(j["stores"][0]["state"], "would install")
        r = run([MINICA, "--ca-dir", ca, "trust", "install", "--store", "system", "--dry-run"],
                env=clean_env({"HOME": str(self.home)}))
        self.assertNotIn("no name constraints", r.stdout)
        self.assertFalse(any(f.startswith("minica-") for f in os.listdir("/usr/local/share/ca-certificates")))

    # ---- NSS and Java ----------------------------------------------------------------

    def test_nss_chromium_database_created_and_firefox_profiles(self):
        if not have("certutil"):
            self.skipTest("certutil not found (libnss3-tools)")
        home = self.work / "nss-home"
        profile = home / ".mozilla/firefox/x1y2.default-release"
        profile.mkdir(parents=True)
        self.assertEqual(run(["certutil", "-N", "-d", f"sql:{profile}", "--empty-password"]).returncode, 0)
        r = self.mc("trust", "install", "--store", "nss", home=home)
        nssdb = home / ".pki/nssdb"
        self.assertRegex(r.stdout, r"nss\s+installed\s+sql:" + re.escape(str(nssdb)))
        self.assertRegex(r.stdout, r"nss\s+installed\s+sql:" + re.escape(str(profile)))
        self.assertEqual(oct(nssdb.stat().st_mode & 0o777), "0o700")
        for db in (nssdb, profile):
            listing = run(["certutil", "-L", "-d", f"sql:{db}"]).stdout
            self.assertRegex(listing, r"minica-[0-9a-f]{16} minica root CA\s+C,,", listing)
            # NSS itself now accepts the server's chain (vfychain, SSL server usage)
            if have("vfychain"):
                v = run(["vfychain", "-d", f"sql:{db}", "-p", "-u", "1", "-a",
                         self.work / "out/localhost/cert.pem"])
                self.assertIn("Chain is good", v.stdout + v.stderr)
        self.assertRegex(self.mc("trust", "status", "--store", "nss", home=home).stdout, r"nss\s+present")
        r = self.mc("trust", "uninstall", "--store", "nss", home=home)
        self.assertEqual(len(re.findall(r"nss\s+removed", r.stdout)), 2, r.stdout)
        for db in (nssdb, profile):
            self.assertNotIn("minica-", run(["certutil", "-L", "-d", f"sql:{db}"]).stdout)

    def java_probe(self):
        r = run(["java", "Probe.java", self.url, self.work / "client.p12", P12_PASS], cwd=self.work, timeout=120)
        return r.returncode == 0 and r.stdout.strip() == "200", r.stdout + r.stderr[-400:]

    def test_java_keytool_alias_in_cacerts(self):
        if not (have("keytool") and have("java")):
            self.skipTest("no JDK (default-jdk-headless)")
        ok, said = self.java_probe()
        self.assertFalse(ok, said)
        self.assertIn("PKIX", said)
        r = self.mc("trust", "install", "--store", "java")
        self.assertRegex(r.stdout, r"java\s+installed\s+/\S*cacerts")
        ok, said = self.java_probe()
        self.assertTrue(ok, said)
        self.assertRegex(self.mc("trust", "status", "--store", "java").stdout, r"java\s+present")
        self.assertRegex(self.mc("trust", "uninstall", "--store", "java").stdout, r"java\s+removed")
        ok, said = self.java_probe()
        self.assertFalse(ok, said)


if __name__ == "__main__":
    main(sys.modules[__name__])
