"""Certificates for the minica-echo tests, made with Python's `cryptography`
(independently of minica, so the echo tests do not depend on the CLI), and
helpers to run the programs (EchoServer, connect, main).

    pki = EchoPki(directory)
    pki.root.cert            # path of the root CA certificate (PEM)
    pki.server.fullchain     # server leaf (localhost, 127.0.0.1) + nothing (issued by the root)
    pki.client.cert, .key    # a good client (issued by the root)
    pki.crl                  # root CRL listing pki.revoked's serial

Every certificate passes OpenSSL's -x509_strict checks (SKI/AKI, critical
basicConstraints, key usages): minica-echo verifies with X509_V_FLAG_X509_STRICT.
"""

import base64
import datetime
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tempfile
import time
import unittest
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


@dataclass
class Identity:
    name: str
    cert: str       # the certificate alone
    key: str        # PKCS#8 PEM
    fullchain: str  # the certificate, then its intermediates
    serial: int
    certificate: x509.Certificate
    private_key: object
    parent: object = None  # the issuing Identity, for CAs


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class EchoPki:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        # Trust anchors.
        self.root = self._ca("root", "minica-echo test root")
        self.intermediate = self._ca("intermediate", "minica-echo test intermediate", parent=self.root)
        self.other_root = self._ca("other-root", "some other CA")
        # Leaves issued by the root.
        self.server = self._leaf("server", "localhost", self.root, server=True,
                                 dns=["localhost"], ips=["127.0.0.1"])
        self.client = self._leaf("client", "alice", self.root, client=True, emails=["alice@example.com"])
        self.client2 = self._leaf("client2", "bob", self.root, client=True)
        self.expired = self._leaf("expired", "expired client", self.root, client=True,
                                  not_before=NOW - 30 * DAY, not_after=NOW - DAY)
        self.not_yet_valid = self._leaf("not-yet-valid", "future client", self.root, client=True,
                                        not_before=NOW + DAY, not_after=NOW + 30 * DAY)
        self.revoked = self._leaf("revoked", "revoked client", self.root, client=True)
        self.server_only = self._leaf("server-only", "server used as client", self.root, server=True,
                                      dns=["mallory.example"])
        # Leaves issued by the intermediate (fullchain = leaf + intermediate).
        self.server_via_intermediate = self._leaf("server-int", "localhost", self.intermediate, server=True,
                                                  dns=["localhost"], ips=["127.0.0.1"])
        self.client_via_intermediate = self._leaf("client-int", "carol", self.intermediate, client=True)
        # A client from another CA.
        self.stranger = self._leaf("stranger", "mallory", self.other_root, client=True)
        # The root's CRL, revoking self.revoked.
        self.crl = os.path.join(directory, "root.crl.pem")
        self._write_crl(self.root, [self.revoked.serial], self.crl)

    # ---- helpers ----------------------------------------------------------

    def _write(self, sub, files):
        d = os.path.join(self.dir, sub)
        os.makedirs(d, exist_ok=True)
        paths = {}
        for name, data in files.items():
            p = os.path.join(d, name)
            with open(p, "wb") as f:
                f.write(data)
            paths[name] = p
        return paths

    def _ca(self, sub, cn, parent=None):
        key = _key()
        issuer_key = parent.private_key if parent else key
        issuer_name = parent.certificate.subject if parent else _name(cn)
        serial = x509.random_serial_number()
        b = (x509.CertificateBuilder()
             .subject_name(_name(cn))
             .issuer_name(issuer_name)
             .public_key(key.public_key())
             .serial_number(serial)
             .not_valid_before(NOW - DAY)
             .not_valid_after(NOW + 3650 * DAY)
             .add_extension(x509.BasicConstraints(ca=True, path_length=0 if parent else None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if parent:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                critical=False)
        cert = b.sign(issuer_key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        p = self._write(sub, {"cert.pem": _pem(cert), "key.pem": key_pem, "fullchain.pem": _pem(cert)})
        return Identity(cn, p["cert.pem"], p["key.pem"], p["fullchain.pem"], serial, cert, key, parent)

    def _leaf(self, sub, cn, issuer, server=False, client=False, dns=(), ips=(), emails=(),
              not_before=None, not_after=None):
        key = _key()
        serial = x509.random_serial_number()
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        sans = ([x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
                + [x509.RFC822Name(e) for e in emails])
        b = (x509.CertificateBuilder()
             .subject_name(_name(cn))
             .issuer_name(issuer.certificate.subject)
             .public_key(key.public_key())
             .serial_number(serial)
             .not_valid_before(not_before or NOW - DAY)
             .not_valid_after(not_after or NOW + 90 * DAY)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 issuer.private_key.public_key()), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(issuer.private_key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        # The chain a peer sends: the leaf and intermediates, never the root.
        chain = _pem(cert)
        if issuer.parent is not None:
            chain += _pem(issuer.certificate)
        p = self._write(sub, {"cert.pem": _pem(cert), "key.pem": key_pem, "fullchain.pem": chain})
        return Identity(cn, p["cert.pem"], p["key.pem"], p["fullchain.pem"], serial, cert, key)

    def _write_crl(self, issuer, serials, path, this_update=None, next_update=None):
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(issuer.certificate.subject)
             .last_update(this_update or NOW - DAY)
             .next_update(next_update or NOW + 7 * DAY)
             .add_extension(x509.CRLNumber(1), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 issuer.private_key.public_key()), critical=False))
        for s in serials:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder()
                                          .serial_number(s).revocation_date(NOW - DAY).build())
        crl = b.sign(issuer.private_key, hashes.SHA256())
        with open(path, "wb") as f:
            f.write(crl.public_bytes(serialization.Encoding.PEM))
        return path

    def spki_pin(self, identity):
        """sha256//BASE64 of the SubjectPublicKeyInfo, as curl --pinnedpubkey."""
        spki = identity.certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = hashes.Hash(hashes.SHA256())
        digest.update(spki)
        return "sha256//" + base64.b64encode(digest.finalize()).decode()

    def bundle(self, name, *identities):
        """A PEM file holding several certificates (e.g. root + other root)."""
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            for i in identities:
                f.write(_pem(i.certificate))
        return path



class PkiTestCase(unittest.TestCase):
    """A test case with one EchoPki in a temporary directory for the whole class."""
    temp_prefix = "echo-"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix=cls.temp_prefix)
        cls.pki = EchoPki(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()


# ---- running the programs (shared by the e2e_echo_* tests) -----------------

BUILD_ROOT = os.environ.get("MINICA_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "build"))
ECHO = os.path.join(BUILD_ROOT, "tools", "minica-echo", "minica-echo")
MINICA = os.path.join(BUILD_ROOT, "tools", "minica", "minica")


class EchoServer:
    """`minica-echo serve` on 127.0.0.1 with an ephemeral port; stderr is collected."""

    def __init__(self, cert, key, ca, *extra, ready_timeout=15):
        self.args = [ECHO, "serve", "--cert", cert, "--key", key, "--ca", ca,
                     "--listen", "127.0.0.1:0", *extra]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self._lines = []
        self._cond = threading.Condition()
        self._out = []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stderr, self._lines), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True)]
        for t in self._threads:
            t.start()
        self.port = None
        deadline = time.monotonic() + ready_timeout
        with self._cond:
            while self.port is None and time.monotonic() < deadline and self.proc.poll() is None:
                for line in self._out:
                    m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", line.strip())
                    if m:
                        self.port = int(m.group(1))
                self._cond.wait(0.1)
        if self.port is None:
            self.stop()
            raise RuntimeError("minica-echo serve did not start:\n" + self.log())

    def _pump(self, stream, into):
        for line in stream:
            with self._cond:
                into.append(line)
                self._cond.notify_all()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        with self._cond:
            return "".join(self._lines)

    def mark(self):
        """A position in the log: wait_log(..., since=mark) looks only after it."""
        with self._cond:
            return len(self._lines)

    def wait_log(self, pattern, timeout=10, since=0, count=1):
        """Waits until `count` log lines after `since` match the regex; returns them."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [l for l in self._lines[since:] if rx.search(l)]
                if len(hits) >= count or time.monotonic() >= deadline:
                    return hits
                self._cond.wait(0.1)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for t in self._threads:
            t.join(5)
        return self.proc.returncode


def run(args, input=None, timeout=30):
    return subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout, errors="replace")


def connect(address, ca, cert=None, key=None, input="hello\n", extra=(), timeout=30):
    args = [ECHO, "connect", address, "--ca", ca, "--timeout", "10"]
    if cert:
        args += ["--cert", cert, "--key", key]
    return run(args + list(extra), input=input, timeout=timeout)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def have(program):
    return shutil.which(program) is not None


def main(module):
    """Runs a test module's cases and ends with "N passed, M failed"."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    sys.stdout.flush()
    sys.stderr.flush()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed or result.testsRun == 0 else 0)
