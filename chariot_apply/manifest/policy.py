"""A team's rules on what its runs may spend, as the project file writes them (``policy:`` and, by environment,
``policies:``), with where each rule is written: a violation names the manifest line that breaks it and the
rule's own line."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: In a map of GPU types, every type at once.
ANY_GPU = "*"


class PolicyRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    allowed_gpu_types: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, alias="allowedGpuTypes",
        description="by project (name as written; '*': every project): the GPU types its runs may ask for")
    max_gpus_per_run: int | None = Field(default=None, alias="maxGpusPerRun", ge=0)
    max_concurrent_gpus: dict[str, int] = Field(
        default_factory=dict, alias="maxConcurrentGpus",
        description="the owner's GPUs at once after the apply (live runs and the plan), by type ('*': all types)")
    max_concurrent_gpus_per_project: dict[str, dict[str, int]] = Field(
        default_factory=dict, alias="maxConcurrentGpusPerProject",
        description="the same, by project, then by type")
    max_gpu_hours_per_plan: float | None = Field(
        default=None, alias="maxGpuHoursPerPlan", ge=0,
        description="the GPU-hours one plan may add (a run without maxDuration has no bound: it breaks this)")
    max_duration_required_above: int | None = Field(
        default=None, alias="maxDurationRequiredAbove", ge=0,
        description="a run asking for more GPUs than this must declare spec.limits.maxDuration")
    required_notes: bool = Field(default=False, alias="requiredNotes",
                                 description="every run must say in spec.notes what it is for")
    high_risk_gpus: int = Field(default=8, alias="highRiskGpus", ge=0,
                                description="a plan adding more GPUs than this is high risk")
    high_risk_trained_seconds: float = Field(default=3600.0, alias="highRiskTrainedSeconds", ge=0,
                                             description="deleting or replacing a run older than this is high risk")


class Policy(BaseModel):
    """The rules in force, and where each is written (``policy.maxGpusPerRun`` -> ``chariot-apply.yaml:12:3``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: PolicyRules = PolicyRules()
    written_at: dict[str, str] = Field(default_factory=dict)
    environment: str | None = None  # the rule set chosen (``policies.ENV``), if any

    def where(self, rule: str) -> str:
        """Where ``rule`` (its alias, ``maxGpusPerRun``) is written, or the policy's start."""
        return self.written_at.get(rule) or self.written_at.get("") or "chariot-apply.yaml"
