"""minica-echo against real peers: `openssl s_client` (TLS 1.2 and 1.3),
`gnutls-cli`, Python's `ssl` module and `curl` (--http mode) against serve;
`connect` against `openssl s_server -Verify 1`. 127.0.0.1 only, bounded."""

import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import echo_certs  # noqa: E402
from echo_certs import EchoPki, EchoServer, connect, have, run  # noqa: E402

AEAD_TLS12 = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"}
TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


def interact(args, send, expect, timeout=20):
    """Starts a client program, writes `send`, reads its stdout until `expect`
    appears (or the timeout), then ends it. Returns (stdout, stderr, code)."""
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        proc.stdin.write(send.encode())
        proc.stdin.flush()
        os.set_blocking(proc.stdout.fileno(), False)
        while expect.encode() not in out and time.monotonic() < deadline and proc.poll() is None:
            try:
                chunk = proc.stdout.read(65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                out += chunk
            else:
                time.sleep(0.05)
        try:
            rest = proc.stdout.read()
            out += rest or b""
        except BlockingIOError:
            pass
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.stdout.close()
    return out.decode(errors="replace"), err, proc.returncode


class PeersAgainstServe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="echo-interop-")
        cls.pki = p = EchoPki(cls.tmp.name)
        cls.srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert)
        cls.http = EchoServer(p.server.fullchain, p.server.key, p.root.cert, "--http")

    @classmethod
    def tearDownClass(cls):
        codes = (cls.srv.stop(), cls.http.stop())
        cls.tmp.cleanup()
        assert codes == (0, 0), codes

    # ---- openssl s_client -----------------------------------------------

    def s_client(self, version):
        if not have("openssl"):
            self.skipTest("openssl not installed")
        p = self.pki
        mark = self.srv.mark()
        line = "hello from s_client %s" % version
        out, err, _ = interact(["openssl", "s_client", "-connect", self.srv.address, "-servername", "localhost",
                                "-verify_hostname", "localhost", "-verify_return_error", "-CAfile", p.root.cert,
                                "-cert", p.client.cert, "-key", p.client.key, "-" + version, "-brief"],
                               line + "\n", line)
        self.assertIn(line, out, err)
        self.assertIn("Verification: OK", err)
        expected = {"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}[version]
        self.assertIn("Protocol version: %s" % expected, err)
        cipher = re.search(r"Ciphersuite: (\S+)", err).group(1)
        self.assertIn(cipher, AEAD_TLS12 if version == "tls1_2" else TLS13)
        self.assertTrue(self.srv.wait_log(r'%s \S+, client "CN=alice"' % re.escape(expected), since=mark),
                        self.srv.log()[-2000:])

    def test_openssl_s_client_tls_1_3(self):
        self.s_client("tls1_3")

    def test_openssl_s_client_tls_1_2(self):
        self.s_client("tls1_2")

    def s_client_session(self, version, sess_out=None, sess_in=None, srv=None):
        """One s_client connection (one echo); returns (stdout, stderr)."""
        p = self.pki
        line = "hello again from s_client %s" % version
        args = ["openssl", "s_client", "-connect", (srv or self.srv).address, "-servername", "localhost",
                "-verify_hostname", "localhost", "-verify_return_error", "-CAfile", p.root.cert,
                "-cert", p.client.cert, "-key", p.client.key, "-" + version]
        if sess_out:
            args += ["-sess_out", sess_out]
        if sess_in:
            args += ["-sess_in", sess_in]
        out, err, _ = interact(args, line + "\n", line)
        self.assertIn(line, out, err)
        self.assertIn("Verify return code: 0 (ok)", out, err)
        return out, err

    def resumption(self, version):
        if not have("openssl"):
            self.skipTest("openssl not installed")
        expected = {"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}[version]
        with tempfile.TemporaryDirectory(prefix="echo-sess-") as tmp:
            first, second = os.path.join(tmp, "first.pem"), os.path.join(tmp, "second.pem")
            out, _ = self.s_client_session(version, sess_out=first)
            self.assertRegex(out, r"\bNew, %s" % re.escape(expected))
            self.assertTrue(os.path.getsize(first) > 0)
            mark = self.srv.mark()
            out, _ = self.s_client_session(version, sess_in=first, sess_out=second)
            self.assertRegex(out, r"\bReused, %s" % re.escape(expected), out)
            # The resumed connection still knows its client certificate.
            self.assertTrue(self.srv.wait_log(r'%s \S+ \(resumed\), client "CN=alice"' % re.escape(expected),
                                              since=mark), self.srv.log()[-2000:])
            if version == "tls1_3":
                # The resumed connection was given a ticket of its own, good in turn.
                out, _ = self.s_client_session(version, sess_in=second)
                self.assertRegex(out, r"\bReused, TLSv1\.3", out)

    def test_openssl_s_client_resumption_tls_1_3(self):
        self.resumption("tls1_3")

    def test_openssl_s_client_resumption_tls_1_2(self):
        self.resumption("tls1_2")

    def test_no_resumption_with_tickets_0(self):
        if not have("openssl"):
            self.skipTest("openssl not installed")
        p = self.pki
        srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert, "--tickets", "0")
        try:
            with tempfile.TemporaryDirectory(prefix="echo-sess-") as tmp:
                for version, expected in (("tls1_3", "TLSv1.3"), ("tls1_2", "TLSv1.2")):
                    sess = os.path.join(tmp, version + ".pem")
                    out, _ = self.s_client_session(version, sess_out=sess, srv=srv)
                    self.assertRegex(out, r"\bNew, %s" % re.escape(expected))
                    if os.path.exists(sess):  # TLS 1.2: a session id the server did not keep
                        out, _ = self.s_client_session(version, sess_in=sess, srv=srv)
                        self.assertRegex(out, r"\bNew, %s" % re.escape(expected))
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_openssl_s_client_without_certificate(self):
        if not have("openssl"):
            self.skipTest("openssl not installed")
        p = self.pki
        mark = self.srv.mark()
        out, err, code = interact(["openssl", "s_client", "-connect", self.srv.address, "-CAfile", p.root.cert,
                                   "-tls1_2", "-brief"], "x\n", "never", timeout=10)
        self.assertNotEqual(code, 0)
        self.assertRegex(err, r"alert handshake failure|certificate required")
        self.assertTrue(self.srv.wait_log(r"no client certificate presented", since=mark))

    # ---- gnutls-cli ---------------------------------------------------------

    def gnutls(self, priority, expect_version):
        if not have("gnutls-cli"):
            self.skipTest("gnutls-cli not installed")
        p = self.pki
        mark = self.srv.mark()
        line = "hello from gnutls " + expect_version
        out, err, _ = interact(["gnutls-cli", "--x509cafile", p.root.cert, "--x509certfile", p.client.cert,
                                "--x509keyfile", p.client.key, "--verify-hostname", "localhost",
                                "--priority", priority, "-p", str(self.srv.port), "127.0.0.1"],
                               line + "\n", line)
        self.assertIn(line, out, err)
        self.assertIn("- Handshake was completed", out + err)
        self.assertRegex(out + err, r"Description: \(%s-X\.509\)-\(ECDHE-[^)]*\)-\([^)]*\)-\((AES-\d+-GCM|CHACHA20-POLY1305)\)"
                         % re.escape(expect_version))
        self.assertTrue(self.srv.wait_log(r'client "CN=alice"', since=mark))

    def test_gnutls_cli_tls_1_3(self):
        self.gnutls("NORMAL:-VERS-ALL:+VERS-TLS1.3", "TLS1.3")

    def test_gnutls_cli_tls_1_2(self):
        self.gnutls("NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLS1.2")

    # ---- Python ssl ---------------------------------------------------------

    def python_client(self, version):
        p = self.pki
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ctx.maximum_version = version
        ctx.load_verify_locations(p.root.cert)
        ctx.load_cert_chain(p.client.cert, p.client.key)
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
                name, _, _ = s.cipher()
                self.assertIn(name, AEAD_TLS12 | TLS13)
                self.assertIsNone(s.compression())
                peer = s.getpeercert()
                self.assertIn(("DNS", "localhost"), peer["subjectAltName"])
                for n in (1, 100, 16384):  # --max-line's default is 16384
                    msg = (b"p" * n) + b"\n"
                    s.sendall(msg)
                    got = b""
                    while len(got) < len(msg):
                        chunk = s.recv(65536)
                        self.assertTrue(chunk)
                        got += chunk
                    self.assertEqual(got, msg)
                s.unwrap()

    def test_python_ssl_tls_1_3(self):
        self.python_client(ssl.TLSVersion.TLSv1_3)

    def test_python_ssl_tls_1_2(self):
        self.python_client(ssl.TLSVersion.TLSv1_2)

    def test_python_ssl_intermediate_client_chain(self):
        p = self.pki
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(p.root.cert)
        ctx.load_cert_chain(p.client_via_intermediate.fullchain, p.client_via_intermediate.key)
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"carol\n")
                self.assertEqual(s.recv(100), b"carol\n")

    # ---- curl against --http --------------------------------------------------

    def curl(self, *extra):
        if not have("curl"):
            self.skipTest("curl not installed")
        p = self.pki
        url = "https://localhost:%d" % self.http.port
        return run(["curl", "-sS", "--max-time", "20", "--cacert", p.root.cert,
                    "--resolve", "localhost:%d:127.0.0.1" % self.http.port,
                    "-D", "-", *extra, url + "/", url + "/second"], timeout=40)

    def test_curl_https(self):
        p = self.pki
        r = self.curl("--cert", p.client.cert, "--key", p.client.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("HTTP/1.1 200 OK"), 2, r.stdout)
        self.assertIn("Strict-Transport-Security: max-age=31536000", r.stdout)
        self.assertIn("Hello, <b>CN=alice</b>", r.stdout)
        self.assertIn("TLSv1.3", r.stdout)
        # curl reused the connection for the second URL (keep-alive).
        self.assertTrue(self.http.wait_log(r'"GET /second HTTP/1\.1" 200'))

    def test_curl_tls_1_2(self):
        p = self.pki
        r = self.curl("--cert", p.client.cert, "--key", p.client.key, "--tlsv1.2", "--tls-max", "1.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("TLSv1.2", r.stdout)

    def test_curl_pinned(self):
        p = self.pki
        r = self.curl("--cert", p.client.cert, "--key", p.client.key, "--pinnedpubkey", p.spki_pin(p.server))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_curl_without_client_certificate(self):
        mark = self.http.mark()
        r = self.curl()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertTrue(self.http.wait_log(r"no client certificate presented", since=mark))


class ConnectAgainstOpensslServer(unittest.TestCase):
    """`minica-echo connect` against `openssl s_server -Verify 1 -rev` (which
    answers each line reversed: palindromes come back as sent)."""

    @classmethod
    def setUpClass(cls):
        if not have("openssl"):
            raise unittest.SkipTest("openssl not installed")
        cls.tmp = tempfile.TemporaryDirectory(prefix="echo-s_server-")
        cls.pki = EchoPki(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def s_server(self, *extra, cert=None):
        p = self.pki
        cert = cert or p.server
        for _ in range(5):  # the port is picked here and bound by s_server: retry a lost race
            port = echo_certs.free_port()
            proc = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                                     "-cert", cert.cert, "-key", cert.key, "-CAfile", p.root.cert,
                                     "-Verify", "1", "-verify_return_error", "-rev", *extra],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if echo_certs.wait_port(port, 10):
                def stop():
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
                self.addCleanup(stop)
                return "127.0.0.1:%d" % port
            proc.kill()
            proc.wait(5)
        self.fail("openssl s_server did not start")

    def test_tls_1_3(self):
        p = self.pki
        address = self.s_server("-tls1_3")
        r = connect(address, p.root.cert, p.client.cert, p.client.key, input="level\nracecar\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "level\nracecar\n")
        self.assertIn("with TLSv1.3", r.stderr)
        self.assertIn("subject:  CN=localhost", r.stderr)

    def test_tls_1_2(self):
        p = self.pki
        address = self.s_server("-tls1_2")
        r = connect(address, p.root.cert, p.client.cert, p.client.key, input="abc\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "cba\n")
        m = re.search(r"with TLSv1\.2, (\S+)", r.stderr)
        self.assertTrue(m, r.stderr)
        self.assertIn(m.group(1), AEAD_TLS12)

    def test_pin(self):
        p = self.pki
        address = self.s_server()
        r = connect(address, p.root.cert, p.client.cert, p.client.key, input="noon\n",
                    extra=["--pin", p.spki_pin(p.server)])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = connect(address, p.root.cert, p.client.cert, p.client.key, input="noon\n",
                    extra=["--pin", p.spki_pin(p.client)])
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("SPKI pin mismatch", r.stderr)

    def test_server_requires_our_certificate(self):
        p = self.pki
        address = self.s_server()
        r = connect(address, p.root.cert, input="noon\n")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("server refused our client certificate", r.stderr)
        self.assertIn("none was sent", r.stderr)

    def test_server_name_checked(self):
        p = self.pki
        address = self.s_server()
        r = connect(address, p.root.cert, p.client.cert, p.client.key, input="noon\n",
                    extra=["--servername", "other.example"])
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("hostname mismatch", r.stderr)

    def test_expired_server_certificate(self):
        p = self.pki
        # s_server would refuse to start with a mismatched pair, not an expired one.
        address = self.s_server(cert=p.expired)
        r = connect(address, p.root.cert, p.client.cert, p.client.key, input="noon\n",
                    extra=["--servername", "localhost"])
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertRegex(r.stderr, r"certificate has expired|unsuitable certificate purpose")

    def test_old_server_refused(self):
        # A server that only speaks TLS 1.1: connect will not go below TLS 1.2.
        p = self.pki
        address = self.s_server("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        r = connect(address, p.root.cert, p.client.cert, p.client.key, input="noon\n")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertRegex(r.stderr, r"(?i)protocol|version")


if __name__ == "__main__":
    echo_certs.main(sys.modules[__name__])
