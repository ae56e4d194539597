#include "host/system/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "host/system/error.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {

struct Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(HashAlgo algo) : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  const EVP_MD* md = algo == HashAlgo::Sha256 ? EVP_sha256() : EVP_sha384();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, md, nullptr) != 1) {
    throw Error(ErrorKind::Internal, "OpenSSL: cannot initialise a digest context");
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t size) {
  if (!ctx_) throw Error(ErrorKind::Internal, "digest updated after it was finished");
  if (size != 0 && EVP_DigestUpdate(ctx_->md, data, size) != 1) {
    throw Error(ErrorKind::Internal, "OpenSSL: digest update failed");
  }
}

std::string Hasher::hex_final() {
  if (!ctx_) throw Error(ErrorKind::Internal, "digest finished twice");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1) throw Error(ErrorKind::Internal, "OpenSSL: digest final failed");
  ctx_.reset();
  static const char* hex = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    s[2 * i] = hex[out[i] >> 4];
    s[2 * i + 1] = hex[out[i] & 15];
  }
  return s;
}

std::string hash_hex(HashAlgo algo, std::string_view data) {
  Hasher h(algo);
  h.update(data);
  return h.hex_final();
}

std::string hash_file(HashAlgo algo, const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw_errno("open", path);
  Hasher h(algo);
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path);
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<std::size_t>(n));
  }
  return h.hex_final();
}

}  // namespace imgrecipe
