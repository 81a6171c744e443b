// Precompiled header of the minica CLI: CLI11 and nlohmann/json dominate the
// compile time of every verb file.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
