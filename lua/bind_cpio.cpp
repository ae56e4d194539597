// imgrecipe.host.cpio: a directory tree as a zstd-compressed newc cpio
// archive, the kernel's initramfs format (host/fs/cpio_image), and such an
// archive read back into a tree (host/fs/cpio_read). The stdlib module
// imgrecipe.fullos takes a mounted image and calls this.
#include <string>

#include "host/fs/cpio_image.hpp"
#include "host/fs/cpio_read.hpp"
#include "lua/args.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

// create(source_dir, out, {level=, exclude=, add_symlinks={{path, target}}, timestamp=}) -> {entries=, bytes=}
int l_create(lua_State* L) {
  std::string source = arg_string(L, 1, "source");
  std::string out = arg_string(L, 2, "path");
  arg_table(L, 3, "opts", true);
  cpio_image::CreateOptions o;
  if (!lua_isnoneornil(L, 3)) {
    if (auto v = field<long long>(L, 3, "level", "opts",
                                  [](lua_State* L, int i, const std::string& n) { return arg_whole(L, i, n, 1, 19); }))
      o.level = static_cast<int>(*v);
    o.exclude = string_list_field(L, 3, "exclude", "opts");
    if (auto t = field<long long>(L, 3, "timestamp", "opts", [](lua_State* L, int i, const std::string& n) {
          return arg_whole(L, i, n, 0, 0xFFFFFFFFll);
        }))
      o.timestamp = *t;
    for (const auto& pair : string_list_field(L, 3, "add_symlinks", "opts")) {
      auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size())
        bad_arg("opts.add_symlinks", "expected \"path=target\", got '" + pair + "'");
      o.add_symlinks.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
    }
  }
  auto stats = cpio_image::create(source, out, o);
  lua_createtable(L, 0, 2);
  set_field(L, "entries", static_cast<long long>(stats.entries));
  set_field(L, "bytes", static_cast<long long>(stats.bytes));
  return 1;
}

void push_stats(lua_State* L, const cpio_read::Stats& s) {
  lua_createtable(L, 0, 2);
  set_field(L, "entries", static_cast<long long>(s.entries));
  set_field(L, "bytes", static_cast<long long>(s.bytes));
}

// scan(archive) -> {entries=, bytes=}: every header checked, nothing written
int l_scan(lua_State* L) {
  push_stats(L, cpio_read::scan(arg_string(L, 1, "archive")));
  return 1;
}

// extract(archive, root_dir) -> {entries=, bytes=}
int l_extract(lua_State* L) {
  std::string archive = arg_string(L, 1, "archive");
  std::string root = arg_string(L, 2, "root_dir");
  push_stats(L, cpio_read::extract(archive, root));
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("create", l_create), IMGRECIPE_FN("scan", l_scan),
                         IMGRECIPE_FN("extract", l_extract), {nullptr, nullptr}};

}  // namespace

int open_cpio(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
