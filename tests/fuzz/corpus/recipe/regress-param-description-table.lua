return { name = "x", run = function() end, params = { x = { required = true, description = {} } } }
