// Reads a CLI11 option tree into a CommandDoc and prints it as a bash, zsh
// or fish completion script or a man page. The scripts hold data (each verb's
// options, which take a value, their choices) and one small fixed function:
// the data is what --help shows, so a new verb or option needs no edit here.
#include "cli_docs.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string_view>

namespace minica::cli_docs {
namespace {

// ---- reading the option tree ------------------------------------------------------

// CLI11 keeps an IsMember check's set only inside the check; its description,
// which --help shows after the type ("TEXT:{ec-p256,rsa-2048}"), is the one
// place it can be read back.
std::vector<std::string> choices_of(const std::string& type_name) {
    std::vector<std::string> out;
    auto open = type_name.find(":{");
    auto close = type_name.find('}', open);
    if (open == std::string::npos || close == std::string::npos) return out;
    std::istringstream items(type_name.substr(open + 2, close - open - 2));
    for (std::string item; std::getline(items, item, ',');) out.push_back(item);
    return out;
}

OptionDoc option_doc(const CLI::Option& opt) {
    OptionDoc d;
    for (const auto& s : opt.get_snames()) d.flags.push_back("-" + s);
    for (const auto& l : opt.get_lnames()) d.flags.push_back("--" + l);
    if (d.flags.empty()) d.positional = opt.get_name(true);
    if (opt.get_type_size_max() > 0) {
        std::string type = opt.get_type_name();
        d.value = type.substr(0, type.find(':'));
        if (d.value.empty()) d.value = "VALUE";  // an option with no type name still takes one
        d.choices = choices_of(type);
    }
    d.description = opt.get_description();
    d.required = opt.get_required();
    d.repeatable = opt.get_items_expected_max() > 1;
    return d;
}

// Options of `app` and of its option groups (CLI11's nameless subcommands),
// less the hidden ones.
void add_options(CLI::App& app, std::vector<OptionDoc>& out) {
    for (CLI::Option* opt : app.get_options([](CLI::Option* o) { return !o->get_group().empty(); }))
        out.push_back(option_doc(*opt));
    for (CLI::App* group : app.get_subcommands([](CLI::App* s) { return s->get_name().empty(); }))
        add_options(*group, out);
}

// ---- shared by the renderers ---------------------------------------------------------

std::vector<const OptionDoc*> named_options(const CommandDoc& c) {
    std::vector<const OptionDoc*> out;
    for (const auto& o : c.options)
        if (!o.flags.empty()) out.push_back(&o);
    return out;
}

bool has_positional(const CommandDoc& c) {
    for (const auto& o : c.options)
        if (o.flags.empty()) return true;
    return false;
}

// A verb with fallthrough also takes its program's options: the completion
// of "minica sign -" offers --ca-dir too (but one -h/--help, the verb's).
CommandDoc with_inherited(const CommandDoc& verb, const CommandDoc& program) {
    CommandDoc v = verb;
    if (!v.fallthrough) return v;
    std::vector<std::string> own;
    for (const OptionDoc* o : named_options(verb)) own.insert(own.end(), o->flags.begin(), o->flags.end());
    for (const OptionDoc* o : named_options(program))
        if (std::find(own.begin(), own.end(), o->flags.front()) == own.end()) v.options.push_back(*o);
    return v;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : std::string(sep)) + s;
    return out;
}

// 'text' for a POSIX shell (bash, zsh): the quote closed, escaped, reopened.
std::string sh_quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Function names allow no '-': minica-echo's are _minica_echo*.
std::string ident(std::string s) {
    for (char& c : s)
        if (c == '-') c = '_';
    return s;
}

// ---- bash ---------------------------------------------------------------------------------

// `case "$1 $2"` data: "VERB OPTION" patterns ("" is the program itself).
void bash_case(std::ostream& out, const std::string& fn, const std::string& comment,
               const std::vector<std::pair<std::string, std::string>>& arms, const std::string& otherwise) {
    out << "# " << comment << "\n" << fn << "() {\n    case \"$1 $2\" in\n";
    for (const auto& [pattern, result] : arms) out << "    " << sh_quote(pattern) << ") " << result << " ;;\n";
    out << "    esac\n" << (otherwise.empty() ? "" : "    " + otherwise + "\n") << "}\n";
}

// The fixed part. Bash splits "--key=ec" at '=' (COMP_WORDBREAKS): an '='
// word is looked through. Needs nothing from the bash-completion package.
constexpr const char* bash_function = R"(@() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} verb= i w
    if [[ $cur == = ]]; then cur=; elif [[ $prev == = ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi
    # The verb: the first word that is neither an option nor an option's value.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w != -* ]]; then verb=$w; break; fi
        if @_takes_value "" "$w"; then
            ((i++)); [[ ${COMP_WORDS[i]} == = ]] && ((i++))
        fi
    done
    if [[ $prev == -* ]] && @_takes_value "$verb" "$prev"; then
        w=$(@_choices "$verb" "$prev")
        if [[ -z $w ]]; then compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return; fi
    elif [[ $cur == -* ]]; then
        w=$(@_options "$verb")
    elif [[ -z $verb ]]; then
        w=$(@_options "" verbs)
    else
        compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return
    fi
    mapfile -t COMPREPLY < <(compgen -W "$w" -- "$cur")
}
)";

void bash_verb_data(const CommandDoc& c, std::vector<std::pair<std::string, std::string>>& options,
                    std::vector<std::pair<std::string, std::string>>& values,
                    std::vector<std::pair<std::string, std::string>>& choices) {
    std::vector<std::string> all;
    for (const OptionDoc* o : named_options(c))
        for (const auto& f : o->flags) {
            all.push_back(f);
            if (!o->value.empty()) values.push_back({c.name + " " + f, "return 0"});
            if (!o->choices.empty()) choices.push_back({c.name + " " + f, "echo " + sh_quote(join(o->choices, " "))});
        }
    options.push_back({c.name + " ", "echo " + sh_quote(join(all, " "))});
}


// ---- zsh ----------------------------------------------------------------------------------

// Text inside an _arguments spec's [explanation] or :message:, its
// delimiters escaped; `extra` adds those of an action's (choice list) items.
std::string zsh_escape(std::string_view s, std::string_view extra = "") {
    std::string out;
    for (char c : s) {
        if (c == ']' || c == ':' || c == '\\' || extra.find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

// One _arguments spec per name: '*--permit[explanation]:TEXT:_files'.
void zsh_specs(const CommandDoc& c, std::ostream& out, const std::string& indent) {
    for (const auto& o : c.options) {
        std::string action = "_files";
        if (!o.choices.empty()) {
            std::vector<std::string> items;
            for (const auto& ch : o.choices) items.push_back(zsh_escape(ch, " ()"));
            action = "(" + join(items, " ") + ")";
        }
        if (o.flags.empty()) {
            out << indent << sh_quote((o.repeatable ? "*:" : ":") + zsh_escape(o.positional) + ":" + action) << " \\\n";
            continue;
        }
        for (const auto& f : o.flags) {
            std::string spec = (o.repeatable ? "*" : "") + f + "[" + zsh_escape(o.description) + "]";
            if (!o.value.empty()) spec += ":" + zsh_escape(o.value) + ":" + action;
            out << indent << sh_quote(spec) << " \\\n";
        }
    }
}

// ---- fish ---------------------------------------------------------------------------------

// 'text' for fish: backslash and quote escaped.
std::string fish_quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

// One `complete` line per option, under `condition` (empty: always).
void fish_options(const std::string& program, const CommandDoc& c, const std::string& condition, std::ostream& out) {
    for (const OptionDoc* o : named_options(c)) {
        out << "complete -c " << program;
        if (!condition.empty()) out << " -n " << fish_quote(condition);
        for (const auto& f : o->flags) out << (f.starts_with("--") ? " -l " + f.substr(2) : " -s " + f.substr(1));
        if (!o->choices.empty()) out << " -x -a " << fish_quote(join(o->choices, " "));
        else if (!o->value.empty()) out << " -r -F";
        out << " -d " << fish_quote(o->description) << "\n";
    }
}

// ---- man ----------------------------------------------------------------------------------

// Text for roff: backslashes printed, a '-' that starts a word (an option
// named in prose) a real minus so that it can be copied, and no line
// beginning with a control character.
std::string roff(std::string_view s) {
    std::string out;
    char before = ' ';
    for (char c : s) {
        if ((before == '\n') && (c == '.' || c == '\'')) out += "\\&";
        if (c == '\\') out += "\\e";
        else if (c == '-' && (before == ' ' || before == '\n' || before == '(' || before == '-' || before == '"' ||
                              before == '/' || before == '['))
            out += "\\-";
        else out += c;
        before = c;
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out;
}

// An option's name: every '-' a minus (a hyphen would not paste into a shell).
std::string roff_flag(const std::string& flag) {
    std::string out;
    for (char c : flag) out += c == '-' ? std::string("\\-") : std::string(1, c);
    return out;
}

std::string man_option_head(const OptionDoc& o) {
    if (o.flags.empty()) return "\\fI" + roff(o.positional) + "\\fR" + (o.repeatable ? " ..." : "");
    std::vector<std::string> names;
    for (const auto& f : o.flags) names.push_back("\\fB" + roff_flag(f) + "\\fR");
    std::string head = join(names, ", ");
    if (!o.value.empty()) head += " \\fI" + roff(o.value) + "\\fR";
    return head;
}

void man_options(const CommandDoc& c, std::ostream& out) {
    for (const auto& o : c.options) {
        out << ".TP\n" << man_option_head(o) << "\n" << roff(o.description) << "\n";
        if (!o.choices.empty()) out << ".br\nOne of: " << roff(join(o.choices, ", ")) << ".\n";
        if (o.required) out << ".br\nRequired.\n";
    }
}

// A footer is laid out by hand (aligned lists of exit codes): kept as it is.
void man_footer(const std::string& footer, std::ostream& out) {
    if (footer.empty()) return;
    out << ".PP\n.nf\n" << roff(footer) << "\n.fi\n";
}

// "minica-echo: mTLS echo server..." -> "mTLS echo server..."
std::string summary(const CommandDoc& program) {
    std::string prefix = program.name + ": ";
    return program.description.starts_with(prefix) ? program.description.substr(prefix.size()) : program.description;
}

std::string man_usage(const CommandDoc& verb) {
    std::string usage = "[\\fIOPTIONS\\fR]";
    for (const auto& o : verb.options)
        if (o.flags.empty()) {
            std::string arg = "\\fI" + roff(o.positional) + "\\fR" + (o.repeatable ? " ..." : "");
            usage += " " + (o.required ? arg : "[" + arg + "]");
        }
    return usage;
}

}  // namespace

CommandDoc describe(CLI::App& app) {
    CommandDoc d;
    // A program's App without a name takes argv[0], a path: the name is its last part.
    d.name = app.get_parent() ? app.get_name() : std::filesystem::path(app.get_name()).filename().string();
    d.description = app.get_description();
    d.footer = app.get_footer();
    d.fallthrough = app.get_fallthrough();
    add_options(app, d.options);
    // Hidden verbs (empty group) and option groups (no name) are not verbs.
    for (CLI::App* sub : app.get_subcommands([](CLI::App* s) { return !s->get_name().empty() && !s->get_group().empty(); }))
        d.verbs.push_back(describe(*sub));
    return d;
}

void print_bash(const CommandDoc& program, std::ostream& out) {
    const std::string fn = "_" + ident(program.name);
    std::vector<std::pair<std::string, std::string>> options, values, choices;
    CommandDoc top = program;
    top.name = "";
    bash_verb_data(top, options, values, choices);
    std::vector<std::string> verbs;
    for (const auto& v : program.verbs) {
        bash_verb_data(with_inherited(v, program), options, values, choices);
        verbs.push_back(v.name);
    }
    options.push_back({" verbs", "echo " + sh_quote(join(verbs, " "))});
    out << "# bash completion for " << program.name << ", generated by `" << program.name
        << " __describe --format bash` from the options --help shows: do not edit.\n\n";
    bash_case(out, fn + "_options", "the options of verb $1 (\"\": the program's); with $2 = verbs, the verbs", options, "");
    bash_case(out, fn + "_takes_value", "whether option $2 of verb $1 takes a value", values, "return 1");
    bash_case(out, fn + "_choices", "the values option $2 of verb $1 accepts, when a fixed set", choices, "");
    std::string body = bash_function;
    for (auto at = body.find('@'); at != std::string::npos; at = body.find('@', at + fn.size()))
        body.replace(at, 1, fn);
    out << body << "complete -F " << fn << " " << program.name << "\n";
}


void print_zsh(const CommandDoc& program, std::ostream& out) {
    const std::string fn = "_" + ident(program.name);
    out << "#compdef " << program.name << "\n# zsh completion for " << program.name << ", generated by `"
        << program.name << " __describe --format zsh` from the options --help shows: do not edit.\n\n"
        << fn << "() {\n    local curcontext=$curcontext state line ret=1\n    _arguments -C \\\n";
    zsh_specs(program, out, "        ");
    out << "        ':verb:->verb' \\\n        '*:: :->args' && ret=0\n    case $state in\n"
        << "    verb)\n        local -a verbs=(\n";
    for (const auto& v : program.verbs) out << "            " << sh_quote(zsh_escape(v.name) + ":" + v.description) << "\n";
    out << "        )\n        _describe -t verbs verb verbs && ret=0 ;;\n    args)\n"
        << "        curcontext=${curcontext%:*:*}:" << program.name << "-$words[1]:\n        case $words[1] in\n";
    for (const auto& v : program.verbs) {
        out << "        " << sh_quote(v.name) << ")\n            _arguments \\\n";
        zsh_specs(with_inherited(v, program), out, "                ");
        out << "                && ret=0 ;;\n";
    }
    out << "        esac ;;\n    esac\n    return ret\n}\n\n" << fn << " \"$@\"\n";
}

void print_fish(const CommandDoc& program, std::ostream& out) {
    const std::string& p = program.name;
    out << "# fish completion for " << p << ", generated by `" << p
        << " __describe --format fish` from the options --help shows: do not edit.\n"
        << "# File names only where a value or argument is one.\ncomplete -c " << p << " -f\n";
    std::vector<std::string> names;
    for (const auto& v : program.verbs) names.push_back(v.name);
    const std::string no_verb = "not __fish_seen_subcommand_from " + join(names, " ");
    fish_options(p, program, program.verbs.empty() || program.verbs.front().fallthrough ? "" : no_verb, out);
    for (const auto& v : program.verbs) {
        out << "complete -c " << p << " -n " << fish_quote(no_verb) << " -a " << fish_quote(v.name) << " -d "
            << fish_quote(v.description) << "\n";
        const std::string in_verb = "__fish_seen_subcommand_from " + v.name;
        fish_options(p, v, in_verb, out);
        if (has_positional(v)) out << "complete -c " << p << " -n " << fish_quote(in_verb) << " -F\n";
    }
}

void print_man(const CommandDoc& program, const std::string& source, std::ostream& out) {
    std::string upper = program.name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out << ".\\\" generated by `" << program.name
        << " __describe --format man` from the options --help shows: do not edit.\n"
        << ".TH " << upper << " 1 \"\" \"" << roff(source) << "\" \"User Commands\"\n"
        << ".\\\" no hyphenation or justification: paths and option names stay whole\n.nh\n.ad l\n"
        << ".SH NAME\n" << roff(program.name) << " \\- " << roff(summary(program)) << "\n"
        << ".SH SYNOPSIS\n.B " << roff(program.name) << "\n[\\fIOPTIONS\\fR] \\fIVERB\\fR [\\fIVERB OPTIONS\\fR]\n"
        << ".SH DESCRIPTION\n.B " << roff(program.name) << "\ntakes one verb and its options.\n"
        << (!program.verbs.empty() && program.verbs.front().fallthrough
                ? "The options below are accepted before the verb, or after it.\n"
                : "The options below go before the verb.\n")
        << "Each verb's own follow under VERBS;\n.B " << roff(program.name + " VERB --help")
        << "\nprints them too.\n.SH OPTIONS\n";
    man_options(program, out);
    out << ".SH VERBS\n";
    for (const auto& v : program.verbs) {
        out << ".SS \"" << roff(program.name + " " + v.name) << " " << man_usage(v) << "\"\n"
            << roff(v.description) << "\n";
        man_options(v, out);
        if (v.footer != program.footer) man_footer(v.footer, out);
    }
    man_footer(program.footer, out);
}

DescribeVerb add_describe_verb(CLI::App& app) {
    struct Args {
        std::string format;
        std::string source;
    };
    auto args = std::make_shared<Args>();
    CLI::App* cmd = app.add_subcommand("__describe", "print shell completion or a man page for this program");
    cmd->group("");  // hidden: a tool of the build, not of the user
    cmd->add_option("--format", args->format, "bash, zsh, fish or man")
        ->required()
        ->check(CLI::IsMember({"bash", "zsh", "fish", "man"}));
    cmd->add_option("--source", args->source, "the man page's footer, e.g. \"minica 0.1.0\"");
    return {cmd, [&app, args] {
                const CommandDoc doc = describe(app);
                if (args->format == "bash") print_bash(doc, std::cout);
                else if (args->format == "zsh") print_zsh(doc, std::cout);
                else if (args->format == "fish") print_fish(doc, std::cout);
                else print_man(doc, args->source.empty() ? doc.name : args->source, std::cout);
            }};
}

}  // namespace minica::cli_docs
