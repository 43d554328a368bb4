// `hlstm backtest`: the run's stages (origin.cpp) at N rolling origins of one read input.
#include "hlstm/pipeline/backtest.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "frozen.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/version.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// The block as if its archive ended after `epochs` epochs (the points' first epochs, the
// truth's and the observation mask's matching ones).
LocalBlock firstEpochs(const LocalBlock& b, std::size_t epochs) {
    LocalBlock c;
    const std::size_t m = b.points.nEpochs(), drop = m - epochs;
    c.points = b.points.firstEpochs(epochs);
    if (!b.truth.empty()) {
        const std::size_t tw = b.truthEpochs, kept = tw - drop;  // the reader kept every epoch of /truth
        c.truthEpochs = kept;
        c.truth.reserve(b.points.size() * kept);
        for (std::size_t i = 0; i < b.points.size(); ++i)
            c.truth.insert(c.truth.end(), b.truth.begin() + static_cast<std::ptrdiff_t>(i * tw),
                           b.truth.begin() + static_cast<std::ptrdiff_t>(i * tw + kept));
    }
    c.keptOffset = b.keptOffset;
    c.keptTotal = b.keptTotal;
    c.observedMask = b.observedMask.firstEpochs(epochs);
    c.pids = b.pids;
    c.dropped = b.dropped;
    c.stats = b.stats;
    c.stats.epochs = epochs;
    return c;
}

// Methods x origins x Y position MAE (observed and truth) and origins x Y coverage.
struct Table {
    std::vector<std::string> methods;  // "hlstm", then the run's position names
    std::size_t origins = 0, Y = 0;
    std::vector<double> mae, maeTruth, coverage;
    std::vector<std::int32_t> dates;
    [[nodiscard]] double& at(std::vector<double>& v, std::size_t method, std::size_t o, std::size_t y) const {
        return v[(method * origins + o) * Y + y];
    }
};

std::vector<double> maeOf(const std::vector<Metrics>& v) {
    std::vector<double> out;
    for (const auto& m : v) out.push_back(m.mae);
    return out;
}

// Fills origin o of the table from a judged origin (collective: the coverage counts).
void collect(const Comm& comm, const Evaluation& e, bool hasTruth, std::size_t o, Table& t) {
    if (t.methods.empty()) {
        t.methods.push_back("hlstm");
        t.methods.insert(t.methods.end(), e.positionNames.begin(), e.positionNames.end());
        t.mae.assign(t.methods.size() * t.origins * t.Y, std::nan(""));
        t.maeTruth = t.mae;
    }
    if (t.methods.size() != e.positionNames.size() + 1)
        throw RuntimeError("backtest: origin " + std::to_string(o + 1) + " has another set of baselines");
    for (std::size_t k = 0; k < t.methods.size(); ++k) {
        const std::string prefix = k == 0 ? std::string() : t.methods[k] + "/";
        const auto obs = maeOf(e.book[prefix + "pos_step"]);
        for (std::size_t y = 0; y < t.Y; ++y) t.at(t.mae, k, o, y) = obs[y];
        if (!hasTruth) continue;
        const auto truth = maeOf(e.book[prefix + "pos_step_truth"]);
        for (std::size_t y = 0; y < t.Y; ++y) t.at(t.maeTruth, k, o, y) = truth[y];
    }
    // Coverage per step: the observed position inside the holdout interval.
    std::vector<std::uint64_t> inside(t.Y, 0), counted(t.Y, 0);
    for (std::size_t k = 0; k < e.owned.covered.size(); ++k) {
        const std::int8_t c = e.owned.covered[k];
        counted[k % t.Y] += c >= 0 ? 1 : 0;
        inside[k % t.Y] += c == 1 ? 1 : 0;
    }
    comm.allreduceInPlace(inside, Reduce::kSum);
    comm.allreduceInPlace(counted, Reduce::kSum);
    for (std::size_t y = 0; y < t.Y; ++y)
        t.coverage[o * t.Y + y] =
            counted[y] > 0 ? static_cast<double>(inside[y]) / static_cast<double>(counted[y]) : std::nan("");
}

// Steps shown in the log: 1, 3, 6, 12 and Y (those <= Y).
std::vector<std::size_t> shownSteps(std::size_t Y) {
    std::vector<std::size_t> s;
    for (std::size_t h : {1, 3, 6, 12})
        if (h <= Y) s.push_back(h);
    if (s.back() != Y) s.push_back(Y);
    return s;
}

std::string fixed(double v, int digits = 3) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

// One row per origin (HLSTM and the best baseline per shown step), then mean +- sd over the
// origins per method and step (root).
void logTable(const Table& t, bool hasTruth) {
    const auto steps = shownSteps(t.Y);
    const std::vector<double>& v = hasTruth ? t.maeTruth : t.mae;
    std::ostringstream os;
    os << "backtest: position MAE per step against the " << (hasTruth ? "truth" : "observations")
       << " (mm), coverage of the intervals\n  origin  last date";
    for (std::size_t h : steps) {
        char head[64];
        std::snprintf(head, sizeof head, "  h=%-2zu hlstm / best baseline          ", h);
        os << head;
    }
    os << " coverage\n";
    for (std::size_t o = 0; o < t.origins; ++o) {
        os << "  " << o + 1 << "/" << t.origins << "     " << t.dates[o] << " ";
        for (std::size_t h : steps) {
            std::size_t best = 1;
            for (std::size_t k = 2; k < t.methods.size(); ++k)
                if (v[(k * t.origins + o) * t.Y + h - 1] < v[(best * t.origins + o) * t.Y + h - 1]) best = k;
            char cell[96];
            std::snprintf(cell, sizeof cell, "  %6.3f / %6.3f %-20s", v[o * t.Y + h - 1],
                          v[(best * t.origins + o) * t.Y + h - 1], t.methods[best].c_str());
            os << cell;
        }
        double cov = 0;
        for (std::size_t y = 0; y < t.Y; ++y) cov += t.coverage[o * t.Y + y] / static_cast<double>(t.Y);
        os << " " << fixed(cov) << "\n";
    }
    os << "  mean +- sd over " << t.origins << " origins:\n";
    for (std::size_t k = 0; k < t.methods.size(); ++k) {
        char name[40];
        std::snprintf(name, sizeof name, "  %-22s", t.methods[k].c_str());
        os << name;
        for (std::size_t h : steps) {
            double sum = 0, sq = 0;
            for (std::size_t o = 0; o < t.origins; ++o) sum += v[(k * t.origins + o) * t.Y + h - 1];
            const double mean = sum / static_cast<double>(t.origins);
            for (std::size_t o = 0; o < t.origins; ++o) {
                const double d = v[(k * t.origins + o) * t.Y + h - 1] - mean;
                sq += d * d;
            }
            const double sd = t.origins > 1 ? std::sqrt(sq / static_cast<double>(t.origins - 1)) : 0.0;
            os << "  h=" << h << " " << fixed(mean) << " +- " << fixed(sd);
        }
        os << "\n";
    }
    double sum = 0, sq = 0;
    std::vector<double> perOrigin;
    for (std::size_t o = 0; o < t.origins; ++o) {
        double c = 0;
        for (std::size_t y = 0; y < t.Y; ++y) c += t.coverage[o * t.Y + y] / static_cast<double>(t.Y);
        perOrigin.push_back(c);
        sum += c;
    }
    const double mean = sum / static_cast<double>(t.origins);
    for (double c : perOrigin) sq += (c - mean) * (c - mean);
    os << "  coverage of the intervals: " << fixed(mean) << " +- "
       << fixed(t.origins > 1 ? std::sqrt(sq / static_cast<double>(t.origins - 1)) : 0.0) << " over " << t.origins
       << " origins";
    log::info() << os.str();
}

void writeTable(h5::File& out, const Comm& comm, const Config& config, const RunConfig& rc, const Table& t,
                bool hasTruth, const std::string& strategy) {
    const bool root = comm.isRoot();
    const std::uint64_t M = t.methods.size(), N = t.origins, Y = t.Y;
    out.writeSmall(output::backtest::kOriginDates, t.dates);
    out.writeStrings(output::backtest::kMethod, t.methods);
    auto cube = [&](const char* path, const std::vector<double>& v) {
        auto ds = out.createDataset<double>(path, {M, N, Y});
        ds.writeRows(0, root ? M : 0, v.data());
    };
    cube(output::backtest::kMae, t.mae);
    if (hasTruth) cube(output::backtest::kMaeTruth, t.maeTruth);
    auto cov = out.createDataset<double>(output::backtest::kCoverage, {N, Y});
    cov.writeRows(0, root ? N : 0, t.coverage.data());
    out.writeObjectStringAttribute(output::backtest::kGroup, output::backtest::kAttrStrategy, strategy);
    out.writeAttribute(output::attr::kHlstmVersion, std::string(kVersion));
    out.writeAttribute(output::attr::kConfig, config.toToml());
    out.writeAttribute(output::attr::kInput, std::filesystem::absolute(rc.input).string());
    out.writeAttribute(output::attr::kHoldout, static_cast<std::int32_t>(rc.horizon));
    out.writeAttribute(output::attr::kComplete, static_cast<std::int32_t>(1));  // last
}

}  // namespace

int backtest(const Comm& comm, const Config& config, const BacktestArgs& args) {
    PhaseTimer timer;
    const RunArgs runArgs{args.input, args.output, false, false};
    RunConfig rc;
    coordinated(comm, "config", [&] {
        rc = RunConfig::from(config, runArgs);
        if (args.origins < 1)
            throw ConfigError("--origins must be at least 1 (got " + std::to_string(args.origins) + ")");
        if (args.stride < 0)
            throw ConfigError("--origin-stride must be at least 1 (got " + std::to_string(args.stride) + ")");
        if (args.strategy != "refit" && args.strategy != "frozen")
            throw ConfigError("--strategy " + args.strategy + ": expected refit or frozen");
    });
    rc.read.truthEpochs = 0;  // every origin is judged against its own epochs of /truth
    const FilesRead reads = filesRead(rc.input, rc.read, &config);
    h5::AtomicOutput output(comm, args.output, reads.paths, reads.options);

    timer.start("read");
    const LocalBlock block = readStage(comm, rc, runArgs);
    const std::size_t m = block.points.nEpochs(), Y = static_cast<std::size_t>(rc.horizon);
    const std::size_t N = static_cast<std::size_t>(args.origins);
    const std::size_t S = args.stride > 0 ? static_cast<std::size_t>(args.stride) : Y;
    // The last origin is the run's own holdout (m - Y visible epochs); each earlier one S before.
    const std::size_t span = (N - 1) * S;
    if (m < Y + span + 3)
        throw InputError(rc.input + ": " + std::to_string(m) + " epochs cannot hold " + std::to_string(N) +
                         " origins " + std::to_string(S) + " epochs apart with " + std::to_string(Y) +
                         " hidden epochs each (the first origin needs at least 3 visible epochs)");
    const bool hasTruth = block.stats.hasTruth;
    Table table;
    table.origins = N, table.Y = Y;
    table.coverage.assign(N * Y, std::nan(""));
    const bool frozen = args.strategy == "frozen";
    std::unique_ptr<FrozenService> service;  // frozen: the first origin's methods
    for (std::size_t o = 0; o < N; ++o) {
        const std::size_t visible = m - Y - (N - 1 - o) * S;
        table.dates.push_back(block.points.dates[visible - 1]);
        if (comm.isRoot())
            log::info() << "backtest origin " << o + 1 << "/" << N << ": " << visible << " visible epochs (last "
                        << table.dates.back() << "), " << Y << " hidden"
                        << (frozen && o > 0 ? ", the first origin's methods (frozen)" : "");
        timer.start("origin " + std::to_string(o + 1));
        LocalBlock cut = firstEpochs(block, visible + Y);
        if (service) {
            // Frozen: forecast with what the first origin selected, judged like a refitted origin.
            const model::TimeAxis axis = model::TimeAxis::fromDates(cut.points.dates);
            fillFromLeft(cut, visible);  // as forecastOrigin does (visible_fill.hpp)
            const HoldoutTail tail = holdoutTail(cut.points, visible);
            commonModeStage(comm, rc, cut, visible, {});  // the atmosphere filter, as forecastOrigin
            Returned back = service->forecast(comm, rc, cut, axis, visible);
            poolRunForecasts(comm, rc, cut, service->partition().subregion, service->choices(), back);
            const Plan plan;
            const Groups groups;
            const RunContext ctx{comm, rc, plan, groups, axis, visible, visible + Y, service->subregions(), nullptr};
            const Evaluation eval = metricsStage(ctx, cut, tail, service->partition(), back, service->names());
            collect(comm, eval, hasTruth, o, table);
            continue;
        }
        RunConfig rco = rc;  // the grid fitted to this origin's epochs
        PhaseTimer stages;   // the origin's stages are timed as one phase
        forecastOrigin(comm, config, rco, cut, CheckpointStore(), {}, stages,
                       [&](const RunContext& ctx, const RunOutputs& r) {
                           collect(comm, r.eval, hasTruth, o, table);
                           if (frozen) service = std::make_unique<FrozenService>(FrozenService::capture(ctx, r));
                       });
    }
    if (comm.isRoot()) logTable(table, hasTruth);
    timer.start("write");
    output.write("write", [&](h5::File& out) { writeTable(out, comm, config, rc, table, hasTruth, args.strategy); });
    timer.report(comm);
    return 0;
}

}  // namespace hlstm::pipeline
