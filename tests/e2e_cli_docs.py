#!/usr/bin/env python3
"""Shell completion and man pages, as the build generates them
(`PROGRAM __describe`, tools/common/cli_docs.hpp) into BUILD/tools/docs.

The drift test reads what `PROGRAM VERB --help` prints, verb by verb, and
checks that every option is completed by bash, listed by zsh and fish and
documented in the man page, and that the completion offers nothing else.
Bash completion is driven for real: the script sourced in `bash --norc`,
its function called with COMP_WORDS/COMP_CWORD. The man pages render under
`groff -ww` without a warning; zsh/fish scripts parse (`-n`) where the shell
is installed.
"""
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

from cli_common import BUILD, KEY_TYPES, main

DOCS = os.path.join(BUILD, "tools", "docs")
PROGRAMS = {
    "minica": os.path.join(BUILD, "tools", "minica", "minica"),
    "minica-echo": os.path.join(BUILD, "tools", "minica-echo", "minica-echo"),
}
HELP_OPTION = re.compile(r"^  (-[^\s]+)")  # "  -v,--verbose   log..." or "  --key TEXT:{...}"
CHOICES = re.compile(r"^  (--[\w-]+) [A-Z]+:\{([^}]*)\}", re.M)


def run(args, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, **kw)
    return p


def help_text(prog, *verb):
    p = run([PROGRAMS[prog], *verb, "--help"], stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{prog} {' '.join(verb)} --help: {p.returncode}\n{p.stderr}"
    return p.stdout


def help_options(text):
    """The option names an --help text lists: {"-v", "--verbose", ...}."""
    out = set()
    for line in text.splitlines():
        m = HELP_OPTION.match(line)
        if m:
            out.update(n for n in m.group(1).split(",") if n.startswith("-"))
    return out


def help_verbs(text):
    """The verbs under "Subcommands:" in the program's --help."""
    verbs = []
    lines = text.splitlines()
    start = lines.index("Subcommands:") + 1
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        verbs.append(line.split()[0])
    return verbs


def complete(prog, words, cwd=None):
    """What the generated bash completion offers for `words` (the last one
    being completed): the function `complete -p PROG` names, called the way
    bash calls it."""
    script = os.path.join(DOCS, prog)
    words = [prog] + words
    cmd = (f"source {shlex.quote(script)} || exit 9\n"
           f"fn=$(complete -p {prog}) || exit 8; fn=${{fn#*-F }}; fn=${{fn%% *}}\n"
           f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
           f"COMP_LINE={shlex.quote(' '.join(words))}; COMP_POINT=${{#COMP_LINE}}\n"
           '"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
           'printf "%s\\n" "${COMPREPLY[@]}"\n')
    p = run(["bash", "--norc", "--noprofile", "-c", cmd], cwd=cwd)
    assert p.returncode == 0 and not p.stderr, f"bash: {p.returncode}\n{p.stderr}"
    return {w for w in p.stdout.splitlines() if w}


# Completes a command line in an interactive zsh on a pseudo-terminal (zsh
# completes only inside its line editor): compadd is wrapped to print each
# match after a \x01 marker, and the shell exits once completion is done.
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" insert-tab false'
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a h; builtin compadd -A h "$@"; (( $#h )) && print -rl -- $'"'"'\x01'"'"'${^h}; }'
zpty -w z 'bindkey "^I" complete-word; comppostfuncs=(exit)'
zpty -w z "$2"$'\t'
local line
while zpty -r z line; do print -rn -- $line; done
"""


def zsh_complete(line):
    with tempfile.NamedTemporaryFile("w", suffix=".zsh") as driver:
        driver.write(ZSH_DRIVER)
        driver.flush()
        p = run(["zsh", "-f", driver.name, DOCS, line])
    return {m.split("\r")[0] for m in re.findall(r"\x01([^\n]*)", p.stdout)}


def man_text(prog):
    """The man page as man shows it, in plain ASCII (no overstriking)."""
    p = run(["groff", "-man", "-Tascii", "-P-c", "-P-b", "-P-u", os.path.join(DOCS, prog + ".1")])
    assert p.returncode == 0, p.stderr
    return p.stdout


def man_sections(prog, text, verbs):
    """Each verb's part of the man page: from its heading to the next."""
    starts = {}
    for v in verbs:
        m = re.search(rf"^ +{re.escape(prog)} {re.escape(v)} ", text, re.M)
        assert m, f"no section for {prog} {v} in the man page"
        starts[v] = m.start()
    ends = sorted(starts.values()) + [len(text)]
    return {v: text[s:ends[ends.index(s) + 1]] for v, s in starts.items()}


class CliDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [f for p in PROGRAMS for f in (p, "_" + p, p + ".fish", p + ".1")
                   if not os.path.isfile(os.path.join(DOCS, f))]
        if missing:
            raise AssertionError(f"not generated in {DOCS}: {missing} (build the default targets)")
        cls.verbs = {p: help_verbs(help_text(p)) for p in PROGRAMS}
        cls.globals = {p: help_options(help_text(p)) for p in PROGRAMS}

    def verb_options(self, prog, verb):
        return help_options(help_text(prog, verb))

    # ---- bash, driven ------------------------------------------------------------

    def test_bash_completes_a_verb_from_its_prefix(self):
        self.assertEqual(complete("minica", ["si"]), {"sign"})
        self.assertEqual(complete("minica", ["re"]), {"revoke", "renew"} & set(self.verbs["minica"]))

    def test_bash_offers_every_verb_and_no_hidden_one(self):
        for prog in PROGRAMS:
            with self.subTest(prog=prog):
                self.assertGreater(len(self.verbs[prog]), 2)
                self.assertEqual(complete(prog, [""]), set(self.verbs[prog]))
                self.assertNotIn("__describe", help_text(prog))

    def test_bash_completes_an_option_prefix_with_options_that_exist(self):
        want = {o for o in self.verb_options("minica", "sign") | self.globals["minica"] if o.startswith("--p")}
        self.assertIn("--passphrase-file", want)
        self.assertEqual(complete("minica", ["sign", "--p"]), want)
        self.assertEqual(complete("minica", ["sign", "--no-such-thing"]), set())

    def test_bash_completes_key_types_and_other_fixed_choices(self):
        self.assertEqual(complete("minica", ["sign", "--key", ""]), set(KEY_TYPES))
        self.assertEqual(complete("minica", ["init", "--key", "rsa"]), {k for k in KEY_TYPES if k.startswith("rsa")})
        # "--key=ec": bash splits the word at '='.
        self.assertEqual(complete("minica", ["sign", "--key", "=", "e"]), {k for k in KEY_TYPES if k[0] == "e"})
        self.assertIn("keyCompromise", complete("minica", ["revoke", "--reason", ""]))
        self.assertEqual(complete("minica-echo", ["--log-level", "w"]), {"warn"})

    def test_bash_skips_a_global_option_value_to_find_the_verb(self):
        self.assertEqual(complete("minica", ["--ca-dir", "/tmp", "sign", "--ke"]), {"--key"})
        # "sign" as --ca-dir's value is not the verb: no verb, no --key.
        self.assertEqual(complete("minica", ["--ca-dir", "sign", "--ke"]), set())
        self.assertEqual(complete("minica", ["--ca-dir", "=", "/tmp", "sign", "--ke"]), {"--key"})

    def test_bash_completes_file_names_for_values_and_arguments(self):
        with tempfile.TemporaryDirectory() as d:
            for name in ("ca.pem", "cert.pem", "key.pem"):
                open(os.path.join(d, name), "w").close()
            self.assertEqual(complete("minica", ["inspect", "c"], cwd=d), {"ca.pem", "cert.pem"})
            self.assertEqual(complete("minica-echo", ["serve", "--cert", "ce"], cwd=d), {"cert.pem"})

    def test_bash_completes_echo_serve_options(self):
        got = complete("minica-echo", ["serve", "--"])
        want = {o for o in self.verb_options("minica-echo", "serve") | self.globals["minica-echo"] if o[1] == "-"}
        self.assertIn("--handshake-timeout", got)
        self.assertEqual(got, want)

    # ---- drift: every option --help prints, everywhere -----------------------------

    def test_every_help_option_is_completed_listed_and_documented(self):
        for prog in PROGRAMS:
            man = man_text(prog)
            zsh = pathlib.Path(DOCS, "_" + prog).read_text()
            fish = pathlib.Path(DOCS, prog + ".fish").read_text()
            sections = man_sections(prog, man, self.verbs[prog])
            for verb in self.verbs[prog]:
                opts = self.verb_options(prog, verb)
                with self.subTest(prog=prog, verb=verb):
                    self.assertIn("--help", opts)
                    offered = complete(prog, [verb, "-"])
                    self.assertEqual(offered, opts | self.globals[prog])
                    zsh_verb = zsh[zsh.index(f"\n        '{verb}')"):]
                    fish_verb = f"-n '__fish_seen_subcommand_from {verb}'"
                    for o in opts:
                        self.assertRegex(sections[verb], rf"(^|[\s,]){re.escape(o)}\b", f"{o} not in man {verb}")
                        self.assertRegex(zsh_verb.split(";;")[0], rf"'\*?{re.escape(o)}\[", f"{o} not in zsh {verb}")
                        flag = f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}"
                        self.assertRegex(fish, rf"{re.escape(fish_verb)}[^\n]* {flag}( |$)", f"{o} not in fish {verb}")

    def test_every_choice_help_prints_is_completed(self):
        for prog in PROGRAMS:
            for verb in [None] + self.verbs[prog]:
                text = help_text(prog, *([verb] if verb else []))
                for option, choices in CHOICES.findall(text):
                    with self.subTest(prog=prog, verb=verb, option=option):
                        words = ([verb] if verb else []) + [option, ""]
                        self.assertEqual(complete(prog, words), set(choices.split(",")))

    def test_man_page_names_the_program_and_documents_global_options(self):
        for prog in PROGRAMS:
            man = man_text(prog)
            with self.subTest(prog=prog):
                self.assertRegex(man, rf"NAME\n +{re.escape(prog)} +- +\S")
                for o in self.globals[prog]:
                    self.assertRegex(man, rf"(^|[\s,]){re.escape(o)}\b")
        # A footer laid out by hand keeps its layout.
        self.assertRegex(man_text("minica-echo"), r"\n +4 +the server's certificate failed verification")

    # ---- the files are well-formed -----------------------------------------------------

    def test_man_pages_render_without_warnings(self):
        for prog in PROGRAMS:
            with self.subTest(prog=prog):
                p = run(["groff", "-man", "-Tutf8", "-ww", "-z", os.path.join(DOCS, prog + ".1")])
                self.assertEqual((p.returncode, p.stderr), (0, ""))

    def test_zsh_and_fish_scripts_parse(self):
        shells = [s for s in ("zsh", "fish") if shutil.which(s)]
        if not shells:
            self.skipTest("neither zsh nor fish is installed")
        for prog in PROGRAMS:
            for shell, name in (("zsh", "_" + prog), ("fish", prog + ".fish")):
                if shell in shells:
                    with self.subTest(shell=shell, prog=prog):
                        p = run([shell, "-n", os.path.join(DOCS, name)])
                        self.assertEqual((p.returncode, p.stderr), (0, ""))

    def test_zsh_completes_verbs_options_and_choices(self):
        if not shutil.which("zsh"):
            self.skipTest("zsh is not installed")
        self.assertEqual(zsh_complete("minica si"), {"sign"})
        self.assertEqual(zsh_complete("minica sign --key "), set(KEY_TYPES))
        want = {o for o in self.verb_options("minica", "sign") if o.startswith("--p")}
        self.assertEqual(zsh_complete("minica sign --p"), want)
        self.assertEqual(zsh_complete("minica --ca-dir /tmp sign --ke"), {"--key"})
        self.assertEqual(zsh_complete("minica-echo serve --ha"), {"--handshake-timeout"})

    def test_fish_completes_verbs_options_and_choices(self):
        if not shutil.which("fish"):
            self.skipTest("fish is not installed")

        def fish(prog, line):
            script = os.path.join(DOCS, prog + ".fish")
            p = run(["fish", "--no-config", "-c", f"source {shlex.quote(script)}; complete -C {shlex.quote(line)}"])
            self.assertEqual(p.stderr, "")
            return {c.split("\t")[0] for c in p.stdout.splitlines()}

        self.assertEqual(fish("minica", "minica si"), {"sign"})
        self.assertEqual(fish("minica", "minica sign --key "), set(KEY_TYPES))
        want = {o for o in self.verb_options("minica", "sign") if o.startswith("--p")}
        self.assertEqual(fish("minica", "minica sign --p"), want)
        self.assertEqual(fish("minica-echo", "minica-echo serve --ha"), {"--handshake-timeout"})

    def test_the_describe_verb_refuses_an_unknown_format(self):
        p = run([PROGRAMS["minica"], "__describe", "--format", "html"], stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    main()
