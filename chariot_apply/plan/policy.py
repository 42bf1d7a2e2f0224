"""The team's rules (``manifest.policy``) checked against a plan, like a conflict: each violation is located at
the manifest line that causes it and names the rule's own line. Pure: it reads the plan's items and footprint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chariot_apply.diagnostics import codes
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.policy import ANY_GPU, Policy
from chariot_apply.plan.costs import Footprint
from chariot_apply.plan.model import Create, Delete, Item, Problem, Replace, Stop, Violation, Waiting


def _violation(policy: Policy, rule: str, address: str, run: DeclaredRun | None, path: str, message: str,
               reason: str) -> Violation:
    location = str(run.where(path)) if run is not None else address
    return Violation(address=address, rule=f"policy.{rule}", rule_location=policy.where(rule), reason=reason,
                     sensitive=run.spec.sensitive if run is not None else (),
                     problems=(Problem(location=location, path=path, message=message,
                                       code=codes.POLICY_VIOLATION),))


def violations(items: Sequence[Item], fp: Footprint, declared: Mapping[str, DeclaredRun], policy: Policy | None,
               allow_protected: bool) -> list[Violation]:
    """Every rule ``items`` break, one violation per rule and run (plan-wide rules: one per run that adds to it)."""
    found = [] if allow_protected else _protected(items, declared)
    if policy is None:
        return found
    adding = [i for i in items if isinstance(i, Create | Replace | Waiting)]
    for item in adding:
        run = declared.get(item.address)
        if run is not None:
            found += _run_rules(policy, item.address, run)
    found += _budgets(adding, fp, declared, policy)
    return found


def _protected(items: Sequence[Item], declared: Mapping[str, DeclaredRun]) -> list[Violation]:
    """A stop, delete or replace of a run declared ``protect: true``."""
    found = []
    for item in items:
        run = declared.get(item.address)
        if isinstance(item, Stop | Delete | Replace) and run is not None and run.spec.protect:
            found.append(Violation(address=item.address, rule="spec.protect", rule_location=str(
                run.where("spec.protect")), reason=f"{item.kind} of a protected run", sensitive=run.spec.sensitive,
                problems=(Problem(location=str(run.where("spec.protect")), path="spec.protect", code=codes.PLAN_REFUSED,
                                  message=f"the run is protected: {item.kind} refused ({item.reason})"),)))
    return found


def _run_rules(policy: Policy, address: str, run: DeclaredRun) -> list[Violation]:
    """The rules one run that adds GPUs (or a create) breaks on its own: GPU type, GPUs a run, a time bound on a
    large run, notes."""
    rules = policy.rules
    found = []
    gpu = run.spec.resources.gpu
    project = address.partition("/")[0]  # its name, as the plan's addresses say it
    if gpu is not None:
        allowed = rules.allowed_gpu_types.get(project, rules.allowed_gpu_types.get(ANY_GPU))
        if allowed is not None and gpu.type not in allowed:
            found.append(_violation(policy, "allowedGpuTypes", address, run, "spec.resources.gpu.type",
                                    f"GPU type {gpu.type!r} is not allowed in project {project} "
                                    f"(allowed: {', '.join(allowed) or 'none'})", "a GPU type not allowed"))
        if rules.max_gpus_per_run is not None and gpu.count > rules.max_gpus_per_run:
            found.append(_violation(policy, "maxGpusPerRun", address, run, "spec.resources.gpu.count",
                                    f"{gpu.count} GPUs is more than {rules.max_gpus_per_run} a run",
                                    "too many GPUs for one run"))
        above = rules.max_duration_required_above
        if above is not None and gpu.count > above and (run.spec.limits is None
                                                        or run.spec.limits.max_duration is None):
            found.append(_violation(policy, "maxDurationRequiredAbove", address, run, "spec.resources.gpu",
                                    f"a run with {gpu.count} GPUs (more than {above}) must declare "
                                    "spec.limits.maxDuration", "no time bound on a large run"))
    if rules.required_notes and not (run.spec.notes or "").strip():
        found.append(_violation(policy, "requiredNotes", address, run, "spec.notes",
                                "spec.notes is required: say what the run is for", "notes are required"))
    return found


Broken = tuple[str, str, str | None, str | None]  # (rule, message, GPU type, project)


def _budgets(adding: Sequence[Item], fp: Footprint, declared: Mapping[str, DeclaredRun],
             policy: Policy) -> list[Violation]:
    """The plan-wide rules (GPUs at once, GPU-hours), said at each run that adds to what breaks them."""
    found: list[Violation] = []
    for rule, message, of_type, in_project in _broken_budgets(fp, policy):
        for item in adding:
            run = declared.get(item.address)
            asked = run.spec.resources.gpu if run is not None else None
            if asked is None or (of_type not in (None, "*") and asked.type != of_type) or (
                    in_project is not None and not item.address.startswith(f"{in_project}/")):
                continue
            if rule == "maxGpuHoursPerPlan" and fp.unbounded and item.address not in fp.unbounded:
                continue
            found.append(_violation(policy, rule, item.address, run, "spec.resources.gpu", message,
                                    "over the team's GPU budget"))
    return found


def _broken_budgets(fp: Footprint, policy: Policy) -> list[Broken]:
    rules = policy.rules
    broken: list[Broken] = []
    for gpu_type, limit in rules.max_concurrent_gpus.items():
        total = sum(fp.after.values()) if gpu_type == "*" else fp.after.get(gpu_type, 0)
        if total > limit and _adds(fp, None, gpu_type):
            broken.append(("maxConcurrentGpus", f"{total} {'GPUs' if gpu_type == '*' else gpu_type} at once after "
                           f"this apply (live runs and the plan), more than {limit}", gpu_type, None))
    for project, limits in rules.max_concurrent_gpus_per_project.items():
        after = fp.after_by_project.get(project, {})
        for gpu_type, limit in limits.items():
            total = sum(after.values()) if gpu_type == "*" else after.get(gpu_type, 0)
            if total > limit and _adds(fp, project, gpu_type):
                broken.append(("maxConcurrentGpusPerProject", f"{total} {gpu_type} at once in project {project} "
                               f"after this apply, more than {limit}", gpu_type, project))
    hours_limit = rules.max_gpu_hours_per_plan
    if hours_limit is not None and (fp.unbounded or fp.gpu_hours > hours_limit):
        said = (f"no bound on the GPU-hours this plan adds ({len(fp.unbounded)} run(s) without maxDuration)"
                if fp.unbounded else f"this plan adds up to {fp.gpu_hours:g} GPU-hours, more than {hours_limit:g}")
        broken.append(("maxGpuHoursPerPlan", said, None, None))
    return broken


def _adds(fp: Footprint, project: str | None, gpu_type: str) -> bool:
    """Whether the plan adds GPUs of ``gpu_type`` (in ``project``): a budget already over is said only when the
    plan makes it worse, never as a reason to refuse a plan that frees GPUs."""
    return any(a.gpus > 0 and (gpu_type == "*" or a.gpu_type == gpu_type)
               and (project is None or a.address.startswith(f"{project}/")) for a in fp.actions)
