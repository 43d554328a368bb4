#include "hlstm/data/simulate.hpp"

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

// Stream tags so that each random quantity has its own key.
enum Stream : std::uint64_t { kLayout = 1, kPoint = 2, kAtmo = 3, kPatterns = 4, kDrop = 5 };

// ---------------------------------------------------------------- realistic scene
// Extent of the scene (projected metres, UTM-like), about the Cangzhou study area.
constexpr double kX0 = 500000.0, kY0 = 4200000.0, kWidth = 60000.0, kHeight = 48000.0;
constexpr int kTowns = 8;        // dense clusters of scatterers (urban areas)
constexpr int kFunnels = 6;      // subsidence funnels
constexpr int kAtmoGrid = 12;    // nodes per side of the per-epoch correlated-noise grid
constexpr double kAtmoSigma = 2.5;    // mm, spatially correlated noise per epoch
constexpr double kWhiteSigma = 1.2;   // mm, white noise
constexpr double kMissingRate = 0.02; // random missing values
constexpr double kSparsePoints = 0.004; // points with most epochs missing (dropped by readers)

struct Funnel {
    double cx, cy, radius, rate, accel;  // m, m, m, mm/yr, mm/yr^2
};

struct SceneLayout {
    std::array<std::array<double, 3>, kTowns> towns{};  // cx, cy, sigma
    std::array<Funnel, kFunnels> funnels{};
    Funnel uplift{};
    double gradX = 0, gradY = 0;         // regional trend gradient (mm/yr per km)
    double seasonAmp = 0, seasonPhase = 0;
};

SceneLayout makeLayout(std::uint64_t seed) {
    Rng rng(mixKey({seed, kLayout}));
    SceneLayout s;
    for (auto& t : s.towns) t = {kX0 + rng.uniform(0.1, 0.9) * kWidth, kY0 + rng.uniform(0.1, 0.9) * kHeight,
                                 rng.uniform(2000.0, 5000.0)};
    for (int f = 0; f < kFunnels; ++f) {
        auto& fn = s.funnels[static_cast<std::size_t>(f)];
        fn.cx = kX0 + rng.uniform(0.05, 0.65) * kWidth;  // the east is left to the uplift
        fn.cy = kY0 + rng.uniform(0.1, 0.9) * kHeight;
        fn.radius = rng.uniform(3000.0, 8000.0);
        fn.rate = -rng.uniform(20.0, 90.0);
        fn.accel = (f % 3 == 0) ? -rng.uniform(4.0, 12.0) : 0.0;  // every third accelerates
    }
    s.uplift = {kX0 + rng.uniform(0.8, 0.9) * kWidth, kY0 + rng.uniform(0.2, 0.8) * kHeight,
                rng.uniform(4000.0, 7000.0), rng.uniform(10.0, 18.0), 0.0};
    s.gradX = rng.uniform(-0.05, 0.05);
    s.gradY = rng.uniform(-0.05, 0.05);
    s.seasonAmp = rng.uniform(3.0, 6.0);
    s.seasonPhase = rng.uniform(0.0, kTwoPi);
    return s;
}

// Per-epoch correlated noise: a random grid, bilinearly interpolated (rank independent).
struct AtmoField {
    std::vector<float> nodes;  // epochs x kAtmoGrid^2
    double at(std::size_t epoch, double x, double y) const {
        const double gx = (x - kX0) / kWidth * (kAtmoGrid - 1), gy = (y - kY0) / kHeight * (kAtmoGrid - 1);
        const int ix = std::clamp(static_cast<int>(gx), 0, kAtmoGrid - 2);
        const int iy = std::clamp(static_cast<int>(gy), 0, kAtmoGrid - 2);
        const double fx = std::clamp(gx - ix, 0.0, 1.0), fy = std::clamp(gy - iy, 0.0, 1.0);
        const float* g = nodes.data() + epoch * kAtmoGrid * kAtmoGrid;
        auto v = [&](int a, int b) { return static_cast<double>(g[b * kAtmoGrid + a]); };
        return (1 - fx) * (1 - fy) * v(ix, iy) + fx * (1 - fy) * v(ix + 1, iy) + (1 - fx) * fy * v(ix, iy + 1) +
               fx * fy * v(ix + 1, iy + 1);
    }
};

AtmoField makeAtmo(std::uint64_t seed, std::size_t epochs) {
    AtmoField a;
    a.nodes.resize(epochs * kAtmoGrid * kAtmoGrid);
    for (std::size_t t = 0; t < epochs; ++t) {
        Rng rng(mixKey({seed, kAtmo, t}));
        for (int k = 0; k < kAtmoGrid * kAtmoGrid; ++k)
            a.nodes[t * kAtmoGrid * kAtmoGrid + static_cast<std::size_t>(k)] =
                t == 0 ? 0.0f : static_cast<float>(kAtmoSigma * rng.normal());
    }
    return a;
}

struct Block {
    std::vector<double> x, y;
    std::vector<std::int64_t> id;
    std::vector<float> disp, truth;
};

void sceneBlock(const SimulateOptions& o, BlockRange b, const std::vector<double>& years, Block& out) {
    const SceneLayout layout = makeLayout(o.seed);
    const AtmoField atmo = makeAtmo(o.seed, o.epochs);
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
        // Velocity field (mm/yr) and acceleration (mm/yr^2) at this point.
        double rate = -2.0 + layout.gradX * (x - kX0) / 1000.0 + layout.gradY * (y - kY0) / 1000.0;
        double accel = 0.0;
        for (const auto& f : layout.funnels) {
            const double r2 = ((x - f.cx) * (x - f.cx) + (y - f.cy) * (y - f.cy)) / (f.radius * f.radius);
            const double w = std::exp(-0.5 * r2);
            rate += f.rate * w;
            accel += f.accel * w;
        }
        {
            const auto& u = layout.uplift;
            const double r2 = ((x - u.cx) * (x - u.cx) + (y - u.cy) * (y - u.cy)) / (u.radius * u.radius);
            rate += u.rate * std::exp(-0.5 * r2);
        }
        const double amp = layout.seasonAmp * (0.5 + (x - kX0) / kWidth);
        const bool sparse = rng.uniform() < kSparsePoints;
        for (std::size_t t = 0; t < m; ++t) {
            const double yr = years[t];
            const double signal = rate * yr + 0.5 * accel * yr * yr +
                                  amp * (std::sin(kTwoPi * yr + layout.seasonPhase) - std::sin(layout.seasonPhase));
            double obs = signal;
            if (t > 0) obs += atmo.at(t, x, y) + kWhiteSigma * rng.normal();
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
        case 0: return 0.0;                      // stable
        case 1: return 10.0 * X;                 // uniform uplift
        case 2: return -10.0 * X;                // uniform subsidence
        case 3: return 1.5 * X * X + 1.5 * X;    // increased uplift
        case 4: return -(1.5 * X * X + 1.5 * X); // increased subsidence
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
    if (o.points == 0) throw ConfigError("simulate: --points must be at least 1");
    if (o.epochs < 3) throw ConfigError("simulate: --epochs must be at least 3");
    if (o.drop + 4 > o.epochs) throw ConfigError("simulate: --drop must leave at least 4 epochs");
    if (!dates::valid(o.firstDate)) throw ConfigError("simulate: first date is not a YYYYMMDD date");
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
        if (o.kind == SceneKind::kScene) sceneBlock(o, b, years, block);
        else patternsBlock(o, b, steps, block);
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
        file.writeAttribute("complete", static_cast<std::int32_t>(1));
    });
}

}  // namespace hlstm
