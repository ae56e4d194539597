// imgrecipe.host.cosi: COSI output (host/image/cosi). The stdlib module
// imgrecipe.cosi gathers the OS description and calls these.
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "host/image/cosi.hpp"
#include "lua/args.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

// An optional string field, "" when absent.
std::string text_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  return str_field(L, t, key, prefix).value_or("");
}

std::optional<int> int_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  return field<int>(L, t, key, prefix, [](lua_State* L, int i, const std::string& name) {
    return static_cast<int>(arg_whole(L, i, name, -1000000, 1000000));
  });
}

void push_image_file(lua_State* L, const cosi::ImageFile& f) {
  lua_createtable(L, 0, 4);
  set_field(L, "path", f.path);
  set_field(L, "compressed_size", static_cast<long long>(f.compressed_size));
  set_field(L, "uncompressed_size", static_cast<long long>(f.uncompressed_size));
  set_field(L, "sha384", f.sha384);
}

// write(disk, out, inputs, opts) -> {id=, regions={...}, images={...}}
int l_write(lua_State* L) {
  std::string disk = arg_string(L, 1, "disk");
  std::string out = arg_string(L, 2, "path");
  arg_table(L, 3, "inputs", false);
  arg_table(L, 4, "opts", true);
  cosi::Inputs in;
  in.os_arch = text_field(L, 3, "os_arch", "inputs");
  in.os_release = text_field(L, 3, "os_release", "inputs");
  in.image_uuid = text_field(L, 3, "image_uuid", "inputs");
  lua_getfield(L, 3, "bootloader");
  if (!lua_istable(L, -1)) bad_arg("inputs.bootloader", fmt::format("expected a table, got {}", type_of(L, -1)));
  int b = lua_gettop(L);
  in.bootloader.type = text_field(L, b, "type", "inputs.bootloader");
  list_field(L, b, "entries", "inputs.bootloader", [&](int e, const std::string& name) {
    in.bootloader.entries.push_back({text_field(L, e, "type", name), text_field(L, e, "path", name),
                                     text_field(L, e, "cmdline", name), text_field(L, e, "kernel", name)});
  });
  lua_pop(L, 1);
  list_field(L, 3, "packages", "inputs", [&](int p, const std::string& name) {
    in.packages.push_back({text_field(L, p, "name", name), text_field(L, p, "version", name),
                           text_field(L, p, "release", name), text_field(L, p, "arch", name)});
  });
  list_field(L, 3, "mounts", "inputs", [&](int m, const std::string& name) {
    auto n = int_field(L, m, "partition", name);
    if (!n || *n < 1) bad_arg(name + ".partition", "expected a partition number");
    in.mount_points[*n] = text_field(L, m, "path", name);
  });
  list_field(L, 3, "verity", "inputs", [&](int v, const std::string& name) {
    auto data = int_field(L, v, "data", name);
    auto hash = int_field(L, v, "hash", name);
    if (!data || *data < 1) bad_arg(name + ".data", "expected a partition number");
    cosi::Inputs::Verity e;
    e.hash_partition = hash ? *hash : *data;
    e.root_hash = text_field(L, v, "root_hash", name);
    e.hash_offset = count_field(L, v, "hash_offset", name).value_or(0);
    in.verity[*data] = e;
  });
  cosi::Options o;
  if (!lua_isnoneornil(L, 4)) {
    if (auto v = int_field(L, 4, "level", "opts")) o.zstd.level = *v;
    if (auto v = int_field(L, 4, "window_log", "opts")) o.zstd.window_log = *v;
    if (auto v = int_field(L, 4, "workers", "opts")) o.zstd.workers = *v;
    o.work_dir = text_field(L, 4, "work_dir", "opts");
    lua_getfield(L, 4, "check");
    if (lua_isboolean(L, -1)) o.check_filesystems = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    lua_getfield(L, 4, "vhd_footer");
    o.vhd_footer = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
  }
  cosi::Metadata m = cosi::write(disk, out, in, o);
  lua_createtable(L, 0, 3);
  set_field(L, "id", m.id);
  lua_createtable(L, static_cast<int>(m.regions.size()), 0);
  for (size_t i = 0; i < m.regions.size(); ++i) {
    push_image_file(L, m.regions[i].image);
    set_field(L, "type", m.regions[i].type);
    if (m.regions[i].number > 0) set_field(L, "number", static_cast<long long>(m.regions[i].number));
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "regions");
  lua_createtable(L, static_cast<int>(m.images.size()), 0);
  for (size_t i = 0; i < m.images.size(); ++i) {
    push_image_file(L, m.images[i].image);
    set_field(L, "mount_point", m.images[i].mount_point);
    set_field(L, "fs_type", m.images[i].fs_type);
    set_field(L, "fs_uuid", m.images[i].fs_uuid);
    if (m.images[i].verity) {
      push_image_file(L, m.images[i].verity->image);
      set_field(L, "root_hash", m.images[i].verity->root_hash);
      lua_setfield(L, -2, "verity");
    }
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "images");
  return 1;
}

// Shrinking writes the disk: only a working file in the build directory
// (its real directory confined by sys.mkdir, the one place that checks).
std::string working_file(lua_State* L, const std::string& path) {
  std::error_code ec;
  std::string real = std::filesystem::canonical(path, ec).string();
  if (ec) throw_system("resolve", path, ec.value());
  std::string dir = std::filesystem::path(real).parent_path().string();
  lua_getglobal(L, "require");
  lua_pushstring(L, "imgrecipe.host.sys");
  if (lua_pcall(L, 1, 1, 0) == 0) {
    lua_getfield(L, -1, "mkdir");
    lua_remove(L, -2);
    lua_pushlstring(L, dir.data(), dir.size());
    if (lua_pcall(L, 1, 0, 0) == 0) return real;
  }
  Error e = to_error(L, -1);
  lua_pop(L, 1);
  throw e;
}

// shrink(disk[, {only_filling=, skip={n...}}]) -> {{number=, old_size=, new_size=}, ...}:
// every ext2/3/4 (only those filling their partition with only_filling) but
// the partitions in skip.
int l_shrink(lua_State* L) {
  std::string disk = working_file(L, arg_string(L, 1, "disk"));
  arg_table(L, 2, "opts", true);
  bool only_filling = false;
  std::set<int> skip;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "only_filling");
    only_filling = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    lua_getfield(L, 2, "skip");
    if (!lua_isnil(L, -1)) {
      if (!lua_istable(L, -1)) bad_arg("opts.skip", std::string("expected a list, got ") + type_of(L, -1));
      int list = lua_gettop(L);
      for (int i = 1;; ++i) {
        lua_rawgeti(L, list, i);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        skip.insert(static_cast<int>(arg_whole(L, lua_gettop(L), "opts.skip[" + std::to_string(i) + "]", 1, 1000000)));
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  auto results = cosi::shrink_ext_filesystems(disk, only_filling, skip);
  lua_createtable(L, static_cast<int>(results.size()), 0);
  for (size_t i = 0; i < results.size(); ++i) {
    lua_createtable(L, 0, 3);
    set_field(L, "number", static_cast<long long>(results[i].number));
    set_field(L, "old_size", static_cast<long long>(results[i].result.old_size));
    set_field(L, "new_size", static_cast<long long>(results[i].result.new_size));
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("write", l_write), IMGRECIPE_FN("shrink", l_shrink), {nullptr, nullptr}};

}  // namespace

int open_cosi(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
