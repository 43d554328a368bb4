/// Simulated InSAR scenes written in the native format with the noise-free signal as /truth.
#pragma once

#include <cstdint>
#include <string>

#include "hlstm/core/comm.hpp"

namespace hlstm {

/// What to simulate.
enum class SceneKind {
    /// realistic: funnels (linear, accelerating, logistic onset, decelerating), uplift, an
    /// annual term whose amplitude and phase vary in space, a per-epoch atmosphere, lognormal
    /// per-point white noise, missing values
    kScene,
    kPatterns,  ///< the paper's Table I: 5 differential patterns, each in its own spatial block
};

/// Parameters of `hlstm simulate`.
struct SimulateOptions {
    SceneKind kind = SceneKind::kScene;
    std::uint64_t points = 430476;  ///< the paper's Cangzhou size
    std::uint64_t epochs = 89;
    std::uint64_t seed = 1;
    std::int32_t firstDate = 20180101;
    std::int32_t spacingDays = 12;
    /// Acquisitions lost: `drop` seeded positions of a regular grid of epochs + drop dates
    /// (never the first or last two) are left out, so the file keeps `epochs` real dates with
    /// gaps of twice the spacing; the motion stays a function of time.
    std::uint64_t drop = 0;
    /// Strength of the atmosphere (mm, scene only): at each epoch 3-6 blobs of up to +-this
    /// value, 3-15 km across, plus a small ramp, stronger in summer, relative to the first
    /// acquisition; a new, independent field every epoch. 0 turns it off.
    double atmosphereMm = 5.0;
};

/// Writes a simulated scene to `path` (via `<path>.tmp`, renamed when complete). Each rank
/// generates and writes its own block of rows; the file is identical for any rank count
/// (collective).
void simulate(const Comm& comm, const SimulateOptions& options, const std::string& path);

}  // namespace hlstm
