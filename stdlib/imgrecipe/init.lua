--- imgrecipe: the API recipes use.
---
--- A recipe is a Lua file returning a table:
---
---     return {
---       name = "my-image",               -- required
---       description = "what it does",    -- optional
---       api = 1,                         -- optional: minimum API version
---       params = {                       -- optional: --param key=value
---         input = { required = true, description = "base image" },
---         hostname = { default = "demo" },
---       },
---       run = function(ctx) ... end,     -- required
---     }
---
--- `ctx` is an imgrecipe.Context (see imgrecipe.context).
-- @module imgrecipe
local M = {}

local modules = require "imgrecipe.modules"

--- The API version of this stdlib; recipes may require a minimum with
--- `api = N`, libraries with `imgrecipe.library{ api = N }`.
M.api_version = modules.api_version

--- Declares a library (name, version, the API version it needs); see
--- imgrecipe.modules.library and docs/recipes.md.
M.library = modules.library

--- Declares a global in the strict environment of recipes and libraries.
M.global = modules.global

M.log = require "imgrecipe.log"
M.image = require "imgrecipe.image"
M.disk = require "imgrecipe.disk"
M.grub = require "imgrecipe.grub"
M.util = require "imgrecipe.util"
M.json = require "imgrecipe.json"
M.resolv = require "imgrecipe.resolv"
M.history = require "imgrecipe.history"
M.bootloader = require "imgrecipe.bootloader"
M.selinux = require "imgrecipe.selinux"
M.kernel = require "imgrecipe.kernel"
M.packages = require "imgrecipe.packages"

--- imgrecipe's version string.
M.version = require("imgrecipe.host.sys").version

return M
