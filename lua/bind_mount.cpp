// imgrecipe.host.mount: mounting an image's OS tree (os_mount handles).
#include "host/fs/os_mount.hpp"
#include "host/system/error.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

constexpr const char* kMeta = "imgrecipe.os_mount";

int l_os(lua_State* L) {
  std::string image = check_string(L, 1);
  std::string root_dir = check_string(L, 2);
  std::string work_dir = check_string(L, 3);
  OsMount::Options opts;
  if (lua_istable(L, 4)) {
    opts.read_only = opt_bool_field(L, 4, "read_only").value_or(false);
    opts.stage_fat = opt_bool_field(L, 4, "stage_fat").value_or(false);
    opts.root_partition = static_cast<int>(opt_int_field(L, 4, "root_partition").value_or(0));
    opts.input_name = opt_string_field(L, 4, "input").value_or("");
    opts.verity_writable = opt_bool_field(L, 4, "verity_writable").value_or(false);
  }
  push_handle(L, OsMount::mount(image, root_dir, work_dir, opts), kMeta);
  return 1;
}

int m_mounts(lua_State* L) {
  auto* m = check_handle<OsMount>(L, 1, kMeta);
  const auto& list = m->mounts();
  lua_createtable(L, static_cast<int>(list.size()), 0);
  for (size_t i = 0; i < list.size(); ++i) {
    lua_createtable(L, 0, 6);
    set_field(L, "target", list[i].target);
    set_field(L, "source", list[i].source);
    set_field(L, "partition", static_cast<long long>(list[i].partition));
    set_field(L, "fstype", list[i].fstype);
    set_field(L, "staged", list[i].staged);
    set_field(L, "options", list[i].options);
    set_field(L, "read_only", list[i].read_only);
    if (!list[i].verity.empty()) set_field(L, "verity", list[i].verity);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

// The image's existing dm-verity devices (OsMount::verity).
int m_verity(lua_State* L) {
  auto* m = check_handle<OsMount>(L, 1, kMeta);
  const auto& list = m->verity();
  lua_createtable(L, static_cast<int>(list.size()), 0);
  for (size_t i = 0; i < list.size(); ++i) {
    const ExistingVerity& v = list[i];
    lua_createtable(L, 0, 14);
    set_field(L, "name", v.name);
    set_field(L, "data", static_cast<long long>(v.data_partition));
    set_field(L, "hash", static_cast<long long>(v.hash_partition));
    set_field(L, "inline", v.data_partition == v.hash_partition);
    set_field(L, "root_hash", v.root_hash);
    set_field(L, "data_id_type", v.data_id_type);
    set_field(L, "hash_id_type", v.hash_id_type);
    set_field(L, "corruption", v.corruption);
    if (!v.hash_signature_path.empty()) set_field(L, "hash_signature_path", v.hash_signature_path);
    set_field(L, "hash_offset", static_cast<long long>(v.hash_offset));
    set_field(L, "data_size", static_cast<long long>(v.data_size));
    set_field(L, "hash_algorithm", v.hash_algorithm);
    set_field(L, "cmdline_file", m->verity_cmdline_file());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

int m_root_path(lua_State* L) {
  lua_pushstring(L, check_handle<OsMount>(L, 1, kMeta)->root().path().c_str());
  return 1;
}

int m_release(lua_State* L) {
  auto* h = static_cast<Handle<OsMount>*>(luaL_checkudata(L, 1, kMeta));
  bool commit = lua_toboolean(L, 2) != 0;
  if (h->ptr == nullptr) return 0;
  OsMount* m = h->ptr;
  h->ptr = nullptr;
  std::unique_ptr<OsMount> owned(m);
  owned->release(commit);
  return 0;
}

int m_gc(lua_State* L) { return close_handle<OsMount>(L, kMeta); }

int m_tostring(lua_State* L) {
  auto* h = static_cast<Handle<OsMount>*>(luaL_checkudata(L, 1, kMeta));
  if (h->ptr == nullptr) lua_pushstring(L, "<os_mount (released)>");
  else lua_pushfstring(L, "<os_mount %s>", h->ptr->root().path().c_str());
  return 1;
}

const luaL_Reg kMethods[] = {IMGRECIPE_FN("mounts", m_mounts), IMGRECIPE_FN("verity", m_verity),   IMGRECIPE_FN("root_path", m_root_path),
                             IMGRECIPE_FN("release", m_release), IMGRECIPE_FN("__gc", m_gc),
                             IMGRECIPE_FN("__tostring", m_tostring), {nullptr, nullptr}};

const luaL_Reg kFns[] = {IMGRECIPE_FN("os", l_os), {nullptr, nullptr}};

}  // namespace

const RootDir& check_root(lua_State* L, int index, std::unique_ptr<RootDir>& holder) {
  if (lua_type(L, index) == LUA_TSTRING) {
    holder = std::make_unique<RootDir>(lua_tostring(L, index));
    return *holder;
  }
  return check_handle<OsMount>(L, index, kMeta)->root();
}

const OsMount* opt_os_mount(lua_State* L, int index) {
  auto* h = static_cast<Handle<OsMount>*>(luaL_testudata(L, index, kMeta));
  return h ? h->ptr : nullptr;
}

int open_mount(lua_State* L) {
  define_class(L, kMeta, kMethods);
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
