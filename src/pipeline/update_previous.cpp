// `hlstm update`: the earlier output it starts from, the date check, its partition on the new
// input and the plan of one fine-tuning task per subregion.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/output_format.hpp"
#include "update_stages.hpp"

namespace hlstm::pipeline {
namespace {

// A point's per-point baselines (fitted at every selection cut and for the holdout) per epoch of
// its series, in candidateCost's flop units: rank 0's 17,335 points x 84 epochs took 0.41 s of
// baselines (24 us a point) where a fine-tuning window of L 24, K 2, S 10 (565,000 units) took
// 14 us (the 30,000-point scene of tools/bench/update_chain.sh, 2 ranks).
constexpr double kBaselineCostPerPointEpoch = 11000;

template <class T> T scalar(const h5::File& f, const std::string& path, T fallback) {
    if (!f.exists(path)) return fallback;
    const auto v = f.openDataset(path).readAll<T>();
    return v.empty() ? fallback : v[0];
}

template <class T> std::vector<T> all(const h5::File& f, const std::string& path) {
    return f.exists(path) ? f.openDataset(path).readAll<T>() : std::vector<T>{};
}

// Opens an hlstm-output of run or update, or names what is wrong with it.
h5::File openPrevious(const std::string& path) {
    if (!std::filesystem::exists(path)) throw InputError(path + ": no such file (--models)");
    if (!h5::isHdf5(path)) throw InputError(path + ": not an HDF5 file (expected the output of hlstm run or update)");
    h5::File f(path, h5::Access::kReadOnly);
    if (!f.hasAttribute(output::attr::kFormat) || f.readStringAttribute(output::attr::kFormat) != output::kFormatName)
        throw InputError(path + ": not an hlstm-output file of hlstm run or update (format attribute)");
    if (!f.hasAttribute(output::attr::kComplete) || f.readAttribute<std::int32_t>(output::attr::kComplete) != 1)
        throw InputError(path + ": incomplete hlstm-output file (complete != 1)");
    return f;
}

}  // namespace

std::string inputEntry(const std::string& path, const std::vector<std::int32_t>& dates) {
    return path + " (" + std::to_string(dates.size()) + " epochs to " +
           std::to_string(dates.empty() ? 0 : dates.back()) + ")";
}

UpdateConfig UpdateConfig::from(const Config& config) {
    UpdateConfig u;
    const auto epochs = config.getInt("update.epochs");
    if (epochs < 0 || epochs > 10000) throw ConfigError("update.epochs must be in 0..10000");
    u.epochs = static_cast<int>(epochs);
    u.reselect = config.getBool("update.reselect");
    u.repartition = config.getBool("update.repartition");
    u.driftFactor = config.getDouble("update.drift_factor");
    if (!(u.driftFactor >= 1)) throw ConfigError("update.drift_factor must be >= 1");
    u.zoneShare = config.getDouble("update.zone_share");
    if (!(u.zoneShare > 0 && u.zoneShare <= 1)) throw ConfigError("update.zone_share must be in (0, 1]");
    return u;
}

int Previous::subIndex(std::int32_t s) const {
    const auto it = std::find(subIds.begin(), subIds.end(), s);
    return it == subIds.end() ? -1 : static_cast<int>(it - subIds.begin());
}

bool Previous::modelWon(std::int32_t s) const {
    const int si = subIndex(s);
    if (si < 0 || models.count(s) == 0 || static_cast<std::size_t>(si) >= subMethod.size()) return false;
    const std::string& m = subMethod[static_cast<std::size_t>(si)];
    return m == model::toString(models.at(s).config.cell);
}

std::string previousConfig(const Comm& comm, const std::string& path) {
    std::string text;
    coordinated(comm, "update:models", [&] {
        try {
            const h5::File f = openPrevious(path);
            text = f.readStringAttribute(output::attr::kConfig);
        } catch (const H5Error& err) {
            throw InputError(path + ": truncated or damaged hlstm-output file: " + err.what());
        }
    });
    return text;
}

Previous readPrevious(const Comm& comm, const std::string& path) {
    Previous p;
    p.path = path;
    coordinated(comm, "update:models", [&] {
        try {
            const h5::File f = openPrevious(path);
            if (!f.exists(output::partition::kSubregionId) || !f.exists(output::forecast::kHoldoutDates))
                throw InputError(path + ": an hlstm predict output has no partition: give the output of hlstm run");
            p.configText = f.readStringAttribute(output::attr::kConfig);
            p.input = f.readStringAttribute(output::attr::kInput);
            p.horizon = f.readAttribute<std::int32_t>(output::attr::kHoldout);
            auto& k = p.known;
            k.ids = all<std::int64_t>(f, output::points::kId);
            k.x = all<double>(f, output::points::kX);
            k.y = all<double>(f, output::points::kY);
            k.subregion = all<std::int32_t>(f, output::points::kSubregion);
            if (f.exists(output::points::kPid)) k.pids = f.readStrings(output::points::kPid);
            p.knownZone = all<std::int32_t>(f, output::points::kZone);
            p.nextCum = all<float>(f, output::forecast::kNextCumulative);
            p.low = all<float>(f, output::forecast::kIntervalLow);
            p.high = all<float>(f, output::forecast::kIntervalHigh);
            p.inputDates = all<std::int32_t>(f, output::forecast::kInputDates);
            p.holdoutDates = all<std::int32_t>(f, output::forecast::kHoldoutDates);
            p.nextDates = all<std::int32_t>(f, output::forecast::kNextDates);
            if (p.inputDates.empty())
                throw InputError(path + ": has no " + std::string(output::forecast::kInputDates) +
                                 " (written by an earlier hlstm version): rerun hlstm run with this version");
            p.subIds = all<std::int32_t>(f, output::subregions::kId);
            p.subMethod = f.readStrings(output::subregions::kMethod);
            p.subScore = all<double>(f, output::subregions::kSelectionScore);
            if (f.exists(output::subregions::kCombinedWith)) {  // run.combine (combine_stage.cpp)
                p.subCombined = f.readStrings(output::subregions::kCombinedWith);
                p.subWeight = all<double>(f, output::subregions::kCombinedWeight);
            }
            p.mlrCoefficients = all<double>(f, output::baselines::kMlrCoefficients);
            const auto modelSub = all<std::int32_t>(f, output::models::kSubregion);
            const auto offset = all<std::uint64_t>(f, output::models::kOffset);
            const auto size = all<std::uint64_t>(f, output::models::kSize);
            const auto bytes = all<std::uint8_t>(f, output::models::kBytes);
            for (std::size_t i = 0; i < modelSub.size(); ++i)
                p.models.emplace(modelSub[i], model::modelFromBytes(std::string(
                                                  reinterpret_cast<const char*>(bytes.data()) + offset[i], size[i])));
            auto& s = p.summary;
            s.kValues = all<std::int32_t>(f, output::partition::kKValues);
            s.dbVelocity = all<double>(f, output::partition::kDbIndexVelocity);
            s.dbPearson = all<double>(f, output::partition::kDbIndexPearson);
            s.kChosen = scalar<std::int32_t>(f, output::partition::kKChosen, 0);
            s.alpha = scalar<double>(f, output::partition::kAlpha, 0);
            s.edgeMean = scalar<double>(f, output::partition::kEdgeMean, 0);
            s.edgeStd = scalar<double>(f, output::partition::kEdgeStd, 0);
            s.edgeThreshold = scalar<double>(f, output::partition::kEdgeThreshold, 0);
            s.nEdges = scalar<std::uint64_t>(f, output::partition::kNEdges, 0);
            s.nCutEdges = scalar<std::uint64_t>(f, output::partition::kNCutEdges, 0);
            s.nCutLong = scalar<std::uint64_t>(f, output::partition::kNCutLong, 0);
            s.nComponents = scalar<std::uint64_t>(f, output::partition::kNComponents, 0);
            s.nNoise = scalar<std::uint64_t>(f, output::partition::kNNoise, 0);
            s.nDuplicates = scalar<std::uint64_t>(f, output::partition::kNDuplicates, 0);
            s.noiseId = scalar<std::int32_t>(f, output::partition::kNoiseId, -1);
            s.zoneCenters = all<double>(f, output::partition::kZoneCenter);
            s.zoneStarts = all<double>(f, output::partition::kZoneStart);
            s.zoneSizes = all<std::uint64_t>(f, output::partition::kZoneSize);
            const auto ids = all<std::int32_t>(f, output::partition::kSubregionId);
            const auto zones = all<std::int32_t>(f, output::partition::kSubregionZone);
            const auto meanVelocity = all<double>(f, output::partition::kSubregionMeanVelocity);
            for (std::size_t i = 0; i < ids.size(); ++i) {
                partition::SubregionInfo info;
                info.id = ids[i];
                info.zone = i < zones.size() ? zones[i] : -1;
                info.meanVelocity = i < meanVelocity.size() ? meanVelocity[i] : 0.0;
                info.noise = ids[i] == s.noiseId;
                s.subregions.push_back(info);
            }
            if (std::isfinite(s.edgeThreshold) && s.edgeThreshold > 0) k.edgeThreshold = s.edgeThreshold;
            p.chain = f.exists(output::update::kInputs) ? f.readStrings(output::update::kInputs)
                                                        : std::vector<std::string>{inputEntry(p.input, p.inputDates)};
        } catch (const H5Error& err) {
            throw InputError(path + ": truncated or damaged hlstm-output file: " + err.what());
        }
    });
    return p;
}

void checkExtends(const Previous& prev, const std::vector<std::int32_t>& dates, const std::string& input) {
    const auto& old = prev.inputDates;
    for (std::size_t t = 0; t < old.size(); ++t) {
        if (t >= dates.size())
            throw InputError(input + ": ends at " + std::to_string(dates.back()) + ", before " +
                             std::to_string(old.back()) + ", the last date of " + prev.path +
                             ": an update needs the dates of the earlier input and later ones");
        if (dates[t] != old[t]) {
            const bool missing = dates[t] > old[t];
            throw InputError(input + ": " +
                             (missing ? "date " + std::to_string(old[t]) + " of " + prev.path + " is missing"
                                      : "date " + std::to_string(dates[t]) + " is not among the dates of " + prev.path +
                                            " (next there: " + std::to_string(old[t]) + ")") +
                             " (epoch " + std::to_string(t) +
                             "): the new input must repeat every earlier epoch, without a gap, and add later ones");
        }
    }
    if (dates.size() == old.size())
        throw InputError(input + ": adds no epoch after " + std::to_string(old.back()) + ", the last date of " +
                         prev.path + " (nothing to update)");
}

void dropFar(const Comm& comm, LocalBlock& block, PointMatch& match) {
    auto& p = block.points;
    auto& d = block.dropped;
    const std::size_t m = p.nEpochs(), tw = block.truthEpochs;
    std::size_t kept = 0;
    std::ptrdiff_t nFar = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (match.status[i] == static_cast<std::int8_t>(output::PointStatus::kFar)) {
            // The far points come first among this rank's points that were not kept (in their
            // input order; the reader's dropped points follow in theirs).
            d.x.insert(d.x.begin() + nFar, p.x[i]);
            d.y.insert(d.y.begin() + nFar, p.y[i]);
            d.ids.insert(d.ids.begin() + nFar, p.ids[i]);
            if (!block.pids.empty()) d.pids.insert(d.pids.begin() + nFar, block.pids[i]);
            d.status.insert(d.status.begin() + nFar, match.status[i]);
            ++nFar;
            continue;
        }
        if (kept != i) {
            p.x[kept] = p.x[i], p.y[kept] = p.y[i], p.ids[kept] = p.ids[i];
            std::copy(p.series(i), p.series(i) + m, p.displacement.data() + kept * m);
            if (tw > 0) std::copy_n(block.truth.data() + i * tw, tw, block.truth.data() + kept * tw);
            if (!block.observedMask.empty()) block.observedMask.move(kept, i);
            if (!block.pids.empty()) block.pids[kept] = block.pids[i];
            match.subregion[kept] = match.subregion[i], match.known[kept] = match.known[i];
            match.nearest[kept] = match.nearest[i], match.status[kept] = match.status[i];
        }
        ++kept;
    }
    p.x.resize(kept), p.y.resize(kept), p.ids.resize(kept), p.displacement.resize(kept * m);
    if (tw > 0) block.truth.resize(kept * tw);
    if (!block.observedMask.empty()) block.observedMask.resize(kept);
    if (!block.pids.empty()) block.pids.resize(kept);
    for (auto* v : {&match.known, &match.nearest}) v->resize(kept);
    match.subregion.resize(kept), match.status.resize(kept);
    block.keptOffset = comm.exscan(static_cast<std::uint64_t>(kept));
    block.keptTotal = comm.allreduce(static_cast<std::uint64_t>(kept), Reduce::kSum);
    p.rows.resize(kept);
    for (std::size_t i = 0; i < kept; ++i) p.rows[i] = block.keptOffset + i;
    d.offset = comm.exscan(static_cast<std::uint64_t>(d.size()));
    d.total = comm.allreduce(static_cast<std::uint64_t>(d.size()), Reduce::kSum);
    const auto far = static_cast<std::size_t>(output::PointStatus::kFar);
    block.stats.droppedBy[far] = comm.allreduce(match.far, Reduce::kSum);
    block.stats.dropped = d.total;
    if (block.keptTotal == 0) throw InputError("no point of the new input lies near a point of the earlier run");
}

partition::PartitionResult previousPartition(const Comm& comm, const Previous& prev, const LocalBlock& block,
                                             const PointMatch& match, std::size_t visibleEpochs) {
    partition::PartitionResult r;
    r.summary = prev.summary;
    auto& s = r.summary;
    std::vector<double> years = dates::yearsSinceFirst(block.points.dates);
    years.resize(visibleEpochs);
    r.velocity = velocities(block.points, years);
    const std::size_t n = block.points.size();
    r.subregion = match.subregion;
    r.zone.assign(n, -1);
    std::vector<std::uint64_t> count(s.subregions.size(), 0), first(s.subregions.size(), ~std::uint64_t{0});
    for (std::size_t i = 0; i < n; ++i) {
        const auto k = match.nearest[i];
        if (k >= 0 && static_cast<std::size_t>(k) < prev.knownZone.size())
            r.zone[i] = prev.knownZone[static_cast<std::size_t>(k)];
        const int si = prev.subIndex(r.subregion[i]);
        if (si < 0) continue;
        ++count[static_cast<std::size_t>(si)];
        first[static_cast<std::size_t>(si)] = std::min(first[static_cast<std::size_t>(si)], block.points.rows[i]);
    }
    for (std::size_t k = 0; k < s.subregions.size(); ++k) {
        s.subregions[k].nPoints = comm.allreduce(count[k], Reduce::kSum);
        s.subregions[k].firstRow = comm.allreduce(first[k], Reduce::kMin);
    }
    s.nPoints = block.keptTotal;
    return r;
}

Origins originsOf(const Comm& comm, const Previous& prev, const partition::PartitionResult& part,
                  const PointMatch& match, bool repartitioned) {
    Origins origins;
    const auto& subs = part.summary.subregions;
    if (!repartitioned) {
        for (const auto& s : subs) origins[s.id] = s.id;
        return origins;
    }
    // Points of each new subregion (rows) by PREV subregion (columns), summed over the ranks.
    const std::size_t nPrev = prev.subIds.size();
    std::vector<std::uint64_t> count(subs.size() * nPrev, 0);
    std::map<std::int32_t, std::size_t> rowOf;
    for (std::size_t k = 0; k < subs.size(); ++k) rowOf[subs[k].id] = k;
    for (std::size_t i = 0; i < part.subregion.size(); ++i) {
        const auto row = rowOf.find(part.subregion[i]);
        const int si = prev.subIndex(match.subregion[i]);
        if (row != rowOf.end() && si >= 0) ++count[row->second * nPrev + static_cast<std::size_t>(si)];
    }
    comm.allreduceInPlace(count, Reduce::kSum);
    for (std::size_t k = 0; k < subs.size(); ++k) {
        std::size_t best = 0;
        for (std::size_t j = 1; j < nPrev; ++j) {
            const auto c = count[k * nPrev + j], b = count[k * nPrev + best];
            if (c > b || (c == b && prev.subIds[j] < prev.subIds[best])) best = j;
        }
        origins[subs[k].id] = nPrev > 0 ? prev.subIds[best] : -1;
    }
    return origins;
}

Plan updatePlan(const Comm& comm, const RunConfig& rc, const UpdateConfig& uc, const Previous& prev,
                const partition::PartitionSummary& summary, std::size_t visibleEpochs, const Origins& origins) {
    // What a subregion's rank does in the update (candidateCost's flop units): every per-point
    // baseline fitted at each cut, then the model fine-tuned on the windows the new epochs complete
    // (forward and backward, update.epochs times, with one forward pass of the validation windows
    // per epoch) and forecast at the selection's cuts. A grid training's cost (more windows, more
    // epochs, no baselines) put 5 of 7 subregions on rank 0 at 30,000 points, which finished 0.45 s
    // after rank 1 (tools/bench/update_chain.sh). Balanced by cost, never by timing.
    const std::size_t before = rc.trainEpochs(prev.epochs() - static_cast<std::size_t>(prev.horizon));
    const std::size_t now = rc.trainEpochs(visibleEpochs);
    const double newEpochs = uc.epochs > 0 && now > before ? static_cast<double>(now - before) : 0.0;
    const double cuts = std::max(1, rc.selectionCuts);
    std::vector<PlanSubregion> fixed;
    for (const auto& s : summary.subregions) {
        PlanSubregion ps{s.id, std::max<std::uint64_t>(s.nPoints, 1), true};
        const auto it = prev.models.find(origins.at(s.id));
        // A subregion a baseline won has no model: its task only holds its rows for the baselines.
        const model::ModelConfig shape =
            it != prev.models.end()
                ? it->second.config
                : rc.shapeOf(Task{0, s.id, static_cast<std::int32_t>(rc.L.front()),
                                  static_cast<std::int32_t>(rc.K.front()), static_cast<std::int32_t>(rc.S.front())});
        ps.L = shape.window, ps.K = shape.layers, ps.S = shape.units, ps.cell = static_cast<std::int32_t>(shape.cell);
        const double points = static_cast<double>(ps.points);
        const double validation = std::ceil(points * rc.train.validationFraction);
        ps.cost = points * static_cast<double>(visibleEpochs) * kBaselineCostPerPointEpoch;
        if (it != prev.models.end()) {
            const auto flops = [&](double samples, int epochs) {
                return candidateCost(static_cast<std::uint64_t>(samples), ps.L, ps.K, ps.S, rc.horizon, epochs);
            };
            constexpr double kForwardShare = 1.0 / 3.0;  // candidateCost counts forward + backward
            if (newEpochs > 0) ps.cost += flops((points - validation) * newEpochs, uc.epochs);
            ps.cost += kForwardShare * flops(validation * (newEpochs * uc.epochs + cuts), 1);
        }
        fixed.push_back(ps);
    }
    return planStage(comm, rc, summary, summary.nPoints, rc.trainEpochs(visibleEpochs), false, &fixed);
}

}  // namespace hlstm::pipeline
