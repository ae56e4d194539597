// imgrecipe.host.squashfs: squashfs images of a directory tree and reading
// them back (host/fs/squashfs). The stdlib module imgrecipe.squashfs takes
// an Image or a Disk and calls these.
#include <string>

#include "host/fs/squashfs.hpp"
#include "lua/args.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

int int_field(lua_State* L, int t, const char* key, const std::string& prefix, long long lo, long long hi, int dflt) {
  auto v = field<long long>(L, t, key, prefix,
                            [&](lua_State* L, int i, const std::string& name) { return arg_whole(L, i, name, lo, hi); });
  return v ? static_cast<int>(*v) : dflt;
}

// create(source_dir, out, opts)
int l_create(lua_State* L) {
  std::string source = arg_string(L, 1, "source");
  std::string out = arg_string(L, 2, "path");
  arg_table(L, 3, "opts", true);
  squashfs::CreateOptions o;
  if (!lua_isnoneornil(L, 3)) {
    o.compression = str_field(L, 3, "compression", "opts").value_or(o.compression);
    o.level = int_field(L, 3, "level", "opts", 0, 22, 0);
    o.block_size = static_cast<std::uint32_t>(int_field(L, 3, "block_size", "opts", 0, 1 << 20, 0));
    o.xattrs = bool_field(L, 3, "xattrs", "opts").value_or(true);
    o.exclude = string_list_field(L, 3, "exclude", "opts");
    if (auto t = field<long long>(L, 3, "timestamp", "opts", [](lua_State* L, int i, const std::string& name) {
          return arg_whole(L, i, name, 0, 0xFFFFFFFFll);
        }))
      o.timestamp = *t;
    o.processors = int_field(L, 3, "processors", "opts", 0, 4096, 0);
    o.one_file_system = bool_field(L, 3, "one_file_system", "opts").value_or(false);
    o.all_root = bool_field(L, 3, "all_root", "opts").value_or(false);
    o.durable = bool_field(L, 3, "durable", "opts").value_or(true);
  }
  squashfs::create(source, out, o);
  return 0;
}

// list(image) -> {{path=, type=, mode=, uid=, gid=, size=, link_target=, mtime=}, ...}
int l_list(lua_State* L) {
  auto entries = squashfs::list(arg_string(L, 1, "image"));
  lua_createtable(L, static_cast<int>(entries.size()), 0);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    lua_createtable(L, 0, 8);
    set_field(L, "path", e.path);
    set_field(L, "type", std::string(1, e.type));
    set_field(L, "mode", static_cast<long long>(e.mode));
    set_field(L, "uid", static_cast<long long>(e.uid));
    set_field(L, "gid", static_cast<long long>(e.gid));
    set_field(L, "size", static_cast<long long>(e.size));
    if (e.type == 'l') set_field(L, "link_target", e.link_target);
    set_field(L, "mtime", e.mtime);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

// extract(image, dest, opts)
int l_extract(lua_State* L) {
  std::string image = arg_string(L, 1, "image");
  std::string dest = arg_string(L, 2, "dest");
  arg_table(L, 3, "opts", true);
  squashfs::ExtractOptions o;
  if (!lua_isnoneornil(L, 3)) {
    o.xattrs = bool_field(L, 3, "xattrs", "opts").value_or(true);
    o.processors = int_field(L, 3, "processors", "opts", 0, 4096, 0);
    o.paths = string_list_field(L, 3, "paths", "opts");
  }
  squashfs::extract(image, dest, o);
  return 0;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("create", l_create), IMGRECIPE_FN("list", l_list),
                         IMGRECIPE_FN("extract", l_extract), {nullptr, nullptr}};

}  // namespace

int open_squashfs(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
