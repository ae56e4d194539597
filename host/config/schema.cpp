// ALIC 1.7's config schema (toolkit/tools/imagecustomizerapi at b80d3525b),
// leaves first. `.supported = true` marks what imgrecipe implements today.
#include "host/config/schema.hpp"

#include "host/config/checks.hpp"

namespace imgrecipe::config::schema {
namespace {

namespace c = checks;
using SV = std::string_view;

// --- Scalars ----------------------------------------------------------------
constexpr Type kString{};
constexpr Type kBool{.kind = Kind::Bool};
constexpr Type kStringList{.kind = Kind::List, .item = &kString};
constexpr Type kStringMap{.kind = Kind::StringMap};
constexpr Type kPermissions{.check = c::permissions};
constexpr Type kSize{.check = c::size};
constexpr Type kPositiveSize{.check = c::positive_size};
constexpr Type kMountPath{.check = c::mount_path};
constexpr Type kMountPathList{.kind = Kind::List, .item = &kMountPath};
constexpr Type kMountOptions{.check = c::mount_options};
constexpr Type kNotBlank{.check = c::not_blank};
constexpr Type kId{.kind = Kind::Int, .min = 0, .max = 60000};  // uid/gid

// --- Enums --------------------------------------------------------------------
constexpr SV kBootTypes[] = {"efi", "legacy"};
constexpr SV kResetUuidsTypes[] = {"reset-all"};
constexpr SV kReinitVerityTypes[] = {"none", "all"};
constexpr SV kPartitionTableTypes[] = {"gpt"};
constexpr SV kFilesystemTypes[] = {"ext4", "xfs", "vfat", "fat32", "btrfs"};
constexpr SV kMountIdTypes[] = {"part-uuid", "uuid", "part-label"};
constexpr SV kIdentifiedPartitionTypes[] = {"part-label"};
constexpr SV kCorruptionOptions[] = {"io-error", "ignore", "panic", "restart"};
constexpr SV kSelinuxModes[] = {"disabled", "permissive", "enforcing", "force-enforcing"};
constexpr SV kModuleLoadModes[] = {"always", "auto", "disable", "inherit"};
constexpr SV kResetBootloaderTypes[] = {"hard-reset"};
constexpr SV kUkiModes[] = {"create", "passthrough", "modify"};
constexpr SV kImageHistory[] = {"none"};
// All five are accepted, as in ALIC's non-prod builds (its testdata relies on them).
constexpr SV kPasswordTypes[] = {"locked", "plain-text", "hashed", "plain-text-file", "hashed-file"};
constexpr SV kInitramfsTypes[] = {"bootstrap", "full-os"};
constexpr SV kKdumpBootFiles[] = {"none", "keep"};
constexpr SV kImageFormats[] = {"vhd", "vhd-fixed", "vhdx", "qcow2", "raw",
                                "iso", "pxe-dir",   "pxe-tar", "cosi", "baremetal-image"};
constexpr SV kPreviewFeatures[] = {
    "uki", "output-artifacts", "inject-files", "reinitialize-verity", "package-snapshot-time",
    "kdump-boot-files", "preview-distro-version", "unsupported-distro-version", "base-configs",
    "input-image-oci", "output-selinux-policy", "btrfs", "create", "tools-dir", "remove-package-manager"};

constexpr Type kBootType{.kind = Kind::Enum, .values = kBootTypes};
constexpr Type kResetUuidsType{.kind = Kind::Enum, .values = kResetUuidsTypes};
constexpr Type kReinitVerityType{.kind = Kind::Enum, .values = kReinitVerityTypes};
constexpr Type kPartitionTableType{.kind = Kind::Enum, .values = kPartitionTableTypes, .allow_empty = false};
constexpr Type kFilesystemType{.kind = Kind::Enum, .values = kFilesystemTypes};
constexpr Type kMountIdType{.kind = Kind::Enum, .values = kMountIdTypes};
constexpr Type kIdentifiedPartitionType{.kind = Kind::Enum, .values = kIdentifiedPartitionTypes,
                                        .allow_empty = false};
constexpr Type kCorruptionOption{.kind = Kind::Enum, .values = kCorruptionOptions};
constexpr Type kSelinuxMode{.kind = Kind::Enum, .values = kSelinuxModes};
constexpr Type kModuleLoadMode{.kind = Kind::Enum, .values = kModuleLoadModes};
constexpr Type kResetBootloaderType{.kind = Kind::Enum, .values = kResetBootloaderTypes};
constexpr Type kUkiMode{.kind = Kind::Enum, .values = kUkiModes};
constexpr Type kImageHistoryType{.kind = Kind::Enum, .values = kImageHistory};
constexpr Type kPasswordType{.kind = Kind::Enum, .values = kPasswordTypes, .allow_empty = false};
constexpr Type kInitramfsType{.kind = Kind::Enum, .values = kInitramfsTypes};
constexpr Type kKdumpBootFilesType{.kind = Kind::Enum, .values = kKdumpBootFiles, .allow_empty = false};
constexpr Type kImageFormat{.kind = Kind::Enum, .values = kImageFormats};
constexpr Type kPreviewFeature{.kind = Kind::Enum, .values = kPreviewFeatures, .allow_empty = false};

// --- Shared objects -----------------------------------------------------------
constexpr Type kKernelArg{.check = c::kernel_argument};
constexpr Type kKernelArgList{.kind = Kind::List, .item = &kKernelArg, .old_form = OldForm::ArgString};
constexpr Field kKernelCommandLineFields[] = {
    {.name = "extraCommandLine", .type = &kKernelArgList, .supported = true},
};
constexpr Type kKernelCommandLine{.kind = Kind::Object, .fields = kKernelCommandLineFields};

constexpr Type kDestination{.check = c::absolute_path};
constexpr Field kAdditionalFileFields[] = {
    {.name = "destination", .type = &kDestination, .required = true, .supported = true},
    {.name = "source", .type = &kString, .supported = true},
    {.name = "content", .type = &kString, .supported = true},
    {.name = "permissions", .type = &kPermissions, .supported = true},
};
constexpr Type kAdditionalFile{.kind = Kind::Object, .fields = kAdditionalFileFields,
                               .rule = c::additional_file};
constexpr Type kAdditionalFileList{.kind = Kind::List, .item = &kAdditionalFile, .old_form = OldForm::FileMap};

constexpr Field kMountPointFields[] = {
    {.name = "idType", .type = &kMountIdType, .supported = true},
    {.name = "options", .type = &kMountOptions, .supported = true},
    {.name = "path", .type = &kMountPath, .required = true, .supported = true},
};
constexpr Type kMountPoint{.kind = Kind::Object, .fields = kMountPointFields,
                           .from_scalar = c::mount_point_from_scalar};

// --- input --------------------------------------------------------------------
constexpr Field kOciPlatformFields[] = {
    {.name = "os", .type = &kString},
    {.name = "architecture", .type = &kString},
};
constexpr Type kOciPlatform{.kind = Kind::Object, .fields = kOciPlatformFields,
                            .from_scalar = c::oci_platform_from_scalar};

constexpr Type kOciUri{.check = c::oci_uri};
constexpr Field kOciImageFields[] = {
    {.name = "uri", .type = &kOciUri, .required = true},
    {.name = "platform", .type = &kOciPlatform},
};
constexpr Type kOciImage{.kind = Kind::Object, .fields = kOciImageFields,
                         .from_scalar = c::oci_image_from_scalar};

constexpr Type kAzureLinuxVersion{.check = c::azure_linux_version};
constexpr Type kAzureLinuxVariant{.check = c::azure_linux_variant};
constexpr Field kAzureLinuxImageFields[] = {
    {.name = "version", .type = &kAzureLinuxVersion, .required = true},
    {.name = "variant", .type = &kAzureLinuxVariant, .required = true},
};
constexpr Type kAzureLinuxImage{.kind = Kind::Object, .fields = kAzureLinuxImageFields};

constexpr Field kInputImageFields[] = {
    {.name = "path", .type = &kString, .supported = true},
    {.name = "oci", .type = &kOciImage, .preview = "input-image-oci"},
    {.name = "azureLinux", .type = &kAzureLinuxImage},
};
constexpr Type kInputImage{.kind = Kind::Object, .fields = kInputImageFields, .rule = c::input_image};

constexpr Field kInputFields[] = {
    {.name = "image", .type = &kInputImage, .supported = true},
};
constexpr Type kInput{.kind = Kind::Object, .fields = kInputFields};

// --- storage ------------------------------------------------------------------
constexpr Type kPartitionLabel{.check = c::partition_label};
constexpr Type kPartitionSize{.check = c::partition_size};
constexpr Type kPartitionType{.check = c::partition_type};
constexpr Field kPartitionFields[] = {
    {.name = "id", .type = &kString, .supported = true},
    {.name = "label", .type = &kPartitionLabel, .supported = true},
    {.name = "start", .type = &kSize, .supported = true},
    {.name = "end", .type = &kSize, .supported = true},
    {.name = "size", .type = &kPartitionSize, .supported = true},
    {.name = "type", .type = &kPartitionType, .supported = true},
};
constexpr Type kPartition{.kind = Kind::Object, .fields = kPartitionFields, .rule = c::partition};
constexpr Type kPartitionList{.kind = Kind::List, .item = &kPartition};

constexpr Field kDiskFields[] = {
    {.name = "partitionTableType", .type = &kPartitionTableType, .required = true, .supported = true},
    {.name = "maxSize", .type = &kPositiveSize, .supported = true},
    {.name = "partitions", .type = &kPartitionList, .supported = true},
};
constexpr Type kDisk{.kind = Kind::Object, .fields = kDiskFields};
constexpr Type kDiskList{.kind = Kind::List, .item = &kDisk};

constexpr Field kQuotaFields[] = {
    {.name = "referencedLimit", .type = &kPositiveSize, .supported = true},
    {.name = "exclusiveLimit", .type = &kPositiveSize, .supported = true},
};
constexpr Type kQuota{.kind = Kind::Object, .fields = kQuotaFields};

constexpr Type kSubvolumePath{.check = c::subvolume_path};
constexpr Field kSubvolumeFields[] = {
    {.name = "path", .type = &kSubvolumePath, .required = true, .supported = true},
    {.name = "mountPoint", .type = &kMountPoint, .supported = true},
    {.name = "quota", .type = &kQuota, .supported = true},
};
constexpr Type kSubvolume{.kind = Kind::Object, .fields = kSubvolumeFields, .rule = c::subvolume};
constexpr Type kSubvolumeList{.kind = Kind::List, .item = &kSubvolume};

constexpr Field kBtrfsFields[] = {
    {.name = "subvolumes", .type = &kSubvolumeList, .supported = true},
};
constexpr Type kBtrfs{.kind = Kind::Object, .fields = kBtrfsFields, .rule = c::btrfs};

constexpr Field kFilesystemFields[] = {
    {.name = "deviceId", .type = &kString, .required = true, .supported = true},
    {.name = "type", .type = &kFilesystemType, .supported = true},
    {.name = "mountPoint", .type = &kMountPoint, .supported = true},
    {.name = "btrfs", .type = &kBtrfs, .supported = true},
};
constexpr Type kFilesystem{.kind = Kind::Object, .fields = kFilesystemFields, .rule = c::filesystem};
constexpr Type kFilesystemList{.kind = Kind::List, .item = &kFilesystem};

constexpr Field kIdentifiedPartitionFields[] = {
    {.name = "idType", .type = &kIdentifiedPartitionType, .required = true},
    {.name = "id", .type = &kPartitionLabel, .required = true},  // part-label is the only idType
};
constexpr Type kIdentifiedPartition{.kind = Kind::Object, .fields = kIdentifiedPartitionFields};

constexpr Type kVerityName{.check = c::verity_name};
constexpr Type kHashSignaturePath{.check = c::hash_signature_path};
constexpr Field kVerityFields[] = {
    {.name = "id", .type = &kString, .required = true, .supported = true},
    {.name = "name", .type = &kVerityName, .required = true, .supported = true},
    {.name = "dataDeviceId", .type = &kString, .supported = true},
    {.name = "dataDevice", .type = &kIdentifiedPartition},
    {.name = "dataDeviceMountIdType", .type = &kMountIdType, .supported = true},
    {.name = "hashDeviceId", .type = &kString, .supported = true},
    {.name = "hashDevice", .type = &kIdentifiedPartition},
    {.name = "hashDeviceMountIdType", .type = &kMountIdType, .supported = true},
    {.name = "corruptionOption", .type = &kCorruptionOption, .supported = true},
    {.name = "hashSignaturePath", .type = &kHashSignaturePath, .preview = "output-artifacts"},
};
constexpr Type kVerity{.kind = Kind::Object, .fields = kVerityFields, .rule = c::verity};
constexpr Type kVerityList{.kind = Kind::List, .item = &kVerity};

constexpr Field kStorageFields[] = {
    {.name = "resetPartitionsUuidsType", .type = &kResetUuidsType, .supported = true},
    {.name = "bootType", .type = &kBootType, .supported = true},
    {.name = "disks", .type = &kDiskList, .supported = true},
    {.name = "filesystems", .type = &kFilesystemList, .supported = true},
    {.name = "verity", .type = &kVerityList, .supported = true},
    {.name = "reinitializeVerity", .type = &kReinitVerityType, .preview = "reinitialize-verity"},
};
constexpr Type kStorage{.kind = Kind::Object, .fields = kStorageFields, .rule = c::storage};

// --- os -----------------------------------------------------------------------
constexpr Type kSnapshotTime{.check = c::snapshot_time};
constexpr Field kPackagesFields[] = {
    {.name = "updateExistingPackages", .type = &kBool, .supported = true},
    {.name = "installLists", .type = &kStringList, .supported = true},
    {.name = "install", .type = &kStringList, .supported = true},
    {.name = "removeLists", .type = &kStringList, .supported = true},
    {.name = "remove", .type = &kStringList, .supported = true},
    {.name = "updateLists", .type = &kStringList, .supported = true},
    {.name = "update", .type = &kStringList, .supported = true},
    {.name = "snapshotTime", .type = &kSnapshotTime, .preview = "package-snapshot-time"},
    {.name = "removePackageManager", .type = &kBool, .supported = true, .preview = "remove-package-manager"},
};
constexpr Type kPackages{.kind = Kind::Object, .fields = kPackagesFields};

constexpr Field kSelinuxFields[] = {
    {.name = "mode", .type = &kSelinuxMode, .supported = true},
};
constexpr Type kSelinux{.kind = Kind::Object, .fields = kSelinuxFields};

constexpr Field kDirConfigFields[] = {
    {.name = "source", .type = &kString, .required = true, .supported = true},
    {.name = "destination", .type = &kString, .required = true, .supported = true},
    {.name = "newDirPermissions", .type = &kPermissions, .supported = true},
    {.name = "mergedDirPermissions", .type = &kPermissions, .supported = true},
    {.name = "childFilePermissions", .type = &kPermissions, .supported = true},
};
constexpr Type kDirConfig{.kind = Kind::Object, .fields = kDirConfigFields};
constexpr Type kDirConfigList{.kind = Kind::List, .item = &kDirConfig};

constexpr Type kUserName{.check = c::user_name};
constexpr Type kGroupName{.check = c::group_name};
constexpr Type kGroupNameList{.kind = Kind::List, .item = &kGroupName};
constexpr Type kOptionalGroupName{.check = c::optional_group_name};

constexpr Field kGroupFields[] = {
    {.name = "name", .type = &kGroupName, .required = true, .supported = true},
    {.name = "gid", .type = &kId, .supported = true},
};
constexpr Type kGroup{.kind = Kind::Object, .fields = kGroupFields};
constexpr Type kGroupList{.kind = Kind::List, .item = &kGroup};

constexpr Field kPasswordFields[] = {
    {.name = "type", .type = &kPasswordType, .required = true, .supported = true},
    {.name = "value", .type = &kString, .supported = true},
};
constexpr Type kPassword{.kind = Kind::Object, .fields = kPasswordFields, .rule = c::password};

constexpr Type kPasswordExpiresDays{.kind = Kind::Int, .min = -1, .max = 99999};
constexpr Field kUserFields[] = {
    {.name = "name", .type = &kUserName, .required = true, .supported = true},
    {.name = "uid", .type = &kId, .supported = true},
    {.name = "password", .type = &kPassword, .supported = true},
    {.name = "passwordExpiresDays", .type = &kPasswordExpiresDays, .supported = true},
    {.name = "sshPublicKeyPaths", .type = &kStringList, .supported = true},
    {.name = "sshPublicKeys", .type = &kStringList, .supported = true},
    {.name = "primaryGroup", .type = &kOptionalGroupName, .supported = true},
    {.name = "secondaryGroups", .type = &kGroupNameList, .supported = true},
    {.name = "startupCommand", .type = &kString, .supported = true},
    {.name = "homeDirectory", .type = &kString, .supported = true},
};
constexpr Type kUser{.kind = Kind::Object, .fields = kUserFields};
constexpr Type kUserList{.kind = Kind::List, .item = &kUser};

constexpr Type kServiceName{.check = c::service_name};
constexpr Type kServiceList{.kind = Kind::List, .item = &kServiceName};
constexpr Field kServicesFields[] = {
    {.name = "enable", .type = &kServiceList, .supported = true},
    {.name = "disable", .type = &kServiceList, .supported = true},
};
constexpr Type kServices{.kind = Kind::Object, .fields = kServicesFields};

constexpr Type kModuleName{.check = c::module_name};
constexpr Type kModuleOptions{.kind = Kind::StringMap, .check = c::module_option_value};
constexpr Field kModuleFields[] = {
    {.name = "name", .type = &kModuleName, .required = true, .supported = true},
    {.name = "loadMode", .type = &kModuleLoadMode, .supported = true},
    {.name = "options", .type = &kModuleOptions, .supported = true},
};
constexpr Type kModule{.kind = Kind::Object, .fields = kModuleFields, .rule = c::module};
constexpr Type kModuleList{.kind = Kind::List, .item = &kModule};

constexpr Field kOverlayFields[] = {
    {.name = "lowerDirs", .type = &kMountPathList, .supported = true},
    {.name = "upperDir", .type = &kMountPath, .required = true, .supported = true},
    {.name = "workDir", .type = &kMountPath, .required = true, .supported = true},
    {.name = "mountPoint", .type = &kMountPath, .required = true, .supported = true},
    {.name = "isInitrdOverlay", .type = &kBool, .supported = true},
    {.name = "mountDependencies", .type = &kMountPathList, .supported = true},
    {.name = "mountOptions", .type = &kMountOptions, .supported = true},
};
constexpr Type kOverlay{.kind = Kind::Object, .fields = kOverlayFields, .rule = c::overlay};
constexpr Type kOverlayList{.kind = Kind::List, .item = &kOverlay};

constexpr Field kBootloaderFields[] = {
    {.name = "resetType", .type = &kResetBootloaderType, .supported = true},
};
constexpr Type kBootloader{.kind = Kind::Object, .fields = kBootloaderFields};

constexpr Field kUkiFields[] = {
    {.name = "mode", .type = &kUkiMode, .supported = true},
};
constexpr Type kUki{.kind = Kind::Object, .fields = kUkiFields};

constexpr Type kHostname{.check = c::hostname};
constexpr Field kOsFields[] = {
    {.name = "hostname", .type = &kHostname, .supported = true},
    {.name = "packages", .type = &kPackages, .supported = true},
    {.name = "selinux", .type = &kSelinux, .supported = true},
    {.name = "kernelCommandLine", .type = &kKernelCommandLine, .supported = true},
    {.name = "additionalFiles", .type = &kAdditionalFileList, .supported = true},
    {.name = "additionalDirs", .type = &kDirConfigList, .supported = true},
    {.name = "groups", .type = &kGroupList, .supported = true},
    {.name = "users", .type = &kUserList, .supported = true},
    {.name = "services", .type = &kServices, .supported = true},
    {.name = "modules", .type = &kModuleList, .supported = true},
    {.name = "overlays", .type = &kOverlayList, .supported = true},
    {.name = "bootloader", .type = &kBootloader, .supported = true},
    {.name = "uki", .type = &kUki, .supported = true, .preview = "uki"},
    {.name = "imageHistory", .type = &kImageHistoryType, .supported = true},
};
constexpr Type kOs{.kind = Kind::Object, .fields = kOsFields, .rule = c::os};

// --- scripts ------------------------------------------------------------------
constexpr Type kScriptPath{.check = c::script_path};
constexpr Field kScriptFields[] = {
    {.name = "path", .type = &kScriptPath, .supported = true},
    {.name = "content", .type = &kString, .supported = true},
    {.name = "interpreter", .type = &kString, .supported = true},
    {.name = "arguments", .type = &kStringList, .supported = true},
    {.name = "environmentVariables", .type = &kStringMap, .supported = true},
    {.name = "name", .type = &kString, .supported = true},
};
constexpr Type kScript{.kind = Kind::Object, .fields = kScriptFields, .rule = c::script};
constexpr Type kScriptList{.kind = Kind::List, .item = &kScript};

constexpr Field kScriptsFields[] = {
    {.name = "postCustomization", .type = &kScriptList, .supported = true},
    {.name = "finalizeCustomization", .type = &kScriptList, .supported = true},
};
constexpr Type kScripts{.kind = Kind::Object, .fields = kScriptsFields};

// --- iso / pxe ----------------------------------------------------------------
constexpr Field kIsoFields[] = {
    {.name = "kernelCommandLine", .type = &kKernelCommandLine, .supported = true},
    {.name = "additionalFiles", .type = &kAdditionalFileList, .supported = true},
    // full-os and kdumpBootFiles: keep are refused by the LiveOS build (imgrecipe.liveos).
    {.name = "initramfsType", .type = &kInitramfsType, .supported = true},
    {.name = "kdumpBootFiles", .type = &kKdumpBootFilesType, .supported = true, .preview = "kdump-boot-files"},
};
constexpr Type kIso{.kind = Kind::Object, .fields = kIsoFields};

constexpr Type kPxeUrl{.check = c::pxe_url};
// full-os and kdumpBootFiles: keep are refused by the PXE build (recipes/yaml.lua, imgrecipe.pxe).
constexpr Field kPxeFields[] = {
    {.name = "kernelCommandLine", .type = &kKernelCommandLine, .supported = true},
    {.name = "additionalFiles", .type = &kAdditionalFileList, .supported = true},
    {.name = "initramfsType", .type = &kInitramfsType, .supported = true},
    {.name = "bootstrapBaseUrl", .type = &kPxeUrl, .supported = true},
    {.name = "bootstrapFileUrl", .type = &kPxeUrl, .supported = true},
    {.name = "kdumpBootFiles", .type = &kKdumpBootFilesType, .supported = true, .preview = "kdump-boot-files"},
};
constexpr Type kPxe{.kind = Kind::Object, .fields = kPxeFields, .rule = c::pxe};

// --- output -------------------------------------------------------------------
constexpr Type kCompressionLevel{.kind = Kind::Int, .min = 1, .max = 22};
constexpr Field kCompressionFields[] = {
    {.name = "level", .type = &kCompressionLevel, .supported = true},
};
constexpr Type kCompression{.kind = Kind::Object, .fields = kCompressionFields};
constexpr Field kCosiFields[] = {
    {.name = "compression", .type = &kCompression, .supported = true},
};
constexpr Type kCosi{.kind = Kind::Object, .fields = kCosiFields};

constexpr Field kOutputImageFields[] = {
    {.name = "path", .type = &kString, .supported = true},
    {.name = "format", .type = &kImageFormat, .supported = true},
    {.name = "cosi", .type = &kCosi, .supported = true},
};
constexpr Type kOutputImage{.kind = Kind::Object, .fields = kOutputImageFields};

constexpr Type kArtifactItem{.check = c::artifact_item};
constexpr Type kArtifactItemList{.kind = Kind::List, .item = &kArtifactItem};
constexpr Field kArtifactsFields[] = {
    {.name = "items", .type = &kArtifactItemList},
    {.name = "path", .type = &kString, .required = true},
};
constexpr Type kArtifacts{.kind = Kind::Object, .fields = kArtifactsFields, .rule = c::artifacts};

constexpr Field kOutputFields[] = {
    {.name = "image", .type = &kOutputImage, .supported = true},
    {.name = "artifacts", .type = &kArtifacts, .preview = "output-artifacts"},
    {.name = "selinuxPolicyPath", .type = &kString, .preview = "output-selinux-policy"},
};
constexpr Type kOutput{.kind = Kind::Object, .fields = kOutputFields};

// --- top level ----------------------------------------------------------------
constexpr Type kPreviewFeatureList{.kind = Kind::List, .item = &kPreviewFeature};

constexpr Field kBaseConfigFields[] = {
    {.name = "path", .type = &kNotBlank, .required = true, .supported = true},
};
constexpr Type kBaseConfig{.kind = Kind::Object, .fields = kBaseConfigFields};
constexpr Type kBaseConfigList{.kind = Kind::List, .item = &kBaseConfig};

constexpr Field kRootFields[] = {
    {.name = "input", .type = &kInput, .supported = true},
    {.name = "storage", .type = &kStorage, .supported = true},
    {.name = "iso", .type = &kIso, .supported = true},
    {.name = "pxe", .type = &kPxe, .supported = true},
    {.name = "os", .type = &kOs, .supported = true},
    {.name = "scripts", .type = &kScripts, .supported = true},
    {.name = "previewFeatures", .type = &kPreviewFeatureList, .supported = true},
    {.name = "output", .type = &kOutput, .supported = true},
    {.name = "baseConfigs", .type = &kBaseConfigList, .supported = true, .preview = "base-configs"},
};
constexpr Type kRoot{.kind = Kind::Object, .fields = kRootFields};

// --- package-list files (os.packages.*Lists) -----------------------------------
constexpr Field kPackageListFields[] = {
    {.name = "packages", .type = &kStringList, .supported = true},
};
constexpr Type kPackageList{.kind = Kind::Object, .fields = kPackageListFields};

}  // namespace

const Type& root() { return kRoot; }
const Type& package_list() { return kPackageList; }

const Field* find_field(const Type& object, std::string_view name) {
  for (const Field& f : object.fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace imgrecipe::config::schema
