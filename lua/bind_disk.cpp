// imgrecipe.host.disk: partition tables and filesystems of image files.
#include "host/disk/partition_probe.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

int l_partitions(lua_State* L) {
  std::string path = check_string(L, 1);
  auto table = read_partition_table(path);
  auto parts = probe_partitions(path, table);
  lua_createtable(L, 0, 4);  // [t]
  set_field(L, "type", table.type);
  set_field(L, "id", table.id);
  set_field(L, "size", static_cast<long long>(table.disk_size));
  lua_createtable(L, static_cast<int>(parts.size()), 0);  // [t, list]
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    lua_createtable(L, 0, 10);  // [t, list, p]
    set_field(L, "number", static_cast<long long>(p.part.number));
    set_field(L, "start", static_cast<long long>(p.part.start));
    set_field(L, "size", static_cast<long long>(p.part.size));
    set_field(L, "type", p.part.type);
    set_field(L, "type_name", p.part.type_name);
    set_field(L, "partuuid", p.part.uuid);
    set_field(L, "partlabel", p.part.label);
    set_field(L, "fstype", p.fs.type);
    set_field(L, "uuid", p.fs.uuid);
    set_field(L, "label", p.fs.label);
    lua_rawseti(L, -2, static_cast<int>(i + 1));  // [t, list]
  }
  lua_setfield(L, -2, "partitions");  // [t]
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("partitions", l_partitions), {nullptr, nullptr}};

}  // namespace

int open_disk(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
