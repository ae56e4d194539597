// imgrecipe.host.iso: boot media primitives (host/media: ISO writer and
// reader, GRUB core images; host/fs/fat_image: the FAT El Torito image).
// The stdlib module imgrecipe.iso wraps these.
#include <string>

#include "host/fs/fat_image.hpp"
#include "host/media/dir_output.hpp"
#include "host/media/grub_image.hpp"
#include "host/media/iso_read.hpp"
#include "host/media/iso_write.hpp"
#include "lua/args.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

std::string text_field(lua_State* L, int t, const char* key, const std::string& prefix, const std::string& dflt = "") {
  return str_field(L, t, key, prefix).value_or(dflt);
}

std::optional<std::int64_t> time_field(lua_State* L, int t, const std::string& prefix) {
  return field<std::int64_t>(L, t, "timestamp", prefix, [](lua_State* L, int i, const std::string& name) {
    return static_cast<std::int64_t>(arg_whole(L, i, name, 0, 253402300799ll));
  });
}

// write(out, spec)
int l_write(lua_State* L) {
  std::string out = arg_string(L, 1, "path");
  arg_table(L, 2, "spec", false);
  iso::Spec s;
  s.volume_id = text_field(L, 2, "volume_id", "spec");
  s.tree = text_field(L, 2, "tree", "spec");
  list_field(L, 2, "files", "spec", [&](int f, const std::string& name) {
    iso::File file;
    file.source = text_field(L, f, "source", name);
    file.path = text_field(L, f, "path", name);
    s.files.push_back(file);
  });
  s.efi_boot_image = text_field(L, 2, "efi_boot_image", "spec");
  lua_getfield(L, 2, "bios");
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) bad_arg("spec.bios", std::string("expected a table, got ") + type_of(L, -1));
    int b = lua_gettop(L);
    iso::BiosBoot bios;
    bios.image = text_field(L, b, "image", "spec.bios");
    bios.path = text_field(L, b, "path", "spec.bios", bios.path);
    bios.grub2_boot_info = bool_field(L, b, "grub2_boot_info", "spec.bios").value_or(true);
    bios.hybrid_mbr = text_field(L, b, "hybrid_mbr", "spec.bios");
    s.bios = bios;
  }
  lua_pop(L, 1);
  s.rock_ridge = bool_field(L, 2, "rock_ridge", "spec").value_or(true);
  s.joliet = bool_field(L, 2, "joliet", "spec").value_or(true);
  s.catalog_path = text_field(L, 2, "catalog_path", "spec", s.catalog_path);
  s.timestamp = time_field(L, 2, "spec");
  s.application_id = text_field(L, 2, "application_id", "spec");
  s.publisher = text_field(L, 2, "publisher", "spec");
  iso::write(s, out);
  return 0;
}

// list(iso) -> {{path=, type=, mode=, uid=, gid=, size=, link_target=}, ...}
int l_list(lua_State* L) {
  auto entries = iso::list(arg_string(L, 1, "iso"));
  lua_createtable(L, static_cast<int>(entries.size()), 0);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    lua_createtable(L, 0, 7);
    set_field(L, "path", e.path);
    set_field(L, "type", std::string(1, e.type));
    set_field(L, "mode", static_cast<long long>(e.mode));
    set_field(L, "uid", static_cast<long long>(e.uid));
    set_field(L, "gid", static_cast<long long>(e.gid));
    set_field(L, "size", static_cast<long long>(e.size));
    if (e.type == 'l') set_field(L, "link_target", e.link_target);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

// extract(iso, iso_path, dest)
int l_extract(lua_State* L) {
  iso::extract(arg_string(L, 1, "iso"), arg_string(L, 2, "iso_path"), arg_string(L, 3, "dest"));
  return 0;
}

// extract_boot_images(iso, dest) -> {names}
int l_extract_boot_images(lua_State* L) {
  push_string_list(L, iso::extract_boot_images(arg_string(L, 1, "iso"), arg_string(L, 2, "dest")));
  return 1;
}

// read_file(iso, iso_path, work_dir) -> string
int l_read_file(lua_State* L) {
  std::string text = iso::read_file(arg_string(L, 1, "iso"), arg_string(L, 2, "iso_path"), arg_string(L, 3, "work_dir"));
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int l_volume_id(lua_State* L) {
  std::string v = iso::volume_id(arg_string(L, 1, "iso"));
  lua_pushlstring(L, v.data(), v.size());
  return 1;
}

void push_partitions(lua_State* L, const std::vector<iso::Partition>& parts, bool gpt) {
  lua_createtable(L, static_cast<int>(parts.size()), 0);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    lua_createtable(L, 0, 6);
    set_field(L, "number", static_cast<long long>(p.number));
    set_field(L, "type", p.type);
    set_field(L, "start", static_cast<long long>(p.start));
    set_field(L, "sectors", static_cast<long long>(p.sectors));
    if (gpt) set_field(L, "name", p.name);
    else set_field(L, "bootable", p.bootable);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

// boot_report(iso) -> {volume_id=, system_area=, catalog_path=, entries={...}, mbr={...}, gpt={...}}
int l_boot_report(lua_State* L) {
  iso::BootReport r = iso::boot_report(arg_string(L, 1, "iso"));
  lua_createtable(L, 0, 6);
  set_field(L, "volume_id", r.volume_id);
  set_field(L, "system_area", r.system_area);
  set_field(L, "catalog_path", r.catalog_path);
  lua_createtable(L, static_cast<int>(r.entries.size()), 0);
  for (std::size_t i = 0; i < r.entries.size(); ++i) {
    const auto& e = r.entries[i];
    lua_createtable(L, 0, 9);
    set_field(L, "number", static_cast<long long>(e.number));
    set_field(L, "platform", e.platform);
    set_field(L, "platform_id", static_cast<long long>(e.platform_id));
    set_field(L, "bootable", e.bootable);
    set_field(L, "emulation", e.emulation);
    set_field(L, "load_size", static_cast<long long>(e.load_size));
    set_field(L, "lba", static_cast<long long>(e.lba));
    set_field(L, "path", e.path);
    set_field(L, "options", e.options);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "entries");
  push_partitions(L, r.mbr, false);
  lua_setfield(L, -2, "mbr");
  push_partitions(L, r.gpt, true);
  lua_setfield(L, -2, "gpt");
  return 1;
}

int l_boot_options(lua_State* L) {
  std::string v = iso::boot_options(arg_string(L, 1, "iso"));
  lua_pushlstring(L, v.data(), v.size());
  return 1;
}

// fat_image(source_dir, out, opts)
int l_fat_image(lua_State* L) {
  std::string source = arg_string(L, 1, "source");
  std::string out = arg_string(L, 2, "path");
  arg_table(L, 3, "opts", true);
  FatImageOptions o;
  if (!lua_isnoneornil(L, 3)) {
    o.label = text_field(L, 3, "label", "opts");
    o.volume_id = text_field(L, 3, "volume_id", "opts");
    o.size = count_field(L, 3, "size", "opts").value_or(0);
    o.free_space = count_field(L, 3, "free_space", "opts").value_or(0);
    o.timestamp = time_field(L, 3, "opts");
  }
  make_fat_image(source, out, o);
  return 0;
}

// grub_image(out, opts)
int l_grub_image(lua_State* L) {
  std::string out = arg_string(L, 1, "path");
  arg_table(L, 2, "opts", false);
  grub::ImageOptions o;
  o.target = grub::parse_target(text_field(L, 2, "target", "opts", "bios-eltorito"));
  o.module_dir = text_field(L, 2, "module_dir", "opts");
  o.prefix = text_field(L, 2, "prefix", "opts", o.prefix);
  o.modules = string_list_field(L, 2, "modules", "opts");
  o.config_file = text_field(L, 2, "config_file", "opts");
  grub::make_image(o, out);
  return 0;
}

// hybrid_mbr([module_dir]) -> path of GRUB's boot_hybrid.img
int l_hybrid_mbr(lua_State* L) {
  std::string dir = lua_isnoneornil(L, 1) ? "" : arg_string(L, 1, "module_dir");
  std::string p = grub::hybrid_mbr(dir);
  lua_pushlstring(L, p.data(), p.size());
  return 1;
}

// ---- directory outputs (PXE trees) and tar.gz ----

constexpr const char* kDirOutputMeta = "imgrecipe.dir_output";

// output_dir(path) -> handle: a temporary tree beside `path`, renamed into
// place by commit(); removed by release() or at teardown otherwise.
int l_output_dir(lua_State* L) {
  push_handle(L, std::make_unique<DirOutput>(arg_string(L, 1, "path")), kDirOutputMeta);
  return 1;
}
int do_tmp(lua_State* L) {
  lua_pushstring(L, check_handle<DirOutput>(L, 1, kDirOutputMeta)->tmp().c_str());
  return 1;
}
int do_path(lua_State* L) {
  lua_pushstring(L, check_handle<DirOutput>(L, 1, kDirOutputMeta)->path().c_str());
  return 1;
}
int do_commit(lua_State* L) {
  check_handle<DirOutput>(L, 1, kDirOutputMeta)->commit();
  return 0;
}
int do_release(lua_State* L) { return close_handle<DirOutput>(L, kDirOutputMeta); }
// mkdir(rel): a directory (and its parents) inside the temporary tree.
int do_mkdir(lua_State* L) {
  check_handle<DirOutput>(L, 1, kDirOutputMeta)->mkdir(arg_string(L, 2, "path"));
  return 0;
}

// chmod(rel, mode): permission bits of a file inside the temporary tree.
int do_chmod(lua_State* L) {
  check_handle<DirOutput>(L, 1, kDirOutputMeta)
      ->chmod(arg_string(L, 2, "path"), static_cast<unsigned>(arg_whole(L, 3, "mode", 0, 07777)));
  return 0;
}

// check_dir_output(path): missing or an empty directory, else a usage error.
int l_check_dir_output(lua_State* L) {
  check_dir_output(arg_string(L, 1, "path"));
  return 0;
}

// tar_gz(dir, out)
int l_tar_gz(lua_State* L) {
  tar_gz_dir(arg_string(L, 1, "dir"), arg_string(L, 2, "path"));
  return 0;
}

const luaL_Reg kDirOutputMethods[] = {IMGRECIPE_FN("tmp", do_tmp),         IMGRECIPE_FN("path", do_path),
                                      IMGRECIPE_FN("commit", do_commit),   IMGRECIPE_FN("release", do_release),
                                      IMGRECIPE_FN("mkdir", do_mkdir),
                                      IMGRECIPE_FN("chmod", do_chmod),
                                      IMGRECIPE_FN("__gc", do_release),    {nullptr, nullptr}};

const luaL_Reg kFns[] = {IMGRECIPE_FN("write", l_write),
                         IMGRECIPE_FN("output_dir", l_output_dir),
                         IMGRECIPE_FN("check_dir_output", l_check_dir_output),
                         IMGRECIPE_FN("tar_gz", l_tar_gz),
                         IMGRECIPE_FN("list", l_list),
                         IMGRECIPE_FN("extract", l_extract),
                         IMGRECIPE_FN("read_file", l_read_file),
                         IMGRECIPE_FN("extract_boot_images", l_extract_boot_images),
                         IMGRECIPE_FN("volume_id", l_volume_id),
                         IMGRECIPE_FN("boot_report", l_boot_report),
                         IMGRECIPE_FN("boot_options", l_boot_options),
                         IMGRECIPE_FN("fat_image", l_fat_image),
                         IMGRECIPE_FN("grub_image", l_grub_image),
                         IMGRECIPE_FN("hybrid_mbr", l_hybrid_mbr),
                         {nullptr, nullptr}};

}  // namespace

int open_iso(lua_State* L) {
  define_class(L, kDirOutputMeta, kDirOutputMethods);
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
