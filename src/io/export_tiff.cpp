// GeoTIFF export on the input's pixel grid through GDAL's C API (see export_table.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "export_table.hpp"
#include "gdal_util.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm::io::detail {
namespace {

// One band: a per-point dataset's value `k` of each row, placed at its point's pixel.
struct Band {
    std::string name;  // band description, e.g. next_cumulative_20240105
    Source* src;
    std::uint64_t k;
};

}  // namespace

void writeGeoTiff(Table& t, const std::string& path, const RasterGrid& grid, std::uint64_t blockRows,
                  ExportSummary& summary) {
    GdalErrors errors;
    const auto fail = [&](const std::string& what) { throw RuntimeError(path + ": " + what + ": " + errors.last()); };
    Source* ids = sourceOf(t, output::points::kId);
    if (ids == nullptr || ids->kind != Kind::kInt)
        bad(t.path, "no integer /points/id: cannot place points on the grid");

    std::vector<Band> bands;
    const auto perStep = [&](const char* name, const char* datesPath) {
        Source* s = sourceOf(t, std::string(output::forecast::kGroup) + "/" + name);
        if (s == nullptr || s->kind == Kind::kString) return;
        const auto suffix = stepSuffixes(t, datesPath, s->width);
        for (std::uint64_t k = 0; k < s->width; ++k) bands.push_back({name + suffix[k], s, k});
    };
    for (const char* name : {"next_cumulative", "interval_low", "interval_high"})
        perStep(name, output::forecast::kNextDates);
    perStep("abs_error", output::forecast::kHoldoutDates);
    if (Source* s = sourceOf(t, output::points::kSubregion)) bands.push_back({"subregion", s, 0});
    if (bands.empty()) bad(t.path, "no forecast datasets to write as bands");

    GDALAllRegister();
    GDALDriverH driver = GDALGetDriverByName("GTiff");
    if (driver == nullptr) fail("GDAL has no GTiff driver");
    const std::uint64_t cells = grid.rows * grid.cols;
    if (grid.rows == 0 || grid.cols == 0 || grid.rows > (1u << 30) || grid.cols > (1u << 30))
        throw InputError(t.path + ": the input grid is " + std::to_string(grid.rows) + " x " +
                         std::to_string(grid.cols) + " pixels; cannot write it as a GeoTIFF");
    const char* options[] = {"COMPRESS=DEFLATE", "TILED=YES", "BIGTIFF=IF_SAFER", nullptr};
    GdalDataset ds(GDALCreate(driver, path.c_str(), static_cast<int>(grid.cols), static_cast<int>(grid.rows),
                              static_cast<int>(bands.size()), GDT_Float32, const_cast<char**>(options)));
    if (!ds) fail("cannot create GeoTIFF");
    double gt[6];
    std::copy(std::begin(grid.geoTransform), std::end(grid.geoTransform), gt);
    if (GDALSetGeoTransform(ds.get(), gt) != CE_None) fail("cannot set the geotransform");
    if (!grid.crs.empty()) {
        Srs srs(OSRNewSpatialReference(nullptr));
        char* wkt = nullptr;
        if (OSRSetFromUserInput(srs.get(), grid.crs.c_str()) == OGRERR_NONE &&
            OSRExportToWkt(srs.get(), &wkt) == OGRERR_NONE) {
            if (GDALSetProjection(ds.get(), wkt) != CE_None) fail("cannot set the CRS");
            summary.crs = grid.crs;
        } else {
            log::warn() << t.path << ": crs \"" << grid.crs
                        << "\" is not a CRS GDAL knows; GeoTIFF written without one";
        }
        CPLFree(wkt);
    }
    // One band at a time (memory: one band of the grid), reading only the ids and its dataset.
    std::vector<float> raster;
    std::uint64_t outside = 0;
    for (std::size_t b = 0; b < bands.size(); ++b) {
        raster.assign(cells, std::numeric_limits<float>::quiet_NaN());
        Source* src = bands[b].src;
        for (std::uint64_t row0 = 0; row0 < t.n; row0 += blockRows) {
            const std::uint64_t rows = std::min(blockRows, t.n - row0);
            load(*ids, row0, rows);
            load(*src, row0, rows);
            for (std::uint64_t r = 0; r < rows; ++r) {
                const std::int64_t id = ids->ints[r];
                if (id < 0 || static_cast<std::uint64_t>(id) >= cells) {
                    outside += b == 0;
                    continue;
                }
                const std::size_t i = r * src->width + bands[b].k;
                raster[static_cast<std::size_t>(id)] = static_cast<float>(src->number(i));
            }
        }
        GDALRasterBandH band = GDALGetRasterBand(ds.get(), static_cast<int>(b + 1));
        GDALSetDescription(band, bands[b].name.c_str());
        GDALSetRasterNoDataValue(band, std::numeric_limits<double>::quiet_NaN());
        if (GDALRasterIO(band, GF_Write, 0, 0, static_cast<int>(grid.cols), static_cast<int>(grid.rows), raster.data(),
                         static_cast<int>(grid.cols), static_cast<int>(grid.rows), GDT_Float32, 0, 0) != CE_None)
            fail("cannot write band " + bands[b].name);
    }
    if (outside > 0)
        throw InputError(t.path + ": " + std::to_string(outside) + " point ids are not pixels of the " +
                         std::to_string(grid.rows) + " x " + std::to_string(grid.cols) +
                         " input grid: this output was not made from that input");
    CPLErrorReset();
    GDALClose(ds.release());
    if (CPLGetLastErrorType() >= CE_Failure) fail("cannot close");
    summary.bands = bands.size();
    summary.layer.clear();
    summary.geometry = "grid " + std::to_string(grid.rows) + " x " + std::to_string(grid.cols);
}

}  // namespace hlstm::io::detail
