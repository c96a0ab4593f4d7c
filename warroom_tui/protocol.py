"""Assigned roles and debate: what a scenario names (role prompts, task sets), and reading answers.

Role prompts and task sets are data: `warroom_tui/roles/*.toml` (one role a file, named by the file) and
`warroom_tui/tasks/*.toml` (a task set), or files of a user's own. Loading errors are one line naming the file
and the field. Answers are read from message text ("Answer: 42"), never stored separately.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warroom_tui.tomlfile import field_error, read_toml

ROLES_DIR = Path(__file__).resolve().parent / "roles"
TASKS_DIR = Path(__file__).resolve().parent / "tasks"
NO_ROLE = "none"
GENERATOR_CRITIC = "generator-critic"
DEFAULT_INSTRUCTION = "Think briefly, then end your reply with a line: Answer: <your answer>"


class ProtocolError(Exception):
    """A role or task file that cannot be used; one line naming the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleSpec(_Strict):
    kind: Literal["generator", "critic"] = "generator"
    """How a debate treats the role: generators' first answers and critics' moves feed the finetuning export."""
    prompt: str = Field(min_length=1)
    """Added to the system prompt."""
    debate: str = ""
    """Debate rounds after the first: the instruction that follows the summary of the others' answers."""


class TaskSpec(_Strict):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    aliases: list[str] = []
    """Other spellings that count as the answer."""


class TaskSet(_Strict):
    instruction: str = DEFAULT_INSTRUCTION
    tasks: list[TaskSpec] = Field(min_length=1)


class DebateSpec(_Strict):
    tasks: str | list[TaskSpec] = "arithmetic"
    """A shipped task set's name, a TOML file, or the tasks themselves (a loaded scenario holds them inline)."""
    instruction: str = DEFAULT_INSTRUCTION
    task: int | None = Field(default=None, ge=0, strict=True)
    """Which task a run debates; default: replicate i debates task i (wrapping round)."""
    round_prompt: str = ("Above are the other agents' answers from the last round. Use them as extra information: "
                         "check your reasoning, then give your updated answer.")
    """Rounds after the first, for an agent without a role (a role's own `debate` line replaces it)."""
    summary: Literal["concat", "agent"] = "concat"
    """What each agent receives between rounds: the others' last answers concatenated under their names, or a
    summary of every answer written by the `summariser` agent (before the round starts; stored as a message)."""
    summariser: str | None = None
    """summary = "agent": the agent who writes it (display name, nickname or 1-based position)."""
    summary_prompt: str = ("Summarise the answers below in a few short lines: for each agent, its name and its "
                           "final answer. Do not add an answer of your own.")

    def task_list(self) -> list[TaskSpec]:
        assert isinstance(self.tasks, list), "tasks are loaded with the scenario"
        return self.tasks

    def pick(self, replicate: int) -> tuple[int, TaskSpec]:
        tasks = self.task_list()
        k = (self.task if self.task is not None else replicate) % len(tasks)
        return k, tasks[k]


def resolve_debate(debate: DebateSpec, base: Path | None = None) -> DebateSpec:
    """The debate with its tasks loaded (and the task set's instruction, unless the scenario gave one)."""
    if isinstance(debate.tasks, list):
        return debate
    loaded = load_tasks(debate.tasks, base)
    instruction = debate.instruction if "instruction" in debate.model_fields_set else loaded.instruction
    return debate.model_copy(update={"tasks": loaded.tasks, "instruction": instruction})


@functools.cache
def load_roles(folder: Path = ROLES_DIR) -> dict[str, RoleSpec]:
    """The shipped roles, by file name (read once)."""
    return {p.stem: load_role(p) for p in sorted(folder.glob("*.toml"))}


def load_role(path: Path) -> RoleSpec:
    try:
        return RoleSpec.model_validate(read_toml(path, ProtocolError))
    except ValidationError as exc:
        raise ProtocolError(f"{path}: {field_error(exc)}") from None


def load_tasks(ref: str, base: Path | None = None) -> TaskSet:
    """A shipped task set by name (`arithmetic`), or a TOML file (relative to `base`, the scenario's folder)."""
    candidates = [Path(ref)] + ([base / ref] if base else []) + [TASKS_DIR / f"{ref}.toml"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        shipped = ", ".join(sorted(p.stem for p in TASKS_DIR.glob("*.toml")))
        raise ProtocolError(f"{ref}: no such task file (shipped task sets: {shipped})")
    try:
        return TaskSet.model_validate(read_toml(path, ProtocolError))
    except ValidationError as exc:
        raise ProtocolError(f"{path}: {field_error(exc)}") from None


# -- answers ---------------------------------------------------------------
ANSWER_RE = re.compile(r"\banswer\b(?:\s*[:=]|\s+is\b:?)\s*(.+)", re.IGNORECASE)
NUMBER_RE = re.compile(r"-?\d+(?:[.,]\d+)?")
WORD_RE = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
ARTICLES = {"a", "an", "the", "le", "la", "les", "un", "une"}


def number(text: str) -> str | None:
    """`7`, `-3`, `2.5` as one canonical string (`12.0` is `12`)."""
    found = NUMBER_RE.search(text)
    if found is None:
        return None
    value = float(found.group().replace(",", "."))
    return str(int(value)) if value == int(value) else f"{value:g}"


def words(text: str) -> list[str]:
    return [w for w in (m.group().casefold() for m in WORD_RE.finditer(text)) if w not in ARTICLES]


def extract_answer(text: str, task: TaskSpec) -> str | None:
    """The answer a message gives, canonical. A numeric task: the first number of the last answer line (after
    its last `=` if it has one), else the last number in the message. A word task: the task's answer when the
    answer line names it (or an alias), else the line's first three words. None: no answer."""
    lines = ANSWER_RE.findall(text)
    line = lines[-1] if lines else None
    if number(task.answer) is not None:
        if line is not None and "=" in line and number(line.rsplit("=", 1)[1]) is not None:
            return number(line.rsplit("=", 1)[1])  # `Answer: 3 + 4 = 7`: what the sum comes to
        if line is not None and number(line) is not None:
            return number(line)
        found = NUMBER_RE.findall(text)
        return number(found[-1]) if found else None
    if line is None:
        return None
    said = words(line)
    for spelling in [task.answer, *task.aliases]:
        target = words(spelling)
        if target and any(said[i:i + len(target)] == target for i in range(len(said))):
            return " ".join(words(task.answer))
    return " ".join(said[:3]) or None


def canonical(task: TaskSpec) -> str:
    """The task's correct answer as `extract_answer` writes it."""
    return number(task.answer) or " ".join(words(task.answer))


def distractors(task: TaskSpec) -> tuple[str, ...]:
    """Plausible wrong answers (the simulator's mistakes)."""
    n = number(task.answer)
    if n is not None:
        value = float(n)
        return tuple(number(str(value + d)) or "" for d in (1, -1, 2, 10))
    return ("unknown", "blue", "none")
