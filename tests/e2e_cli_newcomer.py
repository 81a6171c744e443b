"""The minica CLI as a newcomer meets it: a mistyped verb is named with the
nearest one, `help` and a bare `minica` print usage, a CA directory that does
not exist is never made behind the user's back (only the default location
is), email-only names get the email profile, a long `init` says what it is
doing and leaves nothing when interrupted, -q is quiet, a root-direct leaf
has no empty chain.pem, and messages read as English and say what next."""
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


class Verbs(NewcomerCase):
    def test_an_unknown_verb_is_named_with_the_nearest_verb(self):
        r = self.refused(["sigh", "foo.test"], 2, "minica: unknown verb 'sigh' (did you mean 'sign'?)")
        self.assertEqual(r.err, "minica: unknown verb 'sigh' (did you mean 'sign'?)\n")
        self.refused(["inspcet", "x.pem"], 2, "(did you mean 'inspect'?)")

    def test_an_unknown_verb_far_from_every_verb_suggests_nothing(self):
        r = self.refused(["frobnicate"], 2, "minica: unknown verb 'frobnicate'")
        self.assertNotIn("did you mean", r.err)
        self.assertIn("minica help", r.err)

    def test_help_prints_the_usage_as_help_does(self):
        r = self.ok(["help"])
        self.assertEqual(r.out, self.ok(["--help"]).out)
        self.assertIn("sign", r.out)
        self.assertEqual(r.err, "")

    def test_help_verb_prints_the_verbs_help(self):
        r = self.ok(["help", "sign"])
        self.assertEqual(r.out, self.ok(["sign", "--help"]).out)
        self.assertIn("--csr", r.out)
        self.refused(["help", "sigh"], 2, "unknown verb 'sigh' (did you mean 'sign'?)")

    def test_bare_minica_prints_the_usage_on_stdout_and_exits_2(self):
        # As git does: the usage on stdout; 2, minica's usage-error code.
        r = minica([], cwd=self.tmp)
        self.assertEqual(r.code, 2, r)
        self.assertEqual(r.out, self.ok(["--help"]).out)


class CaDirectoryOnFirstUse(NewcomerCase):
    def test_an_explicit_ca_dir_that_does_not_exist_is_refused(self):
        ca = self.tmp / "caa"
        for how in ({"args": ["--ca-dir", ca]}, {"env": {"MINICA_CA_DIR": str(ca)}}):
            with self.subTest(how=how):
                self.refused(how.get("args", []) + ["sign", "a.test"], 1,
                             f"minica: no CA in {ca}: create one with minica init --ca-dir {ca}",
                             env=how.get("env"))
                self.assertFalse(ca.exists())

    def test_every_verb_that_needs_a_ca_refuses_a_missing_one(self):
        ca = self.tmp / "nowhere"
        leaf = self.tmp / "leafca"
        self.ok(["init"], ca=leaf)
        self.ok(["sign", "l.test", "--out", self.tmp / "leaves"], ca=leaf)
        cert = self.tmp / "leaves" / "l.test" / "cert.pem"
        for args in (["list"], ["revoke", "01"], ["crl"], ["renew", cert], ["verify", cert]):
            with self.subTest(verb=args[0]):
                self.refused(args, 1, f"no CA in {ca}: create one with minica init --ca-dir {ca}", ca=ca)

    def test_the_default_location_is_created_on_first_use(self):
        for env, where in (({}, ".local/share/minica"), ({"XDG_DATA_HOME": "XDG"}, "XDG/minica")):
            with self.subTest(where=where):
                home = self.tmp / f"home-{len(env)}"
                home.mkdir()
                if env:
                    env = {"XDG_DATA_HOME": str(home / env["XDG_DATA_HOME"])}
                r = minica(["sign", "first.test"], cwd=home, home=home, env=env)
                self.assertEqual(r.code, 0, r)
                self.assertIn(f"Created a new CA in {home / where}", r.out)
                self.assertTrue((home / where / "ca.pem").exists())


class Profiles(NewcomerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = minica(["init"], ca=cls.tmp / "ca")
        assert r.code == 0, r

    def test_email_only_names_get_the_email_profile(self):
        r = self.ok(["sign", "carol@example.test", "--out", self.tmp / "out"], ca=self.tmp / "ca")
        self.assertIn("Issued an email and client certificate for email:carol@example.test", r.out)
        usages = eku(self.tmp / "out" / "carol@example.test" / "cert.pem")
        self.assertEqual(usages, {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH})
        listed = self.ok(["list", "--json"], ca=self.tmp / "ca").json()
        self.assertIn("email", [c["profile"] for c in listed])

    def test_email_flag_gives_the_email_profile(self):
        self.ok(["sign", "dave@example.test", "--email", "--out", self.tmp / "out-e"], ca=self.tmp / "ca")
        self.assertIn(ExtendedKeyUsageOID.EMAIL_PROTECTION, eku(self.tmp / "out-e" / "dave@example.test" / "cert.pem"))

    def test_server_for_only_emails_is_refused(self):
        self.refused(["sign", "--server", "erin@example.test"], 1,
                     "a server certificate needs a DNS name or an IP address", ca=self.tmp / "ca")

    def test_both_reads_as_english(self):
        r = self.ok(["sign", "both.test", "--both", "--out", self.tmp / "out-b"], ca=self.tmp / "ca")
        self.assertIn("Issued a server and client certificate for DNS:both.test", r.out)

    def test_a_renewed_email_certificate_keeps_its_profile(self):
        self.ok(["sign", "frank@example.test", "--out", self.tmp / "out-r"], ca=self.tmp / "ca")
        r = self.ok(["renew", self.tmp / "out-r" / "frank@example.test" / "cert.pem", "--force"], ca=self.tmp / "ca")
        self.assertIn("as an email and client certificate", r.out)


class Init(NewcomerCase):
    def test_init_shows_progress_on_a_terminal(self):
        master, slave = pty.openpty()
        try:
            p = subprocess.run([MINICA, "init", "--key", "rsa-2048"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=slave, timeout=120,
                               env=clean_env(self.tmp, {"MINICA_CA_DIR": str(self.tmp / "tty-ca")}))
            os.close(slave)
            slave = None
            seen = b""
            try:
                while chunk := os.read(master, 4096):
                    seen += chunk
            except OSError:  # EIO: the terminal has no writer left
                pass
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 0, p)
        self.assertIn(b"Generating an rsa-2048 key...", seen)

    def test_init_is_silent_on_stderr_when_not_a_terminal(self):
        r = self.ok(["init", "--key", "rsa-2048"], ca=self.tmp / "pipe-ca")
        self.assertEqual(r.err, "")

    def interrupt_init(self, sig, code, existing=False):
        """Interrupts an init of two rsa-4096 keys once it says, on a
        terminal, that it is generating them (it says so after arming its
        clean-up, so the signal never comes too early, however slow the
        start); what it made is gone: the directories it created, or in a
        directory that existed, its files (the directory and what was there
        stay)."""
        top = self.tmp / f"int-{sig}-{existing}"
        ca = top / "deep" / "ca"
        if existing:
            ca.mkdir(parents=True, mode=0o700)
            (ca / "notes.txt").write_text("mine\n")
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([MINICA, "init", "--key", "rsa-4096", "--intermediate"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=slave,
                                 env=clean_env(self.tmp, {"MINICA_CA_DIR": str(ca)}))
            os.close(slave)
            slave = None
            seen = b""
            deadline = time.monotonic() + 60
            while b"keys...\n" not in seen.replace(b"\r", b"") and time.monotonic() < deadline:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: init ended without saying it
                    break
                if not chunk:
                    break
                seen += chunk
            self.assertIn(b"Generating two rsa-4096 keys...", seen)
            if p.poll() is not None:
                self.skipTest("two rsa-4096 keys made before the signal was sent")
            p.send_signal(sig)
            out, _ = p.communicate(timeout=60)
            if b"Created " in out:
                # The keys were made just before the signal: init finished and
                # disarmed its clean-up (the signal then meets an exiting
                # process; a sanitizer's leak check at exit widens that window).
                self.skipTest("init finished as the signal was sent")
            try:
                while chunk := os.read(master, 4096):
                    seen += chunk
            except OSError:
                pass
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        err = seen.decode(errors="replace")
        self.assertEqual(p.returncode, code, err)
        if existing:
            self.assertEqual(sorted(f.name for f in ca.iterdir()), ["notes.txt"])
        else:
            self.assertFalse(top.exists(), f"left behind: {list(top.rglob('*')) if top.exists() else ''}")
        self.assertIn("interrupted", err)

    def test_sigint_during_init_removes_what_it_created(self):
        self.interrupt_init(signal.SIGINT, 130)

    def test_sigterm_during_init_removes_what_it_created(self):
        self.interrupt_init(signal.SIGTERM, 143)

    def test_sigint_during_init_in_an_existing_directory_removes_its_files(self):
        self.interrupt_init(signal.SIGINT, 130, existing=True)


class Quiet(NewcomerCase):
    def test_quiet_prints_nothing_but_errors_for_every_verb(self):
        ca = self.tmp / "ca"
        out = self.tmp / "out"
        pf = self.tmp / "p12pass"
        pf.write_text("secret\n")
        cert = out / "q.test" / "cert.pem"
        runs = [
            ["init"],
            ["sign", "q.test", "--out", out],
            ["sign", "r.test", "--out", out],
            ["csr", "c.test", "--out", self.tmp / "csr"],
            ["inspect", cert],
            ["inspect", "--json", cert],
            ["verify", cert, "--host", "q.test"],
            ["export", out / "q.test", "--p12", self.tmp / "q.p12", "--p12-passphrase-file", pf],
            ["list"],
            ["renew", cert, "--force"],
            ["revoke", out / "r.test" / "cert.pem"],
            ["crl"],
        ]
        for args in runs:
            with self.subTest(verb=" ".join(map(str, args[:1]))):
                r = minica(["-q", *args], ca=ca, cwd=self.tmp)
                self.assertEqual((r.code, r.out, r.err), (0, "", ""), r)
        r = minica(["-q", "sign", "q.test", "--out", out], ca=ca, cwd=self.tmp)
        self.assertEqual(r.code, 1, r)
        self.assertIn("already exist", r.err)


class RootDirectChain(NewcomerCase):
    def test_a_root_direct_leaf_has_no_chain_pem(self):
        ca = self.new_ca("ca")
        r = self.ok(["sign", "direct.test", "--out", self.tmp / "out"], ca=ca)
        d = self.tmp / "out" / "direct.test"
        self.assertFalse((d / "chain.pem").exists())
        self.assertNotRegex(r.out, r"(?m)^\s+chain\s")
        self.assertIn("full chain", r.out)
        # Everything that reads a chain takes no chain.pem as no intermediates.
        self.ok(["export", d, "--p12", self.tmp / "d.p12"], env={"MINICA_P12_PASSPHRASE": "pw"})
        r = self.ok(["renew", d / "cert.pem", "--force"], ca=ca)
        self.assertFalse((d / "chain.pem").exists())
        self.assertNotIn("chain.pem", r.out.replace("fullchain.pem", ""))

    def test_an_intermediate_leaf_keeps_its_chain_pem(self):
        ca = self.new_ca("ica", "--intermediate")
        r = self.ok(["sign", "via.test", "--out", self.tmp / "iout"], ca=ca)
        self.assertTrue((self.tmp / "iout" / "via.test" / "chain.pem").stat().st_size > 0)
        self.assertIn("chain.pem", r.out.replace("fullchain.pem", ""))

    def test_inspect_of_an_empty_file_says_so(self):
        empty = self.tmp / "empty.pem"
        empty.write_bytes(b"")
        self.refused(["inspect", empty], 1, f"minica: {empty}: empty file")


class Messages(NewcomerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = minica(["init"], ca=cls.tmp / "ca")
        assert r.code == 0, r
        r = minica(["sign", "app.test", "*.app.test", "10.1.2.3", "--out", cls.tmp / "out"], ca=cls.tmp / "ca")
        assert r.code == 0, r

    def test_verify_for_a_wrong_host_names_the_sans(self):
        r = self.refused(["verify", self.tmp / "out" / "app.test" / "cert.pem", "--host", "wrong.test"], 1,
                         "wrong.test", ca=self.tmp / "ca")
        self.assertIn("DNS:app.test, DNS:*.app.test, IP:10.1.2.3", r.err)

    def test_a_policy_refusal_names_the_policy_file(self):
        ca = self.tmp / "strict"
        self.ok(["init"], ca=ca)
        policy = ca / "policy.json"
        policy.write_text('{"allowed_names": ["corp.test"]}\n')
        self.refused(["sign", "x.other.test"], 1,
                     f'minica: {policy}: name "x.other.test" is not allowed by the policy (allowed: corp.test)', ca=ca)

    def test_a_name_starting_with_a_dash_hints_double_dash(self):
        self.refused(["sign", "-foo"], 2, "if -foo is a name, put -- before it", ca=self.tmp / "ca")

    def test_csr_key_type_reads_as_english(self):
        r = self.ok(["csr", "k.test", "--key", "ed25519", "--out", self.tmp / "csr"])
        self.assertIn("Wrote an ed25519 key", r.out)
        r = self.ok(["csr", "k2.test", "--key", "rsa-2048", "--out", self.tmp / "csr"])
        self.assertIn("Wrote an rsa-2048 key", r.out)

    def test_inspect_reads_a_p12_with_its_passphrase(self):
        ca = self.new_ca("p12-ca", "--intermediate")
        out = self.tmp / "p12-out"
        self.ok(["sign", "p.test", "--p12", "--out", out], ca=ca, env={"MINICA_P12_PASSPHRASE": "pw one"})
        p12 = out / "p.test" / "cert.p12"
        r = self.ok(["inspect", p12], env={"MINICA_P12_PASSPHRASE": "pw one"})
        self.assertIn(f"PKCS#12 {p12}", r.out)
        self.assertIn("DNS:p.test", r.out)
        self.assertIn("1 more certificate", r.out)
        pf = self.tmp / "p12-pass"
        pf.write_text("pw one\n")
        j = self.ok(["inspect", "--json", p12, "--passphrase-file", pf]).json()
        validate(j, "pkcs12")
        self.assertEqual(j["certificate"]["names"]["dns"], ["p.test"])
        self.assertEqual(len(j["chain"]), 1)
        self.refused(["inspect", p12], 1, "wrong passphrase", env={"MINICA_P12_PASSPHRASE": "wrong"})
        self.refused(["inspect", p12], 1, "MINICA_P12_PASSPHRASE")  # no source, no terminal


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
