"""Every error a user can meet has a stable code (``CA1203``), as rustc's and Elm's do: a one-line title, and a
long form that says why it is an error and how to fix it (``chariot-apply explain CA1203``, docs/errors.md).

A code names a kind of mistake, not a place in our source: the sites that find the same mistake share it, and a
code, once published, keeps its meaning. Ranges: CA1xxx the manifests and the project file (10 YAML, 11 files, 12
fields and values, 13 variables and sweeps, 14 the project file), CA2xxx what the plan finds against the server
(20 blueprints and configs, 21 references between runs, 22 policy, 23 promotions), CA3xxx talking to Chariot, CA4xxx
the workspace and the command line, CA5xxx GitHub.

``python -m chariot_apply.diagnostics.codes`` prints docs/errors.md (a test holds the file to it)."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    id: str
    title: str
    explanation: str  # the long form: why it is refused, and the fix

    @property
    def long_form(self) -> str:
        return f"{self.id}: {self.title}\n\n{self.explanation}\n"


CODES: dict[str, Code] = {}
CODE_PATTERN = re.compile(r"CA\d{4}")


def _code(code_id: str, title: str, explanation: str) -> str:
    assert CODE_PATTERN.fullmatch(code_id) and code_id not in CODES, code_id
    CODES[code_id] = Code(code_id, title, textwrap.dedent(explanation).strip())
    return code_id


def explain(code_id: str) -> Code | None:
    return CODES.get(code_id.strip().upper())


# --------------------------------------------------------------------------------------------- CA10xx: YAML

YAML_SYNTAX = _code("CA1001", "invalid YAML", """
    The file is not YAML chariot-apply can read: the parser stopped at the line and column shown. Most often an
    indentation that does not line up, a missing `:` after a key, or an unclosed quote or bracket.
    Fix: look at the line shown and the one before it; `key: value` pairs of one mapping start in one column.""")
YAML_CONTROL_CHARACTER = _code("CA1002", "a control character in YAML", """
    YAML forbids most control characters (U+0000 to U+001F except tab and newlines, and U+007F to U+009F) in a
    file. They usually come from a paste or a binary file given as a manifest.
    Fix: remove the character, or write it as an escape (\\x07) in a double-quoted string.""")
YAML_TOO_LARGE = _code("CA1003", "a document too large or too deep", """
    A manifest is a few dozen values a few levels deep. A document that expands to more than 100,000 values
    (aliases included) or nests deeper than 64 levels is refused before it can exhaust memory or the stack:
    usually an alias (`*name`) that refers to itself through others, or broken indentation.
    Fix: check the aliases and the indentation.""")
YAML_KEY_NOT_TEXT = _code("CA1004", "a key that is not text", """
    Every key of a manifest is text: JSON, which Chariot reads, has no other keys. A list or a mapping used as a
    key (`? [a, b]: 1`) cannot be sent.
    Fix: write the key as text.""")
YAML_DUPLICATE_KEY = _code("CA1005", "a key given twice", """
    YAML would keep only the last of two equal keys in one mapping, silently dropping the first value.
    chariot-apply refuses it instead, naming the line of the first.
    Fix: remove one of them.""")
YAML_UNREADABLE_VALUE = _code("CA1006", "a value JSON cannot carry", """
    Chariot receives JSON: a YAML date (`2026-12-07`), a set, binary data, `.inf`/`.nan` or a number longer than
    Python reads cannot be sent as such.
    Fix: quote the value to make it text (`"2026-12-07"`), or use a finite number.""")

# --------------------------------------------------------------------------------------------- CA11xx: files

FILE_MISSING = _code("CA1101", "no such manifest file or directory", """
    A path given with -f (or listed under `manifests:` in the project file) does not exist.
    Fix: correct the path; globs (`runs/*.yaml`) and directories are accepted.""")
FILE_UNREADABLE = _code("CA1102", "a manifest file that cannot be read", """
    The file exists but cannot be read as UTF-8 text: no permission, a binary file, or another encoding.
    Fix: make the file readable, save it as UTF-8, or leave it out of the manifests.""")
NOT_A_MANIFEST = _code("CA1103", "not a chariot-apply manifest", """
    A YAML document named explicitly as a manifest has neither `apiVersion: chariot-apply/v1` nor one of our kinds
    (TrainingRun, TrainingRunSweep, RunDefaults). In a directory such files are skipped and counted; a file you
    name is expected to be one.
    Fix: start the document with `apiVersion: chariot-apply/v1` and a `kind`, or pass --skip-foreign.""")
NO_MANIFESTS = _code("CA1104", "no manifests found", """
    The paths given hold no chariot-apply manifest at all, so there is nothing to plan.
    Fix: point -f (or `manifests:` in the project file) at the files or directories that hold your manifests.""")
NOT_A_MAPPING = _code("CA1105", "a manifest that is not a mapping", """
    A manifest is a mapping of `apiVersion`, `kind`, `metadata` and `spec`; this document is a list or a scalar.
    Fix: start the document with `apiVersion: chariot-apply/v1`.""")
DUPLICATE_ADDRESS = _code("CA1106", "a run declared twice", """
    Two documents declare the same project/name@version. A run has one address; two declarations would fight
    over it on every apply.
    Fix: change the version (or the name) of one, or remove it.""")

# --------------------------------------------------------------------------------------------- CA12xx: fields

UNKNOWN_FIELD = _code("CA1201", "an unknown field", """
    The field is not part of the manifest format (docs/manifests.md, schemas/manifest.schema.json). A misspelt
    field would otherwise be ignored, and the run made without what it was meant to say.
    Fix: use the field the message suggests, or remove it.""")
MISSING_FIELD = _code("CA1202", "a required field is missing", """
    The document lacks a field every manifest of its kind needs (a TrainingRun needs metadata.name,
    metadata.version, spec.blueprint.name and spec.resources).
    Fix: add the field named.""")
NOT_A_QUANTITY = _code("CA1203", "not a Kubernetes quantity", """
    resources.cpu, memory and ephemeral_storage are Kubernetes quantities: a number and an optional suffix, binary
    (Ki, Mi, Gi, Ti) or decimal (k, M, G, T), or m for thousandths (500m CPU). `5GB` and `1.5 Gi` are not quantities,
    and a quantity must be more than zero.
    Fix: write 5Gi (binary gibibytes) or 5G (decimal gigabytes); 500m or 0.5 for half a CPU.""")
NOT_A_DURATION = _code("CA1204", "not a duration", """
    maxDuration, noProgressFor, backoff and other times are durations: a number and a unit (s, m, h, d), or
    several (1h30m).
    Fix: write a duration such as 90s, 30m, 24h or 1h30m.""")
YAML_READS_A_NUMBER = _code("CA1205", "text that YAML reads as a number", """
    YAML reads `version: 1.10` as the number 1.1 and `version: 1` as an integer; a field that is text (a version, a
    name) would then lose what was written.
    Fix: quote it (`version: "1.10"`).""")
INVALID_VALUE = _code("CA1206", "a value the field does not take", """
    The value has the wrong type or is not one of the values the field allows (docs/manifests.md lists each
    field).
    Fix: use a value of the kind the message names.""")
NOT_POSITIVE = _code("CA1207", "a number that must be more than zero", """
    A count, a quantity or a limit of zero or less would make a run that can never start or never stop.
    Fix: give a number above zero.""")

# --------------------------------------------------------------------------------------------- CA13xx: expansion

VARIABLE_UNSET = _code("CA1301", "a variable that is not set", """
    `${NAME}` in a manifest is replaced by the variable NAME (from --var, the environment, or `variables:` in the
    project file); NAME is set nowhere, and an empty value would silently change the run.
    Fix: set it (--var NAME=VALUE or the environment), or write `${NAME:-default}`.""")
VARIABLE_UNCLOSED = _code("CA1302", "a ${ that is not closed", """
    A `${` starts a variable and must end with `}`.
    Fix: close it, or write `$${` for a literal `${`.""")
SECRET_OUTSIDE_CONFIG = _code("CA1303", "a secret where it would be shown", """
    A variable whose name looks secret (TOKEN, KEY, PASSWORD, SECRET...) may be used only inside spec.config, which
    chariot-apply redacts everywhere it prints; in notes, names or resources it would be shown in plans and comments.
    Fix: move it into spec.config, or rename the variable if it is not a secret.""")
SWEEP_INVALID = _code("CA1304", "a sweep chariot-apply cannot expand", """
    A TrainingRunSweep's matrix lists each parameter's values (`matrix: {learning_rate: [0.01, 0.1]}`); an empty
    matrix, a parameter with no values, or two points with one name would make no run, or two at one address.
    Fix: give each matrix parameter at least one value, and parameters whose values name the points apart.""")

# --------------------------------------------------------------------------------------------- CA14xx: project file

PROJECT_FILE_KEY = _code("CA1401", "an unknown key in the project file", """
    The key is not part of chariot-apply.yaml (owner, project, manifests, variables, prices, policies, gpus,
    defaults, adopted...): it would otherwise be ignored.
    Fix: use the key the message suggests, or remove it.""")
PROJECT_FILE_VALUE = _code("CA1402", "a value the project file does not take", """
    A value in chariot-apply.yaml has the wrong type or range (a price is a finite number of zero or more, a GPU
    type one the cluster knows, `adopted` a list of run ids).
    Fix: correct the value as the message says.""")
NO_PROJECT_FILE = _code("CA1403", "no project file", """
    The commands read chariot-apply.yaml (owner, project, where the manifests are) from the current directory or
    the file given with --config.
    Fix: run in the directory that has it, pass --config, or create one (see the README).""")

# --------------------------------------------------------------------------------------------- CA20xx: blueprints

BLUEPRINT_NOT_FOUND = _code("CA2001", "a blueprint that does not resolve", """
    `lookup_blueprint_id` finds no blueprint of that name whose version matches the pattern (SQL ILIKE: `2.%`,
    `1.4.2`), or the blueprint locked in chariot-apply.lock no longer exists.
    Fix: correct the name or the version pattern (the message lists the versions there are), or run
    `chariot-apply lock --upgrade NAME`.""")
CONFIG_INVALID = _code("CA2002", "a config the blueprint refuses", """
    The server's `validate_run_config` refused the run's config against its blueprint's schema: a missing
    required key, a wrong type, a value out of range. The run would fail to be created.
    Fix: correct the config key named (the blueprint's schema is in its description, `chariot-apply doctor`
    shows where).""")
CONFIG_UNKNOWN_KEY = _code("CA2003", "a config key the blueprint does not know", """
    The blueprint's schema has no such key; the run would be created with it ignored (many blueprints accept
    unknown keys). With --strict-config it is an error.
    Fix: use the key the message suggests, or remove it.""")
PROJECT_NOT_FOUND = _code("CA2004", "a project that does not exist", """
    metadata.project (or the project file's `project`) names no project on this Chariot.
    Fix: use one of the projects the message lists, or create the project in Chariot first.""")
TASK_TYPE = _code("CA2005", "a task type the blueprint does not have", """
    spec.taskType must be one of the blueprint's task types; with the SDK backend, which cannot read a blueprint's
    task types, it must be given.
    Fix: use one of the task types the message lists.""")
GPU_TYPE = _code("CA2006", "a GPU type the cluster does not have", """
    spec.resources.gpu.type names no GPU type the cluster lists (`get_available_system_gpus`); the run would wait
    for it forever.
    Fix: use one of the types the message lists (they are case-sensitive).""")
RESUME_INVALID = _code("CA2007", "a retry that cannot resume", """
    spec.onFailure.resume asks a retry to start from the failed attempt's checkpoint, which needs the blueprint's
    config to take a start_model.
    Fix: remove `resume`, or use a blueprint whose config has start_model.""")
BACKEND_CANNOT = _code("CA2008", "the backend cannot do what the manifest asks", """
    The official SDK backend lacks an operation this manifest needs (listing models for a promotion, reading a
    blueprint's task types): the plan cannot tell what would happen.
    Fix: use the REST backend for this project, or drop the feature from the manifest.""")

# --------------------------------------------------------------------------------------------- CA21xx: references

REFERENCE_INVALID = _code("CA2101", "a ${run:...} reference that cannot be resolved", """
    `${run:project/name@version.checkpoint}` (docs/lifecycle.md) names another declared run and what of it to use;
    the address is not declared, or the part after it is not one chariot-apply knows.
    Fix: name a declared run's address, and one of the parts the message lists.""")
DEPENDENCY_CYCLE = _code("CA2102", "runs that wait for each other", """
    dependsOn and ${run:...} references form a cycle: none of the runs on it could ever start.
    Fix: remove one of the dependencies on the cycle shown.""")
DEPENDENCY_UNKNOWN = _code("CA2103", "a dependsOn that names no declared run", """
    A run waits (dependsOn) only for runs the manifests declare.
    Fix: name a declared run's address (project/name@version); the message suggests the closest.""")

# --------------------------------------------------------------------------------------------- CA22xx: policy

POLICY_VIOLATION = _code("CA2201", "a change the team's policy forbids", """
    The project file's `policies` (docs/policy.md) forbid this change here: a GPU budget, a GPU type, a
    protected run, a maximum duration.
    Fix: change the manifest to fit the policy, or change the policy in a reviewed pull request.""")
POLICY_KEY = _code("CA2202", "an unknown policy key", """
    The key is not a policy rule chariot-apply knows (docs/policy.md); it would otherwise be ignored and enforce
    nothing.
    Fix: use the key the message suggests.""")

# --------------------------------------------------------------------------------------------- CA23xx: promotions

PROMOTION_INVALID = _code("CA2301", "a promotion that cannot be made", """
    spec.promote names a model project that does not exist, a checkpoint choice with no metric to choose by, or a
    sweep point that cannot be ranked.
    Fix: correct the model's project, or give `metric` and `mode` to choose by.""")

# --------------------------------------------------------------------------------------------- CA30xx: Chariot

UNREACHABLE = _code("CA3001", "Chariot cannot be reached", """
    The request did not get an answer: a wrong CHARIOT_URL, the server down, a proxy or a timeout. Nothing was
    changed by a request that got no answer unless the message says it may have been.
    Fix: check CHARIOT_URL (`chariot-apply doctor` tries every operation), then run the command again.""")
OUTCOME_UNKNOWN = _code("CA3002", "a write whose outcome is unknown", """
    A create, stop or delete was sent and no answer came back: it may have happened. chariot-apply never resends
    such a write blindly; the next apply looks first and converges.
    Fix: run `chariot-apply apply` again.""")
CREDENTIAL_REFUSED = _code("CA3003", "Chariot refused the credentials", """
    The server answered 401 or 403: the token is wrong or expired, or the client id and secret are refused, or the
    identity may not act on this project.
    Fix: set CHARIOT_TOKEN (or CHARIOT_CLIENT_ID/CHARIOT_CLIENT_SECRET) to a valid credential with access to the
    project.""")
SERVER_ERROR = _code("CA3004", "Chariot answered with an error", """
    The server refused or failed the request (the status and its message are shown). A 5xx is the server's
    problem; a 4xx names what it did not accept.
    Fix: read the server's message; run again after a 5xx (reads are retried, writes are looked up first).""")
NOT_FOUND = _code("CA3005", "something Chariot does not have", """
    The run, blueprint, checkpoint or project named does not exist (any more) on this server.
    Fix: check the name or id; `chariot-apply status` lists the runs we own.""")
INVALID_ARGUMENT = _code("CA3006", "an argument Chariot does not take", """
    A value given to a Chariot operation is outside what the SDK documents (a limit, a sort, a field name).
    Fix: correct the value as the message says.""")
SDK_MISSING = _code("CA3007", "the official SDK is not usable", """
    CHARIOT_BACKEND=sdk needs the `chariot` package with `chariot.training_v2` and the documented names; it is not
    installed, or lacks the name shown.
    Fix: install the Chariot SDK, or unset CHARIOT_BACKEND to use the REST backend.""")
SETTINGS = _code("CA3008", "connection settings that do not fit", """
    CHARIOT_URL, CHARIOT_TOKEN, CHARIOT_CLIENT_ID/SECRET, CHARIOT_BACKEND and the timeouts are read from flags,
    the environment and the project file (flag > environment > file); one of them is malformed or missing.
    Fix: correct the setting named.""")

# --------------------------------------------------------------------------------------------- CA40xx: workspace

PLAN_REFUSED = _code("CA4001", "a plan apply refuses", """
    The plan holds something apply must not carry out: a replace without --allow-replace, a protected run, a
    policy violation, a run that needs attention.
    Fix: read the plan's 'Needs attention' and 'Refused' sections; change the manifest or pass the flag named.""")
STALE_PLAN = _code("CA4002", "a saved plan that is out of date", """
    The live runs changed since the plan was saved (another apply, a run that finished): carrying it out now
    would not do what was reviewed.
    Fix: make a new plan (`chariot-apply plan --out FILE`) and review it.""")
PLAN_FILE = _code("CA4003", "not a plan that can be applied", """
    The file given to `apply` is not a saved plan (a manifest, a directory, a plan from another version), or is a
    redacted one (`plan --format json`), which lacks the config values to apply.
    Fix: save a plan with `chariot-apply plan --out FILE` and apply that file.""")
PLAN_TARGET = _code("CA4004", "a plan made for another server or owner", """
    A saved plan is applied only to the Chariot and for the owner it was made for.
    Fix: set CHARIOT_URL and the owner as they were when the plan was made, or make a new plan.""")
DEADLINE = _code("CA4005", "the command ran out of time", """
    --deadline (or CHARIOT_APPLY_DEADLINE) bounds the whole command; it passed before the work was done. What was
    done is reported; nothing is left half-done without being said.
    Fix: run again (it converges), or give a longer --deadline.""")
OTHER_WRITER = _code("CA4006", "another writer holds the lock", """
    Another apply or reconcile (another runner, a laptop) is writing to these projects; two at once could create a
    run twice.
    Fix: wait for it to finish and run again.""")
LOCK_FILE = _code("CA4007", "a lock file problem", """
    chariot-apply.lock pins each blueprint pattern to an id; it is missing (with --locked), does not cover every
    pattern, or cannot be read.
    Fix: run `chariot-apply lock` and commit chariot-apply.lock.""")
USAGE = _code("CA4008", "a command line that does not fit", """
    An argument or option is malformed, or two options do not go together.
    Fix: `chariot-apply COMMAND --help` lists what the command takes.""")
NO_MATCH = _code("CA4009", "nothing matches", """
    An address, --target, --exclude or filter matches no run.
    Fix: give an address as project/name@version as `plan` or `status` shows it (globs allowed).""")
UNSAFE_WRITE = _code("CA4010", "a file chariot-apply will not write", """
    chariot-apply writes only inside the directory it was asked to (a symlink or a path leaving it could overwrite
    another file).
    Fix: write to a plain path inside the directory.""")
FILE_SYSTEM = _code("CA4011", "a file that cannot be read or written", """
    The operating system refused to read or write a file chariot-apply needs (the message names it and why):
    permissions, a full disk, a missing directory.
    Fix: correct the permissions or the path.""")
MISSING_EXTRA = _code("CA4012", "an optional part that is not installed", """
    The feature needs a package chariot-apply does not install by default (matplotlib for --png).
    Fix: install the extra the message names (`pip install 'chariot-apply[plot]'`).""")
EMULATOR = _code("CA4013", "the emulator cannot do it", """
    The local emulator could not start (the address is taken) or could not read a catalog.
    Fix: choose another --port, or correct the catalog file.""")

# --------------------------------------------------------------------------------------------- CA50xx: GitHub

GITHUB_API = _code("CA5001", "GitHub refused or failed a request", """
    The GitHub API answered with an error (the status and its message are shown): a token without the permission,
    a rate limit, GitHub down.
    Fix: give the workflow the permissions docs/github-action.md lists, or run it again.""")
GITHUB_EVENT = _code("CA5002", "a GitHub event the step cannot use", """
    The step reads the event GitHub gave the workflow (GITHUB_EVENT_PATH); it is missing or of a kind the
    command does not handle.
    Fix: run the step on the events docs/github-action.md lists.""")
ACTION_INPUT = _code("CA5003", "an input of the Action that does not fit", """
    An input of the chariot-apply Action (`with:`) is malformed or names something that does not exist.
    Fix: correct the input as action.yml describes it.""")


def markdown() -> str:
    """docs/errors.md: every code, its title and its long form."""
    lines = ["# Error codes", "",
             "Every error chariot-apply reports has a code; `chariot-apply explain CODE` prints its long form.",
             "This page is generated from `chariot_apply/diagnostics/codes.py` "
             "(`python -m chariot_apply.diagnostics.codes > docs/errors.md`).", ""]
    for code in CODES.values():
        lines += [f"## {code.id}: {code.title}", "", code.explanation, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
