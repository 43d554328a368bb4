// Private to src/io's export: GDAL's C API in RAII handles, and its messages collected into
// the exceptions and the log (export_gpkg.cpp, export_tiff.cpp).
#pragma once

#include "gdal_api.hpp"  // GDAL's headers, and its functions loaded on first use

#include <memory>
#include <string>
#include <type_traits>

#include "hlstm/core/log.hpp"

// Every GDAL call of the export goes through gdalApi() (gdal_api.hpp); gdal_api.cpp, which
// loads them, does not include this header.
#define CPLErrorReset (::hlstm::io::detail::gdalApi().CPLErrorReset_)
#define CPLGetErrorHandlerUserData (::hlstm::io::detail::gdalApi().CPLGetErrorHandlerUserData_)
#define CPLGetLastErrorType (::hlstm::io::detail::gdalApi().CPLGetLastErrorType_)
#define CPLGetThreadLocalConfigOption (::hlstm::io::detail::gdalApi().CPLGetThreadLocalConfigOption_)
#define CPLPopErrorHandler (::hlstm::io::detail::gdalApi().CPLPopErrorHandler_)
#define CPLPushErrorHandlerEx (::hlstm::io::detail::gdalApi().CPLPushErrorHandlerEx_)
#define CPLSetThreadLocalConfigOption (::hlstm::io::detail::gdalApi().CPLSetThreadLocalConfigOption_)
#define GDALAllRegister (::hlstm::io::detail::gdalApi().GDALAllRegister_)
#define GDALClose (::hlstm::io::detail::gdalApi().GDALClose_)
#define GDALCreate (::hlstm::io::detail::gdalApi().GDALCreate_)
#define GDALDatasetCommitTransaction (::hlstm::io::detail::gdalApi().GDALDatasetCommitTransaction_)
#define GDALDatasetCreateLayer (::hlstm::io::detail::gdalApi().GDALDatasetCreateLayer_)
#define GDALDatasetStartTransaction (::hlstm::io::detail::gdalApi().GDALDatasetStartTransaction_)
#define GDALGetDriverByName (::hlstm::io::detail::gdalApi().GDALGetDriverByName_)
#define GDALGetRasterBand (::hlstm::io::detail::gdalApi().GDALGetRasterBand_)
#define GDALRasterIO (::hlstm::io::detail::gdalApi().GDALRasterIO_)
#define GDALSetDescription (::hlstm::io::detail::gdalApi().GDALSetDescription_)
#define GDALSetGeoTransform (::hlstm::io::detail::gdalApi().GDALSetGeoTransform_)
#define GDALSetProjection (::hlstm::io::detail::gdalApi().GDALSetProjection_)
#define GDALSetRasterNoDataValue (::hlstm::io::detail::gdalApi().GDALSetRasterNoDataValue_)
#define OGR_F_Create (::hlstm::io::detail::gdalApi().OGR_F_Create_)
#define OGR_F_Destroy (::hlstm::io::detail::gdalApi().OGR_F_Destroy_)
#define OGR_F_GetGeometryRef (::hlstm::io::detail::gdalApi().OGR_F_GetGeometryRef_)
#define OGR_F_SetFID (::hlstm::io::detail::gdalApi().OGR_F_SetFID_)
#define OGR_F_SetFieldDouble (::hlstm::io::detail::gdalApi().OGR_F_SetFieldDouble_)
#define OGR_F_SetFieldInteger64 (::hlstm::io::detail::gdalApi().OGR_F_SetFieldInteger64_)
#define OGR_F_SetFieldNull (::hlstm::io::detail::gdalApi().OGR_F_SetFieldNull_)
#define OGR_F_SetFieldString (::hlstm::io::detail::gdalApi().OGR_F_SetFieldString_)
#define OGR_F_SetGeometryDirectly (::hlstm::io::detail::gdalApi().OGR_F_SetGeometryDirectly_)
#define OGR_Fld_Create (::hlstm::io::detail::gdalApi().OGR_Fld_Create_)
#define OGR_Fld_Destroy (::hlstm::io::detail::gdalApi().OGR_Fld_Destroy_)
#define OGR_G_CreateGeometry (::hlstm::io::detail::gdalApi().OGR_G_CreateGeometry_)
#define OGR_G_SetPoint_2D (::hlstm::io::detail::gdalApi().OGR_G_SetPoint_2D_)
#define OGR_L_CreateFeature (::hlstm::io::detail::gdalApi().OGR_L_CreateFeature_)
#define OGR_L_CreateField (::hlstm::io::detail::gdalApi().OGR_L_CreateField_)
#define OGR_L_GetLayerDefn (::hlstm::io::detail::gdalApi().OGR_L_GetLayerDefn_)
#define OGR_L_GetName (::hlstm::io::detail::gdalApi().OGR_L_GetName_)
#define OSRDestroySpatialReference (::hlstm::io::detail::gdalApi().OSRDestroySpatialReference_)
#define OSRExportToWkt (::hlstm::io::detail::gdalApi().OSRExportToWkt_)
#define OSRImportFromEPSG (::hlstm::io::detail::gdalApi().OSRImportFromEPSG_)
#define OSRNewSpatialReference (::hlstm::io::detail::gdalApi().OSRNewSpatialReference_)
#define OSRSetAxisMappingStrategy (::hlstm::io::detail::gdalApi().OSRSetAxisMappingStrategy_)
#define OSRSetFromUserInput (::hlstm::io::detail::gdalApi().OSRSetFromUserInput_)
#define VSIFree (::hlstm::io::detail::gdalApi().VSIFree_)

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
