-- Scenario 1: anonymous catalogue page (a static request: the cheapest thing wrk can send).
wrk.method = "GET"
wrk.path = "/api/v1/products?page_size=20"

function response(status, headers, body)
  count_status(status)
end
