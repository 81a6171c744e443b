#include "minica/log.hpp"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace minica {

std::shared_ptr<spdlog::logger> logger() {
    static std::mutex m;
    std::lock_guard lock(m);
    if (auto existing = spdlog::get("minica")) return existing;
    auto created = spdlog::stderr_color_mt("minica");
    created->set_level(spdlog::level::warn);
    return created;
}

}  // namespace minica
