// imgrecipe.host.files: file operations inside an image root; every path is
// resolved inside the root, whatever symlinks the image holds.
#include <sys/stat.h>

#include "host/fs/copy_tree.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

std::optional<mode_t> mode_arg(lua_State* L, int index) {
  if (!lua_istable(L, index)) return std::nullopt;
  auto m = opt_mode_field(L, index, "mode");
  if (!m) return std::nullopt;
  return static_cast<mode_t>(*m);
}

int l_write(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  root.write_file(check_string(L, 2), check_string(L, 3), mode_arg(L, 4));
  return 0;
}

int l_copy(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  root.copy_from_host(check_string(L, 2), check_string(L, 3), mode_arg(L, 4));
  return 0;
}

int l_read(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  auto content = check_root(L, 1, holder).read_file(check_string(L, 2));
  if (content) lua_pushlstring(L, content->data(), content->size());
  else lua_pushnil(L);
  return 1;
}

int l_exists(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  lua_pushboolean(L, check_root(L, 1, holder).exists(check_string(L, 2)) ? 1 : 0);
  return 1;
}

int l_stat(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  auto st = check_root(L, 1, holder).lstat(check_string(L, 2));
  if (!st) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 5);
  const char* type = S_ISREG(st->st_mode) ? "file" : S_ISDIR(st->st_mode) ? "directory" : S_ISLNK(st->st_mode) ? "link" : "other";
  set_field(L, "type", std::string(type));
  set_field(L, "mode", static_cast<long long>(st->st_mode & 07777));
  set_field(L, "uid", static_cast<long long>(st->st_uid));
  set_field(L, "gid", static_cast<long long>(st->st_gid));
  set_field(L, "size", static_cast<long long>(st->st_size));
  return 1;
}

int l_mkdir(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  root.mkdirs(check_string(L, 2), mode_arg(L, 3).value_or(0755));
  return 0;
}

int l_chmod(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  auto m = mode_arg(L, 3);
  luaL_argcheck(L, m.has_value(), 3, "expected {mode = ...}");
  root.chmod(check_string(L, 2), *m);
  return 0;
}

int l_chown(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  check_root(L, 1, holder).chown(check_string(L, 2), static_cast<uid_t>(luaL_checkinteger(L, 3)),
                                 static_cast<gid_t>(luaL_checkinteger(L, 4)));
  return 0;
}

int l_remove(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  check_root(L, 1, holder).remove(check_string(L, 2));
  return 0;
}

int l_symlink(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  check_root(L, 1, holder).symlink(check_string(L, 2), check_string(L, 3));
  return 0;
}

int l_readlink(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  auto t = check_root(L, 1, holder).read_link(check_string(L, 2));
  if (t) lua_pushstring(L, t->c_str());
  else lua_pushnil(L);
  return 1;
}

int l_list(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  auto names = check_root(L, 1, holder).list_dir(check_string(L, 2));
  if (names) push_string_list(L, *names);
  else lua_pushnil(L);
  return 1;
}

int l_resolve(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  lua_pushstring(L, check_root(L, 1, holder).resolve(check_string(L, 2)).c_str());
  return 1;
}

// files.copy_tree(root, host_dir, image_dir, {new_dir_mode=, merged_dir_mode=, file_mode=})
// -> {files=, dirs_created=, dirs_merged=}
int l_copy_tree(lua_State* L) {
  std::unique_ptr<RootDir> holder;
  const RootDir& root = check_root(L, 1, holder);
  CopyTreeOptions o;
  if (lua_istable(L, 4)) {
    if (auto m = opt_mode_field(L, 4, "new_dir_mode")) o.new_dir_mode = static_cast<mode_t>(*m);
    if (auto m = opt_mode_field(L, 4, "merged_dir_mode")) o.merged_dir_mode = static_cast<mode_t>(*m);
    if (auto m = opt_mode_field(L, 4, "file_mode")) o.file_mode = static_cast<mode_t>(*m);
  }
  CopyTreeStats st = copy_tree(root, check_string(L, 2), check_string(L, 3), o);
  lua_createtable(L, 0, 3);
  set_field(L, "files", static_cast<long long>(st.files));
  set_field(L, "dirs_created", static_cast<long long>(st.dirs_created));
  set_field(L, "dirs_merged", static_cast<long long>(st.dirs_merged));
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("write", l_write),     IMGRECIPE_FN("copy", l_copy),
                         IMGRECIPE_FN("read", l_read),       IMGRECIPE_FN("exists", l_exists),
                         IMGRECIPE_FN("stat", l_stat),       IMGRECIPE_FN("mkdir", l_mkdir),
                         IMGRECIPE_FN("chmod", l_chmod),     IMGRECIPE_FN("chown", l_chown),
                         IMGRECIPE_FN("remove", l_remove),   IMGRECIPE_FN("symlink", l_symlink),
                         IMGRECIPE_FN("readlink", l_readlink), IMGRECIPE_FN("resolve", l_resolve),
                         IMGRECIPE_FN("copy_tree", l_copy_tree),
                         IMGRECIPE_FN("list", l_list),
                         {nullptr, nullptr}};

}  // namespace

int open_files(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
