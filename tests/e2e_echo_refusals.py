"""minica-echo refuses what it must, with a clear message on both sides, and
keeps serving a good client meanwhile: client certificates from another CA,
expired, not yet valid, revoked (CRL), missing, or without clientAuth; a
wrong server name, a wrong CA, a pin mismatch; TLS 1.1 and non-AEAD TLS 1.2
clients; plain HTTP; and 1,000 connections sending garbage or stalling in the
handshake. 127.0.0.1 only; every loop bounded in count and time."""

import os
import random
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import echo_certs  # noqa: E402
from echo_certs import EchoPki, EchoServer, connect, run  # noqa: E402


class Refusals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="echo-refusals-")
        cls.pki = p = EchoPki(cls.tmp.name)
        cls.srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert, "--crl", p.crl,
                             "--handshake-timeout", "3")

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.stop()
        cls.tmp.cleanup()
        assert code == 0, "serve exited %s" % code

    def assert_still_serving(self):
        p = self.pki
        r = connect(self.srv.address, p.root.cert, p.client.cert, p.client.key, input="still there?\n")
        self.assertEqual(r.returncode, 0, r.stderr + self.srv.log())
        self.assertEqual(r.stdout, "still there?\n")

    def refused_client(self, identity, client_says, server_says, code=6, extra=(), address=None, ca=None):
        """connect with `identity`: exit `code`, stderr matching `client_says`,
        a server log line matching `server_says`; then a good client still works."""
        p = self.pki
        mark = self.srv.mark()
        cert, key = (identity.fullchain, identity.key) if identity else (None, None)
        r = connect(address or "localhost:%d" % self.srv.port, ca or p.root.cert, cert, key, extra=extra)
        self.assertEqual(r.returncode, code, r.stderr)
        self.assertRegex(r.stderr, client_says)
        self.assertEqual(r.stdout, "")
        if server_says:
            self.assertTrue(self.srv.wait_log(server_says, since=mark),
                            "server log lacks %r:\n%s" % (server_says, self.srv.log()[-3000:]))
        self.assertTrue(self.srv.proc.poll() is None, "the server died")
        self.assert_still_serving()
        return r

    # ---- client certificates ---------------------------------------------

    def test_client_certificate_from_another_ca(self):
        self.refused_client(self.pki.stranger, r"server refused our client certificate \(tlsv1 alert unknown ca\)",
                            r"refused: client certificate not accepted: unable to get local issuer certificate "
                            r"\(depth 0: CN=mallory, issued by CN=some other CA\)")

    def test_expired_client_certificate(self):
        self.refused_client(self.pki.expired, r"server refused our client certificate \(sslv3 alert certificate expired\)",
                            r"refused: client certificate not accepted: certificate has expired \(depth 0: CN=expired client")

    def test_not_yet_valid_client_certificate(self):
        self.refused_client(self.pki.not_yet_valid, r"server refused our client certificate \(sslv3 alert bad certificate\)",
                            r"refused: client certificate not accepted: certificate is not yet valid "
                            r"\(depth 0: CN=future client")

    def test_revoked_client_certificate(self):
        self.refused_client(self.pki.revoked, r"server refused our client certificate \(sslv3 alert certificate revoked\)",
                            r"refused: client certificate not accepted: certificate revoked \(depth 0: CN=revoked client")

    def test_no_client_certificate(self):
        self.refused_client(None, r"server refused our client certificate \(tlsv13 alert certificate required\): "
                                  r"none was sent",
                            r"refused: TLS handshake failed: no client certificate presented")

    def test_server_certificate_used_as_client_certificate(self):
        self.refused_client(self.pki.server_only, r"server refused our client certificate",
                            r"refused: client certificate not accepted: unsuitable certificate purpose "
                            r"\(depth 0: CN=server used as client")

    def test_client_of_an_intermediate_without_its_crl(self):
        # --crl covers the root only: a client of the intermediate cannot be
        # checked for revocation, and is refused rather than waved through.
        self.refused_client(self.pki.client_via_intermediate, r"server refused our client certificate",
                            r"refused: client certificate not accepted: unable to get certificate CRL \(depth 0: CN=carol")

    # ---- the server's certificate, seen by the client ---------------------

    def test_wrong_server_name(self):
        r = self.refused_client(self.pki.client, r"server's certificate failed verification: hostname mismatch",
                                r"refused: the client did not accept our certificate", code=4,
                                extra=["--servername", "wrong.example"])
        self.assertIn("CN=localhost", r.stderr)

    def test_wrong_server_address(self):
        self.refused_client(self.pki.client, r"server's certificate failed verification: IP address mismatch",
                            r"refused: the client did not accept our certificate", code=4,
                            extra=["--servername", "127.0.0.2"])

    def test_server_from_an_unknown_ca(self):
        self.refused_client(self.pki.client, r"failed verification: unable to get local issuer certificate",
                            r"refused: the client did not accept our certificate \(tlsv1 alert unknown ca\)",
                            code=4, ca=self.pki.other_root.cert)

    def test_pin_mismatch(self):
        r = self.refused_client(self.pki.client, r"SPKI pin mismatch: expected sha256//",
                                r"refused: the client aborted the handshake", code=5,
                                extra=["--pin", self.pki.spki_pin(self.pki.client)])
        self.assertIn("the server presented " + self.pki.spki_pin(self.pki.server), r.stderr)

    # ---- protocol ---------------------------------------------------------

    def tls_handshake_fails(self, ctx):
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLError) as cm:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"x\n")
                    s.recv(10)
        return str(cm.exception)

    def test_tls_1_1_client(self):
        mark = self.srv.mark()
        p = self.pki
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        ctx.load_verify_locations(p.root.cert)
        ctx.load_cert_chain(p.client.cert, p.client.key)
        err = self.tls_handshake_fails(ctx)
        self.assertRegex(err, r"(?i)protocol version|unsupported protocol|wrong version")
        self.assertTrue(self.srv.wait_log(r"refused: TLS handshake failed: no TLS version in common", since=mark),
                        self.srv.log()[-2000:])
        if echo_certs.have("openssl"):
            r = run(["openssl", "s_client", "-connect", self.srv.address, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                     "-CAfile", p.root.cert, "-cert", p.client.cert, "-key", p.client.key], input="", timeout=20)
            self.assertNotEqual(r.returncode, 0)
        self.assert_still_serving()

    def test_tls_1_2_without_aead(self):
        mark = self.srv.mark()
        p = self.pki
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256")
        ctx.load_verify_locations(p.root.cert)
        ctx.load_cert_chain(p.client.cert, p.client.key)
        err = self.tls_handshake_fails(ctx)
        self.assertRegex(err, r"(?i)handshake failure")
        self.assertTrue(self.srv.wait_log(r"refused: TLS handshake failed: no cipher suite in common", since=mark),
                        self.srv.log()[-2000:])
        self.assert_still_serving()

    def test_plain_http(self):
        mark = self.srv.mark()
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        self.assertTrue(self.srv.wait_log(r"refused: TLS handshake failed: plain HTTP sent to a TLS port", since=mark),
                        self.srv.log()[-2000:])
        self.assert_still_serving()

    # ---- a flood of bad connections ---------------------------------------

    def test_garbage_and_stalling_connections(self):
        """1,000 connections: half send garbage, half stall in the handshake
        (nothing, or a partial ClientHello). A good client is served while they
        are open; the garbage is refused at once and the stalls at the
        handshake timeout (3 s)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 1200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        rng = random.Random(4)
        mark = self.srv.mark()
        sel = selectors.DefaultSelector()
        socks = []
        started = time.monotonic()
        try:
            for i in range(1000):
                s = socket.socket()
                s.settimeout(5)
                s.connect(("127.0.0.1", self.srv.port))
                kind = i % 4
                if kind == 0:
                    s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))))
                elif kind == 1:
                    # A TLS record header announcing a handshake message it never finishes.
                    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(20))
                elif kind == 2:
                    s.sendall(b"\x16\x03\x03\xff\xff" + bytes(100))  # oversized record: garbage
                # kind 3: connect and say nothing
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, kind)
                socks.append(s)
            self.assertLess(time.monotonic() - started, 30)
            # The good client, while all of that is going on.
            self.assert_still_serving()
            # Every bad connection is closed by the server, the stalling ones at the
            # handshake timeout: wait (bounded) for EOF/RST on all of them.
            open_socks = set(socks)
            deadline = time.monotonic() + 20
            while open_socks and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=0.5):
                    s = key.fileobj
                    try:
                        data = s.recv(65536)
                    except (ConnectionResetError, BrokenPipeError):
                        data = b""
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(s)
                        open_socks.discard(s)
            self.assertEqual(len(open_socks), 0, "%d connections still open after 20 s" % len(open_socks))
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, 60)
        finally:
            for s in socks:
                s.close()
            sel.close()
        timeouts = self.srv.wait_log(r"refused: TLS handshake not finished within 3 s", since=mark, count=500)
        self.assertGreaterEqual(len(timeouts), 500, self.srv.log()[-2000:])
        refused = self.srv.wait_log(r"refused: ", since=mark, count=1000)
        self.assertGreaterEqual(len(refused), 1000)
        self.assert_still_serving()


if __name__ == "__main__":
    echo_certs.main(sys.modules[__name__])
