// imgrecipe.host.packages: package transactions inside an image root.
#include "host/packages/transaction.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

std::optional<packages::Manager> opt_manager(lua_State* L, int table) {
  auto name = opt_string_field(L, table, "manager");
  if (!name || name->empty()) return std::nullopt;
  return packages::parse_manager(*name);
}

// packages.detect(root) -> "tdnf" | "dnf" | "apt-get"
int l_detect(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  lua_pushstring(L, packages::to_string(packages::detect_manager(root)));
  return 1;
}

// packages.transaction(root, {manager=, remove=, update_existing=, install=,
// update=, sources=, disable_base_repos=, releasever=, work_dir=}) -> manager
int l_transaction(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  luaL_checktype(L, 2, LUA_TTABLE);
  packages::Request r;
  r.manager = opt_manager(L, 2);
  r.remove = opt_string_list_field(L, 2, "remove");
  r.update_existing = opt_bool_field(L, 2, "update_existing").value_or(false);
  r.install = opt_string_list_field(L, 2, "install");
  r.update = opt_string_list_field(L, 2, "update");
  r.sources = opt_string_list_field(L, 2, "sources");
  r.disable_base_repos = opt_bool_field(L, 2, "disable_base_repos").value_or(false);
  r.releasever = opt_string_field(L, 2, "releasever").value_or("");
  r.work_dir = opt_string_field(L, 2, "work_dir").value_or("");
  if (r.work_dir.empty()) throw Error(ErrorKind::Usage, "packages: work_dir is required");
  lua_pushstring(L, packages::to_string(packages::run_transaction(root, r)));
  return 1;
}

// packages.remove_manager(root, {manager=}?) -> {removed package names}
int l_remove_manager(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  std::optional<packages::Manager> m;
  if (lua_istable(L, 2)) m = opt_manager(L, 2);
  push_string_list(L, packages::remove_package_manager(root, m));
  return 1;
}

// packages.installed(root, name, {manager=}?) -> boolean
int l_installed(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  std::string name = check_string(L, 2);
  std::optional<packages::Manager> m;
  if (lua_istable(L, 3)) m = opt_manager(L, 3);
  lua_pushboolean(L, packages::is_installed(root, m ? *m : packages::detect_manager(root), name));
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("detect", l_detect), IMGRECIPE_FN("transaction", l_transaction),
                         IMGRECIPE_FN("remove_manager", l_remove_manager), IMGRECIPE_FN("installed", l_installed),
                         {nullptr, nullptr}};

}  // namespace

int open_packages(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
