"""minica-echo's limits (issue 12): a client that pipelines HTTP requests and
never reads holds a bounded amount of server memory; `connect` does not
buffer a server's output without end; the CRL is re-read when its file
changes, and a session resumed after that is checked against the new one.
127.0.0.1 only; every loop bounded in count and time."""

import os
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import echo_certs  # noqa: E402
from echo_certs import EchoServer, connect  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Limits(echo_certs.PkiTestCase):
    temp_prefix = "echo-limits-"

    contexts = {}

    def client_context(self, identity):
        """One context per identity: a session resumes only in the context that made it."""
        if identity.key not in self.contexts:
            ctx = ssl.create_default_context(cafile=self.pki.root.cert)
            ctx.load_cert_chain(identity.fullchain, identity.key)
            self.contexts[identity.key] = ctx
        return self.contexts[identity.key]

    def tls(self, srv, identity, session=None, timeout=10):
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
        return self.client_context(identity).wrap_socket(raw, server_hostname="localhost", session=session)

    # ---- --http: pipelined requests, a client that does not read ----------------

    def test_pipelining_client_that_never_reads_holds_bounded_memory(self):
        """Before: every request of each 16 KB read was answered into a
        per-connection buffer (~0.75 MB per connection) until the idle timeout."""
        if os.environ.get("ASAN_OPTIONS"):
            self.skipTest("the RSS of an ASan build is its quarantine, not the server's buffers")
        p = self.pki
        srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert, "--http", "--threads", "1",
                         "--log-level", "warn")
        try:
            conns = [self.tls(srv, p.client) for _ in range(16)]
            time.sleep(0.5)
            before = rss_kb(srv.proc.pid)
            blob = REQUEST * 2000  # 70 KB of requests, 2,000 answers (~1.5 MB)
            for c in conns:
                c.settimeout(3)
                sent, deadline = 0, time.monotonic() + 3
                try:
                    while sent < 20 * len(blob) and time.monotonic() < deadline:
                        sent += c.send(blob)
                except (socket.timeout, ssl.SSLWantWriteError):
                    pass  # the server stopped reading: what the cap is for
            time.sleep(1)
            grown = rss_kb(srv.proc.pid) - before
            per_conn = grown / len(conns)
            print("RSS growth per connection: %.0f KB" % per_conn, file=sys.stderr)
            self.assertLess(per_conn, 128, "server RSS grew %d KB per connection" % per_conn)
            # Pipelined answers still all come, in order, once the client reads.
            c = self.tls(srv, p.client)
            c.sendall(REQUEST * 500)
            time.sleep(0.5)
            got, deadline = b"", time.monotonic() + 20
            while got.count(b"HTTP/1.1 200") < 500 and time.monotonic() < deadline:
                chunk = c.recv(1 << 16)
                if not chunk:
                    break
                got += chunk
            self.assertEqual(got.count(b"HTTP/1.1 200"), 500)
            for x in conns + [c]:
                x.close()
        finally:
            self.assertEqual(srv.stop(), 0, srv.log()[-2000:])

    # ---- connect: a server that never ends its line -----------------------------

    def test_connect_caps_what_it_buffers(self):
        """Before: `connect` kept appending a server's output while it waited
        for a newline, without limit."""
        p = self.pki
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(p.server.fullchain, p.server.key)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        sent = []

        def serve():
            listener.settimeout(20)
            try:
                raw, _ = listener.accept()
            except socket.timeout:
                return
            with ctx.wrap_socket(raw, server_side=True) as s:
                s.settimeout(10)
                try:
                    s.recv(100)
                    total, deadline = 0, time.monotonic() + 10
                    while total < (8 << 20) and time.monotonic() < deadline:
                        total += s.send(b"x" * 65536)
                except OSError:
                    pass
                sent.append(total)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            start = time.monotonic()
            r = connect("localhost:%d" % port, p.root.cert, input="hello\n")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("without a newline", r.stderr)
            self.assertLess(time.monotonic() - start, 10, "it waited for the timeout instead")
        finally:
            t.join(25)
            listener.close()

    # ---- the CRL: re-read when it changes; resumed sessions -------------------------

    def test_crl_reloaded_and_resumed_sessions_checked(self):
        """Before: the CRL was read once at start, and a resumed session was
        never checked again: a client revoked meanwhile kept connecting."""
        p = self.pki
        crl = os.path.join(self.tmp.name, "live.crl.pem")
        p._write_crl(p.root, [p.revoked.serial], crl)
        srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert, "--crl", crl)
        try:
            # bob connects, and his session resumes.
            # (close_notify each time: a connection cut short is not resumable.)
            s = self.tls(srv, p.client2)
            s.sendall(b"one\n")
            self.assertEqual(s.recv(100), b"one\n")
            session = s.session
            s.unwrap().close()
            s = self.tls(srv, p.client2, session=session)
            s.sendall(b"two\n")
            self.assertEqual(s.recv(100), b"two\n")
            self.assertTrue(s.session_reused, "resumption must work for this test to mean anything")
            session = s.session
            s.unwrap().close()
            # bob is revoked: a new CRL replaces the file (as minica crl does, by rename).
            mark = srv.mark()
            tmp = crl + ".new"
            p._write_crl(p.root, [p.revoked.serial, p.client2.serial], tmp)
            os.replace(tmp, crl)
            self.assertTrue(srv.wait_log(r"reloaded the CRL", since=mark, timeout=10), srv.log()[-2000:])
            # A full handshake is refused...
            r = connect(srv.address, p.root.cert, p.client2.fullchain, p.client2.key)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            # ...and so is the resumed session.
            refused = False
            try:
                s = self.tls(srv, p.client2, session=session)
                s.sendall(b"three\n")
                refused = s.recv(100) != b"three\n"
                s.close()
            except (ssl.SSLError, OSError):
                refused = True
            self.assertTrue(refused, "a revoked client resumed its session:\n" + srv.log()[-2000:])
            # alice is still welcome.
            r = connect(srv.address, p.root.cert, p.client.fullchain, p.client.key)
            self.assertEqual(r.returncode, 0, r.stderr)
            # A CRL file that does not parse keeps the one in use.
            mark = srv.mark()
            with open(tmp, "w") as f:
                f.write("not a CRL\n")
            os.replace(tmp, crl)
            self.assertTrue(srv.wait_log(r"cannot be used", since=mark, timeout=10), srv.log()[-2000:])
            r = connect(srv.address, p.root.cert, p.client2.fullchain, p.client2.key)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            r = connect(srv.address, p.root.cert, p.client.fullchain, p.client.key)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            self.assertEqual(srv.stop(), 0, srv.log()[-2000:])

    # ---- names from clients are escaped in the log ------------------------------------

    def test_names_and_requests_are_escaped_in_the_log(self):
        """A client certificate whose CN and SAN carry ESC and a newline, and an
        HTTP request target with bytes that are not UTF-8: the log shows them
        as \\xNN, one entry per line. Before: written raw."""
        p = self.pki
        evil = p._leaf("evil", "eve\x1b[31m\nFAKE log line", p.root, client=True,
                       dns=["e\x1b]0;pwned\x07.test"])
        srv = EchoServer(p.server.fullchain, p.server.key, p.root.cert, "--http")
        try:
            mark = srv.mark()
            s = self.tls(srv, evil)
            s.sendall(b"GET /\xff\x1b[2J HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            s.close()
            self.assertTrue(srv.wait_log(r"client .*eve", since=mark), srv.log()[-2000:])
            srv.wait_log(r'" \d{3}$', since=mark)
        finally:
            self.assertEqual(srv.stop(), 0, srv.log()[-2000:])
        log = srv.log()
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\x07", log)
        self.assertNotIn("\nFAKE", log)
        self.assertIn("\\x1b", log)


if __name__ == "__main__":
    echo_certs.main(sys.modules[__name__])
