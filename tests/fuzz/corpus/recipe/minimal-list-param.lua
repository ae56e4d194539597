#!/usr/bin/env imgrecipe
--param pkg=vim
--param pkg=curl
return {
  name = "minimal", api = 1,
  params = { pkg = { list = true, description = "packages" }, mode = { default = "fast" } },
  run = function(ctx) end,
}
