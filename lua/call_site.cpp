#include "lua/call_site.hpp"

#include <cstdlib>
#include <cstring>

namespace imgrecipe::lua {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// C functions, the embedded stdlib and built-in recipes ("@imgrecipe.x"),
// and their development copies under IMGRECIPE_LUA_PATH.
bool is_stdlib(const lua_Debug& ar) {
  const std::string src = ar.source ? ar.source : "";
  if (src.empty() || src[0] == '=') return true;
  if (starts_with(src, "@imgrecipe.")) return true;
  const char* root = std::getenv("IMGRECIPE_LUA_PATH");
  if (root != nullptr && *root != '\0') {
    std::string r = std::string("@") + root;
    if (r.back() != '/') r += '/';
    if (starts_with(src, r + "stdlib/") || starts_with(src, r + "recipes/")) return true;
  }
  return false;
}

// "image" from "@imgrecipe.image" or "@/src/stdlib/imgrecipe/image.lua".
std::string module_of(const lua_Debug& ar) {
  std::string src = ar.source ? ar.source : "";
  std::string mod;
  if (starts_with(src, "@imgrecipe.")) {
    mod = src.substr(std::strlen("@imgrecipe."));
  } else if (auto p = src.rfind("/stdlib/imgrecipe/"); p != std::string::npos && src.size() > 4 &&
                                                        src.compare(src.size() - 4, 4, ".lua") == 0) {
    mod = src.substr(p + std::strlen("/stdlib/imgrecipe/"));
    mod = mod.substr(0, mod.size() - 4);
    for (auto& c : mod) {
      if (c == '/') c = '.';
    }
  }
  if (mod == "modules" || mod == "init") return "imgrecipe";
  return mod;
}

// The names the docs use for the objects recipes hold (img:write_file).
std::string object_of(const std::string& mod) {
  if (mod == "image") return "img";
  if (mod == "context") return "ctx";
  return mod;
}

}  // namespace

std::optional<CallSite> recipe_call_site(lua_State* L) {
  lua_Debug ar;
  lua_Debug callee;
  bool have_callee = false;
  for (int level = 0; lua_getstack(L, level, &ar) != 0; ++level) {
    if (lua_getinfo(L, "Sl", &ar) == 0) break;
    if (!is_stdlib(ar)) {
      CallSite site;
      // The whole path: short_src cuts long ones to "...".
      std::string src = ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
      site.where = src + ":" + std::to_string(ar.currentline);
      if (have_callee && callee.name != nullptr) {
        std::string mod = module_of(callee);
        std::string sep = std::strcmp(callee.namewhat, "method") == 0 ? ":" : ".";
        bool qualified = !mod.empty() && (sep == ":" || std::strcmp(callee.namewhat, "field") == 0);
        site.function = qualified ? (sep == ":" ? object_of(mod) : mod) + sep + callee.name : callee.name;
      }
      return site;
    }
    callee = ar;
    have_callee = lua_getinfo(L, "n", &callee) != 0;
  }
  return std::nullopt;
}

std::string with_call_site(lua_State* L, const std::string& message, bool usage, const std::string& function) {
  auto site = recipe_call_site(L);
  if (!site || starts_with(message, site->where + ":")) return message;
  std::string fn = function.empty() ? site->function : function;
  std::string out = site->where + ": ";
  if (usage && !fn.empty() && !starts_with(message, fn + ":") && !starts_with(message, fn + " ")) out += fn + ": ";
  return out + message;
}

}  // namespace imgrecipe::lua
