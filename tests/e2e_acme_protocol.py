"""minica serve over the wire, with a raw-JWS client: the whole ACME flow
for http-01, tls-alpn-01 and dns-01 (pebble-challtestsrv answers the
validations and is the DNS server), the protocol corners RFC 8555 names
(reused nonce, another key, a url that does not match, finalize too early,
a CSR with other names or CA:TRUE, an oversized body, a redirect to
another host), a restart in the middle of an order, revocation seen in the
served CRL and `minica list`, and ARI's renewalInfo."""
import hashlib
import json
import pathlib
import signal
import time
import unittest
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_common import Client, Key, ServeCase, b64u, make_csr
from cli_common import main, minica


class ProtocolCase(ServeCase):
    temp_prefix = "minica-acme-"

    def client(self, alg="ES256"):
        c = Client(self.serve.directory, self.root, Key(alg))
        r = c.register()
        self.assertEqual(r.status, 201, r)
        return c

    def authorize(self, c, order, kind="http-01"):
        """Answers every authorization of `order` with `kind`; returns the
        challenge POST answers."""
        answers = []
        for url in order.json()["authorizations"]:
            authz = c.post(url, None).json()
            ch = next(x for x in authz["challenges"] if x["type"] == kind)
            ka = c.key_authorization(ch["token"])
            name = authz["identifier"]["value"]
            if kind == "http-01":
                self.srv.add_http01(ch["token"], ka)
            elif kind == "tls-alpn-01":
                self.srv.add_tlsalpn01(name, ka)
            else:
                self.srv.set_txt("_acme-challenge." + name, b64u(hashlib.sha256(ka.encode()).digest()))
            answers.append(c.post(ch["url"], {}))
        return answers

    def finalize(self, c, order, names, key=None):
        o = c.post(order.headers["Location"], None).json()
        key, der = make_csr(names, key)
        return key, c.post(o["finalize"], {"csr": b64u(der)})

    def issue(self, c, names, kind="http-01"):
        order = c.order(names)
        self.assertEqual(order.status, 201, order)
        for a in self.authorize(c, order, kind):
            self.assertEqual(a.json()["status"], "valid", a)
        key, fin = self.finalize(c, order, names)
        self.assertEqual(fin.status, 200, fin)
        self.assertEqual(fin.json()["status"], "valid")
        pem = c.post(fin.json()["certificate"], None)
        self.assertEqual(pem.headers["Content-Type"], "application/pem-certificate-chain")
        return key, pem.body.decode()

    def check_issued(self, chain_pem, names):
        certs = self.verify_leaf(chain_pem, names)
        self.assertEqual(len(certs), 2)  # the leaf and the intermediate, no root
        # The intermediate handed out is the CA's own.
        self.assertEqual(certs[1].public_bytes(serialization.Encoding.PEM).decode(),
                         x509.load_pem_x509_certificate((self.ca / "chain.pem").read_bytes())
                         .public_bytes(serialization.Encoding.PEM).decode())
        path = self.tmp / f"issued-{time.monotonic_ns()}.pem"
        path.write_text(chain_pem)
        m = minica(["verify", path], ca=self.ca, home=self.tmp)  # the whole chain as served
        self.assertEqual(m.code, 0, m)
        return certs[0]


class Flow(ProtocolCase):
    def test_directory_nonce_and_headers(self):
        c = Client(self.serve.directory, self.root)
        for k in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"):
            self.assertTrue(c.dir[k].startswith(self.serve.base + "/acme/"), c.dir)
        head = c.request("HEAD", c.dir["newNonce"])
        self.assertEqual(head.status, 200)
        self.assertEqual(head.headers["Cache-Control"], "no-store")
        self.assertIn('rel="index"', head.headers["Link"])
        self.assertEqual(c.request("GET", c.dir["newNonce"]).status, 204)

    def test_http01_with_every_account_algorithm(self):
        for alg in ("ES256", "ES384", "RS256", "EdDSA"):
            with self.subTest(alg=alg):
                c = self.client(alg)
                name = f"http-{alg.lower()}.test"
                _, chain = self.issue(c, [name])
                cert = self.check_issued(chain, [name])
                listed = minica(["list", "--json"], ca=self.ca, home=self.tmp).json()
                rec = next(r for r in listed if r["serial"] == format(cert.serial_number, "X"))
                self.assertIsNotNone(rec.get("account"))

    def test_tls_alpn01_and_dns01_with_a_wildcard(self):
        c = self.client()
        _, chain = self.issue(c, ["alpn.test"], "tls-alpn-01")
        self.check_issued(chain, ["alpn.test"])
        _, chain = self.issue(c, ["*.wild.test"], "dns-01")
        self.check_issued(chain, ["*.wild.test"])

    def test_a_wrong_answer_makes_the_order_invalid(self):
        c = self.client()
        order = c.order(["wrong.test"])
        authz = c.post(order.json()["authorizations"][0], None).json()
        ch = next(x for x in authz["challenges"] if x["type"] == "http-01")
        self.srv.add_http01(ch["token"], "not-the-key-authorization")
        r = c.post(ch["url"], {})
        self.assertEqual(r.json()["status"], "invalid", r)
        self.assertEqual(r.json()["error"]["type"], "urn:ietf:params:acme:error:incorrectResponse")
        self.assertEqual(c.post(order.headers["Location"], None).json()["status"], "invalid")

    def test_a_redirect_to_another_host_is_not_followed(self):
        c = self.client()
        order = c.order(["redirect.test"])
        authz = c.post(order.json()["authorizations"][0], None).json()
        ch = next(x for x in authz["challenges"] if x["type"] == "http-01")
        self.srv.add_a("other.test", ["127.0.0.2"])
        path = "/.well-known/acme-challenge/" + ch["token"]
        self.srv.add_redirect(path, f"http://other.test:{self.srv.http01}{path}")
        r = c.post(ch["url"], {})
        self.assertEqual(r.json()["status"], "invalid", r)
        self.assertIn(r.json()["error"]["type"].rsplit(":", 1)[1], ("connection", "unauthorized"))
        self.assertIn("other.test", r.json()["error"]["detail"])


class Corners(ProtocolCase):
    def test_a_reused_nonce_is_bad_nonce_and_changes_nothing(self):
        c = self.client()
        n = c.new_nonce()
        first = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "n1.test"}]}, nonce=n)
        self.assertEqual(first.status, 201)
        again = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "n2.test"}]}, nonce=n)
        self.assertEqual((again.status, again.problem), (400, "badNonce"), again)
        self.assertTrue(again.headers.get("Replay-Nonce"))
        orders = c.post(c.kid + "/orders", None).json()["orders"]
        self.assertEqual(len(orders), 1)

    def test_a_jws_by_another_key_a_wrong_url_and_a_wrong_content_type(self):
        c = self.client()
        intruder = Key()
        r = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "x.test"}]}, key=intruder)
        self.assertEqual((r.status, r.problem), (400, "malformed"), r)
        body = {"protected": "", "payload": "", "signature": ""}
        from acme_common import jws
        wrong_url = jws(c.key, c.dir["newAccount"], {}, nonce=c.new_nonce(), kid=c.kid)
        r = c.request("POST", c.dir["newOrder"], wrong_url)
        self.assertEqual((r.status, r.problem), (403, "unauthorized"), r)
        r = c.request("POST", c.dir["newOrder"], body, content_type="application/json")
        self.assertEqual((r.status, r.problem), (415, "malformed"), r)

    def test_an_oversized_body_is_413(self):
        c = self.client()
        r = c.request("POST", c.dir["newOrder"], b"{" + b" " * (70 * 1024) + b"}")
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.problem, "malformed")

    def test_finalize_too_early_other_names_and_ca_true(self):
        c = self.client()
        order = c.order(["early.test"])
        _, fin = self.finalize(c, order, ["early.test"])
        self.assertEqual((fin.status, fin.problem), (403, "orderNotReady"), fin)
        self.authorize(c, order)
        _, fin = self.finalize(c, order, ["early.test", "extra.test"])
        self.assertEqual(fin.problem, "badCSR", fin)
        o = c.post(order.headers["Location"], None).json()
        _, der = make_csr(["early.test"], ca=True)
        fin = c.post(o["finalize"], {"csr": b64u(der)})
        self.assertEqual(fin.problem, "badCSR", fin)
        # The account key itself is never certified.
        from cryptography.hazmat.primitives.asymmetric import ec
        if isinstance(c.key.key, ec.EllipticCurvePrivateKey):
            _, fin = self.finalize(c, order, ["early.test"], key=c.key.key)
            self.assertEqual(fin.problem, "badCSR", fin)
        self.assertEqual(c.post(order.headers["Location"], None).json()["status"], "ready")
        _, fin = self.finalize(c, order, ["early.test"])
        self.assertEqual(fin.json()["status"], "valid", fin)


class Revocation(ProtocolCase):
    def crl(self, headers=None):
        req = urllib.request.Request(self.serve.crl_url, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def test_revocation_shows_in_the_served_crl_list_and_ari(self):
        c = self.client()
        key, chain = self.issue(c, ["revoked.test"])
        cert = x509.load_pem_x509_certificates(chain.encode())[0]
        status, headers, der = self.crl()
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/pkix-crl")
        etag = headers["ETag"]
        self.assertEqual(self.crl({"If-None-Match": etag})[0], 304)

        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
        cert_id = b64u(aki) + "." + b64u(serial)
        ri = c.get(self.serve.base + "/acme/renewal-info/" + cert_id)
        self.assertEqual(ri.status, 200, ri)
        window = ri.json()["suggestedWindow"]
        self.assertLess(cert.not_valid_before_utc.isoformat()[:19], window["start"])
        self.assertLess(window["end"], cert.not_valid_after_utc.isoformat()[:19] + "Z")

        r = c.post(c.dir["revokeCert"], {"certificate": b64u(cert.public_bytes(serialization.Encoding.DER)),
                                         "reason": 1})
        self.assertEqual(r.status, 200, r)
        r = c.post(c.dir["revokeCert"], {"certificate": b64u(cert.public_bytes(serialization.Encoding.DER))})
        self.assertEqual(r.problem, "alreadyRevoked", r)
        status, headers, der = self.crl()
        self.assertNotEqual(headers["ETag"], etag)
        crl = x509.load_der_x509_crl(der)
        self.assertIsNotNone(crl.get_revoked_certificate_by_serial_number(cert.serial_number))
        listed = minica(["list", "--json", "--revoked"], ca=self.ca, home=self.tmp).json()
        self.assertIn(format(cert.serial_number, "X"), [x["serial"] for x in listed])
        ri = c.get(self.serve.base + "/acme/renewal-info/" + cert_id).json()["suggestedWindow"]
        self.assertLess(ri["end"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def test_a_revoke_by_another_process_reaches_the_served_crl(self):
        c = self.client()
        _, chain = self.issue(c, ["other-process.test"])
        cert = x509.load_pem_x509_certificates(chain.encode())[0]
        serial = format(cert.serial_number, "X")
        r = minica(["revoke", serial, "--reason", "superseded"], ca=self.ca, home=self.tmp)
        self.assertEqual(r.code, 0, r)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            crl = x509.load_der_x509_crl(self.crl()[2])
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number):
                break
            time.sleep(0.2)
        else:
            self.fail("the served CRL never listed the certificate minica revoke revoked")


class Restart(ProtocolCase):
    def sigterm(self):
        """SIGTERM: the exit must be 0 and the log end with "stopped"; the log."""
        self.assertEqual(self.serve.stop(signal.SIGTERM), 0)
        log = self.serve.log_text()
        self.assertIn("stopped", log)
        return log

    def test_an_order_continues_across_a_restart(self):
        c = self.client()
        order = c.order(["restart.test"])
        self.authorize(c, order)
        self.assertEqual(self.serve.stop(signal.SIGINT), 0)
        self.serve.start()
        c2 = Client(self.serve.directory, self.root, c.key)
        c2.kid = c.kid
        _, fin = self.finalize(c2, order, ["restart.test"])
        self.assertEqual(fin.json()["status"], "valid", fin)

    def test_sigterm_exits_0(self):
        log = self.sigterm()
        # Nothing was open: the drain ends at once, not by its deadline.
        self.assertNotIn("still open", log)
        self.serve.start()

    def test_sigterm_closes_idle_connections_and_exits_0(self):
        """A keep-alive connection on each listener, idle when the signal
        comes: each is closed, and the server exits without waiting for
        the drain's deadline."""
        import http.client
        import ssl
        host, port = self.serve.base.split("//", 1)[1].rsplit(":", 1)
        https = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=self.root),
                                            timeout=30)
        https.request("GET", "/directory")
        self.assertEqual(https.getresponse().read()[:1], b"{")
        plain_host, plain_port = self.serve.crl_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        plain = http.client.HTTPConnection(plain_host, int(plain_port), timeout=30)
        plain.request("GET", "/crl")
        self.assertEqual(plain.getresponse().status, 200)
        try:
            self.assertNotIn("still open", self.sigterm())
        finally:
            https.close()
            plain.close()
            self.serve.start()

    def test_a_request_unfinished_past_the_drain_deadline_is_cut_and_the_exit_is_0(self):
        """A client sends half a request and stalls: SIGTERM waits for it
        until the drain's deadline, then closes it and exits 0 (the
        connection, still held by its read when the io_context stops, goes
        after the server: it must not call back into it)."""
        import socket
        import ssl
        host, port = self.serve.base.split("//", 1)[1].rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=self.root)
        raw = socket.create_connection((host if host != "localhost" else "127.0.0.1", int(port)), timeout=30)
        conn = ctx.wrap_socket(raw, server_hostname=host)
        try:
            conn.sendall(b"POST /acme/new-order HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/jose+json\r\n"
                         b"Content-Length: 100\r\n\r\n{")
            time.sleep(0.5)  # read by the server: a connection that started a request is not idle
            self.assertIn("still open", self.sigterm())
        finally:
            conn.close()
            if self.serve.proc.poll() is not None:
                self.serve.start()

    def test_a_held_challenge_answer_is_sent_on_stop_and_a_restart_resumes_the_validation(self):
        """The http-01 target accepts and answers nothing until released:
        the challenge POST is held. SIGTERM sends it at once, saying
        processing (committed so); the restarted server validates again,
        and the authorization becomes valid."""
        import http.server
        import threading
        # A wait longer than the drain's 10 s deadline: the answer can only
        # come from the stop itself, not from the wait running out.
        self.assertEqual(self.serve.stop(), 0)
        self.serve.args += ["--validation-wait", "60"]
        self.serve.start()
        self.addCleanup(self.restart_without_long_wait)
        c = self.client()
        order = c.order(["held.test"])
        authz_url = order.json()["authorizations"][0]
        ch = next(x for x in c.post(authz_url, None).json()["challenges"] if x["type"] == "http-01")
        ka = c.key_authorization(ch["token"])
        reached, release = threading.Event(), threading.Event()

        class Slow(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                reached.set()
                if release.wait(30):
                    body = ka.encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *a):
                pass

        target = http.server.ThreadingHTTPServer(("127.0.0.3", self.srv.http01), Slow)
        target.daemon_threads = True
        threading.Thread(target=target.serve_forever, daemon=True).start()
        self.srv.add_a("held.test", ["127.0.0.3"])
        answer = {}
        post = threading.Thread(target=lambda: answer.update(r=c.post(ch["url"], {})))
        try:
            post.start()
            self.assertTrue(reached.wait(30), "the validation never reached its target")
            self.assertEqual(self.serve.stop(signal.SIGTERM), 0)
            post.join(30)
            self.assertFalse(post.is_alive())
            self.assertEqual(answer["r"].status, 200, answer["r"])
            self.assertEqual(answer["r"].json()["status"], "processing", answer["r"])
            release.set()
            # Answered at once: the drain did not wait for its deadline.
            self.assertNotIn("still open", self.serve.log_text())
            self.serve.start()
            deadline = time.monotonic() + 30
            while c.post(authz_url, None).json()["status"] == "pending" and time.monotonic() < deadline:
                time.sleep(0.1)
            authz = c.post(authz_url, None).json()
            self.assertEqual(authz["status"], "valid", authz)
            self.assertEqual(authz["challenges"][0]["status"], "valid", authz)
            self.assertIn("resumed 1 validation", self.serve.log_text())
        finally:
            release.set()
            target.shutdown()
            target.server_close()

    def restart_without_long_wait(self):
        if self.serve.proc.poll() is None:
            self.serve.stop()
        self.serve.args = self.serve.args[:self.serve.args.index("--validation-wait")]
        self.serve.start()


class EncryptedCa(unittest.TestCase):
    def test_the_server_certificate_is_reused_across_restarts(self):
        """With the CA key encrypted (the passphrase given once, at start),
        a restarted server finds its certificate still good and serves it
        again instead of issuing another each time."""
        import shutil
        import tempfile
        from acme_common import Serve
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="minica-acme-enc-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        ca, env = tmp / "ca", {"MINICA_PASSPHRASE": "open sesame"}
        r = minica(["init", "--intermediate"], ca=ca, home=tmp, env=env)
        self.assertEqual(r.code, 0, r)
        # No validation happens here: the DNS and challenge ports are unused.
        serve = Serve(ca, tmp, 9, 9, 9, crl=False, env=env)
        self.addCleanup(serve.kill)
        self.assertEqual(serve.stop(), 0)
        self.assertIn("issued the server certificate", serve.log_text())
        serve.start()
        self.assertEqual(serve.stop(), 0)
        self.assertIn("reusing the server certificate", serve.log_text())
        listed = json.loads(minica(["list", "--json"], ca=ca, home=tmp).out)
        self.assertEqual([c["names"] for c in listed if c["profile"] == "server"], [["localhost"]], listed)


if __name__ == "__main__":
    main()
