/* Attempts to leave the imgrecipe sandbox from inside an image (used by
 * test_sandbox_escapes.sh, built static so the tiny image can run it).
 *   escape_probe double-chroot HOST_FILE HOST_WRITE_PATH
 *     the classic trick: chroot into a subdirectory without entering it,
 *     climb with "..", chroot("."), then read HOST_FILE and create
 *     HOST_WRITE_PATH. Prints "read=<content>|failed" and "write=ok|failed".
 *   escape_probe init-module
 *     tries to load a (bogus) kernel module; prints "module=<errno name>". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int double_chroot(const char *host_file, const char *write_path) {
  mkdir("/escape-x", 0700);
  if (chroot("/escape-x") != 0) printf("chroot1=%s\n", strerrorname_np(errno));
  for (int i = 0; i < 64; ++i) (void)chdir("..");
  if (chroot(".") != 0) printf("chroot2=%s\n", strerrorname_np(errno));
  char buf[256] = {0};
  int fd = open(host_file, O_RDONLY);
  if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0) {
    buf[strcspn(buf, "\n")] = 0;
    printf("read=%s\n", buf);
  } else {
    printf("read=failed\n");
  }
  int w = open(write_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  printf("write=%s\n", w >= 0 && write(w, "escaped\n", 8) == 8 ? "ok" : "failed");
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 4 && strcmp(argv[1], "double-chroot") == 0) return double_chroot(argv[2], argv[3]);
  if (argc == 2 && strcmp(argv[1], "init-module") == 0) {
    static const char junk[64] = "not a module";
    long rc = syscall(SYS_init_module, junk, sizeof junk, "");
    printf("module=%s\n", rc == 0 ? "loaded" : strerrorname_np(errno));
    return 0;
  }
  fprintf(stderr, "usage: escape_probe double-chroot HOST_FILE HOST_WRITE_PATH | init-module\n");
  return 2;
}
