// imgrecipe.host.uki: UKI assembly and PE section reading (host/boot/uki) on
// host files. The stdlib module imgrecipe.uki takes an image, stages its
// files and calls these.
#include <string>

#include "host/boot/uki.hpp"
#include "lua/args.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

// read_pe(path) -> {machine=, image_base=, section_alignment=, file_alignment=,
// sections={{name=, rva=, virtual_size=, raw_offset=, raw_size=}, ...}}
int l_read_pe(lua_State* L) {
  uki::PeImage pe = uki::read_pe(arg_string(L, 1, "path"));
  lua_createtable(L, 0, 5);
  set_field(L, "machine", static_cast<long long>(pe.machine));
  set_field(L, "image_base", static_cast<long long>(pe.image_base));
  set_field(L, "section_alignment", static_cast<long long>(pe.section_alignment));
  set_field(L, "file_alignment", static_cast<long long>(pe.file_alignment));
  lua_createtable(L, static_cast<int>(pe.sections.size()), 0);
  for (std::size_t i = 0; i < pe.sections.size(); ++i) {
    const uki::PeSection& s = pe.sections[i];
    lua_createtable(L, 0, 5);
    set_field(L, "name", s.name);
    set_field(L, "rva", static_cast<long long>(s.rva));
    set_field(L, "virtual_size", static_cast<long long>(s.virtual_size));
    set_field(L, "raw_offset", static_cast<long long>(s.raw_offset));
    set_field(L, "raw_size", static_cast<long long>(s.raw_size));
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "sections");
  return 1;
}

// read_section(path, name) -> string
int l_read_section(lua_State* L) {
  std::string s = uki::read_section(arg_string(L, 1, "path"), arg_string(L, 2, "name"));
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}

// assemble(stub, {{name=, file=}, ...}, output)
int l_assemble(lua_State* L) {
  std::string stub = arg_string(L, 1, "stub");
  arg_table(L, 2, "sections", false);
  std::string output = arg_string(L, 3, "output");
  std::vector<uki::Section> sections;
  lua_newtable(L);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "sections");  // {sections = arg}: list_field names items sections[i]
  list_field(L, lua_gettop(L), "sections", "assemble", [&](int t, const std::string& name) {
    uki::Section s;
    s.name = str_field(L, t, "name", name).value_or("");
    s.file = str_field(L, t, "file", name).value_or("");
    if (s.name.empty() || s.file.empty()) bad_arg(name, "name and file are required");
    sections.push_back(s);
  });
  uki::assemble(stub, sections, output);
  return 0;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("read_pe", l_read_pe), IMGRECIPE_FN("read_section", l_read_section),
                         IMGRECIPE_FN("assemble", l_assemble), {nullptr, nullptr}};

}  // namespace

int open_uki(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
