"""Scenario files: pydantic models and TOML loading.

A scenario names the agents, the brief, the schedule and the conditions of a
run. Loading errors are raised as ``ScenarioError`` with one line that names the
file and the field.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Annotated, Callable, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warroom_tui.protocol import NO_ROLE, DebateSpec, ProtocolError, RoleSpec, load_roles, resolve_debate
from warroom_tui.tomlfile import field_error, read_toml
from warroom_tui.untrusted import label_problem, name_key, name_problem, nickname_problem

MAX_AGENTS = 64
MAX_RUNS = 10_000
MAX_SEED = 2**62
SCAFFOLDINGS = ("full", "no-peers", "no-identity", "empty", "isolated")
CRASH_KINDS = ("permanent", "transient", "timeout", "empty")
CLONE_NAMES = (
    "Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel",
    "India", "Juliett", "Kilo", "Lima", "Mike", "November", "Oscar", "Papa",
)

Scaffolding = Literal["full", "no-peers", "no-identity", "empty", "isolated"]
CrashKind = Literal["permanent", "transient", "timeout", "empty"]


def _checked(problem_of: Callable[[str], str | None]) -> AfterValidator:
    """A validator refusing a value with the reason `problem_of` gives (None: fine)."""
    def check(value: str) -> str:
        if problem := problem_of(value):
            raise ValueError(problem)
        return value
    return AfterValidator(check)


PlainName = Annotated[str, _checked(name_problem)]
"""A name that becomes part of run ids and export paths (no `..`, separators or control characters)."""
LabelName = Annotated[str, _checked(label_problem)]
"""A name shown in tables and prompts: one line, nothing invisible (see untrusted.label_problem)."""
CalledName = Annotated[str, _checked(nickname_problem)]
"""A name an agent is called by (a nickname, a real name): as LabelName, and no `|` (see untrusted.nickname_problem)."""


class ScenarioError(Exception):
    """A scenario that cannot be used; the message is one line naming file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSpec(_Strict):
    name: CalledName = Field(min_length=1, max_length=80)
    """Display name: the model's real name, shown under `real` naming."""
    model: LabelName = Field(min_length=1, max_length=200)  # as a transcript's model id may be (study_json)
    """A litellm model id (`groq/llama-3.3-70b-versatile`), `local/<bundled>` or `sim/<persona>`."""
    family: str = Field(default="", max_length=60)
    base: str = Field(default="", max_length=80)
    """The base checkpoint the model was post-trained from (`Llama-3.1-8B`)."""
    recipe: str = Field(default="", max_length=60)
    """Its post-training recipe: `sft`, `dpo`, `rlhf`, `reasoning-distilled`, `base`, ..."""
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    kind: Literal["chat", "base"] | None = None
    """`base` models get a transcript-style completion prompt; default from the model."""
    api_base: str | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=32_768, strict=True)

    @field_validator("family", "base", "recipe")
    @classmethod
    def _plain_tag(cls, value: str) -> str:
        value = value.strip()
        if value and (problem := label_problem(value)):  # a table cell of `report --factors`
            raise ValueError(problem)
        return value


class CloneSpec(_Strict):
    agent: AgentSpec
    count: int = Field(ge=2, le=len(CLONE_NAMES), strict=True)


class CrashSpec(_Strict):
    agent: str = Field(min_length=1)
    """The agent's display name, nickname or 1-based position."""
    from_round: int = Field(default=0, ge=0, le=10_000, strict=True)
    kind: CrashKind = "permanent"
    visible: bool = True
    """Whether peers see the error text in the chat as `⚠ <error>`."""
    message: str | None = None


class Conditions(_Strict):
    naming: Literal["neutral", "real"] | list[Annotated[CalledName, Field(max_length=80)]] = "neutral"
    scaffolding: Scaffolding = "full"
    order: Literal["fixed", "shuffled"] = "fixed"
    temperature: float = Field(default=0.8, ge=0, le=2, strict=True)
    crashes: list[CrashSpec] = []
    roles: Literal["none", "generator-critic"] | list[str] = "none"
    """none (the study), generator-critic (the first `generators` agents generate, the rest critique), or one
    role name per agent (`warroom_tui/roles/*.toml`, the scenario's [role_prompts], or none)."""
    generators: int | None = Field(default=None, ge=0, strict=True)
    """generator-critic: how many agents generate (default: half, rounded up)."""


class Scenario(_Strict):
    name: PlainName = Field(min_length=1)
    series: PlainName = Field(default="", max_length=40)
    description: str = ""
    brief: str = ""
    """Required, except in a debate (each run's brief is its task)."""
    mode: Literal["chat", "debate"] = "chat"
    debate: DebateSpec | None = None
    role_prompts: dict[str, RoleSpec] = {}
    """Role prompts of the scenario's own, by name (they may replace shipped ones)."""
    rounds: int = Field(default=10, ge=0, le=200, strict=True)
    """Rounds after the opening one: round 0 answers the brief, then rounds 1..rounds."""
    stagger: float = Field(default=1.2, ge=0, le=600, strict=True)
    timeout: float = Field(default=60.0, gt=0, le=3600, strict=True)
    replicates: int = Field(default=1, ge=1, le=MAX_RUNS, strict=True)
    seed: int = Field(default=0, ge=-MAX_SEED, le=MAX_SEED, strict=True)
    """Replicate i runs with seed + i; bounded so every seed fits SQLite's 64-bit integers."""
    max_tokens: int = Field(default=512, gt=0, le=32_768, strict=True)
    leave_after: int = Field(default=2, ge=1, le=100, strict=True)
    """Permanent errors an agent may return before it leaves the run (the study's tool: 2)."""
    agents: list[AgentSpec] = Field(default=[], max_length=MAX_AGENTS)
    clones: CloneSpec | None = None
    conditions: Conditions = Conditions()
    cell: dict[str, str] = {}
    """The sweep cell this scenario was made for (factor -> level; set by `warroom sweep`), stored with its runs."""

    @model_validator(mode="after")
    def _check_roster(self) -> "Scenario":
        roster = self.roster()
        if not self.series and len(self.name) > 40:  # the name is the series then, and a file name is made of it
            raise ValueError("series: a name longer than 40 characters needs a series of its own (at most 40)")
        if not roster:
            raise ValueError("agents: a scenario needs at least one agent (or clones)")
        if self.agents and self.clones:
            raise ValueError("clones: give either agents or clones, not both")
        names = [name_key(a.name) for a in roster]
        if len(set(names)) != len(names):
            raise ValueError("agents: display names must be unique (ignoring case and how they are encoded)")
        naming = self.conditions.naming
        if isinstance(naming, list) and len(naming) != len(roster):
            raise ValueError(
                f"conditions.naming: a custom list needs {len(roster)} names, got {len(naming)}"
            )
        if isinstance(naming, list) and len({name_key(n.strip()) for n in naming}) != len(naming):
            raise ValueError("conditions.naming: custom names must all differ (ignoring case and how they are encoded)")
        if isinstance(naming, list) and not all(n.strip() for n in naming):
            raise ValueError("conditions.naming: a custom name must not be empty")
        for crash in self.conditions.crashes:
            if resolve_agent(crash.agent, roster, self.nicknames()) is None:
                raise ValueError(f"conditions.crashes.agent: no agent called {crash.agent!r}")
        if not self.brief.strip() and self.mode != "debate":
            raise ValueError("brief: a scenario needs a brief (a debate takes its task as the brief)")
        for role in self.role_prompts:  # a role's name is a table cell and part of a file name (the finetune export)
            if problem := label_problem(role):
                raise ValueError(f"role_prompts: {role!r}: {problem}")
            if len(role) > 40:
                raise ValueError(f"role_prompts: {role[:40]!r}...: longer than 40 characters")
        roles = self.conditions.roles
        if isinstance(roles, list):
            if len(roles) != len(roster):
                raise ValueError(f"conditions.roles: a list needs {len(roster)} roles, got {len(roles)}")
            known = self.role_names()
            for role in roles:
                if role != NO_ROLE and role not in known:
                    raise ValueError(f"conditions.roles: no role called {role!r} (known: {', '.join(sorted(known))})")
        if self.debate is not None and self.debate.summary == "agent" and (
                self.debate.summariser is None
                or resolve_agent(self.debate.summariser, roster, self.nicknames()) is None):
            raise ValueError(f"debate.summariser: summary = \"agent\" needs the agent who writes it, got "
                             f"{self.debate.summariser!r}")
        if self.conditions.generators is not None and self.conditions.generators > len(roster):
            raise ValueError(f"conditions.generators: {self.conditions.generators} is more than the "
                             f"{len(roster)} agents")
        return self

    def role_names(self) -> set[str]:
        return set(load_roles()) | set(self.role_prompts) | {"generator", "critic"}

    def role_prompt_table(self) -> dict[str, RoleSpec]:
        """Every role a run may assign: the shipped ones, then the scenario's own."""
        return {**load_roles(), **self.role_prompts}

    def roster(self) -> list[AgentSpec]:
        """The agents in position order, clones expanded to Alpha, Bravo, ..."""
        if self.clones is None:
            return list(self.agents)
        base = self.clones.agent
        return [base.model_copy(update={"name": CLONE_NAMES[i]}) for i in range(self.clones.count)]

    def nicknames(self, naming: str | list[str] | None = None) -> list[str]:
        return nicknames_for(self.roster(), naming if naming is not None else self.conditions.naming,
                             clones=self.clones is not None)

    @property
    def label(self) -> str:
        return self.series or self.name


def nicknames_for(roster: list[AgentSpec], naming: str | list[str], clones: bool = False) -> list[str]:
    """Visible names under a naming condition (clones keep Alpha, Bravo, ... under both)."""
    if isinstance(naming, list):
        return list(naming)
    if naming == "real" or clones:
        return [a.name for a in roster]
    return [f"Agent-{_letters(i)}" for i in range(len(roster))]


def _letters(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def resolve_agent(ref: str, roster: list[AgentSpec], nicknames: list[str]) -> int | None:
    """Index of an agent named by display name, nickname or 1-based position."""
    ref = ref.strip()
    for i, agent in enumerate(roster):
        if ref.casefold() in (agent.name.casefold(), nicknames[i].casefold()):
            return i
    if ref.isdigit() and 1 <= int(ref) <= len(roster):
        return int(ref) - 1
    return None


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    data = read_toml(path, ScenarioError)
    data.setdefault("name", path.stem)
    return with_file_tags(parse_scenario(data, source=str(path), base=path.parent))


def with_file_tags(scenario: Scenario) -> Scenario:
    """Agents on a user's GGUF (`gguf:`, `ollama:`) get the tags they leave empty from the file's metadata."""
    if not any(a.model.startswith(("gguf:", "ollama:")) for a in scenario.agents):
        return scenario
    from warroom_tui.providers.gguf import GGUFError, read_header, resolve

    agents = []
    for a in scenario.agents:
        if a.model.startswith(("gguf:", "ollama:")) and not (a.family and a.base and a.recipe):
            try:
                tags = read_header(resolve(a.model)).tags()
            except GGUFError:  # the run's preflight says so, in one line
                tags = {}
            a = a.model_copy(update={k: v[:60] for k, v in tags.items() if v and not getattr(a, k)})
        agents.append(a)
    return scenario.model_copy(update={"agents": agents})


def parse_scenario(data: dict, source: str = "<scenario>", base: Path | None = None) -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {field_error(exc)}") from None
    if scenario.mode == "debate":  # its tasks loaded now, so that a bad task file stops the run before it starts
        try:
            debate = resolve_debate(scenario.debate or DebateSpec(), base)
        except ProtocolError as exc:
            raise ScenarioError(f"{source}: debate.tasks: {exc}") from None
        scenario = scenario.model_copy(update={"debate": debate})
    return scenario


@functools.lru_cache(maxsize=1)
def shipped_tags() -> dict[str, dict[str, str]]:
    """model id -> family, base and recipe, from the shipped scenarios (the study's models under Groq ids, also
    without the `groq/` prefix its transcripts use): the tags an imported study run's agents get."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(scenarios_dir().glob("study-*.toml")):
        try:
            roster = load_scenario(path).roster()
        except ScenarioError:
            continue
        for a in roster:
            tags = {"family": a.family, "base": a.base, "recipe": a.recipe}
            if any(tags.values()):
                out.setdefault(a.model, tags)
                out.setdefault(a.model.removeprefix("groq/"), tags)
    return out


def find_scenario(ref: str, search_dir: Path | None = None) -> Path:
    """A path, or the name of a shipped scenario (`local-hetero`)."""
    path = Path(ref)
    if path.exists():
        return path
    folder = search_dir or scenarios_dir()
    for candidate in (folder / ref, folder / f"{ref}.toml"):
        if candidate.exists():
            return candidate
    stems = {p.stem.casefold(): p.stem for p in folder.glob("*.toml")}
    close = [stems[s] for s in difflib.get_close_matches(path.stem.casefold(), sorted(stems), n=3, cutoff=0.5)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ScenarioError(f"{ref}: no such scenario file{hint} (shipped ones are in {folder})")


def scenarios_dir() -> Path:
    return Path(__file__).resolve().parent / "scenarios"


DEFAULT_SCENARIO = "local-hetero"
