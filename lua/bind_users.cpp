// imgrecipe.host.users: the parts of user management that touch secrets or
// ownership (/etc/shadow, authorized_keys). Passwords go from the config
// straight into the image file: never into argv, logs or error messages.
#include "host/security/password.hpp"
#include "host/security/shadow.hpp"
#include "host/security/ssh_keys.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

// users.set_password(root, user, {type=, value=}, base_dir, new_user)
int l_set_password(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  std::string user = check_string(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  auto type = password::parse_type(opt_string_field(L, 3, "type").value_or("locked"));
  std::string value = opt_string_field(L, 3, "value").value_or("");
  std::string base_dir = lua_isstring(L, 4) ? lua_tostring(L, 4) : ".";
  bool new_user = lua_toboolean(L, 5) != 0;
  std::string field = password::shadow_field(type, value, base_dir);
  shadow::set_password(root, user, field, new_user);
  lua_pushboolean(L, field.empty() ? 0 : 1);  // whether a password is set
  return 1;
}

// users.set_password_expiry(root, user, days)
int l_set_password_expiry(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  shadow::set_expiry(root, check_string(L, 2), static_cast<long long>(luaL_checkinteger(L, 3)));
  return 0;
}

// users.authorized_keys(root, {user=, home=, uid=, gid=, key_files=, keys=, keep_existing=}) -> lines
int l_authorized_keys(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  luaL_checktype(L, 2, LUA_TTABLE);
  AuthorizedKeys spec;
  spec.user = opt_string_field(L, 2, "user").value_or("");
  spec.home = opt_string_field(L, 2, "home").value_or("");
  auto uid = opt_int_field(L, 2, "uid");
  auto gid = opt_int_field(L, 2, "gid");
  if (!uid || !gid) throw Error(ErrorKind::Usage, "authorized_keys: uid and gid are required");
  spec.uid = static_cast<uid_t>(*uid);
  spec.gid = static_cast<gid_t>(*gid);
  spec.key_files = opt_string_list_field(L, 2, "key_files");
  spec.keys = opt_string_list_field(L, 2, "keys");
  spec.keep_existing = opt_bool_field(L, 2, "keep_existing").value_or(false);
  lua_pushinteger(L, static_cast<lua_Integer>(write_authorized_keys(root, spec)));
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("set_password", l_set_password),
                         IMGRECIPE_FN("set_password_expiry", l_set_password_expiry),
                         IMGRECIPE_FN("authorized_keys", l_authorized_keys),
                         {nullptr, nullptr}};

}  // namespace

int open_users(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
