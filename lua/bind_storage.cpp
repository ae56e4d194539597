// imgrecipe.host.storage: new disks. Disk files, partition tables, whole-disk
// attach, mkfs, fstab text, mount maps and OS tree copies (issue 8 §2 host
// primitives). Argument errors are `usage` errors naming the argument.
//
// Everything that writes chains from a handle made in this run: tables are
// written on a disk_file made by create_disk (or opened by open_disk: a file
// in the build directory, such as an image's working copy), only that file is attached,
// filesystems are made and mounted on partitions of that whole_disk, and
// an OS is copied only into a mount_map. A recipe cannot point any of them
// at a host device or a host directory.
#include <fmt/format.h>

#include <cmath>

#include "host/disk/disk_file.hpp"
#include "host/disk/partitioner.hpp"
#include "host/disk/probe.hpp"
#include "host/disk/whole_disk.hpp"
#include "host/fs/fstab.hpp"
#include "host/fs/mkfs.hpp"
#include "host/disk/reset_ids.hpp"
#include "host/fs/mount_map.hpp"
#include "host/fs/os_copy.hpp"
#include "host/system/error.hpp"
#include "lua/args.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

constexpr const char* kDiskFileMeta = "imgrecipe.disk_file";
constexpr const char* kWholeDiskMeta = "imgrecipe.whole_disk";
constexpr const char* kMountMapMeta = "imgrecipe.mount_map";

// ---- disk files ----

// Working files and mount points stay inside the build directory: `dir` is
// made by sys.mkdir, the one place that confines host paths to it.
void mkdir_in_build_dir(lua_State* L, const std::string& dir) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "imgrecipe.host.sys");
  if (lua_pcall(L, 1, 1, 0) == 0) {
    lua_getfield(L, -1, "mkdir");
    lua_remove(L, -2);
    lua_pushlstring(L, dir.data(), dir.size());
    if (lua_pcall(L, 1, 0, 0) == 0) return;
  }
  Error e = to_error(L, -1);
  lua_pop(L, 1);
  throw e;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// create_disk(path, size, {overwrite=}) -> disk_file handle; `path` in the build directory.
int l_create_disk(lua_State* L) {
  std::string path = arg_string(L, 1, "path");
  std::uint64_t size = arg_count(L, 2, "size");
  arg_table(L, 3, "opts", true);
  bool overwrite = lua_istable(L, 3) && bool_field(L, 3, "overwrite", "opts").value_or(false);
  mkdir_in_build_dir(L, parent_of(path));
  push_handle(L, DiskFile::create(path, size, overwrite), kDiskFileMeta);
  return 1;
}

// open_disk(path) -> disk_file handle of an existing disk file in the build
// directory (an image's working copy); never removed by the handle.
int l_open_disk(lua_State* L) {
  std::string path = arg_string(L, 1, "path");
  mkdir_in_build_dir(L, parent_of(path));
  push_handle(L, DiskFile::open(path), kDiskFileMeta);
  return 1;
}

int df_path(lua_State* L) {
  lua_pushstring(L, check_handle<DiskFile>(L, 1, kDiskFileMeta)->path().c_str());
  return 1;
}
int df_size(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(check_handle<DiskFile>(L, 1, kDiskFileMeta)->size()));
  return 1;
}
int df_keep(lua_State* L) {
  check_handle<DiskFile>(L, 1, kDiskFileMeta)->keep();
  return 0;
}
// Removes the file unless kept.
int df_release(lua_State* L) { return close_handle<DiskFile>(L, kDiskFileMeta); }

// ---- partition tables ----

DiskFile* check_disk_file(lua_State* L, int index) {
  auto* h = static_cast<Handle<DiskFile>*>(luaL_testudata(L, index, kDiskFileMeta));
  if (h == nullptr) bad_arg("disk", fmt::format("expected a disk file made by create_disk, got {}", type_of(L, index)));
  if (h->ptr == nullptr) bad_arg("disk", "the disk file was released");
  return h->ptr;
}

WholeDisk* check_whole_disk(lua_State* L, int index) {
  auto* h = static_cast<Handle<WholeDisk>*>(luaL_testudata(L, index, kWholeDiskMeta));
  if (h == nullptr) bad_arg("disk", fmt::format("expected an attached disk, got {}", type_of(L, index)));
  if (h->ptr == nullptr) bad_arg("disk", "the disk was released");
  return h->ptr;
}

void push_table(lua_State* L, const PartitionTable& t) {
  lua_createtable(L, 0, 4);
  set_field(L, "table", t.type == "dos" ? std::string("mbr") : t.type);
  set_field(L, "disk_id", t.id);
  set_field(L, "disk_size", static_cast<long long>(t.disk_size));
  lua_createtable(L, static_cast<int>(t.partitions.size()), 0);
  for (size_t i = 0; i < t.partitions.size(); ++i) {
    const auto& p = t.partitions[i];
    lua_createtable(L, 0, 7);
    set_field(L, "number", static_cast<long long>(p.number));
    set_field(L, "start", static_cast<long long>(p.start));
    set_field(L, "size", static_cast<long long>(p.size));
    set_field(L, "type", p.type);
    set_field(L, "type_name", p.type_name);
    set_field(L, "uuid", p.uuid);
    set_field(L, "label", p.label);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "partitions");
}

// partition(disk_file, layout) -> table read back. layout: {table="gpt"|"mbr",
// disk_id=, arch="x86_64"|"arm64", partitions={{id=, start=, ["end"]=,
// size=, grow=, type=, label=, uuid=, bootable=}, ...}}; bytes.
int l_partition(lua_State* L) {
  std::string path = check_disk_file(L, 1)->path();
  arg_table(L, 2, "layout", false);
  DiskLayout layout;
  std::string table = str_field(L, 2, "table", "layout").value_or("gpt");
  if (table == "gpt") layout.table = TableType::Gpt;
  else if (table == "mbr" || table == "dos") layout.table = TableType::Mbr;
  else bad_arg("layout.table", fmt::format("unknown partition table type '{}' (gpt or mbr)", table));
  layout.disk_id = str_field(L, 2, "disk_id", "layout").value_or("");
  TargetArch arch = parse_target_arch(str_field(L, 2, "arch", "layout").value_or("x86_64"));
  list_field(L, 2, "partitions", "layout", [&](int t, const std::string& name) {
    PartitionSpec p;
    p.id = str_field(L, t, "id", name).value_or(fmt::format("{}", layout.partitions.size() + 1));
    p.start = count_field(L, t, "start", name);
    p.end = count_field(L, t, "end", name);
    p.size = count_field(L, t, "size", name);
    p.grow = bool_field(L, t, "grow", name).value_or(false);
    p.type = str_field(L, t, "type", name).value_or("linux-generic");
    p.label = str_field(L, t, "label", name).value_or("");
    p.uuid = str_field(L, t, "uuid", name).value_or("");
    p.bootable = bool_field(L, t, "bootable", name).value_or(false);
    layout.partitions.push_back(std::move(p));
  });
  if (layout.partitions.empty()) bad_arg("layout.partitions", "expected at least one partition");
  push_table(L, write_partition_table(path, layout, arch));
  return 1;
}

// read_table(path) -> the partition table of a disk file or device.
int l_read_table(lua_State* L) {
  push_table(L, read_partition_table(arg_string(L, 1, "path")));
  return 1;
}

// plan_id_reset(path) -> {{number=, old_partuuid=, new_partuuid=, fstype=,
// old_uuid=, new_uuid=}, ...}: new random ids for an image file in the build
// directory (nothing changed). apply_id_reset(path, {plan = <that list>})
// writes them.
int l_plan_id_reset(lua_State* L) {
  std::string path = arg_string(L, 1, "path");
  mkdir_in_build_dir(L, parent_of(path));
  auto changes = plan_id_reset(path);
  lua_createtable(L, static_cast<int>(changes.size()), 0);
  for (size_t i = 0; i < changes.size(); ++i) {
    const IdChange& c = changes[i];
    lua_createtable(L, 0, 6);
    set_field(L, "number", static_cast<long long>(c.number));
    set_field(L, "old_partuuid", c.old_partuuid);
    set_field(L, "new_partuuid", c.new_partuuid);
    set_field(L, "fstype", c.fstype);
    set_field(L, "old_uuid", c.old_uuid);
    set_field(L, "new_uuid", c.new_uuid);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

int l_apply_id_reset(lua_State* L) {
  std::string path = arg_string(L, 1, "path");
  mkdir_in_build_dir(L, parent_of(path));
  arg_table(L, 2, "opts", false);
  std::vector<IdChange> plan;
  list_field(L, 2, "plan", "opts", [&](int t, const std::string& name) {
    IdChange c;
    c.number = static_cast<int>(count_field(L, t, "number", name).value_or(0));
    c.new_partuuid = str_field(L, t, "new_partuuid", name).value_or("");
    c.new_uuid = str_field(L, t, "new_uuid", name).value_or("");
    if (c.number <= 0 || c.new_partuuid.empty()) bad_arg(name, "needs number and new_partuuid");
    plan.push_back(c);
  });
  apply_id_reset(path, plan);
  return 0;
}

// ---- whole-disk attach ----

// attach(disk_file, {read_only=}) -> whole_disk handle
int l_attach(lua_State* L) {
  std::string path = check_disk_file(L, 1)->path();
  arg_table(L, 2, "opts", true);
  bool ro = lua_istable(L, 2) && bool_field(L, 2, "read_only", "opts").value_or(false);
  push_handle(L, WholeDisk::attach(path, ro), kWholeDiskMeta);
  return 1;
}

int wd_device(lua_State* L) {
  lua_pushstring(L, check_handle<WholeDisk>(L, 1, kWholeDiskMeta)->device().c_str());
  return 1;
}

int wd_partition_device(lua_State* L) {
  auto* wd = check_handle<WholeDisk>(L, 1, kWholeDiskMeta);
  lua_pushstring(L, wd->partition_device(static_cast<int>(arg_count(L, 2, "number"))).c_str());
  return 1;
}

// {{number=, device=, start=, size=, type=, uuid=, label=}, ...}
int wd_partitions(lua_State* L) {
  auto* wd = check_handle<WholeDisk>(L, 1, kWholeDiskMeta);
  push_table(L, wd->table());
  lua_getfield(L, -1, "partitions");
  const auto& parts = wd->table().partitions;
  for (size_t i = 0; i < parts.size(); ++i) {
    lua_rawgeti(L, -1, static_cast<int>(i + 1));
    set_field(L, "device", wd->partition_device(parts[i].number));
    lua_pop(L, 1);
  }
  return 1;  // the list
}

// Deletes the partitions and detaches; raises (and stays on the teardown
// stack) while a partition is in use.
int wd_release(lua_State* L) {
  auto* h = static_cast<Handle<WholeDisk>*>(luaL_checkudata(L, 1, kWholeDiskMeta));
  if (h->ptr == nullptr) return 0;
  h->ptr->release();
  delete h->ptr;
  h->ptr = nullptr;
  return 0;
}

int wd_gc(lua_State* L) { return close_handle<WholeDisk>(L, kWholeDiskMeta); }

// ---- mkfs ----

MkfsOptions mkfs_options(lua_State* L, int t) {
  MkfsOptions o;
  auto type = str_field(L, t, "type", "opts");
  if (!type) bad_arg("opts.type", "required (ext4, xfs, vfat, fat32 or btrfs)");
  o.type = parse_fs_type(*type);
  o.label = str_field(L, t, "label", "opts").value_or("");
  o.uuid = str_field(L, t, "uuid", "opts").value_or("");
  o.work_dir = str_field(L, t, "work_dir", "opts").value_or("");
  list_field(L, t, "subvolumes", "opts", [&](int s, const std::string& name) {
    BtrfsSubvolume v;
    auto path = str_field(L, s, "path", name);
    if (!path) bad_arg(name + ".path", "required");
    v.path = *path;
    v.referenced_limit = count_field(L, s, "referenced_limit", name).value_or(0);
    v.exclusive_limit = count_field(L, s, "exclusive_limit", name).value_or(0);
    o.btrfs_subvolumes.push_back(std::move(v));
  });
  if (!o.btrfs_subvolumes.empty() && o.type != FsType::Btrfs) bad_arg("opts.subvolumes", "only btrfs has subvolumes");
  if (!o.btrfs_subvolumes.empty() && o.work_dir.empty()) bad_arg("opts.work_dir", "required with subvolumes");
  return o;
}

// mkfs(whole_disk, number, {type=, label=, uuid=, subvolumes=, work_dir=, size=})
// -> {device=, type=, uuid=, label=} probed from the result.
int l_mkfs(lua_State* L) {
  WholeDisk* wd = check_whole_disk(L, 1);
  std::string device = wd->partition_device(static_cast<int>(arg_count(L, 2, "number")));
  arg_table(L, 3, "opts", false);
  MkfsOptions o = mkfs_options(L, 3);
  // A filesystem smaller than its partition (inline verity puts its hash
  // tree after it). mkfs.xfs and mkfs.btrfs are not given a size here.
  std::uint64_t size = count_field(L, 3, "size", "opts").value_or(0);
  if (size != 0 && o.type != FsType::Ext4 && o.type != FsType::Vfat) {
    bad_arg("opts.size", "only ext4 and vfat filesystems can be made smaller than their partition");
  }
  if (!o.work_dir.empty()) mkdir_in_build_dir(L, o.work_dir);
  make_filesystem({device, 0, size}, o);
  FsInfo info = probe_filesystem(device);
  lua_createtable(L, 0, 4);
  set_field(L, "device", device);
  set_field(L, "type", info.type);
  set_field(L, "uuid", info.uuid);
  set_field(L, "label", info.label);
  return 1;
}

// probe(whole_disk, number) -> {type=, uuid=, label=} of a partition
int l_probe(lua_State* L) {
  WholeDisk* wd = check_whole_disk(L, 1);
  FsInfo info = probe_filesystem(wd->partition_device(static_cast<int>(arg_count(L, 2, "number"))));
  lua_createtable(L, 0, 3);
  set_field(L, "type", info.type);
  set_field(L, "uuid", info.uuid);
  set_field(L, "label", info.label);
  return 1;
}

// ---- fstab ----

// fstab(entries) -> text. entries: {{id=, mount_point=, type=, id_type=,
// fs_uuid=, part_uuid=, part_label=, options=, subvolume=}, ...}
int l_fstab(lua_State* L) {
  arg_table(L, 1, "entries", false);
  std::vector<FstabSpec> specs;
  lua_pushvalue(L, 1);
  lua_newtable(L);
  lua_insert(L, -2);
  lua_setfield(L, -2, "entries");  // {entries = arg}: reuse list_field's naming
  int wrap = lua_gettop(L);
  list_field(L, wrap, "entries", "fstab", [&](int t, const std::string& name) {
    FstabSpec s;
    s.id = str_field(L, t, "id", name).value_or(name);
    s.mount_point = str_field(L, t, "mount_point", name).value_or("");
    s.fs_type = str_field(L, t, "type", name).value_or("");
    if (s.fs_type.empty()) bad_arg(name + ".type", "required");
    s.id_type = parse_fstab_id_type(str_field(L, t, "id_type", name).value_or("part-uuid"));
    s.fs_uuid = str_field(L, t, "fs_uuid", name).value_or("");
    s.part_uuid = str_field(L, t, "part_uuid", name).value_or("");
    s.part_label = str_field(L, t, "part_label", name).value_or("");
    s.options = str_field(L, t, "options", name).value_or("");
    s.btrfs_subvolume = str_field(L, t, "subvolume", name).value_or("");
    specs.push_back(std::move(s));
  });
  std::string text = fstab_text(specs);
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

// ---- mount maps ----

// mount_map(root_dir, work_dir, {{path=, disk=<whole_disk>, partition=,
// fstype=, options=}, ...}, {stage_fat=}) -> mount_map handle
int l_mount_map(lua_State* L) {
  std::string root_dir = arg_string(L, 1, "root_dir");
  std::string work_dir = arg_string(L, 2, "work_dir");
  arg_table(L, 3, "mounts", false);
  arg_table(L, 4, "opts", true);
  mkdir_in_build_dir(L, root_dir);
  mkdir_in_build_dir(L, work_dir);
  std::vector<MountMapEntry> entries;
  lua_newtable(L);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "mounts");
  list_field(L, lua_gettop(L), "mounts", "mount_map", [&](int t, const std::string& name) {
    MountMapEntry e;
    auto path = str_field(L, t, "path", name);
    if (!path) bad_arg(name + ".path", "required");
    e.path = *path;
    lua_getfield(L, t, "disk");
    auto* h = static_cast<Handle<WholeDisk>*>(luaL_testudata(L, -1, kWholeDiskMeta));
    lua_pop(L, 1);  // still referenced by the entry
    if (h == nullptr || h->ptr == nullptr) bad_arg(name + ".disk", "expected an attached disk");
    WholeDisk* wd = h->ptr;
    auto number = count_field(L, t, "partition", name);
    if (!number) bad_arg(name + ".partition", "required");
    e.device = wd->partition_device(static_cast<int>(*number));
    e.fstype = str_field(L, t, "fstype", name).value_or("");
    e.options = str_field(L, t, "options", name).value_or("");
    entries.push_back(std::move(e));
  });
  lua_pop(L, 1);
  MountMap::Options o;
  if (lua_istable(L, 4)) o.stage_fat = bool_field(L, 4, "stage_fat", "opts").value_or(false);
  push_handle(L, MountMap::mount(root_dir, work_dir, std::move(entries), o), kMountMapMeta);
  return 1;
}

int mm_mounts(lua_State* L) {
  const auto& list = check_handle<MountMap>(L, 1, kMountMapMeta)->mounts();
  lua_createtable(L, static_cast<int>(list.size()), 0);
  for (size_t i = 0; i < list.size(); ++i) {
    lua_createtable(L, 0, 4);
    set_field(L, "target", list[i].path);
    set_field(L, "device", list[i].device);
    set_field(L, "fstype", list[i].fstype);
    set_field(L, "staged", list[i].staged);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

int mm_root_path(lua_State* L) {
  lua_pushstring(L, check_handle<MountMap>(L, 1, kMountMapMeta)->root_dir().c_str());
  return 1;
}

// release(commit): unmounts in reverse; with commit, staged FAT is written back.
int mm_release(lua_State* L) {
  auto* h = static_cast<Handle<MountMap>*>(luaL_checkudata(L, 1, kMountMapMeta));
  bool commit = lua_toboolean(L, 2) != 0;
  if (h->ptr == nullptr) return 0;
  std::unique_ptr<MountMap> owned(h->ptr);
  h->ptr = nullptr;
  owned->release(commit);
  return 0;
}

int mm_gc(lua_State* L) { return close_handle<MountMap>(L, kMountMapMeta); }

// ---- OS copy ----

// A root: an os_mount handle, a mount_map handle or a host directory.
std::string root_path(lua_State* L, int index, const char* name) {
  if (lua_type(L, index) == LUA_TSTRING) return lua_tostring(L, index);
  if (const OsMount* os = opt_os_mount(L, index)) return os->root().path();
  if (luaL_testudata(L, index, kMountMapMeta) != nullptr)
    return check_handle<MountMap>(L, index, kMountMapMeta)->root_dir();
  bad_arg(name, fmt::format("expected a mounted root (os_mount, mount_map) or a directory, got {}", type_of(L, index)));
}

// copy_os(source_root, mount_map): the source is an os_mount, a mount_map or
// a directory (only read); the destination only a mount_map of this run.
int l_copy_os(lua_State* L) {
  std::string src = root_path(L, 1, "source");
  if (luaL_testudata(L, 2, kMountMapMeta) == nullptr)
    bad_arg("dest", fmt::format("expected a mount_map, got {}", type_of(L, 2)));
  std::string dst = check_handle<MountMap>(L, 2, kMountMapMeta)->root_dir();
  copy_os_tree(src, dst);
  return 0;
}

int tostring_of(lua_State* L, const char* meta, const char* what) {
  auto* h = static_cast<Handle<void>*>(luaL_checkudata(L, 1, meta));
  lua_pushfstring(L, h->ptr == nullptr ? "<%s (released)>" : "<%s>", what);
  return 1;
}
int df_tostring(lua_State* L) { return tostring_of(L, kDiskFileMeta, "disk_file"); }
int wd_tostring(lua_State* L) { return tostring_of(L, kWholeDiskMeta, "whole_disk"); }
int mm_tostring(lua_State* L) { return tostring_of(L, kMountMapMeta, "mount_map"); }

const luaL_Reg kDiskFileMethods[] = {IMGRECIPE_FN("path", df_path),       IMGRECIPE_FN("size", df_size),
                                     IMGRECIPE_FN("keep", df_keep),       IMGRECIPE_FN("release", df_release),
                                     IMGRECIPE_FN("__gc", df_release),    IMGRECIPE_FN("__tostring", df_tostring),
                                     {nullptr, nullptr}};
const luaL_Reg kWholeDiskMethods[] = {IMGRECIPE_FN("device", wd_device),
                                      IMGRECIPE_FN("partition_device", wd_partition_device),
                                      IMGRECIPE_FN("partitions", wd_partitions),
                                      IMGRECIPE_FN("release", wd_release),
                                      IMGRECIPE_FN("__gc", wd_gc),
                                      IMGRECIPE_FN("__tostring", wd_tostring),
                                      {nullptr, nullptr}};
const luaL_Reg kMountMapMethods[] = {IMGRECIPE_FN("mounts", mm_mounts),   IMGRECIPE_FN("root_path", mm_root_path),
                                     IMGRECIPE_FN("release", mm_release), IMGRECIPE_FN("__gc", mm_gc),
                                     IMGRECIPE_FN("__tostring", mm_tostring), {nullptr, nullptr}};

const luaL_Reg kFns[] = {IMGRECIPE_FN("create_disk", l_create_disk), IMGRECIPE_FN("open_disk", l_open_disk),
                         IMGRECIPE_FN("partition", l_partition),
                         IMGRECIPE_FN("read_table", l_read_table),   IMGRECIPE_FN("attach", l_attach),
                         IMGRECIPE_FN("mkfs", l_mkfs),               IMGRECIPE_FN("probe", l_probe),
                         IMGRECIPE_FN("fstab", l_fstab),             IMGRECIPE_FN("mount_map", l_mount_map),
                         IMGRECIPE_FN("copy_os", l_copy_os),         IMGRECIPE_FN("plan_id_reset", l_plan_id_reset),
                         IMGRECIPE_FN("apply_id_reset", l_apply_id_reset),
                         {nullptr, nullptr}};

}  // namespace

const WholeDisk* opt_whole_disk(lua_State* L, int index) {
  auto* h = static_cast<Handle<WholeDisk>*>(luaL_testudata(L, index, kWholeDiskMeta));
  return h ? h->ptr : nullptr;
}

int open_storage(lua_State* L) {
  define_class(L, kDiskFileMeta, kDiskFileMethods);
  define_class(L, kWholeDiskMeta, kWholeDiskMethods);
  define_class(L, kMountMapMeta, kMountMapMethods);
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
