-- Issue 11 §2: what commands run in the image see (its hostname), img:run
-- on a read-only image, and img:reset_bootloader keeping the image's
-- kernel arguments. Writes one "key=value" line per fact to `report`.
return {
  name = "chroot-behaviour",
  api = 1,
  params = { input = { required = true }, output = { required = true }, report = { required = true } },
  run = function(ctx)
    local p = ctx.params
    local lines = {}
    local function fact(k, v) lines[#lines + 1] = k .. "=" .. tostring(v) end
    local function first_line(r) return (r.output[1] or ""):gsub("%s+$", "") end

    local img = ctx:open(p.input)
    img:mount()
    fact("image-hostname", (img:read_file("/etc/hostname") or ""):gsub("%s+$", ""))
    fact("run-hostname", first_line(img:run({ "hostname" })))
    fact("run-uname-n", first_line(img:run("uname -n")))
    img:set_hostname("changed-in-recipe")
    fact("run-after-set", first_line(img:run({ "hostname" })))
    img:remove("/etc/hostname")
    fact("run-without-file", first_line(img:run({ "hostname" })))
    img:set_hostname("changed-in-recipe")

    img:write_file("/etc/default/grub", 'GRUB_CMDLINE_LINUX="imgrecipe.linux=1 selinux=1 enforcing=1"\n'
      .. 'GRUB_CMDLINE_LINUX_DEFAULT="quiet imgrecipe.kept=1"\n')
    local cfg = img:reset_bootloader({ extra_args = { "imgrecipe.new=1", "quiet" } })
    local grub = require "imgrecipe.grub"
    fact("kept-args", table.concat(grub.first_kernel_args(img:read_file(cfg)), " "))
    fact("kept-default-grub", (img:read_file("/etc/default/grub"):match('\nGRUB_CMDLINE_LINUX_DEFAULT="([^"]*)"')))
    img:write_file("/etc/default/grub", 'GRUB_CMDLINE_LINUX_DEFAULT="quiet imgrecipe.kept=1"\n')
    cfg = img:reset_bootloader({ extra_args = { "imgrecipe.new=1" }, keep_args = false })
    fact("reset-args", table.concat(grub.first_kernel_args(img:read_file(cfg)), " "))
    -- For the YAML hard reset run by the test on this output.
    img:write_file("/etc/default/grub", 'GRUB_CMDLINE_LINUX_DEFAULT="quiet imgrecipe.kept=1"\n')
    img:save(p.output, "raw")

    local ro = ctx:open(p.input)
    ro:mount({ read_only = true })
    local ok, err = pcall(ro.run, ro, { "true" })
    fact("ro-run", tostring(ok) .. " " .. tostring(err))
    ok, err = pcall(ro.run_script, ro, { content = "true\n" })
    fact("ro-script", tostring(ok) .. " " .. tostring(err))

    local f = assert(io.open(p.report, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
  end,
}
