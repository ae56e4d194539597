// imgrecipe.host.verity: dm-verity hash trees (host/disk/verity) on the
// partitions of an attached disk (a whole_disk handle and partition numbers:
// no other device can be written). The stdlib module imgrecipe.verity takes
// a Disk and partition ids.
#include <fmt/format.h>

#include "host/disk/verity.hpp"
#include "host/disk/whole_disk.hpp"
#include "lua/args.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

std::string partition_arg(lua_State* L, int disk, int index, const std::string& name) {
  const WholeDisk* wd = opt_whole_disk(L, disk);
  if (!wd) bad_arg("disk", fmt::format("expected an attached disk, got {}", type_of(L, disk)));
  return wd->partition_device(static_cast<int>(arg_whole(L, index, name, 1, 128)));
}

void push_info(lua_State* L, const verity::Info& i) {
  lua_createtable(L, 0, 11);
  if (!i.root_hash.empty()) set_field(L, "root_hash", i.root_hash);
  set_field(L, "salt", i.salt);
  set_field(L, "uuid", i.uuid);
  set_field(L, "hash_algorithm", i.hash_algorithm);
  set_field(L, "hash_type", static_cast<long long>(i.hash_type));
  set_field(L, "data_block_size", static_cast<long long>(i.data_block_size));
  set_field(L, "hash_block_size", static_cast<long long>(i.hash_block_size));
  set_field(L, "data_blocks", static_cast<long long>(i.data_blocks));
  set_field(L, "data_size", static_cast<long long>(i.data_blocks * i.data_block_size));
  set_field(L, "hash_offset", static_cast<long long>(i.hash_offset));
  set_field(L, "hash_size", static_cast<long long>(i.hash_size));
}

// inline_data_size(partition_size) -> bytes
int l_inline_data_size(lua_State* L) {
  lua_pushnumber(L, static_cast<double>(verity::inline_data_size(arg_count(L, 1, "partition_size"))));
  return 1;
}

// hash_area_size(data_blocks) -> bytes (superblock included)
int l_hash_area_size(lua_State* L) {
  lua_pushnumber(L, static_cast<double>(verity::hash_area_size(arg_count(L, 1, "data_blocks"))));
  return 1;
}

// format(whole_disk, data, hash, {salt=, uuid=, data_blocks=, hash_offset=}) -> info
int l_format(lua_State* L) {
  std::string data = partition_arg(L, 1, 2, "data");
  std::string hash = partition_arg(L, 1, 3, "hash");
  arg_table(L, 4, "opts", true);
  verity::FormatOptions o;
  if (lua_istable(L, 4)) {
    o.salt = str_field(L, 4, "salt", "opts").value_or("");
    o.uuid = str_field(L, 4, "uuid", "opts").value_or("");
    o.data_blocks = count_field(L, 4, "data_blocks", "opts").value_or(0);
    o.hash_offset = count_field(L, 4, "hash_offset", "opts").value_or(0);
  }
  // A separate hash partition: the data is read through a read-only device
  // of its own (WholeDisk::read_only_view says why); errors still name the
  // partition's device.
  std::unique_ptr<LoopDevice> view;
  if (data != hash) view = opt_whole_disk(L, 1)->read_only_view(static_cast<int>(arg_whole(L, 2, "data", 1, 128)));
  try {
    push_info(L, verity::format(view ? view->path() : data, hash, o));
  } catch (const Error& e) {
    if (!view) throw;
    std::string msg = e.what();
    for (std::size_t at; (at = msg.find(view->path())) != std::string::npos;) msg.replace(at, view->path().size(), data);
    Error named(e.kind(), msg);
    named.op = e.op;
    named.target = e.target == view->path() ? data : e.target;
    named.sys_errno = e.sys_errno;
    throw named;
  }
  return 1;
}

// read(whole_disk, data, hash, hash_offset) -> info (no root_hash)
int l_read(lua_State* L) {
  std::string data = partition_arg(L, 1, 2, "data");
  std::string hash = partition_arg(L, 1, 3, "hash");
  push_info(L, verity::read(data, hash, arg_count(L, 4, "hash_offset")));
  return 1;
}

// verify(whole_disk, data, hash, hash_offset, root_hash) -> true | false, why
int l_verify(lua_State* L) {
  std::string data = partition_arg(L, 1, 2, "data");
  std::string hash = partition_arg(L, 1, 3, "hash");
  std::string why;
  bool ok = verity::verify(data, hash, arg_count(L, 4, "hash_offset"), arg_string(L, 5, "root_hash"), &why);
  lua_pushboolean(L, ok);
  if (ok) return 1;
  lua_pushlstring(L, why.data(), why.size());
  return 2;
}

// kernel_args({{name=, root_hash=, data=, hash=, corruption=,
// hash_signature_path=, hash_offset=}, ...}, boot_uuid) -> {"arg", ...}
int l_kernel_args(lua_State* L) {
  arg_table(L, 1, "devices", false);
  std::string boot_uuid = lua_isnoneornil(L, 2) ? "" : arg_string(L, 2, "boot_uuid");
  std::vector<verity::KernelDevice> devices;
  lua_newtable(L);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "devices");  // {devices = arg}: list_field names items devices[i]
  int wrap = lua_gettop(L);
  list_field(L, wrap, "devices", "kernel_args", [&](int t, const std::string& name) {
    verity::KernelDevice d;
    d.name = str_field(L, t, "name", name).value_or("");
    d.root_hash = str_field(L, t, "root_hash", name).value_or("");
    d.data = str_field(L, t, "data", name).value_or("");
    d.hash = str_field(L, t, "hash", name).value_or("");
    d.corruption = str_field(L, t, "corruption", name).value_or("io-error");
    d.hash_signature_path = str_field(L, t, "hash_signature_path", name).value_or("");
    d.hash_offset = count_field(L, t, "hash_offset", name).value_or(0);
    if (d.root_hash.empty() || d.data.empty() || d.hash.empty()) {
      bad_arg(name, "root_hash, data and hash are required");
    }
    devices.push_back(d);
  });
  std::vector<std::string> args = verity::kernel_args(devices, boot_uuid);
  lua_createtable(L, static_cast<int>(args.size()), 0);
  for (std::size_t i = 0; i < args.size(); ++i) {
    lua_pushlstring(L, args[i].data(), args[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("inline_data_size", l_inline_data_size),
                         IMGRECIPE_FN("hash_area_size", l_hash_area_size),
                         IMGRECIPE_FN("format", l_format),
                         IMGRECIPE_FN("read", l_read),
                         IMGRECIPE_FN("verify", l_verify),
                         IMGRECIPE_FN("kernel_args", l_kernel_args),
                         {nullptr, nullptr}};

}  // namespace

int open_verity(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
