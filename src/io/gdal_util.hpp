// Private to src/io's export: GDAL's C API in RAII handles, and its messages collected into
// the exceptions and the log (export_gpkg.cpp, export_tiff.cpp).
#pragma once

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include <memory>
#include <string>
#include <type_traits>

#include "hlstm/core/log.hpp"

namespace hlstm::io::detail {

// Collects GDAL's messages while alive: warnings go to the log, the last error text is kept
// for the exception (GDAL would otherwise print to stderr itself).
class GdalErrors {
public:
    GdalErrors() {
        CPLErrorReset();
        CPLPushErrorHandlerEx(&GdalErrors::handle, this);
    }
    ~GdalErrors() { CPLPopErrorHandler(); }
    GdalErrors(const GdalErrors&) = delete;
    GdalErrors& operator=(const GdalErrors&) = delete;
    [[nodiscard]] std::string last() const { return last_.empty() ? std::string("no GDAL error message") : last_; }

private:
    static void CPL_STDCALL handle(CPLErr level, CPLErrorNum, const char* message) {
        auto* self = static_cast<GdalErrors*>(CPLGetErrorHandlerUserData());
        const std::string text = message != nullptr ? message : "";
        if (level >= CE_Failure) {
            if (self != nullptr) self->last_ = text;
        } else if (level == CE_Warning && text.find("filename extension should be") == std::string::npos) {
            // (the temporary file is FILE.gpkg.tmp: the GPKG driver's extension warning is expected)
            log::warn() << "GDAL: " << text;
        } else if (level == CE_Debug) {  // with CPL_DEBUG=ON
            log::debug() << "GDAL: " << text;
        }
    }
    std::string last_;
};

// A config option set for this thread while alive (the previous value restored).
class ScopedConfig {
public:
    ScopedConfig(const char* key, const char* value) : key_(key) {
        const char* old = CPLGetThreadLocalConfigOption(key, nullptr);
        if (old != nullptr) {
            old_ = old;
            hadOld_ = true;
        }
        CPLSetThreadLocalConfigOption(key, value);
    }
    ~ScopedConfig() { CPLSetThreadLocalConfigOption(key_, hadOld_ ? old_.c_str() : nullptr); }
    ScopedConfig(const ScopedConfig&) = delete;
    ScopedConfig& operator=(const ScopedConfig&) = delete;

private:
    const char* key_;
    std::string old_;
    bool hadOld_ = false;
};

struct SrsDeleter {
    void operator()(OGRSpatialReferenceH h) const { OSRDestroySpatialReference(h); }
};
struct FeatureDeleter {
    void operator()(OGRFeatureH h) const { OGR_F_Destroy(h); }
};
struct DatasetCloser {
    void operator()(GDALDatasetH h) const { GDALClose(h); }
};
using Srs = std::unique_ptr<std::remove_pointer_t<OGRSpatialReferenceH>, SrsDeleter>;
using Feature = std::unique_ptr<std::remove_pointer_t<OGRFeatureH>, FeatureDeleter>;
using GdalDataset = std::unique_ptr<std::remove_pointer_t<GDALDatasetH>, DatasetCloser>;

}  // namespace hlstm::io::detail
