"""Real ACME clients from Debian against minica serve, all on 127.0.0.1:
certbot (standalone and webroot, renewal, revocation), lego (http-01,
tls-alpn-01, renewal, revocation, External Account Binding), dehydrated,
acme-tiny and uacme (inside a private mount namespace, since it trusts only
the system bundle). Every certificate passes `minica verify` and
`openssl verify -x509_strict` under the CA. pebble-challtestsrv is the DNS
server (every name is 127.0.0.1), and each client answers its own
challenges on the ports minica serve validates against. Each client is
skipped when its package is missing."""
import os
import pathlib
import subprocess
import sys

from cryptography import x509

from acme_common import ServeCase, free_port, need, wait_port
from cli_common import main, minica, run

CLIENT_TIMEOUT = 120



class ClientCase(ServeCase):
    """Each client answers its own challenges on the ports minica serve
    validates against; the CRL URL is recorded before the server starts,
    so every leaf carries it."""
    temp_prefix = "minica-acme-clients-"

    @classmethod
    def serve_ports(cls):
        cls.http_port, cls.tls_port = free_port(), free_port()
        return cls.http_port, cls.tls_port

    @classmethod
    def before_serve(cls):
        cls.crl_port = free_port()
        r = minica(["crl", "--url", f"http://127.0.0.1:{cls.crl_port}/crl"], ca=cls.ca, home=cls.tmp)
        assert r.code == 0, r

    def client(self, args, env=None, timeout=CLIENT_TIMEOUT, cwd=None):
        p = self.run_client(args, env, timeout, cwd)
        self.assertEqual(p.returncode, 0, p.report)
        return p

    def check_certificate(self, path, names):
        """The leaf (first in `path`) under this CA: openssl -x509_strict with
        the chain the client saved, minica verify, the CDP, the names."""
        certs = self.verify_leaf(pathlib.Path(path).read_text(), names)
        cdp = certs[0].extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        self.assertEqual(cdp[0].full_name[0].value, self.serve.crl_url)
        return certs[0]

    def webroot_server(self, webroot):
        """python3 -m http.server on the http-01 port, serving `webroot`."""
        (webroot / ".well-known" / "acme-challenge").mkdir(parents=True, exist_ok=True)
        p = subprocess.Popen([sys.executable, "-m", "http.server", str(self.http_port), "--bind", "127.0.0.1",
                              "--directory", str(webroot)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.terminate(), p.wait()))
        wait_port(self.http_port, proc=p)
        return p


class Certbot(ClientCase):
    def setUp(self):
        need("certbot", "certbot")

    def certbot(self, *args):
        d = self.tmp / "certbot"
        return self.client(["certbot", *args, "-n", "--server", self.serve.directory, "--config-dir", d / "c",
                            "--work-dir", d / "w", "--logs-dir", d / "l"],
                           env={"REQUESTS_CA_BUNDLE": str(self.root)})

    def test_standalone_webroot_renew_and_revoke(self):
        self.certbot("certonly", "--agree-tos", "--register-unsafely-without-email", "--standalone",
                     "--http-01-port", str(self.http_port), "--http-01-address", "127.0.0.1",
                     "--key-type", "ecdsa", "-d", "certbot.test", "-d", "www.certbot.test")
        live = self.tmp / "certbot" / "c" / "live" / "certbot.test"
        first = self.check_certificate(live / "fullchain.pem", ["certbot.test", "www.certbot.test"])
        self.assertIsNotNone(self.listed(first)["account"])

        webroot = self.tmp / "webroot"
        self.webroot_server(webroot)
        self.certbot("certonly", "--webroot", "-w", webroot, "--key-type", "ecdsa", "-d", "webroot.test")
        self.check_certificate(self.tmp / "certbot" / "c" / "live" / "webroot.test" / "fullchain.pem",
                               ["webroot.test"])

        self.certbot("renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", "webroot.test")
        renewed = self.check_certificate(self.tmp / "certbot" / "c" / "live" / "webroot.test" / "fullchain.pem",
                                         ["webroot.test"])

        self.certbot("revoke", "--cert-path", live / "cert.pem", "--reason", "keycompromise",
                     "--no-delete-after-revoke")
        self.assertTrue(self.revoked_in_crl(first))
        self.assertEqual(self.listed(first)["status"], "revoked")
        self.assertEqual(self.listed(renewed)["status"], "valid")


class Lego(ClientCase):
    def setUp(self):
        need("lego", "lego")

    def lego(self, *args, path=None):
        return self.client(["lego", "--server", self.serve.directory, "--accept-tos", "-m", "lego@example.test",
                            "--path", path or (self.tmp / "lego"), *args],
                           env={"LEGO_CA_CERTIFICATES": str(self.root)})

    def test_http01_tls_alpn01_renew_and_revoke(self):
        self.lego("-d", "lego.test", "--key-type", "ec256", "--http", "--http.port", f"127.0.0.1:{self.http_port}",
                  "run")
        crt = self.tmp / "lego" / "certificates"
        self.check_certificate(crt / "lego.test.crt", ["lego.test"])
        self.lego("-d", "alpn.lego.test", "--key-type", "ec384", "--tls", "--tls.port", f"127.0.0.1:{self.tls_port}",
                  "run")
        self.check_certificate(crt / "alpn.lego.test.crt", ["alpn.lego.test"])
        old = x509.load_pem_x509_certificates((crt / "lego.test.crt").read_bytes())[0]
        self.lego("-d", "lego.test", "--http", "--http.port", f"127.0.0.1:{self.http_port}", "renew", "--days",
                  "400", "--no-random-sleep")
        new = self.check_certificate(crt / "lego.test.crt", ["lego.test"])
        self.assertNotEqual(old.serial_number, new.serial_number)
        self.lego("-d", "lego.test", "revoke", "--reason", "4", "--keep")
        self.assertTrue(self.revoked_in_crl(new))
        self.assertEqual(self.listed(new)["reason"], "superseded")


class Dehydrated(ClientCase):
    def setUp(self):
        need("dehydrated", "dehydrated")

    def test_register_issue_and_revoke(self):
        base = self.tmp / "dehydrated"
        webroot = self.tmp / "dh-webroot"
        self.webroot_server(webroot)
        base.mkdir()
        cfg = base / "config"
        cfg.write_text(f'CA="{self.serve.directory}"\nCURL_OPTS="--cacert {self.root}"\nBASEDIR="{base}"\n'
                       f'WELLKNOWN="{webroot}/.well-known/acme-challenge"\nKEY_ALGO=prime256v1\n'
                       f'CONTACT_EMAIL=dehydrated@example.test\n')
        self.client(["dehydrated", "-f", cfg, "--register", "--accept-terms"])
        self.client(["dehydrated", "-f", cfg, "-c", "-d", "dehydrated.test"])
        cert = self.check_certificate(base / "certs" / "dehydrated.test" / "fullchain.pem", ["dehydrated.test"])
        self.client(["dehydrated", "-f", cfg, "-r", base / "certs" / "dehydrated.test" / "cert.pem"])
        self.assertTrue(self.revoked_in_crl(cert))


class AcmeTiny(ClientCase):
    def setUp(self):
        need("acme-tiny", "acme-tiny")

    def test_issue(self):
        webroot = self.tmp / "tiny-webroot"
        self.webroot_server(webroot)
        key, csr = self.tmp / "tiny-account.key", self.tmp / "tiny.csr"
        self.assertEqual(run(["openssl", "genrsa", "-out", key, "2048"]).returncode, 0)
        self.assertEqual(run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                              "-nodes", "-keyout", self.tmp / "tiny-leaf.key", "-subj", "/CN=tiny.test",
                              "-addext", "subjectAltName=DNS:tiny.test", "-out", csr]).returncode, 0)
        p = self.client(["acme-tiny", "--account-key", key, "--csr", csr, "--acme-dir",
                         webroot / ".well-known" / "acme-challenge", "--directory-url", self.serve.directory,
                         "--disable-check"], env={"SSL_CERT_FILE": str(self.root)})
        out = self.tmp / "tiny.pem"
        out.write_text(p.stdout)
        self.check_certificate(out, ["tiny.test"])


class Uacme(ClientCase):
    """uacme trusts /etc/ssl/certs/ca-certificates.crt only: it runs in a
    private mount namespace where that file is our root (never on the
    machine itself)."""

    def setUp(self):
        need("uacme", "uacme")
        need("unshare", "util-linux")
        if os.geteuid() != 0:
            self.skipTest("a private mount namespace over /etc/ssl needs root here")

    def uacme(self, *args):
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        hook = "/usr/share/uacme/uacme.sh"
        script = (f'mount --bind "$ROOT" {bundle} && exec uacme -v -y -c "$CONF" -a "$DIR" -h {hook} "$@"')
        return self.client(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "uacme", *args],
                           env={"ROOT": str(self.root), "CONF": str(self.tmp / "uacme"),
                                "DIR": self.serve.directory,
                                "UACME_CHALLENGE_PATH": str(self.tmp / "u-webroot" / ".well-known" / "acme-challenge")})

    def test_new_issue_update_newkey_revoke_deactivate(self):
        if not os.path.exists("/usr/share/uacme/uacme.sh"):
            self.skipTest("uacme's hook /usr/share/uacme/uacme.sh is missing")
        self.webroot_server(self.tmp / "u-webroot")
        self.uacme("new", "uacme@example.test")
        self.uacme("issue", "uacme.test")
        cert_path = self.tmp / "uacme" / "uacme.test" / "cert.pem"
        cert = self.check_certificate(cert_path, ["uacme.test"])
        self.uacme("update", "uacme2@example.test")
        self.uacme("newkey")
        self.uacme("revoke", cert_path)
        self.assertTrue(self.revoked_in_crl(cert))
        self.uacme("deactivate")


if __name__ == "__main__":
    main()
