-- Translated by `imgrecipe translate` from basic.yaml:
--   @DIR@/basic.yaml
-- The same calls, in the same order, as `imgrecipe build` makes for that config
-- (ALIC's order of steps); each comment names the YAML key of the lines below it.
-- Run it with: imgrecipe run THIS.lua --param input=IN --param output=OUT --param format=FMT
local alic = require "imgrecipe.alic"

-- The config as the image history records it (os.imageHistory); file hashes are taken at run time.
local CONFIG = {
  input = { image = { path = "../images/base.raw" } },
  output = { image = { format = "qcow2", path = "out/basic.qcow2" } },
  os = {
    additionalDirs = {
      {
        childFilePermissions = "0640",
        destination = "/opt/tree",
        newDirPermissions = "755",
        source = "files/tree",
      },
    },
    additionalFiles = {
      {
        content = [=[
Customized by imgrecipe.
Second line with "quotes" and ]] brackets.
]=],
        destination = "/etc/motd",
        permissions = "0644",
      },
      { destination = "/opt/hello.txt", source = "files/hello.txt" },
    },
    groups = { { name = "admins", gid = 1500 } },
    hostname = "translated",
    kernelCommandLine = { extraCommandLine = { "console=ttyS0", "quiet" } },
    modules = { { name = "loop", loadMode = "always", options = { max_loop = "16" } } },
    services = { disable = { "apt-daily.timer" }, enable = { "ssh.service" } },
    users = {
      {
        name = "alice",
        password = { type = "plain-text-file", value = "files/pw.txt" },
        secondaryGroups = { "admins" },
        startupCommand = "/bin/bash",
        uid = 1600,
      },
    },
  },
  scripts = {
    finalizeCustomization = {
      {
        name = "stamp",
        content = [[
echo done > /etc/finalized
]],
      },
    },
    postCustomization = {
      {
        arguments = { "one" },
        environmentVariables = { GREETING = "hi" },
        path = "scripts/post.sh",
      },
    },
  },
}

return {
  name = "basic",
  description = "Translated from basic.yaml",
  api = 1,
  params = {
    input = {
      default = "@ROOT@/images/base.raw",
      description = "input image (config: input.image.path)",
    },
    output = {
      default = "@DIR@/out/basic.qcow2",
      description = "output path (config: output.image.path)",
    },
    format = {
      default = "qcow2",
      description = "output format: raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image, iso, pxe-dir, pxe-tar (config: output.image.format)",
    },
    cosi_compression_level = { description = "zstd level 1..22 of cosi and baremetal-image outputs" },
    deb_sources = { description = "apt-get sources: .deb directories or .list/.sources files", list = true },
    disable_base_image_deb_repos = { description = "\"true\": do not use the image's apt sources" },
    disable_base_image_rpm_repos = { description = "\"true\": do not use the image's /etc/yum.repos.d" },
    package_manager = { description = "tdnf, dnf or apt-get (default: detected)" },
    rpm_sources = { description = "tdnf/dnf sources: RPM directories or .repo files", list = true },
  },
  run = function(ctx)
    local job = alic.job(ctx, { input = ctx.params.input, output = ctx.params.output, format = ctx.params.format })
    local img = job:open()
    -- ALIC step 1: the build host's resolv.conf while customizing
    job:override_resolv_conf()
    ctx:step("hostname", function()
      -- os.hostname (basic.yaml:6)
      img:set_hostname("translated")
    end)
    ctx:step("groups", function()
      -- os.groups[0] (basic.yaml:8)
      img:add_group({ name = "admins", gid = 1500 })
    end)
    ctx:step("users", function()
      -- os.users[0] (basic.yaml:11)
      img:add_user({
        name = "alice",
        password = { type = "plain-text-file", value = "files/pw.txt" },
        secondary_groups = { "admins" },
        startup_command = "/bin/bash",
        uid = 1600,
      }, "@DIR@")
    end)
    ctx:step("additional dirs", function()
      -- os.additionalDirs[0] (basic.yaml:19)
      img:copy_dir("@DIR@/files/tree", "/opt/tree", { file_mode = "0640", new_dir_mode = "755" })
    end)
    ctx:step("additional files", function()
      -- os.additionalFiles[0] (basic.yaml:24)
      img:write_file("/etc/motd", [=[
Customized by imgrecipe.
Second line with "quotes" and ]] brackets.
]=], { mode = "0644" })
      -- os.additionalFiles[1] (basic.yaml:29)
      img:copy_file("@DIR@/files/hello.txt", "/opt/hello.txt")
    end)
    ctx:step("services", function()
      -- os.services.enable[0] (basic.yaml:32)
      img:enable_service("ssh.service")
      -- os.services.disable[0] (basic.yaml:33)
      img:disable_service("apt-daily.timer")
    end)
    ctx:step("kernel modules", function()
      -- os.modules (basic.yaml:34)
      img:configure_modules({ { name = "loop", load_mode = "always", options = { max_loop = "16" } } })
    end)
    ctx:step("release file", function()
      job:write_release_file()
    end)
    ctx:step("image history", function()
      -- the config, as ALIC records it
      job:append_history(CONFIG, "@DIR@")
    end)
    -- ALIC step 13: boot loader (os.kernelCommandLine (basic.yaml:38), os.bootloader)
    job:bootloader({ extra_args = { "console=ttyS0", "quiet" } })
    -- os.selinux.mode (unset: the image's mode)
    job:selinux()
    ctx:step("postCustomization: scripts/post.sh", function()
      -- scripts.postCustomization[0] (basic.yaml:42)
      img:run_script({
        name = "scripts/post.sh",
        arguments = { "one" },
        env = { GREETING = "hi" },
        network = true,
        path = "scripts/post.sh",
      }, "@DIR@")
    end)
    -- ALIC step 21: the image's own resolv.conf back
    job:restore_resolv_conf()
    -- ALIC step 22: SELinux relabel unless the mode in effect is disabled
    job:selinux_relabel()
    ctx:step("finalizeCustomization: stamp", function()
      -- scripts.finalizeCustomization[0] (basic.yaml:46)
      img:run_script({
        name = "stamp",
        content = [[
echo done > /etc/finalized
]],
        network = false,
      }, "@DIR@")
    end)
    ctx:step("kernel check", function()
      -- ALIC step 24: a kernel must remain
      img:check_kernel()
    end)
    job:finish()
  end,
}
