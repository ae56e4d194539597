// imgrecipe.host.image: image formats, conversion to the raw working copy and
// output writing.
#include "host/image/format.hpp"
#include "host/image/output_check.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

int l_detect(lua_State* L) {
  auto f = image::detect_format(check_string(L, 1));
  lua_pushstring(L, std::string(image::name(f)).c_str());
  return 1;
}

int l_to_raw(lua_State* L) {
  std::string input = check_string(L, 1);
  auto fmt = image::parse_format(check_string(L, 2));
  image::convert_to_raw(input, fmt, check_string(L, 3));
  return 0;
}

int l_output_working_copy(lua_State* L) {
  std::string input = check_string(L, 1);
  auto fmt = image::parse_format(check_string(L, 2));
  std::string tmp = image::output_working_copy(input, fmt, check_string(L, 3));
  lua_pushstring(L, tmp.c_str());
  return 1;
}

int l_commit_output(lua_State* L) {
  std::string tmp = check_string(L, 1);
  image::commit_output(tmp, check_string(L, 2));
  return 0;
}

int l_write(lua_State* L) {
  std::string raw = check_string(L, 1);
  std::string out = check_string(L, 2);
  std::string discard = lua_isstring(L, 4) ? lua_tostring(L, 4) : "";
  image::write_output(raw, out, image::parse_format(check_string(L, 3)), discard);
  return 0;
}

// convert(input, input_format, out, format, scratch_dir)
int l_convert(lua_State* L) {
  std::string input = check_string(L, 1);
  auto in_fmt = image::parse_format(check_string(L, 2));
  std::string out = check_string(L, 3);
  auto fmt = image::parse_format(check_string(L, 4));
  image::convert_image(input, in_fmt, out, fmt, check_string(L, 5));
  return 0;
}

int l_inspect(lua_State* L) {
  auto info = image::inspect(check_string(L, 1));
  lua_createtable(L, 0, 3);
  set_field(L, "format", std::string(image::name(info.format)));
  set_field(L, "virtual_size", static_cast<long long>(info.virtual_size));
  set_field(L, "allocated", static_cast<long long>(info.allocated));
  return 1;
}

// check_output(path, format[, {input = path | {paths}}])
int l_check_output(lua_State* L) {
  std::string out = check_string(L, 1);
  std::string format = check_string(L, 2);
  std::vector<std::string> inputs;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "input");
    bool is_list = lua_istable(L, -1);
    lua_pop(L, 1);
    if (is_list) inputs = opt_string_list_field(L, 3, "input");
    else if (auto in = opt_string_field(L, 3, "input")) inputs.push_back(*in);
  }
  image::check_output(out, format, inputs);
  return 0;
}

int l_parse_format(lua_State* L) {
  lua_pushstring(L, std::string(image::name(image::parse_format(check_string(L, 1)))).c_str());
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("detect", l_detect),   IMGRECIPE_FN("to_raw", l_to_raw),
                         IMGRECIPE_FN("write", l_write),     IMGRECIPE_FN("inspect", l_inspect),
                         IMGRECIPE_FN("parse_format", l_parse_format),
                         IMGRECIPE_FN("check_output", l_check_output),
                         IMGRECIPE_FN("output_working_copy", l_output_working_copy),
                         IMGRECIPE_FN("commit_output", l_commit_output),
                         IMGRECIPE_FN("convert", l_convert), {nullptr, nullptr}};

}  // namespace

int open_image(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
