// The library never prints (DESIGN §11): it logs through the spdlog logger
// named "minica", created on first use with a stderr sink at level "warn".
// Programs replace or silence it with spdlog::register_logger / set_level.
#pragma once

#include <memory>

namespace spdlog { class logger; }

namespace minica {
std::shared_ptr<spdlog::logger> logger();
}
