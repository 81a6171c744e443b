"""A private mount namespace for the `minica trust` tests: the machine's trust
stores are overlaid (overlayfs, the upper layer in a temporary directory), so
update-ca-certificates, certutil, keytool and Chromium's policy directory
change only the sandbox, and everything vanishes with the process.

enter() re-executes the calling test script under `unshare --mount
--propagation private` (root only: exit 77, which meson counts as skipped,
where it cannot). Inside, mount_overlays() covers:
  /etc/ssl                         the bundle, the hash links, Java's cacerts
  /usr/local/share/ca-certificates where update-ca-certificates reads local anchors
  /etc/ca-certificates             update.d: Debian's Java hook runs dpkg
                                   triggers, which would escape the namespace
                                   (dpkg's database is not overlaid); it is
                                   replaced by a hook that records its input
  /etc/chromium                    managed policy (the browser test)
This machine presets SSL_CERT_FILE, CURL_CA_BUNDLE, ... : clean_env() drops
them, or no client would ever look at the system store."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

MARK = "MINICA_TRUST_SANDBOX"
CA_ENV = ["SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE",
          "NODE_EXTRA_CA_CERTS", "HTTPLIB2_CA_CERTS", "NIX_SSL_CERT_FILE", "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
          "GIT_SSL_CAINFO", "JAVA_TOOL_OPTIONS", "JAVA_HOME"]
OVERLAID = ["/etc/ssl", "/usr/local/share/ca-certificates", "/etc/ca-certificates", "/etc/chromium"]


def enter(script):
    """Returns inside the sandbox; outside, re-runs `script` there and exits with its status."""
    if os.environ.get(MARK) == "1":
        return
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("skipped: a private mount namespace needs root and unshare (util-linux)")
        sys.exit(77)
    env = dict(os.environ, **{MARK: "1"})
    argv = ["unshare", "--mount", "--propagation", "private", sys.executable, os.path.abspath(script)]
    sys.stdout.flush()
    os.execvpe("unshare", argv + sys.argv[1:], env)


def mount_overlays(work):
    """Overlays OVERLAID (those that exist) with layers under `work`; returns the hook log path."""
    if os.environ.get(MARK) != "1":
        raise RuntimeError("mount_overlays outside the sandbox")
    work = pathlib.Path(work)
    for i, target in enumerate(OVERLAID):
        if not os.path.isdir(target):
            continue
        upper, wd = work / f"upper{i}", work / f"work{i}"
        upper.mkdir(parents=True)
        wd.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={target},upperdir={upper},workdir={wd}", target], check=True)
    hooks = pathlib.Path("/etc/ca-certificates/update.d")
    hooks.mkdir(parents=True, exist_ok=True)
    for h in hooks.iterdir():
        h.unlink()
    log = work / "hooks.log"
    log.touch()
    rec = hooks / "record"
    rec.write_text(f"#!/bin/sh\ncat >> {log}\n")
    rec.chmod(0o755)
    return log


def unmount_overlays():
    for target in reversed(OVERLAID):
        subprocess.run(["umount", target], stderr=subprocess.DEVNULL)


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in CA_ENV and not k.startswith("MINICA_")}
    env.update(extra or {})
    return env


def bundle():
    return pathlib.Path("/etc/ssl/certs/ca-certificates.crt").read_text()


class TempDir:
    def __init__(self, prefix):
        self.path = pathlib.Path(tempfile.mkdtemp(prefix=prefix))

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


class SandboxCase(unittest.TestCase):
    """A test class inside the sandbox: setUpClass sets tmp (a TempDir), home, ca and srv (an
    EchoServer); tearDownClass stops the server and takes the overlays down. mc() runs minica on
    the class's CA with HOME set and the caller's CA variables cleared."""

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        unmount_overlays()
        cls.tmp.cleanup()

    @classmethod
    def mc(cls, *args, env=None, home=None, check=True):
        from echo_certs import MINICA
        e = clean_env({"HOME": str(home or cls.home)})
        e.update(env or {})
        r = subprocess.run([str(a) for a in [MINICA, "--ca-dir", cls.ca, *args]], capture_output=True, text=True,
                           timeout=120, env=e, stdin=subprocess.DEVNULL, errors="replace")
        if check:
            assert r.returncode == 0, f"minica {args}: {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r
