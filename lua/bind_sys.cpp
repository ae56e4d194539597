// imgrecipe.host.sys: host-side helpers recipes need (paths, directories in
// the build dir, interruption checks). Writes are confined to the build dir.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "host/fs/digest.hpp"
#include "host/system/error.hpp"
#include "host/system/random.hpp"
#include "host/system/signals.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

namespace fs = std::filesystem;

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) throw_errno("resolve path", p);
  return buf;
}

int l_realpath(lua_State* L) {
  lua_pushstring(L, real_path(check_string(L, 1)).c_str());
  return 1;
}

int l_absolute(lua_State* L) {
  lua_pushstring(L, fs::absolute(check_string(L, 1)).lexically_normal().string().c_str());
  return 1;
}

int l_kind(lua_State* L) {
  struct stat st;
  std::string p = check_string(L, 1);
  if (::stat(p.c_str(), &st) != 0) lua_pushnil(L);
  else lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  return 1;
}

int l_mode(lua_State* L) {
  struct stat st;
  std::string p = check_string(L, 1);
  if (::stat(p.c_str(), &st) != 0) throw_errno("stat", p);
  lua_pushinteger(L, st.st_mode & 07777);
  return 1;
}

// The build dir is registered once by the runner; mkdir only acts
// below it, so no recipe can delete or create host paths elsewhere.
std::string g_build_dir;

fs::path confined(const std::string& p) {
  if (g_build_dir.empty()) throw Error(ErrorKind::Internal, "build dir not set");
  fs::path abs = fs::absolute(p).lexically_normal();
  fs::path base = fs::path(g_build_dir).lexically_normal();
  auto rel = abs.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") {
    throw Error(ErrorKind::Usage, fmt::format("'{}' is outside the build directory {}", p, g_build_dir));
  }
  return abs;
}

int l_set_build_dir(lua_State* L) {
  std::string p = check_string(L, 1);
  fs::create_directories(p);
  g_build_dir = real_path(p);
  lua_pushstring(L, g_build_dir.c_str());
  return 1;
}

int l_mkdir(lua_State* L) {
  fs::create_directories(confined(check_string(L, 1)));
  return 0;
}

// chmod(path, mode): a file of the build directory (staged media files).
int l_chmod(lua_State* L) {
  fs::path p = confined(check_string(L, 1));
  auto mode = static_cast<mode_t>(luaL_checkinteger(L, 2)) & 07777;
  if (::chmod(p.c_str(), mode) != 0) throw_errno("chmod", p.string());
  return 0;
}

int l_check_interrupted(lua_State* L) {
  signals::check();
  return 0;
}

int l_getenv(lua_State* L) {
  const char* v = std::getenv(check_string(L, 1).c_str());
  if (v) lua_pushstring(L, v);
  else lua_pushnil(L);
  return 1;
}

int l_pid(lua_State* L) {
  lua_pushinteger(L, getpid());
  return 1;
}

int l_sha256_file(lua_State* L) {
  lua_pushstring(L, sha256_file(check_string(L, 1)).c_str());
  return 1;
}

int l_sha256_tree(lua_State* L) {
  auto hashes = sha256_tree(check_string(L, 1));
  lua_createtable(L, 0, static_cast<int>(hashes.size()));
  for (const auto& [rel, hash] : hashes) set_field(L, rel.c_str(), hash);
  return 1;
}

int l_random_uuid(lua_State* L) {
  lua_pushstring(L, random_uuid().c_str());
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("realpath", l_realpath),
                         IMGRECIPE_FN("absolute", l_absolute),
                         IMGRECIPE_FN("kind", l_kind),
                         IMGRECIPE_FN("mode", l_mode),
                         IMGRECIPE_FN("set_build_dir", l_set_build_dir),
                         IMGRECIPE_FN("mkdir", l_mkdir),
                         IMGRECIPE_FN("chmod", l_chmod),
                         IMGRECIPE_FN("check_interrupted", l_check_interrupted),
                         IMGRECIPE_FN("getenv", l_getenv),
                         IMGRECIPE_FN("pid", l_pid),
                         IMGRECIPE_FN("sha256_file", l_sha256_file),
                         IMGRECIPE_FN("sha256_tree", l_sha256_tree),
                         IMGRECIPE_FN("random_uuid", l_random_uuid),
                         {nullptr, nullptr}};

}  // namespace

int open_sys(lua_State* L) {
  push_module(L, kFns);
  lua_pushstring(L, IMGRECIPE_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}

}  // namespace imgrecipe::lua
