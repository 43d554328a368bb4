/// Simple forecasting baselines (the paper's Table III peers and more) on one point's visible history.
/// Everything here is rank-local and thread-safe (no shared state); MlrSums travels through MPI as bytes.
#pragma once

#include <array>
#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hlstm::model {

/// The baselines, in the order of allBaselines().
enum class BaselineKind : int { kPersistence = 0, kWindowMean, kVelocity, kLinearTrend, kSes, kAr, kMlr, kLocalAnnual };

/// "persistence", "window_mean", "velocity", "linear_trend", "ses", "ar", "mlr", "local_annual".
std::string toString(BaselineKind kind);
/// Inverse of toString; throws hlstm::ConfigError naming the bad name and the valid ones.
BaselineKind baselineFromString(const std::string& name);
/// Every kind, in enum order.
const std::vector<BaselineKind>& allBaselines();

/// Solves the leading k x k block (k <= 4) of normal equations (a[i][j], the right-hand side in
/// a[i][4]) by Gauss-Jordan elimination with partial pivoting; false when singular. The line and
/// annual fits of local_annual and of the position baselines.
bool solveNormalEquations(const std::array<std::array<double, 5>, 4>& sums, int k, std::array<double, 4>& beta);

/// One point's history: n cumulative values c (mm, all finite) at times `steps` (in nominal acquisition
/// steps, strictly increasing; nullptr means 0, 1, ..., n-1).
struct History {
    const float* cumulative = nullptr;
    const double* steps = nullptr;
    std::size_t n = 0;
    /// The annual phase (radians) of each epoch and the nominal spacing (days): local_annual's
    /// sine and cosine. nullptr: 2 pi x steps x spacingDays / 365.25 (a regular axis from 1 January).
    const double* phase = nullptr;
    double spacingDays = 12.0;
};

/// local_annual's window: the epochs of the last 576 days (48 of 12 days); the position baseline
/// local_line+annual's too.
inline constexpr double kLocalAnnualWindowDays = 576.0;
/// The first epoch of that window in a history of n epochs at `steps` (nullptr: 0, 1, ..., n-1)
/// of `spacingDays` nominal spacing: the epochs within kLocalAnnualWindowDays of the last one.
std::size_t localAnnualWindowStart(const double* steps, std::size_t n, double spacingDays);

/// local_annual's fit of one history: a line and annual sine and cosine through the finite epochs
/// of the last kLocalAnnualWindowDays (when they span a year and are at least 8; else `valid` is
/// false). at(y) is the fitted value y nominal steps after the last epoch (y may be negative; the
/// phase advances at the nominal spacing from the last epoch's).
struct LocalAnnualFit {
    bool valid = false;
    std::array<double, 4> beta{};  ///< level at the last epoch, mm per nominal step, sine, cosine
    double phaseEnd = 0, perStep = 0;
    [[nodiscard]] double at(double y) const;
};
LocalAnnualFit localAnnualFit(const History& h);

/// Rates r[t] = (c[t+1]-c[t]) / (steps[t+1]-steps[t]), t = 0..n-2: mm per nominal step (empty when n < 2).
std::vector<double> rates(const History& h);

/// local_annual: a line and annual sine and cosine fitted through the finite epochs of the last
/// kLocalAnnualWindowDays (when they span a year and are at least 8; else NaN), its rate at each next
/// step the fit's change over that nominal step (the future epochs at the nominal spacing).
/// The next `horizon` rates (mm per nominal step) of one point from its history; `window` = L (>= 2), the
/// sample window of the LSTM (window_mean averages the last window-1 rates, linear_trend fits the last
/// `window` epochs; both use everything when the history is shorter). A history of fewer than 2 epochs
/// gives NaN. Not for kMlr (throws std::invalid_argument), nor for window < 2 or horizon < 0.
void forecastBaseline(BaselineKind kind, const History& h, int window, int horizon, float* out);

/// forecastBaseline of each of `count` histories, histories[i]'s rates into out + i * horizon: the same
/// values bit for bit; AR's fits are solved 8 points side by side where the CPU has AVX-512.
void forecastBaselines(BaselineKind kind, const History* histories, std::size_t count, int window, int horizon,
                       float* out);

struct MlrModel;
/// forecastBaseline (or, for kMlr, forecastMlr of `mlr` on rates()) on the first cuts[c] epochs of `h`, for
/// each of the nCuts cuts: `out` gets horizon rates per cut, bit for bit the single calls' values but AR's.
/// One pass serves every cut (the rates once; SES's scan once, with a snapshot per cut; AR's normal
/// equations summed once as the prefix grows, centred on one constant for every cut instead of each
/// prefix's own mean, so its fits equal the single calls' up to rounding): the validation cuts of a
/// point are prefixes of one series.
void forecastAtCuts(BaselineKind kind, const History& h, const std::size_t* cuts, std::size_t nCuts, int window,
                    int horizon, const MlrModel* mlr, float* out);

/// The smoothing constant a in {0.01, ..., 1.00} of simple exponential smoothing that minimises the sum of
/// squared one-step errors of `rates` (ties, e.g. fewer than 2 rates: the smallest a).
double sesAlpha(const std::vector<double>& rates);

/// An AR(p) model of the rates (mm per nominal step) with intercept.
struct ArFit {
    int p = 0;                         ///< order chosen by AIC, 0..maxOrder
    std::vector<double> coefficients;  ///< intercept (mm/step), then phi_1..phi_p
};
/// AR(p), p = 0..maxOrder, by conditional least squares on common targets; p chosen by AIC. Fewer than one
/// rate gives p = 0 with a NaN intercept.
ArFit fitAr(const std::vector<double>& rates, int maxOrder = 5);
/// fitAr(rates[i]) (maxOrder 5) into fits[i] for i < count: the same fits bit for bit; those of order
/// bound 5 are solved 8 side by side where the CPU has AVX-512 (src/model/ar_lanes.cpp).
void fitArs(const std::vector<double>* rates, std::size_t count, ArFit* fits);
/// Which code solves AR's normal equations for order bounds <= 5: kSmall (fixed-size arrays, the
/// default) or kEigen (Eigen's LDLT, as before): the same fits bit for bit but the intercept's last
/// bits (src/model/ar_solve.hpp). HLSTM_AR_SOLVER=eigen selects kEigen; a test hook otherwise.
enum class ArSolver { kSmall, kEigen };
ArSolver arSolver();
void setArSolver(ArSolver solver);
/// The baselines' own vector kernels (SES's scan, the cuts' OLS slopes, AR's Gram sums): kNative
/// runs AVX-512 where the CPU has it, kPortable the code a CPU without it runs; the same values
/// bit for bit. HLSTM_BASELINES_ISA=portable selects kPortable; a test hook otherwise.
enum class BaselineIsa { kNative, kPortable };
BaselineIsa baselineIsa();
void setBaselineIsa(BaselineIsa isa);
/// The next `horizon` rates (mm per nominal step) of `fit`, iterated; NaN when rates.size() < fit.p.
void forecastAr(const ArFit& fit, const std::vector<double>& rates, int horizon, float* out);

/// Normal equations of y = b0 + sum_k b_k r[t-k] (k = 1..lags) accumulated over samples; merge() adds another
/// set of sums (callers merge in a fixed order so that results do not depend on how points were split).
struct MlrSums {
    int lags = 0;             ///< number of lagged rates
    std::uint64_t n = 0;      ///< samples accumulated
    std::vector<double> xtx;  ///< (lags+1) x (lags+1), row-major; regressors (1, r[t-1], ..., r[t-lags])
    std::vector<double> xty;  ///< lags+1

    /// Zero sums for `lags` >= 0 lags (throws std::invalid_argument otherwise).
    explicit MlrSums(int lags = 0);
    /// Adds every target t >= lags of one point's rates (mm per nominal step).
    void addPoint(const std::vector<double>& rates);
    /// Adds another set of sums of the same lags (throws std::invalid_argument otherwise).
    void merge(const MlrSums& other);

    /// Boost.Serialization, to send the sums through MPI.
    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) { ar& lags& n& xtx& xty; }
};

/// A fitted global multiple linear regression on lagged rates.
struct MlrModel {
    int lags = 0;                      ///< number of lagged rates
    std::vector<double> coefficients;  ///< intercept (mm/step), then b_1..b_lags
};
/// Solves the normal equations with a tiny ridge (1e-9 * trace/size) for stability; n == 0 gives all zero.
MlrModel solveMlr(const MlrSums& sums);
/// The next `horizon` rates (mm per nominal step), iterated; NaN when rates.size() < model.lags.
void forecastMlr(const MlrModel& model, const std::vector<double>& rates, int horizon, float* out);

}  // namespace hlstm::model
