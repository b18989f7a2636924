-- wrk: the create+submit path.  Each thread creates change requests and
-- submits each one it created exactly once; the figure is requests per
-- second over both kinds (a create and its submit are two requests).
local ids = {}
local token = os.getenv("NX_TOKEN")
local connector = os.getenv("NX_CONNECTOR")
local create_body = '{"connector_id": "' .. connector .. '", "change_type": "create_role", '
  .. '"params": {"role": "bench"}, "title": "bench"}'
local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}

request = function()
  local id = table.remove(ids)
  if id then
    return wrk.format("POST", "/v1/change-requests/" .. id .. "/submit", headers, "")
  end
  return wrk.format("POST", "/v1/change-requests", headers, create_body)
end

response = function(status, hdrs, body)
  if status == 201 then
    local id = body:match('"id": "([0-9a-f-]+)"')
    if id then table.insert(ids, id) end
  elseif status ~= 200 then
    print("unexpected status " .. status)
  end
end
