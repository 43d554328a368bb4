#include "hlstm/data/simulate.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <vector>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/random.hpp"
#include "hlstm/data/point_set.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_file.hpp"

namespace hlstm {
namespace {

constexpr double kTwoPi = 6.283185307179586;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Stream tags so that each random quantity has its own key (core/random.hpp's one list).
constexpr std::uint64_t kLayout = stream::kSceneLayout, kPoint = stream::kScenePoint, kAtmo = stream::kSceneAtmosphere,
                        kPatterns = stream::kScenePatterns, kDrop = stream::kSceneDrop;

// ---------------------------------------------------------------- realistic scene
// Extent of the scene (projected metres, UTM-like), about the Cangzhou study area.
constexpr double kX0 = 500000.0, kY0 = 4200000.0, kWidth = 60000.0, kHeight = 48000.0;
constexpr int kTowns = 8;                // dense clusters of scatterers (urban areas)
constexpr int kFunnels = 6;              // subsidence funnels, one time function each (see FunnelKind)
constexpr double kWhiteMedian = 2.0;     // mm, median of the per-point white-noise sd
constexpr double kWhiteLogSd = 0.3;      // its lognormal spread between points
constexpr double kRateJitter = 0.05;     // per-point relative jitter of the funnels' motion
constexpr double kMissingRate = 0.02;    // random missing values
constexpr double kSparsePoints = 0.004;  // points with most epochs missing (dropped by readers)

// How a funnel's subsidence evolves (displacement D(tau), tau in years since the first date).
enum class FunnelKind { kLinear, kAccelerating, kLogisticOnset, kDecelerating };

struct Funnel {
    double cx, cy, radius, rate;  // m, m, m, mm/yr (the initial rate; the onset's final rate)
    FunnelKind kind = FunnelKind::kLinear;
    double accel = 0;             // kAccelerating: mm/yr^2
    double onset = 0, width = 1;  // kLogisticOnset: years
    double decay = 1;             // kDecelerating: e-folding time of the rate, years

    [[nodiscard]] double displacement(double tau) const {
        switch (kind) {
            case FunnelKind::kLinear: return rate * tau;
            case FunnelKind::kAccelerating: return rate * tau + 0.5 * accel * tau * tau;
            case FunnelKind::kLogisticOnset: {
                // rate / (1 + exp(-(tau - onset) / width)) integrated from 0.
                auto softplus = [](double z) { return z > 30 ? z : std::log1p(std::exp(z)); };
                return rate * width * (softplus((tau - onset) / width) - softplus(-onset / width));
            }
            case FunnelKind::kDecelerating: return rate * decay * (1.0 - std::exp(-tau / decay));
        }
        return 0.0;
    }
};

struct SceneLayout {
    std::array<std::array<double, 3>, kTowns> towns{};  // cx, cy, sigma
    std::array<Funnel, kFunnels> funnels{};
    Funnel uplift{};
    double gradX = 0, gradY = 0;                             // regional trend gradient (mm/yr per km)
    double seasonMax = 0;                                    // mm, largest annual amplitude
    double ampKx = 0, ampKy = 0, ampPhase = 0;               // the amplitude's smooth spatial pattern
    double seasonPhase = 0, phaseGradX = 0, phaseGradY = 0;  // rad, rad across the scene
};

SceneLayout makeLayout(std::uint64_t seed) {
    Rng rng(mixKey({seed, kLayout}));
    SceneLayout s;
    for (auto& t : s.towns)
        t = {kX0 + rng.uniform(0.1, 0.9) * kWidth, kY0 + rng.uniform(0.1, 0.9) * kHeight, rng.uniform(2000.0, 5000.0)};
    for (int f = 0; f < kFunnels; ++f) {
        auto& fn = s.funnels[static_cast<std::size_t>(f)];
        // One funnel per cell of a 3 x 2 grid over the west (the east is left to the uplift),
        // so that each time function shows in its own funnel.
        const double col = f % 3, row = f / 3;
        fn.cx = kX0 + (0.05 + 0.2 * (col + rng.uniform(0.2, 0.8))) * kWidth;
        fn.cy = kY0 + (0.05 + 0.45 * (row + rng.uniform(0.2, 0.8))) * kHeight;
        fn.radius = rng.uniform(3000.0, 6000.0);
        fn.rate = -rng.uniform(20.0, 90.0);
        fn.kind = static_cast<FunnelKind>(f % 4);  // every kind at least once
        fn.accel = -rng.uniform(6.0, 16.0);
        fn.onset = rng.uniform(0.8, 2.2);
        fn.width = rng.uniform(0.1, 0.3);
        fn.decay = rng.uniform(0.5, 1.5);
        if (fn.kind == FunnelKind::kAccelerating) fn.rate *= 0.5;  // accelerating from a slower start
        if (fn.kind == FunnelKind::kDecelerating) fn.rate *= 1.5;  // decelerating from a faster start
    }
    s.uplift = {kX0 + rng.uniform(0.8, 0.9) * kWidth, kY0 + rng.uniform(0.2, 0.8) * kHeight,
                rng.uniform(4000.0, 7000.0), rng.uniform(10.0, 18.0)};
    s.gradX = rng.uniform(-0.05, 0.05);
    s.gradY = rng.uniform(-0.05, 0.05);
    s.seasonMax = rng.uniform(5.0, 8.0);
    s.ampKx = kTwoPi * rng.uniform(0.5, 1.5) / kWidth;
    s.ampKy = kTwoPi * rng.uniform(0.5, 1.5) / kHeight;
    s.ampPhase = rng.uniform(0.0, kTwoPi);
    s.seasonPhase = rng.uniform(0.0, kTwoPi);
    s.phaseGradX = rng.uniform(-1.5, 1.5);
    s.phaseGradY = rng.uniform(-1.5, 1.5);
    return s;
}

// The atmosphere of one acquisition: a few Gaussian blobs of 3-15 km across and a small ramp,
// stronger in summer. Every point of an area shares it at that epoch; each epoch's field is
// drawn independently (keyed by seed and epoch: rank independent).
struct Blob {
    double cx, cy, inv2s2, amp;
};
struct AtmoEpoch {
    std::vector<Blob> blobs;
    double rampX = 0, rampY = 0;  // mm across the scene
    [[nodiscard]] double at(double x, double y) const {
        double v = rampX * ((x - kX0) / kWidth - 0.5) + rampY * ((y - kY0) / kHeight - 0.5);
        for (const auto& b : blobs) {
            const double r2 = (x - b.cx) * (x - b.cx) + (y - b.cy) * (y - b.cy);
            v += b.amp * std::exp(-r2 * b.inv2s2);
        }
        return v;
    }
};

// `years`: calendar years (fraction 0 on 1 January).
std::vector<AtmoEpoch> makeAtmo(std::uint64_t seed, const std::vector<double>& years, double strength) {
    std::vector<AtmoEpoch> a(years.size());
    if (!(strength > 0)) return a;
    for (std::size_t t = 0; t < years.size(); ++t) {
        Rng rng(mixKey({seed, kAtmo, t}));
        // Summer (mid-July, day ~196) 2.5 times as strong as winter: water vapour.
        const double season = 0.7 + 0.3 * std::cos(kTwoPi * (years[t] - 196.0 / 365.25));
        const int count = 3 + static_cast<int>(rng.below(4));  // 3-6 blobs
        for (int k = 0; k < count; ++k) {
            Blob b;
            b.cx = kX0 + rng.uniform(-0.1, 1.1) * kWidth;
            b.cy = kY0 + rng.uniform(-0.1, 1.1) * kHeight;
            const double sigma = rng.uniform(3000.0, 15000.0);  // m, the blob's length scale
            b.inv2s2 = 1.0 / (2.0 * sigma * sigma);
            b.amp = strength * season * (rng.uniform() < 0.5 ? -1.0 : 1.0) * rng.uniform(0.5, 1.0);
            a[t].blobs.push_back(b);
        }
        a[t].rampX = 0.2 * strength * season * rng.normal();
        a[t].rampY = 0.2 * strength * season * rng.normal();
    }
    return a;
}

struct Block {
    std::vector<double> x, y;
    std::vector<std::int64_t> id;
    std::vector<float> disp, truth;
};

// `years`: years since the first date; `yearStart`: the first date's fraction of its year,
// added so that the seasonal term and the summer atmosphere follow the calendar.
void sceneBlock(const SimulateOptions& o, BlockRange b, const std::vector<double>& years, double yearStart,
                Block& out) {
    const SceneLayout layout = makeLayout(o.seed);
    std::vector<double> calendar(years.size());
    for (std::size_t t = 0; t < years.size(); ++t) calendar[t] = years[t] + yearStart;
    const std::vector<AtmoEpoch> atmo = makeAtmo(o.seed, calendar, o.atmosphereMm);
    const std::size_t m = o.epochs;
    for (std::size_t i = b.begin; i < b.end; ++i) {
        Rng rng(mixKey({o.seed, kPoint, i}));
        double x, y;
        if (rng.uniform() < 0.7) {  // most scatterers are in towns
            const auto& t = layout.towns[rng.below(kTowns)];
            // Mirror draws that leave the scene back inside: clamping would line points up on
            // the border (a long collinear hull that distorts the edge statistics).
            auto inside = [](double v, double lo, double hi) {
                if (v < lo) v = lo + (lo - v);
                if (v > hi) v = hi - (v - hi);
                return std::clamp(v, lo, hi);
            };
            x = inside(t[0] + t[2] * rng.normal(), kX0, kX0 + kWidth);
            y = inside(t[1] + t[2] * rng.normal(), kY0, kY0 + kHeight);
        } else {
            x = kX0 + rng.uniform() * kWidth;
            y = kY0 + rng.uniform() * kHeight;
        }
        out.x.push_back(x);
        out.y.push_back(y);
        out.id.push_back(static_cast<std::int64_t>(i) + 1);
        // Steady background (mm/yr) and the funnels' weights at this point.
        const double rate = -2.0 + layout.gradX * (x - kX0) / 1000.0 + layout.gradY * (y - kY0) / 1000.0;
        std::array<double, kFunnels> weight{};
        const double jitter = 1.0 + kRateJitter * rng.normal();
        for (int f = 0; f < kFunnels; ++f) {
            const auto& fn = layout.funnels[static_cast<std::size_t>(f)];
            const double r2 = ((x - fn.cx) * (x - fn.cx) + (y - fn.cy) * (y - fn.cy)) / (fn.radius * fn.radius);
            weight[static_cast<std::size_t>(f)] = jitter * std::exp(-0.5 * r2);
        }
        double upliftRate = 0;
        {
            const auto& u = layout.uplift;
            const double r2 = ((x - u.cx) * (x - u.cx) + (y - u.cy) * (y - u.cy)) / (u.radius * u.radius);
            upliftRate = jitter * u.rate * std::exp(-0.5 * r2);
        }
        // Annual term: amplitude 0..seasonMax and phase both varying smoothly in space.
        const double amp = layout.seasonMax * 0.5 *
                           (1.0 + std::sin(layout.ampKx * (x - kX0) + layout.ampKy * (y - kY0) + layout.ampPhase));
        const double phase = layout.seasonPhase + layout.phaseGradX * ((x - kX0) / kWidth - 0.5) +
                             layout.phaseGradY * ((y - kY0) / kHeight - 0.5);
        // White noise of this point: lognormal sd around kWhiteMedian.
        const double white = kWhiteMedian * std::exp(kWhiteLogSd * rng.normal());
        const bool sparse = rng.uniform() < kSparsePoints;
        // The atmosphere is relative to the first acquisition: its field is subtracted from
        // every later epoch (as an interferometric time series is referenced).
        const double atmo0 = atmo[0].blobs.empty() ? 0.0 : atmo[0].at(x, y);
        for (std::size_t t = 0; t < m; ++t) {
            const double yr = years[t];
            double signal = (rate + upliftRate) * yr +
                            amp * (std::sin(kTwoPi * calendar[t] + phase) - std::sin(kTwoPi * calendar[0] + phase));
            for (int f = 0; f < kFunnels; ++f)
                signal +=
                    weight[static_cast<std::size_t>(f)] * layout.funnels[static_cast<std::size_t>(f)].displacement(yr);
            double obs = signal;
            if (t > 0) {
                if (!atmo[t].blobs.empty()) obs += atmo[t].at(x, y) - atmo0;
                obs += white * rng.normal();
            }
            const bool gone = t > 0 && (sparse ? rng.uniform() < 0.8 : rng.uniform() < kMissingRate);
            out.truth.push_back(static_cast<float>(signal));
            out.disp.push_back(gone ? kNaN : static_cast<float>(obs));
        }
    }
}

// ---------------------------------------------------------------- Table I patterns
// Five patterns of the paper's Table I; the trend items are cumulative curves of the step
// index X, differentials are their increments plus U(-1, 1). "Increased subsidence" is taken
// as -(1.5X^2 + 1.5X): the table's 1.5X^2 - 1.5X rises for X >= 1 and would be an uplift.
constexpr int kPatternCount = 5;
constexpr double kBlockSize = 5000.0, kBlockGap = 5000.0;  // m

double patternTrend(int pattern, double X) {
    switch (pattern) {
        case 0: return 0.0;                       // stable
        case 1: return 10.0 * X;                  // uniform uplift
        case 2: return -10.0 * X;                 // uniform subsidence
        case 3: return 1.5 * X * X + 1.5 * X;     // increased uplift
        case 4: return -(1.5 * X * X + 1.5 * X);  // increased subsidence
    }
    return 0.0;
}

// `steps`: each epoch's position on the regular acquisition grid (the trend's X).
void patternsBlock(const SimulateOptions& o, BlockRange b, const std::vector<double>& steps, Block& out) {
    const std::size_t m = o.epochs;
    for (std::size_t i = b.begin; i < b.end; ++i) {
        const int pattern = static_cast<int>(i * kPatternCount / o.points);
        Rng rng(mixKey({o.seed, kPatterns, i}));
        out.x.push_back(pattern * (kBlockSize + kBlockGap) + rng.uniform() * kBlockSize);
        out.y.push_back(rng.uniform() * kBlockSize);
        out.id.push_back(static_cast<std::int64_t>(i) + 1);
        double c = 0.0;
        for (std::size_t t = 0; t < m; ++t) {
            const double trend = patternTrend(pattern, steps[t]);
            if (t > 0) c += trend - patternTrend(pattern, steps[t - 1]) + rng.uniform(-1.0, 1.0);
            out.truth.push_back(static_cast<float>(trend));
            out.disp.push_back(static_cast<float>(c));
        }
    }
}

}  // namespace

void simulate(const Comm& comm, const SimulateOptions& o, const std::string& path) {
    // The same ranges for `hlstm simulate` (--points, --epochs) and `hlstm run` (simulate.*).
    constexpr std::uint64_t kMaxPoints = 1000000000, kMaxEpochs = 100000;
    if (o.points == 0 || o.points > kMaxPoints)
        throw ConfigError("simulate: " + std::to_string(o.points) +
                          " points (--points, simulate.points) is out of range 1..1e9");
    if (o.epochs < 3 || o.epochs > kMaxEpochs)
        throw ConfigError("simulate: " + std::to_string(o.epochs) +
                          " epochs (--epochs, simulate.epochs) is out of range 3..100000");
    {
        // Each rank holds its rows' series and truth while writing, and `run` reads them back.
        const double perRank = 3.0 * 4.0 * static_cast<double>(o.points) * static_cast<double>(o.epochs + o.drop) /
                               static_cast<double>(comm.size());
        const double memory =
            static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
        if (perRank > memory)
            throw ConfigError("simulate: " + std::to_string(o.points) + " points x " + std::to_string(o.epochs) +
                              " epochs (--points/--epochs, simulate.points/epochs) need about " +
                              std::to_string(static_cast<long long>(perRank / 1e9)) + " GB per rank at " +
                              std::to_string(comm.size()) + " rank(s), more than this machine's " +
                              std::to_string(static_cast<long long>(memory / 1e9)) + " GB");
    }
    if (o.drop + 4 > o.epochs) throw ConfigError("simulate: --drop must leave at least 4 epochs");
    if (!dates::valid(o.firstDate)) throw ConfigError("simulate: first date is not a YYYYMMDD date");
    if (!(o.atmosphereMm >= 0 && o.atmosphereMm <= 1000))
        throw ConfigError("simulate: --atmosphere-mm must be in 0..1000 (0 turns the atmosphere off)");
    h5::AtomicOutput output(comm, path, {});
    // Grid positions of the kept acquisitions: a regular grid of epochs + drop, minus `drop`
    // seeded positions (the same on every rank).
    std::vector<std::uint64_t> grid(o.epochs + o.drop);
    for (std::size_t k = 0; k < grid.size(); ++k) grid[k] = k;
    {
        Rng rng(mixKey({o.seed, kDrop}));
        for (std::uint64_t d = 0; d < o.drop; ++d) {
            const std::size_t k = 2 + rng.below(grid.size() - 4);  // never the first or last two
            grid.erase(grid.begin() + static_cast<std::ptrdiff_t>(k));
        }
    }
    std::vector<std::int32_t> dateList(o.epochs);
    std::vector<double> steps(o.epochs);
    const std::int64_t d0 = dates::toDays(o.firstDate);
    for (std::size_t t = 0; t < o.epochs; ++t) {
        dateList[t] = dates::fromDays(d0 + static_cast<std::int64_t>(grid[t]) * o.spacingDays);
        steps[t] = static_cast<double>(grid[t]);
    }
    const std::vector<double> years = dates::yearsSinceFirst(dateList);

    const BlockRange b = blockRange(o.points, comm.size(), comm.rank());
    Block block;
    coordinated(comm, "simulate:generate", [&] {
        if (o.kind == SceneKind::kScene) {
            const std::int64_t jan1 = dates::toDays(dateList.front() / 10000 * 10000 + 101);
            sceneBlock(o, b, years, static_cast<double>(d0 - jan1) / 365.25, block);
        } else
            patternsBlock(o, b, steps, block);
    });

    output.write("simulate:write", [&](h5::File& file) {
        const std::uint64_t n = o.points, m = o.epochs;
        file.createDataset<double>("/x", {n}).writeRows(b.begin, b.count(), block.x.data());
        file.createDataset<double>("/y", {n}).writeRows(b.begin, b.count(), block.y.data());
        file.createDataset<std::int64_t>("/id", {n}).writeRows(b.begin, b.count(), block.id.data());
        file.writeSmall<std::int32_t>("/dates", dateList);
        auto disp = file.createDataset<float>("/displacement", {n, m});
        disp.writeRows(b.begin, b.count(), block.disp.data());
        disp.writeAttribute("unit", std::string("mm"));
        auto truth = file.createDataset<float>("/truth", {n, m});
        truth.writeRows(b.begin, b.count(), block.truth.data());
        truth.writeAttribute("unit", std::string("mm"));
        file.writeAttribute("crs", std::string(o.kind == SceneKind::kScene ? "EPSG:32650" : "local"));
        file.writeAttribute("generator", std::string("hlstm simulate"));
        file.writeAttribute("kind", std::string(o.kind == SceneKind::kScene ? "scene" : "patterns"));
        file.writeAttribute("seed", static_cast<std::int64_t>(o.seed));
        if (o.kind == SceneKind::kScene) file.writeAttribute("atmosphere_mm", o.atmosphereMm);
        file.writeAttribute("complete", static_cast<std::int32_t>(1));
    });
}

}  // namespace hlstm
