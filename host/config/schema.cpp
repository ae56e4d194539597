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
    {.name = "extraCommandLine", .type = &kKernelArgList, .supported = true,
     .description = "Kernel arguments added to the command line (a list; one string is the older form)."},
};
constexpr Type kKernelCommandLine{.kind = Kind::Object, .fields = kKernelCommandLineFields};

constexpr Type kDestination{.check = c::absolute_path};
constexpr Field kAdditionalFileFields[] = {
    {.name = "destination", .type = &kDestination, .required = true, .supported = true,
     .description = "Absolute path of the file in the image."},
    {.name = "source", .type = &kString, .supported = true,
     .description = "Host file to copy, relative to the config file (or use content)."},
    {.name = "content", .type = &kString, .supported = true,
     .description = "Text written to the file (or use source)."},
    {.name = "permissions", .type = &kPermissions, .supported = true,
     .description = "Octal mode of the file, e.g. \"0644\"."},
};
constexpr Type kAdditionalFile{.kind = Kind::Object, .fields = kAdditionalFileFields,
                               .rule = c::additional_file};
constexpr Type kAdditionalFileList{.kind = Kind::List, .item = &kAdditionalFile, .old_form = OldForm::FileMap};

constexpr Field kMountPointFields[] = {
    {.name = "idType", .type = &kMountIdType, .supported = true, .default_value = R"("part-uuid")",
     .description = "How fstab names the device: part-uuid (default), uuid or part-label."},
    {.name = "options", .type = &kMountOptions, .supported = true,
     .description = "Mount options written to fstab."},
    {.name = "path", .type = &kMountPath, .required = true, .supported = true,
     .description = "Absolute mount path in the OS."},
};
constexpr Type kMountPoint{.kind = Kind::Object, .fields = kMountPointFields,
                           .from_scalar = c::mount_point_from_scalar};

// --- input --------------------------------------------------------------------
constexpr Field kOciPlatformFields[] = {
    {.name = "os", .type = &kString,
     .description = "OCI platform operating system."},
    {.name = "architecture", .type = &kString,
     .description = "OCI platform architecture."},
};
constexpr Type kOciPlatform{.kind = Kind::Object, .fields = kOciPlatformFields,
                            .from_scalar = c::oci_platform_from_scalar};

constexpr Type kOciUri{.check = c::oci_uri};
constexpr Field kOciImageFields[] = {
    {.name = "uri", .type = &kOciUri, .required = true,
     .description = "OCI artifact URI of the input image."},
    {.name = "platform", .type = &kOciPlatform,
     .description = "OCI platform, as \"os/architecture\" or a map."},
};
constexpr Type kOciImage{.kind = Kind::Object, .fields = kOciImageFields,
                         .from_scalar = c::oci_image_from_scalar};

constexpr Type kAzureLinuxVersion{.check = c::azure_linux_version};
constexpr Type kAzureLinuxVariant{.check = c::azure_linux_variant};
constexpr Field kAzureLinuxImageFields[] = {
    {.name = "version", .type = &kAzureLinuxVersion, .required = true,
     .description = "Azure Linux version of the input image."},
    {.name = "variant", .type = &kAzureLinuxVariant, .required = true,
     .description = "Azure Linux image variant."},
};
constexpr Type kAzureLinuxImage{.kind = Kind::Object, .fields = kAzureLinuxImageFields};

constexpr Field kInputImageFields[] = {
    {.name = "path", .type = &kString, .supported = true,
     .description = "Path of the input image (raw, qcow2, vhd, vhdx or ISO), relative to the config file."},
    {.name = "oci", .type = &kOciImage, .preview = "input-image-oci",
     .description = "Input image from an OCI registry."},
    {.name = "azureLinux", .type = &kAzureLinuxImage,
     .description = "Azure Linux base image from the Microsoft registry."},
};
constexpr Type kInputImage{.kind = Kind::Object, .fields = kInputImageFields, .rule = c::input_image};

constexpr Field kInputFields[] = {
    {.name = "image", .type = &kInputImage, .supported = true,
     .description = "The image to customize."},
};
constexpr Type kInput{.kind = Kind::Object, .fields = kInputFields};

// --- storage ------------------------------------------------------------------
constexpr Type kPartitionLabel{.check = c::partition_label};
constexpr Type kPartitionSize{.check = c::partition_size};
constexpr Type kPartitionType{.check = c::partition_type};
constexpr Field kPartitionFields[] = {
    {.name = "id", .type = &kString, .supported = true,
     .description = "Identifier that filesystems and verity entries refer to."},
    {.name = "label", .type = &kPartitionLabel, .supported = true,
     .description = "GPT partition name (PARTLABEL)."},
    {.name = "start", .type = &kSize, .supported = true,
     .description = "Start offset, e.g. \"1M\" (default: after the previous partition)."},
    {.name = "end", .type = &kSize, .supported = true,
     .description = "End offset (exclusive); or give size."},
    {.name = "size", .type = &kPartitionSize, .supported = true,
     .description = "Partition size, e.g. \"512M\", or \"grow\" for the rest of the disk."},
    {.name = "type", .type = &kPartitionType, .supported = true,
     .description = "Partition type: a name (esp, root, linux, ...) or a GPT type GUID."},
};
constexpr Type kPartition{.kind = Kind::Object, .fields = kPartitionFields, .rule = c::partition};
constexpr Type kPartitionList{.kind = Kind::List, .item = &kPartition};

constexpr Field kDiskFields[] = {
    {.name = "partitionTableType", .type = &kPartitionTableType, .required = true, .supported = true,
     .description = "Partition table type (gpt)."},
    {.name = "maxSize", .type = &kPositiveSize, .supported = true,
     .description = "Size of the disk, e.g. \"4G\"."},
    {.name = "partitions", .type = &kPartitionList, .supported = true,
     .description = "Partitions of the disk, in order."},
};
constexpr Type kDisk{.kind = Kind::Object, .fields = kDiskFields};
constexpr Type kDiskList{.kind = Kind::List, .item = &kDisk};

constexpr Field kQuotaFields[] = {
    {.name = "referencedLimit", .type = &kPositiveSize, .supported = true,
     .description = "btrfs qgroup referenced-data limit."},
    {.name = "exclusiveLimit", .type = &kPositiveSize, .supported = true,
     .description = "btrfs qgroup exclusive-data limit."},
};
constexpr Type kQuota{.kind = Kind::Object, .fields = kQuotaFields};

constexpr Type kSubvolumePath{.check = c::subvolume_path};
constexpr Field kSubvolumeFields[] = {
    {.name = "path", .type = &kSubvolumePath, .required = true, .supported = true,
     .description = "Subvolume path inside the btrfs filesystem."},
    {.name = "mountPoint", .type = &kMountPoint, .supported = true,
     .description = "Where the subvolume is mounted in the OS."},
    {.name = "quota", .type = &kQuota, .supported = true,
     .description = "Quota limits of the subvolume."},
};
constexpr Type kSubvolume{.kind = Kind::Object, .fields = kSubvolumeFields, .rule = c::subvolume};
constexpr Type kSubvolumeList{.kind = Kind::List, .item = &kSubvolume};

constexpr Field kBtrfsFields[] = {
    {.name = "subvolumes", .type = &kSubvolumeList, .supported = true,
     .description = "Subvolumes to create."},
};
constexpr Type kBtrfs{.kind = Kind::Object, .fields = kBtrfsFields, .rule = c::btrfs};

constexpr Field kFilesystemFields[] = {
    {.name = "deviceId", .type = &kString, .required = true, .supported = true,
     .description = "The partition (or verity device) id the filesystem is made on."},
    {.name = "type", .type = &kFilesystemType, .supported = true,
     .description = "Filesystem type (ext4, xfs, vfat, fat32, btrfs)."},
    {.name = "mountPoint", .type = &kMountPoint, .supported = true,
     .description = "Mount point in the OS (a path or a map)."},
    {.name = "btrfs", .type = &kBtrfs, .supported = true,
     .description = "btrfs options (subvolumes)."},
};
constexpr Type kFilesystem{.kind = Kind::Object, .fields = kFilesystemFields, .rule = c::filesystem};
constexpr Type kFilesystemList{.kind = Kind::List, .item = &kFilesystem};

constexpr Field kIdentifiedPartitionFields[] = {
    {.name = "idType", .type = &kIdentifiedPartitionType, .required = true, .supported = true,
     .description = "How the partition is identified (part-label)."},
    {.name = "id", .type = &kPartitionLabel, .required = true, .supported = true,
     .description = "The partition label."},  // part-label is the only idType
};
constexpr Type kIdentifiedPartition{.kind = Kind::Object, .fields = kIdentifiedPartitionFields};

constexpr Type kVerityName{.check = c::verity_name};
constexpr Type kHashSignaturePath{.check = c::hash_signature_path};
constexpr Field kVerityFields[] = {
    {.name = "id", .type = &kString, .required = true, .supported = true,
     .description = "Identifier of the verity device (a filesystem deviceId)."},
    {.name = "name", .type = &kVerityName, .required = true, .supported = true,
     .description = "Device-mapper name: root or usr."},
    {.name = "dataDeviceId", .type = &kString, .supported = true,
     .description = "Partition id holding the data."},
    {.name = "dataDevice", .type = &kIdentifiedPartition, .supported = true,
     .description = "Existing data partition of the input image."},
    {.name = "dataDeviceMountIdType", .type = &kMountIdType, .supported = true,
     .description = "How the kernel arguments name the data partition."},
    {.name = "hashDeviceId", .type = &kString, .supported = true,
     .description = "Partition id receiving the hash tree."},
    {.name = "hashDevice", .type = &kIdentifiedPartition, .supported = true,
     .description = "Existing hash partition of the input image."},
    {.name = "hashDeviceMountIdType", .type = &kMountIdType, .supported = true,
     .description = "How the kernel arguments name the hash partition."},
    {.name = "corruptionOption", .type = &kCorruptionOption, .supported = true, .default_value = R"("io-error")",
     .description = "What the kernel does on a verity mismatch."},
    {.name = "hashSignaturePath", .type = &kHashSignaturePath, .supported = true, .preview = "output-artifacts",
     .description = "Path of the root hash signature in the image."},
};
constexpr Type kVerity{.kind = Kind::Object, .fields = kVerityFields, .rule = c::verity};
constexpr Type kVerityList{.kind = Kind::List, .item = &kVerity};

constexpr Field kStorageFields[] = {
    {.name = "resetPartitionsUuidsType", .type = &kResetUuidsType, .supported = true,
     .description = "reset-all: give every partition and filesystem new UUIDs."},
    {.name = "bootType", .type = &kBootType, .supported = true,
     .description = "Boot firmware of the new disk: efi or legacy (BIOS)."},
    {.name = "disks", .type = &kDiskList, .supported = true,
     .description = "New disk layout (exactly one disk)."},
    {.name = "filesystems", .type = &kFilesystemList, .supported = true,
     .description = "Filesystems made on the new partitions."},
    {.name = "verity", .type = &kVerityList, .supported = true,
     .description = "dm-verity devices."},
    {.name = "reinitializeVerity", .type = &kReinitVerityType, .supported = true, .preview = "reinitialize-verity",
     .description = "Recompute the hash trees of existing verity devices."},
};
constexpr Type kStorage{.kind = Kind::Object, .fields = kStorageFields, .rule = c::storage};

// --- os -----------------------------------------------------------------------
constexpr Type kSnapshotTime{.check = c::snapshot_time};
constexpr Field kPackagesFields[] = {
    {.name = "updateExistingPackages", .type = &kBool, .supported = true, .default_value = R"(false)",
     .description = "Update every installed package first."},
    {.name = "installLists", .type = &kStringList, .supported = true,
     .description = "Package-list files of packages to install."},
    {.name = "install", .type = &kStringList, .supported = true,
     .description = "Packages to install."},
    {.name = "removeLists", .type = &kStringList, .supported = true,
     .description = "Package-list files of packages to remove."},
    {.name = "remove", .type = &kStringList, .supported = true,
     .description = "Packages to remove."},
    {.name = "updateLists", .type = &kStringList, .supported = true,
     .description = "Package-list files of packages to update."},
    {.name = "update", .type = &kStringList, .supported = true,
     .description = "Packages to update."},
    {.name = "snapshotTime", .type = &kSnapshotTime, .preview = "package-snapshot-time",
     .description = "Only use packages published before this time."},
    {.name = "removePackageManager", .type = &kBool, .supported = true, .preview = "remove-package-manager",
     .description = "Remove the package manager at the end."},
};
constexpr Type kPackages{.kind = Kind::Object, .fields = kPackagesFields};

constexpr Field kSelinuxFields[] = {
    {.name = "mode", .type = &kSelinuxMode, .supported = true,
     .description = "SELinux mode of the image."},
};
constexpr Type kSelinux{.kind = Kind::Object, .fields = kSelinuxFields};

constexpr Field kDirConfigFields[] = {
    {.name = "source", .type = &kString, .required = true, .supported = true,
     .description = "Host directory to copy, relative to the config file."},
    {.name = "destination", .type = &kString, .required = true, .supported = true,
     .description = "Absolute path in the image."},
    {.name = "newDirPermissions", .type = &kPermissions, .supported = true,
     .description = "Octal mode of directories created."},
    {.name = "mergedDirPermissions", .type = &kPermissions, .supported = true,
     .description = "Octal mode of directories that already exist."},
    {.name = "childFilePermissions", .type = &kPermissions, .supported = true,
     .description = "Octal mode of the files copied."},
};
constexpr Type kDirConfig{.kind = Kind::Object, .fields = kDirConfigFields};
constexpr Type kDirConfigList{.kind = Kind::List, .item = &kDirConfig};

constexpr Type kUserName{.check = c::user_name};
constexpr Type kGroupName{.check = c::group_name};
constexpr Type kGroupNameList{.kind = Kind::List, .item = &kGroupName};
constexpr Type kOptionalGroupName{.check = c::optional_group_name};

constexpr Field kGroupFields[] = {
    {.name = "name", .type = &kGroupName, .required = true, .supported = true,
     .description = "Group name."},
    {.name = "gid", .type = &kId, .supported = true,
     .description = "Group ID."},
};
constexpr Type kGroup{.kind = Kind::Object, .fields = kGroupFields};
constexpr Type kGroupList{.kind = Kind::List, .item = &kGroup};

constexpr Field kPasswordFields[] = {
    {.name = "type", .type = &kPasswordType, .required = true, .supported = true,
     .description = "How value is read: locked, plain-text, hashed, plain-text-file or hashed-file."},
    {.name = "value", .type = &kString, .supported = true,
     .description = "The password, its hash, or a file holding either."},
};
constexpr Type kPassword{.kind = Kind::Object, .fields = kPasswordFields, .rule = c::password};

constexpr Type kPasswordExpiresDays{.kind = Kind::Int, .min = -1, .max = 99999};
constexpr Field kUserFields[] = {
    {.name = "name", .type = &kUserName, .required = true, .supported = true,
     .description = "User name."},
    {.name = "uid", .type = &kId, .supported = true,
     .description = "User ID."},
    {.name = "password", .type = &kPassword, .supported = true,
     .description = "Password of the user."},
    {.name = "passwordExpiresDays", .type = &kPasswordExpiresDays, .supported = true,
     .description = "Days until the password expires (-1: never)."},
    {.name = "sshPublicKeyPaths", .type = &kStringList, .supported = true,
     .description = "Files of SSH public keys added to authorized_keys."},
    {.name = "sshPublicKeys", .type = &kStringList, .supported = true,
     .description = "SSH public keys added to authorized_keys."},
    {.name = "primaryGroup", .type = &kOptionalGroupName, .supported = true,
     .description = "Primary group of the user."},
    {.name = "secondaryGroups", .type = &kGroupNameList, .supported = true,
     .description = "Supplementary groups of the user."},
    {.name = "startupCommand", .type = &kString, .supported = true,
     .description = "Login shell."},
    {.name = "homeDirectory", .type = &kString, .supported = true,
     .description = "Home directory."},
};
constexpr Type kUser{.kind = Kind::Object, .fields = kUserFields};
constexpr Type kUserList{.kind = Kind::List, .item = &kUser};

constexpr Type kServiceName{.check = c::service_name};
constexpr Type kServiceList{.kind = Kind::List, .item = &kServiceName};
constexpr Field kServicesFields[] = {
    {.name = "enable", .type = &kServiceList, .supported = true,
     .description = "systemd units to enable."},
    {.name = "disable", .type = &kServiceList, .supported = true,
     .description = "systemd units to disable."},
};
constexpr Type kServices{.kind = Kind::Object, .fields = kServicesFields};

constexpr Type kModuleName{.check = c::module_name};
constexpr Type kModuleOptions{.kind = Kind::StringMap, .check = c::module_option_value};
constexpr Field kModuleFields[] = {
    {.name = "name", .type = &kModuleName, .required = true, .supported = true,
     .description = "Kernel module name."},
    {.name = "loadMode", .type = &kModuleLoadMode, .supported = true,
     .description = "always, auto, disable or inherit."},
    {.name = "options", .type = &kModuleOptions, .supported = true,
     .description = "Module options (name: value)."},
};
constexpr Type kModule{.kind = Kind::Object, .fields = kModuleFields, .rule = c::module};
constexpr Type kModuleList{.kind = Kind::List, .item = &kModule};

constexpr Field kOverlayFields[] = {
    {.name = "lowerDirs", .type = &kMountPathList, .supported = true,
     .description = "Lower (read-only) directories."},
    {.name = "upperDir", .type = &kMountPath, .required = true, .supported = true,
     .description = "Upper (writable) directory."},
    {.name = "workDir", .type = &kMountPath, .required = true, .supported = true,
     .description = "overlayfs work directory."},
    {.name = "mountPoint", .type = &kMountPath, .required = true, .supported = true,
     .description = "Where the overlay is mounted."},
    {.name = "isInitrdOverlay", .type = &kBool, .supported = true, .default_value = R"(false)",
     .description = "Mounted by the initramfs."},
    {.name = "mountDependencies", .type = &kMountPathList, .supported = true,
     .description = "Mount points that must be mounted first."},
    {.name = "mountOptions", .type = &kMountOptions, .supported = true,
     .description = "Extra mount options."},
};
constexpr Type kOverlay{.kind = Kind::Object, .fields = kOverlayFields, .rule = c::overlay};
constexpr Type kOverlayList{.kind = Kind::List, .item = &kOverlay};

constexpr Field kBootloaderFields[] = {
    {.name = "resetType", .type = &kResetBootloaderType, .supported = true,
     .description = "hard-reset: rewrite the boot loader configuration."},
};
constexpr Type kBootloader{.kind = Kind::Object, .fields = kBootloaderFields};

constexpr Field kUkiFields[] = {
    {.name = "mode", .type = &kUkiMode, .supported = true,
     .description = "Unified kernel image handling: create, passthrough or modify."},
};
constexpr Type kUki{.kind = Kind::Object, .fields = kUkiFields};

constexpr Type kHostname{.check = c::hostname};
constexpr Field kOsFields[] = {
    {.name = "hostname", .type = &kHostname, .supported = true,
     .description = "Host name of the image."},
    {.name = "packages", .type = &kPackages, .supported = true,
     .description = "Packages to install, update and remove."},
    {.name = "selinux", .type = &kSelinux, .supported = true,
     .description = "SELinux settings."},
    {.name = "kernelCommandLine", .type = &kKernelCommandLine, .supported = true,
     .description = "Kernel command line additions."},
    {.name = "additionalFiles", .type = &kAdditionalFileList, .supported = true,
     .description = "Files added to the image."},
    {.name = "additionalDirs", .type = &kDirConfigList, .supported = true,
     .description = "Directories copied into the image."},
    {.name = "groups", .type = &kGroupList, .supported = true,
     .description = "Groups to create."},
    {.name = "users", .type = &kUserList, .supported = true,
     .description = "Users to create or change."},
    {.name = "services", .type = &kServices, .supported = true,
     .description = "Services to enable and disable."},
    {.name = "modules", .type = &kModuleList, .supported = true,
     .description = "Kernel module settings."},
    {.name = "overlays", .type = &kOverlayList, .supported = true,
     .description = "overlayfs mounts."},
    {.name = "bootloader", .type = &kBootloader, .supported = true,
     .description = "Boot loader settings."},
    {.name = "uki", .type = &kUki, .supported = true, .preview = "uki",
     .description = "Unified kernel images."},
    {.name = "imageHistory", .type = &kImageHistoryType, .supported = true,
     .description = "none: do not record this customization in the image."},
};
constexpr Type kOs{.kind = Kind::Object, .fields = kOsFields, .rule = c::os};

// --- scripts ------------------------------------------------------------------
constexpr Type kScriptPath{.check = c::script_path};
constexpr Field kScriptFields[] = {
    {.name = "path", .type = &kScriptPath, .supported = true,
     .description = "Script file, relative to the config file."},
    {.name = "content", .type = &kString, .supported = true,
     .description = "Script text (or use path)."},
    {.name = "interpreter", .type = &kString, .supported = true,
     .description = "Interpreter that runs the script (default /bin/sh)."},
    {.name = "arguments", .type = &kStringList, .supported = true,
     .description = "Arguments passed to the script."},
    {.name = "environmentVariables", .type = &kStringMap, .supported = true,
     .description = "Environment variables of the script."},
    {.name = "name", .type = &kString, .supported = true,
     .description = "Name shown in the log."},
};
constexpr Type kScript{.kind = Kind::Object, .fields = kScriptFields, .rule = c::script};
constexpr Type kScriptList{.kind = Kind::List, .item = &kScript};

constexpr Field kScriptsFields[] = {
    {.name = "postCustomization", .type = &kScriptList, .supported = true,
     .description = "Scripts run in the image after the os customization."},
    {.name = "finalizeCustomization", .type = &kScriptList, .supported = true,
     .description = "Scripts run in the image last."},
};
constexpr Type kScripts{.kind = Kind::Object, .fields = kScriptsFields};

// --- iso / pxe ----------------------------------------------------------------
constexpr Field kIsoFields[] = {
    {.name = "kernelCommandLine", .type = &kKernelCommandLine, .supported = true,
     .description = "Kernel arguments of the live ISO."},
    {.name = "additionalFiles", .type = &kAdditionalFileList, .supported = true,
     .description = "Files added to the ISO (not to the OS)."},
    // full-os and kdumpBootFiles: keep are refused by the LiveOS build (imgrecipe.liveos).
    {.name = "initramfsType", .type = &kInitramfsType, .supported = true,
     .description = "bootstrap (squashfs root) or full-os."},
    {.name = "kdumpBootFiles", .type = &kKdumpBootFilesType, .supported = true, .preview = "kdump-boot-files",
     .description = "Whether kdump boot files are kept on the ISO."},
};
constexpr Type kIso{.kind = Kind::Object, .fields = kIsoFields};

constexpr Type kPxeUrl{.check = c::pxe_url};
// full-os and kdumpBootFiles: keep are refused by the PXE build (recipes/yaml.lua, imgrecipe.pxe).
constexpr Field kPxeFields[] = {
    {.name = "kernelCommandLine", .type = &kKernelCommandLine, .supported = true,
     .description = "Kernel arguments of the PXE boot."},
    {.name = "additionalFiles", .type = &kAdditionalFileList, .supported = true,
     .description = "Files added to the PXE tree."},
    {.name = "initramfsType", .type = &kInitramfsType, .supported = true,
     .description = "bootstrap (squashfs root) or full-os."},
    {.name = "bootstrapBaseUrl", .type = &kPxeUrl, .supported = true,
     .description = "URL of the directory serving the root image."},
    {.name = "bootstrapFileUrl", .type = &kPxeUrl, .supported = true,
     .description = "URL of the root image itself."},
    {.name = "kdumpBootFiles", .type = &kKdumpBootFilesType, .supported = true, .preview = "kdump-boot-files",
     .description = "Whether kdump boot files are kept."},
};
constexpr Type kPxe{.kind = Kind::Object, .fields = kPxeFields, .rule = c::pxe};

// --- output -------------------------------------------------------------------
constexpr Type kCompressionLevel{.kind = Kind::Int, .min = 1, .max = 22};
constexpr Field kCompressionFields[] = {
    {.name = "level", .type = &kCompressionLevel, .supported = true, .default_value = R"(9)",
     .description = "zstd level 1..22."},
};
constexpr Type kCompression{.kind = Kind::Object, .fields = kCompressionFields};
constexpr Field kCosiFields[] = {
    {.name = "compression", .type = &kCompression, .supported = true,
     .description = "Compression of the partition images."},
};
constexpr Type kCosi{.kind = Kind::Object, .fields = kCosiFields};

constexpr Field kOutputImageFields[] = {
    {.name = "path", .type = &kString, .supported = true,
     .description = "Path of the output image."},
    {.name = "format", .type = &kImageFormat, .supported = true,
     .description = "Format of the output image."},
    {.name = "cosi", .type = &kCosi, .supported = true,
     .description = "COSI output settings."},
};
constexpr Type kOutputImage{.kind = Kind::Object, .fields = kOutputImageFields};

constexpr Type kArtifactItem{.check = c::artifact_item};
constexpr Type kArtifactItemList{.kind = Kind::List, .item = &kArtifactItem};
constexpr Field kArtifactsFields[] = {
    {.name = "items", .type = &kArtifactItemList, .supported = true,
     .description = "Artifacts to write: ukis, shim, bootloader, verity-hash."},
    {.name = "path", .type = &kString, .required = true, .supported = true,
     .description = "Directory the artifacts are written to."},
};
constexpr Type kArtifacts{.kind = Kind::Object, .fields = kArtifactsFields, .rule = c::artifacts};

constexpr Field kOutputFields[] = {
    {.name = "image", .type = &kOutputImage, .supported = true,
     .description = "The output image."},
    {.name = "artifacts", .type = &kArtifacts, .supported = true, .preview = "output-artifacts",
     .description = "Boot artifacts written beside the image."},
    {.name = "selinuxPolicyPath", .type = &kString, .preview = "output-selinux-policy",
     .description = "Where the image's SELinux policy is copied."},
};
constexpr Type kOutput{.kind = Kind::Object, .fields = kOutputFields};

// --- top level ----------------------------------------------------------------
constexpr Type kPreviewFeatureList{.kind = Kind::List, .item = &kPreviewFeature};

constexpr Field kBaseConfigFields[] = {
    {.name = "path", .type = &kNotBlank, .required = true, .supported = true,
     .description = "Path of a base config, relative to this config file."},
};
constexpr Type kBaseConfig{.kind = Kind::Object, .fields = kBaseConfigFields};
constexpr Type kBaseConfigList{.kind = Kind::List, .item = &kBaseConfig};

constexpr Field kRootFields[] = {
    {.name = "input", .type = &kInput, .supported = true,
     .description = "The input image."},
    {.name = "storage", .type = &kStorage, .supported = true,
     .description = "Disk layout, UUID reset and dm-verity."},
    {.name = "iso", .type = &kIso, .supported = true,
     .description = "LiveOS ISO output settings."},
    {.name = "pxe", .type = &kPxe, .supported = true,
     .description = "PXE output settings."},
    {.name = "os", .type = &kOs, .supported = true,
     .description = "Changes to the operating system."},
    {.name = "scripts", .type = &kScripts, .supported = true,
     .description = "Scripts run in the image."},
    {.name = "previewFeatures", .type = &kPreviewFeatureList, .supported = true,
     .description = "Preview features this config uses."},
    {.name = "output", .type = &kOutput, .supported = true,
     .description = "The output image and artifacts."},
    {.name = "baseConfigs", .type = &kBaseConfigList, .supported = true, .preview = "base-configs",
     .description = "Configs this one builds on, applied first."},
};
constexpr Type kRoot{.kind = Kind::Object, .fields = kRootFields};

// --- package-list files (os.packages.*Lists) -----------------------------------
constexpr Field kPackageListFields[] = {
    {.name = "packages", .type = &kStringList, .supported = true,
     .description = "Package names."},
};
constexpr Type kPackageList{.kind = Kind::Object, .fields = kPackageListFields};

// inject-files.yaml (alic-reference §2.10), the config of `inject-files`.
constexpr SV kInjectTypes[] = {"ukis", "uki-addons", "shim", "bootloader", "verity-hash"};
constexpr Type kInjectType{.kind = Kind::Enum, .values = kInjectTypes};
constexpr Field kInjectPartitionFields[] = {
    {.name = "idType", .type = &kMountIdType, .supported = true},
    {.name = "id", .type = &kString, .required = true, .supported = true},
};
constexpr Type kInjectPartition{.kind = Kind::Object, .fields = kInjectPartitionFields};
constexpr Field kInjectFileFields[] = {
    {.name = "partition", .type = &kInjectPartition, .required = true, .supported = true},
    {.name = "destination", .type = &kString, .required = true, .supported = true},
    {.name = "source", .type = &kString, .required = true, .supported = true},
    {.name = "type", .type = &kInjectType, .supported = true},
};
constexpr Type kInjectFile{.kind = Kind::Object, .fields = kInjectFileFields};
constexpr Type kInjectFileList{.kind = Kind::List, .item = &kInjectFile};
constexpr Field kInjectFilesFields[] = {
    {.name = "injectFiles", .type = &kInjectFileList, .supported = true},
    {.name = "previewFeatures", .type = &kPreviewFeatureList, .supported = true},
};
constexpr Type kInjectFiles{.kind = Kind::Object, .fields = kInjectFilesFields};

}  // namespace

const Type& root() { return kRoot; }
const Type& package_list() { return kPackageList; }
const Type& inject_files() { return kInjectFiles; }

const Field* find_field(const Type& object, std::string_view name) {
  for (const Field& f : object.fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace imgrecipe::config::schema
