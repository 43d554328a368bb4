/// The common-mode (atmosphere) filter: each epoch's spatially smooth, temporally white part of
/// the displacement, estimated from the data and removed (input.common_mode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/data/point_set.hpp"

namespace hlstm {

/// Where the removed field applies (input.common_mode).
enum class CommonModeUse {
    kOff,      ///< not estimated
    kAll,      ///< every visible epoch
    kHistory,  ///< the epochs the candidates train on (inputs and labels); the rest stays raw
    kRecent,   ///< only the later epochs (selection, level, forecast inputs); training stays raw
};

/// How the field is estimated (input.common_mode_*).
struct CommonModeOptions {
    CommonModeUse use = CommonModeUse::kOff;
    double radiusM = 2000;  ///< half-width of the spatial box (metres, or the unit of x and y)
    int window = 12;        ///< epochs of each point's local temporal fit (the epoch itself left out)
    int degree = 2;         ///< of that fit: 1 line, 2 quadratic
    int passes = 4;         ///< fits on the series corrected by the previous pass's field
    double clipMm = 30;     ///< a residual beyond this (a jump, an outlier) is left out of the field
};

/// "off", "all", "history", "recent"; throws ConfigError for anything else.
CommonModeUse commonModeUseFromString(const std::string& text);
std::string toString(CommonModeUse use);
/// The options of a configuration's input.common_mode* keys (ConfigError naming a bad one).
CommonModeOptions commonModeFromConfig(const Config& config);

/// One smooth field per epoch on a grid of square cells (half the box half-width): the value a
/// point gets is its cell's (mm).
struct CommonModeField {
    double x0 = 0, y0 = 0, cell = 1;  ///< grid origin and cell size (unit of x, y)
    std::int64_t nx = 0, ny = 0;
    std::size_t epochs = 0;
    std::vector<float> values;  ///< cells x epochs, row-major per cell (mm)

    [[nodiscard]] bool empty() const noexcept { return values.empty(); }
    /// The cell of a point (clamped to the grid), or -1 for a non-finite coordinate.
    [[nodiscard]] std::int64_t cellOf(double x, double y) const noexcept;
    /// The field of cell c at epoch t (0 for c < 0).
    [[nodiscard]] float at(std::int64_t c, std::size_t t) const noexcept {
        return c < 0 ? 0.0f : values[static_cast<std::size_t>(c) * epochs + t];
    }
};

/// Estimates the field from the first `epochs` epochs of every rank's points (collective; the
/// same field at any rank count: the per-cell sums are exact fixed-point integers). For each
/// point and epoch t, the residual from a local fit over the `window` epochs nearest t (t left
/// out, so a one-epoch jump is not absorbed; one-sided at the ends of the series, so nothing
/// after `epochs` is used), then the mean of the residuals in the box around each cell; each
/// later pass fits the series corrected by the previous field.
CommonModeField estimateCommonMode(const Comm& comm, const PointSet& points, std::size_t epochs,
                                   const CommonModeOptions& options);

/// The epochs [first, last) of a series of `epochs` epochs that `use` filters: all, all but the
/// last `recent` (history) or only those (recent).
std::pair<std::size_t, std::size_t> commonModeEpochs(CommonModeUse use, std::size_t epochs, std::size_t recent);

/// Subtracts the field from epochs [from, to) of every point (to <= field.epochs).
void subtractCommonMode(const CommonModeField& field, PointSet& points, std::size_t from, std::size_t to);

/// The reference acquisition's atmosphere (input.reference_atmosphere): a series referenced to
/// one acquisition (every value 0 there) carries minus that acquisition's atmosphere in every
/// other value of the point, a constant that no later epoch averages out.
struct ReferenceAtmosphereOptions {
    bool remove = false;    ///< input.reference_atmosphere = "remove" (else "off")
    int window = 24;        ///< input.reference_window: epochs nearest the reference one that each point fits
    double radiusM = 2000;  ///< half-width of the spatial box (input.common_mode_km)
};
/// The options of input.reference_atmosphere, input.reference_window and input.common_mode_km.
ReferenceAtmosphereOptions referenceAtmosphereFromConfig(const Config& config);

/// The estimated constant of every cell (a field of one epoch), and the reference epoch.
struct ReferenceAtmosphere {
    std::int64_t epoch = -1;  ///< the reference epoch (every value 0 there); -1: none found
    CommonModeField field;    ///< mm, the constant each cell's points carry
    std::int64_t points = 0;  ///< points whose fit entered the field
};

/// Estimates it from the first `visibleEpochs` epochs only (collective; the same at any rank
/// count): the reference epoch is the first at which every finite value of every rank is 0; each
/// point fits a line and annual sine/cosine (a line when the window spans less than 180 days)
/// through the `window` epochs nearest it, the reference epoch left out, and the fit's value
/// there minus the point's value there is its constant; the field is the box mean of those
/// constants (exact fixed-point sums, as estimateCommonMode).
ReferenceAtmosphere estimateReferenceAtmosphere(const Comm& comm, const PointSet& points, std::size_t visibleEpochs,
                                                const ReferenceAtmosphereOptions& options);

/// Subtracts each point's cell constant from every epoch but the reference one.
void removeReferenceAtmosphere(const ReferenceAtmosphere& ref, PointSet& points);

}  // namespace hlstm
