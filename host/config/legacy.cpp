#include "host/config/legacy.hpp"

#include <algorithm>
#include <span>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "host/config/old_forms.hpp"
#include "host/config/suggest.hpp"

namespace imgrecipe::config {
namespace {

using K = RawNode::Kind;
using SV = std::string_view;

// SystemConfig keys of the Mariner Image Customizer (CBL-Mariner 2.0 toolkit,
// imagecustomizerapi before the switch to camelCase).
constexpr SV kSystemConfigKeys[] = {
    "Hostname",           "UpdateBaseImagePackages", "PackagesInstall",      "PackageListsInstall",
    "PackagesRemove",     "PackageListsRemove",      "PackagesUpdate",       "PackageListsUpdate",
    "AdditionalFiles",    "Users",                   "Services",             "Modules",
    "PostInstallScripts", "FinalizeImageScripts",    "KernelCommandLine",    "SELinux",
    "BootType",           "PartitionSettings",       "Verity",               "Overlays",
    "ResetBootLoaderType"};
// Legacy keys whose meaning moved into `storage` or elsewhere and that no
// longer translate one to one.
constexpr std::pair<SV, SV> kUntranslatable[] = {
    {"BootType", "storage.bootType (with storage.disks)"},
    {"PartitionSettings", "storage.filesystems[].mountPoint"},
    {"Verity", "storage.verity"},
    {"Overlays", "os.overlays"},
    {"ResetBootLoaderType", "os.bootloader.resetType"},
};
constexpr SV kUserKeys[] = {"Name",           "UID",          "Password",        "PasswordHashed",
                            "PasswordPath",   "PasswordExpiresDays", "SSHPubKeyPaths", "PrimaryGroup",
                            "SecondaryGroups", "StartupCommand", "HomeDirectory"};
constexpr SV kFileConfigKeys[] = {"Path", "Permissions"};
constexpr SV kServicesKeys[] = {"Enable", "Disable"};
constexpr SV kModulesKeys[] = {"Load", "Disable"};
constexpr SV kModuleKeys[] = {"Name", "LoadMode", "Options"};
constexpr SV kScriptKeys[] = {"Path", "Args"};
constexpr SV kKernelCommandLineKeys[] = {"ExtraCommandLine"};
constexpr SV kSelinuxKeys[] = {"Mode"};

RawNode map_node(Mark mark) {
  RawNode n;
  n.kind = K::Map;
  n.mark = mark;
  return n;
}

RawNode seq_node(Mark mark) {
  RawNode n;
  n.kind = K::Sequence;
  n.mark = mark;
  return n;
}

RawNode scalar_node(std::string value, Mark mark, bool plain = false) {
  RawNode n;
  n.kind = K::Scalar;
  n.value = std::move(value);
  n.plain = plain;
  n.mark = mark;
  return n;
}

void put(RawNode& map, std::string key, Mark key_mark, RawNode value) {
  map.keys.push_back({std::move(key), key_mark});
  map.items.push_back(std::move(value));
}

// The child map `key` of `map`, created if absent.
RawNode& child_map(RawNode& map, const std::string& key, Mark mark) {
  for (size_t i = 0; i < map.keys.size(); ++i) {
    if (map.keys[i].text == key) return map.items[i];
  }
  put(map, key, mark, map_node(mark));
  return map.items.back();
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class Translator {
 public:
  Translator(Problems& problems, std::vector<LegacyNote>& notes) : problems_(problems), notes_(notes) {}

  RawNode translate(const RawNode& root) {
    RawNode out = map_node(root.mark);
    const RawNode* system = nullptr;
    Mark system_mark;
    for (size_t i = 0; i < root.keys.size(); ++i) {
      const std::string& key = root.keys[i].text;
      if (key == "SystemConfig") {
        system = &root.items[i];
        system_mark = root.keys[i].mark;
      } else if (key == "Disks") {
        problems_.add(root.keys[i].mark, key,
                      "legacy key that imgrecipe cannot translate: write the layout as storage.disks, storage.filesystems "
                      "and storage.bootType");
      } else {
        put(out, key, root.keys[i].mark, root.items[i]);
      }
    }
    if (system->kind == K::Null) return out;
    if (system->kind != K::Map) {
      problems_.add(system->mark, "SystemConfig", "expected a map");
      return out;
    }
    for (SV produced : {SV("os"), SV("scripts")}) {
      if (std::any_of(out.keys.begin(), out.keys.end(), [&](const RawKey& k) { return k.text == produced; })) {
        problems_.add(system_mark, "SystemConfig",
                      fmt::format("the legacy SystemConfig cannot be combined with '{}' in one config", produced));
        return out;
      }
    }
    system_config(*system, out);
    return out;
  }

 private:
  void note(Mark mark, const std::string& legacy, const std::string& modern) {
    notes_.push_back({mark, fmt::format("{} is the legacy schema: write {}", legacy, modern)});
  }

  // Checks that `n` is a map whose keys are all in `allowed`; reports the rest.
  bool check_map(const RawNode& n, const std::string& path, std::span<const SV> allowed) {
    if (n.kind != K::Map) {
      problems_.add(n.mark, path, "expected a map");
      return false;
    }
    bool ok = true;
    for (const RawKey& k : n.keys) {
      if (std::find(allowed.begin(), allowed.end(), k.text) != allowed.end()) continue;
      auto hint = closest(k.text, allowed);
      problems_.add(k.mark, path + "." + k.text,
                    hint ? fmt::format("unknown legacy key (did you mean '{}'?)", *hint) : "unknown legacy key");
      ok = false;
    }
    return ok;
  }

  bool check_list(const RawNode& n, const std::string& path) {
    if (n.kind == K::Sequence) return true;
    problems_.add(n.mark, path, "expected a list");
    return false;
  }

  void system_config(const RawNode& sc, RawNode& out) {
    // Unknown keys are reported; the known ones still translate, so their problems show too.
    check_map(sc, "SystemConfig", kSystemConfigKeys);
    for (size_t i = 0; i < sc.keys.size(); ++i) {
      const std::string& key = sc.keys[i].text;
      const Mark km = sc.keys[i].mark;
      const RawNode& v = sc.items[i];
      const std::string path = "SystemConfig." + key;
      auto untranslatable = std::find_if(std::begin(kUntranslatable), std::end(kUntranslatable),
                                         [&](const auto& u) { return u.first == key; });
      if (untranslatable != std::end(kUntranslatable)) {
        problems_.add(km, path,
                      fmt::format("legacy key that imgrecipe cannot translate: write {}", untranslatable->second));
        continue;
      }
      if (v.kind == K::Null) continue;
      // Unknown keys were reported above; the prefix matches below must not
      // take them for package keys.
      if (std::find(std::begin(kSystemConfigKeys), std::end(kSystemConfigKeys), key) == std::end(kSystemConfigKeys)) {
        continue;
      }
      RawNode& os = child_map(out, "os", sc.mark);
      if (key == "Hostname") {
        note(km, path, "os.hostname");
        put(os, "hostname", km, v);
      } else if (key == "UpdateBaseImagePackages") {
        note(km, path, "os.packages.updateExistingPackages");
        put(child_map(os, "packages", km), "updateExistingPackages", km, v);
      } else if (key.starts_with("Packages") || key.starts_with("PackageLists")) {
        const bool list = key.starts_with("PackageLists");
        std::string verb = key.substr(list ? 12 : 8);  // Install, Remove, Update
        std::string modern = std::string(1, static_cast<char>(verb[0] - 'A' + 'a')) + verb.substr(1);
        if (list) modern += "Lists";
        note(km, path, "os.packages." + modern);
        put(child_map(os, "packages", km), modern, km, v);
      } else if (key == "AdditionalFiles") {
        note(km, path, "os.additionalFiles as a list of {source, destination, permissions}");
        additional_files(v, path, os, km);
      } else if (key == "Users") {
        note(km, path,
             "os.users (name, uid, password: {type, value}, passwordExpiresDays, sshPublicKeyPaths, primaryGroup, "
             "secondaryGroups, startupCommand, homeDirectory)");
        users(v, path, os, km);
      } else if (key == "Services") {
        note(km, path, "os.services.enable / os.services.disable");
        services(v, path, os, km);
      } else if (key == "Modules") {
        note(km, path, "os.modules as a list of {name, loadMode, options}");
        modules(v, path, os, km);
      } else if (key == "PostInstallScripts" || key == "FinalizeImageScripts") {
        const std::string modern = key == "PostInstallScripts" ? "postCustomization" : "finalizeCustomization";
        note(km, path, fmt::format("scripts.{} as a list of {{path, arguments}}", modern));
        scripts(v, path, child_map(out, "scripts", km), modern, km);
      } else if (key == "KernelCommandLine") {
        note(km, path, "os.kernelCommandLine.extraCommandLine as a list of arguments");
        kernel_command_line(v, path, os, km);
      } else if (key == "SELinux") {
        note(km, path, "os.selinux.mode");
        if (check_map(v, path, kSelinuxKeys)) rename_keys(v, child_map(os, "selinux", km), {{"Mode", "mode"}});
      }
    }
  }

  static void rename_keys(const RawNode& from, RawNode& to, std::initializer_list<std::pair<SV, SV>> names) {
    for (size_t i = 0; i < from.keys.size(); ++i) {
      for (auto [legacy, modern] : names) {
        if (from.keys[i].text == legacy) put(to, std::string(modern), from.keys[i].mark, from.items[i]);
      }
    }
  }

  // source -> destination, {Path, Permissions}, or a list of either.
  void additional_files(const RawNode& v, const std::string& path, RawNode& os, Mark km) {
    if (v.kind != K::Map) {
      problems_.add(v.mark, path, "expected a map of source file to destination");
      return;
    }
    put(os, "additionalFiles", km, seq_node(v.mark));
    RawNode& list = os.items.back();
    for (size_t i = 0; i < v.keys.size(); ++i) {
      const RawKey& source = v.keys[i];
      const RawNode& dests = v.items[i];
      const std::string dpath = path + "." + source.text;
      std::vector<const RawNode*> items;
      if (dests.kind == K::Sequence) {
        for (const RawNode& d : dests.items) items.push_back(&d);
      } else {
        items.push_back(&dests);
      }
      for (const RawNode* d : items) {
        RawNode file = map_node(d->mark);
        put(file, "source", source.mark, scalar_node(source.text, source.mark));
        if (d->kind == K::Scalar) {
          put(file, "destination", d->mark, *d);
        } else if (d->kind == K::Map) {
          if (!check_map(*d, dpath, kFileConfigKeys)) continue;
          rename_keys(*d, file, {{"Path", "destination"}, {"Permissions", "permissions"}});
        } else {
          problems_.add(d->mark, dpath, "expected a destination path, a {Path, Permissions} map or a list of them");
          continue;
        }
        list.items.push_back(std::move(file));
      }
    }
  }

  void users(const RawNode& v, const std::string& path, RawNode& os, Mark km) {
    if (!check_list(v, path)) return;
    RawNode list = seq_node(v.mark);
    for (size_t i = 0; i < v.items.size(); ++i) {
      const RawNode& u = v.items[i];
      const std::string upath = fmt::format("{}[{}]", path, i);
      if (!check_map(u, upath, kUserKeys)) continue;
      RawNode user = map_node(u.mark);
      rename_keys(u, user,
                  {{"Name", "name"},
                   {"UID", "uid"},
                   {"PasswordExpiresDays", "passwordExpiresDays"},
                   {"SSHPubKeyPaths", "sshPublicKeyPaths"},
                   {"PrimaryGroup", "primaryGroup"},
                   {"SecondaryGroups", "secondaryGroups"},
                   {"StartupCommand", "startupCommand"},
                   {"HomeDirectory", "homeDirectory"}});
      password(u, upath, user);
      list.items.push_back(std::move(user));
    }
    put(os, "users", km, std::move(list));
  }

  // Password / PasswordPath (+ PasswordHashed) -> password: {type, value}.
  void password(const RawNode& u, const std::string& upath, RawNode& user) {
    const RawNode *value = nullptr, *file = nullptr, *hashed = nullptr;
    Mark mark;
    for (size_t i = 0; i < u.keys.size(); ++i) {
      const std::string& k = u.keys[i].text;
      if (k == "Password") value = &u.items[i], mark = u.keys[i].mark;
      if (k == "PasswordPath") file = &u.items[i], mark = u.keys[i].mark;
      if (k == "PasswordHashed") hashed = &u.items[i];
    }
    if (!value && !file) return;
    if (value && file) {
      problems_.add(mark, upath, "'Password' and 'PasswordPath' cannot both be set");
      return;
    }
    bool is_hashed = false;
    if (hashed) {
      std::string h = hashed->value;
      std::transform(h.begin(), h.end(), h.begin(), ::tolower);
      if (hashed->kind != K::Scalar || (h != "true" && h != "false")) {
        problems_.add(hashed->mark, upath + ".PasswordHashed", "expected a boolean (true or false)");
        return;
      }
      is_hashed = h == "true";
    }
    const RawNode& v = value ? *value : *file;
    std::string type = std::string(is_hashed ? "hashed" : "plain-text") + (file ? "-file" : "");
    RawNode pw = map_node(v.mark);
    put(pw, "type", mark, scalar_node(type, mark));
    put(pw, "value", v.mark, v);
    put(user, "password", mark, std::move(pw));
  }

  void services(const RawNode& v, const std::string& path, RawNode& os, Mark km) {
    if (!check_map(v, path, kServicesKeys)) return;
    rename_keys(v, child_map(os, "services", km), {{"Enable", "enable"}, {"Disable", "disable"}});
  }

  // {Load: [{Name}], Disable: [{Name}]} (older) or [{Name, LoadMode, Options}].
  void modules(const RawNode& v, const std::string& path, RawNode& os, Mark km) {
    RawNode list = seq_node(v.mark);
    auto module = [&](const RawNode& m, const std::string& mpath, const char* load_mode) {
      if (!check_map(m, mpath, load_mode ? std::span<const SV>(kModuleKeys, 1) : std::span<const SV>(kModuleKeys))) {
        return;
      }
      RawNode out = map_node(m.mark);
      rename_keys(m, out, {{"Name", "name"}, {"LoadMode", "loadMode"}, {"Options", "options"}});
      if (load_mode) put(out, "loadMode", m.mark, scalar_node(load_mode, m.mark));
      list.items.push_back(std::move(out));
    };
    if (v.kind == K::Sequence) {
      for (size_t i = 0; i < v.items.size(); ++i) module(v.items[i], fmt::format("{}[{}]", path, i), nullptr);
    } else if (check_map(v, path, kModulesKeys)) {
      for (size_t i = 0; i < v.keys.size(); ++i) {
        const std::string lpath = path + "." + v.keys[i].text;
        if (!check_list(v.items[i], lpath)) continue;
        const char* mode = v.keys[i].text == "Load" ? "always" : "disable";
        for (size_t j = 0; j < v.items[i].items.size(); ++j) {
          module(v.items[i].items[j], fmt::format("{}[{}]", lpath, j), mode);
        }
      }
    } else {
      return;
    }
    put(os, "modules", km, std::move(list));
  }

  void scripts(const RawNode& v, const std::string& path, RawNode& scripts, const std::string& modern, Mark km) {
    if (!check_list(v, path)) return;
    RawNode list = seq_node(v.mark);
    for (size_t i = 0; i < v.items.size(); ++i) {
      const RawNode& s = v.items[i];
      const std::string spath = fmt::format("{}[{}]", path, i);
      if (!check_map(s, spath, kScriptKeys)) continue;
      RawNode out = map_node(s.mark);
      rename_keys(s, out, {{"Path", "path"}});
      for (size_t j = 0; j < s.keys.size(); ++j) {
        if (s.keys[j].text != "Args") continue;
        const RawNode& args = s.items[j];
        if (args.kind != K::Scalar) {
          problems_.add(args.mark, spath + ".Args", "expected a string");
          continue;
        }
        RawNode arguments = seq_node(args.mark);
        for (const std::string& w : split_words(args.value)) arguments.items.push_back(scalar_node(w, args.mark));
        put(out, "arguments", s.keys[j].mark, std::move(arguments));
      }
      list.items.push_back(std::move(out));
    }
    put(scripts, modern, km, std::move(list));
  }

  void kernel_command_line(const RawNode& v, const std::string& path, RawNode& os, Mark km) {
    if (!check_map(v, path, kKernelCommandLineKeys)) return;
    for (size_t i = 0; i < v.keys.size(); ++i) {
      const RawNode& extra = v.items[i];
      if (extra.kind == K::Null) continue;
      if (extra.kind != K::Scalar) {
        problems_.add(extra.mark, path + ".ExtraCommandLine", "expected a string");
        continue;
      }
      // The same string ALIC's old camelCase form took: words as GRUB reads them.
      std::string error;
      auto words = kernel_words(extra.value, error);
      if (!words) {
        problems_.add(extra.mark, path + ".ExtraCommandLine", error);
        continue;
      }
      RawNode args = seq_node(extra.mark);
      for (const std::string& w : *words) args.items.push_back(scalar_node(w, extra.mark));
      put(child_map(os, "kernelCommandLine", km), "extraCommandLine", v.keys[i].mark, std::move(args));
    }
  }

  Problems& problems_;
  std::vector<LegacyNote>& notes_;
};

}  // namespace

bool is_legacy(const RawNode& root) {
  return root.kind == K::Map &&
         std::any_of(root.keys.begin(), root.keys.end(), [](const RawKey& k) { return k.text == "SystemConfig"; });
}

RawNode translate_legacy(const RawNode& root, Problems& problems, std::vector<LegacyNote>& notes) {
  return Translator(problems, notes).translate(root);
}

}  // namespace imgrecipe::config
