"""Shared pieces of the ACME end-to-end suites (e2e_acme_*.py): free ports,
a CA and `minica serve` on it, pebble-challtestsrv as the DNS every
validation lookup goes to (A 127.0.0.1 for every name, TXT and other A
records on request) and as an http-01/tls-alpn-01 responder, and a small
raw-JWS ACME client (cryptography) for the protocol corners no packaged
client reaches."""
import base64
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import unittest

from cli_common import MINICA, ClassTempDir, clean_env, minica

CHALLTESTSRV = shutil.which("pebble-challtestsrv")

# The environment this machine presets would point clients at the system
# bundle (or at nothing we made): every client call sets its own.
CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE",
           "NODE_EXTRA_CA_CERTS", "LEGO_CA_CERTIFICATES")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds; a no-op for one that ended."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def wait_port(port, host="127.0.0.1", timeout=20, proc=None):
    """Until something listens on host:port; with `proc`, the process that
    should: its exit ends the wait at once, as an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


class Challtestsrv:
    """pebble-challtestsrv on free loopback ports: mock DNS (every name A
    127.0.0.1, no AAAA), http-01 and tls-alpn-01 responses on request."""

    def __init__(self):
        self.dns = free_port()
        self.http01 = free_port()
        self.tlsalpn01 = free_port()
        self.management = free_port()
        self.proc = subprocess.Popen(
            [CHALLTESTSRV, "-dns01", f"127.0.0.1:{self.dns}", "-http01", f"127.0.0.1:{self.http01}",
             "-tlsalpn01", f"127.0.0.1:{self.tlsalpn01}", "-https01", "", "-management",
             f"127.0.0.1:{self.management}", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.management, proc=self.proc)
            wait_port(self.http01, proc=self.proc)
        except BaseException:
            stop_process(self.proc)
            raise

    def call(self, path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{self.management}{path}", data=json.dumps(body).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def add_http01(self, token, content):
        self.call("/add-http01", {"token": token, "content": content})

    def add_tlsalpn01(self, host, content):
        self.call("/add-tlsalpn01", {"host": host, "content": content})

    def set_txt(self, host, value):
        self.call("/set-txt", {"host": host.rstrip(".") + ".", "value": value})

    def add_a(self, host, addresses):
        self.call("/add-a", {"host": host.rstrip(".") + ".", "addresses": addresses})

    def add_redirect(self, path, target):
        self.call("/add-redirect", {"path": path, "targetURL": target})

    def stop(self):
        stop_process(self.proc)


class Serve:
    """`minica serve` on a CA directory, on free ports; stop() checks it
    exits 0 on SIGTERM."""

    def __init__(self, ca, home, dns_port, http01_port, tlsalpn01_port, extra=(), crl=True, env=None, crl_port=0):
        self.ca, self.home = pathlib.Path(ca), home
        self.args = [MINICA, "serve", "--listen", "127.0.0.1:0", "--hostname", "localhost",
                     "--dns-resolver", f"127.0.0.1:{dns_port}", "--http-01-port", str(http01_port),
                     "--tls-alpn-01-port", str(tlsalpn01_port)]
        if crl:
            self.args += ["--http-listen", f"127.0.0.1:{crl_port}"]
        self.args += list(extra)
        self.env = clean_env(home, dict(env or {}, MINICA_CA_DIR=str(ca)))
        self.log = pathlib.Path(home) / f"serve-{time.monotonic_ns()}.log"
        self.start()

    def start(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.logf, text=True, env=self.env,
                                     stdin=subprocess.DEVNULL)
        self.directory = self.crl_url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"minica serve exited {self.proc.wait()}: {self.log.read_text()}")
            if line.startswith("ACME directory: "):
                self.directory = line.split(": ", 1)[1].strip()
            if line.startswith("CRL: "):
                self.crl_url = line.split(": ", 1)[1].strip()
            if self.directory and (self.crl_url or "--http-listen" not in self.args):
                break
        self.base = self.directory.rsplit("/", 1)[0]
        self.port = int(self.base.rsplit(":", 1)[1])
        # A restart listens where this one did: orders hold their URLs.
        self.args[self.args.index("--listen") + 1] = f"127.0.0.1:{self.port}"
        if self.crl_url:
            self.args[self.args.index("--http-listen") + 1] = self.crl_url.split("//", 1)[1].split("/", 1)[0]

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            self.logf.close()
            self.proc.stdout.close()
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()
        self.proc.stdout.close()

    def log_text(self):
        return self.log.read_text()


def ssl_context(root):
    ctx = ssl.create_default_context(cafile=str(root))
    return ctx


class Key:
    """An account key and its JWS algorithm."""

    def __init__(self, alg="ES256"):
        self.alg = alg
        if alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
        elif alg == "ES384":
            self.key = ec.generate_private_key(ec.SECP384R1())
        elif alg == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "EdDSA":
            self.key = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(alg)

    def jwk(self):
        pub = self.key.public_key()
        if isinstance(pub, ec.EllipticCurvePublicKey):
            n = pub.curve.key_size // 8 + (1 if pub.curve.key_size % 8 else 0)
            nums = pub.public_numbers()
            return {"crv": "P-256" if n == 32 else "P-384", "kty": "EC", "x": b64u(nums.x.to_bytes(n, "big")),
                    "y": b64u(nums.y.to_bytes(n, "big"))}
        if isinstance(pub, rsa.RSAPublicKey):
            nums = pub.public_numbers()
            return {"e": b64u(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")), "kty": "RSA",
                    "n": b64u(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big"))}
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64u(raw)}

    def thumbprint(self):
        return b64u(hashlib.sha256(json.dumps(self.jwk(), sort_keys=True, separators=(",", ":")).encode()).digest())

    def sign(self, data):
        if self.alg in ("ES256", "ES384"):
            h = hashes.SHA256() if self.alg == "ES256" else hashes.SHA384()
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(h)))
            n = 32 if self.alg == "ES256" else 48
            return r.to_bytes(n, "big") + s.to_bytes(n, "big")
        if self.alg == "RS256":
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(data)

    def spki_der(self):
        return self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)


def jws(key, url, payload, nonce=None, kid=None, extra=None):
    """A flattened JWS; payload None = POST-as-GET (empty payload)."""
    protected = {"alg": key.alg, "url": url}
    if nonce is not None:
        protected["nonce"] = nonce
    if kid:
        protected["kid"] = kid
    else:
        protected["jwk"] = key.jwk()
    protected.update(extra or {})
    p64 = b64u(json.dumps(protected).encode())
    pl64 = "" if payload is None else b64u(json.dumps(payload).encode() if not isinstance(payload, bytes) else payload)
    sig = key.sign(f"{p64}.{pl64}".encode())
    return {"protected": p64, "payload": pl64, "signature": b64u(sig)}


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    @property
    def problem(self):
        if self.headers.get("Content-Type") != "application/problem+json":
            return None
        return self.json()["type"].rsplit(":", 1)[1]

    def __repr__(self):
        return f"{self.status} {self.headers.get('Content-Type')} {self.body[:400]!r}"


class Client:
    """A raw ACME client: every request as the test wants it, nothing
    retried (a badNonce is what some tests look for)."""

    def __init__(self, directory, root, key=None):
        self.ctx = ssl_context(root)
        self.dir = self.get(directory).json()
        self.key = key or Key()
        self.kid = None
        self.nonce = None

    def request(self, method, url, body=None, content_type="application/jose+json", headers=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        if data is not None:
            req.add_header("Content-Type", content_type)
        req.add_header("User-Agent", "minica-e2e")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
                reply = Reply(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            reply = Reply(e.code, dict(e.headers), e.read())
        if reply.headers.get("Replay-Nonce"):
            self.nonce = reply.headers["Replay-Nonce"]
        return reply

    def get(self, url):
        return self.request("GET", url)

    def new_nonce(self):
        self.request("HEAD", self.dir["newNonce"])
        return self.nonce

    def post(self, url, payload, key=None, kid=True, nonce=None, extra=None):
        key = key or self.key
        n = nonce if nonce is not None else (self.nonce or self.new_nonce())
        self.nonce = None
        body = jws(key, url, payload, nonce=n, kid=self.kid if kid else None, extra=extra)
        return self.request("POST", url, body)

    def register(self, payload=None):
        r = self.post(self.dir["newAccount"], payload or {"termsOfServiceAgreed": True}, kid=False)
        if r.status in (200, 201):
            self.kid = r.headers["Location"]
        return r

    def order(self, names):
        ids = [{"type": "ip" if n.replace(".", "").isdigit() or ":" in n else "dns", "value": n} for n in names]
        return self.post(self.dir["newOrder"], {"identifiers": ids})

    def key_authorization(self, token):
        return f"{token}.{self.key.thumbprint()}"


def make_csr(names, key=None, ca=False):
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return key, b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def environment(home, extra=None):
    """The environment for a client: HOME in the test's directory and none
    of the preset CA bundle variables."""
    env = {k: v for k, v in os.environ.items() if k not in CA_VARS}
    env["HOME"] = str(home)
    env.update(extra or {})
    return env


def need(program, package):
    """Skips (unittest.SkipTest) when `program` is not on PATH."""
    if not shutil.which(program):
        raise unittest.SkipTest(f"{program} is not installed (Debian package {package})")


class ServeCase(ClassTempDir):
    """One CA (root + intermediate) and one `minica serve` on it for the
    class: cls.ca, cls.root, cls.serve (and cls.srv, pebble-challtestsrv,
    the DNS server, unless the class starts its own with start_dns()).
    Subclasses set serve_extra, crl, and start_dns / serve_ports to
    change what is started; every started process is stopped at the end,
    also when the set-up fails half way."""
    temp_prefix = "minica-acme-"
    serve_extra = ()
    crl = True

    @classmethod
    def start_dns(cls):
        """The DNS server port; default: pebble-challtestsrv (every name
        is 127.0.0.1)."""
        if not CHALLTESTSRV:
            raise unittest.SkipTest("pebble-challtestsrv is not installed (Debian package pebble)")
        cls.srv = Challtestsrv()
        return cls.srv.dns

    @classmethod
    def serve_ports(cls):
        """(http-01 port, tls-alpn-01 port) minica serve validates against."""
        return cls.srv.http01, cls.srv.tlsalpn01

    @classmethod
    def before_serve(cls):
        """Runs after the CA is made, before minica serve starts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.ca = cls.tmp / "ca"
            r = minica(["init", "--intermediate"], ca=cls.ca, home=cls.tmp)
            assert r.code == 0, r
            cls.root = cls.ca / "root.pem"
            dns = cls.start_dns()
            http01, tlsalpn01 = cls.serve_ports()
            cls.before_serve()
            cls.serve = Serve(cls.ca, cls.tmp, dns, http01, tlsalpn01, extra=cls.serve_extra, crl=cls.crl,
                              crl_port=getattr(cls, "crl_port", 0))
        except BaseException:
            cls.tearDownClass()
            raise

    def run_client(self, args, env=None, timeout=60, cwd=None):
        """An ACME client (or any program) with the environment()
        of this class's home: the finished process, with .took (seconds)
        and .report (its exit, output tails and the server's log) for an
        assertion's message."""
        started = time.monotonic()
        p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                           env=environment(self.tmp, env), cwd=cwd, stdin=subprocess.DEVNULL)
        p.took = time.monotonic() - started
        p.report = (f"{args[0]} exited {p.returncode} after {p.took:.1f} s\nstdout: {p.stdout[-3000:]}\n"
                    f"stderr: {p.stderr[-3000:]}{self.logs()}")
        return p

    def logs(self):
        """What a failed client's report ends with: the server's log."""
        return f"\nserver log: {self.serve.log_text()[-3000:]}"

    def listed(self, cert):
        """`minica list --json`'s record of a certificate (x509 object)."""
        serial = format(cert.serial_number, "X")
        rows = minica(["list", "--json"], ca=self.ca, home=self.tmp).json()
        return next(r for r in rows if r["serial"].upper().lstrip("0") == serial)

    def revoked_in_crl(self, cert, seconds=10):
        """Whether the served CRL lists `cert` within `seconds` (it is
        re-signed after a revocation, also one by another process)."""
        deadline = time.monotonic() + seconds
        while True:
            with urllib.request.urlopen(self.serve.crl_url, timeout=10) as r:
                crl = x509.load_der_x509_crl(r.read())
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def verify_leaf(self, pem, names):
        """The first certificate of `pem` (text) under this CA: `openssl
        verify -x509_strict -purpose sslserver` with the CA's chain.pem as
        the intermediates, `minica verify`, and exactly `names` as its DNS
        SANs. Returns every certificate of `pem`."""
        from cli_common import run
        certs = x509.load_pem_x509_certificates(pem.encode())
        leaf = self.tmp / f"leaf-{time.monotonic_ns()}.pem"
        leaf.write_bytes(certs[0].public_bytes(serialization.Encoding.PEM))
        v = run(["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", self.root,
                 "-untrusted", self.ca / "chain.pem", leaf])
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        m = minica(["verify", leaf], ca=self.ca, home=self.tmp)
        self.assertEqual(m.code, 0, m)
        sans = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(sorted(sans.get_values_for_type(x509.DNSName)), sorted(names))
        return certs

    @classmethod
    def tearDownClass(cls):
        try:
            for name in ("serve", "srv", "knot"):
                if hasattr(cls, name):
                    getattr(cls, name).kill() if name == "serve" else getattr(cls, name).stop()
        finally:
            super().tearDownClass()
