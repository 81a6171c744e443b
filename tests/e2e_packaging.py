#!/usr/bin/env python3
"""Packaging: minica as someone else's dependency.

From the build directory under test (MINICA_BUILD_ROOT):
  - `meson install --destdir` into a staging tree: headers, library, tools,
    their man pages and shell completion, and minica.pc are all there, the
    installed headers compile on their own, and minica/testing.hpp pulls in
    no Asio, spdlog or nlohmann/json.hpp;
  - examples/consumer-meson builds against the staging tree through
    pkg-config (PKG_CONFIG_PATH + PKG_CONFIG_SYSROOT_DIR) and runs;
  - examples/consumer-cmake builds through CMake's pkg_check_modules against
    a prefix-relocated copy of minica.pc, and runs;
  - a tiny meson project with subprojects/minica -> the source tree finds
    minica with dependency('minica') (meson.override_dependency), builds and runs.

Stdlib only. Prints "N passed, M failed" last; exits non-zero on failure.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = pathlib.Path(os.environ.get("MINICA_SOURCE_ROOT", pathlib.Path(__file__).resolve().parent.parent)).resolve()
BUILD = pathlib.Path(os.environ.get("MINICA_BUILD_ROOT", SOURCE / "build")).resolve()
EXPECTED_OUTPUT = re.compile(r"^minica consumer: ok \(CN=localhost, chain of 3, TLSv1\.3\)$", re.M)
PUBLIC_HEADERS = [
    "authority.hpp", "ca_directory.hpp", "certificate.hpp", "csr.hpp", "error.hpp", "files.hpp", "inventory.hpp",
    "key.hpp", "log.hpp", "names.hpp", "policy.hpp", "profile.hpp", "revocation.hpp", "testing.hpp", "text.hpp",
    "tls.hpp", "truststore.hpp", "types.hpp", "verify.hpp",
]


def run(cmd, *, env=None, cwd=None, timeout=600):
    """Runs a command; on failure the assertion shows the command and its output."""
    try:
        p = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"timed out after {timeout} s: {' '.join(map(str, cmd))}\n{e.output or ''}")
    if p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {' '.join(map(str, cmd))}\n{p.stdout[-6000:]}")
    return p.stdout


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PKG_CONFIG", "MESON", "LD_LIBRARY_PATH"))}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def build_options():
    out = run(["meson", "introspect", BUILD, "--buildoptions"])
    return {o["name"]: o["value"] for o in json.loads(out)}


def missing_tools(*names):
    return [n for n in names if shutil.which(n) is None]


class Staged(unittest.TestCase):
    """One staging install, shared by the tests of this class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="minica-packaging-"))
        cls.stage = cls.tmp / "stage"
        opts = build_options()
        cls.sanitize = opts.get("b_sanitize", "none")
        prefix = pathlib.PurePosixPath(opts["prefix"])
        cls.prefix = cls.stage / prefix.relative_to("/")
        cls.libdir = cls.prefix / opts["libdir"] if not opts["libdir"].startswith("/") \
            else cls.stage / opts["libdir"].lstrip("/")
        cls.includedir = cls.prefix / opts["includedir"] if not opts["includedir"].startswith("/") \
            else cls.stage / opts["includedir"].lstrip("/")
        cls.bindir = cls.prefix / opts["bindir"]
        cls.datadir = cls.prefix / opts["datadir"]
        cls.mandir = cls.prefix / opts["mandir"]
        cls.pcdir = cls.libdir / "pkgconfig"
        cls.installed = json.loads(run(["meson", "introspect", BUILD, "--installed"]))
        # --no-rebuild: the suite runs after the build; rebuilding here could
        # race with edits to the tree.
        run(["meson", "install", "-C", BUILD, "--destdir", cls.stage, "--no-rebuild", "--quiet"], timeout=300)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def sanitizer_flags(self):
        return [] if self.sanitize in ("none", "") else [f"-fsanitize={self.sanitize}"]

    # ---- what is installed --------------------------------------------------

    def test_everything_meson_lists_is_staged(self):
        self.assertTrue(self.installed, "meson lists nothing to install")
        for built, dest in self.installed.items():
            staged = self.stage / dest.lstrip("/")
            self.assertTrue(staged.exists(), f"{built} should be installed as {dest}")

    def test_headers_library_tools_and_pc_file(self):
        for h in PUBLIC_HEADERS:
            self.assertTrue((self.includedir / "minica" / h).is_file(), f"minica/{h} is not installed")
        # Internals are not installed: no public header needs them.
        self.assertFalse((self.includedir / "minica" / "detail").exists())
        self.assertTrue((self.libdir / "libminica.so").exists())
        # The library exports its API and nothing else: no Boost/Asio, JSON,
        # fmt or standard-library code a consumer's own copy could bind to,
        # and no minica::detail.
        exported = run(["nm", "-D", "--defined-only", "-C", self.libdir / "libminica.so"])
        symbols = [line.split(" ", 2)[2] for line in exported.splitlines() if line.count(" ") >= 2]
        self.assertTrue(any(s.startswith("minica::CaDirectory::issue") for s in symbols))
        self.assertTrue(any(s == "typeinfo for minica::Error" for s in symbols))
        strays = [s for s in symbols if not ("minica::" in s and "minica::detail::" not in s)
                  and not s.startswith("MINICA")]
        self.assertEqual(strays, [])
        self.assertTrue(any(self.libdir.glob("libminica.so.*")))
        self.assertTrue((self.pcdir / "minica.pc").is_file())
        for tool in ("minica", "minica-echo"):
            if any(pathlib.PurePosixPath(d).name == tool for d in self.installed.values()):
                path = self.bindir / tool
                self.assertTrue(os.access(path, os.X_OK), f"{path} is not an executable")

    def test_man_pages_and_shell_completion(self):
        # Printed by the programs at build time (tools/docs/meson.build), where
        # Debian's packages put them: man-db, bash-completion, zsh and fish look there.
        for tool in ("minica", "minica-echo"):
            for path in (self.mandir / "man1" / f"{tool}.1",
                         self.datadir / "bash-completion" / "completions" / tool,
                         self.datadir / "zsh" / "vendor-completions" / f"_{tool}",
                         self.datadir / "fish" / "vendor_completions.d" / f"{tool}.fish"):
                self.assertTrue(path.is_file(), f"{path} is not installed")
                self.assertIn(tool, path.read_text(), f"{path} does not describe {tool}")

    def test_pc_file_is_complete_and_relocatable(self):
        pc = (self.pcdir / "minica.pc").read_text()
        fields = dict(re.findall(r"^([A-Za-z.]+):\s*(.*)$", pc, re.M))
        variables = dict(re.findall(r"^(\w+)=(.*)$", pc, re.M))
        self.assertEqual(fields.get("Name"), "minica")
        self.assertIn("-lminica", fields.get("Libs", ""))
        self.assertIn("-I${includedir}", fields.get("Cflags", ""))
        requires = fields.get("Requires", "")
        # The public headers include <openssl/...> and <nlohmann/json_fwd.hpp>.
        self.assertIn("openssl", requires)
        self.assertIn("nlohmann_json", requires)
        # Only the prefix is absolute: the rest follows it when relocated.
        for name, value in variables.items():
            if name != "prefix":
                self.assertTrue(value.startswith("${prefix}"), f"{name}={value} does not follow the prefix")

    def test_installed_headers_compile_on_their_own(self):
        env = clean_env(PKG_CONFIG_PATH=self.pcdir, PKG_CONFIG_SYSROOT_DIR=self.stage)
        cflags = run(["pkg-config", "--cflags", "minica"], env=env).split()
        work = self.tmp / "headers"
        work.mkdir(exist_ok=True)
        sources = []
        installed = sorted(p.name for p in (self.includedir / "minica").glob("*.hpp"))
        self.assertTrue(set(PUBLIC_HEADERS) <= set(installed))
        for h in installed:
            src = work / ("inc_" + h.replace(".hpp", ".cpp"))
            src.write_text(f"#include <minica/{h}>\n#include <minica/{h}>\n")
            sources.append(src)
        cxx = os.environ.get("CXX", "c++")
        run([cxx, "-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
             "-Wno-missing-field-initializers", *cflags, *sources], cwd=work)

    def test_testing_header_pulls_in_no_asio_spdlog_or_json(self):
        env = clean_env(PKG_CONFIG_PATH=self.pcdir, PKG_CONFIG_SYSROOT_DIR=self.stage)
        cflags = run(["pkg-config", "--cflags", "minica"], env=env).split()
        src = self.tmp / "testing_deps.cpp"
        src.write_text("#include <minica/testing.hpp>\n")
        deps = run([os.environ.get("CXX", "c++"), "-std=c++20", "-M", *cflags, src])
        self.assertNotIn("asio", deps)
        self.assertNotIn("spdlog", deps)
        self.assertNotRegex(deps, r"nlohmann/json\.hpp")  # json_fwd.hpp (through certificate.hpp) only
        self.assertIn(str(self.includedir / "minica" / "testing.hpp"), deps.replace("\\\n", ""))

    # ---- consumers ------------------------------------------------------------

    def test_consumer_meson_through_pkg_config_sysroot(self):
        if missing_tools("meson", "ninja", "pkg-config"):
            self.skipTest("needs meson, ninja and pkg-config")
        build = self.tmp / "consumer-meson"
        env = clean_env(PKG_CONFIG_PATH=self.pcdir, PKG_CONFIG_SYSROOT_DIR=self.stage)
        setup = ["meson", "setup", build, SOURCE / "examples" / "consumer-meson"]
        if self.sanitizer_flags():
            setup.append(f"-Db_sanitize={self.sanitize}")
        log = run(setup, env=env)
        self.assertRegex(log, r"Run-time dependency minica found: YES 0\.\d+\.\d+")
        run(["ninja", "-C", build], env=env)
        self.check_consumer(build / "consumer")

    def test_consumer_cmake_through_pkg_check_modules(self):
        if missing_tools("cmake", "pkg-config"):
            self.skipTest("needs cmake and pkg-config")
        # A prefix-relocated minica.pc: the staged one with prefix= pointing into the stage.
        pcdir = self.tmp / "relocated-pc"
        pcdir.mkdir(exist_ok=True)
        pc = (self.pcdir / "minica.pc").read_text()
        (pcdir / "minica.pc").write_text(re.sub(r"(?m)^prefix=.*$", f"prefix={self.prefix}", pc))
        build = self.tmp / "consumer-cmake"
        env = clean_env(PKG_CONFIG_PATH=pcdir)
        configure = ["cmake", "-S", SOURCE / "examples" / "consumer-cmake", "-B", build,
                     "-DCMAKE_BUILD_TYPE=Debug"]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        if self.sanitizer_flags():
            flags = " ".join(self.sanitizer_flags())
            configure += [f"-DCMAKE_CXX_FLAGS={flags}", f"-DCMAKE_EXE_LINKER_FLAGS={flags}"]
        log = run(configure, env=env)
        self.assertIn("Checking for module 'minica", log)
        run(["cmake", "--build", build], env=env)
        self.check_consumer(build / "consumer")

    def check_consumer(self, exe):
        env = clean_env(LD_LIBRARY_PATH=self.libdir)
        out = run(["ldd", exe], env=env)
        line = next((l for l in out.splitlines() if "libminica" in l), "")
        self.assertIn(str(self.libdir), line, f"the consumer should load the staged library:\n{out}")
        out = run([exe], env=env, timeout=120)
        self.assertRegex(out, EXPECTED_OUTPUT)


class Subproject(unittest.TestCase):
    def test_meson_subproject_with_override_dependency(self):
        if missing_tools("meson", "ninja"):
            self.skipTest("needs meson and ninja")
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="minica-subproject-"))
        try:
            (tmp / "subprojects").mkdir()
            (tmp / "subprojects" / "minica").symlink_to(SOURCE, target_is_directory=True)
            shutil.copy(SOURCE / "examples" / "consumer-meson" / "main.cpp", tmp / "main.cpp")
            (tmp / "meson.build").write_text(
                "project('uses-minica', 'cpp', default_options : ['cpp_std=c++20'])\n"
                "minica_dep = dependency('minica')\n"
                "executable('consumer', 'main.cpp', dependencies : minica_dep)\n")
            sanitize = build_options().get("b_sanitize", "none")
            setup = ["meson", "setup", tmp / "build", tmp, "--force-fallback-for=minica",
                     "-Dminica:tests=false", "-Dminica:bench=false", "-Dminica:examples=false"]
            if sanitize not in ("none", ""):
                setup.append(f"-Db_sanitize={sanitize}")
            log = run(setup, env=clean_env())
            self.assertIn("Executing subproject minica", log)
            self.assertRegex(log, r"Dependency minica found: YES .*\(overridden\)")
            # Only what the consumer needs: the library, not the tools.
            run(["ninja", "-C", tmp / "build", "consumer"], env=clean_env(), timeout=900)
            out = run([tmp / "build" / "consumer"], env=clean_env(), timeout=120)
            self.assertRegex(out, EXPECTED_OUTPUT)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    if missing_tools("meson"):
        print("e2e_packaging: meson is not installed")
        print("0 passed, 1 failed")
        return 1
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    problems = result.failures + result.errors
    # A failing setUpClass is reported against a placeholder, not a test that ran.
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
