#include "host/system/tool_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {
namespace {

namespace fs = std::filesystem;

void fsync_open(const std::string& path, int flags) {
  UniqueFd fd = open_or_throw(path, flags);
  if (::fsync(fd.get()) != 0) throw_errno("fsync", path);
}

}  // namespace

ToolOutput::ToolOutput(const std::string& out) {
  if (out.empty()) throw_usage("output path is empty");
  fs::path target = fs::absolute(out).lexically_normal();
  if (target.filename().empty()) throw_usage(fmt::format("output path {} names no file", out));
  out_ = target.string();
  struct stat st;
  if (::stat(out_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw_usage(fmt::format("output {} exists and is not a regular file", out));
  fault::point("create output", out_);
  for (fs::path d = target.parent_path(); !d.empty() && !fs::exists(d); d = d.parent_path()) created_ = d;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) throw_system("create output directory", target.parent_path().string(), ec.value());
  entry_ = TeardownEntry("remove temporary output for " + out_, [this] { discard(); });
  try {
    owned_ = std::make_unique<OwnedTempFile>(out_);
  } catch (...) {
    discard();
    throw;
  }
  tmp_ = owned_->path();
}

ToolOutput::~ToolOutput() { discard(); }

void ToolOutput::commit(bool durable) {
  fault::point("commit output", out_);
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::chmod(tmp_.c_str(), 0666 & ~mask) != 0) throw_errno("chmod", tmp_);
  if (durable) fsync_open(tmp_, O_RDONLY);
  if (::rename(tmp_.c_str(), out_.c_str()) != 0) throw_errno("rename into place", out_);
  done_ = true;
  entry_.dismiss();
  owned_.reset();
  if (durable) fsync_open(fs::path(out_).parent_path().string(), O_RDONLY | O_DIRECTORY);
}

void ToolOutput::discard() noexcept {
  if (done_) return;
  done_ = true;
  entry_.dismiss();
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  owned_.reset();
  if (!created_.empty()) {
    for (fs::path d = fs::path(out_).parent_path(); ::rmdir(d.c_str()) == 0 && d != created_; d = d.parent_path()) {
    }
  }
}

}  // namespace imgrecipe
