// imgrecipe.host.exec: commands inside an image root.
#include <fmt/format.h>

#include "host/exec/chroot.hpp"
#include "host/exec/image_devices.hpp"
#include "host/security/names.hpp"
#include "host/system/log.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

// "K=V" for the command's environment; a bad name ("A=B", "") would set a
// different variable than asked, a NUL would cut the value.
std::string env_entry(const std::string& key, const std::string& value) {
  if (auto why = names::env_name(key)) {
    throw Error(ErrorKind::Usage, fmt::format("env: invalid environment variable name '{}': {}", names::shown(key), *why));
  }
  if (auto why = names::env_value(value)) {
    throw Error(ErrorKind::Usage, fmt::format("env: value of {}: {}", key, *why));
  }
  return key + "=" + value;
}

// exec.chroot(root, argv, opts) -> {exit_code=, output={last lines}}
// opts: step, env = {K = V}, binds = {{host=, image=, read_only=}}, cwd,
// stdin, check (default true), quiet (log output at debug), secret, network.
// binds[i].recursive = false binds only the filesystem at `host`.
// devices = <whole_disk handle>: its disk and partitions appear in /dev
// with /dev/disk/by-* links (a new layout's root; an os_mount root gets its
// own partitions without asking). Only a handle is taken, never a path, so a
// recipe cannot show a host disk to the image.
int l_chroot(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  auto argv = check_string_list(L, 2, "command");
  if (argv.empty()) throw Error(ErrorKind::Usage, "command: must not be empty");
  ChrootOptions o;
  bool check = true;
  if (lua_istable(L, 3)) {
    o.step = opt_string_field(L, 3, "step").value_or("");
    o.cwd = opt_string_field(L, 3, "cwd").value_or("/");
    o.stdin_data = opt_string_field(L, 3, "stdin");
    check = opt_bool_field(L, 3, "check").value_or(true);
    o.secret_args = opt_bool_field(L, 3, "secret").value_or(false);
    o.network = opt_bool_field(L, 3, "network").value_or(true);
    if (opt_bool_field(L, 3, "quiet").value_or(false)) o.output_level = log::Level::Debug;
    lua_getfield(L, 3, "env");
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      while (lua_next(L, -2) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1)) {
          throw Error(ErrorKind::Usage, "env: expected a table of string keys and string values");
        }
        o.env.push_back(env_entry(check_string(L, -2), check_string(L, -1)));
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
    lua_getfield(L, 3, "binds");
    if (lua_istable(L, -1)) {
      int t = lua_gettop(L);
      for (int i = 1;; ++i) {
        lua_rawgeti(L, t, i);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        int b = lua_gettop(L);
        BindMount bm;
        bm.host_path = opt_string_field(L, b, "host").value_or("");
        bm.image_path = opt_string_field(L, b, "image").value_or("");
        bm.read_only = opt_bool_field(L, b, "read_only").value_or(true);
        bm.recursive = opt_bool_field(L, b, "recursive").value_or(true);
        if (bm.host_path.empty() || bm.image_path.empty()) throw Error(ErrorKind::Usage, "binds: need host and image");
        o.binds.push_back(bm);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  if (const OsMount* os = opt_os_mount(L, 1)) o.devices = image_devices(*os);
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "devices");
    if (!lua_isnil(L, -1)) {
      const WholeDisk* wd = opt_whole_disk(L, lua_gettop(L));
      if (wd == nullptr) throw Error(ErrorKind::Usage, "devices: expected an attached disk (whole_disk handle)");
      for (auto& d : disk_devices(*wd)) o.devices.push_back(std::move(d));
    }
    lua_pop(L, 1);
  }
  RunResult r = check ? chroot_run_checked(root, argv, o) : chroot_run(root, argv, o);
  lua_createtable(L, 0, 2);
  set_field(L, "exit_code", static_cast<long long>(r.exit_code));
  push_string_list(L, std::vector<std::string>(r.tail.begin(), r.tail.end()));
  lua_setfield(L, -2, "output");
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("chroot", l_chroot), {nullptr, nullptr}};

}  // namespace

int open_exec(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
