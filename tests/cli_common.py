"""Shared helpers of the minica CLI end-to-end tests (e2e_cli_*.py): running
the built binary hermetically, snapshots of a directory tree, the JSON
schemas, and a unittest main that ends with "N passed, M failed"."""
import datetime
import hashlib
import ipaddress
import json
import os
import pathlib
import stat
import subprocess
import sys
import tempfile
import unittest

BUILD = os.environ.get("MINICA_BUILD_ROOT") or str(pathlib.Path(__file__).resolve().parent.parent / "build")
SOURCE = os.environ.get("MINICA_SOURCE_ROOT") or str(pathlib.Path(__file__).resolve().parent.parent)
MINICA = os.path.join(BUILD, "tools", "minica", "minica")
SCHEMAS = pathlib.Path(SOURCE) / "schemas"

KEY_TYPES = ["ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"]


class Run:
    """The result of one minica run."""

    def __init__(self, args, p):
        self.args, self.code, self.out, self.err = args, p.returncode, p.stdout, p.stderr

    def __repr__(self):
        return f"minica {' '.join(self.args)} -> {self.code}\nstdout: {self.out}\nstderr: {self.err}"

    def json(self):
        return json.loads(self.out)


def clean_env(home, extra=None):
    """An environment with none of the caller's MINICA_* or XDG settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINICA_") and k != "XDG_DATA_HOME"}
    env["HOME"] = str(home)
    env.update(extra or {})
    return env


def minica(args, ca=None, env=None, cwd=None, home=None, timeout=120):
    """Runs the binary with stdin closed (no terminal: no prompts)."""
    home = home or (cwd or tempfile.gettempdir())
    e = clean_env(home, env)
    if ca is not None:
        e["MINICA_CA_DIR"] = str(ca)
    p = subprocess.run([MINICA] + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=e,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return Run([str(a) for a in args], p)


def run(args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, **kw)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def snapshot(root):
    """Every entry under root: relative path -> (kind, mode, sha256 of content)."""
    out = {}
    root = pathlib.Path(root)
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = pathlib.Path(dirpath) / name
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(p.read_bytes()).hexdigest())
    return out


# ---- schemas ---------------------------------------------------------------

_validators = {}


def validate(instance, schema_name):
    """Validates against schemas/<schema_name>.schema.json ($refs between the
    project's schemas resolve locally)."""
    import jsonschema
    from referencing import Registry, Resource

    if schema_name not in _validators:
        resources = []
        for f in SCHEMAS.glob("*.schema.json"):
            doc = json.loads(f.read_text())
            resources.append((doc["$id"], Resource.from_contents(doc)))
        registry = Registry().with_resources(resources)
        schema = json.loads((SCHEMAS / f"{schema_name}.schema.json").read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validators[schema_name] = cls(schema, registry=registry)
    _validators[schema_name].validate(instance)


# ---- verifiers ---------------------------------------------------------------

def openssl_verify(root, leaf, untrusted=None, purpose="server", host=None, ip=None, crl=None):
    args = ["openssl", "verify", "-x509_strict", "-auth_level", "2",
            "-purpose", "sslserver" if purpose == "server" else "sslclient", "-CAfile", root]
    if untrusted:
        args += ["-untrusted", untrusted]
    if host:
        args += ["-verify_hostname", host]
    if ip:
        args += ["-verify_ip", ip]
    if crl:
        args += ["-crl_check", "-CRLfile", crl]
    p = run(args + [leaf])
    return p.returncode == 0 and p.stdout.strip().endswith(": OK"), p.stdout + p.stderr


def pyca_verify(root, leaf, intermediates=(), purpose="server", name=None):
    """cryptography's strict web-PKI verifier. Returns (ok, why)."""
    from cryptography import x509
    from cryptography.x509 import verification as xv

    load = lambda f: x509.load_pem_x509_certificates(pathlib.Path(f).read_bytes())
    roots = load(root)
    leaf_cert = load(leaf)[0]
    inter = [c for f in intermediates for c in load(f)]
    builder = xv.PolicyBuilder().store(xv.Store(roots)).time(datetime.datetime.now(datetime.timezone.utc))
    try:
        if purpose == "server":
            try:
                n = xv.IPAddress(ipaddress.ip_address(name))
            except ValueError:
                n = xv.DNSName(name)
            builder.build_server_verifier(n).verify(leaf_cert, inter)
        else:
            builder.build_client_verifier().verify(leaf_cert, inter)
        return True, ""
    except Exception as e:  # VerificationError, UnsupportedGeneralNameType
        return False, repr(e)


# ---- test cases ------------------------------------------------------------

class ClassTempDir(unittest.TestCase):
    """A test case with one temporary directory for the whole class (cls.tmp),
    removed after its last test."""
    temp_prefix = "minica-test-"

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix=cls.temp_prefix)
        cls.tmp = pathlib.Path(cls._tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()


# ---- main ------------------------------------------------------------------

def main():
    if not os.access(MINICA, os.X_OK):
        print(f"minica binary not found at {MINICA}")
        print("0 passed, 1 failed")
        sys.exit(1)
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    r = prog.result
    # A test with failing subtests has one entry per subtest: count tests.
    failing = {getattr(t, "test_case", t).id() for t, _ in r.failures + r.errors}
    failing |= {t.id() for t in r.unexpectedSuccesses}
    failed = len(failing)
    passed = r.testsRun - failed - len(r.skipped)
    print(f"{passed} passed, {failed} failed")
    # Nothing ran (every test skipped, or its class: a tool missing): 77,
    # which meson counts as skipped, not as a pass.
    sys.exit(1 if failed else 77 if r.skipped and passed <= 0 else 0)
