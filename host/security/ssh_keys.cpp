#include "host/security/ssh_keys.hpp"

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/host_file.hpp"

namespace imgrecipe {
namespace {

void append_lines(std::vector<std::string>& out, const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(std::move(line));
    pos = end + 1;
  }
}

}  // namespace

size_t write_authorized_keys(const RootDir& root, const AuthorizedKeys& spec) {
  if (spec.key_files.empty() && spec.keys.empty()) return 0;
  if (spec.home.empty() || spec.home[0] != '/') {
    throw Error(ErrorKind::Usage, fmt::format("user '{}' has no absolute home directory ('{}')", spec.user, spec.home));
  }
  const std::string ssh_dir = spec.home + "/.ssh";
  const std::string file = ssh_dir + "/authorized_keys";

  std::vector<std::string> lines;
  if (spec.keep_existing) {
    if (auto existing = root.read_file(file)) append_lines(lines, *existing);
  }
  for (const auto& path : spec.key_files) append_lines(lines, read_host_file(path, "read SSH public key file"));
  lines.insert(lines.end(), spec.keys.begin(), spec.keys.end());

  if (!root.exists(spec.home)) {
    throw Error(ErrorKind::Usage,
                fmt::format("home directory '{}' of user '{}' does not exist in the image", spec.home, spec.user));
  }
  if (!root.exists(ssh_dir)) {
    root.mkdirs(ssh_dir, 0700);
    root.chmod(ssh_dir, 0700);  // mkdir's mode is subject to the umask
    root.chown(ssh_dir, spec.uid, spec.gid);
  }
  std::string content;
  for (const auto& l : lines) content += l + "\n";
  root.write_file(file, content, 0600);
  root.chown(file, spec.uid, spec.gid);
  return lines.size();
}

}  // namespace imgrecipe
