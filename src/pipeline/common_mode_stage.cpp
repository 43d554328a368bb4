// The atmosphere filter of one origin (input.common_mode, include/hlstm/data/common_mode.hpp):
// the field of the visible epochs is estimated from them alone and removed from the epochs the
// setting names, before the partition, so that the velocity, the partition, the windows, the
// baselines, the selection and the level all see the filtered series. The forecast beyond the
// archive sees every epoch: it gets the field of all epochs instead (toWhole).
#include <algorithm>
#include <cmath>
#include <tuple>

#include "hlstm/core/log.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {

CommonModeField wholeCommonMode(const Comm& comm, const RunConfig& rc, const LocalBlock& block) {
    if (rc.commonMode.use == CommonModeUse::kOff) return {};
    return estimateCommonMode(comm, block.points, block.points.nEpochs(), rc.commonMode);
}

CommonModeState commonModeStage(const Comm& comm, const RunConfig& rc, LocalBlock& block, std::size_t visibleEpochs,
                                CommonModeField whole) {
    CommonModeState cm;
    if (rc.commonMode.use == CommonModeUse::kOff) return cm;
    const std::size_t m = block.points.nEpochs();
    cm.recent = visibleEpochs - rc.trainEpochs(visibleEpochs);  // the selection's epochs and the level's
    cm.visible = estimateCommonMode(comm, block.points, visibleEpochs, rc.commonMode);
    std::tie(cm.from, cm.to) = commonModeEpochs(rc.commonMode.use, visibleEpochs, cm.recent);
    if (!whole.empty() && whole.epochs == m && visibleEpochs < m) {
        cm.whole = std::move(whole);
        std::tie(cm.wholeFrom, cm.wholeTo) = commonModeEpochs(rc.commonMode.use, m, cm.recent);
        std::vector<std::int32_t> cells(block.points.size());
        for (std::size_t i = 0; i < cells.size(); ++i)
            cells[i] = static_cast<std::int32_t>(cm.whole.cellOf(block.points.x[i], block.points.y[i]));
        cm.cellOfRow = comm.allgatherv(cells);  // rank order is global row order
    }
    subtractCommonMode(cm.visible, block.points, cm.from, cm.to);
    if (comm.isRoot()) {
        double sq = 0;
        std::size_t count = 0;
        for (std::size_t c = 0; c < cm.visible.values.size(); ++c, ++count)
            sq += cm.visible.values[c] * cm.visible.values[c];
        log::info() << "common mode (input.common_mode = " << toString(rc.commonMode.use) << "): " << cm.visible.nx
                    << " x " << cm.visible.ny << " cells of " << cm.visible.cell << " m, removed from epochs "
                    << cm.from << ".." << cm.to << " of " << visibleEpochs << ", field rms "
                    << std::sqrt(sq / static_cast<double>(std::max<std::size_t>(1, count))) << " mm";
    }
    return cm;
}

void CommonModeState::toWhole(const std::vector<std::uint64_t>& rows, float* series, std::size_t epochs,
                              const ReaderFill* fill) const {
    const bool swap = !whole.empty() && epochs == whole.epochs;
    if (swap)
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const std::int64_t c = cellOfRow[rows[i]];
            float* s = series + i * epochs;
            for (std::size_t t = from; t < to; ++t) s[t] += visible.at(c, t);
            for (std::size_t t = wholeFrom; t < wholeTo; ++t) s[t] -= whole.at(c, t);
        }
    if (fill == nullptr || fill->size() == 0) return;
    fill->restore(rows, series, epochs);  // the reader's raw values: the whole field removed again
    if (!swap) return;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto it = std::lower_bound(fill->rows.begin(), fill->rows.end(), rows[i]);
        if (it == fill->rows.end() || *it != rows[i]) continue;
        const auto k = static_cast<std::size_t>(it - fill->rows.begin());
        const std::size_t first = fill->first[k], last = first + (fill->offsets[k + 1] - fill->offsets[k]);
        if (last > epochs) continue;
        const std::int64_t c = cellOfRow[rows[i]];
        for (std::size_t t = std::max(first, wholeFrom); t < std::min(last, wholeTo); ++t)
            series[i * epochs + t] -= whole.at(c, t);
    }
}

}  // namespace hlstm::pipeline
