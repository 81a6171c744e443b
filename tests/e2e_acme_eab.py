"""External Account Binding (RFC 8555 §7.3.4) with real clients against
`minica serve --eab-required`: keys from `minica eab add --json` (checked
against schemas/eab.schema.json), lego refused without a binding and
served with one (http-01, the certificate verified), `minica eab list`
showing the account a key bound, certbot refused a key already bound and
a wrong HMAC key but registering with a fresh one, and `minica eab remove`
(a bound account keeps working; an unknown key id exits 1).
pebble-challtestsrv is the DNS server (every name is 127.0.0.1); lego
answers http-01 itself. Each client is skipped when its package is
missing."""
import base64
import json
import os
import urllib.request

from acme_common import Client, Key, ServeCase, free_port, need, ssl_context
from cli_common import main, minica, validate

CLIENT_TIMEOUT = 60



def have_jsonschema():
    try:
        import jsonschema  # noqa: F401
        import referencing  # noqa: F401
        return True
    except ImportError:
        return False


class EabCase(ServeCase):
    temp_prefix = "minica-acme-eab-"
    serve_extra = ("--eab-required",)
    crl = False

    @classmethod
    def serve_ports(cls):
        cls.http_port = free_port()
        return cls.http_port, free_port()

    # ---- minica eab ----------------------------------------------------------

    def eab_add(self, kid=None):
        r = minica(["eab", "add", "--json"] + (["--kid", kid] if kid else []), ca=self.ca, home=self.tmp)
        self.assertEqual(r.code, 0, r)
        key = r.json()
        if have_jsonschema():
            validate(key, "eab")
        self.assertEqual(len(key["hmac_key"]), 43, key)
        self.assertEqual(len(base64.urlsafe_b64decode(key["hmac_key"] + "=")), 32, key)
        self.assertIsNone(key["account"], key)
        self.assertIsNone(key["used_at"], key)
        if kid:
            self.assertEqual(key["kid"], kid)
        return key["kid"], key["hmac_key"]

    def eab_list(self):
        r = minica(["eab", "list", "--json"], ca=self.ca, home=self.tmp)
        self.assertEqual(r.code, 0, r)
        keys = r.json()
        self.assertIsInstance(keys, list)
        if have_jsonschema():
            validate(keys, "eab")
        for k in keys:
            self.assertNotIn("hmac_key", k)  # list never shows the secret
        return {k["kid"]: k for k in keys}

    # ---- clients -------------------------------------------------------------

    def call(self, args, env):
        return self.run_client(args, env, CLIENT_TIMEOUT)

    def lego(self, path, *args):
        need("lego", "lego")
        return self.call(["lego", "--server", self.serve.directory, "--accept-tos", "-m", "lego@example.test",
                          "--path", path, "--http", "--http.port", f"127.0.0.1:{self.http_port}", *args],
                         {"LEGO_CA_CERTIFICATES": str(self.root)})

    def certbot_register(self, name, kid=None, hmac=None):
        need("certbot", "certbot")
        d = self.tmp / f"certbot-{name}"
        args = ["certbot", "register", "-n", "--agree-tos", "-m", "x@example.test", "--server",
                self.serve.directory, "--config-dir", d / "c", "--work-dir", d / "w", "--logs-dir", d / "l"]
        if kid:
            args += [f"--eab-kid={kid}", f"--eab-hmac-key={hmac}"]
        return self.call(args, {"REQUESTS_CA_BUNDLE": str(self.root)})

    def check_certificate(self, path, names):
        return self.verify_leaf(path.read_text(), names)[0]



class Keys(EabCase):
    def test_add_list_schema_and_directory_meta(self):
        if not have_jsonschema():
            self.skipTest("jsonschema is not installed (Debian package python3-jsonschema)")
        kid, hmac = self.eab_add()
        named, _ = self.eab_add("named-key_1")
        keys = self.eab_list()
        self.assertIn(kid, keys)
        self.assertIn(named, keys)
        self.assertIsNone(keys[kid]["account"])
        self.assertIsNone(keys[kid]["used_at"])
        # Two keys, two secrets.
        self.assertNotEqual(hmac, self.eab_add()[1])
        # A key id that exists, or that is not 1 to 64 of [A-Za-z0-9_-]: exit 1.
        for bad in (named, "bad kid!", "x" * 65):
            r = minica(["eab", "add", "--json", "--kid", bad], ca=self.ca, home=self.tmp)
            self.assertEqual(r.code, 1, r)
            self.assertEqual(r.out, "", r)
        self.assertEqual(len(self.eab_list()), 3)
        # The directory says a binding is needed.
        with urllib.request.urlopen(self.serve.directory, context=ssl_context(self.root), timeout=10) as r:
            directory = json.loads(r.read())
        self.assertIs(directory["meta"]["externalAccountRequired"], True, directory)

    def test_new_account_without_binding_refused(self):
        """What lego never sends (it stops on the directory's meta): a
        newAccount with no binding, and the server's own answer."""
        c = Client(self.serve.directory, self.root, Key())
        r = c.register()
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.problem, "externalAccountRequired", r)
        r = c.register({"termsOfServiceAgreed": True, "onlyReturnExisting": True})
        self.assertEqual(r.problem, "accountDoesNotExist", r)

    def test_remove(self):
        kid, _ = self.eab_add()
        r = minica(["eab", "remove", kid], ca=self.ca, home=self.tmp)
        self.assertEqual(r.code, 0, r)
        self.assertIn(kid, r.out)
        self.assertNotIn(kid, self.eab_list())
        # A second time, and a key id that never was: exit 1, the id named.
        for unknown in (kid, "no-such-kid"):
            r = minica(["eab", "remove", unknown], ca=self.ca, home=self.tmp)
            self.assertEqual(r.code, 1, r)
            self.assertIn(unknown, r.err, r)
            self.assertIn("no EAB key", r.err, r)
            self.assertEqual(r.out, "", r)


class Lego(EabCase):
    def test_without_eab_refused(self):
        path = self.tmp / "lego-none"
        p = self.lego(path, "-d", "none.eab.test", "run")
        self.assertNotEqual(p.returncode, 0, p.report)
        # lego reads meta.externalAccountRequired in the directory and stops.
        self.assertIn("Server requires External Account Binding", p.stdout + p.stderr, p.report)
        self.assertFalse((path / "certificates" / "none.eab.test.crt").exists())

    def test_with_eab_then_key_bound_once(self):
        kid, hmac = self.eab_add()
        path = self.tmp / "lego-eab"
        p = self.lego(path, "--eab", "--kid", kid, "--hmac", hmac, "-d", "lego.eab.test", "run")
        self.assertEqual(p.returncode, 0, p.report)
        cert = self.check_certificate(path / "certificates" / "lego.eab.test.crt", ["lego.eab.test"])
        account = self.listed(cert)["account"]
        self.assertIsNotNone(account)

        keys = self.eab_list()
        self.assertEqual(keys[kid]["account"], account, keys[kid])
        self.assertIsNotNone(keys[kid]["used_at"], keys[kid])

        # The same key for another account key (certbot's): refused.
        p = self.certbot_register("reuse", kid, hmac)
        self.assertNotEqual(p.returncode, 0, p.report)
        self.assertIn("bound already", p.stdout + p.stderr, p.report)
        self.assertEqual(self.eab_list()[kid]["account"], account)

        # Removing the key forgets the key, not the account: lego's account
        # (registered: nothing is bound again) still orders. lego wants
        # --eab whenever the directory asks for it, even for an account it has.
        r = minica(["eab", "remove", kid], ca=self.ca, home=self.tmp)
        self.assertEqual(r.code, 0, r)
        self.assertNotIn(kid, self.eab_list())
        p = self.lego(path, "--eab", "--kid", kid, "--hmac", hmac, "-d", "again.eab.test", "run")
        self.assertEqual(p.returncode, 0, p.report)
        again = self.check_certificate(path / "certificates" / "again.eab.test.crt", ["again.eab.test"])
        self.assertEqual(self.listed(again)["account"], account)


class Certbot(EabCase):
    def test_fresh_key_registers(self):
        kid, hmac = self.eab_add()
        p = self.certbot_register("fresh", kid, hmac)
        self.assertEqual(p.returncode, 0, p.report)
        key = self.eab_list()[kid]
        self.assertIsNotNone(key["account"], key)
        self.assertIsNotNone(key["used_at"], key)

    def test_without_eab_refused(self):
        # certbot too reads meta.externalAccountRequired and stops.
        p = self.certbot_register("none")
        self.assertNotEqual(p.returncode, 0, p.report)
        self.assertIn("external account", (p.stdout + p.stderr).lower(), p.report)

    def test_wrong_hmac_refused_then_right_one_works(self):
        kid, hmac = self.eab_add()
        wrong = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        p = self.certbot_register("wrong", kid, wrong)
        self.assertNotEqual(p.returncode, 0, p.report)
        self.assertIn("MAC does not verify", p.stdout + p.stderr, p.report)
        # A refused binding leaves the key unused.
        key = self.eab_list()[kid]
        self.assertIsNone(key["account"], key)
        self.assertIsNone(key["used_at"], key)
        p = self.certbot_register("right", kid, hmac)
        self.assertEqual(p.returncode, 0, p.report)
        self.assertIsNotNone(self.eab_list()[kid]["account"])

    def test_unknown_kid_refused(self):
        _, hmac = self.eab_add()
        p = self.certbot_register("unknown", "never-added", hmac)
        self.assertNotEqual(p.returncode, 0, p.report)
        self.assertIn("unknown key id", p.stdout + p.stderr, p.report)


if __name__ == "__main__":
    main()
