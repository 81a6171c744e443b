// Shell completion and man pages for minica's programs, generated from the
// CLI11 option tree that also prints --help, so neither can drift from it.
// CLI11 has no completion generator and help2man sees only the top-level
// --help; so each program carries a hidden verb,
//
//   PROGRAM __describe --format bash|zsh|fish|man [--source TEXT]
//
// that walks its own CLI::App and prints one of them. The build runs it
// (tools/docs/meson.build) and installs the results.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace minica::cli_docs {

// One option or positional argument, as --help shows it.
struct OptionDoc {
    std::vector<std::string> flags;    // "-v", "--verbose"; empty for a positional
    std::string positional;            // "names"; empty for an option
    std::string value;                 // the value's kind ("TEXT", "INT"); empty for a flag
    std::string description;
    std::vector<std::string> choices;  // the values an IsMember check accepts, else empty
    bool required = false;
    bool repeatable = false;
};

// The program or one of its verbs. Hidden verbs and options (empty group,
// as CLI11 hides them from --help) are left out.
struct CommandDoc {
    std::string name;
    std::string description;
    std::string footer;
    std::vector<OptionDoc> options;
    std::vector<CommandDoc> verbs;
    bool fallthrough = false;  // the parent's options are accepted after this verb too
};

CommandDoc describe(CLI::App& app);

// Each prints a complete file. `source` is the man page's footer ("minica 0.1.0").
void print_bash(const CommandDoc& program, std::ostream& out);
void print_zsh(const CommandDoc& program, std::ostream& out);
void print_fish(const CommandDoc& program, std::ostream& out);
void print_man(const CommandDoc& program, const std::string& source, std::ostream& out);

// Adds the hidden verb __describe to `app`. Call `run` once `command` was
// parsed: it describes `app` as it is then, so add it after every other verb.
struct DescribeVerb {
    CLI::App* command;
    std::function<void()> run;
};
DescribeVerb add_describe_verb(CLI::App& app);

}  // namespace minica::cli_docs
