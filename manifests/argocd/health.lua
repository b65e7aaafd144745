-- Argo CD health check for kpi.dev KPI and SLO objects.
--
-- Installed as `resource.customizations.health.kpi.dev_KPI` and `resource.customizations.health.kpi.dev_SLO` in
-- argocd-cm (see argocd-cm.yaml beside this file). Argo CD runs it with the live object in the global `obj` and
-- uses the returned table's `status` and `message`. Its sandbox has only the base and table libraries (no string
-- or math library), so this script uses neither.
--
-- First match wins:
--   Progressing  no status yet (or observedGeneration -1), or status.observedGeneration behind metadata.generation (the operator has not
--                seen the latest spec), or Reconciling=True (rules applied, first evaluation pending)
--   Unknown      Stalled=True because Prometheus is unreachable: the objective's health cannot be known
--   Degraded     Stalled=True for any other reason (invalid spec, rule name taken): a person must act
--   Suspended    the canary gate has acted (status.gate.state == "Acted"): the canary was rolled back, paused or
--                scaled to zero and stays so until a new revision re-arms the gate
--   Degraded     status.state == "Critical"
--   Healthy      Ready=True (state Healthy, Warning or NoData; the message says which)
--   Progressing  anything else (Ready not yet True)

local hs = {}

local function find_condition(status, wanted)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == wanted then
      return condition
    end
  end
  return nil
end

local function is_true(condition)
  return condition ~= nil and condition.status == "True"
end

local function text(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local function state_summary(status)
  local state = status.state or "Unknown"
  if obj.kind == "SLO" and status.errorBudget ~= nil and status.errorBudget.remaining ~= nil then
    return "state " .. state .. ", error budget remaining " .. tostring(status.errorBudget.remaining)
  end
  if obj.kind == "KPI" and status.value ~= nil then
    return "state " .. state .. ", value " .. tostring(status.value)
  end
  return "state " .. state
end

local status = obj.status
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

-- A CRD may default observedGeneration to -1 (as Flux's do) so kstatus sees a new object as in progress.
if status == nil or status.observedGeneration == nil or status.observedGeneration < 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for kpi-operator to reconcile this " .. (obj.kind or "object")
  return hs
end

if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "kpi-operator has not yet observed generation " .. tostring(generation)
    .. " (status is of generation " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local stalled = find_condition(status, "Stalled")
if is_true(stalled) then
  if stalled.reason == "PrometheusUnavailable" then
    hs.status = "Unknown"
  else
    hs.status = "Degraded"
  end
  hs.message = text(stalled, "Stalled: " .. (stalled.reason or "no reason given"))
  return hs
end

local reconciling = find_condition(status, "Reconciling")
if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = text(reconciling, "Reconciling")
  return hs
end

if status.gate ~= nil and status.gate.state == "Acted" then
  hs.status = "Suspended"
  local action = status.gate.lastAction
  if action ~= nil and action.message ~= nil then
    hs.message = "Canary gate acted (" .. (action.action or "action") .. "): " .. action.message
      .. " A new revision re-arms the gate."
  else
    hs.message = "Canary gate acted. A new revision re-arms the gate."
  end
  return hs
end

if status.state == "Critical" then
  hs.status = "Degraded"
  hs.message = state_summary(status)
  return hs
end

local ready = find_condition(status, "Ready")
if is_true(ready) then
  hs.status = "Healthy"
  hs.message = state_summary(status)
  return hs
end

hs.status = "Progressing"
hs.message = text(ready, "Waiting for the Ready condition")
return hs
