// imgrecipe.host.cosi: COSI output (host/image/cosi). The stdlib module
// imgrecipe.cosi gathers the OS description and calls these.
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "host/image/cosi.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

[[noreturn]] void bad(const std::string& name, const std::string& why) {
  throw Error(ErrorKind::Usage, fmt::format("{}: {}", name, why));
}

const char* type_of(lua_State* L, int index) { return lua_typename(L, lua_type(L, index)); }

std::string arg_string(lua_State* L, int index, const std::string& name) {
  if (lua_type(L, index) != LUA_TSTRING) bad(name, fmt::format("expected a string, got {}", type_of(L, index)));
  size_t n = 0;
  const char* s = lua_tolstring(L, index, &n);
  return {s, n};
}

void arg_table(lua_State* L, int index, const std::string& name, bool optional) {
  if (optional && lua_isnoneornil(L, index)) return;
  if (!lua_istable(L, index)) bad(name, fmt::format("expected a table, got {}", type_of(L, index)));
}

// String field `key` of the table at `t` ("" when absent).
std::string str_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  lua_getfield(L, t, key);
  std::string out;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) {
      std::string why = fmt::format("expected a string, got {}", type_of(L, -1));
      lua_pop(L, 1);
      bad(prefix + "." + key, why);
    }
    out = lua_tostring(L, -1);
  }
  lua_pop(L, 1);
  return out;
}

std::optional<int> int_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  lua_getfield(L, t, key);
  std::optional<int> out;
  if (!lua_isnil(L, -1)) {
    double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    if (!(v == std::floor(v)) || std::fabs(v) > 1e6) bad(prefix + "." + key, "expected a whole number");
    return static_cast<int>(v);
  }
  lua_pop(L, 1);
  return out;
}

// Calls `each(index, "name[i]")` for every table in the list field `key`.
template <typename F>
void each_table(lua_State* L, int t, const char* key, const std::string& prefix, F each) {
  lua_getfield(L, t, key);
  int list = lua_gettop(L);
  std::string name = prefix + "." + key;
  if (!lua_isnil(L, list)) {
    if (!lua_istable(L, list)) bad(name, fmt::format("expected a list, got {}", type_of(L, list)));
    for (int i = 1;; ++i) {
      lua_rawgeti(L, list, i);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      std::string item = fmt::format("{}[{}]", name, i);
      if (!lua_istable(L, -1)) bad(item, fmt::format("expected a table, got {}", type_of(L, -1)));
      each(lua_gettop(L), item);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
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
  in.os_arch = str_field(L, 3, "os_arch", "inputs");
  in.os_release = str_field(L, 3, "os_release", "inputs");
  in.image_uuid = str_field(L, 3, "image_uuid", "inputs");
  lua_getfield(L, 3, "bootloader");
  if (!lua_istable(L, -1)) bad("inputs.bootloader", fmt::format("expected a table, got {}", type_of(L, -1)));
  int b = lua_gettop(L);
  in.bootloader.type = str_field(L, b, "type", "inputs.bootloader");
  each_table(L, b, "entries", "inputs.bootloader", [&](int e, const std::string& name) {
    in.bootloader.entries.push_back({str_field(L, e, "type", name), str_field(L, e, "path", name),
                                     str_field(L, e, "cmdline", name), str_field(L, e, "kernel", name)});
  });
  lua_pop(L, 1);
  each_table(L, 3, "packages", "inputs", [&](int p, const std::string& name) {
    in.packages.push_back({str_field(L, p, "name", name), str_field(L, p, "version", name),
                           str_field(L, p, "release", name), str_field(L, p, "arch", name)});
  });
  each_table(L, 3, "mounts", "inputs", [&](int m, const std::string& name) {
    auto n = int_field(L, m, "partition", name);
    if (!n || *n < 1) bad(name + ".partition", "expected a partition number");
    in.mount_points[*n] = str_field(L, m, "path", name);
  });
  cosi::Options o;
  if (!lua_isnoneornil(L, 4)) {
    if (auto v = int_field(L, 4, "level", "opts")) o.zstd.level = *v;
    if (auto v = int_field(L, 4, "window_log", "opts")) o.zstd.window_log = *v;
    if (auto v = int_field(L, 4, "workers", "opts")) o.zstd.workers = *v;
    o.work_dir = str_field(L, 4, "work_dir", "opts");
    lua_getfield(L, 4, "check");
    if (lua_isboolean(L, -1)) o.check_filesystems = lua_toboolean(L, -1) != 0;
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

// shrink(disk) -> {{number=, old_size=, new_size=}, ...}: every ext2/3/4.
int l_shrink(lua_State* L) {
  std::string disk = working_file(L, arg_string(L, 1, "disk"));
  auto results = cosi::shrink_ext_filesystems(disk);
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
