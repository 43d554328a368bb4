// `hlstm update`: the previous forecast judged on the new epochs, the drift check and /update.
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "hlstm/core/log.hpp"
#include "hlstm/io/output_format.hpp"
#include "update_stages.hpp"

namespace hlstm::pipeline {
namespace {

// Errors are summed as integers of this many per mm: exact, so the sums (and the MAEs) are
// the same for any number of ranks.
constexpr double kUnitsPerMm = 1e6;

std::uint64_t units(double absError) { return static_cast<std::uint64_t>(std::llround(absError * kUnitsPerMm)); }

}  // namespace

UpdateScore scorePrevious(const Comm& comm, const Previous& prev, const LocalBlock& block, const PointMatch& match,
                          const RunConfig& rc) {
    UpdateScore out;
    const auto& dates = block.points.dates;
    const std::size_t m = dates.size(), mPrev = prev.epochs(), n = block.points.size();
    const auto Y = static_cast<std::size_t>(prev.horizon);
    std::vector<std::size_t> epoch, step;  // per scored date: its epoch in NEW and PREV's step
    for (std::size_t t = mPrev; t < m; ++t)
        for (std::size_t y = 0; y < Y && y < prev.nextDates.size(); ++y)
            if (prev.nextDates[y] == dates[t]) {
                out.dates.push_back(dates[t]);
                epoch.push_back(t);
                step.push_back(y);
            }
    // The per-point baselines as PREV computed them, on the epochs PREV saw.
    BaselineSet set;
    set.kinds = rc.baselines.kinds;
    set.window = rc.baselineWindow();
    set.mlr.coefficients = prev.mlrCoefficients;
    set.mlr.lags = static_cast<int>(prev.mlrCoefficients.size()) - 1;
    out.methods.push_back("hlstm");
    for (const auto k : set.kinds) out.methods.push_back(model::toString(k));
    const std::size_t nM = out.methods.size(), nD = out.dates.size();
    const model::TimeAxis axis = model::TimeAxis::fromDates(dates);
    const model::SeriesView seen{block.points.displacement.data(), n, mPrev, &axis, m};
    std::vector<std::vector<float>> rates;
    for (std::size_t b = 0; b < set.kinds.size(); ++b)
        rates.push_back(set.kinds[b] == model::BaselineKind::kMlr && set.mlr.lags < 1
                            ? std::vector<float>(n * Y, std::nanf(""))
                            : set.forecaster(b, prev.horizon)(seen));
    // Per (method, date): error sums and counts against observed and truth; coverage counts.
    std::vector<std::uint64_t> sum(nM * nD, 0), count(nM * nD, 0), sumT(nM * nD, 0), countT(nM * nD, 0);
    std::vector<std::uint64_t> inside(nD, 0), judged(nD, 0);
    const std::size_t tw = block.truthEpochs, t0 = m - tw;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t k = match.known[i];
        if (k < 0) continue;  // not a point of PREV: it had no forecast
        const float* c = block.points.series(i);
        const double level = localLevel(c, axis, mPrev, rc.level);
        for (std::size_t d = 0; d < nD; ++d) {
            const std::size_t t = epoch[d], y = step[d], at = static_cast<std::size_t>(k) * Y + y;
            const bool observed = block.observed(i, t) && std::isfinite(c[t]);
            const bool hasTruth = tw > 0 && t >= t0;
            const double truth = hasTruth ? block.truth[i * tw + t - t0] : 0.0;
            auto add = [&](std::size_t method, double position) {
                if (!std::isfinite(position)) return;
                if (observed) sum[method * nD + d] += units(std::abs(position - c[t])), ++count[method * nD + d];
                if (hasTruth) sumT[method * nD + d] += units(std::abs(position - truth)), ++countT[method * nD + d];
            };
            add(0, at < prev.nextCum.size() ? prev.nextCum[at] : std::nan(""));
            for (std::size_t b = 0; b < set.kinds.size(); ++b) {
                double position = level;
                for (std::size_t s = 0; s <= y; ++s) position += rates[b][i * Y + s];
                add(1 + b, position);
            }
            if (observed && at < prev.low.size() && std::isfinite(prev.low[at]) && std::isfinite(prev.high[at])) {
                ++judged[d];
                inside[d] += prev.low[at] <= c[t] && c[t] <= prev.high[at] ? 1 : 0;
            }
        }
    }
    for (auto* v : {&sum, &count, &sumT, &countT, &inside, &judged}) comm.allreduceInPlace(*v, Reduce::kSum);
    const double nan = std::nan("");
    for (std::size_t j = 0; j < nM * nD; ++j) {
        out.mae.push_back(count[j] > 0 ? static_cast<double>(sum[j]) / kUnitsPerMm / static_cast<double>(count[j])
                                       : nan);
        out.maeTruth.push_back(
            countT[j] > 0 ? static_cast<double>(sumT[j]) / kUnitsPerMm / static_cast<double>(countT[j]) : nan);
    }
    for (std::size_t d = 0; d < nD; ++d) {
        out.coverage.push_back(judged[d] > 0 ? static_cast<double>(inside[d]) / static_cast<double>(judged[d]) : nan);
        out.points.push_back(count[d]);
    }
    if (comm.isRoot()) {
        std::ostringstream os;
        os << "the forecast of " << prev.path << " on the new epochs (position MAE, mm; vs observed / vs truth):";
        if (nD == 0) os << " none of the new dates is one it forecast (" << prev.nextDates.size() << " step(s))";
        for (std::size_t d = 0; d < nD; ++d) {
            os << "\n  " << out.dates[d] << ": " << out.points[d] << " points, interval coverage " << out.coverage[d];
            for (std::size_t j = 0; j < nM; ++j) {
                char line[160];
                std::snprintf(line, sizeof line, "\n    %-22s %8.4f / %8.4f", out.methods[j].c_str(),
                              out.mae[j * nD + d], out.maeTruth[j * nD + d]);
                os << line;
            }
        }
        log::info() << os.str();
    }
    return out;
}

Drift driftOf(const Comm& comm, const Previous& prev, const UpdateConfig& uc, const Selection& sel,
              const partition::PartitionResult& part, const Origins& origins) {
    const auto& subs = part.summary.subregions;
    const auto& starts = part.summary.zoneStarts;
    std::map<std::int32_t, int> rowOf;  // subregion id -> row of subs
    for (std::size_t k = 0; k < subs.size(); ++k) rowOf[subs[k].id] = static_cast<int>(k);
    std::vector<std::uint64_t> moved(subs.size(), 0);
    for (std::size_t i = 0; i < part.velocity.size(); ++i) {
        const auto row = rowOf.find(part.subregion[i]);
        const int si = row == rowOf.end() ? -1 : row->second;
        if (si < 0 || starts.empty() || !std::isfinite(part.velocity[i])) continue;
        std::int32_t zone = 0;
        while (static_cast<std::size_t>(zone + 1) < starts.size() &&
               part.velocity[i] >= starts[static_cast<std::size_t>(zone + 1)])
            ++zone;
        const auto& s = subs[static_cast<std::size_t>(si)];
        if (!s.noise && s.zone >= 0 && zone != s.zone) ++moved[static_cast<std::size_t>(si)];
    }
    comm.allreduceInPlace(moved, Reduce::kSum);
    Drift d;
    for (std::size_t k = 0; k < subs.size(); ++k) {
        const int si = prev.subIndex(origins.at(subs[k].id));  // the score its model had in PREV
        const double before = si >= 0 && static_cast<std::size_t>(si) < prev.subScore.size()
                                  ? prev.subScore[static_cast<std::size_t>(si)]
                                  : std::nan("");
        const double after = static_cast<std::size_t>(subs[k].id) < sel.choice.size()
                                 ? sel.choice[static_cast<std::size_t>(subs[k].id)].score
                                 : std::nan("");
        const double share =
            subs[k].nPoints > 0 ? static_cast<double>(moved[k]) / static_cast<double>(subs[k].nPoints) : 0.0;
        std::string why;
        if (std::isfinite(before) && std::isfinite(after) && after > uc.driftFactor * before)
            why = "validation error " + std::to_string(after) + " > update.drift_factor x " + std::to_string(before) +
                  " at the selection";
        if (share > uc.zoneShare)
            why += (why.empty() ? "" : "; ") + std::to_string(static_cast<int>(100 * share)) +
                   " % of its points are in another velocity zone now";
        d.flag.push_back(why.empty() ? 0 : 1);
        d.why.push_back(why);
        if (!why.empty() && comm.isRoot())
            log::warn() << "drift in subregion " << subs[k].id << ": " << why << "; a full hlstm run is advised";
    }
    return d;
}

void writeUpdate(const h5::File& out, bool root, const Previous& prev, const UpdateScore& score, const Drift& drift,
                 const std::string& input) {
    const std::uint64_t nM = score.methods.size(), nD = score.dates.size();
    out.createGroup(output::update::kGroup);
    out.writeSmall<std::int32_t>(output::update::kScoredDates, score.dates);
    out.writeStrings(output::update::kMethod, score.methods);
    for (const auto& [path, values] :
         nD == 0 ? std::vector<std::pair<const char*, const std::vector<double>*>>{}
                 : std::vector<std::pair<const char*, const std::vector<double>*>>{
                       {output::update::kMae, &score.mae}, {output::update::kMaeTruth, &score.maeTruth}})
        out.createDataset<double>(path, {nM, nD}).writeRows(0, root ? nM : 0, values->data());
    out.writeSmall<double>(output::update::kCoverage, score.coverage);
    out.writeSmall<std::int8_t>(output::update::kDrift, drift.flag);
    std::vector<std::string> chain = prev.chain;
    chain.push_back(input);
    out.writeStrings(output::update::kInputs, chain);
    out.writeObjectStringAttribute(output::update::kGroup, output::update::kAttrPrevious, prev.path);
}

}  // namespace hlstm::pipeline
