"""minica-echo end to end, the happy paths: minica init -> sign -> serve ->
connect -> round trip (directly and through an intermediate), and what the
server enforces for good clients (line limit, idle and handshake timeouts,
connection limit, SIGTERM), the --http mode and the command-line errors.
Runs on 127.0.0.1 only, ephemeral ports, every wait bounded."""

import os
import re
import signal
import socket
import ssl
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import echo_certs  # noqa: E402
from echo_certs import ECHO, MINICA, EchoPki, EchoServer, connect, run  # noqa: E402

LINES = "hello\n\nsecond line with spaces  \nünïcödé ✓\n" + "x" * 5000 + "\n"


def tls_client(pki, identity=None, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.root.cert)
    identity = identity or pki.client
    ctx.load_cert_chain(identity.fullchain, identity.key)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def open_tls(pki, port, identity=None, timeout=10):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return tls_client(pki, identity).wrap_socket(raw, server_hostname="localhost")


def read_line(sock, limit=1 << 20):
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class MinicaCliFlow(unittest.TestCase):
    """The flow a user follows, with certificates from the minica CLI."""

    def setUp(self):
        if not os.path.exists(MINICA):
            self.skipTest("the minica CLI is not built yet (%s)" % MINICA)
        self.tmp = tempfile.TemporaryDirectory(prefix="echo-cli-")
        self.addCleanup(self.tmp.cleanup)

    def minica(self, ca_dir, *args):
        r = run([MINICA, "--ca-dir", ca_dir, *args], timeout=60)
        self.assertEqual(r.returncode, 0, "minica %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def flow(self, intermediate):
        ca_dir = os.path.join(self.tmp.name, "ca")
        out = os.path.join(self.tmp.name, "out")
        self.minica(ca_dir, "init", "--name", "echo test CA", *(["--intermediate"] if intermediate else []))
        self.minica(ca_dir, "sign", "localhost", "127.0.0.1", "--server", "--out", out)
        self.minica(ca_dir, "sign", "alice", "--client", "--out", out)
        anchor = os.path.join(ca_dir, "root.pem" if intermediate else "ca.pem")
        self.assertTrue(os.path.exists(anchor), anchor)
        server_dir, client_dir = os.path.join(out, "localhost"), os.path.join(out, "alice")
        srv = EchoServer(os.path.join(server_dir, "fullchain.pem"), os.path.join(server_dir, "key.pem"), anchor)
        try:
            for host in ("localhost", "127.0.0.1"):
                r = connect("%s:%d" % (host, srv.port), anchor, os.path.join(client_dir, "fullchain.pem"),
                            os.path.join(client_dir, "key.pem"), input=LINES)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, LINES)
                self.assertIn("verified: chain to", r.stderr)
            self.assertTrue(srv.wait_log(r'client "CN=alice"'), srv.log())
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())

    def test_root_ca(self):
        self.flow(intermediate=False)

    def test_revoked_with_minica_crl(self):
        ca_dir = os.path.join(self.tmp.name, "ca")
        out = os.path.join(self.tmp.name, "out")
        self.minica(ca_dir, "init")
        self.minica(ca_dir, "sign", "localhost", "127.0.0.1", "--server", "--out", out)
        self.minica(ca_dir, "sign", "alice", "--client", "--out", out)
        self.minica(ca_dir, "sign", "mallory", "--client", "--out", out)
        self.minica(ca_dir, "revoke", os.path.join(out, "mallory", "cert.pem"))
        crl = os.path.join(self.tmp.name, "crl.pem")
        self.minica(ca_dir, "crl", "--out", crl)
        ca = os.path.join(ca_dir, "ca.pem")
        srv = EchoServer(os.path.join(out, "localhost", "fullchain.pem"), os.path.join(out, "localhost", "key.pem"),
                         ca, "--crl", crl)
        try:
            r = connect(srv.address, ca, os.path.join(out, "mallory", "fullchain.pem"),
                        os.path.join(out, "mallory", "key.pem"))
            self.assertEqual(r.returncode, 6, r.stderr)
            self.assertIn("certificate revoked", r.stderr)
            self.assertTrue(srv.wait_log(r"certificate revoked \(depth 0: CN=mallory"), srv.log())
            r = connect(srv.address, ca, os.path.join(out, "alice", "fullchain.pem"),
                        os.path.join(out, "alice", "key.pem"))
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())

    def test_through_an_intermediate(self):
        self.flow(intermediate=True)


class EchoBasics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="echo-basic-")
        cls.pki = EchoPki(cls.tmp.name)
        p = cls.pki
        cls.srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.tmp.cleanup()

    def test_round_trip(self):
        p = self.pki
        r = connect(self.srv.address, p.root.cert, p.client.cert, p.client.key, input=LINES)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, LINES)
        self.assertIn("5 line(s) echoed", r.stderr)

    def test_many_lines(self):
        p = self.pki
        lines = "".join("line %d\n" % i for i in range(2000))
        r = connect(self.srv.address, p.root.cert, p.client.cert, p.client.key, input=lines, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, lines)

    def test_no_input(self):
        p = self.pki
        r = connect(self.srv.address, p.root.cert, p.client.cert, p.client.key, input="")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_connect_reports_the_server_certificate(self):
        p = self.pki
        r = connect("localhost:%d" % self.srv.port, p.root.cert, p.client.cert, p.client.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        err = r.stderr
        self.assertRegex(err, r"connected to localhost:\d+ with TLSv1\.3, TLS_CHACHA20_POLY1305_SHA256")
        self.assertIn("subject:  CN=localhost", err)
        self.assertIn("issuer:   CN=minica-echo test root", err)
        self.assertRegex(err, r"validity: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to \d{4}-")
        self.assertIn("SANs:     DNS:localhost, IP:127.0.0.1", err)
        m = re.search(r"serial:   ([0-9A-F]+)\n", err)
        self.assertTrue(m, err)
        self.assertEqual(int(m.group(1), 16), p.server.serial)
        self.assertIn("SPKI pin: " + p.spki_pin(p.server), err)
        self.assertIn('name "localhost"', err)

    def test_server_logs_each_connection(self):
        p = self.pki
        mark = self.srv.mark()
        r = connect(self.srv.address, p.root.cert, p.client.cert, p.client.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        hits = self.srv.wait_log(r'client "CN=alice"', since=mark)
        self.assertTrue(hits, self.srv.log())
        line = hits[0]
        self.assertIn("TLSv1.3 TLS_CHACHA20_POLY1305_SHA256", line)
        m = re.search(r"serial ([0-9A-F]+) ", line)
        self.assertTrue(m, line)
        self.assertEqual(int(m.group(1), 16), p.client.serial)
        self.assertIn("SANs [email:alice@example.com]", line)
        self.assertIn('issuer "CN=minica-echo test root"', line)
        self.assertTrue(self.srv.wait_log(r"closed by the client after 1 lines", since=mark), self.srv.log())

    def test_intermediate_chain(self):
        p = self.pki
        srv = EchoServer(p.server_via_intermediate.fullchain, p.server_via_intermediate.key, p.root.cert)
        try:
            r = connect(srv.address, p.root.cert, p.client_via_intermediate.fullchain, p.client_via_intermediate.key,
                        input=LINES)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, LINES)
            self.assertIn("issuer:   CN=minica-echo test intermediate", r.stderr)
            # Clients of the root are welcome too, and the root-only client chain verifies.
            r = connect(srv.address, p.root.cert, p.client.cert, p.client.key)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(srv.wait_log(r'client "CN=carol".*issuer "CN=minica-echo test intermediate"'), srv.log())
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())

    def test_pin_match(self):
        p = self.pki
        r = connect(self.srv.address, p.root.cert, p.client.cert, p.client.key,
                    extra=["--pin", p.spki_pin(p.server)])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(", SPKI pin", r.stderr)

    def test_servername(self):
        p = self.pki
        r = connect(self.srv.address, p.root.cert, p.client.cert, p.client.key, extra=["--servername", "localhost"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('name "localhost"', r.stderr)


class ServerLimits(echo_certs.PkiTestCase):
    temp_prefix = "echo-limits-"

    def server(self, *extra):
        p = self.pki
        srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert, *extra)
        self.addCleanup(srv.stop)
        return srv

    def test_line_limit(self):
        srv = self.server("--max-line", "100")
        with open_tls(self.pki, srv.port) as s:
            s.sendall(b"a" * 100 + b"\n")
            self.assertEqual(read_line(s), b"a" * 100 + b"\n")
            s.sendall(b"b" * 60)
            s.sendall(b"b" * 41 + b"\n")
            self.assertEqual(read_line(s), b"minica-echo: line longer than 100 bytes, closing\n")
            self.assertEqual(s.recv(100), b"")  # close_notify
        self.assertTrue(srv.wait_log(r"line longer than 100 bytes"), srv.log())

    def test_idle_timeout(self):
        srv = self.server("--idle-timeout", "1")
        with open_tls(self.pki, srv.port) as s:
            s.sendall(b"ping\n")
            self.assertEqual(read_line(s), b"ping\n")
            start = time.monotonic()
            s.settimeout(10)
            self.assertEqual(s.recv(100), b"")
            self.assertLess(time.monotonic() - start, 5)
        self.assertTrue(srv.wait_log(r"idle for 1 s, closing"), srv.log())

    def test_handshake_timeout(self):
        srv = self.server("--handshake-timeout", "1")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            start = time.monotonic()
            self.assertEqual(s.recv(100), b"")
            self.assertLess(time.monotonic() - start, 5)
        self.assertTrue(srv.wait_log(r"TLS handshake not finished within 1 s"), srv.log())

    def test_connection_limit(self):
        srv = self.server("--max-conns", "2")
        p = self.pki
        a = open_tls(self.pki, srv.port)
        b = open_tls(self.pki, srv.port)
        try:
            r = connect(srv.address, p.root.cert, p.client.cert, p.client.key)
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertTrue(srv.wait_log(r"connection limit of 2 reached"), srv.log())
        finally:
            a.close()
        # A slot is free again once the server has seen the close.
        deadline = time.monotonic() + 10
        while True:
            r = connect(srv.address, p.root.cert, p.client.cert, p.client.key)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(r.returncode, 0, r.stderr)
        b.close()

    def test_sigterm_finishes_and_exits_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            srv = self.server()
            s = open_tls(self.pki, srv.port)
            s.sendall(b"before\n")
            self.assertEqual(read_line(s), b"before\n")
            self.assertEqual(srv.stop(sig), 0, srv.log())
            s.settimeout(5)
            self.assertEqual(s.recv(100), b"")  # the server said close_notify
            s.close()
            log = srv.log()
            self.assertIn("no new connections", log)
            self.assertIn("stopped: 1 connection(s) served", log)
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()

    def test_http(self):
        srv = self.server("--http")
        with open_tls(self.pki, srv.port) as s:
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.sendall(b"HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        text = data.decode()
        self.assertTrue(text.startswith("HTTP/1.1 200 OK\r\n"), text)
        self.assertEqual(text.count("HTTP/1.1 200 OK\r\n"), 2, text)
        self.assertIn("Strict-Transport-Security: max-age=31536000\r\n", text)
        self.assertIn("Hello, <b>CN=alice</b>", text)
        self.assertIn("/hello", text)
        self.assertTrue(srv.wait_log(r'"GET /hello HTTP/1.1" 200'), srv.log())

    def http_exchange(self, srv, request):
        """Sends `request` as is and returns everything until the server closes."""
        with open_tls(self.pki, srv.port) as s:
            s.sendall(request)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data.decode()
                data += chunk

    def test_http_refusals_close_the_connection(self):
        srv = self.server("--http", "--max-line", "1000")
        cases = [
            # (request, status): a body is never read, a malformed or oversized head is refused;
            # what follows the refused request is not answered.
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", 413),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413),
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\n\r\n", 400),
            (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", 431),
        ]
        for request, status in cases:
            with self.subTest(status=status, request=request[:40]):
                text = self.http_exchange(srv, request)
                self.assertTrue(text.startswith("HTTP/1.1 %d " % status), text)
                self.assertIn("Connection: close\r\n", text)
                self.assertEqual(text.count("HTTP/1.1 "), 1, text)

    def test_http_1_0_and_methods(self):
        srv = self.server("--http")
        # HTTP/1.0 without keep-alive: one answer, then the server closes.
        text = self.http_exchange(srv, b"GET /old HTTP/1.0\r\n\r\n")
        self.assertTrue(text.startswith("HTTP/1.1 200 OK\r\n"), text)
        self.assertIn("Connection: close\r\n", text)
        # Pipelined: a 405 keeps the connection, the HEAD after it is answered
        # without a body and, asking to close, closes it.
        text = self.http_exchange(srv, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n"
                                       b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(text.startswith("HTTP/1.1 405 Method Not Allowed\r\n"), text)
        self.assertIn("Allow: GET, HEAD\r\n", text)
        head = text[text.index("HTTP/1.1 200 OK\r\n"):]
        self.assertTrue(head.endswith("Connection: close\r\n\r\n"), head)
        self.assertNotIn("<html", head)


class CommandLine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="echo-cli-")
        cls.pki = EchoPki(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_help_documents_exit_codes(self):
        r = run([ECHO, "connect", "--help"])
        self.assertEqual(r.returncode, 0)
        for code in ("3  could not connect", "4  the server's certificate failed verification",
                     "5  the server's public key does not match --pin", "6  the TLS handshake failed"):
            self.assertIn(code, r.stdout)

    def test_usage_error(self):
        r = run([ECHO, "connect"])
        self.assertEqual(r.returncode, 2, r.stderr)
        r = run([ECHO, "serve", "--cert", "x"])
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_missing_files(self):
        p = self.pki
        missing = os.path.join(self.tmp.name, "missing.pem")
        r = run([ECHO, "serve", "--cert", missing, "--key", p.server.key, "--ca", p.root.cert,
                 "--listen", "127.0.0.1:0"], timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(missing, r.stderr)
        r = connect("127.0.0.1:1", missing)
        self.assertEqual(r.returncode, 1)
        self.assertIn(missing, r.stderr)

    def test_mismatched_key(self):
        p = self.pki
        r = run([ECHO, "serve", "--cert", p.server.cert, "--key", p.client.key, "--ca", p.root.cert,
                 "--listen", "127.0.0.1:0"], timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not match", r.stderr)

    def test_bad_arguments(self):
        p = self.pki
        r = connect("127.0.0.1", p.root.cert)
        self.assertEqual(r.returncode, 1)
        self.assertIn("expected HOST:PORT", r.stderr)
        r = connect("127.0.0.1:1", p.root.cert, extra=["--cert", p.client.cert])
        self.assertEqual(r.returncode, 1)
        self.assertIn("--cert and --key go together", r.stderr)
        r = connect("127.0.0.1:1", p.root.cert, extra=["--pin", "sha256//nope"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid pin", r.stderr)
        r = run([ECHO, "serve", "--cert", p.server.fullchain, "--key", p.server.key, "--ca", p.root.cert,
                 "--listen", "localhost:0"], timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("must be an IP address", r.stderr)

    def test_connection_refused(self):
        p = self.pki
        port = echo_certs.free_port()
        r = connect("127.0.0.1:%d" % port, p.root.cert, p.client.cert, p.client.key)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("Connection refused", r.stderr)


if __name__ == "__main__":
    echo_certs.main(sys.modules[__name__])
