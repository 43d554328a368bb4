#include "hlstm/core/log.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace hlstm::log {
namespace {
int gRank = 0;
Level gMin = Level::kInfo;
std::mutex gMutex;
const auto gStart = std::chrono::steady_clock::now();
thread_local std::string tContext;

const char* name(Level level) {
    switch (level) {
        case Level::kDebug: return "DEBUG";
        case Level::kInfo: return "INFO ";
        case Level::kWarn: return "WARN ";
        case Level::kError: return "ERROR";
    }
    return "?";
}
}  // namespace

void init(int rank, Level minLevel) {
    gRank = rank;
    gMin = minLevel;
}

bool enabled(Level level) { return static_cast<int>(level) >= static_cast<int>(gMin); }

double elapsed() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - gStart).count(); }

void write(Level level, const std::string& text) {
    std::lock_guard<std::mutex> lock(gMutex);
    if (tContext.empty())
        std::fprintf(stderr, "%9.3f [r%d] %s %s\n", elapsed(), gRank, name(level), text.c_str());
    else
        std::fprintf(stderr, "%9.3f [r%d] %s [%s] %s\n", elapsed(), gRank, name(level), tContext.c_str(), text.c_str());
    std::fflush(stderr);
}

Context::Context(std::string what) : previous_(std::move(tContext)) { tContext = std::move(what); }

Context::~Context() { tContext = std::move(previous_); }

}  // namespace hlstm::log
