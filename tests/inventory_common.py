"""Helpers of e2e_cli_inventory.py: running minica and minica-echo
hermetically, spotting crashes and sanitizer reports, reading certificates,
keys and CRLs with pyca/cryptography, reading the inventory read-only, and a
unittest main that ends with "N passed, M failed"."""
import datetime
import hashlib
import json
import os
import pathlib
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

BUILD = os.environ.get("MINICA_BUILD_ROOT") or str(pathlib.Path(__file__).resolve().parent.parent / "build")
SOURCE = os.environ.get("MINICA_SOURCE_ROOT") or str(pathlib.Path(__file__).resolve().parent.parent)
MINICA = os.path.join(BUILD, "tools", "minica", "minica")
ECHO = os.path.join(BUILD, "tools", "minica-echo", "minica-echo")
SCHEMAS = pathlib.Path(SOURCE) / "schemas"


def _sanitized():
    """True when the build directory was configured with -Db_sanitize=..."""
    try:
        opts = json.loads((pathlib.Path(BUILD) / "meson-info" / "intro-buildoptions.json").read_text())
        for o in opts:
            if o.get("name") == "b_sanitize":
                v = o.get("value")
                return bool(v) and v != "none" and v != ["none"]
    except (OSError, ValueError):
        pass
    try:
        return b"__asan_init" in pathlib.Path(MINICA).read_bytes()
    except OSError:
        return False


SANITIZED = _sanitized()
# Sanitized binaries are 2-3x slower: every time bound scales with this.
SLOW = 3.0 if SANITIZED else 1.0

SANITIZER_MARKS = ("Sanitizer", "runtime error:", "==ERROR", "SUMMARY: ")


def sanitizer_report(text):
    """The first line of a sanitizer report in `text`, or None."""
    for line in text.splitlines():
        if any(m in line for m in SANITIZER_MARKS):
            return line
    return None


# ---- running the programs ---------------------------------------------------------

class Run:
    def __init__(self, argv, code, out, err, seconds=0.0):
        self.argv, self.code, self.out, self.err, self.seconds = argv, code, out, err, seconds

    def __repr__(self):
        return (f"{' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(self.argv))}"
                f" -> {self.code}\nstdout: {self.out[-3000:]}\nstderr: {self.err[-3000:]}")

    def json(self):
        return json.loads(self.out)


def clean_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINICA_") and k != "XDG_DATA_HOME"}
    env["HOME"] = str(home)
    return env


def minica_argv(ca, args):
    argv = [MINICA]
    if ca is not None:
        argv += ["--ca-dir", str(ca)]
    return argv + [str(a) for a in args]


def run_minica(ca, args, home, timeout=None, stdin_text=None):
    argv = minica_argv(ca, args)
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=clean_env(home), cwd=str(home),
                       input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL,
                       timeout=timeout or 120 * SLOW)
    return Run(argv, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def spawn_minica(ca, args, home):
    """Starts minica; returns the Popen (stdout/stderr to pipes)."""
    return subprocess.Popen(minica_argv(ca, args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=clean_env(home), cwd=str(home),
                            start_new_session=True)


def run_tool(args, timeout=60, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)


# ---- schemas -----------------------------------------------------------------------

_validators = {}


def validate(instance, schema_name):
    import jsonschema
    from referencing import Registry, Resource

    if schema_name not in _validators:
        resources = []
        for f in SCHEMAS.glob("*.schema.json"):
            doc = json.loads(f.read_text())
            if "$id" in doc:
                resources.append((doc["$id"], Resource.from_contents(doc)))
        schema = json.loads((SCHEMAS / f"{schema_name}.schema.json").read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validators[schema_name] = cls(schema, registry=Registry().with_resources(resources),
                                       format_checker=cls.FORMAT_CHECKER)
    _validators[schema_name].validate(instance)


# ---- certificates, keys, CRLs ------------------------------------------------------

def load_cert(path):
    return x509.load_pem_x509_certificate(pathlib.Path(path).read_bytes())


def load_certs(path):
    return x509.load_pem_x509_certificates(pathlib.Path(path).read_bytes())


def load_key(path):
    return serialization.load_pem_private_key(pathlib.Path(path).read_bytes(), password=None)


def load_crl(path):
    data = pathlib.Path(path).read_bytes()
    return x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)


def fingerprint(cert):
    """minica's form: SHA-256 of the DER, upper-case hex, colon-separated."""
    d = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(d[i:i + 2] for i in range(0, len(d), 2))


def serial_hex(cert_or_int):
    n = cert_or_int if isinstance(cert_or_int, int) else cert_or_int.serial_number
    return format(n, "X")


def spki(obj):
    """DER SubjectPublicKeyInfo of a certificate, private key or public key."""
    if isinstance(obj, x509.Certificate):
        pub = obj.public_key()
    elif hasattr(obj, "public_key"):
        pub = obj.public_key()
    else:
        pub = obj
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_type(cert_or_key):
    pub = cert_or_key.public_key() if hasattr(cert_or_key, "public_key") else cert_or_key
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}[pub.curve.name]
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(pub, rsa.RSAPublicKey):
        return f"rsa-{pub.key_size}"
    return type(pub).__name__


def san_names(cert):
    """Names in minica's order: DNS, IP, email, URI."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([str(v) for v in san.get_values_for_type(x509.DNSName)] +
            [str(v) for v in san.get_values_for_type(x509.IPAddress)] +
            [str(v) for v in san.get_values_for_type(x509.RFC822Name)] +
            [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)])


_SHORT = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
          NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L"}


def subject_line(name):
    """minica's one-line subject: "CN=x, O=y" in DER order."""
    return ", ".join(f"{_SHORT.get(a.oid, a.oid.dotted_string)}={a.value}" for a in name)


def eku(cert):
    try:
        return sorted(o.dotted_string for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
PROFILE_EKU = {"server": [SERVER_AUTH], "client": [CLIENT_AUTH], "both": sorted([SERVER_AUTH, CLIENT_AUTH])}


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ski(cert):
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def der_crl_version(crl):
    """The version field of a CRL's TBSCertList: 1 means v2; None when absent (v1)."""
    der = crl.public_bytes(serialization.Encoding.DER)

    def header(buf, i):
        tag = buf[i]
        n = buf[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(buf[i:i + k], "big")
            i += k
        return tag, i, n

    tag, i, _ = header(der, 0)          # CertificateList SEQUENCE
    assert tag == 0x30
    tag, i, _ = header(der, i)          # TBSCertList SEQUENCE
    assert tag == 0x30
    tag, j, n = header(der, i)          # first field
    if tag != 0x02:
        return None
    return int.from_bytes(der[j:j + n], "big")


def parse_cert_file(path):
    """A cert.pem minica wrote: exactly one complete certificate (or chain), parsed."""
    data = pathlib.Path(path).read_bytes()
    certs = x509.load_pem_x509_certificates(data)
    if data.count(b"-----BEGIN CERTIFICATE-----") != len(certs) or not data.rstrip().endswith(b"-----END CERTIFICATE-----"):
        raise ValueError(f"{path}: trailing garbage or a partial certificate")
    return certs


# ---- the inventory, read-only ------------------------------------------------------

def inventory_rows(ca_dir):
    """Every certificate row with its PEM, read through a read-only connection.
    Only call when no minica process runs on the CA (a minica run before it
    leaves no WAL behind: the last connection checkpoints and removes it)."""
    db = pathlib.Path(ca_dir) / "inventory.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        rows = con.execute(
            "SELECT c.id, c.serial, c.subject, c.names, c.key_type, c.profile, c.not_before, c.not_after, "
            "c.fingerprint_sha256, c.status, c.revoked_at, c.reason, p.pem FROM certificates c "
            "LEFT JOIN pems p ON p.id = c.id ORDER BY c.id").fetchall()
        return [dict(r) for r in rows]
    finally:
        con.close()


# ---- the echo server ------------------------------------------------------------------

class EchoServer:
    """`minica-echo serve` on 127.0.0.1, ephemeral port (read from its
    "listening on ADDRESS:PORT" line); stderr is collected."""

    def __init__(self, cert, key, ca, *extra, ready_timeout=None):
        self.argv = [ECHO, "serve", "--cert", str(cert), "--key", str(key), "--ca", str(ca),
                     "--listen", "127.0.0.1:0", "--threads", "1", *[str(e) for e in extra]]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        self._cond = threading.Condition()
        self._err, self._out = [], []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True)]
        for t in self._threads:
            t.start()
        self.port = None
        deadline = time.monotonic() + (ready_timeout or 20 * SLOW)
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
        return f"127.0.0.1:{self.port}"

    def log(self):
        with self._cond:
            return "".join(self._err)

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * SLOW
        with self._cond:
            while time.monotonic() < deadline:
                if any(rx.search(line) for line in self._err):
                    return True
                self._cond.wait(0.1)
        return False

    def stop(self):
        """SIGTERM, then SIGKILL after a grace period; returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for t in self._threads:
            t.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        return self.proc.returncode


def echo_connect(address, ca, cert, key, text="hello inventory\n", timeout=None):
    return subprocess.run([ECHO, "connect", address, "--ca", str(ca), "--cert", str(cert), "--key", str(key),
                           "--timeout", "10"], input=text, capture_output=True, text=True,
                          timeout=timeout or 60 * SLOW)


# ---- main ------------------------------------------------------------------------------

def main():
    missing = [p for p in (MINICA, ECHO) if not os.access(p, os.X_OK)]
    if MINICA in missing:
        print(f"minica binary not found at {MINICA}")
        print("0 passed, 1 failed")
        sys.exit(1)
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    print(f"{r.testsRun - failed - len(r.skipped)} passed, {failed} failed")
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
