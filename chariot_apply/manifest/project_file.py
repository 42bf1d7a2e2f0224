"""``chariot-apply.yaml``, the project file at the repository root: who owns the runs, where they are declared.

What the environment and the flags say over it (``CHARIOT_APPLY_*``, ``--owner``...) is decided in the workspace.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError, plain_message
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.errors import Location, ManifestError, ManifestProblem
from chariot_apply.manifest.expand import DefaultsRule, defaults_rule
from chariot_apply.manifest.file_names import PROJECT_FILE
from chariot_apply.manifest.model import DefaultsSpec
from chariot_apply.manifest.policy import Policy, PolicyRules
from chariot_apply.manifest.yaml_source import format_path, parse_documents, read_yaml_file
from chariot_apply.runtime.files import write_file

OWNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
DEFAULT_OWNER = "default"


class ServerSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = None


class ProjectFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    owner: str = DEFAULT_OWNER
    project: str = "default"
    server: ServerSection = ServerSection()
    backend: Literal["auto", "sdk", "rest"] = Field(
        default="auto", description="how to reach Chariot: the official SDK, our REST client, or auto (the SDK "
                                    "where it is installed and no CHARIOT_URL is named)")
    manifests: tuple[str, ...] = ()
    adopted: tuple[str, ...] = Field(default=(), description=f"ids of runs adopted with {hints.ADOPT.cited()}")
    vars: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                      description="values of ${VAR} (after --var and the environment)")
    defaults: tuple[DefaultsSpec, ...] = Field(default=(), description="shared defaults, as in RunDefaults")
    strict_config: bool = Field(default=False, alias="strictConfig",
                                description="a config key the blueprint's schema does not name is an error")
    prices: dict[str, float | str] = Field(
        default_factory=dict, description="per GPU type, per hour: GPU-hours in plans become money; `currency` "
                                          "(USD, EUR...) names what the numbers are in")
    policy: PolicyRules | None = Field(default=None, description="the team's rules, checked at plan time")
    policies: dict[str, PolicyRules] = Field(default_factory=dict,
                                             description="rule sets by environment (CHARIOT_APPLY_POLICY), "
                                                         "each over `policy`")

    @field_validator("prices")
    @classmethod
    def _prices_are_money(cls, value: dict[str, float | str]) -> dict[str, float | str]:
        for key, price in value.items():
            if key == "currency":
                if not isinstance(price, str) or not re.fullmatch(r"[A-Za-z$€£¥]{1,8}", price):
                    raise ValueError(f"prices.currency {price!r} is not a currency (USD, EUR, $...)")
            elif isinstance(price, str) or not math.isfinite(price) or price < 0:
                raise ValueError(f"the price of {key} ({price!r}) is not a finite number of zero or more")
        return value

    @property
    def gpu_prices(self) -> dict[str, float]:
        """The price of an hour of each GPU type (without ``currency``)."""
        return {k: float(v) for k, v in self.prices.items() if k != "currency" and not isinstance(v, str)}

    @property
    def currency(self) -> str | None:
        found = self.prices.get("currency")
        return found if isinstance(found, str) else None

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, value: str) -> str:
        if not OWNER_PATTERN.fullmatch(value):
            raise ValueError("owner must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value


def _keys_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys the model takes at ``path`` (through nested models, and maps of them by name), for a did-you-mean
    of a misspelt one wherever it is (``policies.prod.maxGpusPerRn``)."""
    current: Any = model
    for part in path:
        if isinstance(current, tuple):  # a map of models by name: this part is a name
            current = current[0]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        fields = {f.alias or name: f for name, f in current.model_fields.items()}
        if part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The model an annotation holds: itself, the one of ``Model | None``, or (as a 1-tuple) that of a map."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is dict and len(args) == 2:
        inner = _model_in(args[1])
        return (inner,) if inner is not None else dict
    models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if models else None


def find_project_file(start: Path) -> Path | None:
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def load_project_file(path: Path | None) -> ProjectFile:
    """The project file at ``path`` as written (none: the defaults). What the environment and flags say over it is
    the workspace's to decide (``workspace.project.open_workspace``)."""
    data: dict[str, Any] = {}
    document = None
    what = f"the project file ({_shown(path)})" if path is not None else "the project settings"
    if path is not None:
        text, unreadable = read_yaml_file(path, _shown(path))
        if text is None:
            raise ManifestError([unreadable] if unreadable else [], what)
        docs, problems = parse_documents(text, _shown(path))
        if problems:
            raise ManifestError(problems, what)
        if docs:
            document = docs[0]
            data = docs[0].data if isinstance(docs[0].data, dict) else {}
    try:
        return ProjectFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = document.where(loc) if document is not None else Location(str(path or "environment"))
            if error["type"] == "extra_forbidden":
                known = _keys_at(ProjectFile, loc[:-1])
                policy = bool(loc) and loc[0] in ("policy", "policies")
                problems.append(ManifestProblem(where, format_path(loc[:-1]), f"unknown key {loc[-1]!r}",
                                                did_you_mean(str(loc[-1]), known) if known else None,
                                                code=codes.POLICY_KEY if policy else codes.PROJECT_FILE_KEY))
            else:
                problems.append(ManifestProblem(where, format_path(loc), plain_message(error),
                                code=codes.PROJECT_FILE_VALUE))
        raise ManifestError(problems, what) from None


def project_defaults(path: Path | None, settings: ProjectFile) -> list[DefaultsRule]:
    """The project file's ``defaults:``, with where each value is written (read again for its locations)."""
    if path is None or not settings.defaults:
        return []
    docs, _ = parse_documents(path.read_text("utf-8"), _shown(path))
    if not docs:
        return []
    return [defaults_rule(docs[0], entry.selector, entry.template, ("defaults", i, "template"))
            for i, entry in enumerate(settings.defaults)]


def project_policy(path: Path | None, settings: ProjectFile, environment: str | None) -> Policy | None:
    """The rules in force (``policy``, and over it ``policies[environment]``), with where each is written."""
    chosen = settings.policies.get(environment) if environment else None
    if environment and settings.policies and chosen is None:
        raise UserError(f"the project file has no policies.{environment}",
                        hint=f"its rule sets: {', '.join(sorted(settings.policies))}; or unset "
                             "CHARIOT_APPLY_POLICY", code=codes.PROJECT_FILE_VALUE)
    if settings.policy is None and chosen is None:
        return None
    base = settings.policy.model_dump(exclude_unset=True) if settings.policy else {}
    over = chosen.model_dump(exclude_unset=True) if chosen else {}
    rules = PolicyRules.model_validate(base | over)
    written: dict[str, str] = {}
    if path is not None:
        docs, _ = parse_documents(path.read_text("utf-8"), _shown(path))
        if docs:
            for name, field in PolicyRules.model_fields.items():
                key = field.alias or name
                section = ("policies", environment) if name in over and environment else ("policy",)
                if name in base or name in over:
                    written[key] = str(docs[0].where((*section, key)))
            written[""] = str(docs[0].where(("policy",)))
    return Policy(rules=rules, written_at=written, environment=environment if chosen else None)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def add_adopted(path: Path, run_id: str) -> None:
    """Record an adopted run id in the project file (creating the file if needed).

    The file is edited as text, not re-dumped: its comments, order and layout stay as the team wrote them.
    """
    text = path.read_text("utf-8") if path.is_file() else ""
    write_file(path, with_adopted(text, run_id))


def with_adopted(text: str, run_id: str) -> str:
    """``text`` with ``run_id`` added to its top-level ``adopted`` list (made if missing); unchanged if there."""
    root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    node = None
    if isinstance(root, MappingNode):
        node = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "adopted"), None)
    if node is None or (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null" and not node.value):
        if node is not None:  # `adopted:` with nothing after it
            start = node.start_mark.index
            return text[:start].rstrip(" ") + f"\n  - {run_id}\n" + text[node.end_mark.index:].lstrip("\n")
        body = text if not text or text.endswith("\n") else text + "\n"
        return body + f"adopted:\n  - {run_id}\n"
    if not isinstance(node, SequenceNode):
        raise UserError("`adopted` in the project file must be a list of run ids", hint="fix it in the project file",
                        code=codes.PROJECT_FILE_VALUE)
    ids = [item.value for item in node.value if isinstance(item, ScalarNode)]
    if run_id in ids:
        return text
    if node.flow_style or not node.value:
        listed = ", ".join([*ids, run_id])
        return text[:node.start_mark.index] + f"[{listed}]" + text[node.end_mark.index:]
    last = node.value[-1]
    line_end = text.find("\n", last.end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    indent = " " * (node.value[0].start_mark.column - 2)
    return text[:line_end] + f"\n{indent}- {run_id}" + text[line_end:]
