#!/usr/bin/env python3
"""The examples a user copies from, built by meson, run here:

  - examples/doctest_mtls.cpp: a doctest suite doing mTLS over loopback with the fixture;
  - examples/asio_mtls.cpp: an Asio mTLS echo with contexts configured by the fixture;
  - examples/curl_client.cpp: libcurl trusting the fixture's CA from memory;
  - README.md ("Using minica in your tests"): its C++ example is examples/doctest_mtls.cpp, byte for byte.

Stdlib only. Prints "N passed, M failed" last; exits non-zero on failure.
"""
import os
import pathlib
import re
import subprocess
import sys
import unittest

SOURCE = pathlib.Path(os.environ.get("MINICA_SOURCE_ROOT", pathlib.Path(__file__).resolve().parent.parent)).resolve()
BUILD = pathlib.Path(os.environ.get("MINICA_BUILD_ROOT", SOURCE / "build")).resolve()
EXAMPLES = BUILD / "examples"


def run_example(name, timeout=120):
    exe = EXAMPLES / name
    if not exe.exists():
        raise unittest.SkipTest(f"{exe} is not built (-Dexamples=false, or a missing dependency)")
    try:
        p = subprocess.run([str(exe)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{name} did not finish within {timeout} s:\n{e.output or ''}")
    return p.returncode, p.stdout


class Examples(unittest.TestCase):
    def test_doctest_mtls(self):
        rc, out = run_example("example_doctest_mtls")
        self.assertEqual(rc, 0, out)
        self.assertIn("Status: SUCCESS!", out)
        self.assertRegex(out, r"test cases: +4 \| +4 passed \| +0 failed")

    def test_asio_mtls(self):
        rc, out = run_example("example_asio_mtls")
        self.assertEqual(rc, 0, out)
        self.assertIn("echo: hello over mTLS\n", out)
        self.assertIn("server saw client: CN=client.example.test\n", out)
        self.assertIn("protocol: TLSv1.3\n", out)

    def test_curl_client(self):
        rc, out = run_example("example_curl_client")
        self.assertEqual(rc, 0, out)
        self.assertIn("with the CA and a client certificate: HTTP 200: hello alice.example.test, "
                      "you asked for /status\n", out)
        self.assertIn("without a client certificate: ", out)
        self.assertIn("trusting another CA: SSL peer certificate or SSH remote key was not OK", out)

    def test_examples_use_only_installed_headers(self):
        # What a user copies must build against an installed minica: public headers only.
        for src in sorted((SOURCE / "examples").rglob("*.cpp")):
            for include in re.findall(r'^#include [<"](minica/[^>"]+)[>"]', src.read_text(), re.M):
                self.assertNotIn("/detail/", include, f"{src.name} includes {include}")
                self.assertTrue((SOURCE / "lib" / include).is_file(), f"{src.name}: no {include}")


class Readme(unittest.TestCase):
    def test_readme_example_is_the_built_example(self):
        readme = (SOURCE / "README.md").read_text()
        self.assertIn("## Using minica in your tests", readme)
        section = readme.split("## Using minica in your tests", 1)[1]
        blocks = re.findall(r"^```cpp\n(.*?)^```$", section, re.M | re.S)
        self.assertTrue(blocks, "README.md's testing section has no ```cpp block")
        example = (SOURCE / "examples" / "doctest_mtls.cpp").read_text()
        self.assertEqual(blocks[0], example,
                         "the README's example and examples/doctest_mtls.cpp have drifted apart")


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    problems = result.failures + result.errors
    fixture_errors = sum(1 for test, _ in problems if not isinstance(test, unittest.TestCase))
    failed = len(problems) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = max(result.testsRun - (failed - fixture_errors) - skipped, 0)
    if skipped:
        print(f"({skipped} skipped)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
