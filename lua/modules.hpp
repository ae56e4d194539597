// Openers of the host modules, one per binding file. Registered by state.cpp
// as package.preload["imgrecipe.host.<name>"].
#pragma once

#include <lua.hpp>

#include <memory>

#include "host/disk/whole_disk.hpp"
#include "host/fs/os_mount.hpp"
#include "host/fs/root_dir.hpp"

namespace imgrecipe::lua {

int open_log(lua_State* L);     // bind_log.cpp
int open_image(lua_State* L);   // bind_image.cpp
int open_disk(lua_State* L);    // bind_disk.cpp
int open_mount(lua_State* L);   // bind_mount.cpp
int open_files(lua_State* L);   // bind_files.cpp
int open_exec(lua_State* L);    // bind_exec.cpp
int open_config(lua_State* L);  // bind_config.cpp
int open_sys(lua_State* L);     // bind_sys.cpp
int open_packages(lua_State* L);  // bind_packages.cpp
int open_users(lua_State* L);   // bind_users.cpp
int open_names(lua_State* L);   // bind_names.cpp
int open_storage(lua_State* L);  // bind_storage.cpp
int open_cosi(lua_State* L);     // bind_cosi.cpp
int open_squashfs(lua_State* L);  // bind_squashfs.cpp
int open_iso(lua_State* L);      // bind_iso.cpp
int open_verity(lua_State* L);   // bind_verity.cpp
int open_uki(lua_State* L);      // bind_uki.cpp
int open_recipe(lua_State* L);   // bind_recipe.cpp
int open_cpio(lua_State* L);     // bind_cpio.cpp

// The `root` argument of file and exec functions: an os_mount handle, or a
// host directory path (then a RootDir is opened into `holder`). Defined in
// bind_mount.cpp.
const RootDir& check_root(lua_State* L, int index, std::unique_ptr<RootDir>& holder);
// The os_mount handle at `index`, or nullptr for any other value.
const OsMount* opt_os_mount(lua_State* L, int index);
// The whole_disk handle at `index`, or nullptr for any other value. Defined
// in bind_storage.cpp.
const WholeDisk* opt_whole_disk(lua_State* L, int index);

}  // namespace imgrecipe::lua
