/// One-line-per-event logging to stderr, prefixed with wall time and MPI rank.
#pragma once

#include <sstream>
#include <string>

namespace hlstm::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// Called once by main after MPI_Init: sets this process's rank and the least level printed.
void init(int rank, Level minLevel);
/// Whether messages of this level are printed on this rank.
bool enabled(Level level);
/// Prints one line: "<elapsed s> [r<rank>] <LEVEL> <text>". Thread-safe.
void write(Level level, const std::string& text);
/// Seconds since log::init (monotonic clock).
double elapsed();

/// Sets what this thread is working on (e.g. "subregion 3 L=60 K=3 S=10"); every line
/// written while it lives carries it after the rank. Restores the previous one on exit.
class Context {
public:
    explicit Context(std::string what);
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    ~Context();

private:
    std::string previous_;
};

/// Builds a line with operator<< and writes it on destruction.
class Line {
public:
    explicit Line(Level level) : level_(level) {}
    Line(const Line&) = delete;
    Line& operator=(const Line&) = delete;
    ~Line() {
        if (enabled(level_)) write(level_, stream_.str());
    }
    template <class T> Line& operator<<(const T& value) {
        stream_ << value;
        return *this;
    }

private:
    Level level_;
    std::ostringstream stream_;
};

inline Line debug() { return Line(Level::kDebug); }
inline Line info() { return Line(Level::kInfo); }
inline Line warn() { return Line(Level::kWarn); }
inline Line error() { return Line(Level::kError); }

}  // namespace hlstm::log
