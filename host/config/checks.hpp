// The per-field and per-object rules of ALIC (reference §5) that the schema
// tables attach to fields. Each one is local: it sees one value or one object.
// Whole-config rules live in validate.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"

namespace imgrecipe::config::checks {

using Result = std::optional<std::string>;

// Scalars (scalar_checks.cpp).
Result hostname(std::string_view v);
Result permissions(std::string_view v);
Result size(std::string_view v);           // <N>K|M|G|T, a multiple of 1 MiB
Result positive_size(std::string_view v);  // as size(), and > 0
Result partition_size(std::string_view v); // "grow" or a positive size
Result partition_type(std::string_view v);
Result partition_label(std::string_view v);
Result mount_path(std::string_view v);     // absolute; no whitespace, ':' or ','
Result mount_options(std::string_view v);
Result verity_name(std::string_view v);
Result hash_signature_path(std::string_view v);
Result subvolume_path(std::string_view v);
Result module_name(std::string_view v);
Result module_option_value(std::string_view v);
Result not_blank(std::string_view v);
Result kernel_argument(std::string_view v);  // host/security/names.hpp's rules
Result user_name(std::string_view v);        // as useradd: host/security/names.hpp
Result group_name(std::string_view v);
Result optional_group_name(std::string_view v);  // "" = unset
Result service_name(std::string_view v);
Result pxe_url(std::string_view v);
Result snapshot_time(std::string_view v);
Result azure_linux_variant(std::string_view v);
Result azure_linux_version(std::string_view v);
Result oci_uri(std::string_view v);
Result script_path(std::string_view v);
Result absolute_path(std::string_view v);
Result artifact_item(std::string_view v);

// Scalar forms of "string or object" types (scalar_checks.cpp).
std::optional<Node> mount_point_from_scalar(const Node& scalar, std::string& error);
std::optional<Node> oci_image_from_scalar(const Node& scalar, std::string& error);
std::optional<Node> oci_platform_from_scalar(const Node& scalar, std::string& error);

// Bytes of a size string already accepted by size() (scalar_checks.cpp).
unsigned long long size_bytes(std::string_view v);

// Objects (object_rules.cpp).
void additional_file(const Node& o, const std::string& path, Problems& p);
void script(const Node& o, const std::string& path, Problems& p);
void password(const Node& o, const std::string& path, Problems& p);
void module(const Node& o, const std::string& path, Problems& p);
void os(const Node& o, const std::string& path, Problems& p);
void overlay(const Node& o, const std::string& path, Problems& p);
void filesystem(const Node& o, const std::string& path, Problems& p);
void btrfs(const Node& o, const std::string& path, Problems& p);
void subvolume(const Node& o, const std::string& path, Problems& p);
void verity(const Node& o, const std::string& path, Problems& p);
void partition(const Node& o, const std::string& path, Problems& p);
void storage(const Node& o, const std::string& path, Problems& p);
void input_image(const Node& o, const std::string& path, Problems& p);
void pxe(const Node& o, const std::string& path, Problems& p);
void artifacts(const Node& o, const std::string& path, Problems& p);

}  // namespace imgrecipe::config::checks
