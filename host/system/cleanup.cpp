#include "host/system/cleanup.hpp"

#include <unistd.h>

#include <algorithm>
#include <exception>

#include "host/system/log.hpp"

namespace imgrecipe {

Teardown& teardown() {
  static Teardown instance;
  return instance;
}

Teardown::Id Teardown::push(std::string description, std::function<void()> release) {
  Id id = next_++;
  entries_.push_back({id, std::move(description), std::move(release)});
  return id;
}

void Teardown::forget(Id id) {
  std::erase_if(entries_, [id](const Entry& e) { return e.id == id; });
}

void Teardown::release(Id id) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [id](const Entry& e) { return e.id == id; });
  if (it == entries_.end()) return;
  Entry entry = std::move(*it);
  entries_.erase(it);
  entry.release();
}

void Teardown::release_all() noexcept {
  while (!entries_.empty()) {
    Entry entry = std::move(entries_.back());
    entries_.pop_back();
    try {
      log::debug("teardown: {}", entry.description);
      entry.release();
    } catch (const std::exception& e) {
      log::error("teardown of {} failed: {}", entry.description, e.what());
    } catch (...) {
      log::error("teardown of {} failed", entry.description);
    }
  }
}

RemoveUnlessKept::RemoveUnlessKept(std::string path)
    : entry_("remove " + path, [path] { ::unlink(path.c_str()); }) {}

RemoveUnlessKept::~RemoveUnlessKept() { entry_.release(); }

}  // namespace imgrecipe
