-- wrk: the write mix.  Each change request a thread creates (as the bench's
-- admin) is submitted by the same user, approved by a second one (the
-- bench's approvals policy asks for one approval at every level), and
-- answered by one list with a filter (the tenant's changes waiting for
-- approval, a page of 20): four requests per change request, a quarter
-- each.  The figure is requests per second over all four kinds.
local token = os.getenv("NX_TOKEN")
local approver = os.getenv("NX_TOKEN2")
local connector = os.getenv("NX_CONNECTOR")
local create_body = '{"connector_id": "' .. connector .. '", "change_type": "create_role", '
  .. '"params": {"role": "bench"}, "title": "bench"}'
local requester = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
local deciding = {["Authorization"] = "Bearer " .. approver, ["Content-Type"] = "application/json"}
local to_submit, to_approve = {}, {}
local lists_owed = 0

request = function()
  local id = table.remove(to_approve)
  if id then
    return wrk.format("POST", "/v1/change-requests/" .. id .. "/approve", deciding, "{}")
  end
  id = table.remove(to_submit)
  if id then
    return wrk.format("POST", "/v1/change-requests/" .. id .. "/submit", requester, "")
  end
  if lists_owed > 0 then
    lists_owed = lists_owed - 1
    return wrk.format("GET", "/v1/change-requests?state=pending_approval&limit=20", requester)
  end
  lists_owed = lists_owed + 1
  return wrk.format("POST", "/v1/change-requests", requester, create_body)
end

response = function(status, hdrs, body)
  if status == 201 then
    local id = body:match('"id": "([0-9a-f-]+)"')
    if id then table.insert(to_submit, id) end
  elseif status == 200 then
    -- a submit's answer: pending_approval, so it goes to the approver
    if body:find('"state": "pending_approval"', 1, true) and body:sub(1, 1) == "{" then
      local id = body:match('"id": "([0-9a-f-]+)"')
      if id then table.insert(to_approve, id) end
    end
  else
    print("unexpected status " .. status)
  end
end
